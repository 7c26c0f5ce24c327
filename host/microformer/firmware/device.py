"""Driving a board over its serial port with mpremote (tests, benchmarks).

Every call runs the mpremote command-line tool, exactly as a person would; mpremote
connects, enters the raw REPL, does its work and leaves the board running.
"""
import os
import subprocess
import sys
import tempfile

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
    """Runs a Python script on the board; returns what it printed."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
        path = f.name
    try:
        return mpremote(port, "run", path, timeout=timeout)
    finally:
        os.unlink(path)


def copy(port, local, remote, timeout=120):
    """Copies a host file to the board's filesystem (remote: a path such as /m.tflite)."""
    return mpremote(port, "cp", local, ":" + remote, timeout=timeout)
