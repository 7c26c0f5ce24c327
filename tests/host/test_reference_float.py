"""The float reference interpreter (the float side of SQNR) against TFLite's float kernels."""
import numpy as np
import pytest

from microformer import models, reference, tflite


def float_tflite(keras_model, shape):
    import tensorflow as tf

    cf = tf.function(lambda v: keras_model(v)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    return tf.lite.TFLiteConverter.from_concrete_functions([cf]).convert()


def ops_model(shape):
    """Conv, depthwise, pools, pad, slice, concat, activations: ops the zoo itself rarely emits."""
    import keras

    inp = keras.Input(shape[1:], batch_size=1)
    x = keras.layers.ZeroPadding1D((2, 1))(inp)
    x = keras.layers.Conv1D(6, 3, strides=2, padding="same", activation="relu6")(x)
    a = keras.layers.DepthwiseConv1D(3, padding="same", activation="tanh")(x)
    b = keras.layers.AveragePooling1D(3, strides=1, padding="same")(x)
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.Cropping1D((1, 1))(x)
    x = keras.layers.Activation("hard_swish")(x)
    y = keras.layers.Activation("sigmoid")(x)
    x = keras.layers.Multiply()([x, y])
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, activation="gelu")(x)
    return keras.Model(inp, keras.layers.Softmax()(x))


@pytest.mark.parametrize("which", ["ops", "transformer", "hybrid-linear"])
def test_reference_matches_tflite_float(which, rng):
    import tensorflow as tf

    if which == "ops":
        shape = (1, 24, 3)
        m = ops_model(shape)
    else:
        arch, att = ("transformer", "local:2") if which == "transformer" else ("hybrid", "linear")
        c = models.resolve_config({"arch": arch, "attention": att, "activation": "gelu"}, 32, 3, 4)
        m = models.build_device_model(models.build_model(
            c, [0] * 3, [1] * 3, {"labels": list("abcd"), "window": 32, "hop": 8, "channels": list("xyz")}))
        shape = (1, 32, 3)
    fb = float_tflite(m, shape)
    g = tflite.Graph(fb)
    ip = tf.lite.Interpreter(model_content=fb, experimental_preserve_all_tensors=True)
    ip.allocate_tensors()
    x = rng.normal(size=shape).astype(np.float32)
    ip.set_tensor(ip.get_input_details()[0]["index"], x)
    ip.invoke()
    vals = reference.Reference(g).run(x)
    seen = set()
    for op in g.ops:
        t = op["outputs"][0]
        seen.add(op["op"])
        assert np.allclose(vals[t], ip.get_tensor(t), atol=1e-4, rtol=1e-4), (op["index"], op["op"])
    if which == "ops":
        assert {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD",
                "CONCATENATION", "HARD_SWISH", "LOGISTIC", "MUL", "STRIDED_SLICE", "TANH", "GELU"} <= seen


def test_reference_refuses_unknown_ops():
    from microformer.errors import ModelError

    class G:
        ops = [{"op": "EXP", "options": None, "index": 0, "inputs": [0], "outputs": [1]}]

    r = reference.Reference.__new__(reference.Reference)
    r.g = G()
    with pytest.raises(ModelError, match="EXP has no float reference"):
        r._op(G.ops[0], [np.zeros(2)])
