"""Shared fixtures for tests/host: small synthetic datasets and models trained once per session.

Everything is tiny (4 labels x 4 recordings of ~6 s, 32-sample windows, a few epochs) so the
whole directory runs in a few minutes on a loaded 2-core machine. Trained models are
cached per session and shared read-only; tests that modify files copy them first.
"""
import hashlib
import json

import numpy as np
import pytest

from hostutil import FAST_TRAIN, SMALL, cli, synth


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
    """The linear-patch transformer (2 layers, full attention), tiny: the architecture the
    compression tools (prune, distill, QAT) work on."""
    return _train(tmp_path_factory, "transformer", synth_dir, "--arch", "transformer",
                  "--augment", "all")


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


@pytest.fixture(scope="session")
def models(tflite_model, tmp_path_factory):
    """Two different valid model files (for push tests): the session's model, and the same
    graph with other metadata."""
    from microformer.convert import get_metadata
    from microformer.tflite import set_metadata

    a = open(tflite_model, "rb").read()
    meta = json.loads(get_metadata(a))
    meta["variant"] = 2
    b = set_metadata(a, json.dumps(meta).encode())
    assert hashlib.sha256(a).digest() != hashlib.sha256(b).digest()
    d = tmp_path_factory.mktemp("models")
    pa, pb = d / "a.tflite", d / "b.tflite"
    pa.write_bytes(a)
    pb.write_bytes(b)
    return pa, pb


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


