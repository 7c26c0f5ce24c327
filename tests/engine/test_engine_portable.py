"""The portable kernels, the ones a Cortex-M board runs, against TFLM.

On x86-64 the dot products and BATCH_MATMUL rows take SSE2 paths (`#if defined(__SSE2__)`
in kernels/), so the regular CPython build never runs the code the firmware runs. This
builds `_uformer` with `-U__SSE2__` and runs the TFLM parity tests of the ops with such
paths (FULLY_CONNECTED, BATCH_MATMUL, CONV_2D / DEPTHWISE_CONV_2D), the fused attention
and the zoo models against it, in a child pytest.
"""
import os
import pathlib
import subprocess
import sys

import pytest

import extbuild

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARITY = ["test_engine_ops_matmul.py", "test_engine_ops_conv.py", "test_engine_fusion.py", "test_engine_models.py"]


@pytest.fixture(scope="module")
def portable(tmp_path_factory):
    return extbuild.build(tmp_path_factory.mktemp("portable"), "-U__SSE2__")


def test_portable_kernels_match_tflm(portable):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(portable), str(ROOT / "host")]))
    # cwd: not the repository root, whose in-place _uformer would shadow the portable build.
    where = subprocess.run([sys.executable, "-c", "import _uformer; print(_uformer.__file__)"], env=env,
                           cwd=portable, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(portable)), f"the child imports {where.strip()}, not the portable build"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        *[str(ROOT / "tests" / "engine" / f) for f in PARITY],
                        "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")],
                       cwd=portable, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout.splitlines()[-1]
