"""Live-update throughput against the raw-REPL push, on the same kind of link, from one run.

    MICROPYTHON_UFORMER=out/firmware/UNIX/micropython-uformer python benchmarks/live_transfer.py
    python benchmarks/live_transfer.py --micropython PATH [--model A.tflite --model2 B.tflite]
    python benchmarks/live_transfer.py --qemu out/firmware/QEMU_M4/firmware.elf

Both run against unix MicroPython with _uformer (`microformer firmware build --board UNIX`,
built from this tree: the app runs the firmware's frozen uformer, as on a board, which
leaves a 256 KB heap room for the recording) on a pseudo-terminal, the way a board's USB
serial looks to the host:
  raw REPL  `microformer push --port PTY` to the interpreter's REPL (the app is not running:
            mpremote's raw REPL, the helper upload and the chunked file writes);
  live      `microformer.live.LiveLink.push` to examples/replay_app.py running on a 256 KB
            heap at its 50 Hz sample rate (uformer.live.Receiver in the Runner's slack time),
            followed by the app's own stats: windows inferred, deadlines missed, swaps.
Prints bytes/s of each, their ratio, and the app's stats. Not a test: nothing is asserted.
--qemu: the same two pushes to the emulated QEMU_M4 board (its UART on a pty; -icount, so
the board's clock counts instructions while the link runs in wall time): the raw-REPL push
to a file beside the app's, then the app started from the raw REPL and the live push.
Default models: the two the device soak tests use (tests/device/devmodels.trained, cached).
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import tty

ROOT = pathlib.Path(__file__).resolve().parents[1]
IDLE_S = 2.0  # the app runs this long without a transfer first (the deadline control)
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "tests" / "device"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class Pty:
    """A process on one end of a raw pty; .port is the other end's path, which pyserial
    and mpremote open like a board's serial port."""

    def __init__(self, argv, cwd):
        master, self.slave = os.openpty()
        tty.setraw(master)
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.proc = subprocess.Popen(argv, stdin=master, stdout=master, stderr=master, cwd=cwd,
                                     close_fds=True)
        os.close(master)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.slave)


def raw_repl_push(exe, root, model, name):
    from microformer import cli, transport

    board = Pty([exe], root)
    try:
        time.sleep(0.5)
        transport.MODELS_DIR = os.path.join(root, "models")  # the board's /models
        t0 = time.monotonic()
        code = cli.main(["push", model, "--port", board.port, "--name", name, "--quiet"])
        dt = time.monotonic() - t0
        if code != 0:
            raise SystemExit("raw-REPL push failed (exit %d)" % code)
    finally:
        board.close()
    return dt


def live_push(exe, root, model, model2, recording, name, chunk):
    from microformer.live import LiveLink
    from microformer.transport import SerialTransport
    from uformer.runner import parse_stats

    models = os.path.join(root, "models")
    os.makedirs(models, exist_ok=True)
    path = os.path.join(models, name)
    with open(model, "rb") as f, open(path, "wb") as g:
        g.write(f.read())
    app = Pty([exe, "-X", "heapsize=256K", str(ROOT / "examples" / "replay_app.py"), recording,
               path, "120"], root)  # not the repo root: the app runs the firmware's frozen uformer
    lines = []
    try:
        with SerialTransport(app.port) as t:
            link = LiveLink(t, timeout=1.0, on_line=lines.append, chunk=chunk)
            link.wait(set(), "", 3.0)  # let the app start and fill its first windows
            start = parse_stats(link.stats())
            link.wait(set(), "", IDLE_S)  # the control: as long, no transfer
            before = parse_stats(link.stats())
            data = open(model2, "rb").read()
            t0 = time.monotonic()
            res = link.push(name, data)
            dt = time.monotonic() - t0
            link.wait(set(), "", 0.5)
            after = parse_stats(link.stats())
    finally:
        app.close()
    return dt, res, start, before, after, lines


def qemu_run(firmware, model, model2, recording, chunk, app_max_bytes=None):
    """(raw seconds, live seconds, live result, stats start, before, after, app lines)."""
    from microformer.commands.push import push
    from microformer.firmware import qemu
    from microformer.live import LiveLink
    from microformer.transport import SerialTransport
    from uformer.runner import parse_stats

    a = open(model, "rb").read()
    b = open(model2, "rb").read()
    with qemu.booted("QEMU_M4", firmware) as board:
        with SerialTransport(board.pty) as sb:
            push(sb, a, "m.tflite", quiet=True)  # the app's model (and the helper uploaded)
            t0 = time.monotonic()
            push(sb, b, "raw.tflite", quiet=True)
            raw_s = time.monotonic() - t0
            sb.put_file("/rec.csv", open(recording, "rb").read())
            app = open(ROOT / "examples" / "replay_app.py", "rb").read()
            if app_max_bytes:
                app = app.replace(b"max_bytes=64 * 1024", b"max_bytes=%d" % app_max_bytes)
            sb.put_file("/replay_app.py", app)
            sb.run_detached("replay_app.py", ["rec.csv", "models/m.tflite", 100000])
        lines = []
        with SerialTransport(board.pty) as t:
            link = LiveLink(t, timeout=2.0, on_line=lines.append, chunk=chunk)
            link.wait(set(), "", 5.0)
            start = parse_stats(link.stats())
            link.wait(set(), "", IDLE_S)
            before = parse_stats(link.stats())
            t0 = time.monotonic()
            res = link.push("m.tflite", b)
            live_s = time.monotonic() - t0
            link.wait(set(), "", 0.5)
            after = parse_stats(link.stats())
    return raw_s, live_s, res, start, before, after, lines


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--micropython", default=os.environ.get("MICROPYTHON_UFORMER"),
                   help="unix MicroPython built with _uformer (default $MICROPYTHON_UFORMER)")
    p.add_argument("--model", help="the model the app starts with")
    p.add_argument("--model2", help="the model pushed")
    p.add_argument("--chunk", type=int, default=None, help="live chunk bytes (default: LiveLink's)")
    p.add_argument("--qemu", metavar="ELF", help="QEMU_M4 firmware.elf: measure on the emulated board")
    p.add_argument("--app-max-bytes", type=int, help="--qemu: the replay app's Slot max_bytes "
                   "instead of its 64 KB")
    args = p.parse_args()
    if not args.qemu and (not args.micropython or not os.path.exists(args.micropython)):
        raise SystemExit("needs unix MicroPython with _uformer: --micropython or MICROPYTHON_UFORMER "
                         "(microformer firmware build --board UNIX)")
    work = tempfile.mkdtemp(prefix="mf-live-bench-")
    if args.model is None or args.model2 is None:
        import devmodels

        devmodels.trained(work)
        args.model = args.model or os.path.join(work, "trained_a.tflite")
        args.model2 = args.model2 or os.path.join(work, "trained_b.tflite")
    from microformer import synth
    from microformer.live import DEFAULT_CHUNK

    recording = os.path.join(work, "stream.csv")
    synth.generate(recording, seed=5, stream=True, recordings_per_label=1, seconds=(8.0, 9.0))
    # The app parses the recording into RAM next to the slot's buffers (the demo's 8 s at
    # 50 Hz fits a 256 KB heap); ReplaySensor loops over it.
    with open(recording) as f:
        rows = f.readlines()[:401]
    with open(recording, "w") as f:
        f.writelines(rows)
    size = os.path.getsize(args.model2)
    chunk = args.chunk or DEFAULT_CHUNK

    if args.qemu:
        raw_s, live_s, res, start, before, after, lines = qemu_run(
            args.qemu, args.model, args.model2, recording, chunk, args.app_max_bytes)
    else:
        raw_root = os.path.join(work, "raw")
        os.makedirs(raw_root)
        raw_s = raw_repl_push(args.micropython, raw_root, args.model2, "m")
        live_root = os.path.join(work, "live")
        os.makedirs(live_root)
        live_s, res, start, before, after, lines = live_push(
            args.micropython, live_root, args.model, args.model2, recording, "m.tflite", chunk)
    raw_bps = size / raw_s
    live_bps = size / live_s
    print("model %s: %d bytes" % (os.path.basename(args.model2), size))
    print("raw REPL push (microformer push --port, app stopped): %.2f s, %.0f B/s" % (raw_s, raw_bps))
    print("live push (LiveLink, chunk %d, app running):          %.2f s, %.0f B/s" % (
        chunk, live_s, live_bps))
    print("live / raw: %.0f %%" % (100.0 * live_bps / raw_bps))
    print("link: timeouts %s, naks %s, resends %s" % (res.get("timeouts"), res.get("naks"),
                                                      res.get("resends")))
    keys = ("windows", "invokes", "missed", "p99_us", "max_us", "swaps", "refused", "heap_free", "model")
    print("app before: " + " ".join("%s=%s" % (k, before.get(k)) for k in keys))
    print("app after:  " + " ".join("%s=%s" % (k, after.get(k)) for k in keys))
    print("sample deadlines missed: %d in %.1f s without a transfer, %d in the %.1f s of the "
          "push and the 0.5 s after it" % (before["missed"] - start["missed"], IDLE_S,
                                           after["missed"] - before["missed"], live_s))
    for ln in lines:
        if ln.startswith("uformer slot"):
            print("app: " + ln)


if __name__ == "__main__":
    main()
