"""push, bench and push --live over mpremote's serial transport against the emulated
QEMU_M4 board (real MicroPython firmware with _uformer), directly and through a
fault-injecting pty relay: whatever the link does, the active model on the board is always
a complete one whose sha256 matches its sidecar."""
import csv
import hashlib
import json
import os
import time

import pytest

import qemuboard
from hostutil import ROOT, needs_engine, run_cli
from ptyrelay import PtyRelay

pytestmark = [pytest.mark.firmware, needs_engine]


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture(scope="module")
def fw(tmp_path_factory):
    return qemuboard.firmware(tmp_path_factory)


@pytest.fixture
def board(fw):
    from microformer.firmware import qemu

    with qemu.booted("QEMU_M4", fw) as b:
        yield b


def test_push_bench_and_install_over_ampy(board, models, tmp_path, capsys):
    """--transport ampy: the same verified push, bench and install through adafruit-ampy's
    Pyboard (plain raw REPL entered with a soft reset) instead of mpremote's serial layer."""
    pytest.importorskip("ampy.pyboard", reason="adafruit-ampy is not installed (pip install -e '.[ampy]')")
    pa, pb = models
    code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--port", board.pty, "--transport", "ampy")
    assert code == 0, err
    assert "installed /models/m.tflite" in out
    code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--port", board.pty,
                             "--transport", "ampy", "--json")
    assert code == 0 and json.loads(out)["skipped"] is True
    side, real, st = board_truth(board.pty)
    assert side == real == sha(pa.read_bytes()) and st["part"] == -1
    code, out, err = run_cli(capsys, "bench", "--port", board.pty, "-n", "5", "--json",
                             "--transport", "ampy")
    assert code == 0, err
    r = json.loads(out)
    assert r["model_bytes"] == len(pa.read_bytes()) and r["p50_us"] > 0
    # The firmware has _uformer built in: install copies only the uformer package (sources,
    # none compiled for it here) and checks the import on the board.
    code, out, err = run_cli(capsys, "install", "--port", board.pty, "--transport", "ampy",
                             "--natmod", str(tmp_path / "no-natmod"))
    assert code == 0, err
    assert "engine: built into the firmware" in out and "import _uformer" in out


def board_truth(port, name="m.tflite"):
    """(sha256 recorded in the sidecar, sha256 of the active file) read over a clean link."""
    from microformer.transport import SerialTransport

    with SerialTransport(port) as sb:
        st = sb.call("state", "/models", name)
        real = sb.call("sha256_file", st["active"]) if st["active"] else None
        side = sb.call("_sidecar", "/models/" + name)
    return side, real, st


def test_push_skip_replace_and_bench(board, models, capsys):
    pa, pb = models
    b = pb.read_bytes()
    code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--port", board.pty)
    assert code == 0, err
    assert "installed /models/m.tflite" in out and "app restarted" in out
    code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--port", board.pty, "--json")
    assert code == 0 and json.loads(out)["skipped"] is True
    code, out, err = run_cli(capsys, "push", pb, "--name", "m", "--port", board.pty, "--json")
    res = json.loads(out)
    assert code == 0 and res["skipped"] is False and res["sha256"] == sha(b)
    side, real, st = board_truth(board.pty)
    assert side == real == sha(b)
    assert st["part"] == -1  # no leftover part file
    code, out, err = run_cli(capsys, "bench", "--port", board.pty, "-n", "10", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["impl"] == "micropython" and "mps2" in r["machine"]
    # -icount shift=0: the clock counts instructions, so invokes take (nearly: the timer
    # interrupt lands in some) the same time.
    assert 0 < r["p50_us"] <= r["p99_us"] <= r["p50_us"] * 1.05
    assert r["model_bytes"] == len(b) and r["arena_bytes"] > 0
    assert 0 < r["heap_free"] < r["heap_free_before"]


def test_faulty_link_never_leaves_a_bad_model(board, models):
    from microformer.commands.push import push
    from microformer.errors import MicroformerError
    from microformer.transport import SerialTransport

    pa, pb = models
    a, b = pa.read_bytes(), pb.read_bytes()
    with SerialTransport(board.pty) as sb:
        push(sb, a, "m.tflite", quiet=True)
    outcomes = []
    for seed, data in ((1, b), (2, a), (3, b)):
        with PtyRelay(board.pty, seed=seed, drop=0.0003, flip=0.0003, dup=0.0003) as r:
            ok = False
            try:
                with SerialTransport(r.port, connect_timeout=3, cmd_timeout=3, retries=30) as sb:
                    res = push(sb, data, "m.tflite", chunk=1024, quiet=True, log=lambda m: None)
                    ok = not res["skipped"]
                    retries = res["retries"]
            except MicroformerError as e:
                retries = str(e)
            faults = sum(r.injected.values())
        side, real, st = board_truth(board.pty)
        # Never a damaged or half-written active model, whatever happened on the link.
        assert side == real and real in (sha(a), sha(b)), (seed, side, real)
        if ok:
            assert real == sha(data)
        outcomes.append((seed, ok, faults, retries))
    # The link really was faulty, and push got through it.
    assert sum(o[2] for o in outcomes) > 0, outcomes
    assert any(o[1] for o in outcomes), outcomes


@pytest.mark.slow
def test_100_pushes_at_1e4_per_byte(board, models):
    """1e-4 per byte each of drop, flip and duplicate, both directions (the rate at which
    12 of 12 pushes used to fail at connect): 100 pushes with the default timeouts, each
    verified or ended with a DeviceError, the active model always complete. Tens of
    minutes on the emulated UART (tests/host/test_push_unix.py runs the same against the
    unix MicroPython in the default run)."""
    from microformer.commands.push import push
    from microformer.errors import MicroformerError
    from microformer.transport import SerialTransport

    pa, pb = models
    datas = [pa.read_bytes(), pb.read_bytes()]
    verified, faults, errors = 0, 0, []
    for i in range(100):
        data = datas[i % 2]
        with PtyRelay(board.pty, seed=100 + i, drop=1e-4, flip=1e-4, dup=1e-4, per_byte=True) as r:
            try:
                with SerialTransport(r.port) as sb:
                    push(sb, data, "m.tflite", quiet=True, log=lambda m: None)
                verified += 1
                ok = True
            except MicroformerError as e:
                errors.append(str(e))
                ok = False
            faults += sum(r.injected.values())
        side, real, st = board_truth(board.pty)
        assert side == real and real in (sha(datas[0]), sha(datas[1])), (i, side, real)
        if ok:
            assert real == sha(data)
    assert faults > 0
    assert verified >= 95, (verified, errors[:5])


def test_cut_link_keeps_old_model_and_next_push_resumes(board, models):
    from microformer.commands.push import push
    from microformer.errors import MicroformerError
    from microformer.transport import SerialTransport

    pa, pb = models
    a, b = pa.read_bytes(), pb.read_bytes()
    with SerialTransport(board.pty) as sb:
        push(sb, a, "m.tflite", quiet=True)
    # The cable is pulled after about 60 % of the base64-encoded model went toward the board
    # (the helper is still on the board from the push above, so it is not sent again).
    with PtyRelay(board.pty, cut_after=int(len(b) * 4 / 3 * 0.6) + 600) as r:
        with pytest.raises(MicroformerError):
            with SerialTransport(r.port, connect_timeout=2, cmd_timeout=2, retries=3) as sb:
                push(sb, b, "m.tflite", chunk=1024, quiet=True, log=lambda m: None)
    side, real, st = board_truth(board.pty)
    assert side == real == sha(a)
    assert 0 < st["part"] < len(b)
    with SerialTransport(board.pty) as sb:
        res = push(sb, b, "m.tflite", chunk=1024, quiet=True)
    assert res["resumed_from"] == st["part"]
    side, real, st = board_truth(board.pty)
    assert side == real == sha(b) and st["part"] == -1


def test_monitor_and_live_push_while_the_app_runs(board, tmp_path, capsys):
    """monitor, then push --live over the live protocol: the example app keeps running on the
    board and swaps models at a window boundary. Small models (tests/device/devmodels.py): the
    emulated UART under -icount moves only a few hundred bytes per second into a busy app."""
    import sys

    import serial

    from microformer.commands.push import push
    from microformer.transport import SerialTransport

    sys.path.insert(0, os.path.join(ROOT, "tests", "device"))
    import devmodels

    a, b = devmodels.fc_model(1), devmodels.fc_model(2)
    pb = tmp_path / "b.tflite"
    pb.write_bytes(b)
    rec = tmp_path / "rec.csv"
    devmodels.recording(str(rec), rows=300)
    # QEMU_M4's polled UART has no Ctrl-C for a running program, so the app is given a
    # duration and the test waits for it to end. The duration is in virtual seconds, which
    # pass faster or slower than wall time with the host's load (-icount): 30 leaves room
    # for the monitor (12 s wall) and the live push on an idle, fast host, where 12 did not.
    with SerialTransport(board.pty) as sb:
        push(sb, a, "m.tflite", quiet=True)
        sb.put_file("/rec.csv", rec.read_bytes())
        sb.put_file("/replay_app.py", open(os.path.join(ROOT, "examples", "replay_app.py"), "rb").read())
        sb.run_detached("replay_app.py", ["rec.csv", "models/m.tflite", 30])
    # monitor reads the running app's output without stopping it.
    mon = tmp_path / "mon.csv"
    code, out, err = run_cli(capsys, "monitor", "--port", board.pty, "--seconds", "12", "--csv", mon)
    assert code == 0, err
    rows = list(csv.DictReader(open(mon)))
    assert any(r["kind"] == "prediction" and r["label"] in devmodels.LABELS for r in rows), rows
    code, out, err = run_cli(capsys, "push", pb, "--name", "m", "--port", board.pty, "--live",
                             "--json", "--timeout", "120")
    assert code == 0, err
    res = json.loads(out)
    assert res["live"] and res["sha256"] == sha(b)
    # The app kept running: it swapped, and ends on its own with its report.
    seen = b""
    with serial.Serial(board.pty, 115200, timeout=0.2) as s:
        end = time.monotonic() + 400
        while b"agreement" not in seen and time.monotonic() < end:
            seen += s.read(4096)
    log = "\n".join(res["device_log"]) + seen.decode("utf-8", "replace")
    assert "swapped" in log and "agreement" in log, log[-3000:]
    st = [ln for ln in log.splitlines() if ln.startswith("uformer stats")][-1]
    assert "swaps=1" in st and "model=" + sha(b)[:12] in st, st
    side, real, st = board_truth(board.pty)
    assert side == real == sha(b)
