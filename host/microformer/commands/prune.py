"""microformer prune MODEL.keras DATA --out pruned.keras: remove attention heads / FFN units."""
import argparse

from ..cliutil import check_data, check_keras, nonneg_float, positive_int
from ..errors import MicroformerError
from .distill import check_args, save


def macs_arg(s):
    """N MACs, or P% of the model's MACs."""
    t = s.strip()
    try:
        if t.endswith("%"):
            v = float(t[:-1])
            if not 0 < v < 100:
                raise argparse.ArgumentTypeError(f"a percentage must be in (0, 100), got {s}")
            return ("%", v)
        v = int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number of MACs or a percentage") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return ("macs", v)


def add_parser(sub):
    p = sub.add_parser(
        "prune", help="remove attention heads and feed-forward units, then fine-tune",
        description="Structured pruning: score every attention head and FFN unit by a "
                    "first-order Taylor estimate of the loss change its removal causes "
                    "(training windows of DATA), rebuild the layers without the least important "
                    "ones (the model really shrinks), then fine-tune on DATA, by default also "
                    "learning from the unpruned model's outputs. Prints float and int8 (engine) "
                    "accuracy, MACs, parameters and arena before and after.")
    p.add_argument("model", metavar="MODEL.keras")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", default="pruned.keras", help="output .keras (default pruned.keras)")
    p.add_argument("--tflite", metavar="OUT.tflite", help="also write the pruned model as int8 .tflite")
    g = p.add_argument_group("what to keep (--heads and --ffn-units combine)")
    g.add_argument("--heads", type=positive_int, metavar="K", help="attention heads kept per layer")
    g.add_argument("--ffn-units", type=positive_int, metavar="K", dest="ffn_units",
                   help="feed-forward units kept per layer")
    g.add_argument("--target-macs", type=macs_arg, metavar="N", dest="target_macs",
                   help="prune heads and units (least importance per MAC first) until the model "
                        "needs at most N MACs per inference; N may be a percentage, e.g. 50%%")
    g = p.add_argument_group("fine-tuning")
    g.add_argument("--epochs", type=positive_int, default=20, help="maximum epochs (default 20; "
                   "--no-finetune skips it)")
    g.add_argument("--no-finetune", action="store_true", dest="no_finetune",
                   help="only prune (accuracy usually drops)")
    g.add_argument("--batch", type=positive_int, default=32, help="batch size (default 32)")
    g.add_argument("--lr", type=nonneg_float, default=1e-3, help="peak learning rate (default 1e-3)")
    g.add_argument("--patience", type=positive_int, default=6,
                   help="early-stopping patience in epochs (default 6)")
    g.add_argument("--alpha", type=nonneg_float, default=0.5,
                   help="weight of the unpruned model's soft targets during fine-tuning, 0-1 "
                        "(default 0.5; 0 = labels only)")
    g.add_argument("--temperature", type=nonneg_float, default=4.0, help="of the soft targets (default 4)")
    g.add_argument("--qat", action="store_true", help="fine-tune quantization-aware")
    g.add_argument("--augment", default="all", help="as for train (default all)")
    g.add_argument("--seed", type=int, default=0, help="seed of batches and scoring (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    check_args(args)
    if args.target_macs is not None and (args.heads is not None or args.ffn_units is not None):
        raise MicroformerError("--target-macs chooses heads and units itself; do not combine it "
                               "with --heads or --ffn-units")
    if args.target_macs is None and args.heads is None and args.ffn_units is None:
        raise MicroformerError("say what to prune: --heads K, --ffn-units K or --target-macs N")
    check_keras(args.model)
    check_data(args.data)
    from .. import models, training
    from ..compress import distill, loop, prune, qat, report

    model = models.load(args.model)
    info = models.model_info(model)
    h0, u0, _ = prune.structure(model)
    prune.check_keep(args.heads, h0, "--heads")
    prune.check_keep(args.ffn_units, u0, "--ffn-units")
    ds, sp = training.load_splits(info, args.data)
    before = report.measure(model, sp)
    target = None
    if args.target_macs is not None:
        kind, v = args.target_macs
        target = int(before["macs"] * v / 100) if kind == "%" else v
    imp = prune.importance(model, sp.x["train"], sp.y["train"], seed=args.seed)
    keep_h, keep_u = prune.plan(model, imp, heads=args.heads, ffn_units=args.ffn_units,
                                target_macs=target,
                                macs_offset=before["macs"] - models.count_macs(info["config"]))
    pruned = prune.apply(model, keep_h, keep_u)
    prune.record(pruned, model, keep_h, keep_u, imp)
    for i in range(len(keep_h)):
        print(f"layer {i}: heads {h0[i]} -> {len(keep_h[i])} (kept {keep_h[i].tolist()}, importance "
              + ", ".join(f"{v:.4f}" for v in imp["heads"][i]) + f"); FFN units {u0[i]} -> {len(keep_u[i])}")
    rows = [("before", before)]
    if not args.no_finetune:
        rows.append(("pruned, not fine-tuned", report.measure(pruned, sp)))
        trainee = qat.wrap(pruned, sp.x["train"], seed=args.seed) if args.qat else pruned
        if args.alpha > 0:
            obj = distill.DistillObjective(trainee, model, alpha=args.alpha,
                                           temperature=args.temperature, attn_weight=0.0)
        else:
            obj = loop.Objective(trainee)
        res = loop.fit(obj, sp, info, epochs=args.epochs, batch=args.batch, lr=args.lr,
                       patience=args.patience, seed=args.seed, augment=args.augment,
                       progress=not args.quiet, desc="fine-tune" + (" (QAT)" if args.qat else ""))
        if args.qat:
            pruned = qat.unwrap(trainee)
        print(f"fine-tuned {res.epochs_run} epochs in {res.seconds:.1f} s (best epoch {res.best_epoch})")
    rows.append(("pruned" + (", fine-tuned" if not args.no_finetune else ""), report.measure(pruned, sp)))
    print(f"held-back split ({before['windows']} windows):")
    print(report.table(rows))
    if target is not None and rows[-1][1]["macs"] > target:
        print(f"note: {rows[-1][1]['macs']} MACs, above the target {target}")
    save(pruned, rows[-1][1], args)
    return 0
