"""microformer explain TEXT: terse engine errors (E<code>: numbers) as sentences."""
import sys


def add_parser(sub):
    p = sub.add_parser(
        "explain", help="turn a terse engine error (E112: 3) back into its sentence",
        description="Firmware built with terse messages (the default with `firmware build "
                    "--ops-from`) reports model errors as a code and numbers, e.g. "
                    "'node 5 (FULLY_CONNECTED): E112: 3'. This prints the text with each such "
                    "code replaced by the engine's sentence. Without TEXT, reads standard input "
                    "(paste a traceback, or pipe a log).")
    p.add_argument("text", nargs="*", help="the error text (default: standard input)")


def run(args):
    from ..engine_messages import explain

    text = " ".join(args.text) if args.text else sys.stdin.read()
    sys.stdout.write(explain(text).rstrip("\n") + "\n")
    return 0
