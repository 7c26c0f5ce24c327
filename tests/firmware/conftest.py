"""Fixtures for the firmware tests: MicroPython builds with _uformer and the emulated board.

Tests marked `firmware` need a MicroPython checkout in $MICROPY_DIR (v1.25+) and the
toolchains (gcc; arm-none-eabi-gcc and qemu-system-arm for QEMU_M4 and QEMU_M55: `make
firmware-deps`);
without them they skip with that reason. Builds go to $MF_FIRMWARE_OUT/<BOARD> when set
(kept between runs, so make rebuilds only what changed), else to a fresh temporary
directory; the MicroPython tree is only read.
"""
import os
import pathlib

import pytest

from fwenv import ROOT, driver, micropython_dir, require_board  # noqa: F401  (used by fixtures)


@pytest.fixture(scope="session")
def firmware_out(tmp_path_factory):
    env = os.environ.get("MF_FIRMWARE_OUT")
    if env:
        p = pathlib.Path(env)
        p.mkdir(parents=True, exist_ok=True)
        return p
    return tmp_path_factory.mktemp("firmware")


def _build(name, out, **kw):
    from microformer.firmware import builder

    d = require_board(name)
    return builder.build(name, d, out, **kw)


@pytest.fixture(scope="session")
def unix_firmware(firmware_out):
    return _build("UNIX", firmware_out / "UNIX")


@pytest.fixture(scope="session")
def qemu_firmware(firmware_out):
    return _build("QEMU_M4", firmware_out / "QEMU_M4")


@pytest.fixture(scope="session", params=("QEMU_M4", "QEMU_M55"))
def emulated_firmware(request, firmware_out):
    """The firmware of every emulated board in turn (QEMU_M4: the qemu_firmware build)."""
    if request.param == "QEMU_M4":
        return request.getfixturevalue("qemu_firmware")
    return _build(request.param, firmware_out / request.param)


@pytest.fixture
def emulated_board(emulated_firmware):
    """A freshly booted emulated board (each of them in turn), stopped after the test."""
    from microformer.firmware import qemu

    with qemu.booted(emulated_firmware.board, emulated_firmware.firmware) as b:
        yield b


@pytest.fixture(scope="session")
def build_firmware(firmware_out):
    """build_firmware(board, subdir, **builder.build kwargs) -> Firmware (cached per subdir)."""
    cache = {}

    def build(name, subdir, **kw):
        if subdir not in cache:
            cache[subdir] = _build(name, firmware_out / subdir, **kw)
        return cache[subdir]

    return build


@pytest.fixture
def qemu_board(qemu_firmware):
    """A freshly booted QEMU_M4 (serial port in .pty), stopped after the test."""
    from microformer.firmware import qemu

    with qemu.booted("QEMU_M4", qemu_firmware.firmware) as b:
        yield b


@pytest.fixture(scope="session")
def cpython_engine():
    """The CPython _uformer (the reference the firmware must match byte for byte)."""
    try:
        import _uformer
    except ImportError:
        pytest.skip("the CPython _uformer is not built (pip install . or setup.py build_ext)")
    return _uformer


@pytest.fixture(scope="session")
def zoo_model():
    """zoo_model(name) -> .tflite bytes of a tests/engine/zoo.py model (converted once, cached)."""
    import zoo

    def get(name):
        try:
            return zoo.get(name)
        except ImportError as e:
            pytest.skip(f"converting zoo model {name} needs TensorFlow: {e}")

    return get
