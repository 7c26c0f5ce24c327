"""Quantization math on the host: the only Python place for it.

Rounding mode: ROUNDING, round half away from zero (TFLite's TfLiteRound, i.e. std::round:
2.5 -> 3, -2.5 -> -3), written once (round_half_away_xp) for numpy and for keras.ops.

Model inputs are not quantized here at run time: the engine does it (mf_write_window in
cmodule/engine, called by the device's uformer.Model and by microformer.engine), in float32
as y = (x - mean) / std, then q = clamp(round_half_away(y / scale) + zero_point). `quantize`
below is the same arithmetic in numpy (float32 division, not a multiplication by 1 / scale,
which differs in the last bit for some scales; |v| clamped to 512 before rounding and NaN
to the zero point, as the engine does) for the training-time code that needs int8 codes.
"""
import numpy as np

INT8_MIN, INT8_MAX = -128, 127
ROUNDING = "half away from zero"
# Beyond +-512 every value clamps alike (|zero_point| <= 128): the engine clamps there first.
_QCLAMP = np.float32(512.0)


def round_half_away_xp(x, xp=np):
    """Round to nearest, ties away from zero, for any array namespace with sign/floor/abs
    (numpy, keras.ops)."""
    return xp.sign(x) * xp.floor(xp.abs(x) + 0.5)


def round_half_away(x):
    """round_half_away_xp on numpy arrays (2.5 -> 3, -2.5 -> -3)."""
    return round_half_away_xp(np.asarray(x), np)


def quantize(x, scale, zero_point, qmin=INT8_MIN, qmax=INT8_MAX, dtype=np.int8):
    """Real values -> integers: clamp(round_half_away(x / scale) + zero_point), in float32,
    with the engine's treatment of NaN (the zero point) and of huge values (saturate)."""
    v = np.asarray(x, dtype=np.float32) / np.float32(scale)
    v = np.clip(np.nan_to_num(v, nan=0.0, posinf=_QCLAMP, neginf=-_QCLAMP), -_QCLAMP, _QCLAMP)
    q = round_half_away(v).astype(np.int32) + int(zero_point)
    return np.clip(q, qmin, qmax).astype(dtype)


def dequantize(q, scale, zero_point):
    """Integers -> real values: (q - zero_point) * scale, in float32 (scale per tensor or per
    element after broadcasting)."""
    return ((np.asarray(q).astype(np.int32) - np.asarray(zero_point, dtype=np.int32))
            .astype(np.float32) * np.asarray(scale, dtype=np.float32))


def sqnr_db(reference, test):
    """Signal-to-quantization-noise ratio 10*log10(sum(ref^2) / sum((ref - test)^2)) in dB.

    inf when the two are identical; -inf when the reference is all zeros but test is not.
    """
    r = np.asarray(reference, dtype=np.float64).ravel()
    t = np.asarray(test, dtype=np.float64).ravel()
    noise = float(np.sum((r - t) ** 2))
    sig = float(np.sum(r ** 2))
    if noise == 0.0:
        return float("inf")
    if sig == 0.0:
        return float("-inf")
    return 10.0 * np.log10(sig / noise)


# --- Fake quantization for quantization-aware training (microformer.compress.qat) ----------
# Written against an array namespace `xp` (numpy, or keras.ops inside a Keras layer) so the
# training graph and the tests use the same formulas. They mirror what the TensorFlow
# converter produces for the engine: weights int8 per output channel, symmetric, codes
# [-127, 127], scale = max|w| / 127 (TFLite's SymmetricQuantizeFloats, rounding half away
# from zero); activations int8 per tensor, asymmetric, range widened to contain 0,
# scale = (max - min) / 255, zero point = round_half_away(-128 - min / scale) in [-128, 127].

WEIGHT_QMAX = 127  # symmetric weight codes are [-127, 127]; -128 is never used


def weight_scales(w, axis=-1, xp=np):
    """Per-channel symmetric scales max|w| / 127 along `axis` (the output channel), shaped to
    broadcast against w. An all-zero channel gets scale 1 (its codes are 0 either way)."""
    ndim = len(w.shape)
    axis = axis % ndim
    other = tuple(i for i in range(ndim) if i != axis)
    m = xp.max(xp.abs(w), axis=other, keepdims=True)
    return xp.where(m > 0, m / WEIGHT_QMAX, xp.ones_like(m))


def fake_quantize_weights(w, axis=-1, xp=np):
    """Quantize-dequantize weights per channel (symmetric int8), values on the int8 grid."""
    s = weight_scales(w, axis, xp)
    q = xp.clip(round_half_away_xp(w / s, xp), -WEIGHT_QMAX, WEIGHT_QMAX)
    return q * s


def activation_qparams(lo, hi, xp=np):
    """(scale, zero_point) of a per-tensor int8 activation observed in [lo, hi].

    The range is widened to contain 0 (0 must be exact: padding, ReLU); an empty range gets
    scale 1 / 255 (any positive scale codes a constant 0 exactly). zero_point is a float
    holding an integer, so it can stay inside a training graph.
    """
    lo = xp.minimum(lo, 0.0)
    hi = xp.maximum(hi, 0.0)
    span = hi - lo
    scale = xp.where(span > 0, span / (INT8_MAX - INT8_MIN), xp.ones_like(span) / 255.0)
    zp = xp.clip(round_half_away_xp(INT8_MIN - lo / scale, xp), INT8_MIN, INT8_MAX)
    return scale, zp


def fake_quantize(x, scale, zero_point, xp=np, qmin=INT8_MIN, qmax=INT8_MAX):
    """Quantize-dequantize: (clamp(round_half_away(x / scale) + zp) - zp) * scale."""
    q = xp.clip(round_half_away_xp(x / scale, xp) + zero_point, qmin, qmax)
    return (q - zero_point) * scale
