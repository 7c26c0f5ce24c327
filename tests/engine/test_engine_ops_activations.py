"""Elementwise int8 activations: LOGISTIC, TANH, HARD_SWISH, RELU, RELU6 vs TFLM and
GELU vs TFLite's reference kernels (TFLM has no GELU), byte for byte, and refusals.

The engine runs each op through a 256-entry table built at load, so every test input
contains all 256 int8 values (plus random ones): one example checks the whole table.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import _uformer
from oracle import assert_identical, refused, run_engine, tflm_interpreter
from tflbuild import Graph, options

TFLM_OPS = ["LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6"]
VERSION = {"LOGISTIC": 2, "TANH": 2, "HARD_SWISH": 1, "RELU": 2, "RELU6": 2, "GELU": 2}


def act_model(op, shape, in_scale, in_zp, out_scale, out_zp, opts=None, out_shape=None,
              in_type="int8", out_type="int8", n_inputs=1, version=None):
    g = Graph()
    xs = [g.input(shape, in_type, scale=in_scale, zp=in_zp) for _ in range(n_inputs)]
    y = g.output(out_shape if out_shape is not None else shape, out_type, scale=out_scale, zp=out_zp)
    g.op(op, xs, [y], opts, version=version or VERSION[op])
    return g.build()


def all_values_input(shape, rng):
    """Every int8 value at least once when the tensor has >= 256 elements."""
    n = int(np.prod(shape))
    vals = np.concatenate([rng.permutation(np.arange(-128, 128)),
                           rng.integers(-128, 128, size=max(0, n - 256))])[:n]
    return vals.astype(np.int8).reshape(shape)


def tflm_refuses(model):
    try:
        tflm_interpreter(model)
    except RuntimeError:
        return True
    return False


def f32(x):
    return float(np.float32(x))


scales = st.floats(-4.0, 1.0).map(lambda e: f32(10.0 ** e))
zps = st.integers(-128, 127)
shapes = st.one_of(
    st.just((256,)),
    st.just((2, 8, 16)),
    st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple),
    st.tuples(st.integers(1, 3), st.integers(100, 300)),
)


def out_quant(op, draw_scale, draw_zp):
    """Output quantization as the converter makes it, or free where TFLM ignores it."""
    if op == "LOGISTIC":
        return draw_scale, -128   # TFLM checks the zero point only
    return draw_scale, draw_zp


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(TFLM_OPS), shape=shapes, in_scale=scales, in_zp=zps,
       out_scale=scales, out_zp=zps, seed=st.integers(0, 2**32 - 1))
def test_activation_matches_tflm(op, shape, in_scale, in_zp, out_scale, out_zp, seed):
    out_scale, out_zp = out_quant(op, out_scale, out_zp)
    model = act_model(op, shape, in_scale, in_zp, out_scale, out_zp)
    x = all_values_input(shape, np.random.default_rng(seed))
    if op == "HARD_SWISH" and tflm_refuses(model):
        # input_scale / (128 * output_scale) >= 1: TFLM's prepare refuses, so must we.
        with pytest.raises(NotImplementedError, match="HARD_SWISH"):
            _uformer.Model(model)
        return
    assert_identical(model, [x])


@pytest.mark.parametrize("op", TFLM_OPS)
@pytest.mark.parametrize("in_scale,in_zp,out_scale,out_zp", [
    (1 / 256, -128, 1 / 256, -128),
    (0.1, 0, 1 / 128, 0),
    (0.0235, 17, 1 / 256, -128),
    (2.0**-27, 0, 0.05, 3),      # smallest scale with a non-negative shift for LOGISTIC/TANH
    (3.0, -5, 0.9, 100),         # radius 1: only the zero point is not saturated
    (20.0, 0, 0.5, -128),        # radius 0: every input saturates
    (0.5, 127, 0.02, -128),
    (0.5, -128, 0.02, 127),
    (1e-4, 0, 1.0, 0),           # HARD_SWISH int16 shifts >= 16 (the wrapped int16 mask)
])
def test_activation_edges(op, in_scale, in_zp, out_scale, out_zp):
    if op == "LOGISTIC":
        out_zp = -128
    model = act_model(op, (256,), f32(in_scale), in_zp, f32(out_scale), out_zp)
    x = np.arange(-128, 128, dtype=np.int8)
    if op == "HARD_SWISH" and tflm_refuses(model):
        with pytest.raises(NotImplementedError):
            _uformer.Model(model)
        return
    assert_identical(model, [x])


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("in_zp", [-128, -40, 0, 77, 127])
def test_sigmoid_tables_paired_around_the_zero_point(op, in_zp):
    """The tables are filled in +-k pairs around the zero point (one exact computation for
    both); every zero point side and input scales from the unsaturated to the mostly
    saturated give TFLM's bytes."""
    x = np.arange(-128, 128, dtype=np.int8)
    for in_scale in np.geomspace(0.004, 0.25, 23):
        model = act_model(op, (256,), f32(in_scale), in_zp, 1 / 256 if op == "LOGISTIC" else 1 / 128,
                          -128 if op == "LOGISTIC" else 0)
        assert_identical(model, [x])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, in_scale=scales, in_zp=zps, out_scale=scales, out_zp=zps,
       approximate=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gelu_matches_tflite_reference(shape, in_scale, in_zp, out_scale, out_zp, approximate, seed):
    model = act_model("GELU", shape, in_scale, in_zp, out_scale, out_zp,
                      options("GeluOptions", approximate=approximate))
    x = all_values_input(shape, np.random.default_rng(seed))
    assert_identical(model, [x], oracle="tflite_ref")


@pytest.mark.parametrize("approximate", [False, True, None])
@pytest.mark.parametrize("in_scale,in_zp,out_scale,out_zp", [
    (0.05, 0, 0.05, 0),
    (0.1, 60, 0.02, -100),      # large negative inputs: the erfc form matters
    (0.001, -3, 1e-4, -128),
    (0.3, -128, 0.3, -128),
])
def test_gelu_edges(approximate, in_scale, in_zp, out_scale, out_zp):
    # approximate=None: no options table, which means approximate = false.
    opts = None if approximate is None else options("GeluOptions", approximate=approximate)
    model = act_model("GELU", (256,), f32(in_scale), in_zp, f32(out_scale), out_zp, opts)
    assert_identical(model, [np.arange(-128, 128, dtype=np.int8)], oracle="tflite_ref")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.sampled_from(TFLM_OPS), min_size=2, max_size=4), shape=shapes,
       scales_=st.lists(scales, min_size=5, max_size=5), zps_=st.lists(zps, min_size=5, max_size=5),
       seed=st.integers(0, 2**32 - 1))
def test_activation_chains_match_tflm(ops, shape, scales_, zps_, seed):
    # Intermediate tensors die at the next node, so the engine may run them in place.
    g = Graph()
    t = g.input(shape, "int8", scale=scales_[0], zp=zps_[0])
    for i, op in enumerate(ops):
        s_, z_ = (scales_[i + 1], -128) if op == "LOGISTIC" else (scales_[i + 1], zps_[i + 1])
        if op == "HARD_SWISH":  # keep TFLM's output-gain condition satisfied
            s_ = max(s_, f32(g.tensors[t].quantization.scale[0]) / 64)
        last = i == len(ops) - 1
        y = (g.output if last else g.tensor)(shape, "int8", scale=s_, zp=z_)
        g.op(op, [t], [y], None, version=VERSION[op])
        t = y
    assert_identical(g.build(), [all_values_input(shape, np.random.default_rng(seed))])


def test_gelu_not_in_tflm():
    # The design's reason for the TFLite oracle: TFLM has no GELU kernel.
    model = act_model("GELU", (8,), 0.05, 0, 0.05, 0, options("GeluOptions", approximate=False))
    assert tflm_refuses(model)


def test_tanh_ignores_output_quantization():
    # TFLM writes Q0.7 whatever the output tensor says; so does the engine.
    x = np.arange(-128, 128, dtype=np.int8)
    a = run_engine(act_model("TANH", (256,), 0.05, 0, 1 / 128, 0), [x])[0]
    b = run_engine(act_model("TANH", (256,), 0.05, 0, 0.3, 40), [x])[0]
    assert np.array_equal(a, b)


def test_relu6_clamps_in_input_quantization():
    # RELU6 in TFLM ignores the output quantization; lower bound = input zero point.
    x = np.arange(-128, 128, dtype=np.int8)
    model = act_model("RELU6", (256,), 0.05, -10, 0.5, 3)
    (y,) = run_engine(model, [x])
    assert y.min() == -10 and y.max() == -10 + 120
    assert_identical(model, [x])


def test_lut_ops_count_table_in_arena():
    # The 256-byte table lives in the arena and the size query says so.
    for op in TFLM_OPS:
        model = act_model(op, (64,), 0.05, 0, 1 / 256, -128)
        m = _uformer.Model(model)
        assert m.arena_size == _uformer.arena_size(model) >= 256 + 64


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_small_sigmoid_tensors_compute_without_a_table(op):
    # Under 64 elements each one is computed at invoke (a table would cost more at load
    # than it saves): no 256-byte table in the arena, TFLM's bytes for every input value.
    model = act_model(op, (16,), 0.05, 3, 1 / 256, -128)
    relu = act_model("RELU", (16,), 0.05, 3, 1 / 256, -128)
    assert _uformer.arena_size(model) + 256 - 32 <= _uformer.arena_size(relu)  # 256 - alignment
    assert _uformer.arena_size(act_model(op, (64,), 0.05, 3, 1 / 256, -128)) >= 256 + 64
    values = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)
    for row in values:
        assert_identical(model, [row])


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("op", TFLM_OPS + ["GELU"])
def test_activation_refuses_types_and_shapes(op):
    refused(act_model(op, (4,), 0.1, 0, 0.1, 0, in_type="int16", out_type="int16"),
            NotImplementedError, op, "int16")
    refused(act_model(op, (4,), None, None, None, None, in_type="float32", out_type="float32"),
            NotImplementedError, op, "float32")
    refused(act_model(op, (4,), 0.1, 0, 0.1, 0, out_type="int16"), NotImplementedError, "output", "int16")
    refused(act_model(op, (4,), 0.1, 0, 1 / 256, -128, out_shape=(5,)), ValueError, "shape", "[5]", "[4]")
    refused(act_model(op, (4,), 0.1, 0, 1 / 256, -128, n_inputs=2), ValueError, "2 inputs")
    refused(act_model(op, (4,), None, None, 1 / 256, -128), NotImplementedError, "not quantized")


def test_logistic_refuses_output_zero_point():
    refused(act_model("LOGISTIC", (4,), 0.1, 0, 1 / 256, 0), NotImplementedError, "zero point 0", "-128")
    model = act_model("LOGISTIC", (4,), 0.1, 0, 1 / 256, 0)
    assert tflm_refuses(model)


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_sigmoid_refuses_scale_range(op):
    # input_scale * 2^27 < 0.5: TFLite shifts by a negative amount (undefined).
    refused(act_model(op, (4,), 2.0**-29, 0, 1 / 256, -128), NotImplementedError, "2^-29", "too small")
    refused(act_model(op, (4,), 2.0**40, 0, 1 / 256, -128), NotImplementedError, "2^40", "too large")


def test_hard_swish_refuses_output_gain():
    model = act_model("HARD_SWISH", (4,), 1.0, 0, 1e-3, 0)
    refused(model, NotImplementedError, "HARD_SWISH", "left shift")
    assert tflm_refuses(model)


def test_relu_refuses_huge_gain():
    refused(act_model("RELU", (4,), 1.0, 0, 1e-8, 0), NotImplementedError, "left shift")


def test_relu6_refuses_tiny_scale():
    refused(act_model("RELU6", (4,), 1e-10, 0, 0.1, 0), NotImplementedError, "too small")


def test_gelu_refuses_wrong_options_type():
    refused(act_model("GELU", (4,), 0.1, 0, 0.1, 0, options("SoftmaxOptions", beta=1.0)),
            ValueError, "options type")
