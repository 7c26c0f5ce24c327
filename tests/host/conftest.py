"""Shared fixtures for tests/host: small synthetic datasets and models trained once per session.

Everything is tiny (4 labels x 4 recordings of ~6 s, 32-sample windows, a few epochs) so the
whole directory runs in a few minutes on a loaded 2-core machine. Trained models are
cached per session and shared read-only; tests that modify files copy them first.
"""
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


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data") / "imu"
    synth.generate(str(d), seed=0, **SMALL)
    return str(d)


@pytest.fixture(scope="session")
def synth_test_dir(tmp_path_factory):
    """Independent recordings (another seed) for evaluation."""
    d = tmp_path_factory.mktemp("data_test") / "imu"
    synth.generate(str(d), seed=1, recordings_per_label=2, seconds=(5.0, 7.0))
    return str(d)


@pytest.fixture(scope="session")
def stream_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("stream") / "stream.csv"
    synth.generate(str(p), seed=2, stream=True, **SMALL)
    return str(p)


def _train(tmp_path_factory, name, data, *extra):
    out = tmp_path_factory.mktemp(name) / f"{name}.keras"
    code = cli.main(["train", data, "--out", str(out), *FAST_TRAIN, *map(str, extra)])
    assert code == 0, f"training {name} failed"
    return str(out)


@pytest.fixture(scope="session")
def keras_model(tmp_path_factory, synth_dir):
    """The default architecture (transformer, full attention), tiny."""
    return _train(tmp_path_factory, "transformer", synth_dir, "--augment", "all")


@pytest.fixture(scope="session")
def hybrid_model(tmp_path_factory, synth_dir):
    return _train(tmp_path_factory, "hybrid", synth_dir, "--arch", "hybrid",
                  "--attention", "causal:2", "--activation", "gelu")


@pytest.fixture(scope="session")
def tflite_model(tmp_path_factory, keras_model, synth_dir):
    out = tmp_path_factory.mktemp("q") / "model.tflite"
    code = cli.main(["quantize", keras_model, "--calib", synth_dir, "--out", str(out)])
    assert code == 0
    return str(out)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


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
