"""Quantization math on the host: the only Python place for it.

Rounding mode: float -> int8 uses round half away from zero (TFLite's TfLiteRound, i.e.
std::round), the mode of the engine's QUANTIZE kernel, so a window quantized here is the
same bytes the device's input tensor receives. The division x / scale is done in float32
like the reference kernel, not as a multiplication by 1 / scale (which differs in the last
bit for some scales).
"""
import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def round_half_away(x):
    """Round to nearest, ties away from zero (2.5 -> 3, -2.5 -> -3)."""
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize(x, scale, zero_point, qmin=INT8_MIN, qmax=INT8_MAX, dtype=np.int8):
    """Real values -> integers: clamp(round_half_away(x / scale) + zero_point)."""
    q = round_half_away(np.asarray(x, dtype=np.float32) / np.float32(scale)) + int(zero_point)
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
