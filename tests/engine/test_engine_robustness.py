"""Thousands of mutated models through `_uformer.Model` in an ASan + UBSan build.

Each mutant is refused with an exception or runs; a sanitizer report or a crash fails.
The sanitizer build is made once per session into a temporary directory.
"""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import extbuild
import zoo

HERE = pathlib.Path(__file__).resolve().parent
SAN = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"


def _libasan():
    out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return out if out and os.path.isabs(out) and os.path.exists(out) else None


@pytest.fixture(scope="session")
def asan_build(tmp_path_factory):
    libasan = _libasan()
    if libasan is None or shutil.which("gcc") is None:
        pytest.skip("gcc with AddressSanitizer runtime (libasan) not available")
    return extbuild.build(tmp_path_factory.mktemp("asan"), SAN + " -O1", SAN), libasan


@pytest.fixture(scope="session")
def seed_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("seeds")
    paths = []
    for name in ("tf_l1_h1_d16_s16", "hybrid", "cnn", "mlp"):
        p = d / f"{name}.tflite"
        p.write_bytes(zoo.get(name))
        paths.append(str(p))
    return paths


def run_fuzz(asan_build, seeds, seed, count):
    lib, libasan = asan_build
    env = dict(os.environ, LD_PRELOAD=libasan, PYTHONPATH=str(lib),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", PYTHONMALLOC="malloc",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = subprocess.run([sys.executable, str(HERE / "fuzz_models.py"), str(seed), str(count), *seeds],
                       env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"mutant run crashed (seed {seed}):\n{r.stderr[-4000:]}"
    assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr, r.stderr[-4000:]
    return r.stdout


def test_robustness_thousands_of_mutants(asan_build, seed_models):
    out = run_fuzz(asan_build, seed_models, seed=1, count=3000)
    assert "fuzz: 3000 mutants" in out
    loaded = int(out.split(",")[1].split()[0])
    refused = int(out.split(",")[2].split()[0])
    # Both outcomes must occur, or the mutator is not reaching the validator.
    assert loaded > 0 and refused > 0, out


def test_robustness_sanitizer_catches_a_planted_bug(asan_build, tmp_path):
    """The harness itself must be able to fail: an out-of-bounds read is reported."""
    lib, libasan = asan_build
    script = tmp_path / "oob.py"
    script.write_text("import ctypes\na = ctypes.create_string_buffer(1000)\n"
                      "d = ctypes.create_string_buffer(4000)\nctypes.memmove(d, a, 2000)\n")
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0", PYTHONMALLOC="malloc")
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "AddressSanitizer" in r.stderr


def test_activations_past_4gib_refused_under_asan(asan_build, tmp_path):
    """A few-KB model whose activations sum past 4 GiB used to wrap the planner's 32-bit
    offsets: an under-sized arena, then writes past its end. Under ASan it is refused
    with the number, and nothing is reported."""
    import bigmodels

    lib, libasan = asan_build
    for i, nodes in enumerate((True, False)):
        (tmp_path / f"big{i}.tflite").write_bytes(bigmodels.past_4gib(nodes))
    script = ("import pathlib, sys, _uformer\n"
              "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.tflite')):\n"
              "    b = p.read_bytes()\n"
              "    for f in (_uformer.arena_size, _uformer.Model):\n"
              "        try:\n"
              "            f(b)\n"
              "            print('loaded', p.name)\n"
              "        except NotImplementedError as e:\n"
              "            print('refused', e)\n")
    env = dict(os.environ, LD_PRELOAD=libasan, PYTHONPATH=str(lib),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", PYTHONMALLOC="malloc",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    # cwd: not the repository root, whose in-place _uformer would shadow the ASan build.
    r = subprocess.run([sys.executable, "-c", script + "print(_uformer.__file__)\n", str(tmp_path)], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-4000:]
    *lines, origin = r.stdout.splitlines()
    assert origin.startswith(str(lib)), origin
    assert len(lines) == 4 and all(ln.startswith("refused arena needs more than ") for ln in lines), r.stdout
