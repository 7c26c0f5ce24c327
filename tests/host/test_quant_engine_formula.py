"""quant.quantize (the numpy mirror for training-time code) and the engine's window formula
(mf_write_window via _uformer.Model.set_input, what the device and `eval` run) give the same
int8 codes: random values, exact ties, one float32 step beside them, huge values, inf, NaN."""
import sys
from pathlib import Path

import numpy as np
import pytest

from microformer import convert, quant

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

_uformer = pytest.importorskip("_uformer", reason="the CPython _uformer is not built (make ext)")
from tflbuild import Graph  # noqa: E402

N = 96


def identity_model(scale, zp):
    """One int8 input of N values that is also the graph's output: set_input's bytes are
    the model's input bytes."""
    g = Graph()
    x = g.input((1, N), "int8", scale=scale, zp=zp)
    g.outputs.append(x)
    return g.build()


def values(rng, scale, mean, std):
    f32 = np.float32
    k = rng.integers(-140, 140, N).astype(f32) + f32(0.5)
    ties = mean + k * f32(scale) * std
    side = np.nextafter(ties, np.where(rng.random(N) < 0.5, -np.inf, np.inf).astype(f32))
    rand = rng.normal(0, 3, N).astype(f32) * std + mean
    special = np.array([np.nan, np.inf, -np.inf, 3e38, -3e38, 0.0, -0.0, 1e-30], f32)
    return [ties, side, rand, np.resize(special, N)]


@pytest.mark.parametrize("seed", range(6))
def test_numpy_quantize_is_the_engine_formula(seed):
    rng = np.random.default_rng(seed)
    scale = float(np.float32(rng.uniform(0.003, 0.3)))
    zp = int(rng.integers(-128, 128))
    channels = 3
    mean = rng.normal(0, 2, channels).astype(np.float32)
    std = rng.uniform(0.1, 4, channels).astype(np.float32)
    m = _uformer.Model(identity_model(scale, zp))
    in_scale = m.input_info(0)[2]
    info = {"normalization": {"mean": mean.tolist(), "std": std.tolist()}}
    for v in values(rng, in_scale, np.resize(mean, N), np.resize(std, N)):
        m.set_input(0, v, mean, std)
        got = np.frombuffer(bytes(m.input(0)), np.int8)
        with np.errstate(invalid="ignore", over="ignore"):
            norm = convert.normalize(v.reshape(-1, channels), info).reshape(-1)
            want = quant.quantize(norm, in_scale, zp)
        np.testing.assert_array_equal(got, want)


def test_nan_is_the_zero_point_and_infinities_saturate():
    q = quant.quantize(np.array([np.nan, np.inf, -np.inf, 1e30, -1e30], np.float32), 0.1, 7)
    assert q.tolist() == [7, 127, -128, 127, -128]


def test_ties_round_away_from_zero():
    assert quant.ROUNDING == "half away from zero"
    assert quant.round_half_away(np.array([2.5, -2.5, 0.5, -0.5, 1.49])).tolist() == [3, -3, 1, -1, 1]


def test_window_start_reads_a_ring_oldest_first():
    m = _uformer.Model(identity_model(1.0, 0))
    ring = np.arange(N, dtype=np.float32)
    m.set_input(0, ring, np.zeros(1, np.float32), np.ones(1, np.float32), 10)
    got = np.frombuffer(bytes(m.input(0)), np.int8)
    np.testing.assert_array_equal(got, np.clip(np.roll(ring, -10), -128, 127).astype(np.int8))


def test_window_refusals_name_the_numbers():
    m = _uformer.Model(identity_model(0.5, 0))
    ones = np.ones(3, np.float32)
    fit = r"does not fit the tensor's 96: need whole samples of aligned float32"
    with pytest.raises(ValueError, match=r"window of 95 values \(start 0, 3 channels\) " + fit):
        m.set_input(0, np.zeros(N - 1, np.float32), ones, ones)
    with pytest.raises(ValueError, match=r"window of 96 values \(start 0, 5 channels\) " + fit):
        m.set_input(0, np.zeros(N, np.float32), np.ones(5, np.float32), np.ones(5, np.float32))
    with pytest.raises(ValueError, match=r"window of 96 values \(start 96, 3 channels\) " + fit):
        m.set_input(0, np.zeros(N, np.float32), ones, ones, N)
    with pytest.raises(ValueError, match="mean has 3 values, std 2"):
        m.set_input(0, np.zeros(N, np.float32), ones, np.ones(2, np.float32))
    with pytest.raises(TypeError, match="samples must be float32"):
        m.set_input(0, np.zeros(N, np.float64), ones, ones)
    with pytest.raises(IndexError):
        m.set_input(1, np.zeros(N, np.float32), ones, ones)
