"""Small helpers shared by the CLI verbs: argument types, file reading, JSON output."""
import argparse
import json
import math
import os
import sys

from .errors import MicroformerError, ModelError


def positive_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def nonneg_float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {s}")
    return v


def read_bytes(path, what="model"):
    if not os.path.exists(path):
        raise MicroformerError(f"{what} {path} does not exist")
    if os.path.isdir(path):
        raise MicroformerError(f"{what} {path} is a directory, expected a file")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise ModelError(f"{what} {path} is empty")
    return data


def write_bytes(path, data):
    """Write atomically (tmp + rename) so an interrupted run never leaves half a model."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise MicroformerError(f"cannot write {path}: folder {d} does not exist")
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _clean(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None if math.isnan(o) else ("inf" if o > 0 else "-inf")
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def print_json(obj):
    """One JSON object on stdout (inf/nan spelled as strings/null, which JSON lacks)."""
    json.dump(_clean(obj), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


def model_kind(path):
    ext = os.path.splitext(path)[1].lower()
    if ext == ".keras":
        return "keras"
    if ext == ".tflite":
        return "tflite"
    raise MicroformerError(f"model {path}: expected a .keras (float) or .tflite (int8) file")
