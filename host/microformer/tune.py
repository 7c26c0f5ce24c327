"""`microformer tune`: search model sizes and kinds under a board's RAM, flash and latency budget.

1. Shape: a one-epoch pilot run of the smallest candidate reads DATA the way `train` does
   (streams or events, window, channels, labels), so the search uses the real input shape.
2. Screen: every candidate architecture is built untrained and quantized with random
   calibration data; its arena (exact, from the engine), flash (engine --ops-from table +
   model bytes) and latency (instruction model, latency.py) depend only on the architecture,
   so candidates over budget are dropped before any training.
3. Train the feasible ones with a short schedule (same seed and split), quantize each with
   convert.quantize, score int8 accuracy on the engine on the validation split, and re-measure
   its cost from the trained model (exact again). Then the best one or two also with QAT.
4. Retrain the winner (the most accurate inside the budget; ties: lower latency) with the full
   training schedule, quantize it with the metrics `microformer quantize` adds, and save it.

Everything finished is recorded in a journal (JSON lines in the work directory) keyed by the
candidate, the stage's training options and the data's fingerprint: a re-run skips it.
"""
import dataclasses
import hashlib
import json
import math
import os
import pathlib
import sys
import time

import numpy as np

from . import __version__, latency
from .errors import MicroformerError

JOURNAL = "journal.jsonl"
# Optimizer steps of a screening run (the full default schedule aims for ~1500).
SCREEN_STEPS = 200
SCREEN_EPOCHS = (4, 60)

# The default search: (arch, layers, d_model, heads, ffn). Each also with a coarser patch
# (half the tokens: about half the attention and token cost); the default convformer size
# also with linear and local attention. convformer (Conv1D + BatchNorm stem, train's
# default), transformer (linear patch embedding) and hybrid (conv + depthwise front end).
SIZES = (
    ("convformer", 1, 16, 2, 32),
    ("convformer", 1, 32, 2, 64),
    ("convformer", 2, 32, 2, 64),
    ("convformer", 1, 64, 4, 128),
    ("transformer", 1, 16, 2, 32),
    ("transformer", 2, 32, 2, 64),
    ("transformer", 2, 48, 4, 96),
    ("hybrid", 1, 16, 2, 32),
    ("hybrid", 1, 32, 2, 64),
)
KINDS = ("full", "linear", "local:4")
QUICK_SIZES = (SIZES[0], SIZES[1], SIZES[4], SIZES[5], SIZES[7])
# QAT simulates the engine's int8 on transformer and hybrid models (training refuses it for
# the convformer, whose BatchNorm is folded at conversion).
QAT_ARCHS = ("transformer", "hybrid")


def candidates(window, quick=False):
    """The default search space for inputs of `window` samples: a list of config dicts."""
    from . import models

    out = []
    base_patch = max(1, window // 16)
    archs = set(getattr(models, "ARCHS", ("transformer", "hybrid")))
    for arch, layers, d, heads, ffn in (QUICK_SIZES if quick else SIZES):
        if arch not in archs:
            continue
        patches = [base_patch]
        if window // (base_patch * 2) >= 4:
            patches.append(base_patch * 2)
        for p in patches:
            kinds = ["full"]
            if not quick and (arch, layers, d) == ("convformer", 1, 32) and p == base_patch:
                kinds = list(KINDS)
            for kind in kinds:
                out.append({"arch": arch, "layers": layers, "d_model": d, "heads": heads,
                            "ffn": ffn, "attention": kind, "patch": p, "qat": False})
    return out


def label(c):
    s = f"{c['arch'][0].upper()} L{c['layers']} d{c['d_model']} " \
        f"h{c['heads']} f{c['ffn']} p{c['patch']} {c['attention']}"
    return s + (" qat" if c.get("qat") else "")


# Part of every journal key: records of another format are not read back.
JOURNAL_FORMAT = 2


def _key(obj):
    obj = {"format": JOURNAL_FORMAT, **obj}
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint(data_dir):
    """sha256 over every file of DATA (relative path + bytes): the journal's data key."""
    root = pathlib.Path(data_dir)
    if not root.exists():
        raise MicroformerError(f"{data_dir} does not exist")
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(root) if p != root else p.name).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class Journal:
    """JSON lines: {"key": ..., "kind": ..., ...}; the last record of a key wins."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.records = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by an interrupted run
                if isinstance(r, dict) and "key" in r:
                    self.records[r["key"]] = r

    def get(self, key):
        return self.records.get(key)

    def put(self, record):
        self.records[record["key"]] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())


@dataclasses.dataclass
class Budget:
    board: str
    ram: int          # bytes
    flash: int        # bytes
    latency_ms: float  # or inf
    model_in_ram: bool = False

    def check(self, cost):
        """[] when within budget, else the reasons (strings with the numbers)."""
        why = []
        ram, flash = cost["ram"], cost["flash"]
        if ram > self.ram:
            why.append(f"RAM {ram / 1024:.1f} KB > {self.ram / 1024:.0f} KB")
        if flash > self.flash:
            why.append(f"flash {flash / 1024:.1f} KB > {self.flash / 1024:.0f} KB")
        if cost["latency_ms"] > self.latency_ms:
            why.append(f"latency {cost['latency_ms']:.1f} ms > {self.latency_ms:g} ms")
        return why

    def describe(self):
        b = latency.board(self.board)
        lat = "no latency limit" if math.isinf(self.latency_ms) else f"latency <= {self.latency_ms:g} ms"
        return (f"{b.name} ({b.core}, {b.mhz:g} MHz): RAM <= {self.ram / 1024:g} KB "
                f"(arena{' + model' if self.model_in_ram else ''}), flash <= "
                f"{self.flash / 1024:g} KB (engine for the model's ops + model), {lat}")


def make_budget(board, ram_kb=None, flash_kb=None, latency_ms=None, model_in_ram=False):
    b = latency.board(board)
    return Budget(b.name, int((ram_kb or b.ram_kb) * 1024), int((flash_kb or b.flash_kb) * 1024),
                  float(latency_ms) if latency_ms else math.inf, model_in_ram)


def model_cost(model_bytes, budget):
    """Cost of a quantized model on the budget's board (a JSON-able dict). The journal keeps
    what the model is (arena, bytes, ops, latency features); with_board() derives flash and
    latency from the current tables, so a re-fit or a new flash table applies on re-runs."""
    c = latency.cost(model_bytes)
    raw = {"arena": c.arena, "model_bytes": c.model_bytes, "ops": list(c.ops),
           "float_ops": list(c.float_ops), "features": c.features}
    return with_board(raw, budget)


def with_board(cost, budget):
    """A journalled cost expressed for this budget's board, RAM rule and the current tables."""
    c = {k: cost[k] for k in ("arena", "model_bytes", "ops", "float_ops", "features")}
    c["engine_flash"] = latency.engine_flash(c["ops"], c["float_ops"])
    c["ram"] = c["arena"] + (c["model_bytes"] if budget.model_in_ram else 0)
    c["flash"] = c["engine_flash"] + c["model_bytes"]
    c["instructions"] = round(latency.instructions(c["features"]))
    b = latency.board(budget.board)
    c["latency_ms"] = round(c["instructions"] * b.cpi / (b.mhz * 1000.0), 3)
    return c


def probe(cfg, shape):
    """int8 .tflite bytes of an untrained model of this architecture and input shape."""
    from . import convert, models

    window, channels, labels = shape["window"], len(shape["channels"]), len(shape["labels"])
    mc = {k: v for k, v in cfg.items() if k in models.DEFAULT_CONFIG}
    c = models.resolve_config(mc, window, channels, labels)
    info = {"labels": list(shape["labels"]), "window": window, "hop": shape.get("hop", window),
            "channels": list(shape["channels"])}
    m = models.build_model(c, [0.0] * channels, [1.0] * channels, info)
    rng = np.random.default_rng(0)
    return convert.quantize(m, rng.normal(size=(32, window, channels)).astype(np.float32))


def pareto(rows, keys=(("accuracy", -1), ("latency_ms", 1), ("ram", 1), ("flash", 1))):
    """Indices of the rows no other row dominates (higher accuracy, lower costs)."""
    front = []
    for i, a in enumerate(rows):
        dominated = False
        for j, b in enumerate(rows):
            if i == j:
                continue
            no_worse = all(b[k] * s <= a[k] * s for k, s in keys)
            better = any(b[k] * s < a[k] * s for k, s in keys)
            if no_worse and better:
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


def choose(rows):
    """The most accurate row (ties: lower latency, then RAM, then flash), or None."""
    if not rows:
        return None
    return min(range(len(rows)), key=lambda i: (-rows[i]["accuracy"], rows[i]["latency_ms"],
                                                  rows[i]["ram"], rows[i]["flash"]))


def int8_accuracy(model_bytes, x, y):
    from .engine import Engine

    if len(y) == 0:
        return float("nan")
    probs = Engine(model_bytes).predict(x)
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(y)))


def _train_opts(training, cfg, extra):
    """Options for training.train: the candidate's, plus extra, limited to what it accepts."""
    o = {k: v for k, v in cfg.items()}
    o.update(extra)
    known = set(getattr(training, "DEFAULTS", o))
    return {k: v for k, v in o.items() if k in known and v is not None}


def _score_split(sp):
    """(x, y, name) the candidates are compared on: validation, else test."""
    for name in ("val", "test"):
        if len(sp.y.get(name, [])) if isinstance(sp.y, dict) else len(sp.y[name]):
            return sp.x[name], sp.y[name], name
    return sp.x["train"], sp.y["train"], "train"


def screen_epochs(n_train, batch=None):
    batch = batch or (16 if n_train < 512 else 32)
    steps = max(1, math.ceil(n_train / batch))
    return int(min(SCREEN_EPOCHS[1], max(SCREEN_EPOCHS[0], math.ceil(SCREEN_STEPS / steps))))


def _quiet(*a, **k):
    pass


@dataclasses.dataclass
class Result:
    rows: list            # trained candidates: dicts with config, cost, accuracy
    skipped: list         # screened out: (config, cost, reasons)
    front: list           # indices into rows
    chosen: int           # index into rows (the winner before the final retrain) or None
    final: dict           # the saved model's record (cost, accuracies, path) or None
    shape: dict
    budget: Budget
    seconds: float


def run(data_dir, budget, out_path, work_dir=None, quick=False, seed=0, screen=None,
        final_epochs=None, qat=True, max_train=None, window=None, hop=None, progress=True,
        log=print, plot=None, space=None):
    """The search; see the module docstring. Returns a Result."""
    from tqdm import tqdm

    from . import training

    t_start = time.perf_counter()
    work = pathlib.Path(work_dir or (str(out_path)[:-len(".tflite")] + ".tune"))
    work.mkdir(parents=True, exist_ok=True)
    journal = Journal(work / JOURNAL)
    fp = fingerprint(data_dir)
    data_opts = {"window": window, "hop": hop, "seed": seed}
    log(f"tune: {data_dir} (fingerprint {fp}); budget: {budget.describe()}")
    log(f"work directory {work} (journal: re-running skips finished candidates)")

    # 1. Shape of the data, from a one-epoch pilot of the smallest model.
    pilot_cfg = {"arch": "transformer", "layers": 1, "d_model": 8, "heads": 1, "ffn": 8}
    pkey = _key({"pilot": 1, "data": fp, "opts": data_opts, "v": __version__})
    rec = journal.get(pkey)
    if rec is None:
        log("reading the data (one-epoch pilot run) ...")
        res = training.train(data_dir, progress=False, log=_quiet,
                             **_train_opts(training, pilot_cfg, dict(data_opts, epochs=1)))
        info = res.info
        rec = {"key": pkey, "kind": "pilot", "shape": {
            "window": int(info["window"]), "hop": int(info["hop"]),
            "channels": list(info["channels"]), "labels": list(info["labels"])},
            "n_train": int(len(res.splits.y["train"]))}
        journal.put(rec)
    shape = rec["shape"]
    n_train = rec["n_train"]
    screen = screen or screen_epochs(n_train)
    log(f"input {shape['window']} samples x {len(shape['channels'])} channels, "
        f"{len(shape['labels'])} labels, {n_train} training examples; screening runs "
        f"{screen} epochs each")

    # 2. Screen every architecture by cost, untrained.
    space = space if space is not None else candidates(shape["window"], quick=quick)
    feasible, skipped = [], []
    bar = tqdm(space, desc="screen", unit="model", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    for cfg in bar:
        ckey = _key({"probe": cfg, "shape": shape, "v": __version__})
        rec = journal.get(ckey)
        if rec is None:
            try:
                b = probe(cfg, shape)
                rec = {"key": ckey, "kind": "probe", "config": cfg,
                       "cost": model_cost(b, budget)}
            except MicroformerError as e:
                rec = {"key": ckey, "kind": "probe", "config": cfg, "error": str(e)}
            journal.put(rec)
        if "error" in rec:
            skipped.append((cfg, None, [rec["error"]]))
            continue
        cost = with_board(rec["cost"], budget)
        why = budget.check(cost)
        (skipped.append((cfg, cost, why)) if why else feasible.append((cfg, cost)))
    bar.close()
    log(f"screened {len(space)} architectures: {len(feasible)} inside the budget, "
        f"{len(skipped)} over it")
    if not feasible:
        best = min((s for s in skipped if s[1]), key=lambda s: s[1]["ram"] + s[1]["flash"],
                   default=None)
        hint = ""
        if best:
            hint = (f"; the smallest, {label(best[0])}, needs RAM {best[1]['ram'] / 1024:.1f} KB, "
                    f"flash {best[1]['flash'] / 1024:.1f} KB, {best[1]['latency_ms']:.1f} ms")
        raise MicroformerError(f"no candidate fits {budget.describe()}{hint}: raise --ram, "
                               "--flash or --latency-ms")
    if max_train and len(feasible) > max_train:
        # Keep a spread over model size: the largest and smallest, evenly between.
        feasible.sort(key=lambda fc: fc[1]["instructions"])
        idx = np.unique(np.round(np.linspace(0, len(feasible) - 1, max_train)).astype(int))
        feasible = [feasible[i] for i in idx]

    # 3. Train the feasible ones briefly; then QAT for the best one or two.
    screen_opts = dict(data_opts, epochs=screen, refit=False)
    rows = []

    def train_one(cfg, bar):
        ckey = _key({"train": cfg, "data": fp, "opts": screen_opts, "shape": shape, "v": __version__})
        rec = journal.get(ckey)
        if rec is None:
            bar.set_postfix_str(label(cfg), refresh=True)
            t0 = time.perf_counter()
            try:
                res = training.train(data_dir, progress=False, log=_quiet,
                                     **_train_opts(training, cfg, screen_opts))
                from . import convert

                b = convert.quantize(res.model, res.splits.x["train"])
                x, y, split = _score_split(res.splits)
                rec = {"key": ckey, "kind": "train", "config": cfg,
                       "cost": model_cost(b, budget),
                       "accuracy": round(int8_accuracy(b, x, y), 4), "split": split,
                       "examples": int(len(y)),
                       "test_accuracy": round(int8_accuracy(b, res.splits.x["test"],
                                                            res.splits.y["test"]), 4),
                       "seconds": round(time.perf_counter() - t0, 1)}
            except MicroformerError as e:  # this candidate only; the search goes on
                rec = {"key": ckey, "kind": "train", "config": cfg, "error": str(e)}
            journal.put(rec)
        if "error" in rec:
            skipped.append((cfg, None, [f"training failed: {rec['error']}"]))
            return None
        cost = with_board(rec["cost"], budget)
        row = {"config": cfg, "accuracy": rec["accuracy"], "test_accuracy": rec["test_accuracy"],
               "split": rec["split"], "examples": rec["examples"], "seconds": rec["seconds"],
               **cost}
        row["over"] = budget.check(cost)
        rows.append(row)
        return row

    n_qat = 2 if qat else 0
    n_qat = min(n_qat, sum(1 for c, _ in feasible if c["arch"] in QAT_ARCHS))
    bar = tqdm(total=len(feasible) + n_qat, desc="train", unit="model",
               file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for cfg, _ in feasible:
        train_one(cfg, bar)
        bar.update(1)
    if n_qat:
        ok = [r for r in rows if not r["over"] and r["config"]["arch"] in QAT_ARCHS]
        ok.sort(key=lambda r: (-r["accuracy"], r["latency_ms"]))
        for r in ok[:n_qat]:
            train_one(dict(r["config"], qat=True), bar)
            bar.update(1)
    bar.close()

    inside = [i for i, r in enumerate(rows) if not r["over"]]
    front = [inside[i] for i in pareto([rows[i] for i in inside])]
    ci = choose([rows[i] for i in inside])
    chosen = inside[ci] if ci is not None else None
    result = Result(rows, skipped, front, chosen, None, shape, budget, 0.0)
    if chosen is None:
        raise MicroformerError("every trained candidate ended over the budget")

    # 4. Retrain the winner with the full schedule and save it.
    win = rows[chosen]["config"]
    final_opts = dict(data_opts, epochs=final_epochs)
    fkey = _key({"final": win, "data": fp, "opts": final_opts, "shape": shape, "v": __version__})
    rec = journal.get(fkey)
    model_file = work / f"final-{fkey}.tflite"
    if rec is None or not model_file.exists():
        log(f"retraining the winner {label(win)} with the full schedule ...")
        tflite, rec = final_model(data_dir, win, final_opts, budget, training, progress)
        model_file.write_bytes(tflite)
        rec["key"] = fkey
        rec["kind"] = "final"
        journal.put(rec)
    tflite = with_tune_metadata(model_file.read_bytes(), budget)
    final = dict(rec, cost=model_cost(tflite, budget))
    final["over"] = budget.check(final["cost"])
    out_path = pathlib.Path(out_path)
    if out_path.parent != pathlib.Path(""):
        out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".part")
    tmp.write_bytes(tflite)
    os.replace(tmp, out_path)
    final["path"] = str(out_path)
    result.final = final
    result.seconds = time.perf_counter() - t_start
    if plot:
        plot_front(result, plot)
    return result


def final_model(data_dir, cfg, opts, budget, training, progress):
    """Full training of one config -> (int8 .tflite bytes with metrics as `microformer
    quantize` writes them, journal record)."""
    from . import convert
    from .tflite import set_metadata

    t0 = time.perf_counter()
    res = training.train(data_dir, progress=progress, log=_quiet,
                         **_train_opts(training, cfg, opts))
    sp = res.splits
    tflite = convert.quantize(res.model, sp.x["train"])
    xt, yt = sp.x["test"], sp.y["test"]
    f_acc = training.accuracy(res.model, xt, yt)
    q_acc = int8_accuracy(tflite, xt, yt)
    doc = json.loads(convert.get_metadata(tflite).decode())
    doc["metrics"]["float_accuracy"] = round(f_acc, 4) if f_acc == f_acc else None
    doc["metrics"]["heldback_windows"] = int(len(yt))
    if q_acc == q_acc:
        doc["metrics"]["int8_accuracy"] = round(q_acc, 4)
    tflite = set_metadata(tflite, json.dumps(doc, sort_keys=True).encode())
    tflite = with_tune_metadata(tflite, budget)
    cost = model_cost(tflite, budget)
    val = (res.info.get("metrics") or {}).get("val_accuracy")
    rec = {"config": cfg, "cost": cost, "int8_accuracy": round(q_acc, 4) if q_acc == q_acc else None,
           "float_accuracy": round(f_acc, 4) if f_acc == f_acc else None,
           "val_accuracy": val, "heldback": int(len(yt)),
           "seconds": round(time.perf_counter() - t0, 1)}
    return tflite, rec


def with_tune_metadata(tflite, budget):
    """The model with a `tune` entry in its metadata: board, budget, arena, flash and
    predicted latency from the current tables (rewritten on every save)."""
    from .tflite import get_metadata, set_metadata

    doc = json.loads(get_metadata(tflite).decode())
    cost = model_cost(tflite, budget)
    doc["tune"] = {"board": budget.board, "arena": cost["arena"], "flash": cost["flash"],
                   "engine_flash": cost["engine_flash"], "instructions_m4": cost["instructions"],
                   "latency_ms": cost["latency_ms"],
                   "budget": {"ram": budget.ram, "flash": budget.flash,
                              "latency_ms": None if math.isinf(budget.latency_ms)
                              else budget.latency_ms}}
    return set_metadata(tflite, json.dumps(doc, sort_keys=True).encode())


def _pct(v):
    return "  n/a" if v is None or v != v else f"{v * 100:5.1f}"


def report(result):
    """Lines: the trained candidates (Pareto front marked), the screened-out ones, the pick."""
    b = latency.board(result.budget.board)
    lines = []
    split = result.rows[0]["split"] if result.rows else "val"
    lines.append(f"{'':2}{'candidate':<34} {'acc%':>5} {'test%':>5} {'lat ms':>8} "
                 f"{'RAM KB':>7} {'flash KB':>8} {'model KB':>8}")
    order = sorted(range(len(result.rows)), key=lambda i: result.rows[i]["latency_ms"])
    for i in order:
        r = result.rows[i]
        mark = ">>" if i == result.chosen else ("* " if i in result.front else "  ")
        over = f"  over: {'; '.join(r['over'])}" if r["over"] else ""
        lines.append(f"{mark}{label(r['config']):<34} {_pct(r['accuracy'])} {_pct(r['test_accuracy'])} "
                     f"{r['latency_ms']:>8.2f} {r['ram'] / 1024:>7.1f} {r['flash'] / 1024:>8.1f} "
                     f"{r['model_bytes'] / 1024:>8.1f}{over}")
    lines.append(f"(acc: int8 on the engine, {split} split after a short run; test: held-back "
                 f"split; * Pareto front of accuracy vs latency vs RAM vs flash; >> chosen)")
    n = min((r["examples"] for r in result.rows), default=0)
    if result.rows and n < 20:
        lines.append(f"warning: candidates were compared on {n} {split} examples: accuracy moves "
                     f"in steps of {100.0 / max(n, 1):.0f} points, so smaller differences are noise")
    lines.append(f"latency: Cortex-M4 instructions predicted by the model fitted on QEMU_M4 counts "
                 f"(error {_model_error()}); {b.name}: {b.note}")
    if result.skipped:
        lines.append(f"not trained: over the budget, or failed ({len(result.skipped)}):")
        for cfg, cost, why in sorted(result.skipped,
                                     key=lambda s: s[1]["latency_ms"] if s[1] else math.inf):
            lines.append(f"  {label(cfg):<34} {'; '.join(why)}")
    f = result.final
    if f:
        c = f["cost"]
        lines.append(
            f"chosen: {label(f['config'])} -> {f['path']}: int8 {_pct(f['int8_accuracy']).strip()}% "
            f"(float {_pct(f['float_accuracy']).strip()}%) on {f['heldback']} held-back examples; "
            f"arena {c['arena']} B, flash {c['flash']} B (engine {c['engine_flash']} + model "
            f"{c['model_bytes']}), {c['instructions'] / 1e6:.2f} M instructions = "
            f"{c['latency_ms']:.2f} ms on {b.name}")
        if f["over"]:
            lines.append(f"warning: the retrained model is over the budget: {'; '.join(f['over'])}")
    lines.append(f"({result.seconds:.0f} s)")
    return lines


def _model_error():
    e = (latency.board_costs.LATENCY or {}).get("error") or {}
    if not e:
        return "unknown"
    return (f"{e['mean_abs_error'] * 100:.1f}% mean, {e['max_abs_error'] * 100:.1f}% max over "
            f"{e['models']} measured models (leave-one-out {e['loo_mean_abs_error'] * 100:.1f}% "
            "mean)")


ARCH_COLORS = {"convformer": "tab:green", "transformer": "tab:blue", "hybrid": "tab:orange"}


def plot_front(result, path):
    """Accuracy vs latency, RAM and flash; the Pareto front joined, the chosen one ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.rows
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    specs = (("latency_ms", "latency (ms, %s)" % result.budget.board, result.budget.latency_ms, 1),
             ("ram", "RAM (KB)", result.budget.ram, 1024), ("flash", "flash (KB)", result.budget.flash, 1024))
    for ax, (k, name, limit, div) in zip(axes, specs):
        xs = [r[k] / div for r in rows]
        ys = [r["accuracy"] * 100 for r in rows]
        colors = [ARCH_COLORS.get(r["config"]["arch"], "tab:gray") for r in rows]
        ax.scatter(xs, ys, c=colors, s=[30 if r["config"].get("qat") else 18 for r in rows],
                   marker="o", alpha=0.8)
        # The front of this projection (accuracy vs this cost) as a staircase; points on
        # the front of all four criteria get a black edge.
        fr = sorted(pareto(rows, (("accuracy", -1), (k, 1))), key=lambda i: rows[i][k])
        ax.step([rows[i][k] / div for i in fr], [rows[i]["accuracy"] * 100 for i in fr],
                "k--", lw=0.8, where="post", label="front (accuracy vs this cost)")
        ax.scatter([rows[i][k] / div for i in result.front],
                   [rows[i]["accuracy"] * 100 for i in result.front], s=40,
                   facecolors="none", edgecolors="black", lw=0.8,
                   label="front of all four")
        if result.chosen is not None:
            c = rows[result.chosen]
            ax.scatter([c[k] / div], [c["accuracy"] * 100], s=160, facecolors="none",
                       edgecolors="red", label="chosen")
        if math.isfinite(limit):
            ax.axvline(limit / div, color="red", lw=0.8, ls=":", label="budget")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("int8 accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"microformer tune: {len(rows)} trained candidates (green convformer, blue "
                 f"transformer, orange hybrid; larger: QAT)", fontsize=10)
    fig.tight_layout()
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
