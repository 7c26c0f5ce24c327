"""MicroPython's own basic test suite (tests/run-tests.py -d basics) against the QEMU_M4
firmware under qemu-system-arm: the firmware with _uformer, the RAM-disk littlefs and
the boot hook is a sound MicroPython."""
import re
import subprocess
import sys

import pytest

from microformer.firmware import device, qemu

pytestmark = pytest.mark.firmware

# basics tests that import unittest, which the board has only when the checkout's
# micropython-lib submodule is present (it is frozen from there).
NEEDS_UNITTEST = ("array_int_repr", "array_limits_intbig", "fun_code_lnotab")


def test_basics_pass_on_qemu(qemu_firmware, tmp_path):
    mpy = qemu_firmware.micropython_dir
    with qemu.booted("QEMU_M4", qemu_firmware.firmware) as b:
        has_unittest = "yes" in device.mpremote(
            b.pty, "exec", "try:\n import unittest\n print('yes')\nexcept ImportError:\n print('no')")
    cmd = [sys.executable, "run-tests.py", "-r", str(tmp_path / "results"),
           "-t", "execpty:" + " ".join(qemu.command("QEMU_M4", qemu_firmware.firmware)), "-d", "basics"]
    if not has_unittest:
        cmd += ["-e", r"basics/(%s)\.py" % "|".join(NEEDS_UNITTEST)]
    p = subprocess.run(cmd, cwd=mpy / "tests", capture_output=True, text=True, timeout=3600)
    tail = p.stdout[-4000:] + p.stderr[-2000:]
    assert p.returncode == 0, tail
    m = re.search(r"(\d+) tests passed", p.stdout)
    assert m and int(m.group(1)) > 400, tail
    assert not re.search(r"\d+ tests failed", p.stdout), tail
