"""Builds the CPython `_uformer` extension from the same C engine the firmware uses.

Everything else (packages, extras, scripts) is declared in pyproject.toml.
MF_CFLAGS adds compiler flags (the sanitizer build in tests/engine uses it).
"""
import glob
import os
import shlex

from setuptools import Extension, setup

# The engine as one translation unit, as the firmware builds it (engine/unity/mf_unity.c
# includes every source), so a name clash between engine files fails here too.
engine = ["cmodule/engine/unity/mf_unity.c"]
engine_parts = sorted(glob.glob("cmodule/engine/**/*.[ch]", recursive=True))
binding = sorted(glob.glob("cmodule/cpython/*.c"))
extra = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
extra += shlex.split(os.environ.get("MF_CFLAGS", ""))

setup(
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
