"""Datasets of sensor recordings: loading, windowing, normalization, split, augmentation.

Two on-disk formats (docs/architecture.md, "Contracts"):
- folder: DATA/<label>/*.csv, one recording per file, a header row of channel names;
- stream: CSV file(s) with a `label` column giving each sample's label. DATA may be one
  such file or a folder holding several (each file is one recording).
A `t`/`time`/`timestamp` column is not a channel; it only gives the sample rate (seconds).

Splitting is by recording so no two splits share samples: in the folder format each file is a
unit; in a stream each run of consecutive samples with one label is a unit. Units of every
label are shuffled with a generator seeded by (seed, label name) and dealt into train /
validation / test, so the split does not change when other labels are added.
Training windows never cross a unit; evaluation windows cover whole recordings and take the
majority label of their samples.

NumPy only: no TensorFlow here, the device-side tools reuse it.
"""
import csv
import os
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import DataError

TIME_COLUMNS = ("t", "time", "timestamp")
LABEL_COLUMN = "label"
SPLITS = ("train", "val", "test")
# Fractions of each label's units held back for validation and test (at least one each).
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15


@dataclass
class Recording:
    path: str  # file the samples came from (relative to DATA where possible)
    data: np.ndarray  # (samples, channels) float32
    label: str = None  # folder format: the label of every sample
    sample_labels: np.ndarray = None  # stream format: (samples,) label index per sample


@dataclass
class Unit:
    """A contiguous run of one label inside a recording: the thing the split deals out."""
    recording: int
    start: int
    stop: int
    label: int
    name: str


@dataclass
class Dataset:
    root: str
    kind: str  # "folder" | "stream"
    channels: list
    labels: list  # sorted label names; indices are class ids
    recordings: list
    sample_rate: float = None

    def units(self):
        out = []
        for r_i, r in enumerate(self.recordings):
            if self.kind == "folder":
                out.append(Unit(r_i, 0, len(r.data), self.labels.index(r.label), r.path))
                continue
            lab = r.sample_labels
            edges = np.flatnonzero(np.diff(lab)) + 1
            starts = np.concatenate([[0], edges])
            stops = np.concatenate([edges, [len(lab)]])
            for k, (a, b) in enumerate(zip(starts, stops)):
                out.append(Unit(r_i, int(a), int(b), int(lab[a]), f"{r.path}#{k}"))
        return out

    def n_samples(self):
        return sum(len(r.data) for r in self.recordings)


def _read_csv(path, display):
    """-> (header list, float32 array (rows, cols) of the numeric columns, label column or None)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise DataError(f"{display}: not a text CSV file ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DataError(f"{display}: cannot read ({e.strerror})") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{display}: empty file (expected a header row of channel names)")
    header = [h.strip() for h in rows[0]]
    if any(not h for h in header):
        raise DataError(f"{display}: header row has an empty column name: {rows[0]}")
    lower = [h.lower() for h in header]
    if len(set(lower)) != len(lower):
        dup = sorted({h for h in lower if lower.count(h) > 1})
        raise DataError(f"{display}: duplicate column names {dup}")
    body = rows[1:]
    if not body:
        raise DataError(f"{display}: header only, no samples")
    ncol = len(header)
    for i, r in enumerate(body):
        if len(r) != ncol:
            raise DataError(
                f"{display} line {i + 2}: ragged row with {len(r)} fields, the header has {ncol}")
    label_col = lower.index(LABEL_COLUMN) if LABEL_COLUMN in lower else None
    num_cols = [j for j in range(ncol) if j != label_col]
    labels = None
    if label_col is not None:
        labels = [r[label_col].strip() for r in body]
        for i, v in enumerate(labels):
            if not v:
                raise DataError(f"{display} line {i + 2}: empty label")
    try:
        arr = np.array([[r[j] for j in num_cols] for r in body], dtype=np.float64)
    except ValueError:
        for i, r in enumerate(body):
            for j in num_cols:
                try:
                    float(r[j])
                except ValueError:
                    raise DataError(
                        f"{display} line {i + 2}, column {header[j]!r}: {r[j]!r} is not a number"
                    ) from None
        raise
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(
            f"{display} line {i + 2}, column {header[num_cols[j]]!r}: non-finite value {arr[i, j]}")
    return [header[j] for j in num_cols], arr, labels


def _split_time(header, arr, display):
    """Remove the time column; -> (channels, data, seconds per sample or None)."""
    lower = [h.lower() for h in header]
    tcols = [j for j, h in enumerate(lower) if h in TIME_COLUMNS]
    if len(tcols) > 1:
        raise DataError(f"{display}: more than one time column {[header[j] for j in tcols]}")
    dt = None
    if tcols:
        t = arr[:, tcols[0]]
        if len(t) > 1:
            d = np.diff(t)
            if (d <= 0).any():
                i = int(np.flatnonzero(d <= 0)[0])
                raise DataError(
                    f"{display} line {i + 3}: time column {header[tcols[0]]!r} does not increase "
                    f"({t[i]} then {t[i + 1]})")
            dt = float(np.median(d))
        keep = [j for j in range(len(header)) if j != tcols[0]]
        header = [header[j] for j in keep]
        arr = arr[:, keep]
    if not header:
        raise DataError(f"{display}: no channel columns besides time/label")
    return header, arr.astype(np.float32), dt


def _rel(path, root):
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return path


def load(root, sample_rate=None):
    """Load DATA (folder of label folders, a stream CSV, or a folder of stream CSVs)."""
    if not os.path.exists(root):
        raise DataError(f"data {root} does not exist")
    if os.path.isfile(root):
        files = [root]
        base = os.path.dirname(root) or "."
        return _load_streams(root, files, base, sample_rate)
    entries = sorted(os.listdir(root))
    label_dirs = [e for e in entries if os.path.isdir(os.path.join(root, e)) and not e.startswith(".")]
    top_csv = [os.path.join(root, e) for e in entries if e.lower().endswith(".csv")]
    if label_dirs:
        return _load_folder(root, label_dirs, sample_rate)
    if top_csv:
        return _load_streams(root, top_csv, root, sample_rate)
    raise DataError(
        f"data folder {root} is empty: expected {root}/<label>/*.csv recordings or CSV files "
        f"with a '{LABEL_COLUMN}' column")


def _check_channels(channels, header, display, first):
    if [h.lower() for h in header] != [c.lower() for c in channels]:
        raise DataError(
            f"{display}: columns {header} differ from {first}'s {channels}; every recording "
            "needs the same channels in the same order")


def _rate(dts, sample_rate):
    if sample_rate is not None:
        return float(sample_rate)
    dts = [d for d in dts if d]
    return round(1.0 / float(np.median(dts)), 6) if dts else None


def _load_folder(root, label_dirs, sample_rate):
    recs, channels, first, dts = [], None, None, []
    empty = []
    for lab in label_dirs:
        d = os.path.join(root, lab)
        files = sorted(f for f in os.listdir(d) if f.lower().endswith(".csv"))
        if not files:
            empty.append(lab)
            continue
        for f in files:
            path = os.path.join(d, f)
            disp = _rel(path, root)
            header, arr, labels = _read_csv(path, disp)
            if labels is not None:
                raise DataError(
                    f"{disp}: has a '{LABEL_COLUMN}' column inside label folder {lab!r}; use "
                    "either label folders or a stream CSV with a label column, not both")
            header, arr, dt = _split_time(header, arr, disp)
            if channels is None:
                channels, first = header, disp
            _check_channels(channels, header, disp, first)
            dts.append(dt)
            recs.append(Recording(disp, arr, label=lab))
    if not recs:
        raise DataError(
            f"data folder {root}: label folders {label_dirs} contain no .csv recordings")
    if empty:
        raise DataError(
            f"data folder {root}: label folder(s) {empty} contain no .csv recordings "
            f"(other labels have {len(recs)} recordings)")
    labels = sorted({r.label for r in recs})
    return Dataset(root, "folder", channels, labels, recs, _rate(dts, sample_rate))


def _load_streams(root, files, base, sample_rate):
    raw, channels, first, dts = [], None, None, []
    for path in files:
        disp = _rel(path, base)
        header, arr, labels = _read_csv(path, disp)
        if labels is None:
            raise DataError(
                f"{disp}: no '{LABEL_COLUMN}' column; a stream CSV labels every sample (or use "
                "DATA/<label>/*.csv folders)")
        header, arr, dt = _split_time(header, arr, disp)
        if channels is None:
            channels, first = header, disp
        _check_channels(channels, header, disp, first)
        dts.append(dt)
        raw.append((disp, arr, labels))
    names = sorted({v for _, _, lab in raw for v in lab})
    index = {n: i for i, n in enumerate(names)}
    recs = [Recording(d, a, sample_labels=np.array([index[v] for v in lab], dtype=np.int32))
            for d, a, lab in raw]
    return Dataset(root, "stream", channels, names, recs, _rate(dts, sample_rate))


def align_channels(ds, channels):
    """Reorder ds's channels to `channels` (a model's), or a DataError naming the mismatch."""
    have = [c.lower() for c in ds.channels]
    want = [c.lower() for c in channels]
    if have == want:
        return ds
    if len(have) != len(want):
        raise DataError(
            f"{ds.root} has {len(have)} channels {ds.channels}, the model expects {len(want)} "
            f"{list(channels)}")
    if sorted(have) != sorted(want):
        missing = [c for c in channels if c.lower() not in have]
        extra = [c for c in ds.channels if c.lower() not in want]
        raise DataError(
            f"{ds.root} channels {ds.channels} do not match the model's {list(channels)}: "
            f"missing {missing}, unexpected {extra}")
    order = [have.index(c) for c in want]
    for r in ds.recordings:
        r.data = np.ascontiguousarray(r.data[:, order])
    ds.channels = [ds.channels[i] for i in order]
    return ds


def align_labels(ds, labels):
    """Re-index ds's labels to a model's label list; unknown labels are an error."""
    unknown = [l for l in ds.labels if l not in labels]
    if unknown:
        raise DataError(
            f"{ds.root} has label(s) {unknown} the model does not know; model labels: {list(labels)}")
    remap = np.array([labels.index(l) for l in ds.labels], dtype=np.int32)
    for r in ds.recordings:
        if r.sample_labels is not None:
            r.sample_labels = remap[r.sample_labels]
    ds.labels = list(labels)
    return ds


def n_windows(length, window, hop):
    return 0 if length < window else 1 + (length - window) // hop


def frame(x, window, hop):
    """(samples, channels) -> (n, window, channels) view, windows starting at 0, hop, 2*hop..."""
    n = n_windows(len(x), window, hop)
    if n == 0:
        return np.zeros((0, window, x.shape[1]), dtype=x.dtype)
    s0, s1 = x.strides
    return np.lib.stride_tricks.as_strided(x, (n, window, x.shape[1]), (hop * s0, s0, s1),
                                           writeable=False)


def _majority(lab, window, hop, n_classes):
    n = n_windows(len(lab), window, hop)
    out = np.empty(n, dtype=np.int32)
    for i in range(n):
        # Ties go to the lower class index (np.argmax picks the first maximum).
        out[i] = int(np.argmax(np.bincount(lab[i * hop:i * hop + window], minlength=n_classes)))
    return out


def check_window(window, hop):
    if not isinstance(window, int) or window < 1:
        raise DataError(f"window must be a positive number of samples, got {window!r}")
    if not isinstance(hop, int) or hop < 1:
        raise DataError(f"hop must be a positive number of samples, got {hop!r}")


def recording_windows(ds, window, hop, event=None):
    """Every recording windowed whole: (x (n, window, ch) float32, y (n,) int32, recording ids).

    With `event` (a model's {"length", "fit"}) every recording is one example instead.
    """
    if event:
        return _event_examples(ds, range(len(ds.recordings)), event)
    check_window(window, hop)
    xs, ys, rid = [], [], []
    longest = max(len(r.data) for r in ds.recordings)
    if longest < window:
        raise DataError(
            f"window {window} is longer than every recording in {ds.root} (longest: {longest} samples)")
    for i, r in enumerate(ds.recordings):
        w = frame(r.data, window, hop)
        if r.sample_labels is not None:
            y = _majority(r.sample_labels, window, hop, len(ds.labels))
        else:
            y = np.full(len(w), ds.labels.index(r.label), dtype=np.int32)
        xs.append(np.array(w))
        ys.append(y)
        rid.append(np.full(len(w), i, dtype=np.int32))
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys), np.concatenate(rid))


def split_units(ds, seed, test_fraction=TEST_FRACTION):
    """Deal each label's units into train/val/test; -> {split: [Unit, ...]}.

    test_fraction 0 holds nothing back for test (the caller evaluates on other data).
    """
    units = ds.units()
    by_label = {}
    for u in units:
        by_label.setdefault(u.label, []).append(u)
    out = {s: [] for s in SPLITS}
    for lab in range(len(ds.labels)):
        us = sorted(by_label.get(lab, []), key=lambda u: u.name)
        name = ds.labels[lab]
        what = "recordings" if ds.kind == "folder" else "labelled runs"
        need = 3 if test_fraction > 0 else 2
        if len(us) < need:
            parts = "train, validation, test" if need == 3 else "train, validation"
            raise DataError(
                f"label {name!r} has {len(us)} {what}; splitting by recording needs at least "
                f"{need} ({parts}) so no window is in two splits: record more of {name!r}")
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        order = rng.permutation(len(us))
        n_val = max(1, int(round(len(us) * VAL_FRACTION)))
        n_test = max(1, int(round(len(us) * test_fraction))) if test_fraction > 0 else 0
        parts = {"val": order[:n_val], "test": order[n_val:n_val + n_test],
                 "train": order[n_val + n_test:]}
        for s, idx in parts.items():
            out[s].extend(us[i] for i in sorted(idx))
    return out


def unit_windows(ds, units, window, hop):
    """Windows inside units (never across a unit boundary): (x, y, unit index)."""
    check_window(window, hop)
    xs, ys, uid = [], [], []
    for k, u in enumerate(units):
        seg = ds.recordings[u.recording].data[u.start:u.stop]
        w = frame(seg, window, hop)
        xs.append(np.array(w))
        ys.append(np.full(len(w), u.label, dtype=np.int32))
        uid.append(np.full(len(w), k, dtype=np.int32))
    if not xs:
        return (np.zeros((0, window, len(ds.channels)), np.float32), np.zeros(0, np.int32),
                np.zeros(0, np.int32))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys), np.concatenate(uid)


@dataclass
class Splits:
    x: dict  # split -> (n, window, channels) raw float32
    y: dict  # split -> (n,) int32
    units: dict  # split -> [Unit]
    short: list  # names of units shorter than the window (they give no windows)


def make_splits(ds, window, hop, seed, event=None, test_fraction=TEST_FRACTION):
    """Split by unit, window each split, and check every label has windows in every split.

    event: {"length", "fit"} for event data (one example per recording, fitted to length).
    test_fraction 0: the test split is empty (evaluation happens on other recordings).
    """
    if event:
        parts = split_units(ds, seed, test_fraction)
        xs, ys = {}, {}
        for s in SPLITS:
            xs[s], ys[s], _ = _event_examples(ds, [u.recording for u in parts[s]], event)
        return Splits(xs, ys, parts, [])
    check_window(window, hop)
    lengths = [u.stop - u.start for u in ds.units()]
    if max(lengths) < window:
        what = "recording" if ds.kind == "folder" else "labelled run"
        raise DataError(
            f"window {window} is longer than every {what} in {ds.root} (longest: {max(lengths)} "
            "samples); use a shorter --window")
    parts = split_units(ds, seed, test_fraction)
    xs, ys = {}, {}
    for s in SPLITS:
        xs[s], ys[s], _ = unit_windows(ds, parts[s], window, hop)
        if s == "test" and not test_fraction:
            continue
        counts = np.bincount(ys[s], minlength=len(ds.labels))
        missing = [ds.labels[i] for i in range(len(ds.labels)) if counts[i] == 0]
        if missing:
            short = [u for u in parts[s] if u.label in [ds.labels.index(m) for m in missing]]
            raise DataError(
                f"the {s} split has no {window}-sample windows for label(s) {missing}: their "
                f"{len(short)} recording(s) there are shorter than the window "
                f"({', '.join(f'{u.name}: {u.stop - u.start}' for u in short[:4])}); use a "
                "shorter --window or longer recordings")
    short = [u.name for s in SPLITS for u in parts[s] if u.stop - u.start < window]
    return Splits(xs, ys, parts, short)


def check_channels_vary(ds):
    """A DataError when every channel is constant over all recordings (nothing to learn)."""
    flat = np.concatenate([r.data for r in ds.recordings])
    spread = flat.max(axis=0) - flat.min(axis=0)
    if not (spread > 0).any():
        raise DataError(
            f"{ds.root}: every channel is constant over all {len(ds.recordings)} recordings "
            f"({', '.join(f'{c}={flat[0, i]:g}' for i, c in enumerate(ds.channels[:6]))}); "
            "check that the sensor was recording")
    return [c for c, v in zip(ds.channels, spread) if v == 0]


def fingerprint(x):
    """8 hex digits naming a recording's samples (crc32 of its float32 bytes)."""
    return f"{zlib.crc32(np.ascontiguousarray(x, dtype=np.float32).tobytes()):08x}"


def fingerprints(ds, units):
    """The training recordings' fingerprints as one string (8 hex digits each, sorted), so
    `microformer eval` can say when its data overlaps them. Stream runs are fingerprinted
    by their samples, so a run cut from the same recording matches."""
    fps = sorted({fingerprint(ds.recordings[u.recording].data[u.start:u.stop]) for u in units})
    return "".join(fps)


def overlap(ds, fps):
    """Recordings (or labelled runs) of ds whose samples are among the fingerprints `fps`."""
    have = {fps[i:i + 8] for i in range(0, len(fps or ""), 8)}
    return [u.name for u in ds.units()
            if fingerprint(ds.recordings[u.recording].data[u.start:u.stop]) in have]


def fit_normalization(x):
    """Per-channel mean/std over all samples of (n, window, channels) training windows."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    # A constant channel would divide by zero; leaving it unscaled keeps it at 0 after centering.
    std = np.where(std > 1e-6 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return mean.astype(np.float32).tolist(), std.astype(np.float32).tolist()


# Heavy tails: a few spikes stretch the standardized range, and the int8 input's step with
# it. ACSF1 (appliance power) spans -1.75..13.9 std, 2.2x the span of its 0.1..99.9th
# percentiles (-1.5..5.7): 0.06 std per input code. Its int8 model lost 3-4 points to
# float (0.80 vs 0.83, 0.78 vs 0.82); with the input over the percentile range, clipped
# and quantized the same way in training, 0.81, 0.82 and 0.77 over three seeds (float
# within 0.02 of each; quantized in training over the full range: 0.75, 0.80, 0.73).
# The other benchmark sets span 1.04-1.37x their percentile range
# and keep their full range untouched (ArrowHead with the same treatment: 0.78, 0.82,
# 0.75 over three seeds, without: 0.82, 0.82, 0.78).
INPUT_RANGE_PERCENTILE = 0.1
HEAVY_TAIL_SPAN = 1.5


def input_range(x, mean, std):
    """-> ([lo, hi] or None, reason): the range the int8 input is calibrated to when the
    standardized windows x (n, window, channels) have heavy tails (their min..max span more
    than HEAVY_TAIL_SPAN times the INPUT_RANGE_PERCENTILE..100-it percentile span): the
    percentile range, widened to contain 0 (as activation ranges are). None: the full range,
    as calibration finds it."""
    z = (np.asarray(x, np.float64) - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)
    if not z.size:
        return None, "no examples"
    lo, hi = np.percentile(z, [INPUT_RANGE_PERCENTILE, 100.0 - INPUT_RANGE_PERCENTILE])
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    span = max(float(z.max()), 0.0) - min(float(z.min()), 0.0)
    if hi - lo <= 0 or span <= HEAVY_TAIL_SPAN * (hi - lo):
        return None, f"standardized {float(z.min()):.2f}..{float(z.max()):.2f}, all of it"
    clipped = float(np.mean((z < lo) | (z > hi)))
    return [lo, hi], (f"heavy tails: standardized {float(z.min()):.2f}..{float(z.max()):.2f} "
                      f"({span / (hi - lo):.1f}x the span of the {100 - 2 * INPUT_RANGE_PERCENTILE:g}% "
                      f"in {lo:.2f}..{hi:.2f}): the int8 input covers {lo:.2f}..{hi:.2f}, "
                      f"{clipped * 100:.2f}% of values saturate (in training too)")


def default_window(ds):
    """About two seconds when the sample rate is known (64 samples otherwise), a multiple of
    8, and at most half the median unit so each unit yields a few windows."""
    w = 64
    if ds.sample_rate:
        w = int(round(2.0 * ds.sample_rate / 8.0)) * 8
        w = min(256, max(16, w))
    med = float(np.median([u.stop - u.start for u in ds.units()]))
    cap = int(med // 2) // 8 * 8
    if cap >= 8:
        w = min(w, cap)
    return w


# ---- events: one example per recording ------------------------------------------------------
# A folder of short takes (a gesture, an utterance, a pre-cut series) is a set of events: each
# file is one example, brought to one length. Longer recordings are streams cut into windows.

MODES = ("stream", "events")
EVENT_FITS = ("resample", "pad")
# A recording up to this long (seconds, when a time column gives the rate) is an event.
EVENT_MAX_SECONDS = 5.0
# Without a rate: recordings whose median is at most this many samples are events, and so are
# recordings that all have the same length (pre-cut examples, as in the UCR archive).
EVENT_MAX_SAMPLES = 256
# Event inputs longer than this are resampled down: the model's cost (and its first conv's
# activations, 16 * length bytes) grows with the length. 1024 keeps the default convformer's
# arena under 32 KB; ACSF1 (1460 samples of a high-frequency power signal) scored 0.69 at 512
# and 0.82 at 1024 (float, UCR split): linear resampling aliases such signals.
EVENT_MAX_LENGTH = 1024
# Event lengths from 64 samples up are rounded to a multiple of this: the convformer's 16
# tokens then take a patch divisible by 4, so both early stem blocks halve the sequence and
# no sample is cropped. ArrowHead (251 samples: patch 15, no early pooling, 11 cropped)
# scored 0.79 mean over two seeds at 251 and 0.83 at 256 (float, UCR split).
EVENT_LENGTH_STEP = 64


def event_length(q, up=False):
    """The event length for a wanted q samples: a multiple of 8 (rounded up) below
    EVENT_LENGTH_STEP, else the nearest multiple of EVENT_LENGTH_STEP (`up`: the next one,
    so padded takes of q samples fit whole), at most EVENT_MAX_LENGTH."""
    if q < EVENT_LENGTH_STEP:
        return int(max(8, int(np.ceil(q / 8.0)) * 8))
    step = EVENT_LENGTH_STEP
    k = np.ceil(q / step) if up else np.round(q / step)
    return int(min(EVENT_MAX_LENGTH, max(step, int(k) * step)))


def decide_mode(ds, force=None):
    """-> ("events" | "stream", reason) from the recording lengths; `force` overrides."""
    lengths = np.array([len(r.data) for r in ds.recordings])
    med = float(np.median(lengths))
    if force is not None:
        if force not in MODES:
            raise DataError(f"mode must be one of {MODES}, got {force!r}")
        if force == "events" and ds.kind != "folder":
            raise DataError(
                f"{ds.root} is a stream with a '{LABEL_COLUMN}' column; events need one file "
                "per example in DATA/<label>/*.csv")
        return force, f"{force} (forced), median recording {med:g} samples"
    if ds.kind != "folder":
        return "stream", f"a '{LABEL_COLUMN}' column labels every sample"
    if ds.sample_rate:
        secs = med / ds.sample_rate
        if secs <= EVENT_MAX_SECONDS:
            return "events", (f"median recording {med:g} samples = {secs:.2g} s at "
                              f"{ds.sample_rate:g} Hz, at most {EVENT_MAX_SECONDS:g} s")
        return "stream", (f"median recording {med:g} samples = {secs:.3g} s at "
                          f"{ds.sample_rate:g} Hz, longer than {EVENT_MAX_SECONDS:g} s")
    if lengths.min() == lengths.max():
        return "events", f"every recording has {int(med)} samples: pre-cut examples"
    if med <= EVENT_MAX_SAMPLES:
        return "events", f"median recording {med:g} samples, at most {EVENT_MAX_SAMPLES}"
    return "stream", f"median recording {med:g} samples, lengths {lengths.min()}-{lengths.max()}"


def fit_event(x, length, fit):
    """One recording (samples, channels) -> (length, channels) float32; the device's
    uformer.EventWindow does the same arithmetic (float64, then stored as float32).

    resample: linear interpolation at positions i * (n - 1) / (length - 1), computed with
      integers so both sides pick the same neighbours (n == 1 repeats the sample);
    pad: the first `length` samples, and a shorter take is continued with its last sample.
    """
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    if n == 0:
        raise DataError("an event has no samples")
    if fit == "pad":
        if n >= length:
            return np.ascontiguousarray(x[:length])
        return np.concatenate([x, np.repeat(x[-1:], length - n, axis=0)])
    if fit != "resample":
        raise DataError(f"event fit must be one of {EVENT_FITS}, got {fit!r}")
    if n == 1 or length == 1:
        return np.repeat(x[:1], length, axis=0)
    num = np.arange(length, dtype=np.int64) * (n - 1)
    j = num // (length - 1)
    r = num - j * (length - 1)
    j1 = np.minimum(j + 1, n - 1)
    a = x[j].astype(np.float64)
    b = x[j1].astype(np.float64)
    f = (r.astype(np.float64) / (length - 1))[:, None]
    return (a + (b - a) * f).astype(np.float32)


def _loo_1nn(x, y, query=None):
    """Leave-one-out 1-NN accuracy (Euclidean) of examples (n, ...) with labels y; with
    `query` (a changed copy of x, same order), of query[i] against x without x[i]."""
    f = x.reshape(len(x), -1).astype(np.float64)
    q = f if query is None else query.reshape(len(query), -1).astype(np.float64)
    d = (q * q).sum(1)[:, None] + (f * f).sum(1)[None, :] - 2.0 * q @ f.T
    np.fill_diagonal(d, np.inf)
    return float(np.mean(y[np.argmin(d, axis=1)] == y))


def event_spec(ds, units=None):
    """Choose the event length and fit from the recordings (by default all of them).

    Length: every recording's length when they agree, else the median (resample) or the
    90th percentile (pad: most takes fit whole), rounded by event_length.
    Fit: when lengths differ, the one whose examples a leave-one-out 1-NN classifies better
    (on training recordings, per-channel standardized): a measurement of which shaping
    keeps the classes apart, cheap enough to run before every training.
    -> ({"length": L, "fit": F}, reason)
    """
    recs = [ds.recordings[u.recording] for u in units] if units is not None else ds.recordings
    labs = np.array([ds.labels.index(r.label) for r in recs])
    lengths = np.array([len(r.data) for r in recs])
    if lengths.min() == lengths.max():
        n = int(lengths[0])
        L = n if n < EVENT_LENGTH_STEP else event_length(n)
        if L == n:
            return {"length": n, "fit": "pad"}, f"length {n}"
        return {"length": L, "fit": "resample"}, f"resampled from {n} to {L} samples"
    flat = np.concatenate([r.data for r in recs])
    mean, std = flat.mean(0), np.where(flat.std(0) > 0, flat.std(0), 1.0)

    def length_for(fit):
        if fit == "resample":
            return event_length(np.median(lengths))
        return event_length(np.percentile(lengths, 90), up=True)

    scores = {}
    for fit in EVENT_FITS:
        L = length_for(fit)
        ex = np.stack([fit_event((r.data - mean) / std, L, fit) for r in recs])
        scores[fit] = _loo_1nn(ex, labs)
    fit = max(EVENT_FITS, key=lambda k: (scores[k], k == "resample"))
    other = [k for k in EVENT_FITS if k != fit][0]
    return ({"length": length_for(fit), "fit": fit},
            f"lengths {lengths.min()}-{lengths.max()}, {fit} to {length_for(fit)} "
            f"(1-NN leave-one-out {scores[fit]:.2f} vs {other} {scores[other]:.2f})")


def _event_examples(ds, rec_ids, event):
    """Recordings -> one fitted example each: (x (n, L, ch), y (n,), recording ids)."""
    rec_ids = list(rec_ids)
    L, fit = int(event["length"]), event["fit"]
    if not rec_ids:
        return (np.zeros((0, L, len(ds.channels)), np.float32), np.zeros(0, np.int32),
                np.zeros(0, np.int32))
    for i in rec_ids:
        if ds.recordings[i].label is None:
            raise DataError(
                f"{ds.recordings[i].path}: events need label folders (DATA/<label>/*.csv)")
    x = np.stack([fit_event(ds.recordings[i].data, L, fit) for i in rec_ids])
    y = np.array([ds.labels.index(ds.recordings[i].label) for i in rec_ids], dtype=np.int32)
    return x, y, np.array(rec_ids, dtype=np.int32)


# ---- augmentation -------------------------------------------------------------------------

AUGMENTS = {
    # name: (default strength, meaning)
    "jitter": (0.05, "Gaussian noise, sigma in channel standard deviations"),
    "scaling": (0.1, "per-channel gain 1 + N(0, s)"),
    "time-warp": (0.2, "smooth random speed change up to +-s (fraction of the nominal rate)"),
    "channel-dropout": (0.1, "probability that a channel is replaced by its mean"),
    "rotate": (90.0, "random 3-D rotation up to s degrees of each x/y/z channel triplet "
                     "(accelerometer, gyroscope: another mounting of the same sensor)"),
    "mixup": (0.2, "each example mixed with another of its batch, labels alike, by a weight "
                   "w ~ Beta(s, s) with the larger part on the example (mixup)"),
    "shift": (0.1, "time shift by up to +-s of the window, the edge sample repeated (events: "
                   "where the trigger caught them)"),
}
# Augmentations that "all" and "auto" include only for events (one example per file): a
# stream's windows already start anywhere (the hop), an event's at its trigger. Measured
# on benchmarks/accuracy.py --seeds 3, int8 mean (UCR split, shift 0.1): ACSF1 0.793 ->
# 0.863 (the appliances' cycles start anywhere in the recorded hour), ArrowHead 0.850 ->
# 0.851, OSULeaf 0.934 -> 0.933, ItalyPowerDemand 0.961 -> 0.949 (hourly values of one
# day: a position is an hour there); IMU (streams) unchanged.
EVENT_AUGMENTS = ("shift",)
# AUGMENTS' maximum strength (channel-dropout is a probability, rotate is in degrees, mixup
# is Beta's parameter: above 1 most mixes are near half and half; a shift beyond half the
# window leaves mostly repeated edge samples).
_AUG_MAX = {"channel-dropout": 1.0, "rotate": 180.0, "mixup": 2.0, "shift": 0.5}


def rotation_groups(channels):
    """Index triplets of channels named <p>x, <p>y, <p>z (ax ay az, gyro_x ...): the axes
    of one 3-D sensor, which "rotate" turns together."""
    low = [c.lower() for c in channels]
    out = []
    for i, c in enumerate(low):
        if c.endswith("x"):
            p = c[:-1]
            try:
                out.append((i, low.index(p + "y"), low.index(p + "z")))
            except ValueError:
                continue
    return out


def _rotations(rng, n, max_deg):
    """n random rotation matrices: axis uniform on the sphere, angle uniform in +-max_deg."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    ang = np.radians(rng.uniform(-max_deg, max_deg, size=n))
    k = np.zeros((n, 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(0, 2, 1)
    s, c = np.sin(ang)[:, None, None], np.cos(ang)[:, None, None]
    return np.eye(3)[None] + s * k + (1 - c) * (k @ k)


def parse_augment(spec, events=False):
    """'jitter,scaling=0.2' | 'all' | 'auto' | 'none' | '' -> {name: strength}. events:
    whether the examples are events, for which "all" and "auto" add EVENT_AUGMENTS."""
    if spec is None:
        return {}
    s = spec.strip().lower()
    if s in ("", "none", "off"):
        return {}
    if s in ("all", "auto"):
        # "auto" is "all" whose shape augmentations resolve_augment then checks on the data.
        return {k: v[0] for k, v in AUGMENTS.items() if events or k not in EVENT_AUGMENTS}
    out = {}
    for part in s.split(","):
        name, _, val = part.strip().partition("=")
        name = name.strip().replace("_", "-")
        if name not in AUGMENTS:
            raise DataError(f"unknown augmentation {name!r}: use {', '.join(AUGMENTS)}, all or none")
        if val:
            try:
                v = float(val)
            except ValueError:
                raise DataError(f"augmentation {name}={val!r}: not a number") from None
        else:
            v = AUGMENTS[name][0]
        if not (0.0 <= v <= _AUG_MAX.get(name, 10.0)):
            raise DataError(f"augmentation {name}={v} is out of range")
        out[name] = v
    return out


def augment(x, aug, mean, std, rng, groups=()):
    """Augmented copy of raw windows x (n, window, channels); mean/std are per channel;
    groups: channel triplets that "rotate" turns (rotation_groups)."""
    if not aug:
        return x
    x = np.array(x, dtype=np.float32, copy=True)
    n, w, c = x.shape
    if aug.get("rotate", 0) > 0 and groups:
        # One rotation per example for every sensor: they share the mounting.
        r = _rotations(rng, n, aug["rotate"]).astype(np.float32)
        for g in groups:
            g = list(g)
            x[:, :, g] = np.einsum("nij,ntj->nti", r, x[:, :, g])
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    if "time-warp" in aug and aug["time-warp"] > 0:
        s = aug["time-warp"]
        # Speed follows a smooth curve through 4 random knots; resampling keeps the length.
        knots = 1.0 + rng.uniform(-s, s, size=(n, 4))
        grid = np.linspace(0, 3, w)
        speed = np.stack([np.interp(grid, np.arange(4), k) for k in knots])
        t = np.cumsum(speed, axis=1)
        t = (t - t[:, :1]) / np.maximum(t[:, -1:] - t[:, :1], 1e-9) * (w - 1)
        base = np.arange(w)
        for i in range(n):
            for j in range(c):
                x[i, :, j] = np.interp(t[i], base, x[i, :, j])
    if "scaling" in aug and aug["scaling"] > 0:
        x = mean + (x - mean) * (1.0 + rng.normal(0, aug["scaling"], size=(n, 1, c))).astype(np.float32)
    if "jitter" in aug and aug["jitter"] > 0:
        x = x + rng.normal(0, aug["jitter"], size=x.shape).astype(np.float32) * std
    if "channel-dropout" in aug and aug["channel-dropout"] > 0 and c > 1:
        # With one channel, dropping it blanks the example while its label stays.
        drop = rng.random((n, 1, c)) < aug["channel-dropout"]
        x = np.where(drop, mean, x)
    m = int(aug.get("shift", 0) * w)
    if m > 0:
        # Sample t of the shifted example is sample t - s of the original, clipped to its ends.
        s = rng.integers(-m, m + 1, size=(n, 1))
        t = np.clip(np.arange(w)[None, :] - s, 0, w - 1)
        x = np.take_along_axis(x, t[:, :, None], axis=1)
    return x.astype(np.float32)


def mixup(x, y, w, alpha, rng):
    """Batch x (n, window, channels) with its one-hot labels y (n, classes) and sample
    weights w (n,), each example mixed with a random other one of the batch by a weight
    lam ~ Beta(alpha, alpha), max(lam, 1 - lam) on the example itself so that it stays the
    larger part. -> (x, y, w) mixed alike; labels stay distributions (rows sum to 1)."""
    n = len(x)
    lam = rng.beta(alpha, alpha, size=(n, 1, 1)).astype(np.float32)
    lam = np.maximum(lam, 1.0 - lam)
    other = rng.permutation(n)
    ly = lam[:, :, 0]
    return (lam * x + (1.0 - lam) * x[other], ly * y + (1.0 - ly) * y[other],
            lam[:, 0, 0] * w + (1.0 - lam[:, 0, 0]) * w[other])


# Augmentations that change the signal's shape, which check_augment tests on the data. rotate
# and channel-dropout model the sensor setup (another mounting, a lost sensor), and mixup
# regularizes the classifier (measured in training.py's notes), which no measurement on the
# recordings can judge; they stay as asked.
SHAPE_AUGMENTS = ("jitter", "scaling", "time-warp")
# An augmentation is kept at the strongest of its strength, 1/2 and 1/4 of it under which
# 1-NN still finds a same-label neighbour for augmented training examples at least this
# share as often as for clean ones (both measured above chance). Euclidean 1-NN is far more
# sensitive to misalignment than the convolutional stem, so only an augmentation that wipes
# out most of the class structure is dropped. Measured on the benchmark sets (share at the
# default strength; float accuracy of the model, UCR split):
# - ACSF1 (appliance power: level and rhythm): time-warp 0.13-0.19 at every strength, off;
#   no augmentation 0.84, jitter + scaling + time-warp 0.80 (train accuracy 0.86);
# - ArrowHead (outlines): time-warp 0.69-0.74, kept: without it 0.66/0.81, with it 0.83/0.83;
# - OSULeaf, ItalyPowerDemand: >= 0.92 under every default.
AUG_KEEP = 0.5
AUG_CHECK_MAX = 1000  # examples (a random subset above this; the distance matrix is n x n)
AUG_CHECK_DRAWS = 4  # augmented copies averaged per strength


def check_augment(x, y, aug, mean, std, seed=0, groups=()):
    """Measure which shape augmentations keep the classes apart on these examples.

    x: raw training examples (n, window, channels); y: labels. Returns (aug', lines): aug
    with SHAPE_AUGMENTS weakened or dropped where the measure says they destroy the label,
    and one line per checked augmentation saying what was kept and why.
    """
    checked = [k for k in SHAPE_AUGMENTS if aug.get(k, 0) > 0]
    if not checked or len(x) < 4 or len(set(y.tolist())) < 2:
        return dict(aug), []
    rng = np.random.default_rng(seed)
    if len(x) > AUG_CHECK_MAX:
        pick = rng.choice(len(x), AUG_CHECK_MAX, replace=False)
        x, y = x[pick], y[pick]
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    z = (x - mean) / std
    chance = 1.0 / len(set(y.tolist()))
    base = _loo_1nn(z, y)
    if base - chance <= 0.05:
        # 1-NN on raw samples cannot tell the classes apart: no measure of what hurts them.
        return dict(aug), [f"augmentation: kept as asked (1-NN leave-one-out {base:.2f} is "
                           f"near chance {chance:.2f}, nothing to measure against)"]
    out, lines = dict(aug), []
    for name in checked:
        s0, kept, tried = aug[name], 0.0, []
        for s in (s0, s0 / 2, s0 / 4):
            acc = np.mean([_loo_1nn(z, y, (augment(x, {name: s}, mean, std, rng, groups)
                                            - mean) / std) for _ in range(AUG_CHECK_DRAWS)])
            share = (acc - chance) / (base - chance)
            tried.append(f"{s:g}: {share:.2f}")
            if share >= AUG_KEEP:
                kept = s
                break
        if kept:
            out[name] = kept
        else:
            del out[name]
        what = f"{name} {kept:g}" if kept else f"{name} off"
        lines.append(f"augmentation: {what} (share of 1-NN leave-one-out kept, by strength: "
                     + ", ".join(tried) + f"; needs {AUG_KEEP:g})")
    return out, lines


def resolve_augment(spec, x, y, mean, std, seed=0, groups=(), events=False):
    """The augmentation to train with: spec parsed (events: the examples are events, see
    parse_augment); "auto" also measured on (x, y) by check_augment. -> ({name: strength},
    lines to print)"""
    aug = parse_augment(spec, events)
    s = (spec or "").strip().lower()
    lines = []
    if s in ("all", "auto") and aug.get("shift", 0) > 0:
        lines.append(f"augmentation: shift {aug['shift']:g} (events: each moved by up to "
                     f"{aug['shift']:.0%} of its length in training, as a trigger's timing "
                     "varies; an --augment list without shift turns it off)")
    if s != "auto":
        return aug, lines
    # What cannot apply is left out, so the metadata names what training did.
    if not groups:
        aug.pop("rotate", None)
    if x.shape[2] == 1:
        aug.pop("channel-dropout", None)
    aug, checked = check_augment(x, y, aug, mean, std, seed, groups)
    return aug, checked + lines


def format_augment(aug):
    """{name: strength} -> 'jitter=0.05,scaling=0.1' (parse_augment reads it back)."""
    return ",".join(f"{k}={v:g}" for k, v in aug.items()) or "none"


def describe(ds):
    per = {}
    for u in ds.units():
        per[ds.labels[u.label]] = per.get(ds.labels[u.label], 0) + 1
    what = "recordings" if ds.kind == "folder" else "runs"
    return (f"{ds.root}: {len(ds.recordings)} file(s), {ds.n_samples()} samples, "
            f"{len(ds.channels)} channels, labels " +
            ", ".join(f"{k} ({v} {what})" for k, v in per.items()))


__all__ = [
    "Dataset", "Recording", "Unit", "Splits", "load", "align_channels", "align_labels",
    "frame", "recording_windows", "split_units", "unit_windows", "make_splits",
    "fit_normalization", "input_range", "default_window", "decide_mode", "event_spec", "fit_event", "MODES",
    "EVENT_FITS", "parse_augment", "augment", "mixup", "check_augment", "resolve_augment", "format_augment", "AUGMENTS", "describe",
]
