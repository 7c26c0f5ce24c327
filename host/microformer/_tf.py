"""Lazy, quiet TensorFlow/Keras import.

Only training paths call these; `import microformer.cli` must stay TensorFlow-free because
a TensorFlow import costs seconds and hundreds of MB that `push` or `inspect` never need.
"""
import os


def _quiet_env():
    # The C++ INFO/WARNING lines (oneDNN notes, CPU feature hints) are noise for CLI users.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The models use tf.math ops directly (squared_difference) inside Keras layers.
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def tensorflow():
    _quiet_env()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def keras():
    tensorflow()
    import keras as k

    if k.backend.backend() != "tensorflow":
        from .errors import MicroformerError

        raise MicroformerError(
            f"Keras backend is {k.backend.backend()!r}; microformer needs KERAS_BACKEND=tensorflow "
            "because only the TensorFlow converter produces .tflite files")
    return k
