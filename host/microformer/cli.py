"""`microformer` command line: one module per verb under microformer.commands.

Each verb module has `add_parser(subparsers)` and `run(args) -> int`. VERBS lists them in
help order; a listed module that does not exist (yet) is skipped, so adding a verb is one
file plus one entry here. Importing this module never imports TensorFlow: verb modules
import heavy dependencies inside run().
"""
import argparse
import importlib
import sys

from . import __version__
from .errors import MicroformerError

VERBS = (
    "train",
    "distill",
    "prune",
    "quantize",
    "tune",
    "inspect",
    "explain",
    "eval",
    "install",
    "push",
    "bench",
    "monitor",
    "firmware",
    "board",
    "sim",
    "demo",
)


def _verb_module(name):
    full = f"{__package__}.commands.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as e:
        # Only the verb's own module being absent means "not written yet"; a missing
        # dependency inside an existing verb is a real error and must surface.
        if e.name == full:
            return None
        raise


def build_parser():
    ap = argparse.ArgumentParser(
        prog="microformer",
        description="Train, quantize, inspect and evaluate tiny int8 transformers for "
                    "MicroPython boards.")
    ap.add_argument("--version", action="version", version=f"microformer {__version__}")
    sub = ap.add_subparsers(dest="verb", metavar="VERB")
    for name in VERBS:
        mod = _verb_module(name)
        if mod is None:
            continue
        before = set(sub.choices)
        mod.add_parser(sub)
        for added in set(sub.choices) - before:
            sub.choices[added].set_defaults(_run=mod.run)
    return ap


def main(argv=None):
    ap = build_parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors: argparse already printed
        return e.code if isinstance(e.code, int) else 1
    run = getattr(args, "_run", None)
    if run is None:
        ap.print_help(sys.stderr)
        return 2
    try:
        return int(run(args) or 0)
    except MicroformerError as e:
        print(f"microformer: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
