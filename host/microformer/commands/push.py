"""microformer push MODEL.tflite [--name N] (--port P | --sim DIR | --drive D) [--live]: install a model.

Over the raw REPL (default): the app is interrupted, the model is written to
/models/N.tflite.part in chunks (each crc32-checked; a lost chunk is resent from the size
the board reports), its sha256 is verified on the board, N.tflite.sha256 and N.tflite are
renamed into place (the steps of uformer.storage, atomic on littlefs), and the app is
restarted with a soft reset. When the board already holds a model with the same sha256
nothing is copied. A failed push leaves the old N.tflite active and at most a N.tflite.part,
which the next push resumes.

--drive D (a CircuitPython board's CIRCUITPY drive): the same steps on the mounted drive, each
file flushed and fsync'ed and read back before its rename; CircuitPython's auto-reload then
restarts code.py, which loads the new model.

All of it goes through the one board link, microformer.transport (--transport ampy puts the
serial steps on adafruit-ampy instead of mpremote's serial layer).

--live: the app keeps running. Over a serial port the model travels in the live protocol
(docs/protocol.md) to the app's uformer.live.Receiver; on the simulator it is dropped as
N.tflite.new + N.tflite.new.sha256, which the running app's Slot picks up. Either way the
app's Slot verifies, test-invokes and swaps it at a window boundary.
"""
import hashlib
import os
import sys
import time

from ..cliutil import positive_int, print_json, read_bytes
from ..errors import MicroformerError, ModelError
from ..transport import TRANSPORTS, DeviceError, connect

CHUNK = 2048  # model bytes per write command (2732 base64 characters on the wire)
LINK_TIMEOUT = 10.0  # seconds without a valid answer before the link counts as lost
SIDE_CHARS = 64 + 1  # bytes of N.tflite.sha256 besides the path it names


def add_parser(sub):
    p = sub.add_parser(
        "push", help="install a model on a board or the simulator",
        description="Copy an int8 .tflite to the board's /models/N.tflite (or DIR/models in "
                    "the simulator): written as N.tflite.part, sha256-verified on the board, "
                    "renamed atomically, N.tflite.sha256 written; skipped when the board "
                    "already holds the same sha256. Without --live the app is interrupted "
                    "and restarted after the verified push.")
    p.add_argument("model", metavar="MODEL.tflite")
    p.add_argument("--name", help="model name on the board (default: the file name without "
                                  ".tflite); the file is /models/NAME.tflite")
    add_target(p, drive=True)
    p.add_argument("--live", action="store_true",
                   help="hand the model to the running app (live protocol on --port, the "
                        "Slot's file watch on --sim) instead of interrupting it")
    p.add_argument("--force", action="store_true", help="copy even when the board has the same sha256")
    p.add_argument("--no-restart", action="store_true",
                   help="leave the board at the REPL after the push instead of restarting the app")
    p.add_argument("--chunk", type=positive_int, default=CHUNK,
                   help=f"bytes per write (default {CHUNK})")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="--live: seconds to wait for the app to install the model (default 60)")
    p.add_argument("--link-timeout", type=positive_float, default=LINK_TIMEOUT,
                   help=f"seconds without a valid answer from the board after which the link "
                        f"counts as lost and push stops with an error (default {LINK_TIMEOUT:g}; "
                        f"a lost command is retried after a third of it). With --live, half of "
                        f"it is the wait for the app's answer to one frame before sending it "
                        f"again (the app reads the link only between windows)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the outcome")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


AUTORELOAD = ("CircuitPython's auto-reload restarts code.py about a second after the drive is "
              "written: the running app stops and starts again with the new model (an app that "
              "set supervisor.runtime.autoreload = False keeps running the old one until reset)")


def positive_float(text):
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return v


def add_target(p, drive=False, transport=True, required=True):
    """--port | --sim (| --drive) and, for a port, --transport: the one board link's choices."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--port", "-p", metavar="PORT",
                   help="serial port of the board (/dev/ttyACM0, COM3, the emulated board's pty)")
    g.add_argument("--sim", metavar="DIR", help="simulator directory standing for the board's filesystem")
    if drive:
        g.add_argument("--drive", metavar="DIR",
                       help="a CircuitPython board's mounted CIRCUITPY drive (e.g. /media/$USER/CIRCUITPY)")
    if transport:
        p.add_argument("--transport", choices=TRANSPORTS, default="mpremote",
                       help="with --port: the raw REPL through mpremote's serial layer (default) "
                            "or adafruit-ampy (for boards where raw-paste does not fit, e.g. "
                            "CircuitPython over serial)")


def target(args, create=False, **kw):
    """The Transport the target arguments name (not opened yet)."""
    log = kw.pop("log", lambda m: print(f"microformer: {m}", file=sys.stderr))
    return connect(port=args.port, sim=args.sim, drive=getattr(args, "drive", None),
                   transport=getattr(args, "transport", "mpremote"), create=create, log=log, **kw)


def model_name(path, name=None):
    n = name or os.path.basename(path)
    if n.endswith(".tflite"):
        n = n[:-len(".tflite")]
    if not n or "/" in n or "\\" in n or n.startswith("."):
        raise MicroformerError(f"--name {n!r}: a model name is a plain file name without folders")
    return n + ".tflite"


def check_model(data, path):
    """Refuse what the engine would refuse on the board (when the engine is available here)."""
    from .. import engine
    from ..errors import EngineUnavailable

    if data[4:8] != b"TFL3":
        raise ModelError(f"{path} is not a .tflite model (no TFL3 identifier at byte 4)")
    try:
        return engine.arena_size(data)
    except EngineUnavailable:
        return None


def _kb_up(n):
    return (n + 1023) // 1024


def _bar(total, desc, quiet):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, disable=quiet, leave=False, dynamic_ncols=True)


def push(board, data, fname, force=False, chunk=CHUNK, quiet=False, log=print):
    """Install `data` as models/fname on an open board; returns a dict with the outcome.
    Never leaves a half-written fname: only a part file whose sha256 matched is renamed."""
    d = board.models_dir
    digest = hashlib.sha256(data).hexdigest()
    size = len(data)
    # state and install hash the model on the board: they may compute for a while without
    # a word (2 KB/s on the slowest boards), so their timeout grows with the size.
    slow = size / 2000
    st = board.call("state", d, fname, size, timeout=2 * slow)
    if st["sha"] == digest and not force:
        return {"skipped": True, "sha256": digest, "bytes": size, "path": st["active"],
                "retries": board.errors}
    # Resume a part file that already holds a prefix of this model (an interrupted push).
    off = 0
    if 0 < st["part"] <= size and st["part_sha"] == hashlib.sha256(data[:st["part"]]).hexdigest():
        off = st["part"]
    need = size - off + SIDE_CHARS + len(d) + len(fname) + 6
    if 0 <= st["free"] < need:
        raise DeviceError(f"device has {st['free'] // 1024} KB free, model needs {_kb_up(need)} KB"
                          f" ({board.describe()}, {d})")
    part = d + "/" + fname + ".part"
    resumed = off
    for attempt in range(3):
        with _bar(size, f"push {fname}", quiet) as bar:
            bar.update(off)
            off = board.write_part(part, data, off, chunk, bar.update)
        res = board.call("install", d, fname, digest, timeout=slow)
        if res["ok"] and res["sha"] == digest:
            return {"skipped": False, "sha256": digest, "bytes": size, "path": res["path"],
                    "retries": board.errors, "resumed_from": resumed if attempt == 0 else 0}
        if res["ok"]:
            raise DeviceError(f"{res['path']} reads back with sha256 {res['sha']}, expected {digest}")
        if res["have"] is None:
            # No part file: an earlier try of this install may have done it and its reply
            # was lost on the link.
            now = board.call("state", d, fname, timeout=slow)
            if now["sha"] == digest:
                return {"skipped": False, "sha256": digest, "bytes": size, "path": now["active"],
                        "retries": board.errors, "resumed_from": 0}
        # The part file did not hash right (bytes damaged past the crc32): the board deleted
        # it; write it again from the start.
        log(f"microformer: {fname}: sha256 on the board was {str(res['have'])[:16]}, expected "
            f"{digest[:16]}; writing again")
        off = 0
    raise DeviceError(f"{fname}: the board never received an intact copy (sha256 mismatch 3 times); "
                      "the link is damaging data")


def live_push(args, data, fname, log=print):
    digest = hashlib.sha256(data).hexdigest()
    if args.sim:
        return _live_sim(args.sim, data, fname, digest, args.timeout)
    from ..live import LiveLink

    if args.drive:
        raise MicroformerError("--live needs a serial port or the simulator: on a CircuitPython "
                               "drive the auto-reload restarts the app anyway (push without --live)")
    if getattr(args, "transport", "mpremote") != "mpremote":
        raise MicroformerError("--live streams over the port directly; --transport applies to "
                               "the raw REPL push only")
    t = target(args, link_timeout=args.link_timeout)
    bar = _bar(len(data), f"live {fname}", args.quiet)
    done = [0]

    def progress(off, size):
        bar.update(off - done[0])
        done[0] = off

    app_lines = []  # what the app printed meanwhile (its Slot's verdict among them)
    try:
        with t:
            link = LiveLink(t, timeout=args.link_timeout / 2, progress=progress,
                            on_line=app_lines.append)
            res = link.push(fname, data, install_timeout=args.timeout)
            # The Slot swaps at the next window boundary: give the app a moment to say so.
            end = time.monotonic() + 3.0
            while time.monotonic() < end and not any("swapped" in ln for ln in app_lines):
                link.wait(set(), "", 0.2)
    except OSError as e:  # the port went away (pyserial's SerialException is an OSError)
        raise DeviceError(f"the link to {args.port} failed: {e}") from None
    finally:
        bar.close()
    return {"skipped": False, "live": True, "sha256": digest, "bytes": len(data),
            "path": f"/models/{fname}", "retries": res.get("resends", 0),
            "device": {k: v for k, v in res.items() if k not in ("sha256", "bytes")},
            "device_log": [ln for ln in app_lines if ln.startswith("uformer slot")][-10:]}


def _live_sim(root, data, fname, digest, timeout):
    """The simulator's live channel: the Slot's file watch (NAME.new, then NAME.new.sha256)."""
    from .. import simulator

    app = simulator.running(root)
    if app is None:
        raise DeviceError(f"no app is running in the simulator {root}; start it with "
                          f"`microformer sim {root}` (or push without --live)")
    d = os.path.join(os.path.abspath(root), "models")
    p = os.path.join(d, fname)
    side = p + ".sha256"
    log_path = simulator.console_log(root)
    log_start = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    new = p + ".new"
    try:
        # Fresh temp files (O_EXCL | O_NOFOLLOW), renamed over NAME.new and its sidecar;
        # a symlink at any of them, or at models/, is refused by name.
        simulator.refuse_links(new, root)
        simulator.replace_file(new, data)
        simulator.replace_file(new + ".sha256", digest + "\n")
    except simulator.SimError as e:
        raise DeviceError(f"simulator {os.path.abspath(root)}: {e}") from None
    except OSError as e:
        raise DeviceError(f"simulator {os.path.abspath(root)}: writing {new}: {e}") from None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                with open(side) as f:
                    cur = f.read().split()
            except OSError:
                cur = []
            if cur and cur[0] == digest and not os.path.exists(new):
                return {"skipped": False, "live": True, "sha256": digest, "bytes": len(data),
                        "path": p, "retries": 0}
            refused = simulator.find_line(log_path, log_start, f"uformer slot {fname}: refused")
            if refused:
                raise DeviceError(f"the app refused the model: {refused.split(': ', 1)[1]}")
            if simulator.running(root) is None:
                raise DeviceError(f"the simulator app on {root} stopped before installing the model")
            time.sleep(0.05)
        raise DeviceError(f"the app on {root} did not install {fname} within {timeout:g} s "
                          f"(does it serve a Slot on models/{fname}?)")
    except BaseException:
        _withdraw(new, digest)
        raise


def _withdraw(new, digest):
    """Removes the NAME.new (and its sidecar) this push dropped when the app refused it or
    never took it: the Slot deletes only the sidecar it read, and a NAME.new left behind
    would be offered again at the app's next start. Files another writer replaced since
    (another digest) are left alone."""
    for path in (new + ".sha256", new):
        try:
            if path.endswith(".sha256"):
                with open(path) as f:
                    ours = f.read().split()[:1] == [digest]
            else:
                with open(path, "rb") as f:
                    ours = hashlib.sha256(f.read()).hexdigest() == digest
            if ours:
                os.remove(path)
        except OSError:
            pass  # already gone (the Slot consumed it) or unreadable: nothing of ours to remove


def run(args):
    data = read_bytes(args.model)
    fname = model_name(args.model, args.name)
    arena = check_model(data, args.model)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    t0 = time.monotonic()
    if args.live:
        res = live_push(args, data, fname)
    else:
        kw = {"link_timeout": args.link_timeout} if args.port else {}
        with target(args, create=True, **kw) as board:
            res = push(board, data, fname, force=args.force, chunk=args.chunk,
                       quiet=args.quiet or args.json, log=say)
            if board.kind == "serial" and not args.no_restart:
                board.restart()
                res["restarted"] = True
    res["seconds"] = round(time.monotonic() - t0, 2)
    res["name"] = fname
    res["arena_bytes"] = arena
    if args.json:
        print_json(res)
        return 0
    where = args.port or args.sim or args.drive
    if res["skipped"]:
        print(f"{where}: {res['path']} already has sha256 {res['sha256'][:16]}… — nothing copied")
    else:
        how = "live, the app kept running" if res.get("live") else (
            "app restarted" if res.get("restarted") else "")
        extra = f", {res['retries']} retries" if res.get("retries") else ""
        for ln in res.get("device_log", []):
            print(f"  app: {ln}")
        print(f"{where}: installed {res['path']} ({res['bytes']:,} bytes, sha256 "
              f"{res['sha256'][:16]}…) in {res['seconds']:.1f} s{extra}" + (f"; {how}" if how else ""))
        if args.drive:
            print(AUTORELOAD)
    return 0
