"""microformer train DATA --out model.keras: train a classifier on sensor recordings."""
import argparse
import sys

from ..cliutil import check_data, check_keras, check_out, nonneg_float, positive_int, save_keras


def add_parser(sub):
    p = sub.add_parser(
        "train", help="train a tiny transformer on DATA",
        description="Train a tiny transformer (or conv+transformer hybrid) classifier on "
                    "DATA/<label>/*.csv recordings or a stream CSV with a label column. The "
                    "split is by recording; the metadata (labels, window, hop, channels, "
                    "normalization) is stored in the model.")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", default="model.keras", help="output .keras file (default model.keras)")
    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=("convformer", "transformer", "hybrid"),
                   help="convformer (default; transformer with --qat): three Conv1D+BatchNorm blocks shorten the window "
                        "into tokens for the encoder; transformer: one Dense per patch; hybrid: "
                        "a Conv1D and a separable Conv1D")
    g.add_argument("--layers", type=positive_int,
                   help="encoder layers, 1-3 (default 1; transformer 2)")
    g.add_argument("--d-model", type=positive_int, help="token width (default 32)")
    g.add_argument("--heads", type=positive_int, help="attention heads (default 2)")
    g.add_argument("--ffn", type=positive_int, help="feed-forward width (default 64)")
    g.add_argument("--attention", help="full | local:W | causal:W | linear (default full); W in tokens")
    g.add_argument("--patch", type=positive_int,
                   help="samples per token: the sequence is shortened by this before attention "
                        "(default window // 16)")
    g.add_argument("--activation", choices=("relu", "gelu"), help="feed-forward activation (default relu)")
    g.add_argument("--dropout", type=nonneg_float, help="default 0.1")
    g.add_argument("--ln-epsilon", type=nonneg_float, dest="ln_epsilon",
                   help="LayerNorm epsilon (default 1e-5)")
    g.add_argument("--layernorm", choices=("integer", "keras"),
                   help="integer (default): LayerNorm ordered to quantize fully to int8; keras: "
                        "keras.layers.LayerNormalization, which leaves a DEQUANTIZE/NEG/QUANTIZE "
                        "float island per LayerNorm on the device")
    g = p.add_argument_group("data")
    g.add_argument("--window", type=positive_int,
                   help="streams: samples per window (default ~2 s, or 64); forces stream mode")
    g.add_argument("--hop", type=positive_int,
                   help="streams: samples between windows (default window // 2)")
    g.add_argument("--events", action="store_true", default=None,
                   help="each file is one example (a gesture, an utterance), brought to one "
                        "length; default: decided from the recording lengths")
    g.add_argument("--test-fraction", type=nonneg_float, dest="test_fraction",
                   help="share of each label's recordings held back for test (default 0.15; "
                        "0 when you evaluate on other recordings with `microformer eval`)")
    g.add_argument("--sample-rate", type=nonneg_float, dest="sample_rate",
                   help="Hz; default: from a t/time/timestamp column in seconds")
    g.add_argument("--augment", help="comma list of jitter[=s], scaling[=s], time-warp[=s], "
                                     "channel-dropout[=p], rotate[=degrees] (x/y/z channel "
                                     "triplets), mixup[=beta] (examples and labels mixed "
                                     "within a batch), shift[=fraction] (events: time shift, "
                                     "edges repeated; all/auto add it for events only), "
                                     "all, none, or auto (default: all, with jitter, "
                                     "scaling and time-warp weakened or dropped where a "
                                     "1-NN check on the training data says they blur the "
                                     "classes)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=positive_int,
                   help="epochs (default: about 1500 optimizer steps, 30-1000 epochs)")
    g.add_argument("--batch", type=positive_int,
                   help="batch size (default 16 below 512 examples, else 32)")
    g.add_argument("--patience", type=positive_int,
                   help="early stopping on validation loss after this many epochs without "
                        "improvement (default: off, the learning-rate schedule runs to its end)")
    g.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                   help="after validating, train the final model on train + validation "
                        "(default: when the validation split has fewer than 200 examples)")
    g.add_argument("--lr", type=nonneg_float, help="peak learning rate (default 3e-3)")
    g.add_argument("--seed", type=int, help="seed of split, initialisation and augmentation (default 0)")
    g.add_argument("--qat", action="store_true",
                   help="quantization-aware: simulate the engine's int8 (per-channel weights, "
                        "per-tensor activations) while training; prints int8 accuracy on the engine")
    p.add_argument("--init", metavar="MODEL.keras",
                   help="fine-tune this trained model instead of building one (its architecture, "
                        "window and split are kept; default 10 epochs at lr 1e-3)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


OPTS = ("arch", "layers", "d_model", "heads", "ffn", "attention", "patch", "activation", "dropout",
        "ln_epsilon", "layernorm", "window", "hop", "sample_rate", "augment", "epochs", "batch",
        "patience", "lr", "seed", "qat", "events", "test_fraction", "refit")


def run(args):
    check_out(args.out, ".keras")
    check_data(args.data)
    if args.init:
        check_keras(args.init, "--init")
        from ..compress.finetune import run_init

        return run_init(args)
    from .. import training

    opts = {k: getattr(args, k) for k in OPTS}
    res = training.train(args.data, progress=not args.quiet, log=print,
                         warn=lambda m: print(f"microformer: warning: {m}", file=sys.stderr),
                         **opts)
    if args.qat:  # measured before saving: the numbers go into the model's metadata
        from ..compress.finetune import int8_report

        qat_table = int8_report(res.model, res.splits, "quantization-aware")
    save_keras(res.model, args.out)
    m = res.info["metrics"]
    c = res.info["config"]
    print(f"{c['arch']}: {c['layers']} layer(s), d_model {c['d_model']}, {c['heads']} head(s), "
          f"ffn {c['ffn']}, attention {c['attention']}, {c['tokens']} tokens of {c['patch']} samples; "
          f"{res.model.count_params()} parameters")
    refit = " (+ refit on train + validation)" if res.info["training"].get("refit") else ""
    print(f"trained {m['epochs_run']} epochs{refit} in {m['train_seconds']:.1f} s")
    what = "recordings" if res.info.get("mode") == "events" else "windows"
    test = (f"held-back test {m['test_accuracy'] * 100:.2f}% ({len(res.splits.y['test'])} {what})"
            if len(res.splits.y["test"]) else "no held-back test split (--test-fraction 0)")
    print(f"validation accuracy {m['val_accuracy'] * 100:.2f}% "
          f"({len(res.splits.y['val'])} {what}); {test}")
    if args.qat:
        print(qat_table)
    print(f"saved {args.out}")
    sys.stdout.flush()
    return 0
