"""Accuracy of the CLI defaults on small real recordings, next to MiniRocket and 1-NN.

For each set: write the recordings as DATA/<label>/*.csv (one file per series, as a user's
takes would be), run `microformer train DATA/train --out m.keras --test-fraction 0` with no
model or window flags, `microformer quantize`, then score the float model (TensorFlow) and
the int8 model on the engine on the set's test recordings. MiniRocket (aeon) and 1-NN
Euclidean get the same train/test examples in the same run. Prints a markdown table.

Sets: the UCR archive sets that the `aeon` wheel bundles (ArrowHead, ItalyPowerDemand,
OSULeaf, ACSF1; read from the .ts files inside the wheel, no network), and microformer's
synthetic IMU set (streams: test = recordings generated with another seed; the baselines
get the model's windows).

    pip install -e ".[bench]"
    python benchmarks/accuracy.py                      # all sets (~15 min on 2 cores)
    python benchmarks/accuracy.py --sets ArrowHead     # one set
    python benchmarks/accuracy.py --seeds 3            # also --seed 1 and 2: the spread

With 36-200 training series a different seed moves a set by 2-5 points; --seeds N adds a
table of each set's int8 and float mean (min-max) over seeds 0..N-1 (N times the time).

`--test-fraction 0` is a split flag, not a model flag: these sets come with their own test
recordings, so nothing of TRAIN is held back (MiniRocket and 1-NN see all of TRAIN too).
"""
import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

UCR = ("ArrowHead", "ItalyPowerDemand", "OSULeaf", "ACSF1")
SETS = UCR + ("IMU",)


def ucr_split(name, split):
    """-> ([series (length, channels) float32], labels) from the .ts file inside aeon."""
    import aeon
    from aeon.datasets import load_from_ts_file

    path = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data", name,
                        f"{name}_{split}.ts")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: this aeon wheel does not bundle {name}")
    x, y = load_from_ts_file(path)
    return [np.asarray(s, np.float32).T for s in x], [str(v) for v in y]


def write_folder(series, labels, out):
    """One CSV per series in out/<label>/, a header of channel names (no time column)."""
    for i, (x, lab) in enumerate(zip(series, labels)):
        d = os.path.join(out, f"class_{lab}")
        os.makedirs(d, exist_ok=True)
        header = ",".join(f"ch{j}" for j in range(x.shape[1]))
        np.savetxt(os.path.join(d, f"{i:04d}.csv"), x, delimiter=",", header=header,
                   comments="", fmt="%.7g")


def cli(*argv):
    """Run one microformer verb in this process; -> (exit code, stdout)."""
    from microformer.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(list(argv))
    return code, buf.getvalue()


def one_nn(xtr, ytr, xte, yte):
    a = xtr.reshape(len(xtr), -1).astype(np.float64)
    b = xte.reshape(len(xte), -1).astype(np.float64)
    d = (b * b).sum(1)[:, None] + (a * a).sum(1)[None, :] - 2.0 * b @ a.T
    return float(np.mean(ytr[np.argmin(d, axis=1)] == yte))


def minirocket(xtr, ytr, xte, yte, seed=0):
    from aeon.classification.convolution_based import MiniRocketClassifier

    # aeon wants (n, channels, length); MiniRocket needs at least 9 time points.
    clf = MiniRocketClassifier(random_state=seed)
    clf.fit(np.transpose(xtr, (0, 2, 1)).astype(np.float64), ytr)
    return float(np.mean(clf.predict(np.transpose(xte, (0, 2, 1)).astype(np.float64)) == yte))


def examples(info, data_dir):
    """The model's examples of DATA (events: one per file; streams: its windows)."""
    from microformer import data as D

    ds = D.align_labels(D.align_channels(D.load(data_dir), info["channels"]), info["labels"])
    x, y, _ = D.recording_windows(ds, info["window"], info["hop"], info.get("event"))
    return x, y


def train_eval(name, work, train_dir, test_dir, seed, log):
    """The CLI defaults on one set with `--seed seed`: -> (row, .tflite path)."""
    tag = name if seed == 0 else f"{name}-seed{seed}"
    keras_path = os.path.join(work, f"{tag}.keras")
    tfl_path = os.path.join(work, f"{tag}.tflite")
    t0, c0 = time.perf_counter(), time.process_time()
    code, out = cli("train", train_dir, "--out", keras_path, "--quiet", "--test-fraction", "0",
                    "--seed", str(seed))
    if code:
        raise SystemExit(f"{name}: train failed ({code})")
    code, _ = cli("quantize", keras_path, "--calib", train_dir, "--out", tfl_path)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    log(out.strip())
    # CPU seconds (all threads) / 2 is what an otherwise idle 2-core machine takes.
    res = {"seed": seed, "train_quantize_s": round(seconds, 1), "cpu_s": round(cpu, 1)}
    for key, model in (("float", keras_path), ("int8", tfl_path)):
        code, out = cli("eval", model, test_dir, "--json")
        res[key] = json.loads(out)["accuracy"]
    return res, tfl_path


def run_set(name, work, log, seeds=(0,)):
    data = os.path.join(work, name)
    train_dir, test_dir = os.path.join(data, "train"), os.path.join(data, "test")
    if name == "IMU":
        from microformer import synth

        synth.generate(train_dir, recordings_per_label=20, seconds=(15.0, 30.0), seed=0)
        synth.generate(test_dir, recordings_per_label=10, seconds=(15.0, 30.0), seed=1)
    else:
        for split, out in (("TRAIN", train_dir), ("TEST", test_dir)):
            write_folder(*ucr_split(name, split), out)
    runs, paths = zip(*(train_eval(name, work, train_dir, test_dir, seed, log) for seed in seeds))
    tfl_path = paths[0]
    # The first seed's run is the table's row; with more seeds, the rest are its spread.
    res = {"set": name, **{k: v for k, v in runs[0].items() if k != "seed"}}
    if len(runs) > 1:
        res["seeds"] = list(runs)
    from microformer.engine import Engine

    with open(tfl_path, "rb") as f:
        engine = Engine(f.read())
    info = engine.info
    xtr, ytr = examples(info, train_dir)
    xte, yte = examples(info, test_dir)
    res["mode"] = info.get("mode", "stream")
    res["train_examples"], res["test_examples"] = int(len(ytr)), int(len(yte))
    res["minirocket"] = minirocket(xtr, ytr, xte, yte)
    res["1nn"] = one_nn(xtr, ytr, xte, yte)
    res["model_bytes"] = len(engine.model_bytes)
    res["arena_bytes"] = engine.arena_size
    return res


def table(rows):
    lines = ["| set (examples train/test) | int8 engine | float | MiniRocket | 1-NN Euclidean "
             "| int8 - MiniRocket | train+quantize wall (CPU/2) | model / arena |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['set']} ({r['train_examples']}/{r['test_examples']} {r['mode']}) "
            f"| {r['int8']:.3f} | {r['float']:.3f} | {r['minirocket']:.3f} | {r['1nn']:.3f} "
            f"| {(r['int8'] - r['minirocket']) * 100:+.1f} "
            f"| {r['train_quantize_s']:.0f} s ({r['cpu_s'] / 2:.0f} s) "
            f"| {r['model_bytes'] / 1024:.1f} KB / {r['arena_bytes'] / 1024:.1f} KB |")
    return "\n".join(lines)


def seed_table(rows):
    """Per set over --seeds: int8 and float mean (min-max), and the mean's gap."""
    lines = ["| set | seeds | int8 mean (min-max) | float mean (min-max) | MiniRocket "
             "| int8 mean - MiniRocket |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        runs = r.get("seeds") or [r]
        cells = []
        for key in ("int8", "float"):
            v = np.array([x[key] for x in runs])
            cells.append(f"{v.mean():.3f} ({v.min():.3f}-{v.max():.3f})")
        gap = (np.mean([x["int8"] for x in runs]) - r["minirocket"]) * 100
        lines.append(f"| {r['set']} | {len(runs)} | {cells[0]} | {cells[1]} | {r['minirocket']:.3f} "
                     f"| {gap:+.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma list of {', '.join(SETS)}")
    ap.add_argument("--work", help="keep the data and models here (default: a temp dir)")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    ap.add_argument("--seeds", type=int, default=1,
                    help="train each set with --seed 0..N-1 and add a table of the spread (default 1)")
    a = ap.parse_args(argv)
    if a.seeds < 1:
        ap.error(f"--seeds must be at least 1, got {a.seeds}")
    sets = [s.strip() for s in a.sets.split(",") if s.strip()]
    bad = [s for s in sets if s not in SETS]
    if bad:
        ap.error(f"unknown set(s) {bad}: use {', '.join(SETS)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or tmp
        for name in sets:
            print(f"== {name}", file=sys.stderr, flush=True)
            rows.append(run_set(name, work, lambda m: print(m, file=sys.stderr, flush=True),
                                seeds=range(a.seeds)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    if a.seeds > 1:
        print()
        print(seed_table(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
