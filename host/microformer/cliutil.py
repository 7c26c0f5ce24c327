"""Small helpers shared by the CLI verbs: argument types, file reading, JSON output."""
import argparse
import json
import math
import os
import sys
import zipfile

from .errors import DataError, MicroformerError, ModelError


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
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C and a full disk too: no .part left behind
        _remove(tmp)
        raise


def save_keras(model, path):
    """model.save(path), atomically: Keras writes a zip file by file, so a save that is
    interrupted would leave a damaged .keras where the previous one was."""
    tmp = path[: -len(".keras")] + ".part.keras"  # Keras insists on the extension
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


# Input checks that need no TensorFlow: each command runs them before importing it, so a
# typo costs a second, not the 20 s of a TensorFlow import.

def check_data(path, flag="DATA"):
    """DATA exists (a folder of DATA/<label>/*.csv, a folder of streams or one stream CSV);
    data.load reports what is wrong inside it."""
    if not os.path.exists(path):
        raise DataError(f"{flag} {path} does not exist")
    if os.path.isfile(path) and not path.lower().endswith(".csv"):
        raise DataError(f"{flag} {path} is neither a folder of recordings nor a .csv file")


def check_keras(path, what="model"):
    """path is a .keras file as Keras 3 writes it (a zip archive with config.json), checked
    without Keras, which would report any other file as "File not found"."""
    if not path.endswith(".keras"):
        raise MicroformerError(f"{what} {path}: expected a .keras model (from `microformer train`)")
    if not os.path.exists(path):
        raise MicroformerError(f"{what} {path} does not exist")
    if os.path.isdir(path):
        raise MicroformerError(f"{what} {path} is a directory, expected a .keras file")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError) as e:
        size = os.path.getsize(path)
        raise ModelError(f"{what} {path} is not a Keras model: a .keras file is a zip archive, "
                         f"this one ({size:,} bytes) is not ({e})") from None
    if "config.json" not in names:
        raise ModelError(f"{what} {path} is not a Keras model: the archive has no config.json "
                         f"(it holds {', '.join(sorted(names)[:4]) or 'nothing'})")


def check_out(path, ext, flag="--out"):
    """An output file name with the right extension in a folder that exists."""
    if not path.endswith(ext):
        raise MicroformerError(f"{flag} {path}: expected a {ext} file name")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise MicroformerError(f"{flag} {path}: folder {d} does not exist")


def invocation():
    """How to run microformer again from this shell: `microformer` when that is this
    program on PATH, else the path it was started by (`.venv/bin/microformer` before the
    venv is activated), else `python -m microformer`."""
    import shutil

    argv0 = sys.argv[0] if sys.argv else ""
    on_path = shutil.which("microformer")
    if os.path.basename(argv0) == "microformer":
        if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
            return "microformer"
        return argv0
    # Started some other way (python -m microformer, a test): the script next to this
    # interpreter is this installation's.
    if on_path and os.path.dirname(os.path.abspath(on_path)) == os.path.dirname(os.path.abspath(sys.executable)):
        return "microformer"
    return f"{sys.executable} -m microformer"


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
