"""CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D (int8): engine vs TFLM, plus refusals."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from oracle import assert_identical, log_uniform, random_inputs, refused, run_engine
from tflbuild import Graph, options

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAME, VALID = 0, 1


def out_size(padding, size, f, stride, dil=1):
    eff = (f - 1) * dil + 1
    return (size + stride - 1) // stride if padding == SAME else (size + stride - eff) // stride


# ---------------------------------------------------------------- CONV_2D / DEPTHWISE_CONV_2D

def conv_model(rng, kind, in_shape, f_h, f_w, out_c, stride=(1, 1), dil=(1, 1), padding=SAME,
               per_channel=True, bias=True, act=0, mult=1, f_c=None, out_shape=None, version=None, **over):
    """kind: "conv" (filter [out_c, f_h, f_w, f_c]) or "dw" (filter [1, f_h, f_w, in_c * mult])."""
    n, h, w, c = in_shape
    in_scale = float(log_uniform(rng, 0.005, 0.2))
    in_zp = int(over.pop("in_zp", rng.integers(-128, 128)))
    if kind == "conv":
        f_c = c if f_c is None else f_c
        wshape = (out_c, f_h, f_w, f_c)
        qdim, taps = 0, f_h * f_w * f_c
    else:
        out_c = c * mult
        wshape = (1, f_h, f_w, out_c)
        qdim, taps = 3, f_h * f_w
    wts = over.pop("weights", None)
    if wts is None:
        wts = rng.integers(-127, 128, size=wshape, dtype=np.int8)
    w_scale = log_uniform(rng, 0.001, 0.05, out_c) if per_channel else np.float32(log_uniform(rng, 0.001, 0.05))
    acc_real = np.sqrt(taps) * 73 * 74 * in_scale * float(np.mean(w_scale))
    out_scale = float(acc_real / 60 * rng.uniform(0.5, 2.0))
    if out_shape is None:
        out_shape = (n, out_size(padding, h, f_h, stride[0], dil[0]),
                     out_size(padding, w, f_w, stride[1], dil[1]), out_c)
    g = Graph()
    x = g.input(in_shape, over.pop("in_type", "int8"), scale=in_scale, zp=in_zp)
    wt = g.const(wts, over.pop("w_type", "int8"), scale=over.pop("w_scale", w_scale), zp=over.pop("w_zp", 0),
                 qdim=over.pop("w_qdim", qdim))
    ins = [x, wt]
    if bias:
        bmax = int(np.sqrt(taps) * 73 * 74)
        b_len = over.pop("b_len", out_c)
        b = rng.integers(-bmax, bmax + 1, size=b_len).astype(np.int32)
        b_scale = np.asarray(w_scale, np.float64) * in_scale
        ins.append(g.const(b, "int32", scale=b_scale if b_len == out_c else b_scale.flat[0], zp=0))
    elif over.pop("absent_bias", kind == "conv" and rng.integers(2)):
        # TFLM's depthwise prepare crashes on an explicit -1 bias (it releases the absent
        # tensor), so the oracle only sees that form for CONV_2D; see test_depthwise_absent_bias.
        ins.append(-1)
    y = g.output(out_shape, "int8", scale=out_scale, zp=int(rng.integers(-100, 100)))
    if kind == "conv":
        opts = options("Conv2DOptions", padding=padding, strideH=stride[0], strideW=stride[1],
                       dilationHFactor=dil[0], dilationWFactor=dil[1], fusedActivationFunction=act)
        g.op("CONV_2D", ins, [y], opts, version=version or 3)
    else:
        opts = options("DepthwiseConv2DOptions", padding=padding, strideH=stride[0], strideW=stride[1],
                       dilationHFactor=dil[0], dilationWFactor=dil[1], fusedActivationFunction=act,
                       depthMultiplier=over.pop("depth_multiplier", mult))
        g.op("DEPTHWISE_CONV_2D", ins, [y], opts, version=version or 3)
    assert not over, over
    return g.build()


@st.composite
def conv_geometry(draw):
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    f_h, f_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from([SAME, VALID]))
    for size, f, d in ((h, f_h, dil[0]), (w, f_w, dil[1])):
        if padding == VALID and (f - 1) * d + 1 > size:
            padding = SAME
    return (h, w), (f_h, f_w), stride, dil, padding


@settings(max_examples=150, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), geo=conv_geometry(), batch=st.integers(1, 2),
       in_c=st.integers(1, 9), out_c=st.integers(1, 9), groups=st.sampled_from([1, 1, 1, 2, 3]),
       per_channel=st.booleans(), bias=st.booleans(), act=st.integers(0, 3))
def test_conv2d_parity(seed, geo, batch, in_c, out_c, groups, per_channel, bias, act):
    (h, w), (f_h, f_w), stride, dil, padding = geo
    rng = np.random.default_rng(seed)
    f_c = in_c
    if groups > 1:
        f_c, in_c, out_c = in_c, in_c * groups, out_c * groups
    model = conv_model(rng, "conv", (batch, h, w, in_c), f_h, f_w, out_c, stride, dil, padding,
                       per_channel, bias, act, f_c=f_c)
    assert_identical(model, random_inputs(model, rng))


@settings(max_examples=150, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), geo=conv_geometry(), batch=st.integers(1, 2),
       in_c=st.integers(1, 20), mult=st.sampled_from([1, 1, 2, 3]),
       per_channel=st.booleans(), bias=st.booleans(), act=st.integers(0, 3))
def test_depthwise_parity(seed, geo, batch, in_c, mult, per_channel, bias, act):
    (h, w), (f_h, f_w), stride, dil, padding = geo
    rng = np.random.default_rng(seed)
    model = conv_model(rng, "dw", (batch, h, w, in_c), f_h, f_w, None, stride, dil, padding,
                       per_channel, bias, act, mult=mult)
    assert_identical(model, random_inputs(model, rng))


@pytest.mark.parametrize("kind", ["conv", "dw"])
def test_conv_larger_shapes_and_extreme_zero_points(kind):
    rng = np.random.default_rng(3)
    for in_zp in (-128, 127):
        model = conv_model(rng, kind, (1, 16, 12, 24), 3, 3, 32, (1, 1), (1, 1), SAME, in_zp=in_zp)
        assert_identical(model, random_inputs(model, rng))
    model = conv_model(rng, kind, (1, 9, 9, 17), 1, 1, 40, (2, 2), (1, 1), VALID)
    assert_identical(model, random_inputs(model, rng))
    model = conv_model(rng, kind, (2, 1, 30, 8), 1, 5, 16, (1, 2), (1, 2), SAME)  # 1-D style
    assert_identical(model, random_inputs(model, rng))


def test_depthwise_absent_bias():
    """An explicit -1 bias input means no bias: same outputs as the 2-input node."""
    for seed in range(5):
        a = conv_model(np.random.default_rng(seed), "dw", (1, 5, 5, 3), 3, 3, None, bias=False, mult=2)
        b = conv_model(np.random.default_rng(seed), "dw", (1, 5, 5, 3), 3, 3, None, bias=False, mult=2,
                       absent_bias=True)
        x = random_inputs(a, np.random.default_rng(seed))
        assert_identical(a, x)
        assert np.array_equal(run_engine(a, x)[0], run_engine(b, x)[0])


# ---------------------------------------------------------------- pooling

def pool_model(rng, kind, in_shape, f_h, f_w, stride, padding, act=0, out_shape=None, out_zp_delta=0,
               out_scale_factor=1.0, version=None):
    n, h, w, c = in_shape
    scale = float(log_uniform(rng, 0.005, 0.2))
    zp = int(rng.integers(-128, 128))
    if out_shape is None:
        out_shape = (n, out_size(padding, h, f_h, stride[0]), out_size(padding, w, f_w, stride[1]), c)
    g = Graph()
    x = g.input(in_shape, "int8", scale=scale, zp=zp)
    y = g.output(out_shape, "int8", scale=scale * out_scale_factor, zp=zp + out_zp_delta)
    opts = options("Pool2DOptions", padding=padding, strideH=stride[0], strideW=stride[1],
                   filterHeight=f_h, filterWidth=f_w, fusedActivationFunction=act)
    g.op(kind, [x], [y], opts, version=version or 2)
    return g.build()


@settings(max_examples=150, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["MAX_POOL_2D", "AVERAGE_POOL_2D"]),
       h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 20), batch=st.integers(1, 2),
       f_h=st.integers(1, 5), f_w=st.integers(1, 5), s_h=st.integers(1, 4), s_w=st.integers(1, 4),
       padding=st.sampled_from([SAME, VALID]), act=st.integers(0, 3))
def test_pool_parity(seed, kind, h, w, c, batch, f_h, f_w, s_h, s_w, padding, act):
    if padding == VALID and (f_h > h or f_w > w):
        padding = SAME
    rng = np.random.default_rng(seed)
    model = pool_model(rng, kind, (batch, h, w, c), f_h, f_w, (s_h, s_w), padding, act)
    assert_identical(model, random_inputs(model, rng))


def test_average_pool_rounding_half_away_from_zero():
    """Sums that land exactly on .5 after division, both signs."""
    rng = np.random.default_rng(5)
    model = pool_model(rng, "AVERAGE_POOL_2D", (1, 2, 2, 64), 2, 2, (2, 2), VALID)
    x = np.zeros((1, 2, 2, 64), np.int8)
    x[0, 0, 0, :] = np.arange(-32, 32) * 2 + 1  # sum of one odd value and three zeros: x/4
    x[0, 1, 1, :] = np.arange(64) - 64
    assert_identical(model, [x])
    model = pool_model(rng, "AVERAGE_POOL_2D", (1, 3, 3, 8), 2, 2, (2, 2), SAME)  # clipped windows
    for _ in range(5):
        assert_identical(model, random_inputs(model, rng))


# ---------------------------------------------------------------- refusals

def test_conv_refusals():
    rng = np.random.default_rng(11)
    geo = dict(in_shape=(1, 6, 6, 4), f_h=3, f_w=3, out_c=5)
    refused(conv_model(rng, "conv", stride=(0, 1), **geo, out_shape=(1, 6, 6, 5)), ValueError, "stride 0")
    refused(conv_model(rng, "conv", dil=(1, 0), **geo, out_shape=(1, 6, 6, 5)), ValueError, "dilation 0")
    refused(conv_model(rng, "conv", **geo, out_shape=(1, 6, 5, 5)), ValueError, "[1,6,5,5]", "[1,6,6,5]")
    refused(conv_model(rng, "conv", **geo, w_scale=np.full(3, 0.01, np.float32)), ValueError, "3 scales")
    refused(conv_model(rng, "conv", **geo, w_scale=np.full(6, 0.01, np.float32), w_qdim=3,
                       weights=np.ones((5, 3, 3, 6), np.int8), f_c=6, in_zp=0), ValueError)
    refused(conv_model(rng, "conv", **geo, w_zp=3, per_channel=False), NotImplementedError, "zero point", "3")
    refused(conv_model(rng, "conv", **geo, b_len=4), ValueError, "bias has 4 elements, need 5")
    refused(conv_model(rng, "conv", **geo, act=4), NotImplementedError, "activation 4")
    refused(conv_model(rng, "conv", **geo, in_type="int16"), NotImplementedError, "int16")
    refused(conv_model(rng, "conv", **geo, f_c=3), ValueError, "input channels 4", "filter channels 3")
    refused(conv_model(rng, "conv", (1, 2, 2, 4), 3, 3, 5, padding=VALID, out_shape=(1, 1, 1, 5)),
            ValueError, "exceeds input 2")


def test_depthwise_refusals():
    rng = np.random.default_rng(12)
    geo = dict(in_shape=(1, 5, 5, 3), f_h=3, f_w=3, out_c=None)
    refused(conv_model(rng, "dw", **geo, mult=2, depth_multiplier=1), ValueError, "depth multiplier 1", "6")
    refused(conv_model(rng, "dw", **geo, stride=(1, 0), out_shape=(1, 5, 5, 3)), ValueError, "stride 0")
    refused(conv_model(rng, "dw", **geo, w_scale=np.full(3, 0.01, np.float32), w_qdim=0,
                       weights=np.ones((3, 3, 3, 3), np.int8), out_shape=(1, 5, 5, 3)), ValueError)
    refused(conv_model(rng, "dw", **geo, out_shape=(1, 5, 5, 4)), ValueError, "[1,5,5,4]")


def test_pool_refusals():
    rng = np.random.default_rng(13)
    args = ((1, 4, 4, 3), 2, 2)
    refused(pool_model(rng, "MAX_POOL_2D", *args, (0, 1), SAME, out_shape=(1, 4, 4, 3)), ValueError, "stride 0")
    refused(pool_model(rng, "AVERAGE_POOL_2D", *args, (1, 1), SAME, out_zp_delta=1), ValueError, "zero points")
    refused(pool_model(rng, "AVERAGE_POOL_2D", *args, (1, 1), SAME, out_scale_factor=1.5), ValueError)
    refused(pool_model(rng, "MAX_POOL_2D", *args, (2, 2), VALID, out_shape=(1, 2, 3, 3)), ValueError, "[1,2,2,3]")
    refused(pool_model(rng, "MAX_POOL_2D", *args, (2, 2), VALID, act=5, out_shape=(1, 2, 2, 3)),
            NotImplementedError, "activation 5")
    refused(pool_model(rng, "MAX_POOL_2D", (1, 4, 4, 3), 0, 2, (1, 1), VALID, out_shape=(1, 4, 3, 3)),
            ValueError, "filter 0")
