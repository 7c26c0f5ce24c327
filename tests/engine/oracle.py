"""Run a model on the oracles and on the engine with the same inputs.

TFLM (the `tflite-micro` package) is the oracle for every op it has; TFLite's reference
kernels (`tf.lite.Interpreter` with BUILTIN_REF) for the rest (GELU).
"""
import numpy as np
import pytest

import _uformer


def log_uniform(rng, lo, hi, size=None):
    """A scale drawn log-uniformly from [lo, hi] and rounded to float32 (as a model stores
    it): a Python float, or with `size` a float32 array."""
    if size is None:
        return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size)).astype(np.float32)


def refused(model_bytes, exc, *words):
    """The engine refuses the model with `exc`, its message naming each of `words`;
    returns the message."""
    with pytest.raises(exc) as info:
        _uformer.Model(model_bytes)
    msg = str(info.value)
    for w in words:
        assert w in msg, msg
    return msg


def random_inputs(model_bytes, rng):
    """One random tensor per model input, drawn over the input type's whole range."""
    m = _uformer.Model(model_bytes)
    out = []
    for i in range(m.num_inputs):
        shape, tc, _scale, _zp = m.input_info(i)
        if tc == "b":
            out.append(rng.integers(-128, 128, size=shape, dtype=np.int8))
        else:
            out.append(rng.standard_normal(size=shape).astype(np.float32) * 4)
    return out


def run_engine(model_bytes, inputs, model=None):
    m = model or _uformer.Model(model_bytes)
    for i, x in enumerate(inputs):
        dst = np.frombuffer(m.input(i), dtype=x.dtype)
        dst[...] = x.reshape(-1)
    m.invoke()
    outs = []
    for i in range(m.num_outputs):
        shape, tc, _s, _z = m.output_info(i)
        dt = np.int8 if tc == "b" else np.float32
        outs.append(np.frombuffer(m.output(i), dtype=dt).reshape(shape).copy())
    return outs


def tflm_interpreter(model_bytes, arena_size=None):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(
        model_bytes, arena_size=arena_size or max(4 << 20, len(model_bytes) * 10))


def run_tflm(model_bytes, inputs, interp=None, n_outputs=None):
    ip = interp or tflm_interpreter(model_bytes)
    for i, x in enumerate(inputs):
        ip.set_input(x, i)
    ip.invoke()
    n = _uformer.Model(model_bytes).num_outputs if n_outputs is None else n_outputs
    return [np.array(ip.get_output(i)) for i in range(n)]


def run_tflite_ref(model_bytes, inputs):
    import tensorflow as tf

    ip = tf.lite.Interpreter(
        model_content=model_bytes,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    ip.allocate_tensors()
    for d, x in zip(ip.get_input_details(), inputs):
        ip.set_tensor(d["index"], x)
    ip.invoke()
    return [ip.get_tensor(d["index"]).copy() for d in ip.get_output_details()]


def assert_identical(model_bytes, inputs, oracle="tflm"):
    """Engine outputs must equal the oracle's byte for byte."""
    m = _uformer.Model(model_bytes)
    got = run_engine(model_bytes, inputs, model=m)
    want = (run_tflm(model_bytes, inputs, n_outputs=m.num_outputs) if oracle == "tflm"
            else run_tflite_ref(model_bytes, inputs))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        g = g.reshape(-1)  # 0-d arrays cannot be viewed as bytes
        w = np.asarray(w).reshape(-1)
        if not np.array_equal(g.view(np.uint8), w.astype(g.dtype).view(np.uint8)):
            bad = np.flatnonzero(g.reshape(-1) != w.reshape(-1))
            raise AssertionError(
                f"output {i}: {bad.size} of {g.size} elements differ; first at {bad[:5]}: "
                f"engine {g.reshape(-1)[bad[:5]]} oracle {w.reshape(-1)[bad[:5]]}")


def assert_same(model_bytes, inputs, arena=None):
    """assert_identical against TFLM, also for 0-d float outputs (compared as 1-element
    arrays) and with a TFLM arena size of choice."""
    want = run_tflm(model_bytes, inputs, tflm_interpreter(model_bytes, arena) if arena else None)
    got = run_engine(model_bytes, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = g.reshape(-1)
        w = np.asarray(w).astype(g.dtype).reshape(-1)
        assert np.array_equal(g.view(np.uint8), w.view(np.uint8)), (g, w)
