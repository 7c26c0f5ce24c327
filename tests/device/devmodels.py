"""Test models and recordings for tests/device, built on the host (CPython) without TensorFlow.

Every model is a real int8 .tflite built with tests/engine/tflbuild.py: one FULLY_CONNECTED
layer from the flattened window (1, WINDOW*CHANNELS) to one int8 score per label, with
the `microformer` metadata entry in the host's format (host/microformer/convert.py).
`build(dirpath)` writes them plus models.json (digests, sizes, which op is unsupported).
"""
import datetime
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "engine"))

import tflbuild  # noqa: E402

WINDOW = 8
CHANNELS = 3
LABELS = ["idle", "wave", "tap", "shake"]
MEAN = [0.1, -0.2, 9.8]
STD = [0.5, 0.25, 2.0]
IN_SCALE = 0.05
IN_ZP = -3
OUT_SCALE = 0.0625
OUT_ZP = 5

# Ops the engine is unlikely to ever have; the first one absent from _uformer.OPS makes the
# "unsupported op" model. (Elementwise int8 -> int8 with no options, so the graph is valid.)
UNSUPPORTED_CANDIDATES = ["SIN", "COS", "SQUARE", "ELU", "LOG", "EXP", "HARD_SWISH"]


def metadata(version, window=WINDOW, channels=CHANNELS, labels=LABELS, mean=None, std=None,
             **extra):
    doc = {
        "format": "microformer",
        "version": 1,
        "microformer_version": "test",
        "created_at": datetime.datetime(2026, 1, 1, 0, 0, version % 60,
                                        tzinfo=datetime.timezone.utc).isoformat(),
        "task": "classification",
        "labels": list(labels),
        "window": window,
        "hop": window // 2,
        "sample_rate": 50,
        "channels": ["ax", "ay", "az"][:channels] + ["c%d" % i for i in range(3, channels)],
        "normalization": {"mean": mean or (MEAN * 4)[:channels], "std": std or (STD * 4)[:channels]},
        "metrics": {"accuracy": 0.5 + version / 100},
        "model_version": version,
    }
    doc.update(extra)
    return json.dumps(doc, sort_keys=True).encode()


def fc_model(seed, window=WINDOW, channels=CHANNELS, labels=LABELS, extra_op=None, pad=0,
             in_scale=IN_SCALE, mean=None, std=None, meta=True):
    rng = np.random.default_rng(seed)
    n_in = window * channels
    n_out = len(labels)
    g = tflbuild.Graph()
    x = g.input((1, n_in), "int8", scale=in_scale, zp=IN_ZP, name="window")
    w = g.const(rng.integers(-127, 128, size=(n_out, n_in)).astype(np.int8),
                scale=(0.002 + 0.003 * rng.random(n_out)).astype(np.float32), zp=0, qdim=0)
    b = g.const(rng.integers(-2000, 2000, size=n_out).astype(np.int32), dtype="int32")
    if extra_op is None:
        y = g.output((1, n_out), "int8", scale=OUT_SCALE, zp=OUT_ZP, name="scores")
        g.op("FULLY_CONNECTED", [x, w, b], [y],
             tflbuild.options("FullyConnectedOptions", fusedActivationFunction=0))
    else:
        h = g.tensor((1, n_out), "int8", scale=OUT_SCALE, zp=OUT_ZP)
        g.op("FULLY_CONNECTED", [x, w, b], [h],
             tflbuild.options("FullyConnectedOptions", fusedActivationFunction=0))
        y = g.output((1, n_out), "int8", scale=OUT_SCALE, zp=OUT_ZP, name="scores")
        g.op(extra_op, [h], [y])
    if isinstance(meta, bytes):
        g.add_metadata("microformer", meta)  # as given: the hostile-metadata tests
    elif meta:
        g.add_metadata("microformer", metadata(seed, window, channels, labels, mean, std))
    if pad:
        # Inflates the file (not the arena) to test the slot's max_bytes limit.
        g.add_metadata("padding", bytes(pad))
    return g.build()


def deep_model(seed, hidden=96):
    """Two FULLY_CONNECTED layers: same window and labels as fc_model, a bigger arena."""
    rng = np.random.default_rng(seed)
    n_in = WINDOW * CHANNELS
    g = tflbuild.Graph()
    x = g.input((1, n_in), "int8", scale=IN_SCALE, zp=IN_ZP, name="window")
    w1 = g.const(rng.integers(-127, 128, size=(hidden, n_in)).astype(np.int8),
                 scale=np.full(hidden, 0.004, np.float32), zp=0, qdim=0)
    h = g.tensor((1, hidden), "int8", scale=0.1, zp=0)
    g.op("FULLY_CONNECTED", [x, w1, -1], [h],
         tflbuild.options("FullyConnectedOptions", fusedActivationFunction=1))
    w2 = g.const(rng.integers(-127, 128, size=(len(LABELS), hidden)).astype(np.int8),
                 scale=np.full(len(LABELS), 0.003, np.float32), zp=0, qdim=0)
    y = g.output((1, len(LABELS)), "int8", scale=OUT_SCALE, zp=OUT_ZP, name="scores")
    g.op("FULLY_CONNECTED", [h, w2, -1], [y],
         tflbuild.options("FullyConnectedOptions", fusedActivationFunction=0))
    g.add_metadata("microformer", metadata(seed))
    return g.build()


def _meta_with(**changes):
    """The standard metadata (fc_model's) with keys replaced (value None deletes the key)."""
    doc = json.loads(metadata(1))
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    return doc


def _norm(**kw):
    n = {"mean": list(MEAN), "std": list(STD)}
    n.update(kw)
    return n


# Crafted `microformer` metadata a peer could push (issue 12): each must be refused with a
# ValueError naming the field, at load, never raise anything else later. name -> (metadata
# bytes, words the reason contains).
HOSTILE = {
    "norm_number": (_meta_with(normalization=5), "normalization"),
    "norm_list": (_meta_with(normalization=[1, 2]), "normalization"),
    "std_dict": (_meta_with(normalization=_norm(std={"a": 1})), "std"),
    "std_nulls": (_meta_with(normalization=_norm(std=[None, None, None])), "std[0]"),
    "std_string": (_meta_with(normalization=_norm(std=["1", 1, 1])), "std[0]"),
    "std_zero": (_meta_with(normalization=_norm(std=[0.5, 0, 2.0])), "std"),
    "std_negative": (_meta_with(normalization=_norm(std=[0.5, -1, 2.0])), "std"),
    "std_underflow": (_meta_with(normalization=_norm(std=[0.5, 1e-320, 2.0])), "std"),
    "std_huge": (_meta_with(normalization=_norm(std=[0.5, 1e300, 2.0])), "std"),
    "std_short": (_meta_with(normalization=_norm(std=[0.5])), "std"),
    "mean_int": (_meta_with(normalization=_norm(mean=5)), "mean"),
    "mean_bool": (_meta_with(normalization=_norm(mean=[True, 0, 0])), "mean[0]"),
    "mean_overflow": (_meta_with(normalization=_norm(mean=[1e300, 0, 0])), "mean"),
    "labels_string": (_meta_with(labels="idle,wave"), "labels"),
    "labels_ints": (_meta_with(labels=[1, 2, 3, 4]), "labels"),
    "labels_few": (_meta_with(labels=["idle", "wave"]), "2 labels"),
    "regression_few_labels": (_meta_with(task="regression", labels=["x"]), "1 labels"),
    "task_number": (_meta_with(task=3), "task"),
    "window_string": (_meta_with(window="8"), "window"),
    "window_negative": (_meta_with(window=-8), "window"),
    "window_float": (_meta_with(window=8.0), "window"),
    "window_bool": (_meta_with(window=True), "window"),
    "window_huge": (_meta_with(window=10 ** 30), "window"),
    "hop_zero": (_meta_with(hop=0), "hop"),
    "rate_string": (_meta_with(sample_rate="fast"), "sample_rate"),
    "rate_negative": (_meta_with(sample_rate=-50), "sample_rate"),
    "channels_string": (_meta_with(channels="ax"), "channels"),
    "channels_zero": (_meta_with(channels=0), "channels"),
    "channels_ints": (_meta_with(channels=[1, 2, 3]), "channels"),
    "not_object": ([1, 2, 3], "JSON object"),
}


def hostile_models():
    """name -> (.tflite bytes, reason words) for HOSTILE plus the raw-text cases."""
    out = {}
    for name, (doc, why) in HOSTILE.items():
        out[name] = (fc_model(1, meta=json.dumps(doc).encode()), why)
    deep = b'{"labels": ["idle", "wave", "tap", "shake"], "x": ' + b"[" * 20000 + b"]" * 20000 + b"}"
    raw = {
        "deep_20000": (deep, "metadata 'microformer'"),  # over the size bound first
        "deep_5000": (b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nests deeper"),
        "deep_in_string_ok": None,  # brackets inside a string do not count (accepted below)
        "not_json": (b"{labels: idle}", "not valid JSON"),
        "nan_std": (json.dumps(_meta_with(normalization=_norm(std=[float("nan"), 1, 1]))).encode(),
                    "std"),
        "inf_rate": (json.dumps(_meta_with(sample_rate=float("inf"))).encode(), "sample_rate"),
        "bad_utf8": (b'{"labels": ["\xff\xfe"], "task": "\xff"}'.replace(b"\\xff", b"\xff"), ""),
        "huge": (b'{"pad": "' + b"x" * 20000 + b'"}', "bytes"),
    }
    for name, case in raw.items():
        if case is not None:
            out[name] = (fc_model(1, meta=case[0]), case[1])
    return out


def accepted_models():
    """Metadata a newer host may write: unknown keys, event mode, brackets inside strings.
    Each must load (forward compatible)."""
    docs = {
        "unknown_keys": _meta_with(future={"a": [1, {"b": 2}]}, mode="stream",
                                   event={"threshold": 0.5, "pre": 4}),
        "brackets_in_string": _meta_with(note="[" * 100 + "{" * 100),
        "regression_no_labels": _meta_with(task="regression", labels=[]),
        "int_norm": _meta_with(normalization={"mean": [0, 0, 10], "std": [1, 1, 2]}),
    }
    return dict((k, fc_model(1, meta=json.dumps(v).encode())) for k, v in docs.items())


def recording(path, rows=400, seed=7):
    """A CSV recording in the host's dataset stream format (t, channels, label)."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows) / 50.0
    with open(path, "w") as f:
        f.write("t,ax,ay,az,label\n")
        for i in range(rows):
            lab = LABELS[(i // 50) % len(LABELS)]
            ax = 0.1 + 0.5 * np.sin(2 * np.pi * t[i] * (1 + (i // 50) % 3)) + 0.05 * rng.standard_normal()
            ay = -0.2 + 0.25 * np.cos(2 * np.pi * t[i]) + 0.05 * rng.standard_normal()
            az = 9.8 + 2.0 * rng.standard_normal()
            f.write("%.3f,%.5f,%.5f,%.5f,%s\n" % (t[i], ax, ay, az, lab))


def tie_recording(path, rows=240, seed=5):
    """A stream CSV whose samples sit on or one float32 step beside the rounding ties of
    v2.tflite's input quantization ((x - mean) / std / scale = k + 0.5 in float32 math),
    where arithmetics that differ in a last bit (a reciprocal multiply, double instead of
    float32) give different int8 codes. Printed with 9 significant digits: every float32
    reads back exactly, on CPython and MicroPython."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    mean = np.asarray(MEAN, f32)
    std = np.asarray(STD, f32)
    with open(path, "w") as f:
        f.write("t,ax,ay,az,label\n")
        for i in range(rows):
            vals = []
            for c in range(CHANNELS):
                k = f32(rng.integers(-90, 90)) + f32(0.5)
                v = mean[c] + k * f32(IN_SCALE) * std[c]
                v = np.nextafter(v, f32(rng.choice([-np.inf, np.inf]))) if rng.random() < 0.5 else v
                vals.append("%.9g" % v)
            f.write("%.3f,%s,%s\n" % (i / 50.0, ",".join(vals), LABELS[(i // 40) % len(LABELS)]))


def host_windows(d, model, rec, out):
    """What the host's `microformer eval` feeds and predicts for every window of recording
    `rec` (microformer.engine.predict_windows, the eval code path): per window the int8
    input bytes (hex) the engine wrote and the predicted class index, into JSON `out`."""
    from microformer import engine

    with open(os.path.join(d, model), "rb") as f:
        tfl = f.read()
    e, x, _, pred = engine.predict_windows(tfl, os.path.join(d, rec))
    norm = e.info["normalization"]
    rows = []
    for w, p in zip(x, pred):
        e.write_window(w, norm["mean"], norm["std"])
        rows.append([bytes(e.m.input(0)).hex(), int(p)])
    with open(os.path.join(d, out), "w") as f:
        json.dump({"model": model, "recording": rec, "windows": rows}, f)


def romfs_image(files, align=16):
    """A ROMFS image (mpremote's record writer) holding files {name: bytes}; with `align`
    each file's data starts at a multiple of `align` bytes from the image start (padding
    records in front of it), so a mapped .tflite can be read in place."""
    from mpremote.romfs import VfsRomWriter

    for pad in range(0, 4 * (align or 1) + 4):
        w = VfsRomWriter()
        offsets_ok = True
        for name, data in files.items():
            if align and pad:
                w._extend(w._pack(VfsRomWriter.ROMFS_RECORD_KIND_PADDING, bytes(pad)))
            w.mkfile(name, data)
        img = w.finalise()
        for name, data in files.items():
            at = img.find(data)
            if align and at % align:
                offsets_ok = False
        if offsets_ok:
            return img
    raise ValueError("could not align the ROMFS data")


def romfs(d, names):
    """rom.img (files 16-byte aligned) and rom_odd.img (mpremote's plain layout, which
    leaves them wherever the records end) holding the named files, for /rom tests."""
    files = {}
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            files[n] = f.read()
    aligned = romfs_image(files, 16)
    plain = romfs_image(files, 0)
    assert plain.find(files[names[0]]) % 4, "expected mpremote's layout to be unaligned here"
    for name, img in (("rom.img", aligned), ("rom_odd.img", plain)):
        with open(os.path.join(d, name), "wb") as f:
            f.write(img)


def build(d):
    try:
        import _uformer

        ops = set(_uformer.OPS)
    except ImportError:
        ops = set()
    unsupported = next(op for op in UNSUPPORTED_CANDIDATES if op not in ops)
    files = {
        "v1.tflite": fc_model(1),
        "v2.tflite": fc_model(2),
        "v3.tflite": fc_model(3),
        "v4.tflite": fc_model(4),
        "wide.tflite": fc_model(5, window=16),
        "relabeled.tflite": fc_model(6, labels=["idle", "wave", "tap"]),
        "big.tflite": fc_model(7, pad=48 * 1024),
        "unsupported.tflite": fc_model(8, extra_op=unsupported),
        # mean 0, std 1, input scale 0.5: x = +-1.25 quantizes from an exact tie (+-2.5)
        "ties.tflite": fc_model(9, in_scale=0.5, mean=[0.0] * 3, std=[1.0] * 3),
        "nometa.tflite": fc_model(10, meta=False),
        "deep.tflite": deep_model(11),
    }
    info = {"unsupported_op": unsupported, "window": WINDOW, "channels": CHANNELS,
            "labels": LABELS, "mean": MEAN, "std": STD, "models": {}}
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        info["models"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    os.makedirs(os.path.join(d, "hostile"), exist_ok=True)
    info["hostile"] = {}
    for name, (data, why) in hostile_models().items():
        with open(os.path.join(d, "hostile", name + ".tflite"), "wb") as f:
            f.write(data)
        info["hostile"][name] = why
    info["accepted"] = []
    for name, data in accepted_models().items():
        with open(os.path.join(d, "hostile", name + ".tflite"), "wb") as f:
            f.write(data)
        info["accepted"].append(name)
    recording(os.path.join(d, "rec.csv"))
    tie_recording(os.path.join(d, "rec_ties.csv"))
    if ops:
        host_windows(d, "v2.tflite", "rec.csv", "rec_host.json")
        host_windows(d, "v2.tflite", "rec_ties.csv", "rec_ties_host.json")
    romfs(d, ["v1.tflite"])
    with open(os.path.join(d, "models.json"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)
    return info


# --- models trained by the project (the hot-swap soak tests) ------------------------------

# A tiny transformer the size users push (the issue-12 report used 30 KB from demo --quick;
# this one is ~36 KB), trained for seconds: its accuracy does not matter, its shape does.
TRAIN_ARGS = ["--window", "32", "--hop", "16", "--d-model", "32", "--heads", "2", "--ffn", "48",
              "--epochs", "2", "--batch", "64", "--seed", "3", "--quiet"]
# Host files whose changes can change the .tflite the cache holds.
_TRAIN_SOURCES = ["models.py", "training.py", "convert.py", "tflite.py", "quant.py", "synth.py",
                  "data.py"]


def _train_key():
    h = hashlib.sha256(json.dumps(TRAIN_ARGS).encode())
    src = os.path.join(HERE, "..", "..", "host", "microformer")
    for name in _TRAIN_SOURCES:
        p = os.path.join(src, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def trained(d, cache=None):
    """trained_a.tflite and trained_b.tflite in d: one model trained by `microformer train`
    + `quantize` on synthetic IMU data, and the same graph with other metadata (so another
    sha256, like a retrained release). Trained once per machine: kept in `cache`
    ($MF_TEST_CACHE, default ~/.cache/microformer-tests) under a key of the training
    arguments and the host sources that shape the file, so a session never retrains."""
    import shutil
    import subprocess

    cache = cache or os.environ.get("MF_TEST_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "microformer-tests")
    key = os.path.join(cache, "trained-" + _train_key())
    a = os.path.join(key, "trained_a.tflite")
    if not os.path.exists(a):
        work = key + ".tmp%d" % os.getpid()
        os.makedirs(work, exist_ok=True)
        py = [sys.executable, "-m", "microformer"]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
        data = os.path.join(work, "data")
        steps = [
            [sys.executable, "-c", "from microformer import synth; synth.generate(%r, seed=0, "
             "recordings_per_label=4, seconds=(5.0, 7.0))" % data],
            py + ["train", data, "--out", os.path.join(work, "m.keras")] + TRAIN_ARGS,
            py + ["quantize", os.path.join(work, "m.keras"), "--calib", data, "--out",
                  os.path.join(work, "trained_a.tflite")],
        ]
        for argv in steps:
            p = subprocess.run(argv, capture_output=True, text=True, env=env)
            if p.returncode != 0:
                raise RuntimeError("training the soak-test model failed: %s\n%s" % (
                    " ".join(argv[:4]), (p.stdout + p.stderr)[-3000:]))
        if os.path.exists(key):
            shutil.rmtree(work)  # another session finished first
        else:
            os.rename(work, key)
    from microformer.convert import get_metadata
    from microformer.tflite import set_metadata

    with open(a, "rb") as f:
        blob_a = f.read()
    meta = json.loads(get_metadata(blob_a))
    meta["model_version"] = 2
    blob_b = set_metadata(blob_a, json.dumps(meta).encode())
    out = {}
    for name, blob in (("trained_a.tflite", blob_a), ("trained_b.tflite", blob_b)):
        with open(os.path.join(d, name), "wb") as f:
            f.write(blob)
        out[name] = {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
    with open(os.path.join(d, "trained.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    return out
