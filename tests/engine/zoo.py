"""Whole models for engine parity tests and benchmarks, built with Keras and converted
with full-integer quantization (int8 in, int8 out), exactly as users' models are.

Converted models are cached on disk (keyed by this file's contents and the TensorFlow
version) because conversion costs seconds per model.
"""
import hashlib
import os
import pathlib

import numpy as np

CACHE = pathlib.Path(os.environ.get("MF_ZOO_CACHE", pathlib.Path(__file__).resolve().parents[2] / ".cache" / "zoo"))


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return keras


def transformer(seq=32, channels=6, d_model=32, heads=2, layers=1, ffn=64, classes=4, act="relu", seed=0):
    """Encoder with LayerNormalization + MultiHeadAttention and a learned position embedding."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input((seq, channels), batch_size=1)
    x = keras.layers.Dense(d_model)(inp)
    pos = keras.layers.Embedding(seq, d_model)(keras.ops.arange(seq)[None, :])
    x = x + pos
    for _ in range(layers):
        h = keras.layers.LayerNormalization(epsilon=1e-5)(x)
        h = keras.layers.MultiHeadAttention(heads, max(4, d_model // heads))(h, h)
        x = x + h
        h = keras.layers.LayerNormalization(epsilon=1e-5)(x)
        h = keras.layers.Dense(ffn, activation=act)(h)
        h = keras.layers.Dense(d_model)(h)
        x = x + h
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out)


def hybrid(seq=64, channels=6, d_model=24, heads=2, classes=4, seed=0):
    """Conv1D + depthwise front end shortening the sequence, then one transformer block."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input((seq, channels), batch_size=1)
    x = keras.layers.Conv1D(16, 5, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv1D(3, strides=2, padding="same")(x)
    x = keras.layers.Conv1D(d_model, 1, activation="relu6")(x)
    x = keras.layers.MaxPooling1D(2)(x)
    h = keras.layers.LayerNormalization()(x)
    h = keras.layers.MultiHeadAttention(heads, d_model // heads)(h, h)
    x = x + h
    h = keras.layers.LayerNormalization()(x)
    h = keras.layers.Dense(2 * d_model, activation="relu")(h)
    x = x + keras.layers.Dense(d_model)(h)
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out)


def cnn(h=16, w=16, c=2, classes=5, seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input((h, w, c), batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="valid", activation="relu6")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(12, 3, strides=2, padding="same", activation="hard_swish")(x)
    x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="tanh")(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out)


def mlp(features=20, classes=3, seed=0):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input((features,), batch_size=1)
    x = keras.layers.Dense(32, activation="relu")(inp)
    x = keras.layers.Dense(16, activation="sigmoid")(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out)


# name -> (builder, kwargs). The transformers span 1-3 layers,
# 1-6 heads, d_model 16-64, sequence 16-128.
MODELS = {
    "tf_l1_h1_d16_s16": (transformer, dict(seq=16, d_model=16, heads=1, layers=1, ffn=32)),
    "tf_l2_h4_d32_s64": (transformer, dict(seq=64, d_model=32, heads=4, layers=2, ffn=64)),
    "tf_l3_h6_d48_s32": (transformer, dict(seq=32, d_model=48, heads=6, layers=3, ffn=96)),
    "tf_l1_h2_d64_s128": (transformer, dict(seq=128, d_model=64, heads=2, layers=1, ffn=128)),
    "hybrid": (hybrid, {}),  # GELU whole-model parity: see test_engine_ops_activations
    "cnn": (cnn, {}),
    "mlp": (mlp, {}),
}
TRANSFORMERS = [k for k in MODELS if k.startswith("tf_")]


def convert(model, samples=32, seed=0, positive=False):
    """Full-integer conversion with int8 input and output. positive: calibration inputs are
    |N(0, 1)|, so the input zero point is -128 (the largest input offset, 128)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shape = [1] + list(model.input_shape[1:])

    def rep():
        for _ in range(samples):
            v = rng.standard_normal(shape).astype(np.float32)
            yield [np.abs(v) if positive else v]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def _key(name):
    import tensorflow as tf

    src = pathlib.Path(__file__).read_bytes()
    return hashlib.sha256(src + name.encode() + tf.__version__.encode()).hexdigest()[:16]


def get(name):
    """Converted .tflite bytes of zoo model `name` (cached)."""
    builder, kwargs = MODELS[name]
    path = CACHE / f"{name}-{_key(name)}.tflite"
    if path.exists():
        return path.read_bytes()
    data = convert(builder(**kwargs))
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data
