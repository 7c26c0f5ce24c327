"""SOFTMAX (int8 -> int8): engine vs TFLM byte for byte, and refusals.

TFLM's int8 softmax is the gemmlowp fixed-point path (exp_on_negative_values in Q5.26,
sum in Q12.19, GetReciprocal); the engine caches exp per (max - x) but must match
exactly for every beta, input scale and row length.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import _uformer
from oracle import assert_identical, refused, run_engine
from tflbuild import Graph, options

OUT_SCALE = 1.0 / 256.0


def softmax_model(shape, in_scale, in_zp, beta=1.0, out_scale=OUT_SCALE, out_zp=-128,
                  out_shape=None, in_type="int8", out_type="int8", with_options=True,
                  n_inputs=1):
    g = Graph()
    xs = [g.input(shape, in_type, scale=in_scale, zp=in_zp) for _ in range(n_inputs)]
    y = g.output(out_shape if out_shape is not None else shape, out_type, scale=out_scale, zp=out_zp)
    opts = options("SoftmaxOptions", beta=beta) if with_options else None
    g.op("SOFTMAX", xs, [y], opts, version=2)
    return g.build()


def rows(rng, shape, mode):
    """Inputs that stress different parts of the computation."""
    if mode == "uniform":
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    if mode == "narrow":  # many values near the row max: large sums, small diffs
        base = int(rng.integers(-128, 120))
        return (base + rng.integers(0, 8, size=shape)).clip(-128, 127).astype(np.int8)
    if mode == "peaked":  # one big value per row, the rest far below
        x = rng.integers(-128, -60, size=shape, dtype=np.int8)
        x.reshape(-1, shape[-1])[:, 0] = 127
        return x
    # constant rows: the sum is exactly depth * 1.0
    return np.full(shape, int(rng.integers(-128, 128)), dtype=np.int8)


scales = st.floats(-4.0, 1.3).map(lambda e: float(np.float32(10.0 ** e)))
betas = st.one_of(st.just(1.0), st.floats(-2.0, 1.0).map(lambda e: float(np.float32(10.0 ** e))))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lead=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    depth=st.one_of(st.integers(1, 40), st.integers(41, 511)),
    in_scale=scales,
    in_zp=st.integers(-128, 127),
    beta=betas,
    mode=st.sampled_from(["uniform", "narrow", "peaked", "constant"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_matches_tflm(lead, depth, in_scale, in_zp, beta, mode, seed):
    # depth <= 511 keeps the sum of exps below 512.0, where TFLM itself aborts.
    shape = tuple(lead) + (depth,)
    rng = np.random.default_rng(seed)
    model = softmax_model(shape, in_scale, in_zp, beta)
    assert_identical(model, [rows(rng, shape, mode)])


@pytest.mark.parametrize("in_scale,beta", [
    (1.5e-8, 1.0),     # real multiplier just above 1: largest diff_min radius (255 clamp)
    (2.0**-20, 1.0),   # exact power of two
    (0.1, 1.0),
    (1.0, 1.0),
    (40.0, 100.0),     # multiplier capped at 2^31 - 1: only the row max survives
    (0.0625, 0.5),
])
@pytest.mark.parametrize("mode", ["uniform", "narrow", "peaked", "constant"])
def test_softmax_edges(in_scale, beta, mode):
    rng = np.random.default_rng(7)
    shape = (3, 300)
    model = softmax_model(shape, in_scale, -3, beta)
    assert_identical(model, [rows(rng, shape, mode)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 200), rows_=st.integers(1, 6), in_scale=scales, beta=betas,
       pre=st.sampled_from(["RELU", "TANH", "SOFTMAX"]), seed=st.integers(0, 2**32 - 1))
def test_softmax_after_another_op(depth, rows_, in_scale, beta, pre, seed):
    # The softmax input is an intermediate that dies here: the engine may run in place.
    shape = (rows_, depth)
    g = Graph()
    x = g.input(shape, "int8", scale=in_scale, zp=5)
    if pre == "SOFTMAX":
        t = g.tensor(shape, "int8", scale=OUT_SCALE, zp=-128)
        g.op("SOFTMAX", [x], [t], options("SoftmaxOptions", beta=beta), version=2)
    else:
        t = g.tensor(shape, "int8", scale=in_scale, zp=0)
        g.op(pre, [x], [t], None, version=2)
    y = g.output(shape, "int8", scale=OUT_SCALE, zp=-128)
    g.op("SOFTMAX", [t], [y], options("SoftmaxOptions", beta=beta), version=2)
    rng = np.random.default_rng(seed)
    assert_identical(g.build(), [rng.integers(-128, 128, size=shape, dtype=np.int8)])


def test_softmax_all_differences():
    # Every difference max - x from 0 to 255 in one row, several rows, several invokes.
    shape = (4, 256)
    model = softmax_model(shape, 0.03, 0, 1.0)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = np.stack([rng.permutation(np.arange(-128, 128)) for _ in range(4)]).astype(np.int8)
        assert_identical(model, [x])


def test_softmax_511_equal_values():
    # Sum of exps 511.0: the largest exponent (31) TFLM accepts.
    shape = (2, 511)
    model = softmax_model(shape, 0.05, 0, 1.0)
    assert_identical(model, [np.full(shape, 5, dtype=np.int8)])


def test_softmax_long_rows_defined():
    # From a sum of 512.0 on TFLM stops (TFLITE_CHECK); the engine gives probability 0
    # (-128) to every element, which is what the exact result rounds to.
    shape = (2, 5000)
    model = softmax_model(shape, 0.05, 0, 1.0)
    x = np.full(shape, 9, dtype=np.int8)
    (y,) = run_engine(model, [x])
    assert (y == -128).all()
    # A long row whose sum stays small is fine for TFLM too (it has no row length limit).
    x2 = np.full(shape, -128, dtype=np.int8)
    x2[:, 17] = 127
    x2[1, 4000:4100] = 60
    assert_identical(model, [x2])


def test_softmax_arena_counts_scratch():
    model = softmax_model((2, 64), 0.05, 0, 1.0)
    m = _uformer.Model(model)
    assert m.arena_size == _uformer.arena_size(model)
    assert m.ops == ("SOFTMAX",)


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("out_scale,out_zp", [(1.0 / 128, -128), (1.0 / 256, 0), (1.0 / 255, -128),
                                               (np.nextafter(np.float32(1 / 256), np.float32(1)), -128)])
def test_softmax_refuses_output_quantization(out_scale, out_zp):
    refused(softmax_model((1, 8), 0.1, 0, 1.0, out_scale=float(out_scale), out_zp=out_zp),
            NotImplementedError, "SOFTMAX", "need zero point -128 and scale 1/256", str(out_zp))


def test_softmax_refuses_types():
    refused(softmax_model((1, 8), 0.1, 0, in_type="int16", out_type="int16"), NotImplementedError, "int16")
    refused(softmax_model((1, 8), 0.1, 0, out_type="int16", out_scale=1 / 65536, out_zp=-32768),
            NotImplementedError, "output", "int16")
    refused(softmax_model((1, 8), None, None, in_type="float32", out_type="float32", out_scale=None,
                          out_zp=None), NotImplementedError, "float32")


def test_softmax_refuses_beta():
    refused(softmax_model((1, 8), 0.1, 0, with_options=False), NotImplementedError, "beta")
    refused(softmax_model((1, 8), 0.1, 0, beta=0.0), NotImplementedError, "beta")
    refused(softmax_model((1, 8), 0.1, 0, beta=-1.0), NotImplementedError, "beta")
    # beta * scale = 2^-30: the multiplier would be below 1 (TFLite aborts).
    refused(softmax_model((1, 8), 2.0**-30, 0, beta=1.0), NotImplementedError, "2^-30", "2^-26")


def test_softmax_refuses_malformed():
    refused(softmax_model((1, 8), 0.1, 0, out_shape=(1, 9)), ValueError, "shape", "[1,9]", "[1,8]")
    refused(softmax_model((), 0.1, 0), ValueError, "0 dims")
    refused(softmax_model((1, 8), 0.1, 0, n_inputs=2), ValueError, "2 inputs")
    refused(softmax_model((1, 8), None, None), NotImplementedError, "not quantized")
