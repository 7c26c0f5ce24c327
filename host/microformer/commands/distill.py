"""microformer distill --teacher BIG.keras DATA --out student.keras: knowledge distillation."""

from ..cliutil import (check_data, check_keras, check_out, nonneg_float, positive_int, save_keras,
                       write_bytes)
from ..errors import MicroformerError


def add_parser(sub):
    p = sub.add_parser(
        "distill", help="train a smaller student from a trained teacher",
        description="Train a student model on DATA with the teacher's window, channels, labels, "
                    "normalization and split. Loss: (1 - alpha) * cross-entropy on the labels + "
                    "alpha * T^2 * KL(teacher || student) on outputs softened by temperature T + "
                    "attn-weight * KL between teacher and student attention distributions of "
                    "matched layers (head groups averaged when the head counts differ). Prints "
                    "float and int8 (engine) accuracy, MACs, parameters and arena of both.")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--teacher", required=True, metavar="BIG.keras", help="trained teacher model")
    p.add_argument("--out", default="student.keras", help="output .keras (default student.keras)")
    p.add_argument("--tflite", metavar="OUT.tflite", help="also write the student as int8 .tflite")
    g = p.add_argument_group("student size (default: the teacher's depth, half its width)")
    g.add_argument("--layers", type=positive_int, help="encoder layers, 1-3")
    g.add_argument("--d-model", type=positive_int, help="token width")
    g.add_argument("--heads", type=positive_int, help="attention heads")
    g.add_argument("--ffn", type=positive_int, help="feed-forward width")
    g.add_argument("--attention", help="full | local:W | causal:W | linear (default: the teacher's)")
    g.add_argument("--patch", type=positive_int,
                   help="samples per token (default: the teacher's; attention matching needs it)")
    g.add_argument("--activation", choices=("relu", "gelu"))
    g.add_argument("--dropout", type=nonneg_float)
    g = p.add_argument_group("distillation")
    g.add_argument("--alpha", type=nonneg_float, default=0.5,
                   help="weight of the teacher's soft targets, 0-1 (default 0.5; the labels get 1 - alpha)")
    g.add_argument("--temperature", type=nonneg_float, default=4.0,
                   help="softmax temperature of the soft targets (default 4)")
    g.add_argument("--attn-weight", type=nonneg_float, default=1.0, dest="attn_weight",
                   help="weight of attention-distribution matching (default 1; 0 turns it off)")
    g.add_argument("--attn-layers", default="all", dest="attn_layers",
                   help="student:teacher layer pairs to match, e.g. 0:1,1:3; all (default: same "
                        "relative depth) or none")
    g.add_argument("--qat", action="store_true",
                   help="train the student quantization-aware (simulated engine int8)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=positive_int, default=60, help="maximum epochs (default 60)")
    g.add_argument("--batch", type=positive_int, default=32, help="batch size (default 32)")
    g.add_argument("--lr", type=nonneg_float, default=3e-3, help="peak learning rate (default 3e-3)")
    g.add_argument("--patience", type=positive_int, default=12,
                   help="early-stopping patience in epochs (default 12)")
    g.add_argument("--augment", default="all", help="as for train (default all)")
    g.add_argument("--seed", type=int, default=0, help="seed of initialisation and batches (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


SIZES = ("layers", "d_model", "heads", "ffn", "attention", "patch", "activation", "dropout")


def save(model, row, args):
    """Write the .keras (metrics in its metadata) and, with --tflite, the measured int8 model."""
    import json

    from .. import convert
    from ..compress import report
    from ..tflite import set_metadata

    st = model.get_layer("standardize")
    st.info = dict(st.info, metrics=dict(st.info.get("metrics") or {}, **report.summary(row)))
    save_keras(model, args.out)
    print(f"saved {args.out}")
    if args.tflite:
        b = row["tflite"]
        doc = json.loads(convert.get_metadata(b).decode())
        doc["metrics"].update(report.summary(row))
        write_bytes(args.tflite, set_metadata(b, json.dumps(doc, sort_keys=True).encode()))
        print(f"saved {args.tflite} ({len(b)} bytes)")


def check_args(args):
    """The outputs and the distillation arguments that distill and prune share."""
    check_out(args.out, ".keras")
    if args.tflite:
        check_out(args.tflite, ".tflite", "--tflite")
    if args.alpha > 1:
        raise MicroformerError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.temperature <= 0:
        raise MicroformerError(f"--temperature must be > 0, got {args.temperature}")


def run(args):
    check_args(args)
    check_keras(args.teacher, "--teacher")
    check_data(args.data)
    from .. import models, training
    from ..compress import distill, report

    teacher = models.load(args.teacher)
    info = models.model_info(teacher)
    ds, sp = training.load_splits(info, args.data)
    cfg = distill.student_config(info, **{k: getattr(args, k) for k in SIZES
                                          if getattr(args, k) is not None})
    print(f"student: {cfg['layers']} layer(s), d_model {cfg['d_model']}, {cfg['heads']} head(s), "
          f"ffn {cfg['ffn']}, attention {cfg['attention']}, {cfg['tokens']} tokens of "
          f"{cfg['patch']} samples" + (", quantization-aware" if args.qat else ""))
    student, res, pairs = distill.distill(
        teacher, sp, cfg, alpha=args.alpha, temperature=args.temperature,
        attn_weight=args.attn_weight, attn_layers=args.attn_layers, qat_mode=args.qat,
        seed=args.seed, epochs=args.epochs, batch=args.batch, lr=args.lr,
        patience=args.patience, augment=args.augment, progress=not args.quiet)
    if pairs:
        print("attention matched (student layer <- teacher layer): " +
              ", ".join(f"{i} <- {j}" for i, j in pairs))
    print(f"trained {res.epochs_run} epochs in {res.seconds:.1f} s (best epoch {res.best_epoch})")
    rows = [("teacher", report.measure(teacher, sp)), ("student", report.measure(student, sp))]
    print(f"held-back split ({rows[0][1]['windows']} windows):")
    print(report.table(rows))
    save(student, rows[1][1], args)
    return 0
