"""Keras model -> full-integer int8 .tflite with the `microformer` metadata entry inside.

int8 input and output, int8 weights (per-channel symmetric by default, per-tensor on request),
int32 biases; activation ranges calibrated on training windows. The converter is restricted
to TFLITE_BUILTINS_INT8, so a layer without an int8 kernel fails the conversion here instead
of leaving a float op for the device to refuse. (The converter still keeps the small float
islands it always emits, e.g. DEQUANTIZE -> NEG -> QUANTIZE for keras LayerNormalization;
the default models avoid them and `microformer inspect` lists any float op.)

Tensor names are shortened (tflite.shorten_names): the converter's fused names cost ~10 KB
of flash in the default model.
"""
import datetime
import json

import numpy as np

from . import __version__
from .errors import MicroformerError
from .tflite import Graph, get_metadata, read_info, set_metadata, shorten_names

# Calibration windows; more barely moves the ranges and slows conversion linearly.
DEFAULT_CALIB = 256


def normalize(windows, info):
    """Raw windows (n, window, channels) -> the normalized float32 the int8 input encodes."""
    norm = info["normalization"]
    mean = np.asarray(norm["mean"], dtype=np.float32)
    std = np.asarray(norm["std"], dtype=np.float32)
    return ((np.asarray(windows, dtype=np.float32) - mean) / std).astype(np.float32)


def metadata(info, **extra):
    """The JSON document stored as the `microformer` metadata entry."""
    doc = {
        "format": "microformer",
        "version": 1,
        "microformer_version": __version__,
        "created_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "task": info.get("task", "classification"),
        "labels": list(info["labels"]),
        "mode": info.get("mode", "stream"),
        "window": int(info["window"]),
        "hop": int(info["hop"]),
        "sample_rate": info.get("sample_rate"),
        "channels": list(info["channels"]),
        "normalization": info["normalization"],
        "config": info.get("config"),
        "metrics": dict(info.get("metrics", {})),
        "split": info.get("split"),
    }
    if info.get("event"):
        # Event models: the device fits a live event the same way (uformer.EventWindow).
        doc["event"] = dict(info["event"])
    if info.get("training_recordings"):
        # Fingerprints of the training recordings (data.fingerprints): eval warns on overlap.
        doc["training_recordings"] = info["training_recordings"]
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(doc.get(k), dict):
            doc[k].update(v)
        else:
            doc[k] = v
    return doc


def quantize(model, calib_windows, per_tensor=False, n_calib=DEFAULT_CALIB, seed=0, extra=None):
    """Convert a trained microformer Keras model to int8 .tflite bytes with metadata.

    calib_windows: raw (not normalized) windows, (n, window, channels), from training data.
    extra: dict merged into the metadata (e.g. {"metrics": {...}}).
    """
    from . import models
    from ._tf import tensorflow

    tf = tensorflow()
    info = models.model_info(model)
    c = info["config"]
    calib = np.asarray(calib_windows, dtype=np.float32)
    if calib.ndim != 3 or calib.shape[1:] != (c["window"], c["channels"]):
        raise MicroformerError(
            f"calibration windows have shape {calib.shape[1:]}, the model needs "
            f"({c['window']}, {c['channels']})")
    if len(calib) == 0:
        raise MicroformerError("no calibration windows")
    calib = normalize(calib, info)
    rng = np.random.default_rng(seed)
    keep = np.arange(len(calib))
    rng_in = info["normalization"].get("input_range")
    if rng_in is not None:
        # Training saw the input quantized over input_range: calibrate the int8 input to
        # exactly that range, keeping the windows that hold its ends in the subsample.
        calib = np.clip(calib, rng_in[0], rng_in[1])
        flat = calib.reshape(len(calib), -1)
        ends = np.unique([int(np.argmin(flat.min(1))), int(np.argmax(flat.max(1)))])
        rest = np.setdiff1d(keep, ends)
        keep = np.concatenate([ends, rng.choice(rest, max(0, min(len(rest), n_calib - len(ends))),
                                                replace=False)])
    elif len(calib) > n_calib:
        keep = rng.choice(len(calib), n_calib, replace=False)
    calib = calib[np.sort(keep)]

    dev = models.build_device_model(model)
    fn = tf.function(lambda x: dev(x, training=False))
    cf = fn.get_concrete_function(tf.TensorSpec((1, c["window"], c["channels"]), tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([w[None]] for w in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    if per_tensor:
        conv._experimental_disable_per_channel = True
    import warnings

    from ._tf import quiet_stderr

    try:
        with warnings.catch_warnings(), quiet_stderr():
            # "Statistics for quantized inputs were expected": the int8 input's range comes
            # from the calibration data, which is what we want.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            raw = conv.convert()
    except Exception as e:  # the converter raises ConverterError/RuntimeError with its log
        raise MicroformerError(f"int8 conversion failed: {str(e).strip().splitlines()[-1]}") from None
    q = {"weights": "per-tensor" if per_tensor else "per-channel", "activations": "int8",
         "calibration_windows": int(len(calib))}
    doc = metadata(info, quantization=q, **(extra or {}))
    return set_metadata(shorten_names(raw), json.dumps(doc, sort_keys=True).encode())


def ops_of(model_bytes):
    """Op names in execution order."""
    return [op["op"] for op in Graph(model_bytes).ops]


__all__ = ["quantize", "normalize", "metadata", "ops_of", "read_info", "get_metadata"]
