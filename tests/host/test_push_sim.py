"""microformer push to the simulator: install, hash skip, atomic replace, interrupted and
damaged transfers, free-space and link errors, and --live through a running app's Slot."""
import binascii
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from hostutil import ROOT, needs_engine, run_cli
from microformer import onboard
from microformer.commands import push as push_cmd
from microformer.transport import DeviceError, SimTransport


def sha(b):
    return hashlib.sha256(b).hexdigest()


def sidecar(sim, name="m"):
    with open(os.path.join(sim, "models", f"{name}.tflite.sha256")) as f:
        return f.read().split()[0]


def active(sim, name="m"):
    return open(os.path.join(sim, "models", f"{name}.tflite"), "rb").read()


@needs_engine
def test_push_installs_and_skips_same_hash(tmp_path, models, capsys):
    pa, _ = models
    sim = tmp_path / "sim"
    code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--sim", sim)
    assert code == 0, err
    assert "installed" in out
    assert active(sim) == pa.read_bytes()
    assert sidecar(sim) == sha(pa.read_bytes())
    assert not (sim / "models" / "m.tflite.part").exists()
    mtime = os.stat(sim / "models" / "m.tflite").st_mtime_ns
    code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--sim", sim, "--json")
    assert code == 0
    res = json.loads(out)
    assert res["skipped"] is True and res["sha256"] == sha(pa.read_bytes())
    assert os.stat(sim / "models" / "m.tflite").st_mtime_ns == mtime
    code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--sim", sim, "--force", "--json")
    assert code == 0 and json.loads(out)["skipped"] is False


@needs_engine
def test_push_replaces_atomically_and_slot_verifies(tmp_path, models, capsys):
    pa, pb = models
    sim = tmp_path / "sim"
    assert run_cli(capsys, "push", pa, "--name", "m", "--sim", sim)[0] == 0
    assert run_cli(capsys, "push", pb, "--name", "m", "--sim", sim)[0] == 0
    assert active(sim) == pb.read_bytes() and sidecar(sim) == sha(pb.read_bytes())
    assert sorted(os.listdir(sim / "models")) == ["m.tflite", "m.tflite.sha256"]
    # The device framework reads what push wrote as a verified model.
    from uformer.storage import store_for

    path, digest = store_for(str(sim / "models" / "m.tflite")).recover()
    assert digest == sha(pb.read_bytes())


class Crash(Exception):
    pass


class CrashingBoard(SimTransport):
    """The simulator with a link that breaks after `after` write commands."""

    def __init__(self, root, after):
        super().__init__(root, create=True)
        self.after = after
        self.writes = 0

    def call(self, fn, *args, timeout=None):
        if fn == "write":
            self.writes += 1
            if self.writes > self.after:
                raise Crash("link broke")
        return super().call(fn, *args, timeout=timeout)


@needs_engine
def test_interrupted_push_keeps_old_model_and_resumes(tmp_path, models):
    pa, pb = models
    a, b = pa.read_bytes(), pb.read_bytes()
    sim = str(tmp_path / "sim")
    with SimTransport(sim, create=True) as board:
        push_cmd.push(board, a, "m.tflite", quiet=True)
    board = CrashingBoard(sim, after=3)
    with pytest.raises(Crash):
        push_cmd.push(board, b, "m.tflite", chunk=1024, quiet=True)
    # The old model is still the active one, intact and verified; the part is partial.
    assert active(sim) == a and sidecar(sim) == sha(a)
    part = os.path.join(sim, "models", "m.tflite.part")
    assert os.path.getsize(part) == 3 * 1024
    with SimTransport(sim) as board:
        res = push_cmd.push(board, b, "m.tflite", chunk=1024, quiet=True)
    assert res["resumed_from"] == 3 * 1024
    assert active(sim) == b and sidecar(sim) == sha(b)
    assert not os.path.exists(part)


@needs_engine
def test_foreign_part_is_not_resumed(tmp_path, models):
    pa, _ = models
    a = pa.read_bytes()
    sim = tmp_path / "sim"
    (sim / "models").mkdir(parents=True)
    (sim / "models" / "m.tflite.part").write_bytes(b"\x00" * 2048)  # not a prefix of a
    with SimTransport(str(sim)) as board:
        res = push_cmd.push(board, a, "m.tflite", chunk=1024, quiet=True)
    assert res["resumed_from"] == 0 and active(sim) == a


class DamagingBoard(SimTransport):
    """Bytes damaged past the per-chunk crc32 (flipped in the part file after the write):
    only the whole-file sha256 on the device can catch this."""

    def __init__(self, root, damage_times):
        super().__init__(root, create=True)
        self.left = damage_times

    def call(self, fn, *args, timeout=None):
        r = super().call(fn, *args, timeout=timeout)
        # Right after the write that put byte 1000 there (flipping it on every later write
        # too would undo the damage after an even number of chunks).
        if fn == "write" and self.left > 0 and args[1] <= 1000 < r:
            with open(args[0], "r+b") as f:
                f.seek(1000)
                byte = f.read(1)
                f.seek(1000)
                f.write(bytes([byte[0] ^ 0x10]))
            self.left -= 1
        return r


@needs_engine
def test_damaged_part_is_never_installed(tmp_path, models):
    pa, pb = models
    a, b = pa.read_bytes(), pb.read_bytes()
    sim = str(tmp_path / "sim")
    with SimTransport(sim, create=True) as board:
        push_cmd.push(board, a, "m.tflite", quiet=True)
    msgs = []
    # Damaged once: the device's sha256 check refuses it, push writes it again.
    res = push_cmd.push(DamagingBoard(sim, 1), b, "m.tflite", chunk=1024, quiet=True,
                        log=msgs.append)
    assert not res["skipped"] and active(sim) == b
    assert any("sha256 on the board" in m for m in msgs)
    # Damaged every time: push gives up and the active model is the last good one.
    with pytest.raises(DeviceError, match="never received an intact copy"):
        push_cmd.push(DamagingBoard(sim, 99), a, "m.tflite", chunk=1024, quiet=True,
                      log=msgs.append)
    assert active(sim) == b and sidecar(sim) == sha(b)


def test_write_refuses_damaged_commands(tmp_path):
    part = str(tmp_path / "x.part")
    data = b"0123456789" * 30
    import base64

    b64 = base64.b64encode(data).decode()
    good = onboard.chunk_crc(part, 0, data)
    # The one definition (the host's write_part uses it too) is crc32 seeded with path:offset.
    assert good == binascii.crc32(data, binascii.crc32(f"{part}:0".encode())) & 0xFFFFFFFF
    assert onboard.write(part, 0, b64, good ^ 1) == -2
    assert onboard.write(part, 300, b64, good) == -2  # the offset is in the crc
    assert onboard.write(str(tmp_path / "x.tflite"), 0, b64, onboard.chunk_crc(
        str(tmp_path / "x.tflite"), 0, data)) == -2  # only *.part files are written
    assert not os.path.exists(part)
    assert onboard.write(part, 0, b64, good) == 300
    # A repeated command (its reply was lost) does not append twice.
    assert onboard.write(part, 0 + 0, b64, good) == 300
    assert onboard.write(part, 300, b64, onboard.chunk_crc(part, 300, data)) == 600
    assert onboard.write(part, 300, b64, onboard.chunk_crc(part, 300, data)) == 600
    assert open(part, "rb").read() == data * 2


@needs_engine
def test_not_enough_space_names_the_numbers(tmp_path, models, monkeypatch, capsys):
    pa, _ = models
    monkeypatch.setattr(onboard, "free_bytes", lambda d: 12 * 1024)
    code, out, err = run_cli(capsys, "push", pa, "--sim", tmp_path / "sim")
    kb = (os.path.getsize(pa) + 1023) // 1024
    assert code == 1
    assert f"device has 12 KB free, model needs {kb} KB" in err
    assert not (tmp_path / "sim" / "models" / "a.tflite").exists()


def test_errors_name_the_problem(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    code, out, err = run_cli(capsys, "push", bad, "--sim", tmp_path / "s")
    assert code == 1 and "not a .tflite model" in err
    code, out, err = run_cli(capsys, "push", tmp_path / "missing.tflite", "--sim", tmp_path / "s")
    assert code == 1 and "does not exist" in err
    code, out, err = run_cli(capsys, "push", bad, "--port", "/dev/ttyNOSUCH0")
    assert code == 1 and "not a .tflite model" in err
    code, out, err = run_cli(capsys, "bench", "--port", "/dev/ttyNOSUCH0")
    assert code == 1 and "no board on /dev/ttyNOSUCH0" in err
    code, out, err = run_cli(capsys, "monitor", "--port", "/dev/ttyNOSUCH0", "--seconds", "1")
    assert code == 1 and "no board on /dev/ttyNOSUCH0" in err
    code, out, err = run_cli(capsys, "bench", "--sim", tmp_path / "nothing")
    assert code == 1 and "does not exist" in err
    code, out, err = run_cli(capsys, "push", bad, "--name", "../x", "--sim", tmp_path / "s")
    assert code == 1


@needs_engine
def test_push_cli_errors_for_a_missing_board(tmp_path, models, capsys):
    pa, _ = models
    code, out, err = run_cli(capsys, "push", pa, "--port", "/dev/ttyNOSUCH0")
    assert code == 1 and err.strip() == "microformer: no board on /dev/ttyNOSUCH0"
    code, out, err = run_cli(capsys, "push", pa, "--port", "/dev/ttyNOSUCH0", "--live")
    assert code == 1 and "no board on /dev/ttyNOSUCH0" in err


@needs_engine
def test_bench_sim(tmp_path, models, capsys):
    pa, _ = models
    sim = tmp_path / "sim"
    assert run_cli(capsys, "push", pa, "--name", "m", "--sim", sim)[0] == 0
    code, out, err = run_cli(capsys, "bench", "--sim", sim, "-n", "20", "--json")
    assert code == 0, err
    r = json.loads(out)
    import _uformer

    assert r["n"] == 20 and 0 < r["min_us"] <= r["p50_us"] <= r["p99_us"] <= r["max_us"]
    assert r["arena_bytes"] == _uformer.arena_size(pa.read_bytes())
    assert r["model_bytes"] == os.path.getsize(pa) and r["model"] == "m.tflite"
    assert r["heap_free"] is None  # CPython: no fixed heap
    code, out, err = run_cli(capsys, "bench", "--sim", sim)
    assert code == 0 and "latency p50" in out and "arena" in out
    assert run_cli(capsys, "push", pa, "--name", "other", "--sim", sim)[0] == 0
    code, out, err = run_cli(capsys, "bench", "--sim", sim)
    assert code == 1 and "choose one with --model" in err


def _replay_app(sim):
    """The example replay app in the simulator directory, with a short labelled recording."""
    from microformer import synth

    shutil.copyfile(os.path.join(ROOT, "examples", "replay_app.py"), sim / "main.py")
    (sim / "data").mkdir(exist_ok=True)
    synth.generate(str(sim / "data" / "rec.csv"), recordings_per_label=1, seconds=(4.0, 5.0),
                   seed=3, stream=True)


@needs_engine
def test_push_live_to_running_sim_app(tmp_path, models, capsys, monkeypatch):
    pa, pb = models
    sim = tmp_path / "sim"
    code, out, err = run_cli(capsys, "push", pb, "--name", "m", "--sim", sim, "--live", "--timeout", "2")
    assert code == 1 and "no app is running in the simulator" in err
    assert run_cli(capsys, "push", pa, "--name", "m", "--sim", sim)[0] == 0
    _replay_app(sim)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "host"), os.path.join(ROOT, "device")]
                                        + [p for p in sys.path if p])
    app = subprocess.Popen([sys.executable, "-m", "microformer", "sim", str(sim), "data/rec.csv",
                            "models/m.tflite", "--seconds", "25"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        from microformer import simulator

        deadline = time.monotonic() + 20
        while simulator.running(str(sim)) is None:
            assert time.monotonic() < deadline, "the simulator app did not start"
            assert app.poll() is None, app.stdout.read()
            time.sleep(0.1)
        # monitor attaches to the running app (its console log) instead of starting another.
        code, out, err = run_cli(capsys, "monitor", "--sim", sim, "--seconds", "4", "--all")
        assert code == 0, err
        assert "monitor: nothing" not in err
        code, out, err = run_cli(capsys, "push", pb, "--name", "m", "--sim", sim, "--live", "--json")
        assert code == 0, err
        res = json.loads(out)
        assert res["live"] and res["sha256"] == sha(pb.read_bytes())
        assert active(sim) == pb.read_bytes()
        # A model the app must refuse (garbage with a valid sha256 of itself) leaves the
        # new one serving, and push says why.
        junk = tmp_path / "junk.tflite"
        junk.write_bytes(pa.read_bytes()[:4] + b"TFL3" + b"\x00" * 500)
        monkeypatch.setattr(push_cmd, "check_model", lambda data, path: None)
        code, out, err = run_cli(capsys, "push", junk, "--name", "m", "--sim", sim, "--live",
                                 "--timeout", "15")
        assert code == 1 and "refused" in err
        assert active(sim) == pb.read_bytes()
    finally:
        app.terminate()
        log = app.communicate(timeout=20)[0]
    assert "swapped" in log, log


@needs_engine
def test_a_silent_serial_device_is_named(models, capsys):
    """A port where nothing answers (a pty nobody serves): the raw REPL error, after 5 s."""
    import tty

    pa, _ = models
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        code, out, err = run_cli(capsys, "push", pa, "--port", os.ttyname(slave))
        assert code == 1
        assert "board did not answer the raw REPL in 5 s (it sent nothing)" in err
        from microformer.transport import SerialTransport

        with pytest.raises(DeviceError, match=r"raw REPL in 1 s"):
            SerialTransport(os.ttyname(slave), connect_timeout=1).open().call("size", "/x")
    finally:
        os.close(master)
        os.close(slave)


# --- symlinks and hard links planted in a simulator directory --------------------------------


def _tiny_model(variant=0):
    """A valid few-hundred-byte model (one RELU), without training."""
    from tflbuild import Graph

    g = Graph()
    x = g.input((1, 8), "int8", scale=0.05 + variant * 0.01, zp=0)
    y = g.output((1, 8), "int8", scale=0.05 + variant * 0.01, zp=0)
    g.op("RELU", [x], [y])
    return g.build()


def _sim_with_model(tmp_path):
    sim = tmp_path / "sim"
    with SimTransport(str(sim), create=True) as board:
        push_cmd.push(board, b"old model" * 100, "m.tflite", quiet=True)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"precious")
    return sim, outside


@pytest.mark.parametrize("planted", ["m.tflite.part", "m.tflite.sha256.tmp", "m.tflite.sha256",
                                     "m.tflite", "m.tflite.a"])
def test_push_refuses_a_planted_symlink(tmp_path, planted):
    """A symlink at any file of model m makes push refuse, naming it; nothing outside the
    directory is written and the active model stays the regular file it was."""
    sim, outside = _sim_with_model(tmp_path)
    link = sim / "models" / planted
    if link.exists():
        link.unlink()
    link.symlink_to(outside)
    with pytest.raises(DeviceError) as e:
        with SimTransport(str(sim)) as board:
            push_cmd.push(board, b"new model" * 100, "m.tflite", quiet=True)
    assert f"{link} is a symbolic link" in str(e.value)
    assert outside.read_bytes() == b"precious"
    if planted != "m.tflite":
        assert not (sim / "models" / "m.tflite").is_symlink()
        assert active(sim) == b"old model" * 100


def test_push_refuses_a_symlinked_models_folder(tmp_path):
    sim, _ = _sim_with_model(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(sim / "models")
    (sim / "models").symlink_to(elsewhere)
    with pytest.raises(DeviceError, match=r"models is a symbolic link"):
        with SimTransport(str(sim)) as board:
            push_cmd.push(board, b"new model" * 100, "m.tflite", quiet=True)
    assert os.listdir(elsewhere) == []


def test_push_never_writes_through_a_hard_link(tmp_path):
    """A part file hard-linked to a file outside: the push writes a fresh file instead."""
    sim, outside = _sim_with_model(tmp_path)
    os.link(outside, sim / "models" / "m.tflite.part")
    with SimTransport(str(sim)) as board:
        res = push_cmd.push(board, b"new model" * 100, "m.tflite", quiet=True)
    assert res["resumed_from"] == 0 and active(sim) == b"new model" * 100
    assert outside.read_bytes() == b"precious"


def test_push_cli_names_the_symlink(tmp_path, capsys):
    sim, outside = _sim_with_model(tmp_path)
    model = tmp_path / "m.tflite"
    model.write_bytes(_tiny_model())
    link = sim / "models" / "m.tflite.part"
    link.symlink_to(outside)
    code, out, err = run_cli(capsys, "push", model, "--sim", sim)
    assert code == 1
    assert err.startswith(f"microformer: simulator {sim}: {link} is a symbolic link") and "Traceback" not in err
    assert outside.read_bytes() == b"precious" and not (sim / "models" / "m.tflite").is_symlink()


@pytest.mark.parametrize("planted", ["m.tflite.new.tmp", "m.tflite.new", "m.tflite.new.sha256.tmp"])
def test_live_sim_push_refuses_a_planted_symlink(tmp_path, capsys, monkeypatch, planted):
    from microformer import simulator

    sim, outside = _sim_with_model(tmp_path)
    monkeypatch.setattr(simulator, "running", lambda root: {"pid": 1})
    model = tmp_path / "m.tflite"
    model.write_bytes(_tiny_model())
    link = sim / "models" / planted
    link.symlink_to(outside)
    code, out, err = run_cli(capsys, "push", model, "--sim", sim, "--live", "--timeout", "1")
    assert code == 1 and f"{link} is a symbolic link" in err, err
    assert outside.read_bytes() == b"precious"


def test_sim_app_state_files_refuse_symlinks(tmp_path):
    from microformer import simulator

    sim = tmp_path / "sim"
    (sim / ".sim").mkdir(parents=True)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"precious")
    (sim / ".sim" / "app.json").symlink_to(outside)
    with pytest.raises(simulator.SimError, match="app.json is a symbolic link"):
        simulator.record(str(sim), 1, "main.py", [])
    (sim / "main.py").write_text("print('hi')\n")
    (sim / "main.py").write_text("import time\ntime.sleep(30)\n")
    with pytest.raises(simulator.SimError, match="app.json is a symbolic link"):
        with simulator.App(str(sim)):
            pass
    assert simulator.running(str(sim)) is None
    (sim / ".sim" / "app.json").unlink()
    (sim / ".sim" / "console.log").unlink()
    (sim / ".sim" / "console.log").symlink_to(outside)
    with pytest.raises(simulator.SimError, match="console.log is a symbolic link"):
        with simulator.App(str(sim)):
            pass
    assert outside.read_bytes() == b"precious"
