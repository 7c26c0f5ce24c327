"""Firmware side of the host tools: building MicroPython with _uformer for a board
(the driver is firmware/build.py in the microformer checkout), choosing the kernels a
model needs (--ops-from), measuring what the module costs in flash, and running the
emulated board (QEMU_M4) with its UART on a pty.

The firmware is built from a microformer source checkout (boards/, cmodule/, device/,
firmware/); `source_root()` finds it.
"""
import importlib.util
import os
import pathlib

from ..errors import MicroformerError


class FirmwareError(MicroformerError):
    """Building or running firmware failed, or its prerequisites are missing."""


_MARKERS = ("firmware/build.py", "boards/QEMU_M4/mpconfigboard.mk", "cmodule/engine/mf.h")


def _is_root(p):
    return all((p / m).is_file() for m in _MARKERS)


def source_root():
    """The microformer checkout: $MICROFORMER_SRC, the checkout this package runs from,
    or the current directory or one of its parents."""
    env = os.environ.get("MICROFORMER_SRC")
    if env:
        p = pathlib.Path(env).resolve()
        if not _is_root(p):
            raise FirmwareError(f"MICROFORMER_SRC={env} is not a microformer checkout "
                                f"(needs {', '.join(_MARKERS)})")
        return p
    here = pathlib.Path(__file__).resolve().parents[3]
    candidates = [here] + [c for c in [pathlib.Path.cwd().resolve()] + list(pathlib.Path.cwd().resolve().parents)]
    for c in candidates:
        if _is_root(c):
            return c
    raise FirmwareError(
        "building firmware needs the microformer source checkout (boards/, cmodule/, firmware/); "
        "run from inside it or set MICROFORMER_SRC=/path/to/microformer")


_driver = None


def driver():
    """firmware/build.py of the source checkout, imported as a module."""
    global _driver
    if _driver is None:
        path = source_root() / "firmware" / "build.py"
        spec = importlib.util.spec_from_file_location("microformer_firmware_build", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _driver = mod
    return _driver
