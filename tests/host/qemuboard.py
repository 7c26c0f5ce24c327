"""The emulated QEMU_M4 board for the firmware-marked host tests.

firmware(): a QEMU_M4 firmware.elf: $MICROFORMER_QEMU_FIRMWARE (a built one), or built once
per session from the MicroPython checkout in $MICROPY_DIR (as tests/firmware does: into
$MF_FIRMWARE_OUT/QEMU_M4 when set, kept between runs, else a temporary directory);
pytest.skip with the reason when neither is possible.
"""
import os
import pathlib
import shutil

import pytest

_built = {}


def firmware(tmp_path_factory):
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("firmware test: qemu-system-arm is not installed (make firmware-deps)")
    fw = os.environ.get("MICROFORMER_QEMU_FIRMWARE")
    if fw:
        if not os.path.isfile(fw):
            pytest.fail(f"MICROFORMER_QEMU_FIRMWARE={fw} does not exist")
        return fw
    mp = os.environ.get("MICROPY_DIR")
    if not mp:
        pytest.skip("firmware test: set MICROPY_DIR to a MicroPython checkout (v1.25+) to build "
                    "the QEMU_M4 firmware, or MICROFORMER_QEMU_FIRMWARE to a built firmware.elf")
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("firmware test: arm-none-eabi-gcc is not installed (make firmware-deps)")
    if "fw" not in _built:
        from microformer.firmware import builder

        env = os.environ.get("MF_FIRMWARE_OUT")
        out = pathlib.Path(env) / "QEMU_M4" if env else tmp_path_factory.mktemp("fw_qemu_m4")
        _built["fw"] = str(builder.build("QEMU_M4", mp, out).firmware)
    return _built["fw"]
