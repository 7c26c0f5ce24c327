"""Training: dataset folder -> trained Keras model + the metadata that travels with it.

    from microformer import training
    res = training.train("DATA", epochs=40)
    res.model            # keras.Model (raw samples in, class probabilities out)
    res.info             # labels, window, hop, channels, normalization, config, metrics, split
    res.model.save("model.keras")

Defaults aim to work on a new dataset without tuning, and were chosen on
benchmarks/accuracy.py (small UCR sets and the synthetic IMU set), not per data set:
- streams are cut into windows of about 2 s (or 64 samples), hop half a window; event
  folders (short takes, one per file) give one example per file (data.decide_mode);
- the convformer: three Conv1D+BatchNorm blocks into 16 tokens, one encoder layer, d_model 32;
- class-balanced loss weights, augmentations (jitter, scaling, time-warp, channel dropout,
  rotation of x/y/z triplets; the shape ones weakened or dropped where a 1-NN measure says
  they blur the classes, data.check_augment), a time shift of events (data.EVENT_AUGMENTS:
  int8 mean of seeds 0-2, ACSF1 0.793 -> 0.863), mixup of examples and labels within a batch
  (Beta(0.2, 0.2); int8 mean of seeds 0-2: ArrowHead 0.811 -> 0.850, OSULeaf 0.923 ->
  0.934, ACSF1 and ItalyPowerDemand within a point), AdamW with a cosine schedule of about
  TARGET_STEPS steps and no early stopping (a few validation examples stop it far too early);
- when the validation split is small, the final model is refit on train + validation.
"""
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import data as D
from .errors import MicroformerError

DEFAULTS = {
    "arch": None,  # convformer; transformer with qat (QAT does not simulate BatchNorm folding)
    "layers": None,  # 2 for transformer, 1 for convformer and hybrid
    "d_model": 32,
    "heads": 2,
    "ffn": 64,
    "attention": "full",
    "patch": None,
    "activation": "relu",
    "dropout": 0.1,
    "ln_epsilon": None,
    "layernorm": None,
    "window": None,
    "hop": None,
    "epochs": None,  # None: enough epochs for TARGET_STEPS optimizer steps (see schedule())
    "batch": None,  # None: 16 below 512 training examples, else 32
    "seed": 0,
    "augment": "auto",  # all, the shape ones checked on the data (data.check_augment)
    "patience": None,  # None: no early stopping (the cosine schedule runs to its end)
    "lr": 3e-3,
    "events": None,  # None: decided from the recording lengths (data.decide_mode)
    "test_fraction": None,  # None: data.TEST_FRACTION of each label's recordings
    "refit": None,  # None: refit on train + validation when validation is small (REFIT_BELOW)
    "sample_rate": None,
    "qat": False,  # quantization-aware training (compress.qat): simulated engine int8
}


# Below this many optimizer steps in total, training runs eagerly (see train()).
EAGER_MAX_STEPS = 30
# Optimizer steps a default run aims for, and the epoch range that turns them into. Measured
# on benchmarks/accuracy.py: 60 epochs of early stopping on an 8-window validation split gave
# ArrowHead 36 examples ~120 steps (int8 0.41); ~1500 steps of a cosine schedule gave 0.80.
TARGET_STEPS = 1500
MIN_EPOCHS, MAX_EPOCHS = 30, 1000
# With fewer validation examples than this the final model is refit on train + validation
# (same schedule, same seed): on tiny data those examples are worth more as training data,
# and the validation numbers come from the first fit.
REFIT_BELOW = 200
# Honest-output thresholds (train() prints a warning for each that applies).
FEW_VAL = 20  # validation examples
NEAR_CHANCE = 0.10  # accuracy within this of 1 / labels
OVERFIT_GAP = 0.20  # train minus validation accuracy
IMBALANCE = 3.0  # largest / smallest class count in the training split


@dataclass
class TrainResult:
    model: object
    info: dict
    history: dict
    splits: object  # data.Splits (raw windows per split)
    dataset: object  # data.Dataset
    seconds: float


def _progress_callback(keras, epochs, enabled, desc="train"):
    from tqdm import tqdm

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc=desc, unit="epoch", file=sys.stderr,
                            disable=not enabled, leave=True, dynamic_ncols=True)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix(loss=f"{logs.get('loss', 0):.3f}",
                                 acc=f"{logs.get('accuracy', 0):.3f}",
                                 val_acc=f"{logs.get('val_accuracy', 0):.3f}", refresh=False)
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return Progress()


def _batches(keras, x, y, w, batch, aug, mean, std, seed, n_classes, groups=()):
    class Batches(keras.utils.PyDataset):
        """Shuffled, freshly augmented batches each epoch; sample weights balance classes."""

        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(x))

        def __len__(self):
            return int(np.ceil(len(x) / batch))

        def __getitem__(self, i):
            idx = self.order[i * batch:(i + 1) * batch]
            xb = D.augment(x[idx], aug, mean, std, self.rng, groups)
            yb = np.eye(n_classes, dtype=np.float32)[y[idx]]
            if aug.get("mixup", 0) > 0:
                return D.mixup(xb, yb, w[idx], aug["mixup"], self.rng)
            return xb, yb, w[idx]

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(x))

    return Batches()


def resolve(opts):
    o = dict(DEFAULTS)
    o.update({k: v for k, v in opts.items() if v is not None})
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise MicroformerError(f"unknown training option(s): {sorted(unknown)}")
    if o["arch"] is None:
        o["arch"] = "transformer" if o["qat"] else "convformer"
    if o["layers"] is None:
        o["layers"] = 2 if o["arch"] == "transformer" else 1
    for k in ("epochs", "batch", "patience"):
        if o[k] is not None and (not isinstance(o[k], int) or o[k] < 1):
            raise MicroformerError(f"{k} must be a positive integer, got {o[k]!r}")
    tf_ = o["test_fraction"]
    if tf_ is not None and not 0.0 <= tf_ <= 0.5:
        raise MicroformerError(f"test fraction must be in [0, 0.5], got {tf_}")
    if o["qat"] and o["arch"] == "convformer":
        raise MicroformerError(
            "--qat needs --arch transformer or hybrid: the convformer's BatchNorm is folded "
            "into its convolutions only at conversion, which quantization-aware training "
            "does not simulate")
    if o["events"] and (o["window"] or o["hop"]):
        raise MicroformerError("--events takes one example per file; --window/--hop cut "
                               "streams: give one or the other")
    return o


def schedule(n_train, o):
    """(batch, epochs, steps per epoch) for n_train examples: the options, else the defaults
    that give about TARGET_STEPS optimizer steps."""
    batch = o["batch"] or (16 if n_train < 512 else 32)
    steps = max(1, int(np.ceil(n_train / batch)))
    epochs = o["epochs"] or int(min(MAX_EPOCHS, max(MIN_EPOCHS, np.ceil(TARGET_STEPS / steps))))
    return batch, epochs, steps


def shape_data(ds, o, log):
    """Decide stream vs events and the input shape; -> (window, hop, event or None, splits)."""
    force = "events" if o["events"] else ("stream" if (o["window"] or o["hop"]) else None)
    mode, why = D.decide_mode(ds, force)
    test_fraction = D.TEST_FRACTION if o["test_fraction"] is None else o["test_fraction"]
    if mode == "events":
        parts = D.split_units(ds, o["seed"], test_fraction)
        event, how = D.event_spec(ds, parts["train"] + parts["val"])
        log(f"recordings are events ({why}): one example per file, {how}")
        sp = D.make_splits(ds, event["length"], event["length"], o["seed"], event=event,
                           test_fraction=test_fraction)
        return event["length"], event["length"], event, sp
    window = o["window"] or D.default_window(ds)
    hop = o["hop"] or max(1, window // 2)
    log(f"recordings are streams ({why}): windows of {window} samples, hop {hop}")
    sp = D.make_splits(ds, window, hop, o["seed"], test_fraction=test_fraction)
    if sp.short:
        what = "recording(s)" if ds.kind == "folder" else "labelled run(s)"
        log(f"note: {len(sp.short)} {what} shorter than the window give no windows: "
            + ", ".join(sp.short[:5]) + (" ..." if len(sp.short) > 5 else ""))
    return window, hop, None, sp


def data_warnings(ds, sp):
    """Warnings about the split that hold before any training (class balance, tiny val)."""
    out = []
    lengths = [u.stop - u.start for u in ds.units()]
    if min(lengths) * 8 < max(lengths):
        out.append(f"recording lengths differ wildly ({min(lengths)} to {max(lengths)} samples): "
                   "check for cut-off or merged takes")
    n_val = len(sp.y["val"])
    if n_val < FEW_VAL:
        out.append(f"the validation split has {n_val} examples (fewer than {FEW_VAL}): its "
                   f"accuracy moves in steps of {100.0 / max(n_val, 1):.0f} points; record more "
                   "or read it as a rough guide")
    counts = np.bincount(sp.y["train"], minlength=len(ds.labels))
    lo, hi = int(counts.min()), int(counts.max())
    if lo and hi / lo >= IMBALANCE:
        out.append(f"classes are imbalanced: {ds.labels[int(counts.argmax())]!r} has {hi} "
                   f"training examples, {ds.labels[int(counts.argmin())]!r} {lo} "
                   "(the loss is class-weighted; per-class recall in `microformer eval` tells "
                   "more than accuracy)")
    return out


def fit_warnings(labels, train_acc, val_acc):
    """Warnings about a finished fit: near-chance validation, train far above validation."""
    out = []
    chance = 1.0 / len(labels)
    if val_acc == val_acc and val_acc <= chance + NEAR_CHANCE:
        out.append(f"validation accuracy {val_acc * 100:.1f}% is near chance "
                   f"({chance * 100:.1f}% for {len(labels)} labels): the model learned little; "
                   "check the labels and the window, or record more")
    if val_acc == val_acc and train_acc - val_acc > OVERFIT_GAP:
        out.append(f"training accuracy {train_acc * 100:.1f}% is far above validation "
                   f"{val_acc * 100:.1f}%: the model overfits; more recordings or a smaller "
                   "model (--d-model, --layers) help")
    return out


def _fit(keras, models, cfg, mean, std, info, x, y, o, n_classes, progress, aug, input_range,
         val=None, desc="train", groups=()):
    """Build and train one model on (x, y) with augmentation `aug` ({name: strength}, as
    data.resolve_augment gives it) and the int8 input's range; -> (model, history, seconds)."""
    keras.utils.set_random_seed(o["seed"])
    model = models.build_model(cfg, mean, std, info, input_range=input_range)
    if o["qat"]:
        from .compress import qat

        model = qat.wrap(model, x, seed=o["seed"])
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    class_w = (len(y) / (n_classes * np.maximum(counts, 1))).astype(np.float32)
    batch, epochs, steps = schedule(len(y), o)
    sched = keras.optimizers.schedules.CosineDecay(o["lr"], decay_steps=epochs * steps, alpha=0.05)
    # Tracing the train and test steps into graphs costs ~10 s on a loaded 2-core machine,
    # the time of ~25 eager steps (0.3-0.5 s each, mostly the optimizer update); tiny runs
    # (smoke tests, a first look at a dataset) are faster eagerly. XLA compilation is off
    # for the same reason: it only pays off on long runs of much larger models.
    eager = epochs * steps <= EAGER_MAX_STEPS
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=sched, weight_decay=1e-4, clipnorm=1.0),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.05),
        metrics=["accuracy"], jit_compile=False, run_eagerly=eager)
    callbacks = [_progress_callback(keras, epochs, progress, desc)]
    validation = None
    if val is not None and len(val[1]):
        validation = (val[0], np.eye(n_classes, dtype=np.float32)[val[1]])
        if o["patience"]:
            callbacks.insert(0, keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=o["patience"], restore_best_weights=True))
    t0 = time.perf_counter()
    hist = model.fit(
        _batches(keras, x, y, class_w[y], batch, aug, mean, std, o["seed"], n_classes, groups),
        validation_data=validation, epochs=epochs, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - t0
    if o["qat"]:
        model = qat.unwrap(model)  # the float model, kernels on their int8 grid
    return model, hist.history, seconds


def train(data_dir, progress=True, log=print, warn=None, **opts):
    """Train on DATA; see DEFAULTS for the options. Returns a TrainResult.

    log: progress lines; warn: honest-output warnings (default: log with "warning: ").
    """
    from . import models
    from ._tf import keras as _keras

    warn = warn or (lambda m: log(f"warning: {m}"))
    o = resolve(opts)
    keras = _keras()
    ds = D.load(data_dir, sample_rate=o["sample_rate"])
    if len(ds.labels) < 2:
        raise MicroformerError(f"{data_dir}: classification needs at least 2 labels, found {ds.labels}")
    log(D.describe(ds))
    const = D.check_channels_vary(ds)
    if const:
        warn(f"channel(s) {const} are constant in every recording: they carry no information "
             "(is that sensor connected?)")
    window, hop, event, sp = shape_data(ds, o, log)
    log("examples: " + ", ".join(f"{s} {len(sp.y[s])}" for s in D.SPLITS))
    for m in data_warnings(ds, sp):
        warn(m)
    mean, std = D.fit_normalization(sp.x["train"])
    # Train and validation examples: what quantize calibrates the int8 input on, and what a
    # refit trains on.
    xa = np.concatenate([sp.x["train"], sp.x["val"]])
    input_range, why = D.input_range(xa, mean, std)
    log(f"input: {why}")
    cfg = models.resolve_config(
        {k: o[k] for k in ("arch", "layers", "d_model", "heads", "ffn", "attention", "patch",
                           "activation", "dropout", "ln_epsilon", "layernorm")},
        window, len(ds.channels), len(ds.labels))
    batch, epochs, _ = schedule(len(sp.y["train"]), o)
    groups = D.rotation_groups(ds.channels)
    aug, lines = D.resolve_augment(o["augment"], sp.x["train"], sp.y["train"], mean, std,
                                   o["seed"], groups, events=bool(event))
    for line in lines:
        log(line)
    refit = o["refit"] if o["refit"] is not None else len(sp.y["val"]) < REFIT_BELOW
    info = {
        "task": "classification",
        "labels": list(ds.labels),
        "mode": "events" if event else "stream",
        "window": window,
        "hop": hop,
        "sample_rate": ds.sample_rate,
        "channels": list(ds.channels),
        "split": {"seed": o["seed"], "by": "recording" if ds.kind == "folder" else "labelled run",
                  "val_fraction": D.VAL_FRACTION,
                  "test_fraction": D.TEST_FRACTION if o["test_fraction"] is None
                  else o["test_fraction"]},
        "training": {"epochs": epochs, "batch": batch, "refit": bool(refit),
                     "augment": D.format_augment(aug),
                     **{k: o[k] for k in ("seed", "patience", "lr")}},
        "training_recordings": D.fingerprints(ds, sp.units["train"] + (
            sp.units["val"] if refit else [])),
    }
    if event:
        info["event"] = event
    n_classes = len(ds.labels)
    model, history, seconds = _fit(keras, models, cfg, mean, std, info, sp.x["train"],
                                   sp.y["train"], o, n_classes, progress, aug, input_range,
                                   val=(sp.x["val"], sp.y["val"]), groups=groups)
    val_acc = accuracy(model, sp.x["val"], sp.y["val"])
    train_acc = accuracy(model, sp.x["train"], sp.y["train"])
    epochs_run = len(history.get("loss", []))
    for m in fit_warnings(ds.labels, train_acc, val_acc):
        warn(m)
    if refit and len(sp.y["val"]):
        log(f"validation {val_acc * 100:.2f}% after {epochs_run} epochs; refitting on train + "
            f"validation ({len(sp.y['train']) + len(sp.y['val'])} examples, fewer than "
            f"{REFIT_BELOW} validation examples)")
        o_refit = dict(o, epochs=epochs_run)
        ya = np.concatenate([sp.y["train"], sp.y["val"]])
        model, _, more = _fit(keras, models, cfg, mean, std, info, xa, ya, o_refit, n_classes,
                              progress, aug, input_range, desc="refit", groups=groups)
        seconds += more
    test_acc = accuracy(model, sp.x["test"], sp.y["test"])
    # JSON has no NaN (MicroPython's json refuses it): an empty split's accuracy is null.
    info["metrics"] = {"val_accuracy": _r4(val_acc), "test_accuracy": _r4(test_acc),
                       "train_accuracy": round(train_acc, 4), "epochs_run": epochs_run,
                       "val_examples": int(len(sp.y["val"])), "train_seconds": round(seconds, 1)}
    # The Standardize layer carries the metadata; refresh it with the final metrics.
    st = model.get_layer("standardize")
    st.info = dict(st.info, metrics=info["metrics"])
    info = models.model_info(model)
    return TrainResult(model, info, history, sp, ds, seconds)


def _r4(v):
    return None if v != v else round(v, 4)


def predict(model, x, batch=256):
    """Float (Keras) class probabilities for raw windows.

    Calls the model eagerly per batch: model.predict() would first trace a graph, which
    costs more than these small evaluations take.
    """
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    x = np.asarray(x, dtype=np.float32)
    return np.concatenate([np.asarray(model(x[i:i + batch], training=False))
                           for i in range(0, len(x), batch)])


def accuracy(model, x, y):
    if len(y) == 0:
        return float("nan")
    return float(np.mean(np.argmax(predict(model, x), axis=1) == y))


def load_splits(model_info, data_dir):
    """Re-create a trained model's split on DATA (deterministic by recording and seed)."""
    ds = D.load(data_dir)
    D.align_channels(ds, model_info["channels"])
    D.align_labels(ds, model_info["labels"])
    seed = (model_info.get("split") or {}).get("seed", 0)
    split = model_info.get("split") or {}
    tf_ = split.get("test_fraction", D.TEST_FRACTION)
    return ds, D.make_splits(ds, model_info["window"], model_info["hop"], seed,
                             event=model_info.get("event"),
                             test_fraction=D.TEST_FRACTION if tf_ is None else tf_)
