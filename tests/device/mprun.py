"""Run one test function of a tests/device file under MicroPython.

    micropython tests/device/mprun.py <repo root> <module> <function> [<dir of uformer .mpy>]

Prints MPRUN PASS, MPRUN SKIP <reason>, or the traceback and MPRUN FAIL; conftest.py reads
the last of these lines.
"""
import sys

root, modname, fname = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, root + "/tests/device")
sys.path.insert(0, root + "/device")
if len(sys.argv) > 4:
    # uformer precompiled by mpy-cross (conftest.py): loads like the firmware's frozen copy,
    # without the compiler's garbage cutting a small heap into pieces.
    sys.path.insert(0, sys.argv[4])

import devtest  # noqa: E402

try:
    mod = __import__(modname)
    getattr(mod, fname)()
except devtest.Skip as e:
    print("MPRUN SKIP", e.args[0] if e.args else "")
except Exception as e:  # report every failure with its traceback, then the verdict line
    sys.print_exception(e)
    print("MPRUN FAIL")
    sys.exit(1)
else:
    print("MPRUN PASS")
