"""`microformer demo --quick`: synthetic data -> train -> quantize -> inspect -> push -> the
example app on a replayed held-back stream, in the simulator (and, firmware-marked, on the
emulated QEMU_M4 board). The numbers come from the app's own output."""
import hashlib
import json
import os

import pytest

import qemuboard
from hostutil import needs_engine, run_cli


def _last_json(out):
    last = out.strip().splitlines()[-1]
    return json.loads(last)


def _check(res, work):
    import _uformer

    model = open(work / "model.tflite", "rb").read()
    assert 0 <= res["accuracy"] <= 1 and res["windows"] > 10
    assert 0 < res["latency_us_p50"] <= res["latency_us_p99"]
    assert res["model_bytes"] == len(model)
    assert res["arena_bytes"] > 0
    assert res["labels"] == ["idle", "run", "stairs", "walk"]
    return model, _uformer


@needs_engine
def test_demo_quick_in_the_simulator(tmp_path, capsys):
    work = tmp_path / "demo"
    code, out, err = run_cli(capsys, "demo", "--quick", "--out", work, "--json")
    assert code == 0, err[-3000:]
    res = _last_json(out)
    model, _uformer = _check(res, work)
    assert res["target"] == "sim"
    # Every run also leaves its results where benchmarks/readme_numbers.py reads them.
    assert json.loads((work / "results.json").read_text()) == res
    # The arena the app reported is the engine's exact plan for this model.
    assert res["arena_bytes"] == _uformer.arena_size(model)
    # What the demo left is a simulator directory a user can run again.
    sim = work / "sim"
    assert (sim / "models" / "imu.tflite").read_bytes() == model
    side = (sim / "models" / "imu.tflite.sha256").read_text().split()[0]
    assert side == hashlib.sha256(model).hexdigest()
    assert (sim / "main.py").exists() and (sim / "data" / "heldback.csv").exists()
    assert "== 6/6 run" in out and "→" in out and "windows right" in out
    assert f"microformer sim {sim}" in out
    # Stages ran through the real verbs: the host's accuracies are in the model's metadata.
    assert res["int8_accuracy"] is not None and res["float_accuracy"] is not None


def test_demo_errors(tmp_path, capsys):
    code, out, err = run_cli(capsys, "demo", "--board", "QEMU_M4", "--out", tmp_path)
    assert code == 1 and "--micropython DIR" in err
    code, out, err = run_cli(capsys, "demo", "--micropython", str(tmp_path), "--out", tmp_path)
    assert code == 1 and "--board QEMU_M4" in err
    code, out, err = run_cli(capsys, "demo", "--data", str(tmp_path / "none"), "--out", tmp_path)
    assert code == 1 and "does not exist" in err


@pytest.mark.firmware
@needs_engine
def test_demo_quick_on_qemu(tmp_path, tmp_path_factory, capsys):
    fw = qemuboard.firmware(tmp_path_factory)
    work = tmp_path / "demo"
    code, out, err = run_cli(capsys, "demo", "--quick", "--out", work, "--json",
                             "--board", "QEMU_M4", "--firmware", fw, "--seconds", "8")
    assert code == 0, err[-3000:]
    res = _last_json(out)
    _check(res, work)
    assert res["target"] == "QEMU_M4"
    assert os.path.exists(work / "heldback.csv")
