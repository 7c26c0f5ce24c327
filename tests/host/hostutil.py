"""Helpers shared by tests/host (imported by name: several test folders have a conftest)."""
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for p in (os.path.join(ROOT, "host"), os.path.join(ROOT, "device")):
    if p not in sys.path:
        sys.path.insert(0, p)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from microformer import cli, synth  # noqa: E402

SMALL = dict(recordings_per_label=4, seconds=(5.0, 7.0))
# Flags that keep a training run to seconds: short windows, a narrow model, few epochs.
FAST_TRAIN = ["--window", "32", "--hop", "16", "--d-model", "16", "--heads", "2", "--ffn", "32",
              "--epochs", "3", "--batch", "64", "--quiet"]


def run_cli(capsys, *argv):
    """Run `microformer argv...` in-process; returns (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def have_engine():
    try:
        import _uformer  # noqa: F401
    except ImportError:
        return False
    return True


needs_engine = pytest.mark.skipif(
    not have_engine(), reason="_uformer (the engine's CPython build) is not importable; "
                              "pip install -e . or build it with setup.py build_ext")


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")


def make_folder_dataset(root, labels=("a", "b"), n_rec=3, n=80, channels=("x", "y"), seed=0):
    """A minimal folder dataset: label k is a sine of frequency k+1 plus noise."""
    rng = np.random.default_rng(seed)
    for k, lab in enumerate(labels):
        for i in range(n_rec):
            t = np.arange(n)
            cols = [np.sin(2 * np.pi * (k + 1) * t / 20 + j) + 0.1 * rng.normal(size=n)
                    for j in range(len(channels))]
            write_csv(os.path.join(root, lab, f"r{i}.csv"), list(channels),
                      np.round(np.stack(cols, 1), 4).tolist())
    return str(root)
