"""Host quantization math: rounding mode, (de)quantize, SQNR."""
import numpy as np

from microformer import quant


def test_round_half_away_from_zero():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, -0.51])
    assert quant.round_half_away(x).tolist() == [1, 2, 3, -1, -2, -3, 0, -1]


def test_quantize_clamps_and_uses_zero_point():
    q = quant.quantize([0.0, 0.1, 100.0, -100.0, 0.05], 0.1, -3)
    assert q.dtype == np.int8
    assert q.tolist() == [-3, -2, 127, -128, -2]  # 0.05/0.1 = 0.5 rounds away -> 1


def test_dequantize_inverts_quantize_within_half_a_step(rng):
    x = rng.uniform(-5, 5, 1000).astype(np.float32)
    s, z = 10 / 255, 5
    back = quant.dequantize(quant.quantize(x, s, z), s, z)
    inside = (x > (-128 - z) * s) & (x < (127 - z) * s)
    assert np.max(np.abs(back[inside] - x[inside])) <= s / 2 + 1e-6


def test_sqnr():
    r = np.array([1.0, -1.0, 1.0, -1.0])
    assert quant.sqnr_db(r, r) == float("inf")
    assert abs(quant.sqnr_db(r, r * 1.1) - 20.0) < 1e-9  # noise = 0.01 * signal
    assert quant.sqnr_db(np.zeros(3), np.ones(3)) == float("-inf")
