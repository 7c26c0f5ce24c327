"""Shape family: RESHAPE, EXPAND_DIMS, SQUEEZE, TRANSPOSE, STRIDED_SLICE, CONCATENATION, PAD.

Engine vs TFLM byte for byte on randomized shapes/options (TFLite's reference kernels
where TFLM has no such case: 6-D transposes, int32 transposes, 5-D slices, ellipsis /
new-axis / offset slices, int64 paddings), a numpy cross-check of the expected values,
aliasing checks (reshape-like outputs share the input's bytes) and refusals.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import _uformer
from oracle import run_tflite_ref, run_tflm, tflm_interpreter
from tflbuild import Graph, options

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TYPECODES = {"b": np.int8, "f": np.float32, "i": np.int32, "h": np.int16, "q": np.int64, "?": np.bool_}
NP = {"int8": np.int8, "float32": np.float32, "int32": np.int32, "int16": np.int16, "int64": np.int64}


# ---------------------------------------------------------------- helpers

def rand_array(rng, shape, dtype):
    if dtype == "int8":
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    if dtype == "int16":
        return rng.integers(-32768, 32768, size=shape, dtype=np.int16)
    if dtype == "int32":
        return rng.integers(-2**31, 2**31, size=shape, dtype=np.int32)
    return (rng.standard_normal(size=shape) * 4).astype(np.float32)


def run_engine(model_bytes, inputs, invoke=True):
    m = _uformer.Model(model_bytes)
    for i, x in enumerate(inputs):
        np.frombuffer(m.input(i), dtype=x.dtype)[...] = x.reshape(-1)
    if invoke:
        m.invoke()
    outs = []
    for i in range(m.num_outputs):
        shape, tc, _s, _z = m.output_info(i)
        outs.append(np.frombuffer(m.output(i), dtype=TYPECODES[tc]).reshape(shape).copy())
    return outs


def run_tflite_builtin(model_bytes, inputs):
    """TFLite's builtin kernels: its reference resolver registers STRIDED_SLICE only up to
    v4, and the builtin one runs the same reference_ops::StridedSlice for v6 (ellipsis,
    new axis) and v8 (offset)."""
    import tensorflow as tf

    ip = tf.lite.Interpreter(
        model_content=model_bytes,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ip.allocate_tensors()
    for d, x in zip(ip.get_input_details(), inputs):
        ip.set_tensor(d["index"], x)
    ip.invoke()
    return [ip.get_tensor(d["index"]).copy() for d in ip.get_output_details()]


def run_oracle(model_bytes, inputs, oracle):
    if oracle == "tflm":
        return run_tflm(model_bytes, inputs, interp=tflm_interpreter(model_bytes, arena_size=4 << 20))
    if oracle == "tflite_ref":
        return run_tflite_ref(model_bytes, inputs)
    return run_tflite_builtin(model_bytes, inputs)


def check(model_bytes, inputs, oracle="tflm", expect=None):
    """Engine output == oracle output (bytes and shape); optionally == numpy `expect`."""
    got = run_engine(model_bytes, inputs)
    want = run_oracle(model_bytes, inputs, oracle)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        assert g.shape == w.shape, f"output {i}: engine shape {g.shape}, oracle {w.shape}"
        assert g.dtype == w.dtype, f"output {i}: engine {g.dtype}, oracle {w.dtype}"
        assert g.tobytes() == w.tobytes(), f"output {i} differs from the {oracle} oracle"
    if expect is not None:
        for i, e in enumerate(expect):
            assert got[i].shape == e.shape and got[i].tobytes() == np.ascontiguousarray(e).tobytes(), \
                f"output {i} differs from numpy"
    return got


def quant(dtype, scale=0.05, zp=0):
    return dict(scale=scale, zp=zp) if dtype == "int8" else {}


def shapes(min_dims=1, max_dims=4, max_side=5):
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


DTYPES_TFLM = st.sampled_from(["int8", "int8", "float32"])


def arena_of(model_bytes):
    return _uformer.Model(model_bytes).arena_size


# ---------------------------------------------------------------- RESHAPE

def reshape_model(in_shape, out_shape, dtype="int8", how="options", new_shape=None, shape_dtype="int32"):
    g = Graph()
    q = quant(dtype, 0.1, -3)
    x = g.input(in_shape, dtype, **q)
    y = g.output(out_shape, dtype, **q)
    spec = list(out_shape) if new_shape is None else list(new_shape)
    if how == "options":
        g.op("RESHAPE", [x], [y], options("ReshapeOptions", newShape=spec))
    elif how == "input":
        s = g.const(np.array(spec, dtype=NP[shape_dtype]))
        g.op("RESHAPE", [x, s], [y])
    else:  # no shape anywhere: the declared output shape
        g.op("RESHAPE", [x], [y])
    return g.build()


@settings(max_examples=40, **SETTINGS)
@given(shape=shapes(1, 5), data=st.data())
def test_reshape_matches_tflm(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dtype = data.draw(st.sampled_from(["int8", "float32", "int32"]))
    n = int(np.prod(shape))
    perm = data.draw(st.permutations(list(shape)))
    # A new shape with the same elements: regroup the factors, maybe with one -1.
    cuts = sorted(data.draw(st.lists(st.integers(1, len(perm) - 1), max_size=3, unique=True))) if len(perm) > 1 else []
    groups, prev = [], 0
    for c in cuts + [len(perm)]:
        groups.append(int(np.prod(perm[prev:c])))
        prev = c
    out_shape = tuple(groups)
    assert int(np.prod(out_shape)) == n
    new_shape = list(out_shape)
    if data.draw(st.booleans()):
        new_shape[data.draw(st.integers(0, len(new_shape) - 1))] = -1
    # TFLM has no int32 RESHAPE; TFLite's reference reads only int32 shape tensors and
    # needs a shape (TFLM takes the declared output shape when there is none).
    oracle = "tflm" if dtype != "int32" else "tflite_ref"
    how = data.draw(st.sampled_from(["options", "input", "declared"] if oracle == "tflm" else ["options", "input"]))
    shape_dtype = data.draw(st.sampled_from(["int32", "int64"])) if oracle == "tflm" else "int32"
    model = reshape_model(shape, out_shape, dtype, how, new_shape if how != "declared" else None,
                          shape_dtype=shape_dtype)
    x = rand_array(rng, shape, dtype)
    check(model, [x], oracle, expect=[x.reshape(out_shape)])


def test_reshape_is_an_alias():
    model = reshape_model((2, 3, 4), (6, 4), "int8", "options", [-1, 4])
    m = _uformer.Model(model)
    x = np.arange(24, dtype=np.int8)
    np.frombuffer(m.input(0), dtype=np.int8)[...] = x
    # No invoke: the output is the input's memory.
    assert np.frombuffer(m.output(0), dtype=np.int8).tobytes() == x.tobytes()
    # The arena holds one 24-byte buffer, not two.
    g = Graph()
    a = g.input((2, 3, 4), "int8", scale=0.1, zp=-3)
    b = g.output((2, 3, 4), "int8", scale=0.1, zp=-3)
    g.op("RESHAPE", [a], [b], options("ReshapeOptions", newShape=[2, 3, 4]))
    assert arena_of(model) == arena_of(g.build())


def test_reshape_legacy_scalar_and_scalar_input():
    g = Graph()
    x = g.input((1, 1), "float32")
    y = g.output((), "float32")
    g.op("RESHAPE", [x], [y], options("ReshapeOptions", newShape=[0]))
    v = np.array([[2.5]], np.float32)
    assert run_engine(g.build(), [v])[0].tobytes() == v.tobytes()
    g = Graph()
    x = g.input((), "int8", scale=0.1, zp=0)
    y = g.output((1, 1, 1), "int8", scale=0.1, zp=0)
    g.op("RESHAPE", [x, g.const(np.array([1, -1, 1], np.int32))], [y])
    check(g.build(), [np.array(7, np.int8)])


@pytest.mark.parametrize("new_shape,declared,msg", [
    ([5, 5], (5, 5), r"shape needs more than the 24 elements"),
    ([7, -1], (7, 3), r"cannot infer dim 1: 24 input elements are not a multiple of 7"),
    ([-1, -1], (4, 6), r"-1 at both dim 0 and dim 1"),
    ([4, 6], (6, 4), r"output has shape \[6,4\], expected \[4,6\]"),
    ([4, -2], (4, 6), r"shape dim 1 is -2"),
    ([2, 3], (2, 3), r"shape has 6 elements, input has 24"),
])
def test_reshape_refusals(new_shape, declared, msg):
    for how in ("options", "input"):
        with pytest.raises(ValueError, match=msg):
            _uformer.Model(reshape_model((2, 3, 4), declared, "int8", how, new_shape))


def test_reshape_refuses_non_constant_shape():
    g = Graph()
    x = g.input((2, 3), "int8", scale=0.1, zp=0)
    s = g.input((2,), "int32")
    y = g.output((3, 2), "int8", scale=0.1, zp=0)
    g.op("RESHAPE", [x, s], [y])
    with pytest.raises(NotImplementedError, match=r"RESHAPE.*shape input must be a constant"):
        _uformer.Model(g.build())


def test_reshape_refuses_type_change():
    g = Graph()
    x = g.input((2, 2), "int8", scale=0.1, zp=0)
    y = g.output((4,), "float32")
    g.op("RESHAPE", [x], [y], options("ReshapeOptions", newShape=[4]))
    with pytest.raises(ValueError, match=r"input 0 has type int8, output float32"):
        _uformer.Model(g.build())


# ---------------------------------------------------------------- EXPAND_DIMS / SQUEEZE

@settings(max_examples=30, **SETTINGS)
@given(shape=shapes(0, 4), data=st.data())
def test_expand_dims_matches_tflm(shape, data):
    nd = len(shape)
    axis = data.draw(st.integers(-(nd + 1), nd))
    scalar = data.draw(st.booleans())
    adt = data.draw(st.sampled_from(["int32", "int64"]))
    dtype = data.draw(DTYPES_TFLM)
    x = rand_array(np.random.default_rng(nd * 7 + axis + 10), shape, dtype)
    want = np.expand_dims(x, axis)
    g = Graph()
    q = quant(dtype, 0.02, 5)
    a = g.input(shape, dtype, **q)
    ax = g.const(np.array(axis if scalar else [axis], dtype=NP[adt]))
    y = g.output(want.shape, dtype, **q)
    g.op("EXPAND_DIMS", [a, ax], [y])
    # TFLM reads only int32 axes; TFLite's reference takes int64 too.
    check(g.build(), [x], "tflm" if adt == "int32" else "tflite_ref", expect=[want])


@settings(max_examples=30, **SETTINGS)
@given(shape=shapes(1, 5, 3), data=st.data())
def test_squeeze_matches_tflm(shape, data):
    nd = len(shape)
    units = [i for i, d in enumerate(shape) if d == 1]
    chosen = data.draw(st.lists(st.sampled_from(units), max_size=len(units))) if units else []
    spec = [c - nd if data.draw(st.booleans()) else c for c in chosen]
    gone = set(chosen) if chosen else set(units)
    out_shape = tuple(d for i, d in enumerate(shape) if i not in gone)
    dtype = data.draw(DTYPES_TFLM)
    x = rand_array(np.random.default_rng(nd), shape, dtype)
    g = Graph()
    q = quant(dtype, 0.02, -7)
    a = g.input(shape, dtype, **q)
    y = g.output(out_shape, dtype, **q)
    g.op("SQUEEZE", [a], [y], options("SqueezeOptions", squeezeDims=spec))
    check(g.build(), [x], expect=[x.reshape(out_shape)])


@pytest.mark.parametrize("axis,msg", [(4, r"axis 4 out of range for a 3-dim input"),
                                      (-5, r"axis -5 out of range for a 3-dim input")])
def test_expand_dims_refuses_bad_axis(axis, msg):
    g = Graph()
    a = g.input((2, 3, 4), "int8", scale=0.1, zp=0)
    y = g.output((2, 3, 4, 1), "int8", scale=0.1, zp=0)
    g.op("EXPAND_DIMS", [a, g.const(np.array([axis], np.int32))], [y])
    with pytest.raises(ValueError, match=msg):
        _uformer.Model(g.build())


def test_expand_dims_refuses_non_constant_axis_and_wrong_output():
    g = Graph()
    a = g.input((2, 3), "int8", scale=0.1, zp=0)
    ax = g.input((1,), "int32")
    y = g.output((2, 1, 3), "int8", scale=0.1, zp=0)
    g.op("EXPAND_DIMS", [a, ax], [y])
    with pytest.raises(NotImplementedError, match=r"axis input must be a constant"):
        _uformer.Model(g.build())
    g = Graph()
    a = g.input((2, 3), "int8", scale=0.1, zp=0)
    y = g.output((2, 3, 1), "int8", scale=0.1, zp=0)
    g.op("EXPAND_DIMS", [a, g.const(np.array([1], np.int32))], [y])
    with pytest.raises(ValueError, match=r"output has shape \[2,3,1\], expected \[2,1,3\]"):
        _uformer.Model(g.build())


@pytest.mark.parametrize("dims,msg", [([3], r"squeeze_dims\[0\] = 3 out of range for a 3-dim input"),
                                      ([-4], r"squeeze_dims\[0\] = -4 out of range"),
                                      ([1], r"squeeze_dims\[0\]: input dim 1 has size 5, not 1")])
def test_squeeze_refusals(dims, msg):
    g = Graph()
    a = g.input((1, 5, 1), "int8", scale=0.1, zp=0)
    y = g.output((5,), "int8", scale=0.1, zp=0)
    g.op("SQUEEZE", [a], [y], options("SqueezeOptions", squeezeDims=dims))
    with pytest.raises(ValueError, match=msg):
        _uformer.Model(g.build())


# ---------------------------------------------------------------- aliases of inputs, constants, aliases

def test_alias_chain_from_graph_input():
    g = Graph()
    q = dict(scale=0.1, zp=2)
    x = g.input((2, 1, 6), "int8", **q)
    t1 = g.tensor((12,), "int8", **q)
    t2 = g.tensor((3, 4), "int8", **q)
    t3 = g.tensor((3, 1, 4), "int8", **q)
    y = g.output((3, 4), "int8", **q)
    z = g.output((4, 1, 3), "int8", **q)
    g.op("RESHAPE", [x], [t1], options("ReshapeOptions", newShape=[12]))
    g.op("RESHAPE", [t1, g.const(np.array([3, -1], np.int32))], [t2])
    g.op("EXPAND_DIMS", [t2, g.const(np.array(1, np.int32))], [t3])
    g.op("SQUEEZE", [t3], [y], options("SqueezeOptions", squeezeDims=[1]))
    g.op("TRANSPOSE", [t3, g.const(np.array([2, 1, 0], np.int32))], [z])
    model = g.build()
    x0 = np.random.default_rng(3).integers(-128, 128, size=(2, 1, 6), dtype=np.int8)
    check(model, [x0], expect=[x0.reshape(3, 4), x0.reshape(3, 1, 4).transpose(2, 1, 0)])
    # Every reshape-like tensor shares the input's bytes: the arena is input + transpose.
    assert _uformer.Model(model).ops == ("RESHAPE", "RESHAPE", "EXPAND_DIMS", "SQUEEZE", "TRANSPOSE")


def test_alias_of_constant_feeds_kernels_and_outputs():
    rng = np.random.default_rng(5)
    w = rng.integers(-128, 128, size=(6,), dtype=np.int8)
    g = Graph()
    q = dict(scale=0.25, zp=-1)
    x = g.input((2, 3), "int8", **q)
    c = g.const(w, "int8", **q)
    c2 = g.tensor((2, 3), "int8", **q)
    c3 = g.tensor((1, 2, 3), "int8", **q)
    c4 = g.tensor((2, 3), "int8", **q)
    y = g.output((4, 3), "int8", **q)
    z = g.output((2, 3), "int8", **q)
    g.op("RESHAPE", [c], [c2], options("ReshapeOptions", newShape=[2, 3]))
    g.op("EXPAND_DIMS", [c2, g.const(np.array([0], np.int32))], [c3])
    g.op("SQUEEZE", [c3], [c4], options("SqueezeOptions", squeezeDims=[0]))
    g.op("CONCATENATION", [x, c4], [y], options("ConcatenationOptions", axis=0))
    g.op("RESHAPE", [c4], [z], options("ReshapeOptions", newShape=[2, 3]))
    model = g.build()
    x0 = rng.integers(-128, 128, size=(2, 3), dtype=np.int8)
    check(model, [x0], expect=[np.concatenate([x0, w.reshape(2, 3)]), w.reshape(2, 3)])


def test_perm_from_an_alias_of_a_constant():
    # TFLM refuses a perm that is not itself a constant tensor; the engine reads through
    # the alias (numpy is the reference here).
    g = Graph()
    x = g.input((2, 3, 4), "float32")
    p = g.const(np.array([[2, 0, 1]], np.int32))
    p2 = g.tensor((3,), "int32")
    y = g.output((4, 2, 3), "float32")
    g.op("RESHAPE", [p], [p2], options("ReshapeOptions", newShape=[3]))
    g.op("TRANSPOSE", [x, p2], [y])
    x0 = rand_array(np.random.default_rng(1), (2, 3, 4), "float32")
    assert run_engine(g.build(), [x0])[0].tobytes() == x0.transpose(2, 0, 1).tobytes()


# ---------------------------------------------------------------- TRANSPOSE

def transpose_model(shape, perm, dtype, perm_dtype="int32"):
    g = Graph()
    q = quant(dtype, 0.07, 9)
    x = g.input(shape, dtype, **q)
    y = g.output(tuple(shape[p] for p in perm), dtype, **q)
    g.op("TRANSPOSE", [x, g.const(np.array(perm, dtype=NP[perm_dtype]))], [y])
    return g.build()


@settings(max_examples=60, **SETTINGS)
@given(shape=shapes(1, 5, 6), data=st.data())
def test_transpose_matches_tflm(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    dtype = data.draw(st.sampled_from(["int8", "int8", "float32", "int16"]))
    x = rand_array(np.random.default_rng(len(shape)), shape, dtype)
    check(transpose_model(shape, perm, dtype), [x], expect=[x.transpose(perm)])


@settings(max_examples=25, **SETTINGS)
@given(shape=shapes(1, 6, 4), data=st.data())
def test_transpose_6d_and_int32_match_tflite(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    dtype = data.draw(st.sampled_from(["int32", "int8", "float32"]))
    x = rand_array(np.random.default_rng(len(shape) + 11), shape, dtype)
    check(transpose_model(shape, perm, dtype), [x], "tflite_ref", expect=[x.transpose(perm)])
    # int64 perms: TFLite's kernels read perm as int32, so numpy is the reference.
    got = run_engine(transpose_model(shape, perm, dtype, "int64"), [x])[0]
    assert got.tobytes() == x.transpose(perm).tobytes()


@pytest.mark.parametrize("shape,perm", [
    ((17, 33), (1, 0)),                       # 2-D
    ((1, 16, 4, 8), (0, 2, 1, 3)),            # attention: split heads
    ((2, 4, 16, 8), (0, 2, 1, 3)),            # attention: merge heads
    ((1, 4, 16, 8), (0, 1, 3, 2)),            # K^T
    ((3, 1, 5, 1), (1, 3, 0, 2)),             # only unit axes move: an alias
    ((2, 3, 4, 5, 6, 2), (5, 4, 3, 2, 1, 0)),  # 6-D reversal
])
def test_transpose_fast_paths(shape, perm):
    for dtype in ("int8", "float32"):
        x = rand_array(np.random.default_rng(0), shape, dtype)
        check(transpose_model(shape, perm, dtype), [x], "tflm" if len(shape) <= 5 else "tflite_ref",
              expect=[x.transpose(perm)])


def test_transpose_all_4d_perms_with_byte_tiles():
    # Sides >= 4 with remainders exercise the 4x4 byte-tile path and its edges.
    import itertools

    shape = (4, 5, 6, 9)
    x = rand_array(np.random.default_rng(8), shape, "int8")
    for perm in itertools.permutations(range(4)):
        check(transpose_model(shape, perm, "int8"), [x], expect=[x.transpose(perm)])


def test_transpose_of_unit_axes_aliases():
    model = transpose_model((3, 1, 5, 1), (1, 3, 0, 2), "int8")
    x = np.arange(15, dtype=np.int8)
    assert run_engine(model, [x], invoke=False)[0].tobytes() == x.tobytes()


@pytest.mark.parametrize("perm,msg", [
    ([0, 1, 1], r"perm is not a permutation: 1 appears twice"),
    ([0, 3, 1], r"perm\[1\] = 3 out of range for 3 dims"),
    ([-1, 0, 1], r"perm\[0\] = -1 out of range for 3 dims"),
    ([1, 0], r"perm has 2 entries, input has 3 dims"),
])
def test_transpose_refuses_bad_perm(perm, msg):
    g = Graph()
    x = g.input((2, 3, 4), "int8", scale=0.1, zp=0)
    y = g.output((2, 3, 4), "int8", scale=0.1, zp=0)
    g.op("TRANSPOSE", [x, g.const(np.array(perm, np.int32))], [y])
    with pytest.raises(ValueError, match=msg):
        _uformer.Model(g.build())


def test_transpose_refuses_non_constant_perm_and_bad_output():
    g = Graph()
    x = g.input((2, 3), "int8", scale=0.1, zp=0)
    p = g.input((2,), "int32")
    y = g.output((3, 2), "int8", scale=0.1, zp=0)
    g.op("TRANSPOSE", [x, p], [y])
    with pytest.raises(NotImplementedError, match=r"TRANSPOSE.*perm must be a constant"):
        _uformer.Model(g.build())
    g = Graph()
    x = g.input((2, 3), "int8", scale=0.1, zp=0)
    y = g.output((2, 3), "int8", scale=0.1, zp=0)
    g.op("TRANSPOSE", [x, g.const(np.array([1, 0], np.int32))], [y])
    with pytest.raises(ValueError, match=r"output has shape \[2,3\], expected \[3,2\]"):
        _uformer.Model(g.build())
    g = Graph()
    x = g.input((2, 3), "int8", scale=0.1, zp=0)
    y = g.output((3, 2), "int8", scale=0.1, zp=0)
    g.op("TRANSPOSE", [x, g.const(np.array([1.0, 0.0], np.float32))], [y])
    with pytest.raises(NotImplementedError, match=r"perm has type float32, need int32 or int64"):
        _uformer.Model(g.build())


# ---------------------------------------------------------------- STRIDED_SLICE

def slice_model(shape, out_shape, begin, end, strides, dtype="int8", idx_dtype="int32", version=1, **masks):
    g = Graph()
    q = quant(dtype, 0.03, -11)
    x = g.input(shape, dtype, **q)
    y = g.output(out_shape, dtype, **q)
    ins = [x] + [g.const(np.array(v, dtype=NP[idx_dtype])) for v in (begin, end, strides)]
    g.op("STRIDED_SLICE", ins, [y], options("StridedSliceOptions", **masks), version=version)
    return g.build()


def tf_slice_reference(x, begin, end, strides, begin_mask, end_mask, shrink_mask):
    """TF/TFLite strided-slice semantics for a full spec (no ellipsis/new axis): numpy
    slices, except that shrunk indices are clamped like StridedSliceStartForAxis.
    Returns None where the reference kernels would leave the output unwritten."""
    idx = []
    for i, n in enumerate(x.shape):
        b, e, s = begin[i], end[i], strides[i]
        if shrink_mask >> i & 1:
            if s < 0:
                return None
            start = 0 if begin_mask >> i & 1 else min(max(b + n if b < 0 else b, 0), n)
            if start >= n:
                return None
            idx.append(start)
        else:
            idx.append(slice(None if begin_mask >> i & 1 else b, None if end_mask >> i & 1 else e, s))
    return x[tuple(idx)]


@st.composite
def slice_specs(draw, max_dims=4):
    shape = draw(shapes(1, max_dims, 7))
    nd = len(shape)
    begin, end, strides = [], [], []
    for n in shape:
        s = draw(st.sampled_from([1, 1, 1, 2, 3, -1, -1, -2, 5, -7]))
        begin.append(draw(st.integers(-n - 3, n + 3)))
        end.append(draw(st.integers(-n - 3, n + 3)))
        strides.append(s)
    bits = st.integers(0, (1 << nd) - 1)
    return shape, begin, end, strides, draw(bits), draw(bits), draw(st.sampled_from([0, 0]) | bits)


@settings(max_examples=120, **SETTINGS)
@given(spec=slice_specs(), data=st.data())
def test_strided_slice_matches_tflm(spec, data):
    shape, begin, end, strides, bm, em, sm = spec
    dtype = data.draw(st.sampled_from(["int8", "int8", "float32", "int32"]))
    x = rand_array(np.random.default_rng(len(shape)), shape, dtype)
    want = tf_slice_reference(x, begin, end, strides, bm, em, sm)
    if want is None:
        model = slice_model(shape, (1,), begin, end, strides, dtype, beginMask=bm, endMask=em, shrinkAxisMask=sm)
        with pytest.raises(ValueError, match=r"shrunk axis \d selects 0 elements"):
            _uformer.Model(model)
        return
    assume(want.size > 0)  # the engine has no empty tensors
    model = slice_model(shape, want.shape, begin, end, strides, dtype, beginMask=bm, endMask=em, shrinkAxisMask=sm)
    check(model, [x], expect=[want])


@settings(max_examples=30, **SETTINGS)
@given(spec=slice_specs(max_dims=5), data=st.data())
def test_strided_slice_5d_and_int64_indices_match_tflite(spec, data):
    shape, begin, end, strides, bm, em, sm = spec
    x = rand_array(np.random.default_rng(3), shape, "int8")
    want = tf_slice_reference(x, begin, end, strides, bm, em, sm)
    assume(want is not None and want.size > 0)
    model = slice_model(shape, want.shape, begin, end, strides, "int8", beginMask=bm, endMask=em,
                        shrinkAxisMask=sm, version=4)
    check(model, [x], "tflite_ref", expect=[want])
    # int64 index tensors: TFLite's kernels read them as int32, so numpy is the reference.
    model = slice_model(shape, want.shape, begin, end, strides, "int8", idx_dtype="int64",
                        beginMask=bm, endMask=em, shrinkAxisMask=sm)
    assert run_engine(model, [x])[0].tobytes() == want.tobytes()


def tflite_output_shape(model_bytes):
    """The output shape TFLite's strided_slice prepare computes (the declared one is ignored)."""
    import tensorflow as tf

    ip = tf.lite.Interpreter(
        model_content=model_bytes,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ip.allocate_tensors()
    return tuple(int(d) for d in ip.get_output_details()[0]["shape"])


@st.composite
def sparse_specs(draw):
    """Slice specs with an ellipsis and/or new axes (TFLite STRIDED_SLICE v6)."""
    shape = draw(shapes(1, 4, 5))
    nd = len(shape)
    has_ellipsis = draw(st.booleans())
    n_new = draw(st.integers(0 if has_ellipsis else 1, 2))
    # Entries: real axes covered explicitly, the ellipsis (if any) and new axes.
    n_real = draw(st.integers(0, nd)) if has_ellipsis else draw(st.integers(0, nd))
    kinds = ["axis"] * n_real + ["new"] * n_new + (["ellipsis"] if has_ellipsis else [])
    kinds = draw(st.permutations(kinds))
    assume(len(kinds) >= 1 and nd + n_new <= 5)
    begin, end, strides = [], [], []
    bm = em = sm = el = na = 0
    real_axis = 0
    ell_pos = kinds.index("ellipsis") if has_ellipsis else len(kinds)
    # Real axes after the ellipsis index the trailing dims.
    trailing = sum(1 for k in kinds[ell_pos + 1:] if k == "axis")
    for i, k in enumerate(kinds):
        if k == "ellipsis":
            el |= 1 << i
            real_axis = nd - trailing
            begin.append(0), end.append(0), strides.append(1)
        elif k == "new":
            na |= 1 << i
            begin.append(draw(st.integers(-2, 2))), end.append(draw(st.integers(-2, 2))), strides.append(1)
        else:
            n = shape[min(real_axis, nd - 1)]
            real_axis += 1
            s = draw(st.sampled_from([1, 2, -1]))
            begin.append(draw(st.integers(-n, n - 1)))
            end.append(draw(st.integers(-n - 1, n)))
            strides.append(s)
            bm |= draw(st.integers(0, 1)) << i
            em |= draw(st.integers(0, 1)) << i
            if s == 1 and draw(st.integers(0, 3)) == 0:
                sm |= 1 << i
    return shape, begin, end, strides, bm, em, sm, el, na


@settings(max_examples=40, **SETTINGS)
@given(spec=sparse_specs())
def test_strided_slice_ellipsis_new_axis_match_tflite(spec):
    shape, begin, end, strides, bm, em, sm, el, na = spec
    masks = dict(beginMask=bm, endMask=em, shrinkAxisMask=sm, ellipsisMask=el, newAxisMask=na)
    probe = slice_model(shape, (1,), begin, end, strides, "int8", version=6, **masks)
    n_axes = len(shape) + bin(na & ~el).count("1")
    if len(begin) > n_axes and el != 1 << (len(begin) - 1):
        # An ellipsis that covers no axis, before other entries: TFLite still gives it
        # an axis and drops the last entry (x[0, ..., 1] on 2-D becomes x[0, :]).
        with pytest.raises(ValueError, match=rf"begin has {len(begin)} entries for {n_axes} axes"):
            _uformer.Model(probe)
        return
    try:
        out_shape = tflite_output_shape(probe)
    except (RuntimeError, ValueError):
        return  # TFLite refuses the spec too
    x = rand_array(np.random.default_rng(9), shape, "int8")
    assume(0 not in out_shape and len(out_shape) <= 6)
    model = slice_model(shape, out_shape, begin, end, strides, "int8", version=6, **masks)
    check(model, [x], "tflite")


@settings(max_examples=30, **SETTINGS)
@given(shape=shapes(1, 4, 6), data=st.data())
def test_strided_slice_offset_matches_tflite(shape, data):
    begin, size, strides = [], [], []
    for n in shape:
        b = data.draw(st.integers(-n, n - 1))
        s = data.draw(st.sampled_from([1, 2]))
        start = b + n if b < 0 else b
        begin.append(b)
        size.append(data.draw(st.integers(1, n - start)))
        strides.append(s)
    x = rand_array(np.random.default_rng(2), shape, "float32")
    want = x[tuple(slice(b + n if b < 0 else b, (b + n if b < 0 else b) + z, s)
                   for b, z, s, n in zip(begin, size, strides, shape))]
    model = slice_model(shape, want.shape, begin, size, strides, "float32", version=8, offset=True)
    check(model, [x], "tflite", expect=[want])


def test_strided_slice_full_range_aliases_and_sequence_slices():
    # x[:, :] is the input itself.
    model = slice_model((4, 5), (4, 5), [0, 0], [0, 0], [1, 1], beginMask=3, endMask=3)
    x = np.arange(20, dtype=np.int8)
    assert run_engine(model, [x], invoke=False)[0].tobytes() == x.tobytes()
    # The transformer pattern x[:, 0, :] (class token) and x[:, -1] with shrink.
    x = rand_array(np.random.default_rng(4), (2, 9, 16), "int8")
    for b, want in ((0, x[:, 0, :]), (-1, x[:, -1, :])):
        model = slice_model((2, 9, 16), want.shape, [0, b, 0], [0, b + 1 if b != -1 else 0, 0], [1, 1, 1],
                            beginMask=5, endMask=5, shrinkAxisMask=2)
        check(model, [x], expect=[want])


@pytest.mark.parametrize("kw,msg,exc", [
    (dict(strides=[1, 0]), r"stride of axis 1 is 0", ValueError),
    (dict(begin=[0, 9], shrinkAxisMask=2, out=(4,)), r"shrunk axis 1 selects 0 elements", ValueError),
    (dict(strides=[1, -1], shrinkAxisMask=2, out=(4,)), r"shrunk axis 1 selects 0 elements", ValueError),
    (dict(end=[4, 5, 1]), r"begin, end and strides have 2, 3 and 2 entries", ValueError),
    (dict(ellipsisMask=3), r"more than one ellipsis", ValueError),
    (dict(newAxisMask=4), r"name entries past the 2 given", ValueError),
    (dict(out=(4, 4)), r"output has shape \[4,4\], expected \[4,5\]", ValueError),
])
def test_strided_slice_refusals(kw, msg, exc):
    begin = kw.pop("begin", [0, 0])
    end = kw.pop("end", [4, 5])
    strides = kw.pop("strides", [1, 1])
    out = kw.pop("out", (4, 5))
    with pytest.raises(exc, match=msg):
        _uformer.Model(slice_model((4, 5), out, begin, end, strides, **kw))


def test_strided_slice_refuses_non_constant_begin():
    g = Graph()
    x = g.input((4, 5), "int8", scale=0.1, zp=0)
    b = g.input((2,), "int32")
    y = g.output((4, 5), "int8", scale=0.1, zp=0)
    g.op("STRIDED_SLICE", [x, b, g.const(np.array([4, 5], np.int32)), g.const(np.array([1, 1], np.int32))], [y],
         options("StridedSliceOptions"))
    with pytest.raises(NotImplementedError, match=r"begin must be a constant"):
        _uformer.Model(g.build())


# ---------------------------------------------------------------- CONCATENATION

def concat_model(in_shapes, axis, dtype, consts=None, act=0, scales=None, zps=None):
    g = Graph()
    ids, feeds = [], []
    nd = len(in_shapes[0])
    a = axis + nd if axis < 0 else axis
    out_shape = list(in_shapes[0])
    out_shape[a] = sum(s[a] for s in in_shapes)
    rng = np.random.default_rng(len(in_shapes))
    for i, s in enumerate(in_shapes):
        q = quant(dtype, scales[i] if scales else 0.05, zps[i] if zps else 4)
        if consts and consts[i]:
            ids.append(g.const(rand_array(rng, s, dtype), dtype, **q))
        else:
            ids.append(g.input(s, dtype, **q))
            feeds.append(s)
    y = g.output(tuple(out_shape), dtype, **quant(dtype, 0.05, 4))
    g.op("CONCATENATION", ids, [y], options("ConcatenationOptions", axis=axis, fusedActivationFunction=act))
    return g, feeds


@settings(max_examples=50, **SETTINGS)
@given(base=shapes(1, 4, 4), data=st.data())
def test_concatenation_matches_tflm(base, data):
    nd = len(base)
    axis = data.draw(st.integers(-nd, nd - 1))
    a = axis + nd if axis < 0 else axis
    n = data.draw(st.integers(1, 10))  # TFLM takes at most 10 inputs
    in_shapes = []
    for _ in range(n):
        s = list(base)
        s[a] = data.draw(st.integers(1, 4))
        in_shapes.append(tuple(s))
    consts = [data.draw(st.booleans()) for _ in range(n)]
    assume(not all(consts))
    dtype = data.draw(st.sampled_from(["int8", "int8", "float32", "int32"]))
    g, feeds = concat_model(in_shapes, axis, dtype, consts)
    model = g.build()
    rng = np.random.default_rng(n)
    xs = [rand_array(rng, s, dtype) for s in feeds]
    check(model, xs)


@pytest.mark.parametrize("dtype", ["int16", "int32", "float32"])
def test_concatenation_wide_types(dtype):
    g = Graph()
    a = g.input((2, 3), dtype)
    b = g.input((2, 5), dtype)
    y = g.output((2, 8), dtype)
    g.op("CONCATENATION", [a, b], [y], options("ConcatenationOptions", axis=-1))
    rng = np.random.default_rng(1)
    xs = [rand_array(rng, (2, 3), dtype), rand_array(rng, (2, 5), dtype)]
    check(g.build(), xs, expect=[np.concatenate(xs, axis=1)])


def test_concatenation_many_inputs():
    # More inputs than TFLM allows (10): numpy is the reference.
    shapes_ = [(2, i % 3 + 1, 3) for i in range(40)]
    g, feeds = concat_model(shapes_, 1, "int8")
    rng = np.random.default_rng(0)
    xs = [rand_array(rng, s, "int8") for s in feeds]
    assert run_engine(g.build(), xs)[0].tobytes() == np.concatenate(xs, axis=1).tobytes()


def test_concatenation_single_input_aliases():
    g, _ = concat_model([(3, 4)], -1, "int8")
    x = np.arange(12, dtype=np.int8)
    assert run_engine(g.build(), [x], invoke=False)[0].tobytes() == x.tobytes()


def test_concatenation_refusals():
    g, _ = concat_model([(2, 3), (2, 3)], 1, "int8", zps=[4, 5])
    with pytest.raises(NotImplementedError, match=r"input 1 quantization \(zero point 5\) differs from the output's"):
        _uformer.Model(g.build())
    g, _ = concat_model([(2, 3), (2, 3)], 1, "int8", scales=[0.05, 0.1])
    with pytest.raises(NotImplementedError, match=r"input 1 quantization .* differs"):
        _uformer.Model(g.build())
    g, _ = concat_model([(2, 3), (2, 3)], 0, "int8", act=1)
    with pytest.raises(NotImplementedError, match=r"fused activation 1 unsupported"):
        _uformer.Model(g.build())
    for axis in (2, -3):
        g = Graph()
        a = g.input((2, 3), "float32")
        b = g.input((2, 3), "float32")
        y = g.output((4, 3), "float32")
        g.op("CONCATENATION", [a, b], [y], options("ConcatenationOptions", axis=axis))
        with pytest.raises(ValueError, match=rf"axis {axis} out of range for a 2-dim output"):
            _uformer.Model(g.build())
    g = Graph()
    a = g.input((2, 3), "float32")
    b = g.input((2, 4), "float32")
    y = g.output((4, 3), "float32")
    g.op("CONCATENATION", [a, b], [y], options("ConcatenationOptions", axis=0))
    with pytest.raises(ValueError, match=r"input 1 dim 1 is 4, output's is 3"):
        _uformer.Model(g.build())
    g = Graph()
    a = g.input((2, 3), "float32")
    b = g.input((2, 3), "float32")
    y = g.output((5, 3), "float32")
    g.op("CONCATENATION", [a, b], [y], options("ConcatenationOptions", axis=0))
    with pytest.raises(ValueError, match=r"inputs add up to 4 along axis 0, output has 5"):
        _uformer.Model(g.build())


# ---------------------------------------------------------------- PAD

def pad_model(shape, pads, dtype, pad_dtype="int32", zp=0):
    g = Graph()
    q = quant(dtype, 0.04, zp)
    x = g.input(shape, dtype, **q)
    out = tuple(n + l + r for n, (l, r) in zip(shape, pads))
    y = g.output(out, dtype, **q)
    g.op("PAD", [x, g.const(np.array(pads, dtype=NP[pad_dtype]).reshape(len(shape), 2))], [y])
    return g.build()


@settings(max_examples=60, **SETTINGS)
@given(shape=shapes(1, 5, 5), data=st.data())
def test_pad_matches_tflm(shape, data):
    pads = [(data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in shape]
    dtype = data.draw(st.sampled_from(["int8", "int8", "float32", "int32"]))
    zp = data.draw(st.integers(-128, 127))
    x = rand_array(np.random.default_rng(len(shape)), shape, dtype)
    fill = zp if dtype == "int8" else 0
    want = np.pad(x, pads, constant_values=np.array(fill).astype(x.dtype))
    check(pad_model(shape, pads, dtype, zp=zp), [x], expect=[want])


@settings(max_examples=20, **SETTINGS)
@given(shape=shapes(1, 6, 3), data=st.data())
def test_pad_6d_and_int64_paddings(shape, data):
    pads = [(data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape]
    x = rand_array(np.random.default_rng(1), shape, "int8")
    want = np.pad(x, pads, constant_values=np.int8(-20))
    model = pad_model(shape, pads, "int8", "int64", zp=-20)
    if len(shape) <= 5:
        check(model, [x], "tflite_ref", expect=[want])
    else:
        assert run_engine(model, [x])[0].tobytes() == want.tobytes()


def test_pad_transformer_shapes_and_alias():
    # Conv front-end style NHWC padding of H and W only.
    x = rand_array(np.random.default_rng(0), (1, 10, 12, 8), "int8")
    pads = [(0, 0), (1, 1), (2, 1), (0, 0)]
    check(pad_model(x.shape, pads, "int8", zp=-5), [x], expect=[np.pad(x, pads, constant_values=np.int8(-5))])
    # No padding at all: the output is the input.
    model = pad_model((3, 4), [(0, 0), (0, 0)], "int8")
    x = np.arange(12, dtype=np.int8)
    assert run_engine(model, [x], invoke=False)[0].tobytes() == x.tobytes()


def test_pad_with_constant_values_input():
    # PAD with a third (constant_values) input, as TFLM's PAD kernel allows.
    x = rand_array(np.random.default_rng(2), (2, 3, 4), "int8")
    g = Graph()
    q = dict(scale=0.04, zp=3)
    a = g.input(x.shape, "int8", **q)
    y = g.output((2, 5, 5), "int8", **q)
    g.op("PAD", [a, g.const(np.array([[0, 0], [1, 1], [0, 1]], np.int32)), g.const(np.array([-9], np.int8), **q)],
         [y])
    check(g.build(), [x], expect=[np.pad(x, [(0, 0), (1, 1), (0, 1)], constant_values=np.int8(-9))])


def test_pad_refusals():
    with pytest.raises(ValueError, match=r"paddings of dim 1 are \[-1, 2\], must not be negative"):
        _uformer.Model(pad_model((3, 4), [(0, 0), (-1, 2)], "int8"))
    g = Graph()
    x = g.input((3, 4), "int8", scale=0.1, zp=0)
    y = g.output((3, 4), "int8", scale=0.1, zp=0)
    g.op("PAD", [x, g.const(np.zeros((3, 2), np.int32))], [y])
    with pytest.raises(ValueError, match=r"paddings must have shape \[2, 2\] for a 2-dim input"):
        _uformer.Model(g.build())
    g = Graph()
    x = g.input((3, 4), "int8", scale=0.1, zp=0)
    p = g.input((2, 2), "int32")
    y = g.output((3, 4), "int8", scale=0.1, zp=0)
    g.op("PAD", [x, p], [y])
    with pytest.raises(NotImplementedError, match=r"paddings must be a constant"):
        _uformer.Model(g.build())
    g = Graph()
    x = g.input((3, 4), "int8", scale=0.1, zp=0)
    y = g.output((4, 4), "int8", scale=0.1, zp=0)
    g.op("PAD", [x, g.const(np.array([[1, 1], [0, 0]], np.int32))], [y])
    with pytest.raises(ValueError, match=r"output has shape \[4,4\], expected \[5,4\]"):
        _uformer.Model(g.build())
