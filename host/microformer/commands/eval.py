"""microformer eval MODEL DATA: accuracy, per-class precision/recall, confusion matrix."""
from ..cliutil import check_data, check_keras, model_kind, nonneg_float, print_json, read_bytes


def add_parser(sub):
    p = sub.add_parser(
        "eval", help="accuracy of a .keras (float) or .tflite (int8, on the engine) model",
        description="Window every recording in DATA with the model's window and hop and report "
                    "accuracy, per-class precision/recall and the confusion matrix. A .keras "
                    "model runs in TensorFlow (float); a .tflite model runs on the engine (int8).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="CM.png", help="write a confusion-matrix plot")
    p.add_argument("--noise", type=nonneg_float, default=0.0, metavar="SIGMA",
                   help="add Gaussian noise, SIGMA in each channel's training standard deviations")
    p.add_argument("--drift", type=nonneg_float, nargs="?", const=0.5, default=0.0, metavar="D",
                   help="add a linear baseline drift per window and channel ending anywhere in "
                        "+-D training standard deviations (D defaults to 0.5)")
    p.add_argument("--seed", type=int, default=0, help="seed of --noise / --drift (default 0)")


def run(args):
    import sys

    kind = model_kind(args.model)
    if kind == "keras":
        check_keras(args.model)
    else:
        buf = read_bytes(args.model)
    check_data(args.data)
    import numpy as np

    from .. import data as D
    from .. import engine, metrics

    if kind == "tflite":
        e = engine.Engine(buf)
        info = e.info
        predict = e.predict
        where = "int8 on the engine"
    else:
        from .. import models, training

        m = models.load(args.model)
        info = models.model_info(m)
        predict = lambda x: training.predict(m, x)  # noqa: E731
        where = "float (TensorFlow)"
    ds = D.load(args.data)
    D.align_channels(ds, info["channels"])
    D.align_labels(ds, info["labels"])
    x, y, _ = D.recording_windows(ds, info["window"], info["hop"], info.get("event"))
    x = engine.perturb(x, info, args.noise, args.drift, args.seed)
    rep = metrics.report(y, np.argmax(predict(x), axis=1), info["labels"])
    seen = D.overlap(ds, info.get("training_recordings"))
    rep["training_overlap"] = len(seen)
    if seen:
        # Said on stderr so --json stays one object on stdout.
        print(f"microformer: warning: {len(seen)} of {len(ds.units())} recordings in {args.data} "
              f"were used to train this model ({', '.join(seen[:3])}"
              f"{' ...' if len(seen) > 3 else ''}): accuracy on them overstates what new "
              "recordings will get", file=sys.stderr)
    rep["unit"] = "recordings" if info.get("event") else "windows"
    rep["model"] = args.model
    rep["runtime"] = "engine-int8" if kind == "tflite" else "tensorflow-float"
    rep["noise"] = args.noise
    rep["drift"] = args.drift
    if args.plot:
        metrics.plot_confusion(rep, args.plot, title=f"{args.model} ({where})")
    if args.json:
        print_json(rep)
        return 0
    extra = []
    if args.noise:
        extra.append(f"noise sigma {args.noise:g} std")
    if args.drift:
        extra.append(f"drift up to {args.drift:g} std")
    title = f"{args.model} on {args.data}, {where}" + (f" ({', '.join(extra)})" if extra else "")
    print(metrics.format_report(rep, title))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
