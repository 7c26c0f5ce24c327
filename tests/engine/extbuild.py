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


def host_cc():
    """The host C compiler for test harnesses ($CC, cc, gcc or clang), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


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
