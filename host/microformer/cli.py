"""`microformer` command line: one module per verb under microformer.commands.

Each verb module has `add_parser(subparsers)` and `run(args) -> int`. VERBS lists them in
help order; a listed module that does not exist (yet) is skipped, so adding a verb is one
file plus one entry here. Importing this module never imports TensorFlow: verb modules
import heavy dependencies inside run().
"""
import argparse
import importlib
import os
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
        code = int(run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except MicroformerError as e:
        print(f"microformer: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        hint = missing_extra(e)
        if hint is None:
            raise
        print(f"microformer: {args.verb} {hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Files are written to NAME.part and renamed, so an interrupt leaves the old file
        # or none, never half of one.
        _close_progress_bars()
        print(f"\nmicroformer: {args.verb} interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `microformer ... | head` closed stdout: stop quietly, as cat and grep do. Python
        # flushes stdout again at exit; point it at /dev/null so that flush cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a program killed by it


def _close_progress_bars():
    """Closes the tqdm bars an interrupted verb left open now, so they are drawn before the
    last line rather than redrawn after it when the interpreter collects them."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", None) or ()):
        bar.close()


# Modules that only an optional extra brings (pyproject.toml), and what to install.
EXTRAS = {
    "tensorflow": ("TensorFlow", "train"),
    "keras": ("Keras (with TensorFlow)", "train"),
    "tf_keras": ("Keras (with TensorFlow)", "train"),
    "matplotlib": ("matplotlib (for --plot)", "train"),
    "aeon": ("aeon", "bench"),
}


def missing_extra(e):
    """'needs X, which is not installed: pip install ...' for a ModuleNotFoundError of an
    optional dependency; None for any other missing module (a real bug: let it raise)."""
    top = (e.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    what, extra = EXTRAS[top]
    return (f"needs {what}, which is not installed in this environment ({sys.executable}): "
            f"pip install 'microformer[{extra}]' (from a checkout: pip install -e '.[{extra}]')")


if __name__ == "__main__":
    sys.exit(main())
