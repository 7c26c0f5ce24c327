"""microformer demo: the whole path from recordings to a running app, with no hardware.

    microformer demo [--data DIR] [--json] [--board QEMU_M4 --micropython DIR]

1. data      a labelled synthetic IMU dataset (microformer.synth: idle, walk, stairs, run at
             50 Hz, 6 channels), or your recordings with --data
2. train     the default tiny convformer (`microformer train`, capped at --epochs)
3. quantize  full-integer int8 with the metadata inside (`microformer quantize`)
4. inspect   ops, MACs, arena, per-layer SQNR (`microformer inspect`)
5. push      to the simulator directory (`microformer push --sim`), or over mpremote to the
             emulated QEMU_M4 board with --board
6. run       examples/replay_app.py — the uformer app (Window, Slot, Rule, Runner) — on a
             held-back stream (recordings of the test split, never seen in training),
             replayed at the sensor's rate: its live predictions, its accuracy, the latency
             it measured on the device and the arena
--json ends the output with one JSON line: accuracy, latency_us_p50, latency_us_p99,
arena_bytes, model_bytes and more.
"""
import json
import os
import pathlib
import re
import shutil
import sys
import time

from ..cliutil import positive_int
from ..errors import MicroformerError

APP = "replay_app.py"
MODEL = "imu"  # the model's name on the device: models/imu.tflite
# Small enough for the whole demo to take a few minutes on 2 cores, big enough to learn the
# synthetic activities (about 80-90 % on held-back recordings).
DEFAULTS = {"recordings": 40, "epochs": 40, "seconds": 60.0}
# --board: the replay's length in the board's (virtual) seconds. The app parses the whole
# recording into RAM next to two model buffers and the arena: 8 s at 50 Hz (9.6 KB of
# floats) is what a 256 KB heap holds with the default 50 KB model.
BOARD_SECONDS = 8.0
# --quick: seconds instead of minutes (the tests use it); accuracy is near chance.
QUICK = {"recordings": 4, "epochs": 3, "seconds": 12.0,
         "train": ["--window", "32", "--hop", "16", "--d-model", "16", "--ffn", "32"]}


def add_parser(sub):
    p = sub.add_parser(
        "demo", help="synthetic IMU data -> train -> quantize -> inspect -> push -> run the app",
        description="End to end with no hardware: " + " ".join(__doc__.split("\n\n")[0].split()[3:]),
        epilog="Stages: data, train, quantize, inspect, push, run (see the README).")
    p.add_argument("--data", metavar="DIR", help="your dataset instead of the synthetic one")
    p.add_argument("--out", metavar="DIR", default="demo-out",
                   help="working folder: data/, model.keras, model.tflite, sim/ (default demo-out)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    p.add_argument("--board", choices=("QEMU_M4",), help="run on the emulated board instead of the simulator")
    p.add_argument("--micropython", metavar="DIR", help="--board: MicroPython checkout to build the firmware from")
    p.add_argument("--firmware", metavar="ELF", help="--board: a built firmware.elf (skips the build)")
    p.add_argument("--epochs", type=positive_int, help=f"training epochs at most (default {DEFAULTS['epochs']})")
    p.add_argument("--recordings", type=positive_int,
                   help=f"synthetic recordings per label (default {DEFAULTS['recordings']})")
    p.add_argument("--seconds", type=float,
                   help=f"length of the replayed held-back stream (default {DEFAULTS['seconds']:g}; "
                        f"{BOARD_SECONDS:g} with --board)")
    p.add_argument("--quick", action="store_true",
                   help="tiny data, model and replay: a smoke test in well under a minute")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")


def source_file(rel):
    """A file of the microformer checkout (the example apps live there, not in the package)."""
    cands = []
    env = os.environ.get("MICROFORMER_SRC")
    if env:
        cands.append(pathlib.Path(env))
    cands.append(pathlib.Path(__file__).resolve().parents[3])
    cwd = pathlib.Path.cwd().resolve()
    cands += [cwd] + list(cwd.parents)
    for c in cands:
        if (c / rel).is_file():
            return c / rel
    raise MicroformerError(f"the demo runs {rel} from the microformer checkout: run it from "
                           f"there, or set MICROFORMER_SRC=/path/to/microformer")


def _verb(argv):
    """Run one CLI verb in this process; its MicroformerError ends the demo with its message."""
    from ..cli import build_parser

    ns = build_parser().parse_args([str(a) for a in argv])
    code = ns._run(ns)
    if code:
        raise MicroformerError(f"`microformer {' '.join(map(str, argv))}` failed (exit {code})")


class Stages:
    def __init__(self, total):
        self.total = total
        self.n = 0
        self.t = {}
        self._name = None
        self._t0 = None

    def start(self, name, what):
        self.end()
        self.n += 1
        self._name = name
        self._t0 = time.monotonic()
        print(f"\n== {self.n}/{self.total} {name}: {what}", flush=True)

    def end(self):
        if self._name is not None:
            self.t[self._name] = round(time.monotonic() - self._t0, 1)
            self._name = None


def heldback_stream(info, data_dir, seconds, path, min_windows=2):
    """Write a CSV (t, channels..., label) of test-split recordings: an equal share of
    `seconds` per label, labels one after another. Returns (rows, labels per row, rate)."""
    import numpy as np

    from .. import training

    ds, sp = training.load_splits(info, data_dir)
    rate = float(info.get("sample_rate") or ds.sample_rate or 50.0)
    by_label = {}
    for u in sp.units["test"]:
        by_label.setdefault(u.label, []).append(u)
    share = max(int(info["window"]) * min_windows, int(seconds * rate / max(1, len(by_label))))
    xs, labs = [], []
    for lab in sorted(by_label):
        got = 0
        for u in by_label[lab]:
            seg = ds.recordings[u.recording].data[u.start:u.stop][:share - got]
            xs.append(seg)
            labs += [ds.labels[lab]] * len(seg)
            got += len(seg)
            if got >= share:
                break
    x = np.concatenate(xs)
    with open(path, "w") as f:
        f.write(",".join(["t"] + list(info["channels"]) + ["label"]) + "\n")
        for i, row in enumerate(x):
            f.write(f"{i / rate:.2f}," + ",".join(f"{v:.4g}" for v in row) + f",{labs[i]}\n")
    return len(x), labs, rate


class Result:
    """What the app printed, decoded: predictions, the arena, the last stats, agreement."""

    def __init__(self, truth, echo=True):
        from ..monitor import Decoder

        self.dec = Decoder()
        self.truth = truth
        self.echo = echo
        self.t0 = time.monotonic()
        self.predictions = 0
        self.stats = None
        self.arena = None
        self.agree = None
        self.events = {}  # rule firings per label
        self.problems = []

    def line(self, text):
        ev = self.dec.decode(text)
        if ev is None:
            return
        t = time.monotonic() - self.t0
        if ev.kind == "prediction":
            self.predictions += 1
            row = ev.fields.get("row")
            truth = self.truth[row] if row is not None and 0 <= row < len(self.truth) else None
            mark = "" if truth is None else (f"  recording says {truth} " + ("✓" if truth == ev.label else "✗"))
            self._say(f"  {t:6.1f} s  → {ev.label:7s} {ev.score:.2f}{mark}")
        elif ev.kind == "event":
            self.events[ev.label] = self.events.get(ev.label, 0) + 1
        elif ev.kind == "stats":
            self.stats = ev.fields
            f = ev.fields
            self._say(f"  {t:6.1f} s  stats: {f.get('invokes')} invokes, p50 {f.get('p50_us')} us, "
                      f"p99 {f.get('p99_us')} us, missed {f.get('missed')}")
        elif ev.kind == "model":
            if "arena_bytes" in ev.fields:
                self.arena = ev.fields["arena_bytes"]
            self._say(f"  {t:6.1f} s  {ev.text}")
        elif ev.kind == "refused":
            self.problems.append(ev.text)
            self._say(f"  {t:6.1f} s  {ev.text}")
        else:
            m = re.match(r"agreement (\d+)/(\d+) windows", ev.text)
            if m:
                self.agree = (int(m.group(1)), int(m.group(2)))
            elif ev.text.startswith(("Traceback", "  File", "usage", "no usable model")) or \
                    "Error" in ev.text:
                self.problems.append(ev.text)
                self._say("  " + ev.text)

    def _say(self, s):
        if self.echo:
            print(s, flush=True)


def run_sim(work, tflite, csv_path, app_src, seconds):
    from .. import simulator
    from ..transport import SimTransport
    from .push import push

    sim = work / "sim"
    board = SimTransport(str(sim), create=True).open()
    out = push(board, tflite, MODEL + ".tflite", quiet=True)
    print(f"pushed to the simulator: {out['path']} ({out['bytes']:,} bytes, sha256 "
          f"{out['sha256'][:16]}…{', unchanged' if out['skipped'] else ''})")
    (sim / "data").mkdir(exist_ok=True)
    shutil.copyfile(csv_path, sim / "data" / "heldback.csv")
    shutil.copyfile(app_src, sim / "main.py")
    args = ["data/heldback.csv", f"models/{MODEL}.tflite", f"{seconds:.2f}"]
    return sim, args, lambda: _sim_lines(simulator, sim, args, seconds)


def _sim_lines(simulator, sim, args, seconds):
    app = simulator.App(str(sim), "main.py", args)
    with app:
        yield from app.lines(seconds + 60)
    if app.returncode and not app.stopped:
        raise MicroformerError(f"the app exited with status {app.returncode}; its output is in "
                               f"{simulator.console_log(str(sim))}")


def _firmware(args):
    if args.firmware:
        fw = pathlib.Path(args.firmware)
        if not fw.is_file():
            raise MicroformerError(f"--firmware {fw} does not exist")
        return fw
    if not args.micropython:
        raise MicroformerError("--board QEMU_M4 needs the firmware: --micropython DIR (a MicroPython "
                               "checkout to build it from) or --firmware firmware.elf")
    from ..firmware import builder

    builder.check(args.board, args.micropython)
    print(f"building the {args.board} firmware (first time: a few minutes)…", flush=True)
    fw = builder.build(args.board, args.micropython)
    print(f"firmware: {fw.firmware}")
    return fw.firmware


def _board_lines(board, seconds, silence=180.0):
    """Run the app on the board in the raw REPL; yield its output lines as they arrive."""
    code = ("import sys\nsys.argv[:]=['replay_app.py','heldback.csv','models/%s.tflite','%.2f']\n"
            "exec(open('replay_app.py').read(),{'__name__':'__main__','__file__':'replay_app.py'})\n"
            % (MODEL, seconds))
    # A failure (the app raised, the board went silent) is a DeviceError naming it.
    yield from board.exec_lines(code, silence=silence)


def _sqnr(tflite_path, data, plot, probes):
    """One line of `inspect`'s per-layer SQNR (the full table and a plot are in the files)."""
    from .. import analysis
    from ..errors import ModelError

    buf = tflite_path.read_bytes()
    try:
        meta = analysis.summarize(buf)["metadata"]
        x, probe = analysis.probe_windows(buf, meta, data, probes)
        rows = analysis.layer_sqnr(buf, x)
        analysis.plot_sqnr(rows, str(plot))
    except ModelError as e:
        print(f"per-layer SQNR unavailable: {e}")
        return
    worst = min(rows, key=lambda r: r["sqnr_db"])
    last = rows[-1]
    print(f"per-layer SQNR, float vs int8 on the engine ({probe}): output {last['sqnr_db']:.1f} dB, "
          f"lowest {worst['sqnr_db']:.1f} dB at node {worst['node']} ({worst['op']}); plot: {plot} "
          f"(all layers: microformer inspect {tflite_path})")


def run(args):
    t_all = time.monotonic()
    cfg = dict(QUICK if args.quick else DEFAULTS)
    if args.board:
        # The emulated board busy-waits through its sample periods, and under -icount each
        # virtual second costs about ten seconds of wall time.
        cfg["seconds"] = BOARD_SECONDS
    for k in ("recordings", "epochs", "seconds"):
        v = getattr(args, k)
        if v is not None:
            cfg[k] = v
    if args.board and not (args.micropython or args.firmware):
        raise MicroformerError("--board QEMU_M4 needs --micropython DIR (to build the firmware) "
                               "or --firmware firmware.elf")
    if (args.micropython or args.firmware) and not args.board:
        raise MicroformerError("--micropython/--firmware are for --board QEMU_M4")
    app_src = source_file("examples/" + APP)
    work = pathlib.Path(args.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    st = Stages(6)

    # 1. data
    if args.data:
        data = args.data
        if not os.path.exists(data):
            raise MicroformerError(f"--data {data} does not exist")
        st.start("data", f"your recordings in {data}")
    else:
        from .. import synth

        data = str(work / "data")
        st.start("data", f"synthetic IMU gestures, {cfg['recordings']} recordings per label")
        if os.path.isdir(data):
            shutil.rmtree(data)
        synth.generate(data, recordings_per_label=cfg["recordings"], seed=args.seed)
        n = sum(len(fs) for _, _, fs in os.walk(data))
        print(f"wrote {n} recordings ({', '.join(synth.LABELS)}; "
              f"{', '.join(synth.CHANNELS)} at {synth.RATE:g} Hz) to {data}")

    # 2-4. the host pipeline, through the same verbs a user runs
    keras_path, tflite_path = work / "model.keras", work / "model.tflite"
    st.start("train", "the default tiny convformer" + (" (quick settings)" if args.quick else ""))
    _verb(["train", data, "--out", keras_path, "--epochs", cfg["epochs"], *cfg.get("train", [])])
    st.start("quantize", "full-integer int8, calibrated on training windows")
    _verb(["quantize", keras_path, "--calib", data, "--out", tflite_path])
    st.start("inspect", "what the engine will run")
    _verb(["inspect", tflite_path, "--no-sqnr"])
    _sqnr(tflite_path, data, work / "sqnr.png", 8 if args.quick else 32)

    from .. import engine

    tflite = tflite_path.read_bytes()
    eng = engine.Engine(tflite)
    info = eng.info
    metrics = info.get("metrics", {})

    # 5. push
    target = args.board or "simulator"
    st.start("push", f"to the {target}")
    csv_path = work / "heldback.csv"
    # On the board the whole recording sits in RAM next to the app's model buffers: the
    # requested length is all there is room for, even if that is one window per label.
    rows, truth, rate = heldback_stream(info, data, cfg["seconds"], csv_path,
                                        min_windows=0 if args.board else 2)
    seconds = rows / rate
    print(f"held-back stream: {rows} samples ({seconds:.1f} s at {rate:g} Hz) from test-split "
          f"recordings of {', '.join(sorted(set(truth)))}")
    res = Result(truth)
    if args.board:
        from ..firmware import qemu
        from ..transport import SerialTransport
        from .push import push

        fw = _firmware(args)
        cm = qemu.booted(args.board, fw)
        b = cm.__enter__()
        try:
            print(f"{args.board} running on {b.pty}")
            board = SerialTransport(b.pty, log=lambda m: print(f"  ({m})")).open()
            out = push(board, tflite, MODEL + ".tflite", quiet=False)
            print(f"pushed {out['path']} ({out['bytes']:,} bytes) over mpremote")
            board.put_file("/heldback.csv", csv_path.read_bytes())
            board.put_file("/" + APP, app_src.read_bytes())
            st.start("run", f"{APP} on {args.board} (MicroPython), the stream replayed in real time")
            board.soft_reset()  # the app starts on a fresh heap, as main.py does at boot
            for line in _board_lines(board, seconds):
                res.line(line)
            board.close()
        finally:
            cm.__exit__(None, None, None)
        where = f"{args.board} (emulated Cortex-M4, 1 us = 1000 instructions)"
    else:
        _, app_args, lines = run_sim(work, tflite, csv_path, app_src, seconds)
        st.start("run", f"{APP} in the simulator on the held-back stream, replayed in real time")
        for line in lines():
            res.line(line)
        where = "the simulator (the engine on this CPU)"
    st.end()

    if res.agree is None or not res.agree[1]:
        detail = "; ".join(res.problems[-3:]) or "it printed no 'agreement' line"
        raise MicroformerError(f"the app did not report its accuracy: {detail}")
    acc = res.agree[0] / res.agree[1]
    s = res.stats or {}
    summary = {
        "accuracy": round(acc, 4),
        "windows": res.agree[1],
        "latency_us_p50": s.get("p50_us"),
        "latency_us_p99": s.get("p99_us"),
        "arena_bytes": res.arena if res.arena is not None else eng.arena_size,
        "model_bytes": len(tflite),
        "missed_deadlines": s.get("missed"),
        "rule_events": res.events,
        "float_accuracy": metrics.get("float_accuracy"),
        "int8_accuracy": metrics.get("int8_accuracy"),
        "labels": info.get("labels"),
        "target": args.board or "sim",
        "stage_seconds": st.t,
        "total_seconds": round(time.monotonic() - t_all, 1),
        "model": str(tflite_path),
    }
    print("\n== results")
    print(f"the app on {where}: {res.agree[0]}/{res.agree[1]} windows right = {acc * 100:.1f} % "
          f"(each window judged by its newest sample's label)")
    if metrics.get("int8_accuracy") is not None:
        print(f"same model on the held-back split, on the host: float {metrics['float_accuracy'] * 100:.1f} %, "
              f"int8 on the engine {metrics['int8_accuracy'] * 100:.1f} %")
    if res.events:
        print("rules fired (score >= 0.6 in 2 windows in a row, 1 s cooldown): " +
              ", ".join(f"{k} x{v}" for k, v in sorted(res.events.items())))
    print(f"on-device latency (set input + invoke + arg-max, measured by the app): "
          f"p50 {summary['latency_us_p50']} us, p99 {summary['latency_us_p99']} us")
    print(f"model {summary['model_bytes']:,} bytes, arena {summary['arena_bytes']:,} bytes; "
          f"took {summary['total_seconds']:.0f} s (" + ", ".join(f"{k} {v:g} s" for k, v in st.t.items()) + ")")
    if not args.board:
        from ..cliutil import invocation

        print(f"run it again: {invocation()} sim {work / 'sim'} {' '.join(app_args)}")
    # The record benchmarks/readme_numbers.py turns into the README's numbers.
    (work / "results.json").write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n")
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    sys.stdout.flush()
    return 0
