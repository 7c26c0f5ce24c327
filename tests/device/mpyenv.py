"""Which MicroPython interpreters the device tests can use (imported by name from tests)."""
import os
import shutil
import sys


def stock_micropython():
    exe = os.environ.get("MICROPYTHON")
    if exe:
        return exe
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    return cand if os.path.exists(cand) else shutil.which("micropython")


def uformer_micropython():
    exe = os.environ.get("MICROPYTHON_UFORMER")
    if exe:
        return exe if os.path.exists(exe) else None
    out = os.environ.get("MF_FIRMWARE_OUT")
    if out:
        # Where the firmware tests keep their UNIX build (tests/firmware/conftest.py).
        cand = os.path.join(out, "UNIX", "micropython-uformer")
        if os.path.exists(cand):
            return cand
    return None
