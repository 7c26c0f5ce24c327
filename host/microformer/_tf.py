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


class quiet_stderr:
    """Send file descriptor 2 to a temporary file for the duration of a `with` block.

    TensorFlow's C++ side logs straight to fd 2 (absl's "before InitializeLog" banner, the
    oneDNN note, the converter's "fully_quantize: ..." line) regardless of
    TF_CPP_MIN_LOG_LEVEL. The text is kept in `.text` so a failure can still show it.
    """

    def __enter__(self):
        import sys
        import tempfile

        sys.stderr.flush()
        self._tmp = tempfile.TemporaryFile(mode="w+b")
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()
        if exc[0] is not None and self.text:
            import sys

            sys.stderr.write(self.text)
        return False


def tensorflow():
    _quiet_env()
    import sys

    if "tensorflow" not in sys.modules:
        with quiet_stderr():
            import tensorflow  # noqa: F401
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        from absl import logging as absl_logging

        # "Please consider providing the trackable_obj argument": the converter path that
        # takes it re-reads variables through READ_VARIABLE ops and fails on Keras 3 models.
        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
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
