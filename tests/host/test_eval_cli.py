"""`microformer eval`: float (.keras) and int8 (.tflite, engine); JSON, plot, noise, drift."""
import json

import numpy as np
import pytest

from hostutil import make_folder_dataset, needs_engine, run_cli


def _json(capsys, *argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    return json.loads(out)


def test_eval_keras_text(keras_model, synth_test_dir, capsys):
    code, out, err = run_cli(capsys, "eval", keras_model, synth_test_dir)
    assert code == 0, err
    assert "float (TensorFlow)" in out and "accuracy" in out and "precision" in out
    assert "confusion (rows: true, columns: predicted)" in out


def test_eval_json_fields(keras_model, synth_test_dir, capsys):
    r = _json(capsys, "eval", keras_model, synth_test_dir, "--json")
    assert 0 <= r["accuracy"] <= 1
    assert set(r["per_class"]) == {"idle", "run", "stairs", "walk"}
    assert all(set(v) >= {"precision", "recall", "support"} for v in r["per_class"].values())
    cm = np.array(r["confusion"])
    assert cm.sum() == r["n"] == sum(v["support"] for v in r["per_class"].values())
    assert r["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert r["runtime"] == "tensorflow-float"


def test_eval_counts_every_window_of_every_recording(keras_model, synth_test_dir, capsys):
    from microformer import data as D

    r = _json(capsys, "eval", keras_model, synth_test_dir, "--json")
    ds = D.load(synth_test_dir)
    assert r["n"] == sum(D.n_windows(len(rec.data), 32, 16) for rec in ds.recordings)


@needs_engine
def test_eval_tflite_on_engine_with_plot(tflite_model, keras_model, synth_test_dir, tmp_path, capsys):
    png = tmp_path / "cm.png"
    r = _json(capsys, "eval", tflite_model, synth_test_dir, "--json", "--plot", png)
    assert r["runtime"] == "engine-int8"
    assert png.read_bytes()[:4] == b"\x89PNG"
    f = _json(capsys, "eval", keras_model, synth_test_dir, "--json")
    assert r["n"] == f["n"]
    # A few-epoch toy model: int8 and float must still mostly agree.
    assert abs(r["accuracy"] - f["accuracy"]) < 0.1


@needs_engine
def test_eval_noise_and_drift_perturb_inputs(tflite_model, synth_test_dir, capsys):
    base = _json(capsys, "eval", tflite_model, synth_test_dir, "--json")
    loud = _json(capsys, "eval", tflite_model, synth_test_dir, "--json", "--noise", "3")
    drift = _json(capsys, "eval", tflite_model, synth_test_dir, "--json", "--drift", "--seed", "1")
    assert loud["noise"] == 3 and drift["drift"] == 0.5
    assert loud["confusion"] != base["confusion"]
    assert drift["confusion"] != base["confusion"]
    code, out, err = run_cli(capsys, "eval", tflite_model, synth_test_dir, "--noise", "0.5",
                             "--drift", "2")
    assert code == 0 and "noise sigma 0.5 std" in out and "drift up to 2 std" in out


def test_perturb_is_in_training_std_units():
    from microformer.engine import perturb

    info = {"normalization": {"mean": [0, 0], "std": [1.0, 10.0]}}
    x = np.zeros((400, 50, 2), np.float32)
    n = perturb(x, info, noise=0.5, seed=0)
    assert np.std(n[..., 0]) == pytest.approx(0.5, rel=0.05)
    assert np.std(n[..., 1]) == pytest.approx(5.0, rel=0.05)
    d = perturb(x, info, drift=2.0, seed=0)
    assert np.allclose(d[:, 0], 0)  # ramps start at 0
    assert np.abs(d[:, -1, 1]).max() <= 20.0 + 1e-4 and np.abs(d[:, -1, 1]).max() > 15


def test_eval_stream_dataset_uses_majority_labels(keras_model, stream_csv, capsys):
    r = _json(capsys, "eval", keras_model, stream_csv, "--json")
    assert r["n"] > 0 and set(r["per_class"]) == {"idle", "run", "stairs", "walk"}


@pytest.mark.parametrize("case, message", [
    ("channels", "the model expects 6"), ("labels", "does not know"), ("ext", "expected a .keras"),
    ("short", "window 32 is longer than every recording")])
def test_eval_errors(keras_model, tmp_path, capsys, case, message):
    model = keras_model
    if case == "channels":
        data = make_folder_dataset(tmp_path / "d", labels=("idle", "run"), channels=("ax", "ay"))
    elif case == "labels":
        data = make_folder_dataset(tmp_path / "d", labels=("idle", "jump"),
                                   channels=("ax", "ay", "az", "gx", "gy", "gz"))
    elif case == "ext":
        data, model = str(tmp_path), str(tmp_path / "m.onnx")
    else:
        data = make_folder_dataset(tmp_path / "d", labels=("idle",),
                                   channels=("ax", "ay", "az", "gx", "gy", "gz"), n=20)
    code, out, err = run_cli(capsys, "eval", model, data)
    assert code == 1 and message in err, err
