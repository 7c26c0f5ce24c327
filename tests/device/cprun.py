"""Run tests/device test functions under CircuitPython, or under CPython made to look like a
small CircuitPython board, and print one verdict line per test.

    circuitpython|python cprun.py <repo root> <mode> <module> <function> [<dir>]

mode "native": the runtime as it is (CircuitPython's unix port has time.ticks_*).
mode "small":  like a CircuitPython board built without long ints: `time` has sleep and
               monotonic but no ticks_* and no monotonic_ns, `supervisor.ticks_ms` counts
               milliseconds modulo 2**29, and there is no `machine` module; uformer.compat
               must then take its supervisor path. _uformer is not importable.
Prints CPRUN PASS, CPRUN SKIP <reason>, or the traceback and CPRUN FAIL (as mprun.py does
for MicroPython, whose sys.print_exception CircuitPython does not have).
"""
import sys

root, mode, modname, fname = sys.argv[1:5]
sys.path.insert(0, root + "/tests/device")
sys.path.insert(0, root + "/device")
if len(sys.argv) > 5:
    # A folder with _uformer.mpy built for CircuitPython's ABI: the engine on CircuitPython.
    sys.path.insert(0, sys.argv[5])
CIRCUITPYTHON = sys.implementation.name == "circuitpython"


class _SmallBoardTime:
    """`time` of a CircuitPython board without long ints (attributes copied from the real one)."""

    def __init__(self, real):
        self.sleep = real.sleep
        for name in ("monotonic", "time", "localtime", "struct_time"):
            if hasattr(real, name):
                setattr(self, name, getattr(real, name))


class _Supervisor:
    """`supervisor` with CircuitPython's ticks_ms: milliseconds modulo 2**29."""

    def __init__(self, real):
        if hasattr(real, "ticks_ms"):
            self._ms = real.ticks_ms
        else:  # CPython

            def ms():
                return real.monotonic_ns() // 1000000

            self._ms = ms

    def ticks_ms(self):
        return self._ms() & ((1 << 29) - 1)


if mode == "small":
    import time as _real_time

    sys.modules["supervisor"] = _Supervisor(_real_time)
    sys.modules["time"] = _SmallBoardTime(_real_time)
    if not CIRCUITPYTHON:
        # No engine on CircuitPython here (no natmod for its ABI): tests that need it skip,
        # as on the CircuitPython unix port, also when CPython's _uformer is built. (None in
        # sys.modules blocks an import on CPython only; CircuitPython has no _uformer.)
        sys.modules["_uformer"] = None
elif mode != "native":
    raise SystemExit("cprun: mode is native or small, not %r" % mode)
import devtest  # noqa: E402

if CIRCUITPYTHON:
    # devtest tells CPython (pytest) from the MicroPython family by name; CircuitPython is
    # of that family (no function attributes, no pytest).
    devtest.MICROPYTHON = True


def _report(e):
    try:
        import traceback

        traceback.print_exception(e)  # CPython 3.10+ and CircuitPython
    except (ImportError, TypeError):
        sys.print_exception(e)


try:
    getattr(__import__(modname), fname)()
except devtest.Skip as e:
    print("CPRUN SKIP", e.args[0] if e.args else "")
except ImportError as e:
    if "vfs" not in str(e):
        _report(e)
        print("CPRUN FAIL")
        sys.exit(1)
    # Tests of MicroPython's vfs (FAT/littlefs/ROMFS mounts): CircuitPython has no vfs module.
    print("CPRUN SKIP needs MicroPython's vfs module, which CircuitPython does not have")
except Exception as e:  # report every failure with its traceback, then the verdict line
    _report(e)
    print("CPRUN FAIL")
    sys.exit(1)
else:
    print("CPRUN PASS")
