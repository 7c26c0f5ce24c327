"""Training: dataset folder -> trained Keras model + the metadata that travels with it.

    from microformer import training
    res = training.train("DATA", epochs=40)
    res.model            # keras.Model (raw samples in, class probabilities out)
    res.info             # labels, window, hop, channels, normalization, config, metrics, split
    res.model.save("model.keras")

Defaults aim to work on a new dataset without tuning: window about 2 s (or 64 samples),
hop half a window, a 2-layer d_model=32 transformer, class-balanced loss weights, all four
augmentations (jitter, scaling, time-warp, channel dropout), AdamW with cosine decay, and
early stopping on validation loss with the best weights restored.
"""
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import data as D
from .errors import MicroformerError

DEFAULTS = {
    "arch": "transformer",
    "layers": None,  # 2 for transformer, 1 for hybrid
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
    "epochs": 60,
    "batch": 32,
    "seed": 0,
    "augment": "all",
    "patience": 12,
    "lr": 3e-3,
    "sample_rate": None,
    "qat": False,  # quantization-aware training (compress.qat): simulated engine int8
}


# Below this many optimizer steps in total, training runs eagerly (see train()).
EAGER_MAX_STEPS = 30


@dataclass
class TrainResult:
    model: object
    info: dict
    history: dict
    splits: object  # data.Splits (raw windows per split)
    dataset: object  # data.Dataset
    seconds: float


def _progress_callback(keras, epochs, enabled):
    from tqdm import tqdm

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc="train", unit="epoch", file=sys.stderr,
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


def _batches(keras, x, y, w, batch, aug, mean, std, seed, n_classes):
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
            xb = D.augment(x[idx], aug, mean, std, self.rng)
            yb = np.eye(n_classes, dtype=np.float32)[y[idx]]
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
    if o["layers"] is None:
        o["layers"] = 1 if o["arch"] == "hybrid" else 2
    for k in ("epochs", "batch", "patience"):
        if not isinstance(o[k], int) or o[k] < 1:
            raise MicroformerError(f"{k} must be a positive integer, got {o[k]!r}")
    return o


def train(data_dir, progress=True, log=print, **opts):
    """Train on DATA; see DEFAULTS for the options. Returns a TrainResult."""
    from . import models
    from ._tf import keras as _keras

    o = resolve(opts)
    keras = _keras()
    ds = D.load(data_dir, sample_rate=o["sample_rate"])
    window = o["window"] or D.default_window(ds)
    hop = o["hop"] or max(1, window // 2)
    aug = D.parse_augment(o["augment"])
    if len(ds.labels) < 2:
        raise MicroformerError(f"{data_dir}: classification needs at least 2 labels, found {ds.labels}")
    sp = D.make_splits(ds, window, hop, o["seed"])
    log(D.describe(ds))
    log(f"window {window} samples, hop {hop}; windows: " +
        ", ".join(f"{s} {len(sp.y[s])}" for s in D.SPLITS))
    if sp.short:
        what = "recording(s)" if ds.kind == "folder" else "labelled run(s)"
        log(f"note: {len(sp.short)} {what} shorter than the window give no windows: "
            + ", ".join(sp.short[:5]) + (" ..." if len(sp.short) > 5 else ""))
    mean, std = D.fit_normalization(sp.x["train"])
    cfg = models.resolve_config(
        {k: o[k] for k in ("arch", "layers", "d_model", "heads", "ffn", "attention", "patch",
                           "activation", "dropout", "ln_epsilon", "layernorm")},
        window, len(ds.channels), len(ds.labels))
    info = {
        "task": "classification",
        "labels": list(ds.labels),
        "window": window,
        "hop": hop,
        "sample_rate": ds.sample_rate,
        "channels": list(ds.channels),
        "split": {"seed": o["seed"], "by": "recording" if ds.kind == "folder" else "labelled run",
                  "val_fraction": D.VAL_FRACTION, "test_fraction": D.TEST_FRACTION},
        "training": {k: o[k] for k in ("epochs", "batch", "seed", "augment", "patience", "lr")},
    }
    keras.utils.set_random_seed(o["seed"])
    model = models.build_model(cfg, mean, std, info)
    if o["qat"]:
        from .compress import qat

        model = qat.wrap(model, sp.x["train"], seed=o["seed"])
    n_classes = len(ds.labels)
    counts = np.bincount(sp.y["train"], minlength=n_classes).astype(np.float64)
    class_w = (len(sp.y["train"]) / (n_classes * np.maximum(counts, 1))).astype(np.float32)
    w = class_w[sp.y["train"]]
    steps = int(np.ceil(len(sp.y["train"]) / o["batch"]))
    sched = keras.optimizers.schedules.CosineDecay(o["lr"], decay_steps=o["epochs"] * steps, alpha=0.05)
    # Tracing the train and test steps into graphs costs ~10 s on a loaded 2-core machine,
    # the time of ~25 eager steps (0.3-0.5 s each, mostly the optimizer update); tiny runs
    # (smoke tests, a first look at a dataset) are faster eagerly. XLA compilation is off for the same reason: it only pays off on
    # long runs of much larger models.
    eager = o["epochs"] * steps <= EAGER_MAX_STEPS
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=sched, weight_decay=1e-4, clipnorm=1.0),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.05),
        metrics=["accuracy"], jit_compile=False, run_eagerly=eager)
    yv = np.eye(n_classes, dtype=np.float32)[sp.y["val"]]
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=o["patience"],
                                      restore_best_weights=True),
        _progress_callback(keras, o["epochs"], progress),
    ]
    t0 = time.perf_counter()
    hist = model.fit(
        _batches(keras, sp.x["train"], sp.y["train"], w, o["batch"], aug, mean, std, o["seed"],
                 n_classes),
        validation_data=(sp.x["val"], yv), epochs=o["epochs"], verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - t0
    if o["qat"]:
        model = qat.unwrap(model)  # the float model, kernels on their int8 grid
    val_acc = accuracy(model, sp.x["val"], sp.y["val"])
    test_acc = accuracy(model, sp.x["test"], sp.y["test"])
    epochs_run = len(hist.history.get("loss", []))
    info["metrics"] = {"val_accuracy": round(val_acc, 4), "test_accuracy": round(test_acc, 4),
                       "epochs_run": epochs_run, "train_seconds": round(seconds, 1)}
    # The Standardize layer carries the metadata; refresh it with the final metrics.
    st = model.get_layer("standardize")
    st.info = dict(st.info, metrics=info["metrics"])
    info = models.model_info(model)
    return TrainResult(model, info, hist.history, sp, ds, seconds)


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
    return ds, D.make_splits(ds, model_info["window"], model_info["hop"], seed)
