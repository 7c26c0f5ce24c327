"""`microformer train --init MODEL.keras [--qat]`: fine-tune an existing model on DATA, and
the int8 report `train --qat` prints.

The model keeps its architecture, window, hop, channels, labels, normalization and split
(re-created from its metadata), so only optimisation flags apply.
"""
import time

from .. import models, training
from ..errors import MicroformerError
from . import loop, qat, report

# Flags of `train` that describe a new model or dataset layout; --init takes them from the model.
FIXED_BY_INIT = ("arch", "layers", "d_model", "heads", "ffn", "attention", "patch", "activation",
                 "dropout", "ln_epsilon", "layernorm", "window", "hop", "sample_rate")
# Fine-tuning defaults (from scratch: training.DEFAULTS): fewer epochs, a lower peak rate.
DEFAULTS = {"epochs": 10, "batch": 32, "lr": 1e-3, "patience": 5, "augment": "all", "seed": 0}


def finetune(model, splits, qat_mode=False, progress=True, **opts):
    """Fine-tune `model` in place (quantization-aware with qat_mode); returns loop.FitResult."""
    o = dict(DEFAULTS)
    o.update({k: v for k, v in opts.items() if v is not None})
    info = models.model_info(model)
    trainee = qat.wrap(model, splits.x["train"], seed=o["seed"]) if qat_mode else model
    res = loop.fit(loop.Objective(trainee), splits, info, epochs=o["epochs"], batch=o["batch"],
                   lr=o["lr"], patience=o["patience"], seed=o["seed"], augment=o["augment"],
                   progress=progress, desc="fine-tune" + (" (QAT)" if qat_mode else ""))
    if qat_mode:
        qat.unwrap(trainee)
    return res, o


def int8_report(model, splits, name="model", title="held-back split"):
    """Measure (float, int8 on the engine, MACs, params, arena), store the numbers in the
    model's metrics and return the table as text."""
    row = report.measure(model, splits)
    st = model.get_layer("standardize")
    st.info = dict(st.info, metrics=dict(st.info.get("metrics") or {}, **report.summary(row)))
    return f"{title} ({row['windows']} windows):\n" + report.table([(name, row)])


def run_init(args):
    """The body of `train --init`: load, fine-tune, report, save."""
    given = [k for k in FIXED_BY_INIT if getattr(args, k, None) is not None]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise MicroformerError(
            f"--init fine-tunes {args.init} as it is; {flags} would change its architecture or "
            "data layout (train without --init for a new model)")
    model = models.load(args.init)
    info = models.model_info(model)
    ds, sp = training.load_splits(info, args.data)
    t0 = time.perf_counter()
    res, o = finetune(model, sp, qat_mode=args.qat, progress=not args.quiet,
                      **{k: getattr(args, k, None) for k in DEFAULTS})
    val = training.accuracy(model, sp.x["val"], sp.y["val"])
    st = model.get_layer("standardize")
    tr = dict(st.info.get("training") or {})
    tr.update({k: o[k] for k in DEFAULTS}, init=args.init)
    st.info = dict(st.info, training=tr, metrics=dict(
        st.info.get("metrics") or {}, val_accuracy=round(val, 4), epochs_run=res.epochs_run,
        train_seconds=round(time.perf_counter() - t0, 1)))
    print(f"fine-tuned {args.init} for {res.epochs_run} epochs in {res.seconds:.1f} s"
          + (", quantization-aware" if args.qat else "") + f"; validation accuracy {val * 100:.2f}%")
    print(int8_report(model, sp, "fine-tuned"))
    model.save(args.out)
    print(f"saved {args.out}")
    return 0


__all__ = ["finetune", "int8_report", "run_init", "FIXED_BY_INIT"]
