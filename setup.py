"""Builds the CPython `_uformer` extension from the same C engine the firmware uses.

Everything else (packages, extras, scripts) is declared in pyproject.toml.
MF_CFLAGS adds compiler flags (the sanitizer build in tests/engine uses it).
"""
import glob
import os
import shlex
import shutil

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

# The engine's one op list. The host reads it (microformer.firmware.opsconfig: the ops and
# float32 switches --ops-from and the latency model use); a wheel carries a copy of it
# next to that module, a checkout reads it in place.
OPLIST = "cmodule/engine/mf_ops.def"


class BuildPyWithOpList(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "microformer", "firmware", "mf_ops.def")
        self.mkpath(os.path.dirname(target))
        shutil.copyfile(OPLIST, target)

# The engine as one translation unit, as the firmware builds it (engine/unity/mf_unity.c
# includes every source), so a name clash between engine files fails here too.
engine = ["cmodule/engine/unity/mf_unity.c"]
engine_parts = sorted(glob.glob("cmodule/engine/**/*.[ch]", recursive=True)) + [OPLIST]
binding = sorted(glob.glob("cmodule/cpython/*.c"))
extra = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
extra += shlex.split(os.environ.get("MF_CFLAGS", ""))

setup(
    cmdclass={"build_py": BuildPyWithOpList},
    ext_modules=[
        Extension(
            "_uformer",
            sources=engine + binding,
            include_dirs=["cmodule/engine"],
            depends=engine_parts,  # rebuild when any included engine file changes
            extra_compile_args=extra,
            extra_link_args=shlex.split(os.environ.get("MF_LDFLAGS", "")),
        )
    ]
)
