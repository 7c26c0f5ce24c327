"""tests/device under the UNIX firmware: the device framework's own tests, run by the
unix MicroPython that has _uformer built in (their [mpy-uformer] variant)."""
import re
import subprocess
import sys

import pytest

from fwenv import ROOT

pytestmark = pytest.mark.firmware


def test_device_tests_pass_under_the_unix_build(unix_firmware, tmp_path):
    env = dict(__import__("os").environ, MICROPYTHON_UFORMER=str(unix_firmware.firmware))
    p = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "tests" / "device"), "-k", "mpy-uformer",
         "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    tail = p.stdout[-4000:] + p.stderr[-2000:]
    assert p.returncode == 0, tail
    passed = re.search(r"(\d+) passed", p.stdout)
    assert passed and int(passed.group(1)) > 0, tail
    # The engine variant really ran: none of them skipped for want of the interpreter.
    assert "no unix MicroPython with _uformer" not in p.stdout, tail
