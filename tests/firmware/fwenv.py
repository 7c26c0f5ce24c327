"""Firmware-test prerequisites (imported by name from tests; conftest holds the fixtures)."""
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
for p in (ROOT / "host", ROOT / "tests" / "engine"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from microformer.firmware import driver  # noqa: E402


def micropython_dir():
    """$MICROPY_DIR, or pytest.skip naming what is missing."""
    d = os.environ.get("MICROPY_DIR")
    if not d:
        pytest.skip("MICROPY_DIR is not set: point it to a MicroPython checkout (v1.25+) "
                    "to build and test the firmware")
    drv = driver()
    try:
        drv.micropython_version(d)
    except drv.BuildError as e:
        pytest.skip(f"MICROPY_DIR: {e}")
    return pathlib.Path(d)


def require_board(name):
    """Skips unless MICROPY_DIR, the submodules and the toolchain for board `name` exist."""
    d = micropython_dir()
    drv = driver()
    b = drv.board(name)
    missing = drv.missing_tools(b)
    if missing:
        pytest.skip(f"{name} needs {', '.join(t for t, _ in missing)} (make firmware-deps)")
    subs = drv.missing_submodules(d, b)
    if subs:
        pytest.skip(f"{name} needs the MicroPython submodules {', '.join(subs)} "
                    f"(empty in {d}: make -C {d}/ports/{b.port} submodules)")
    return d
