"""push and install onto a CircuitPython board's CIRCUITPY drive (a directory stands for the
mounted drive): the model lands in uformer.storage's FAT layout (A/B files + manifest, what
the board's Slot reads on FAT), every file through NAME.part, fsync, read-back and rename;
the auto-reload consequence is printed; bad drives and --live are refused in one line."""
import hashlib
import json
import os
import pathlib

from hostutil import ROOT, needs_engine, run_cli


def sha(b):
    return hashlib.sha256(b).hexdigest()


def _model(variant):
    """A valid few-hundred-byte model (one RELU), different per variant."""
    from tflbuild import Graph

    g = Graph()
    x = g.input((1, 8), "int8", scale=0.05 + variant * 0.01, zp=0)
    y = g.output((1, 8), "int8", scale=0.05 + variant * 0.01, zp=0)
    g.op("RELU", [x], [y])
    return g.build()


def _drive(tmp_path):
    d = tmp_path / "CIRCUITPY"
    d.mkdir()
    (d / "boot_out.txt").write_text("Adafruit CircuitPython 10.3.0 on 2026-07-01; Raspberry Pi Pico\n")
    return d


@needs_engine
def test_push_to_a_circuitpython_drive_uses_the_fat_layout(tmp_path, capsys):
    from uformer.storage import ABStore

    drive = _drive(tmp_path)
    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    a.write_bytes(_model(1))
    b.write_bytes(_model(2))
    code, out, err = run_cli(capsys, "push", a, "--name", "m", "--drive", drive)
    assert code == 0, err
    assert "auto-reload restarts code.py" in out and "installed" in out
    path = str(drive / "models" / "m.tflite")
    active, digest = ABStore(path).recover()
    assert digest == sha(a.read_bytes()) and open(active, "rb").read() == a.read_bytes()
    code, out, err = run_cli(capsys, "push", a, "--name", "m", "--drive", drive, "--json")
    assert code == 0 and json.loads(out)["skipped"] is True
    code, out, err = run_cli(capsys, "push", b, "--name", "m", "--drive", drive)
    assert code == 0, err
    active2, digest2 = ABStore(path).recover()
    assert digest2 == sha(b.read_bytes()) and active2 != active
    assert open(active2, "rb").read() == b.read_bytes()
    # The old model stays in the other A/B file until the next push; no .part is left.
    assert open(active, "rb").read() == a.read_bytes()
    assert not [n for n in os.listdir(drive / "models") if n.endswith(".part")]


@needs_engine
def test_push_to_a_missing_or_read_only_drive_is_one_line(tmp_path, capsys):
    m = tmp_path / "m.tflite"
    m.write_bytes(_model(1))
    code, out, err = run_cli(capsys, "push", m, "--drive", tmp_path / "CIRCUITPY")
    assert code == 1 and err.count("\n") == 1
    assert "no drive at" in err and "CIRCUITPY drive mounted" in err
    drive = _drive(tmp_path)
    if os.geteuid() != 0:  # root writes anywhere: the read-only case needs a normal user
        drive.chmod(0o555)
        code, out, err = run_cli(capsys, "push", m, "--drive", drive)
        drive.chmod(0o755)
        assert code == 1 and "is read-only" in err
    code, out, err = run_cli(capsys, "push", m, "--drive", drive, "--live")
    assert code == 1 and "auto-reload restarts the app anyway" in err


def test_install_to_a_circuitpython_drive_copies_the_package(tmp_path, capsys):
    drive = _drive(tmp_path)
    code, out, err = run_cli(capsys, "install", "--drive", drive)
    assert code == 0, err
    src = pathlib.Path(ROOT) / "device" / "uformer"
    names = sorted(p.name for p in src.glob("*.py"))
    assert sorted(os.listdir(drive / "lib" / "uformer")) == names
    for n in names:
        assert (drive / "lib" / "uformer" / n).read_bytes() == (src / n).read_bytes()
    assert "no _uformer natmod" in out and "auto-reload" in out
    code, out, err = run_cli(capsys, "install", "--drive", drive, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["copied"] == [] and len(res["unchanged"]) == len(names)
