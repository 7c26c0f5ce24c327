"""microformer tune DATA --board B: search model sizes and kinds under a board's budget."""
from ..cliutil import nonneg_float, positive_int


def add_parser(sub):
    from ..latency import BOARDS

    boards = ", ".join(f"{b.name} ({b.ram_kb} KB RAM, {b.flash_kb} KB flash)" for b in BOARDS.values())
    p = sub.add_parser(
        "tune", help="search model sizes and kinds under a board's RAM/flash/latency budget",
        description="Search convformer, transformer and hybrid models (layers, width, heads, "
                    "FFN, patch, attention kind, QAT) for DATA under a board's budget: architectures are "
                    "screened untrained by the engine's exact arena, the --ops-from flash of "
                    "their ops plus the model, and a latency model calibrated on QEMU_M4 "
                    "instruction counts; the ones inside the budget train briefly, the most "
                    "accurate is retrained fully and saved as int8 .tflite. Prints the Pareto "
                    "front (accuracy vs latency vs RAM vs flash). Resumable: finished "
                    f"candidates are kept in WORK/journal.jsonl. Boards: {boards}.")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--board", required=True, metavar="B", help="board whose budget and speed apply")
    p.add_argument("--ram", type=nonneg_float, metavar="KB",
                   help="RAM for the model: its arena (+ the model with --model-in-ram)")
    p.add_argument("--flash", type=nonneg_float, metavar="KB",
                   help="flash for the engine's kernels of the model's ops + the model file")
    p.add_argument("--latency-ms", type=nonneg_float, metavar="MS", help="per inference")
    p.add_argument("--model-in-ram", action="store_true",
                   help="the model is loaded into RAM (default: read in place from flash, /rom)")
    p.add_argument("--out", default="model.tflite", help="chosen model (default model.tflite)")
    p.add_argument("--work", metavar="DIR", help="journal and candidates (default OUT.tune/)")
    p.add_argument("--plot", nargs="?", const=True, default=None, metavar="PNG",
                   help="plot the Pareto front (default WORK/pareto.png)")
    p.add_argument("--quick", action="store_true", help="a smaller search (5 sizes, full attention)")
    p.add_argument("--no-qat", dest="qat", action="store_false",
                   help="do not try quantization-aware training on the best candidates")
    p.add_argument("--screen-epochs", type=positive_int, metavar="N",
                   help="epochs of each screening run (default: about 200 optimizer steps)")
    p.add_argument("--final-epochs", type=positive_int, metavar="N",
                   help="epochs of the winner's final training (default: train's default)")
    p.add_argument("--max-train", type=positive_int, default=10, metavar="N",
                   help="train at most N candidates inside the budget, spread over size (default 10)")
    p.add_argument("--window", type=positive_int, help="streams: samples per window (as train)")
    p.add_argument("--hop", type=positive_int, help="streams: samples between windows (as train)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args):
    import pathlib

    from ..cliutil import check_data, check_out

    check_out(args.out, ".tflite")
    check_data(args.data)
    from .. import tune

    budget = tune.make_budget(args.board, args.ram, args.flash, args.latency_ms, args.model_in_ram)
    work = pathlib.Path(args.work or (args.out[:-len(".tflite")] + ".tune"))
    plot = None
    if args.plot is not None:
        plot = work / "pareto.png" if args.plot is True else pathlib.Path(args.plot)
    res = tune.run(args.data, budget, args.out, work_dir=work, quick=args.quick, seed=args.seed,
                   screen=args.screen_epochs, final_epochs=args.final_epochs, qat=args.qat,
                   max_train=args.max_train, window=args.window, hop=args.hop,
                   progress=not args.quiet, plot=plot)
    for line in tune.report(res):
        print(line)
    if plot:
        print(f"plot: {plot}")
    return 0
