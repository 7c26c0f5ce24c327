"""What a newcomer hits first: one `microformer: ...` line (never a traceback) for a missing
optional dependency, Ctrl-C, a closed pipe, a file that is not a Keras model, a truncated
.tflite, a folder that cannot be written; inputs checked before TensorFlow is imported;
nothing half-written left behind. Fast: no training, TensorFlow never imported."""
import errno
import os
import subprocess
import sys
import threading
import time
import types
import zipfile

import pytest

from hostutil import ROOT, make_folder_dataset, run_cli
from microformer import cli, cliutil
from microformer.errors import MicroformerError

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "host"), os.path.join(ROOT, "device")]))


def _cli_subprocess(argv, prelude=""):
    """Runs microformer in a fresh interpreter; prints, after the run, whether TensorFlow got
    imported. Returns (exit code, stdout, stderr)."""
    code = (f"import sys\n{prelude}\nfrom microformer import cli\nrc = cli.main({[str(a) for a in argv]!r})\n"
            "print('TF-IMPORTED' if 'tensorflow' in sys.modules and sys.modules['tensorflow'] else 'TF-NOT-IMPORTED')\n"
            "sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    return p.returncode, p.stdout, p.stderr


def _devmodels():
    """tests/device/devmodels.py: real int8 .tflite models built without TensorFlow."""
    d = os.path.join(ROOT, "tests", "device")
    if d not in sys.path:
        sys.path.insert(0, d)
    import devmodels

    return devmodels


def _one_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("microformer: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def data(tmp_path):
    return make_folder_dataset(tmp_path / "data", labels=("a", "b"), n_rec=3, n=64)


@pytest.fixture
def not_keras(tmp_path):
    p = tmp_path / "model.keras"
    p.write_text("these are notes, not a model\n")
    return p


def _keras_like(tmp_path, name="m.keras"):
    """A file Keras 3 would accept as far as the format goes (a zip with config.json)."""
    p = tmp_path / name
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("metadata.json", "{}")
    return p


# --- inputs first: each verb names a missing input without importing TensorFlow ----------

@pytest.mark.parametrize("verb", ["train", "quantize", "distill", "prune", "tune", "eval-keras", "eval-tflite"])
def test_missing_inputs_are_named_before_tensorflow_loads(verb, tmp_path, data):
    missing = tmp_path / "no-such-folder"
    model = _keras_like(tmp_path)
    argv = {
        "train": ["train", missing, "--out", tmp_path / "o.keras"],
        "quantize": ["quantize", model, "--calib", missing, "--out", tmp_path / "o.tflite"],
        "distill": ["distill", missing, "--teacher", model, "--out", tmp_path / "o.keras"],
        "prune": ["prune", model, missing, "--heads", "1", "--out", tmp_path / "o.keras"],
        "tune": ["tune", missing, "--board", "QEMU_M4", "--out", tmp_path / "o.tflite"],
        "eval-keras": ["eval", model, missing],
        "eval-tflite": ["eval", tmp_path / "none.tflite", data],
    }[verb]
    t0 = time.monotonic()
    rc, out, err = _cli_subprocess(argv)
    assert rc == 1
    line = _one_line(err)
    assert "does not exist" in line and ("no-such-folder" in line or "none.tflite" in line)
    assert "TF-NOT-IMPORTED" in out
    print(f"{verb}: {time.monotonic() - t0:.1f} s")


def test_quantize_of_a_non_keras_file_says_so(tmp_path, data, not_keras):
    rc, out, err = _cli_subprocess(["quantize", not_keras, "--calib", data, "--out", tmp_path / "o.tflite"])
    assert rc == 1
    line = _one_line(err)
    assert f"model {not_keras} is not a Keras model: a .keras file is a zip archive" in line
    assert "File not found" not in line and "TF-NOT-IMPORTED" in out
    zipped = tmp_path / "other.keras"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(MicroformerError, match=r"is not a Keras model: the archive has no config\.json \(it holds readme\.txt\)"):
        cliutil.check_keras(str(zipped))
    cliutil.check_keras(str(_keras_like(tmp_path)))  # the format Keras writes passes


# --- optional dependencies ---------------------------------------------------------------

def test_missing_tensorflow_is_one_line(tmp_path, data):
    rc, out, err = _cli_subprocess(["train", data, "--out", tmp_path / "m.keras", "--quiet"],
                                   prelude="sys.modules['tensorflow'] = None")
    assert rc == 1
    line = _one_line(err)
    assert "train needs TensorFlow, which is not installed" in line
    assert "pip install 'microformer[train]'" in line
    assert not (tmp_path / "m.keras").exists()


def test_missing_matplotlib_is_one_line(monkeypatch, capsys):
    def run(args):
        import matplotlib  # noqa: F401  (what the --plot paths do first)

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_running(run, "eval"))
    assert cli.main(["eval"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "eval needs matplotlib (for --plot), which is not installed" in line


def test_other_missing_modules_still_raise(monkeypatch):
    def run(args):
        import microformer_no_such_module  # noqa: F401  (a real bug must not be dressed up)

    monkeypatch.setattr(cli, "build_parser", lambda: _parser_running(run, "eval"))
    with pytest.raises(ModuleNotFoundError):
        cli.main(["eval"])


def _parser_running(run, verb):
    import argparse

    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="verb")
    sub.add_parser(verb).set_defaults(_run=run)
    return ap


# --- Ctrl-C and closed pipes -------------------------------------------------------------

def test_ctrl_c_during_train_is_one_line_exit_130_and_writes_nothing(tmp_path, data, monkeypatch, capsys):
    import microformer

    def train(*a, **kw):
        from tqdm import tqdm

        bar = tqdm(total=500, desc="train", file=sys.stderr)  # training's progress bar, left open
        bar.update(3)
        raise KeyboardInterrupt

    fake = types.ModuleType("microformer.training")
    fake.train = train
    monkeypatch.setitem(sys.modules, "microformer.training", fake)
    monkeypatch.setattr(microformer, "training", fake, raising=False)
    out = tmp_path / "m.keras"
    assert cli.main(["train", str(data), "--out", str(out), "--quiet"]) == 130
    import gc

    gc.collect()  # a bar still open would draw itself again now, after the message
    lines = [ln for ln in capsys.readouterr().err.replace("\r", "\n").splitlines() if ln.strip()]
    assert lines[-1] == "microformer: train interrupted"
    assert [ln for ln in lines if ln.startswith("microformer")] == lines[-1:]
    assert "Traceback" not in "\n".join(lines)
    assert os.listdir(tmp_path) == ["data"]


def test_interrupted_saves_leave_the_old_file(tmp_path):
    class Model:
        def save(self, path):
            with open(path, "w") as f:
                f.write("half a zip")
            raise KeyboardInterrupt

    old = tmp_path / "m.keras"
    old.write_text("the previous model")
    with pytest.raises(KeyboardInterrupt):
        cliutil.save_keras(Model(), str(old))
    assert old.read_text() == "the previous model"
    assert os.listdir(tmp_path) == ["m.keras"]

    target = tmp_path / "m.tflite"
    orig = open

    def failing_open(path, mode="r", *a, **kw):
        f = orig(path, mode, *a, **kw)
        if str(path).endswith(".part") and "w" in mode:
            f.close()
            raise KeyboardInterrupt
        return f

    import builtins

    builtins.open = failing_open
    try:
        with pytest.raises(KeyboardInterrupt):
            cliutil.write_bytes(str(target), b"model")
    finally:
        builtins.open = orig
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


def test_closed_pipe_ends_quietly():
    p = subprocess.Popen([sys.executable, "-m", "microformer", "explain", "node 5 (FULLY_CONNECTED): E112: 3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    p.stdout.close()  # as `| head` does once it has its lines
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=60) == 141
    assert err == ""


# --- damaged models and unwritable places ------------------------------------------------

def test_truncated_tflite_says_truncated(tmp_path, capsys):
    devmodels = _devmodels()

    whole = devmodels.fc_model(0)
    for n in (12, 40, len(whole) // 2):
        p = tmp_path / f"t{n}.tflite"
        p.write_bytes(whole[:n])
        code, out, err = run_cli(capsys, "inspect", p, "--no-sqnr")
        assert code == 1
        line = _one_line(err)
        assert "unpack_from" not in line and "struct" not in line.lower()
        assert "truncated .tflite model" in line or "not a .tflite model" in line, line


def test_push_sim_to_an_unwritable_folder_names_it(tmp_path, capsys, monkeypatch):
    devmodels = _devmodels()
    from microformer.commands import push as push_cmd

    model = tmp_path / "m.tflite"
    model.write_bytes(devmodels.fc_model(0))
    monkeypatch.setattr(push_cmd, "check_model", lambda data, path: 1000)
    sim = tmp_path / "sim"
    sim.mkdir()
    real_mkdir = os.mkdir

    def read_only_mkdir(path, *a, **kw):  # what a read-only folder does, even for root
        if str(path).startswith(str(sim)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_mkdir(path, *a, **kw)

    monkeypatch.setattr(os, "mkdir", read_only_mkdir)
    code, out, err = run_cli(capsys, "push", model, "--sim", sim, "--quiet")
    assert code == 1
    line = _one_line(err)
    assert f"simulator {sim}" in line and "writing" in line
    assert "its folder does not exist and could not be created" in line and "read-only" in line
    assert "on the board" not in line


def test_refused_live_push_leaves_no_new_file(tmp_path, monkeypatch):
    from microformer import simulator
    from microformer.commands import push as push_cmd

    sim = tmp_path / "sim"
    (sim / "models").mkdir(parents=True)
    log = tmp_path / "console.log"
    log.write_text("")
    monkeypatch.setattr(simulator, "running", lambda root: object())
    monkeypatch.setattr(simulator, "console_log", lambda root: str(log))
    data = b"TFL3 not really a model"
    import hashlib

    digest = hashlib.sha256(data).hexdigest()

    def app_refuses():
        new = sim / "models" / "m.tflite.new.sha256"
        deadline = time.monotonic() + 10
        while not new.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        new.unlink()  # the Slot reads and removes the sidecar, then refuses
        with open(log, "a") as f:
            f.write("uformer slot m.tflite: refused: not a .tflite model\n")

    t = threading.Thread(target=app_refuses)
    t.start()
    with pytest.raises(Exception, match="the app refused the model: refused: not a .tflite model"):
        push_cmd._live_sim(str(sim), data, "m.tflite", digest, timeout=10)
    t.join()
    assert os.listdir(sim / "models") == []


# --- the way back to the CLI -------------------------------------------------------------

def test_invocation_names_a_command_that_runs(monkeypatch, tmp_path):
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    exe = venv_bin / "microformer"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(exe), "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert cliutil.invocation() == str(exe)  # not on PATH: the path it was started by
    monkeypatch.setenv("PATH", f"{venv_bin}:/usr/bin:/bin")
    assert cliutil.invocation() == "microformer"  # activated: the short name works
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert cliutil.invocation() == f"{sys.executable} -m microformer"

