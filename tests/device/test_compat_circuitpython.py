"""uformer's pure-Python parts (Window, Rule, Runner, Slot, storage, sensors, compat) under
CircuitPython, through the same test functions the other device tests run.

[mpy]      CircuitPython's unix port, built from adafruit/circuitpython (ports/unix, VARIANT=
           coverage; see docs/circuitpython.md) and named by $CIRCUITPYTHON; each test runs
           twice: as the port is (it has time.ticks_*), and as a small board (no ticks_*, no
           time.monotonic_ns, supervisor.ticks_ms wrapping at 2**29, no machine). Skipped
           with that reason when $CIRCUITPYTHON is not set.
[cpython]  CPython with CircuitPython's module names faked the small board's way (cprun.py
           "small" mode), so compat's supervisor path runs in every default test run.
With $CIRCUITPYTHON_NATMOD (a folder holding _uformer.mpy built against CircuitPython's
dynruntime) the engine tests (Model, Slot hot swaps, Runner, Slot memory) run on
CircuitPython too, in the port's own mode.
Tests that need _uformer skip unless $CIRCUITPYTHON_NATMOD names a folder holding a
_uformer.mpy built for CircuitPython's ABI (docs/circuitpython.md; [mpy] only);
test_storage_powerloss is left out: its harness is MicroPython's vfs module (RAM block
devices under VfsLfs2/VfsFat), which CircuitPython does not have.
"""
import os
import re
import subprocess
import sys

import pytest

HOST_DRIVEN = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODULES = ("test_window_ring", "test_rule_debounce", "test_runner_loop", "test_storage_layouts",
           "test_storage_sidecar", "test_sensors_replay_imu",
           "test_compat_ticks", "test_slot_hotswap", "test_slot_memory")


def _cases():
    out = []
    for m in MODULES:
        with open(os.path.join(HERE, m + ".py")) as f:
            out += [(m, fn) for fn in re.findall(r"^def (test_\w+)\(\)", f.read(), re.M)]
    return out


def circuitpython():
    exe = os.environ.get("CIRCUITPYTHON")
    return exe if exe and os.path.exists(exe) else None


def _heapsize(mod, fn):
    """The test's devtest.heapsize (e.g. "100K"), for the MicroPython-family runs."""
    import importlib

    return getattr(getattr(importlib.import_module(mod), fn), "heapsize", None)


def _run(exe, mode, mod, fn, natmod=None):
    work = os.path.join(os.environ["UFORMER_TEST_TMP"], mode)  # each run its own files
    os.mkdir(work)
    heap = _heapsize(mod, fn) if exe != sys.executable else None
    argv = [exe] + (["-X", "heapsize=" + heap] if heap else [])
    p = subprocess.run(argv + [os.path.join(HERE, "cprun.py"), ROOT, mode, mod, fn] + ([natmod] if natmod else []),
                       capture_output=True, text=True, timeout=240, cwd=work,
                       env=dict(os.environ, UFORMER_TEST_TMP=work))
    verdict = [ln for ln in p.stdout.splitlines() if ln.startswith("CPRUN ")]
    if verdict and verdict[-1].startswith("CPRUN SKIP"):
        return "skip: " + verdict[-1][len("CPRUN SKIP "):]
    assert p.returncode == 0 and verdict and verdict[-1] == "CPRUN PASS", \
        f"{os.path.basename(exe)} ({mode}) exit {p.returncode}:\n{p.stdout[-4000:]}\n{p.stderr[-2000:]}"
    return "pass"


@pytest.mark.parametrize("mod,fn", _cases(), ids=[f"{m[5:]}.{f[5:]}" for m, f in _cases()])
def test_pure_python_parts_run_on_circuitpython(impl, mod, fn):
    if impl == "cpython":
        got = [_run(sys.executable, "small", mod, fn)]
    else:
        exe = circuitpython()
        if exe is None:
            pytest.skip("set CIRCUITPYTHON to CircuitPython's unix port (ports/unix, "
                        "VARIANT=coverage, built from a checkout of adafruit/circuitpython)")
        # A folder with CircuitPython's _uformer.mpy: the engine tests run as the port is (the
        # small-board mode checks compat's tick path; its ms clock would time invokes as 0 us).
        nat = os.environ.get("CIRCUITPYTHON_NATMOD")
        got = [_run(exe, "native", mod, fn, nat), _run(exe, "small", mod, fn)]
    if all(g.startswith("skip") for g in got):
        why = got[-1][len("skip: "):]
        if "_uformer" in why:
            why = ("needs _uformer (on CircuitPython: $CIRCUITPYTHON_NATMOD; the CPython run "
                   "hides the CPython engine, as a CircuitPython board has none)")
        pytest.skip(why)
