"""Driving a board over its serial port for the firmware tests and benchmarks.

run() and copy() go through the one board link (microformer.transport.SerialTransport):
run() soft-resets (a fresh heap, as `mpremote run` gives) and runs a script in the raw REPL,
copy() is the verified, atomic copy that push uses. mpremote() runs the mpremote command-line
tool itself, exactly as a person would, for tests that check the firmware works with it.
"""
import subprocess
import sys

from . import FirmwareError


def mpremote(port, *args, timeout=120):
    """stdout of `mpremote connect PORT ARGS...`; FirmwareError with its output on failure."""
    cmd = [sys.executable, "-m", "mpremote", "connect", str(port), *map(str, args)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise FirmwareError(f"mpremote {' '.join(map(str, args))[:80]} timed out after {timeout} s; "
                            f"output: {(e.stdout or '')[-2000:]}") from None
    if p.returncode != 0 or "Traceback (most recent call last)" in p.stdout:
        raise FirmwareError(f"mpremote {' '.join(map(str, args))[:80]} failed (exit {p.returncode}):\n"
                            f"{p.stdout[-3000:]}{p.stderr[-2000:]}")
    return p.stdout


def run(port, code, timeout=120):
    """Runs a Python script on the board after a soft reset; returns what it printed."""
    from ..transport import DeviceError, SerialTransport

    try:
        with SerialTransport(port) as t:
            return t.exec(code, timeout=timeout, soft_reset=True)
    except DeviceError as e:
        raise FirmwareError(f"running a script on {port} failed: {e}") from None


def copy(port, local, remote, timeout=120):
    """Copies a host file to the board's filesystem (remote: a path such as /m.tflite)."""
    from ..transport import DeviceError, SerialTransport

    with open(local, "rb") as f:
        data = f.read()
    try:
        with SerialTransport(port, link_timeout=max(10.0, timeout / 4)) as t:
            t.put_file(str(remote), data)
    except DeviceError as e:
        raise FirmwareError(f"copying {local} to {port}:{remote} failed: {e}") from None
