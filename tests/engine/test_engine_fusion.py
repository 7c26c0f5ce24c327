"""Attention fusion (cmodule/engine/mf_fuse.c).

BATCH_MATMUL(Q, K) -> [MUL by a constant scalar] -> SOFTMAX -> BATCH_MATMUL(P, V), as the
converter emits keras MultiHeadAttention, runs row by row at the last node without
storing the [heads, seq, seq] intermediates. Checked here: outputs byte-identical to
TFLM for fused chains of every supported form (and for chains that must not fuse),
and that fusion really happens (the arena no longer holds the scores) exactly when it
may.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import _uformer
from oracle import assert_identical, random_inputs
from tflbuild import Graph, options

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPREAD = 74.0  # standard deviation of uniform int8 values


def _bmm(g, a, b, y, adj_y=False):
    g.op("BATCH_MATMUL", [a, b], [y], options("BatchMatMulOptions", adjX=False, adjY=adj_y), version=2)


def _dense(g, rng, x, rows, depth_in, units, x_scale):
    """FULLY_CONNECTED [1, rows, depth_in] -> [1, rows, units] with per-channel weights."""
    w = rng.integers(-127, 128, size=(units, depth_in), dtype=np.int8)
    ws = np.exp(rng.uniform(np.log(0.005), np.log(0.03), units)).astype(np.float32)
    wt = g.const(w, "int8", scale=ws, zp=0, qdim=0)
    scale = float(np.sqrt(depth_in) * SPREAD * SPREAD * x_scale * float(ws.mean()) / 50)
    zp = int(rng.integers(-20, 20))
    y = g.tensor((1, rows, units), scale=scale, zp=zp)
    g.op("FULLY_CONNECTED", [x, wt, -1], [y], options("FullyConnectedOptions", keepNumDims=True), version=5)
    return y, scale, zp


def _heads(g, x, seq, heads, depth, scale, zp, perm):
    """RESHAPE [1, seq, heads*depth] -> [1, seq, heads, depth], then TRANSPOSE by perm."""
    r = g.tensor((1, seq, heads, depth), scale=scale, zp=zp)
    g.op("RESHAPE", [x, g.const(np.array([1, seq, heads, depth], np.int32))], [r])
    shape = [(1, seq, heads, depth)[p] for p in perm]
    t = g.tensor(tuple(shape), scale=scale, zp=zp)
    g.op("TRANSPOSE", [r, g.const(np.array(perm, np.int32))], [t])
    return t


def attention(seed, heads=2, seq=8, depth=4, mul="scalar", scalar_first=False, adj_y=False,
              k_heads=None, v_heads=None, front="inputs", extra=None):
    """An attention model.

    front: 'inputs' (Q, K, V are graph inputs) or 'dense' (zoo-like: one input x projected
    by three FULLY_CONNECTED, reshaped and transposed as the converter does, the output
    transposed back and projected again).
    mul: None, 'scalar' or 'vector' (a constant per key position: must not fuse).
    k_heads / v_heads: 1 broadcasts K / V over the heads ('inputs' only).
    extra: None, 'scores_output' (S is also a graph output), 'probs_output' (P too),
    'scores_reader' (the MUL output is also read by a second SOFTMAX, a graph output),
    'adj_x' (Q stored transposed: not fused).
    """
    rng = np.random.default_rng(seed)
    g = Graph()
    kh = heads if k_heads is None else k_heads
    vh = heads if v_heads is None else v_heads
    qs, ks, vs = (float(v) for v in np.exp(rng.uniform(np.log(0.02), np.log(0.1), 3)))
    qz, kz, vz = (int(v) for v in rng.integers(-30, 30, 3))
    adj_x = extra == "adj_x"
    if front == "inputs":
        q = g.input((1, heads, depth, seq) if adj_x else (1, heads, seq, depth), scale=qs, zp=qz)
        k = g.input((1, kh, seq, depth) if adj_y else (1, kh, depth, seq), scale=ks, zp=kz)
        v = None
    else:
        width = heads * depth
        xs = 0.05
        xin = g.input((1, seq, width), scale=xs, zp=int(rng.integers(-20, 20)))
        yq, qs, qz = _dense(g, rng, xin, seq, width, width, xs)
        yk, ks, kz = _dense(g, rng, xin, seq, width, width, xs)
        q = _heads(g, yq, seq, heads, depth, qs, qz, [0, 2, 1, 3])
        k = _heads(g, yk, seq, heads, depth, ks, kz, [0, 2, 1, 3] if adj_y else [0, 2, 3, 1])
    s_scale = float(np.sqrt(depth) * SPREAD * SPREAD * qs * ks / 40 * rng.uniform(0.7, 1.4))
    s_zp = int(rng.integers(-20, 20))
    scores = g.output if extra == "scores_output" else g.tensor
    s = scores((1, heads, seq, seq), scale=s_scale, zp=s_zp)
    if adj_x:
        g.op("BATCH_MATMUL", [q, k], [s], options("BatchMatMulOptions", adjX=True, adjY=adj_y), version=2)
    else:
        _bmm(g, q, k, s, adj_y)
    x_scale = s_scale
    if mul is not None:
        c_scale = float(1.0 / np.sqrt(depth) / 100)
        if mul == "scalar":
            c = g.const(np.array(100, np.int8).reshape(()), "int8", scale=c_scale, zp=0)
        else:
            c = g.const(rng.integers(60, 120, size=(seq,), dtype=np.int8), "int8", scale=c_scale, zp=0)
        x_scale = s_scale / np.sqrt(depth) * rng.uniform(0.8, 1.2)
        x = g.tensor((1, heads, seq, seq), scale=x_scale, zp=int(rng.integers(-10, 10)))
        g.op("MUL", [c, s] if scalar_first else [s, c], [x], options("MulOptions"))
    else:
        x = s
    probs = g.output if extra == "probs_output" else g.tensor
    p = probs((1, heads, seq, seq), scale=1.0 / 256, zp=-128)
    g.op("SOFTMAX", [x], [p], options("SoftmaxOptions", beta=1.0))
    if extra == "scores_reader":
        p2 = g.output((1, heads, seq, seq), scale=1.0 / 256, zp=-128)
        g.op("SOFTMAX", [x], [p2], options("SoftmaxOptions", beta=0.5))
    if front == "inputs":
        v = g.input((1, vh, seq, depth), scale=vs, zp=vz)
        out_scale = vs * SPREAD / 40 * rng.uniform(0.7, 1.4)
        o = g.output((1, heads, seq, depth), scale=out_scale, zp=int(rng.integers(-20, 20)))
        _bmm(g, p, v, o)
    else:
        yv, vs, vz = _dense(g, rng, xin, seq, heads * depth, heads * depth, 0.05)
        v = _heads(g, yv, seq, heads, depth, vs, vz, [0, 2, 1, 3])
        out_scale = vs * SPREAD / 40
        o = g.tensor((1, heads, seq, depth), scale=out_scale, zp=0)
        _bmm(g, p, v, o)
        t = g.tensor((1, seq, heads, depth), scale=out_scale, zp=0)
        g.op("TRANSPOSE", [o, g.const(np.array([0, 2, 1, 3], np.int32))], [t])
        r = g.tensor((1, seq, heads * depth), scale=out_scale, zp=0)
        g.op("RESHAPE", [t, g.const(np.array([1, seq, heads * depth], np.int32))], [r])
        y, _, _ = _dense(g, rng, r, seq, heads * depth, heads * depth, out_scale)
        g.outputs.append(y)
    return g.build()


def arena(model):
    return _uformer.Model(model).arena_size


def check(model, seed=0, runs=2):
    rng = np.random.default_rng(seed)
    for _ in range(runs):
        assert_identical(model, random_inputs(model, rng))


# ---------------------------------------------------------------- parity

@settings(max_examples=40, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), heads=st.integers(1, 4), seq=st.integers(1, 40),
       depth=st.integers(1, 20), mul=st.sampled_from([None, "scalar", "scalar"]),
       scalar_first=st.booleans(), adj_y=st.booleans(),
       kb=st.booleans(), vb=st.booleans(), front=st.sampled_from(["inputs", "dense"]))
def test_fused_attention_matches_tflm(seed, heads, seq, depth, mul, scalar_first, adj_y, kb, vb, front):
    kw = {}
    if front == "inputs":
        kw = dict(k_heads=1 if kb else None, v_heads=1 if vb else None)
    model = attention(seed, heads, seq, depth, mul, scalar_first, adj_y, front=front, **kw)
    check(model, seed)


@pytest.mark.parametrize("name", ["tf_l1_h1_d16_s16", "tf_l2_h4_d32_s64"])
def test_zoo_attention_is_fused(name):
    """The converter's MultiHeadAttention fuses: no arena holds a score tensor."""
    import zoo

    model = zoo.get(name)
    seq, heads = {"tf_l1_h1_d16_s16": (16, 1), "tf_l2_h4_d32_s64": (64, 4)}[name]
    check(model)
    if heads * seq * seq >= 8192:
        # Scores alone would need heads * seq^2 bytes on top of everything else.
        assert _uformer.arena_size(model) < 2 * heads * seq * seq


# ---------------------------------------------------------------- fusion happens

@pytest.mark.parametrize("front", ["inputs", "dense"])
@pytest.mark.parametrize("heads,seq,depth", [(4, 64, 4), (2, 48, 8), (1, 96, 8)])
def test_fusion_drops_the_score_tensors(front, heads, seq, depth):
    """Same model with a scalar MUL (fused) and a per-column MUL (not fused): the fused
    arena lacks the score tensor, less only the per-row scratch the fused node needs."""
    score = heads * seq * seq
    fused = attention(1, heads, seq, depth, "scalar", front=front)
    plain = attention(1, heads, seq, depth, "vector", front=front)
    check(fused)
    check(plain)
    # Per-row scratch: int32 accumulators, the row, the softmax exp table (<= 256 int32),
    # and the fused node's parameters.
    row_scratch = 4 * max(seq, depth) + seq + 4 * 256 + 128
    assert arena(plain) - arena(fused) >= score - row_scratch
    assert score <= arena(plain)


@pytest.mark.parametrize("heads,seq,depth", [(1, 8, 4), (1, 4, 16), (2, 6, 2)])
def test_tiny_attention_is_not_made_bigger(heads, seq, depth):
    """Fusion is skipped when the scores are smaller than what the fused node adds."""
    fused = attention(5, heads, seq, depth, "scalar")
    plain = attention(5, heads, seq, depth, "vector")
    check(fused)
    assert arena(fused) <= arena(plain)


@pytest.mark.parametrize("front", ["inputs", "dense"])
@pytest.mark.parametrize("heads,seq,depth", [(3, 8, 2), (4, 7, 2), (1, 14, 2)])
def test_few_scores_per_row_exps(front, heads, seq, depth):
    """Fewer scores than softmax table entries: the fused rows exp element by element."""
    for seed in range(3):
        check(attention(seed, heads, seq, depth, "scalar", scalar_first=bool(seed % 2), front=front), seed)


def test_fusion_without_mul_and_with_scalar_first():
    for kw in (dict(mul=None), dict(mul="scalar", scalar_first=True)):
        fused = attention(2, 2, 64, 4, **kw)
        check(fused)
        assert arena(fused) < 2 * 64 * 64, kw


# ---------------------------------------------------------------- must not fuse

@pytest.mark.parametrize("extra", ["scores_output", "probs_output", "scores_reader", "adj_x"])
def test_no_fusion_when_an_intermediate_is_needed(extra):
    heads, seq, depth = 2, 48, 4
    model = attention(3, heads, seq, depth, "scalar", extra=extra)
    check(model, runs=3)
    assert arena(model) >= heads * seq * seq


def test_no_fusion_with_a_non_scalar_mul():
    model = attention(4, 2, 48, 4, "vector")
    check(model, runs=3)
    assert arena(model) >= 2 * 48 * 48


@settings(max_examples=15, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), extra=st.sampled_from(["scores_output", "probs_output", "scores_reader", "adj_x"]),
       seq=st.integers(1, 24), depth=st.integers(1, 12), front=st.sampled_from(["inputs", "dense"]))
def test_unfused_chains_match_tflm(seed, extra, seq, depth, front):
    if front == "dense" and extra == "adj_x":
        front = "inputs"
    check(attention(seed, 2, seq, depth, "scalar", extra=extra, front=front), seed)
