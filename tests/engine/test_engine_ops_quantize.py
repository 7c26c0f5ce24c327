"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32): engine vs
TFLM byte for byte, the LayerNorm float island DEQUANTIZE -> NEG -> QUANTIZE, refusals.

int8 inputs are checked on all 256 values; float inputs on random values, exact
rounding ties (k + 1/2) * scale and values far outside the int8 range.
"""
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from oracle import assert_identical, log_uniform, refused, run_engine
from tflbuild import Graph

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


def unary_model(op, shape, in_dtype, out_dtype, qin=None, qout=None, version=1, out_shape=None):
    g = Graph()
    x = g.input(shape, in_dtype, scale=qin[0] if qin else None, zp=qin[1] if qin else None)
    y = g.output(out_shape or shape, out_dtype, scale=qout[0] if qout else None,
                 zp=qout[1] if qout else None)
    g.op(op, [x], [y], None, version=version)
    return g.build()


def _ties_and_randoms(rng, scale, n=600):
    """Random values over about +-300 steps, plus exact ties (k + 1/2) * scale."""
    x = rng.uniform(-300, 300, n).astype(np.float32) * np.float32(scale)
    k = rng.integers(-200, 200, n // 2).astype(np.float32)
    x[: n // 2] = (k + np.float32(0.5)) * np.float32(scale)
    x[n // 2: n // 2 + 4] = [0.0, -0.0, np.float32(scale) / 2, -np.float32(scale) / 2]
    return x.astype(np.float32)


@settings(max_examples=250, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_quantize_float_to_int8(seed):
    rng = np.random.default_rng(seed)
    scale = log_uniform(rng, 1e-6, 1e3)
    zp = int(rng.integers(-128, 128))
    x = _ties_and_randoms(rng, scale)
    model = unary_model("QUANTIZE", (x.size,), "float32", "int8", None, (scale, zp))
    assert_identical(model, [x])


def test_quantize_float_saturates_outside_int32():
    """x / scale beyond int32 (undefined in TFLM's cast; x86 gives INT32_MIN there):
    the engine saturates, and NaN maps to the zero point."""
    model = unary_model("QUANTIZE", (6,), "float32", "int8", None, (1e-3, 5))
    x = np.array([3e30, -3e30, np.inf, -np.inf, np.nan, 2.1e6], np.float32)
    got = run_engine(model, [x])[0]
    assert list(got) == [127, -128, 127, -128, 5, 127]


@settings(max_examples=250, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_requantize_int8_every_value(seed):
    rng = np.random.default_rng(seed)
    si = log_uniform(rng, 1e-4, 10.0)
    so = float(np.float32(si * log_uniform(rng, 1e-3, 1e3))) if rng.integers(5) else si
    zi, zo = (int(v) for v in rng.integers(-128, 128, 2))
    model = unary_model("QUANTIZE", (2, 128), "int8", "int8", (si, zi), (so, zo), version=2)
    assert_identical(model, [ALL_INT8.reshape(2, 128)])


@settings(max_examples=250, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_dequantize_every_value(seed):
    rng = np.random.default_rng(seed)
    scale = log_uniform(rng, 1e-38, 1e36) if rng.integers(4) == 0 else log_uniform(rng, 1e-5, 10.0)
    zp = int(rng.integers(-128, 128))
    model = unary_model("DEQUANTIZE", (256,), "int8", "float32", (scale, zp), version=2)
    assert_identical(model, [ALL_INT8])


def island_model(q_in, q_out, shape=(1, 16, 1)):
    """LayerNorm's float island: int8 -> DEQUANTIZE -> NEG -> QUANTIZE -> int8."""
    g = Graph()
    x = g.input(shape, "int8", scale=q_in[0], zp=q_in[1])
    f = g.tensor(shape, "float32")
    nf = g.tensor(shape, "float32")
    y = g.output(shape, "int8", scale=q_out[0], zp=q_out[1])
    g.op("DEQUANTIZE", [x], [f], None, version=2)
    g.op("NEG", [f], [nf], None, version=1)
    g.op("QUANTIZE", [nf], [y], None, version=1)
    return g.build()


@settings(max_examples=150, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_layernorm_float_island(seed):
    rng = np.random.default_rng(seed)
    si = log_uniform(rng, 1e-4, 1.0)
    so = si if rng.integers(2) else float(np.float32(si * log_uniform(rng, 0.1, 10.0)))
    zi, zo = (int(v) for v in rng.integers(-128, 128, 2))
    if rng.integers(2):
        zo = -zi if zi > -128 else 127   # the converter's choice for -mean
    model = island_model((si, zi), (so, zo), (1, 256, 1))
    assert_identical(model, [ALL_INT8.reshape(1, 256, 1)])


def test_converter_island_values():
    """The island as the converter emitted it for a small LayerNorm."""
    model = island_model((0.008068156, 4), (0.008068156, -5))
    assert_identical(model, [ALL_INT8[::16].reshape(1, 16, 1)])


# ---------------------------------------------------------------- refusals

def test_refuse_quantize_types():
    refused(unary_model("QUANTIZE", (4,), "float32", "int16", None, (0.1, 0)), NotImplementedError, "int16")
    refused(unary_model("QUANTIZE", (4,), "int16", "int8", (0.1, 0), (0.1, 0)), NotImplementedError,
             "input has type int16")
    refused(unary_model("QUANTIZE", (4,), "float32", "int8"), NotImplementedError, "output is not quantized")
    refused(unary_model("QUANTIZE", (2, 2), "float32", "int8", None, ([0.1, 0.2], 0)), NotImplementedError,
             "2 quantization scales")


def test_refuse_dequantize_types():
    refused(unary_model("DEQUANTIZE", (4,), "int16", "float32", (0.1, 0)), NotImplementedError, "int16")
    refused(unary_model("DEQUANTIZE", (4,), "int8", "int8", (0.1, 0), (0.1, 0)), NotImplementedError,
             "output has type int8")
    refused(unary_model("DEQUANTIZE", (4,), "int8", "float32"), NotImplementedError, "input is not quantized")


def test_refuse_shapes_and_scales():
    refused(unary_model("QUANTIZE", (4,), "float32", "int8", None, (0.1, 0), out_shape=(2, 2)), ValueError,
             "output has shape [2,2], expected [4]")
    refused(unary_model("DEQUANTIZE", (3, 4), "int8", "float32", (0.1, 0), out_shape=(4, 3)), ValueError,
             "[4,3]", "[3,4]")
    # Requantize by 2^40: TFLM's x * (1 << shift) overflows.
    refused(unary_model("QUANTIZE", (4,), "int8", "int8", (1e6, 0), (1e-6, 0)), NotImplementedError,
             "shift")
    # Zero point outside int8.
    refused(unary_model("QUANTIZE", (4,), "float32", "int8", None, (0.1, 200)), ValueError, "zero point 200")


def test_refuse_io_counts():
    g = Graph()
    x = g.input((4,), "float32")
    y = g.output((4,), "int8", scale=0.1, zp=0)
    z = g.output((4,), "int8", scale=0.1, zp=0)
    g.op("QUANTIZE", [x], [y, z], None)
    refused(g.build(), ValueError, "has 2 outputs, need 1")
