"""A private build of the CPython `_uformer` with extra compiler flags (MF_CFLAGS /
MF_LDFLAGS, read by setup.py) into a directory of its own, for tests that compare a
variant build (sanitizers, terse errors, left-out kernels) with the regular one."""
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build(out, cflags, ldflags=""):
    """Builds into out/lib (temporary objects in out/tmp) and returns out/lib, the
    directory to put on PYTHONPATH of a subprocess."""
    out = pathlib.Path(out)
    env = dict(os.environ, MF_CFLAGS=cflags, MF_LDFLAGS=ldflags)
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "-b", str(out / "lib"), "-t", str(out / "tmp")],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return out / "lib"


# C source for harnesses that draw operands: splitmix64 seeded through rng_state (the
# harness sets it from its command line, so a failing draw can be replayed).
SPLITMIX64_C = r"""
static uint64_t rng_state;
static uint64_t rnd(void) {  /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
"""


def host_cc():
    """The host C compiler for test harnesses ($CC, cc, gcc or clang), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def quant_harnesses(out, source, builds, cflags=()):
    """`source` compiled by the host compiler with cmodule/engine/mf_quant.c once per
    entry of builds ({name: [-D flags]}) into out/check_<name>; -> {name: path}. Skips the
    test when there is no host compiler."""
    import pytest

    cc = host_cc()
    if cc is None:
        pytest.skip("no host C compiler (cc, gcc, clang) found")
    out = pathlib.Path(out)
    src = out / "check.c"
    src.write_text(source)
    engine = ROOT / "cmodule" / "engine"
    exes = {}
    for name, defs in builds.items():
        exe = out / f"check_{name}"
        r = subprocess.run([cc, "-std=gnu99", "-O2", *cflags, *defs, "-I", str(engine), str(src),
                            str(engine / "mf_quant.c"), "-lm", "-o", str(exe)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        exes[name] = exe
    return exes


def c_harness(out, source, name="harness", cflags=()):
    """A C test harness: `source` compiled by the host compiler (C99, -Os, warnings as
    errors) with the engine's unity build into out/name; skips the test when there is no
    host compiler."""
    import pytest

    cc = host_cc()
    if cc is None:
        pytest.skip("no host C compiler (cc, gcc, clang) found")
    out = pathlib.Path(out)
    src = out / f"{name}.c"
    src.write_text(source)
    exe = out / name
    engine = ROOT / "cmodule" / "engine"
    r = subprocess.run([cc, "-std=c99", "-Os", "-Wall", "-Werror", *cflags, "-I", str(engine), str(src),
                        str(engine / "unity" / "mf_unity.c"), "-lm", "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return exe
