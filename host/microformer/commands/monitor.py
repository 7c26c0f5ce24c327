"""microformer monitor (--port P | --sim DIR) [--csv out.csv]: watch the running app.

Reads what the app prints — without interrupting it (no Ctrl-C, no raw REPL) — and shows
it decoded: predictions and rule events (label, score, latency), the Runner's stats lines
(invokes, p50/p99 latency in us, heap free, missed deadlines, swaps), model loads, swaps and
refusals. --csv writes one row per decoded line. With --sim it follows the app `microformer
sim DIR` runs, or starts DIR/main.py itself when none runs.
"""
import csv
import os
import sys
import time

from ..errors import MicroformerError
from ..transport import DeviceError, SerialTransport, SimTransport
from .push import add_target


def add_parser(sub):
    p = sub.add_parser(
        "monitor", help="stream the app's predictions and stats, decoded",
        description=" ".join(__doc__.split("\n\n")[1].split()))
    add_target(p, transport=False)
    p.add_argument("args", nargs="*", metavar="ARG",
                   help="--sim without a running app: arguments for DIR/main.py")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the decoded lines as CSV")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--raw", action="store_true", help="print the lines as they come, undecoded")
    p.add_argument("--all", action="store_true", help="also show lines that are not predictions, "
                                                    "stats or model events")


def serial_lines(port, seconds):
    """The app's lines from the board's port; opening it sends nothing (no Ctrl-C)."""
    with SerialTransport(port) as t:
        yield from t.lines(seconds)


def sim_lines(root, args, seconds):
    from .. import simulator

    if not os.path.isdir(root):
        raise DeviceError(f"simulator directory {root} does not exist")
    if simulator.running(root) is not None:
        yield from SimTransport(root).lines(seconds)
        return
    with simulator.App(root, "main.py", args) as app:
        yield from app.lines(seconds)
    if app.returncode and not app.stopped:
        raise MicroformerError(f"the app exited with status {app.returncode} "
                               f"(its output is in {simulator.console_log(root)})")


def run(args):
    from ..monitor import CSV_FIELDS, Decoder, csv_row, format_event

    if args.port and args.args:
        raise MicroformerError("app arguments only apply to --sim (a board runs its own main.py)")
    lines = serial_lines(args.port, args.seconds) if args.port else sim_lines(args.sim, args.args, args.seconds)
    dec = Decoder()
    out = None
    writer = None
    if args.csv:
        out = open(args.csv, "w", newline="")
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
    t0 = time.monotonic()
    counts = {}
    try:
        for line in lines:
            t = time.monotonic() - t0
            if args.raw:
                print(line, flush=True)
            ev = dec.decode(line)
            if ev is None:
                continue
            counts[ev.kind] = counts.get(ev.kind, 0) + 1
            if writer is not None:
                writer.writerow(csv_row(t, ev))
                out.flush()
            if not args.raw and (ev.kind != "log" or args.all):
                print(format_event(t, ev), flush=True)
    except KeyboardInterrupt:
        counts["interrupted"] = 1  # Ctrl-C is how a monitor session normally ends
    finally:
        if out is not None:
            out.close()
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing"
    print(f"monitor: {summary}" + (f"; wrote {args.csv}" if args.csv else ""), file=sys.stderr)
    return 0
