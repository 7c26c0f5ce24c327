"""MEAN (int8, float32): engine vs TFLM byte for byte, plus refusals, plus whole
LayerNormalization graphs from the TensorFlow converter.

Axes are drawn as random subsets of ranks 0..6, written with negative and duplicate
entries, in any order, as a vector or a scalar tensor; keep_dims both ways. Scales
span several orders of magnitude; zero points the whole int8 range.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import _uformer
from oracle import assert_identical, assert_same, log_uniform, random_inputs, refused
from tflbuild import Graph, options

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reduced_shape(shape, axes, keep):
    r = {a % len(shape) for a in axes} if shape else set()
    return tuple((1 if keep else None) if i in r else d for i, d in enumerate(shape) if keep or i not in r)


def mean_model(shape, axes, keep, dtype="int8", qin=(0.1, 0), qout=(0.1, 0), axis_dtype="int32",
               axis_scalar=False, out_shape=None, axis_input=False, version=2):
    g = Graph()
    if dtype == "int8":
        x = g.input(shape, "int8", scale=qin[0], zp=qin[1])
    else:
        x = g.input(shape, dtype)
    ax = np.array(axes[0] if axis_scalar else axes, dtype=axis_dtype)
    a = g.input(ax.shape, axis_dtype) if axis_input else g.const(ax, axis_dtype)
    osh = reduced_shape(shape, axes, keep) if out_shape is None else out_shape
    if dtype == "int8":
        y = g.output(osh, "int8", scale=qout[0], zp=qout[1])
    else:
        y = g.output(osh, dtype)
    g.op("MEAN", [x, a], [y], options("ReducerOptions", keepDims=keep), version=version)
    return g.build()


@st.composite
def mean_case(draw):
    rank = draw(st.sampled_from([1, 2, 2, 3, 3, 3, 4, 4, 5, 6]))
    shape = [draw(st.integers(1, 7)) for _ in range(rank)]
    if draw(st.booleans()):
        shape[draw(st.integers(0, rank - 1))] = draw(st.integers(8, 200))
    while np.prod(shape) > 6000:
        shape[int(np.argmax(shape))] //= 2
    # (An empty axis list has no constant buffer in a .tflite file, so it is not drawn;
    # "nothing reduced" still happens through axes of extent 1.)
    chosen = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = []
    for a in chosen:
        axes.append(a - rank if draw(st.booleans()) else a)     # negative form
        if draw(st.integers(0, 4)) == 0:
            axes.append(a if draw(st.booleans()) else a - rank)  # duplicate
    axes = draw(st.permutations(axes)) if axes else axes
    keep = draw(st.booleans())
    scalar = len(axes) == 1 and draw(st.booleans())
    return tuple(shape), list(axes), keep, scalar


@settings(max_examples=500, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), case=mean_case())
def test_mean_int8_parity(seed, case):
    shape, axes, keep, scalar = case
    rng = np.random.default_rng(seed)
    si = log_uniform(rng, 1e-3, 10.0)
    so = float(np.float32(si * log_uniform(rng, 0.02, 50.0))) if rng.integers(4) else si
    zi = int(rng.integers(-128, 128))
    zo = int(rng.integers(-128, 128)) if rng.integers(4) else zi
    model = mean_model(shape, axes, keep, "int8", (si, zi), (so, zo), axis_scalar=scalar)
    assert_identical(model, random_inputs(model, rng))


@settings(max_examples=150, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), case=mean_case())
def test_mean_float_parity(seed, case):
    shape, axes, keep, scalar = case
    rng = np.random.default_rng(seed)
    model = mean_model(shape, axes, keep, "float32", axis_scalar=scalar, version=1)
    x = random_inputs(model, rng)[0] * np.float32(10) ** rng.integers(-3, 4)
    assert_same(model, [x.astype(np.float32)])


@pytest.mark.parametrize("shape,axes,keep", [
    ((1, 16, 8), [-1], True),          # LayerNorm
    ((1, 32, 24), [1], False),         # GlobalAveragePooling1D
    ((2, 5, 7, 3), [1, 2], True),      # the old 4-D special case
    ((2, 5, 7, 3), [2, 1], False),
    ((3, 4, 5), [0, 2], True),         # non-contiguous reduction (scratch)
    ((3, 1, 5), [1], False),           # nothing really reduced
    ((4, 3), [0, 1, -1, -2], False),   # everything, with duplicates
])
def test_mean_named_patterns(shape, axes, keep):
    rng = np.random.default_rng(7)
    for qin, qout in (((0.03, -10), (0.008, 4)), ((0.05, 7), (0.05, 7)), ((0.02, -128), (0.5, 127))):
        for fl in (False, True):
            model = mean_model(shape, axes, keep, "float32" if fl else "int8", qin, qout)
            assert_same(model, random_inputs(model, rng))


def test_mean_int8_long_reductions():
    """Counts up to 2^16 (TFLM's divide-by-count shift hits its 31 + shift bound) at
    extreme zero points and scale ratios."""
    rng = np.random.default_rng(11)
    for n in (255, 256, 1000, 4097, 65536):
        for (si, zi), (so, zo) in (((0.1, -128), (0.1, 127)), ((1e-3, 127), (20.0, -128)),
                                    ((5.0, 0), (1e-3, 0))):
            model = mean_model((2, n), [1], True, "int8", (si, zi), (so, zo))
            assert_same(model, random_inputs(model, rng), arena=4 * n * 4 + 64 * 1024)


def test_mean_scalar_input():
    model = mean_model((), [0], False, "int8", (0.1, 3), (0.2, -1))
    for v in (-128, 0, 5, 127):
        assert_identical(model, [np.array(v, np.int8)])


# ---------------------------------------------------------------- LayerNorm graphs

def _convert_layernorm(shape, **kw):
    import keras

    from zoo import convert

    inp = keras.Input(shape, batch_size=1)
    out = keras.layers.LayerNormalization(**kw)(inp)
    m = keras.Model(inp, out)
    for w in m.layers[-1].weights:   # non-trivial gamma / beta
        w.assign(np.random.default_rng(0).uniform(0.5, 1.5, w.shape).astype(np.float32))
    return convert(m)


@pytest.mark.parametrize("shape,kw", [
    ((16, 8), dict(epsilon=1e-5)),
    ((32, 24), dict(epsilon=1e-3)),
    ((8, 48), dict(epsilon=1e-6, center=False)),
    ((4, 6, 10), dict(axis=-1)),
])
def test_converted_layernorm(shape, kw):
    pytest.importorskip("tensorflow")
    model = _convert_layernorm(shape, **kw)
    ops = _uformer.Model(model).ops
    assert "MEAN" in ops and "RSQRT" in ops, ops
    rng = np.random.default_rng(1)
    for _ in range(10):
        assert_identical(model, random_inputs(model, rng))


# ---------------------------------------------------------------- refusals

def test_refuse_axis_out_of_range():
    refused(mean_model((2, 3, 4), [3], False), ValueError, "axis 3 out of range for 3 dims")
    refused(mean_model((2, 3, 4), [-4], True), ValueError, "axis -4 out of range for 3 dims")


def test_refuse_axis_tensor():
    refused(mean_model((2, 3), [1], False, axis_dtype="int64"), NotImplementedError, "axis", "int64")
    refused(mean_model((2, 3), [1], False, axis_input=True), NotImplementedError, "axis must be a constant")


def test_refuse_output_shape():
    refused(mean_model((2, 3, 4), [1], False, out_shape=(2, 1, 4)), ValueError, "[2,1,4]", "[2,4]")
    refused(mean_model((2, 3, 4), [1], True, out_shape=(2, 4)), ValueError, "[2,4]", "[2,1,4]")


def test_refuse_types_and_quantization():
    refused(mean_model((2, 3), [1], False, "int16"), NotImplementedError, "int16")
    g = Graph()
    x = g.input((2, 3), "int8", scale=0.1, zp=0)
    a = g.const(np.array([1], np.int32))
    y = g.output((2,), "float32")
    g.op("MEAN", [x, a], [y], options("ReducerOptions", keepDims=False), version=2)
    refused(g.build(), NotImplementedError, "output", "float32")
    g = Graph()
    x = g.input((2, 3), "int8", scale=[0.1, 0.2], zp=0, name="pc")
    a = g.const(np.array([1], np.int32))
    y = g.output((2,), "int8", scale=0.1, zp=0)
    g.op("MEAN", [x, a], [y], options("ReducerOptions", keepDims=False), version=2)
    refused(g.build(), NotImplementedError, "2 quantization scales")
    # s_in / s_out of 2^40: TFLM's shifted multiply overflows.
    refused(mean_model((2, 3), [1], False, "int8", (1e6, 0), (1e-6, 0)), NotImplementedError, "shift")


def test_refuse_io_counts():
    g = Graph()
    x = g.input((2, 3), "int8", scale=0.1, zp=0)
    y = g.output((2,), "int8", scale=0.1, zp=0)
    g.op("MEAN", [x], [y], options("ReducerOptions", keepDims=False), version=2)
    refused(g.build(), ValueError, "has 1 inputs, need 2")
