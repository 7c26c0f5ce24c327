"""FULLY_CONNECTED and BATCH_MATMUL (int8): engine vs TFLM, byte for byte, plus refusals."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from oracle import assert_identical, log_uniform, random_inputs, refused
from tflbuild import Graph, options

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- FULLY_CONNECTED

def fc_model(rng, lead, depth, units, per_channel=True, bias=True, act=0, keep=True,
             in_zp=None, out_zp=None, wfmt=0, version=None, **over):
    """A one-node FULLY_CONNECTED model with realistic scales (outputs mostly unsaturated)."""
    in_shape = tuple(lead) + (depth,)
    in_scale = float(log_uniform(rng, 0.005, 0.2))
    in_zp = int(rng.integers(-128, 128)) if in_zp is None else in_zp
    w = rng.integers(-127, 128, size=(units, depth), dtype=np.int8)
    if per_channel:
        w_scale = log_uniform(rng, 0.001, 0.05, units)
    else:
        w_scale = np.float32(log_uniform(rng, 0.001, 0.05))
    # Accumulators are about sqrt(depth) * 73 * 74 in magnitude; spread them over ~60 steps.
    acc_real = np.sqrt(depth) * 73 * 74 * in_scale * float(np.mean(w_scale))
    out_scale = float(acc_real / 60 * rng.uniform(0.5, 2.0))
    out_zp = int(rng.integers(-100, 100)) if out_zp is None else out_zp
    batches = int(np.prod(lead)) if lead else 1
    out_shape = in_shape[:-1] + (units,) if keep else (batches, units)
    out_shape = over.pop("out_shape", out_shape)
    g = Graph()
    x = g.input(in_shape, "int8", scale=in_scale, zp=in_zp)
    wt = g.const(w, "int8", scale=over.pop("w_scale", w_scale), zp=over.pop("w_zp", 0),
                 qdim=over.pop("w_qdim", 0))
    ins = [x, wt]
    if bias:
        bscale = over.pop("b_scale", np.asarray(w_scale, np.float64) * in_scale)
        bmax = int(np.sqrt(depth) * 73 * 74)
        b = rng.integers(-bmax, bmax + 1, size=over.pop("b_len", units)).astype(np.int32)
        ins.append(g.const(b, over.pop("b_type", "int32"), scale=bscale, zp=0))
    elif rng.integers(2):
        ins.append(-1)
    y = g.output(out_shape, over.pop("out_type", "int8"), scale=out_scale, zp=out_zp)
    opts = options("FullyConnectedOptions", fusedActivationFunction=act, keepNumDims=keep,
                   weightsFormat=wfmt)
    g.op("FULLY_CONNECTED", ins, [y], opts, version=version or (5 if keep else 4))
    assert not over, over
    return g.build()


@settings(max_examples=120, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1),
       lead=st.sampled_from([(), (1,), (3,), (1, 5), (2, 7), (4, 1), (2, 2, 3)]),
       depth=st.integers(1, 70), units=st.integers(1, 40),
       per_channel=st.booleans(), bias=st.booleans(), act=st.integers(0, 3), keep=st.booleans())
def test_fully_connected_parity(seed, lead, depth, units, per_channel, bias, act, keep):
    if not lead and keep:
        lead = (1,)
    rng = np.random.default_rng(seed)
    model = fc_model(rng, lead, depth, units, per_channel, bias, act, keep)
    assert_identical(model, random_inputs(model, rng))


def test_fully_connected_deep_and_extreme_zero_points():
    rng = np.random.default_rng(1)
    for depth in (256, 1000, 4099):
        for in_zp, out_zp in ((-128, 127), (127, -128)):
            model = fc_model(rng, (3,), depth, 17, True, True, 0, True, in_zp=in_zp, out_zp=out_zp)
            assert_identical(model, random_inputs(model, rng))


# ---------------------------------------------------------------- BATCH_MATMUL

def bmm_model(rng, lhs_shape, rhs_shape, adj_x, adj_y, const=None, out_shape=None, version=None,
              lhs_type="int8", rhs_scale=None):
    """One BATCH_MATMUL node; const in (None, 'lhs', 'rhs') picks an operand stored as weights."""
    ls = float(log_uniform(rng, 0.01, 0.1))
    rs = float(log_uniform(rng, 0.01, 0.1))
    lz, rz = (int(v) for v in rng.integers(-128, 128, size=2))
    k = lhs_shape[-2] if adj_x else lhs_shape[-1]
    out_scale = float(np.sqrt(k) * 110 * 110 * ls * rs / 40 * rng.uniform(0.5, 2.0))
    if out_shape is None:
        rank = max(len(lhs_shape), len(rhs_shape))
        lb = (1,) * (rank - len(lhs_shape)) + tuple(lhs_shape[:-2])
        rb = (1,) * (rank - len(rhs_shape)) + tuple(rhs_shape[:-2])
        batch = tuple(max(a, b) for a, b in zip(lb, rb))
        m = lhs_shape[-1] if adj_x else lhs_shape[-2]
        n = rhs_shape[-2] if adj_y else rhs_shape[-1]
        out_shape = batch + (m, n)
    g = Graph()
    if const == "lhs":
        a = g.const(rng.integers(-128, 128, size=lhs_shape, dtype=np.int8), "int8", scale=ls, zp=lz)
    else:
        a = g.input(lhs_shape, lhs_type, scale=ls, zp=lz)
    if const == "rhs":
        b = g.const(rng.integers(-128, 128, size=rhs_shape, dtype=np.int8), "int8",
                    scale=rs if rhs_scale is None else rhs_scale, zp=rz)
    else:
        b = g.input(rhs_shape, "int8", scale=rs if rhs_scale is None else rhs_scale, zp=rz)
    y = g.output(out_shape, "int8", scale=out_scale, zp=int(rng.integers(-50, 50)))
    g.op("BATCH_MATMUL", [a, b], [y], options("BatchMatMulOptions", adjX=adj_x, adjY=adj_y),
         version=version or 2)
    return g.build()


@st.composite
def bmm_shapes(draw):
    rank_l = draw(st.integers(2, 5))
    rank_r = draw(st.integers(2, 5))
    rank = max(rank_l, rank_r)
    batch = [draw(st.integers(1, 3)) for _ in range(rank - 2)]
    lb, rb = [], []
    for i, d in enumerate(batch):
        mode = draw(st.integers(0, 2))  # 0: both d, 1: lhs broadcasts, 2: rhs broadcasts
        lb.append(1 if mode == 1 else d)
        rb.append(1 if mode == 2 else d)
    lb = lb[rank - rank_l:] if rank_l > 2 else []
    rb = rb[rank - rank_r:] if rank_r > 2 else []
    m, k, n = draw(st.integers(1, 12)), draw(st.integers(1, 40)), draw(st.integers(1, 12))
    adj_x, adj_y = draw(st.booleans()), draw(st.booleans())
    lhs = tuple(lb) + ((k, m) if adj_x else (m, k))
    rhs = tuple(rb) + ((n, k) if adj_y else (k, n))
    return lhs, rhs, adj_x, adj_y


@settings(max_examples=200, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), shapes=bmm_shapes(), const=st.sampled_from([None, None, "lhs", "rhs"]))
def test_batch_matmul_parity(seed, shapes, const):
    lhs, rhs, adj_x, adj_y = shapes
    rng = np.random.default_rng(seed)
    model = bmm_model(rng, lhs, rhs, adj_x, adj_y, const)
    assert_identical(model, random_inputs(model, rng))


@pytest.mark.parametrize("adj_x,adj_y", [(False, True), (False, False), (True, False), (True, True)])
def test_batch_matmul_attention_shapes(adj_x, adj_y):
    rng = np.random.default_rng(7)
    h, t, d = 4, 33, 24
    lhs = (1, h, d, t) if adj_x else (1, h, t, d)
    rhs = (1, h, t, d) if adj_y else (1, h, d, t)
    model = bmm_model(rng, lhs, rhs, adj_x, adj_y)
    for _ in range(3):
        assert_identical(model, random_inputs(model, rng))


# ---------------------------------------------------------------- refusals

def test_fully_connected_refusals():
    rng = np.random.default_rng(21)
    base = dict(lead=(2,), depth=8, units=5)
    refused(fc_model(rng, **base, wfmt=1), NotImplementedError, "weights format 1")
    refused(fc_model(rng, **base, act=4), NotImplementedError, "activation 4")
    refused(fc_model(rng, **base, act=9), ValueError, "activation 9")
    refused(fc_model(rng, **base, out_shape=(2, 6)), ValueError, "[2,6]", "[2,5]")
    refused(fc_model(rng, **base, keep=False, out_shape=(1, 2, 5)), ValueError, "[1,2,5]", "[2,5]")
    refused(fc_model(rng, **base, w_scale=np.full(4, 0.01, np.float32)), ValueError, "4 scales")
    refused(fc_model(rng, **base, per_channel=False, w_zp=2), NotImplementedError, "zero point", "2")
    refused(fc_model(rng, **base, per_channel=False, b_len=3), ValueError, "bias has 3 elements, need 5")
    refused(fc_model(rng, **base, per_channel=False, b_scale=1.0), ValueError, "bias scale")
    refused(fc_model(rng, **base, out_type="int16"), NotImplementedError, "int16")
    refused(fc_model(rng, **base, per_channel=False, b_type="int64", b_scale=None), NotImplementedError, "int64")


def test_fully_connected_input_not_multiple_of_depth():
    g = Graph()
    x = g.input((3, 7), "int8", scale=0.1, zp=0)
    w = g.const(np.ones((4, 5), np.int8), "int8", scale=0.01)
    y = g.output((4, 4), "int8", scale=0.1, zp=0)
    g.op("FULLY_CONNECTED", [x, w, -1], [y], options("FullyConnectedOptions"))
    refused(g.build(), ValueError, "21 elements", "depth 5")


def test_batch_matmul_refusals():
    rng = np.random.default_rng(23)
    refused(bmm_model(rng, (2, 3, 4), (2, 5, 6), False, False), ValueError, "depth 4", "depth 5")
    refused(bmm_model(rng, (2, 3, 4), (3, 4, 6), False, False), ValueError, "2 and 3", "broadcast")
    refused(bmm_model(rng, (2, 3, 4), (2, 4, 6), False, False, out_shape=(2, 3, 5)), ValueError, "[2,3,5]", "[2,3,6]")
    refused(bmm_model(rng, (2, 3, 4), (2, 4, 6), False, False, out_shape=(6, 6)), ValueError, "[2,3,6]")
    refused(bmm_model(rng, (1, 1, 1, 2, 3, 4), (4, 6), False, False), NotImplementedError, "6 and 2 dims")
    refused(bmm_model(rng, (3,), (3, 4), False, False, out_shape=(1, 4)), NotImplementedError, "1 and 2 dims")
    refused(bmm_model(rng, (3, 4), (4, 6), False, False, lhs_type="int16"), NotImplementedError, "int16")
    refused(bmm_model(rng, (3, 4), (4, 6), False, False, const="rhs",
                      rhs_scale=np.full(4, 0.05, np.float32)), NotImplementedError, "4 quantization scales")
