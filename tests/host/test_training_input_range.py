"""The int8 input of recordings with heavy tails.

When a few spikes stretch the standardized range (more than data.HEAVY_TAIL_SPAN times
the span of the values between the 0.1st and 99.9th percentiles), `train` records that
percentile range as the model's input_range; Standardize clips and quantizes its output
over it during training; `quantize` calibrates the int8 input tensor to exactly that
range. So the float model's first activations are the engine's input codes. Other
recordings keep their full range and train in float, as before.
"""
import os

import numpy as np
import pytest

from hostutil import cli
from microformer import convert, data, models, quant, training
from microformer.engine import Engine


def _write_spiky_events(root, seed=0):
    """Two labels of 128-sample takes (a sine vs a ramp, noisy), and one take per label
    with a spike of 20-40: 2 of 3,072 values, which stretch the standardized range to
    about 4x the span of the rest."""
    rng = np.random.default_rng(seed)
    t = np.arange(128) / 128.0
    for label, shape in (("sine", np.sin(2 * np.pi * 2 * t)), ("ramp", 2 * t - 1)):
        d = os.path.join(root, label)
        os.makedirs(d)
        for i in range(12):
            x = shape + 0.2 * rng.standard_normal(128)
            if i == 0:
                x[rng.integers(0, 128)] += rng.uniform(20, 40)
            np.savetxt(os.path.join(d, f"{i:02d}.csv"), x[:, None], header="v", comments="",
                       fmt="%.6g")


@pytest.fixture(scope="module")
def spiky(tmp_path_factory):
    root = tmp_path_factory.mktemp("spiky")
    data_dir = str(root / "data")
    _write_spiky_events(data_dir)
    keras_path, tfl_path = str(root / "m.keras"), str(root / "m.tflite")
    assert cli.main(["train", data_dir, "--out", keras_path, "--epochs", "3", "--quiet"]) == 0
    assert cli.main(["quantize", keras_path, "--calib", data_dir, "--out", tfl_path]) == 0
    return data_dir, keras_path, tfl_path


def _load(keras_path, data_dir):
    """(model, its metadata, the splits train made of data_dir)."""
    m = models.load(keras_path)
    info = models.model_info(m)
    return m, info, training.load_splits(info, data_dir)[1]


def test_input_range_decision():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 64, 2))
    assert data.input_range(x, [0, 0], [1, 1])[0] is None
    x[::10, 5, 0] = 40.0
    r, why = data.input_range(x, [0, 0], [1, 1])
    lo, hi = np.percentile(x, [data.INPUT_RANGE_PERCENTILE, 100 - data.INPUT_RANGE_PERCENTILE])
    assert r == [float(lo), float(hi)]
    assert why.startswith("heavy tails: standardized") and "saturate" in why
    # A range that does not contain 0 is widened to it, as activation ranges are.
    r, _ = data.input_range(np.abs(x) + 1.0, [0, 0], [1, 1])
    assert r is not None and r[0] == 0.0


def test_input_range_is_the_calibration_range(spiky):
    data_dir, keras_path, tfl_path = spiky
    m, info, sp = _load(keras_path, data_dir)
    lo, hi = info["normalization"]["input_range"]
    x = np.concatenate([sp.x["train"], sp.x["val"]])
    norm = info["normalization"]
    assert [lo, hi] == data.input_range(x, norm["mean"], norm["std"])[0]
    eng = Engine(open(tfl_path, "rb").read())
    scale, zp = quant.activation_qparams(lo, hi)
    assert abs(eng.in_scale - scale) <= 1e-6 * scale
    assert eng.in_zp == zp
    assert eng.info["normalization"]["input_range"] == [lo, hi]


def test_float_model_sees_the_engine_input_codes(spiky):
    data_dir, keras_path, tfl_path = spiky
    m, info, sp = _load(keras_path, data_dir)
    x = sp.x["train"]
    seen = np.asarray(m.get_layer("standardize")(x))
    eng = Engine(open(tfl_path, "rb").read())
    norm = info["normalization"]
    codes = []
    for w in x:
        eng.write_window(w, norm["mean"], norm["std"])
        codes.append(np.frombuffer(eng.m.input(0), dtype=np.int8).reshape(w.shape).copy())
    codes = np.stack(codes).astype(np.int32)
    assert codes.min() == -128 and codes.max() == 127  # the spikes saturate
    seen_codes = seen / eng.in_scale + eng.in_zp
    assert np.abs(seen_codes - np.round(seen_codes)).max() < 1e-3
    diff = np.abs(np.round(seen_codes).astype(np.int32) - codes)
    # float32 (x - mean) * (1 / std) against the engine's (x - mean) / std may put a value
    # that sits on a rounding tie one code apart; nothing more.
    assert diff.max() <= 1
    assert np.mean(diff == 0) > 0.999, np.mean(diff == 0)


def test_quantize_calibrates_to_the_range_with_few_windows(spiky):
    """With fewer calibration windows than examples the windows holding the range's ends
    are kept, so the int8 input still spans exactly input_range."""
    data_dir, keras_path, _ = spiky
    m, info, sp = _load(keras_path, data_dir)
    lo, hi = info["normalization"]["input_range"]
    scale, zp = quant.activation_qparams(lo, hi)
    for n in (3, 1):  # one window: the two ends are kept anyway
        eng = Engine(convert.quantize(m, np.concatenate([sp.x["train"], sp.x["val"]]), n_calib=n))
        assert abs(eng.in_scale - scale) <= 1e-6 * scale and eng.in_zp == zp


def test_full_range_without_heavy_tails(keras_model):
    """The synthetic IMU set has no such tails: no input_range, training in float."""
    info = models.model_info(models.load(keras_model))
    assert "input_range" not in info["normalization"]
