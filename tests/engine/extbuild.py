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
