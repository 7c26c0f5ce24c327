"""Whole-model parity: Keras-built, converter-quantized models run byte-identical to the oracle."""
import numpy as np
import pytest

import _uformer
import oracle
import zoo


def _oracle_for(model_bytes):
    # TFLM has no GELU kernel; TFLite's reference kernels are the oracle there.
    return "tflite_ref" if "GELU" in _uformer.Model(model_bytes).ops else "tflm"


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_models_identical_on_random_inputs(name):
    model = zoo.get(name)
    which = _oracle_for(model)
    rng = np.random.default_rng(1234)
    for _ in range(4):
        oracle.assert_identical(model, oracle.random_inputs(model, rng), oracle=which)


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_models_ops_match_the_file(name):
    import tensorflow as tf

    model = zoo.get(name)
    ip = tf.lite.Interpreter(model_content=model)
    want = tuple(d["op_name"] for d in ip._get_ops_details())
    assert _uformer.Model(model).ops == want


def test_models_reinvoke_is_deterministic():
    model = zoo.get("tf_l1_h1_d16_s16")
    m = _uformer.Model(model)
    rng = np.random.default_rng(7)
    x = oracle.random_inputs(model, rng)
    a = oracle.run_engine(model, x, model=m)
    oracle.run_engine(model, oracle.random_inputs(model, rng), model=m)
    b = oracle.run_engine(model, x, model=m)
    assert np.array_equal(a[0], b[0])
