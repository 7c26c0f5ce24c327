"""The emulated board: QEMU_M4 firmware under qemu-system-arm with its UART on a pty.

`-icount shift=0` makes qemu advance its virtual clock by exactly 1 ns per instruction,
so on this board time.ticks_us() counts instructions (1 us = 1000 instructions) and
timings are the same on every run and every host.

A started board runs detached (it outlives the command that started it); its pid and
pty are kept in a state file so that `microformer board stop` finds it again.
"""
import contextlib
import dataclasses
import json
import os
import pathlib
import re
import signal
import subprocess
import time

from . import FirmwareError, boards

# Board name -> boards.Emulator (qemu binary, machine, ROMFS window), from the registry.
MACHINES = {name: b.emulator for name, b in boards.EMULATED.items()}
MACHINES.update(boards.STOCK_EMULATORS)

_PTY = re.compile(r"char device redirected to (/dev/\S+) \(label serial0\)")


@dataclasses.dataclass
class Board:
    name: str
    pid: int
    pty: str
    firmware: str
    log: str
    started: float

    def alive(self):
        return _is_our_qemu(self.pid)


def state_dir():
    """Where started boards are recorded: $MICROFORMER_STATE or ~/.cache/microformer/boards."""
    env = os.environ.get("MICROFORMER_STATE")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "microformer" / "boards"


def _state_file(name):
    return state_dir() / f"{name}.json"


def _is_our_qemu(pid):
    """True when pid is alive and is a qemu-system process (not a reused pid)."""
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the recorded pid
    return b"qemu-system" in cmdline.split(b"\0")[0]


def machine(name):
    try:
        return MACHINES[name]
    except KeyError:
        raise FirmwareError(
            f"{name} is not an emulated board; emulated boards: {boards.names(MACHINES)}") from None


def romfs_image(romfs, workdir):
    """An image file for `romfs`: an image as is, or a directory packed (aligned) into
    workdir/romfs.img."""
    romfs = pathlib.Path(romfs)
    if romfs.is_dir():
        from . import romfs as _romfs

        img = pathlib.Path(workdir) / "romfs.img"
        img.parent.mkdir(parents=True, exist_ok=True)
        img.write_bytes(_romfs.build(romfs))
        return img
    if not romfs.is_file():
        raise FirmwareError(f"ROMFS {romfs}: no such image file or directory")
    return romfs


def command(name, firmware, romfs=None, pty=True):
    """The qemu command line for board `name` running `firmware` (an ELF file); romfs is
    an image file loaded where the firmware mounts /rom from."""
    m = machine(name)
    cmd = [m.system, "-machine", m.machine, "-nographic", "-monitor", "null", "-semihosting",
           "-icount", "shift=0", *m.args, "-kernel", str(firmware)]
    if romfs is not None:
        size = pathlib.Path(romfs).stat().st_size
        if size > m.romfs_size:
            raise FirmwareError(f"ROMFS image {romfs} is {size} bytes; {name} holds {m.romfs_size}")
        cmd += ["-device", f"loader,file={romfs},addr={m.romfs_addr:#x},force-raw=on"]
    cmd += ["-serial", "pty" if pty else "mon:stdio"]
    return cmd


def running(name):
    """The recorded Board if it is still running, else None (a stale record is removed)."""
    f = _state_file(name)
    if not f.exists():
        return None
    b = Board(**json.loads(f.read_text()))
    if b.alive():
        return b
    f.unlink()
    return None


def start(name, firmware, romfs=None, timeout=20.0):
    """Starts the board detached; returns its Board once qemu has opened the pty."""
    machine(name)
    firmware = pathlib.Path(firmware).resolve()
    if not firmware.is_file():
        raise FirmwareError(
            f"firmware {firmware} does not exist; build it with "
            f"`microformer firmware build --board {name} --micropython DIR`")
    old = running(name)
    if old is not None:
        raise FirmwareError(f"{name} is already running (pid {old.pid}, serial {old.pty}); "
                            f"`microformer board stop {name}` first")
    sd = state_dir()
    sd.mkdir(parents=True, exist_ok=True)
    cmd = command(name, firmware, romfs_image(romfs, sd / name) if romfs else None)
    log = sd / f"{name}.log"
    with open(log, "w") as f:
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        except FileNotFoundError:
            raise FirmwareError(f"{cmd[0]} is not installed (Debian/Ubuntu: apt-get install "
                                f"{cmd[0]}, or `make firmware-deps`)") from None
    deadline = time.monotonic() + timeout
    pty = None
    while time.monotonic() < deadline:
        m = _PTY.search(log.read_text(errors="replace"))
        if m:
            pty = m.group(1)
            break
        if p.poll() is not None:
            raise FirmwareError(f"{cmd[0]} exited with status {p.returncode}: "
                                f"{log.read_text(errors='replace').strip()}")
        time.sleep(0.05)
    if pty is None:
        _terminate(p.pid)
        raise FirmwareError(f"{cmd[0]} opened no serial pty within {timeout:.0f} s; log: {log}")
    b = Board(name, p.pid, pty, str(firmware), str(log), time.time())
    _state_file(name).write_text(json.dumps(dataclasses.asdict(b)))
    return b


def _terminate(pid, timeout=5.0):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # Reap it when it is our child; otherwise poll until it is gone.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not _is_our_qemu(pid):
                return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def stop(name):
    """Stops the board; returns the Board that was running, or None if none was."""
    b = running(name)
    if b is None:
        return None
    _terminate(b.pid)
    _state_file(name).unlink(missing_ok=True)
    return b


@contextlib.contextmanager
def booted(name, firmware, romfs=None):
    """A board for the duration of a with-block (tests, benchmarks); always stopped after.
    Not recorded in the state file, so it does not collide with `board start`.
    romfs: an image file (see romfs.build) or None."""
    firmware = pathlib.Path(firmware).resolve()
    cmd = command(name, firmware, romfs)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            m = _PTY.search(line)
            if m:
                break
            if not line and p.poll() is not None:
                raise FirmwareError(f"{cmd[0]} exited with status {p.returncode}")
        else:
            raise FirmwareError(f"{cmd[0]} opened no serial pty within 20 s")
        yield Board(name, p.pid, m.group(1), str(firmware), "", time.time())
    finally:
        _terminate(p.pid)
        p.stdout.close()
