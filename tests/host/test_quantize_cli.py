"""`microformer quantize`: int8 file with metadata, per-channel / per-tensor, accuracy report."""
import json

import pytest

from hostutil import needs_engine, run_cli
from microformer import tflite


def test_quantized_file_has_metadata_and_is_int8(tflite_model):
    b = open(tflite_model, "rb").read()
    g = tflite.Graph(b)
    assert {g.dtype(t) for op in g.ops for t in op["outputs"]} == {"int8"}
    meta = json.loads(tflite.get_metadata(b))
    assert meta["format"] == "microformer" and meta["version"] == 1
    assert meta["labels"] == ["idle", "run", "stairs", "walk"]
    assert (meta["window"], meta["hop"], meta["sample_rate"]) == (32, 16, 50.0)
    assert meta["channels"] == ["ax", "ay", "az", "gx", "gy", "gz"]
    assert set(meta["normalization"]) == {"mean", "std"}
    assert meta["task"] == "classification" and meta["created_at"].endswith("+00:00")
    assert meta["quantization"]["weights"] == "per-channel"
    assert 0 <= meta["metrics"]["float_accuracy"] <= 1
    assert meta["metrics"]["heldback_windows"] > 0


@needs_engine
def test_quantize_prints_float_and_engine_accuracy(tmp_path, keras_model, synth_dir, capsys):
    out = tmp_path / "pt.tflite"
    code, stdout, err = run_cli(capsys, "quantize", keras_model, "--calib", synth_dir, "--out", out,
                                "--per-tensor", "--calib-windows", "20")
    assert code == 0, err
    assert "per-tensor" in stdout and "calibrated on 20 training examples" in stdout
    assert "float" in stdout and "int8 on the engine" in stdout
    meta = json.loads(tflite.get_metadata(out.read_bytes()))
    assert meta["quantization"]["weights"] == "per-tensor"
    assert 0 <= meta["metrics"]["int8_accuracy"] <= 1
    g = tflite.Graph(out.read_bytes())
    fcs = [op for op in g.ops if op["op"] == "FULLY_CONNECTED"]
    assert all(len(g.quant(op["inputs"][1])[0]) == 1 for op in fcs)


@needs_engine
def test_engine_accuracy_in_metadata_is_the_engines(tflite_model, synth_dir):
    """The int8 number quantize stored is what the engine gives on the held-back split."""
    import numpy as np

    from microformer import engine, training

    b = open(tflite_model, "rb").read()
    e = engine.Engine(b)
    _, sp = training.load_splits(e.info, synth_dir)
    acc = float(np.mean(np.argmax(e.predict(sp.x["test"]), 1) == sp.y["test"]))
    assert e.info["metrics"]["int8_accuracy"] == pytest.approx(acc, abs=1e-4)


@pytest.mark.parametrize("case, message", [
    ("no_model", "does not exist"), ("bad_out", "expected a .tflite"),
    ("channels", "expects 6"), ("not_ours", "no 'standardize' layer")])
def test_quantize_errors(tmp_path, keras_model, synth_dir, capsys, case, message):
    from hostutil import make_folder_dataset

    model, data, out = keras_model, synth_dir, tmp_path / "m.tflite"
    if case == "no_model":
        model = tmp_path / "none.keras"
    elif case == "bad_out":
        out = tmp_path / "m.bin"
    elif case == "channels":
        data = make_folder_dataset(tmp_path / "d", labels=("idle", "run", "stairs", "walk"),
                                   channels=("ax", "ay", "az"), n=64)
    elif case == "not_ours":
        import keras

        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model = tmp_path / "plain.keras"
        m.save(str(model))
    code, stdout, err = run_cli(capsys, "quantize", model, "--calib", data, "--out", out)
    assert code == 1 and message in err, err
