"""microformer sim DIR [ARGS...]: run the device app of a simulator directory under CPython.

DIR stands for the board's filesystem: DIR/main.py is the app (what a board runs at boot),
DIR/models/ holds what `microformer push --sim DIR` installed. The app runs with DIR as its
working directory and the same uformer package the firmware freezes, on the CPython build
of the engine. Its output goes to the terminal and to DIR/.sim/console.log, where
`microformer monitor --sim DIR` reads it; while it runs, `microformer push --sim DIR --live`
hands it new models through its Slot's file watch.
"""
import sys

from ..errors import MicroformerError


def add_parser(sub):
    p = sub.add_parser(
        "sim", help="run the device app in the simulator (CPython + the engine)",
        description=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("dir", metavar="DIR", help="simulator directory (the board's filesystem)")
    p.add_argument("args", nargs="*", metavar="ARG", help="arguments for the app (its sys.argv[1:])")
    p.add_argument("--app", default="main.py", help="the app file inside DIR (default main.py)")
    p.add_argument("--seconds", type=float, help="stop the app after this many seconds")
    p.add_argument("--quiet", action="store_true", help="only log to DIR/.sim/console.log")


def run(args):
    from .. import simulator

    app = simulator.App(args.dir, args.app, args.args, stdin=None)
    try:
        with app:
            for line in app.lines(args.seconds):
                if not args.quiet:
                    print(line, flush=True)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0
    if app.returncode and not app.stopped:
        raise MicroformerError(f"the app {args.app} exited with status {app.returncode} "
                               f"(its output is in {simulator.console_log(args.dir)})")
    return 0
