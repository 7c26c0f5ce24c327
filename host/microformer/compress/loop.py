"""The training loop of distillation, pruning fine-tunes and QAT fine-tunes.

training.train builds a model from a dataset and calls Keras' fit; compression starts from
models that exist (a teacher, a pruned model, a float model to make quantization-aware) and
minimizes losses fit cannot express (teacher outputs and attention maps inside the step),
so it runs its own loop over the same ingredients: training's freshly augmented,
class-balanced batches, AdamW with cosine decay and gradient clipping, label smoothing,
early stopping on the objective's validation value with the best weights restored, a tqdm
bar per epoch.

An Objective says what a step minimizes; the default is training's loss (class-weighted
cross-entropy with label smoothing on the model's probabilities).
"""
import sys
import time
from dataclasses import dataclass

import numpy as np

from .. import training
from .._tf import keras as _keras, tensorflow as _tensorflow
from ..errors import MicroformerError

keras = _keras()
tf = _tensorflow()
ops = keras.ops

LABEL_SMOOTHING = 0.05  # as training.train


def logits_model(model):
    """(model input) -> class logits: the `head` layer's output of a microformer model."""
    try:
        head = model.get_layer("head")
    except ValueError:
        raise MicroformerError(f"model {model.name!r} has no 'head' layer: not a microformer classifier") from None
    return keras.Model(model.input, head.output, name=model.name + "_logits")


def cross_entropy(y, logits, w):
    """Mean of w * CE(label-smoothed y, softmax(logits))."""
    ce = keras.losses.categorical_crossentropy(y, logits, from_logits=True,
                                               label_smoothing=LABEL_SMOOTHING)
    return ops.sum(ce * w) / ops.maximum(ops.sum(w), 1e-9)


class Objective:
    """Cross-entropy on the labels. Subclasses add terms; `parts` names what is printed."""
    parts = ("ce",)

    def __init__(self, model):
        self.model = model
        self.logits = logits_model(model)

    def variables(self):
        return self.model.trainable_variables

    def __call__(self, x, y, w, training=True):
        """-> (loss, {part: value})."""
        ce = cross_entropy(y, self.logits(x, training=training), w)
        return ce, {"ce": ce}


@dataclass
class FitResult:
    history: dict  # per epoch: loss, parts, val_loss, val_accuracy
    epochs_run: int
    best_epoch: int
    seconds: float


def class_weights(y, n_classes):
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return (len(y) / (n_classes * np.maximum(counts, 1))).astype(np.float32)


def validation(objective, x, y, n_classes, batch=256):
    """(objective value, accuracy) on x, unweighted and without augmentation.

    Early stopping watches the objective itself: a distilled student matches the teacher's
    softened outputs, so its plain cross-entropy can rise while its accuracy still improves.
    """
    if len(y) == 0:
        raise MicroformerError("the validation split has no windows")
    x = np.asarray(x, np.float32)
    y1 = np.eye(n_classes, dtype=np.float32)[y]
    total = 0.0
    for i in range(0, len(x), batch):
        loss, _ = objective(x[i:i + batch], y1[i:i + batch],
                            np.ones(len(y1[i:i + batch]), np.float32), training=False)
        total += float(loss) * len(y1[i:i + batch])
    acc = float(np.mean(np.argmax(training.predict(objective.model, x), 1) == y))
    return total / len(x), acc


def fit(objective, splits, info, epochs=20, batch=32, lr=1e-3, patience=8, seed=0,
        augment="all", progress=True, desc="fine-tune"):
    """Minimize `objective` over splits.x/y['train']; early stopping on splits['val']."""
    from .. import data as D

    model = objective.model
    for k, v in (("epochs", epochs), ("batch", batch), ("patience", patience)):
        if not isinstance(v, int) or v < 1:
            raise MicroformerError(f"{k} must be a positive integer, got {v!r}")
    if not lr > 0:
        raise MicroformerError(f"learning rate must be > 0, got {lr}")
    n_classes = len(info["labels"])
    x, y = splits.x["train"], splits.y["train"]
    if len(y) == 0:
        raise MicroformerError("the training split has no windows")
    w = class_weights(y, n_classes)[y]
    norm = info["normalization"]
    aug = D.parse_augment(augment, events=info.get("mode") == "events")
    keras.utils.set_random_seed(seed)
    batches = training._batches(keras, x, y, w, batch, aug, norm["mean"], norm["std"], seed, n_classes)
    steps = len(batches)
    sched = keras.optimizers.schedules.CosineDecay(lr, decay_steps=epochs * steps, alpha=0.05)
    opt = keras.optimizers.AdamW(learning_rate=sched, weight_decay=1e-4, clipnorm=1.0)
    variables = objective.variables()
    opt.build(variables)

    def step(xb, yb, wb):
        with tf.GradientTape() as tape:
            loss, parts = objective(xb, yb, wb, training=True)
        grads = tape.gradient(loss, variables)
        opt.apply(grads, variables)
        return loss, parts

    # As in training.train: tracing costs ~10 s on a loaded machine, worth it only for
    # runs longer than a few dozen steps.
    if epochs * steps > training.EAGER_MAX_STEPS:
        step = tf.function(step, reduce_retracing=True)
    from tqdm import tqdm

    hist = {"loss": [], "val_loss": [], "val_accuracy": []}
    best, best_epoch, best_weights, waited = np.inf, 0, model.get_weights(), 0
    t0 = time.perf_counter()
    bar = tqdm(total=epochs, desc=desc, unit="epoch", file=sys.stderr, disable=not progress,
               leave=True, dynamic_ncols=True)
    epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            sums = {}
            for i in range(steps):
                xb, yb, wb = batches[i]
                loss, parts = step(tf.constant(xb), tf.constant(yb), tf.constant(wb))
                for k, v in dict(parts, loss=loss).items():
                    sums[k] = sums.get(k, 0.0) + float(v)
            batches.on_epoch_end()
            for k, v in sums.items():
                hist.setdefault(k, []).append(v / steps)
            vl, va = validation(objective, splits.x["val"], splits.y["val"], n_classes)
            hist["val_loss"].append(vl)
            hist["val_accuracy"].append(va)
            bar.set_postfix(loss=f"{hist['loss'][-1]:.3f}", val_loss=f"{vl:.3f}",
                            val_acc=f"{va:.3f}", refresh=False)
            bar.update(1)
            if vl < best:
                best, best_epoch, best_weights, waited = vl, epoch, model.get_weights(), 0
            else:
                waited += 1
                if waited >= patience:
                    break
    finally:
        bar.close()
    model.set_weights(best_weights)
    return FitResult(hist, epoch, best_epoch, time.perf_counter() - t0)


__all__ = ["Objective", "FitResult", "fit", "logits_model", "cross_entropy", "validation"]
