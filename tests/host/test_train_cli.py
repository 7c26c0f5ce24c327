"""`microformer train`: flags, defaults, metadata in the .keras file, errors."""
import json

import numpy as np
import pytest

from hostutil import FAST_TRAIN, make_folder_dataset, run_cli
from microformer import data as D
from microformer import models


def test_default_model_trains_and_stores_metadata(keras_model, synth_dir):
    info = models.model_info(models.load(keras_model))
    assert info["labels"] == ["idle", "run", "stairs", "walk"]
    assert info["window"] == 32 and info["hop"] == 16
    assert info["channels"] == ["ax", "ay", "az", "gx", "gy", "gz"]
    assert info["sample_rate"] == 50.0
    assert len(info["normalization"]["mean"]) == 6 and min(info["normalization"]["std"]) > 0
    assert info["config"]["arch"] == "transformer" and info["config"]["attention"] == "full"
    assert info["config"]["d_model"] == 16 and info["config"]["ffn"] == 32
    # The metadata names the augmentation training used ("all": every one at its default).
    assert info["training"]["augment"] == D.format_augment(D.parse_augment("all"))
    assert 0.0 <= info["metrics"]["val_accuracy"] <= 1.0
    assert info["split"]["seed"] == 0


def test_hybrid_flags(hybrid_model):
    c = models.model_info(models.load(hybrid_model))["config"]
    assert c["arch"] == "hybrid" and c["attention"] == "causal:2" and c["activation"] == "gelu"
    assert c["layers"] == 1  # hybrid default


def test_every_model_flag_reaches_the_model(tmp_path, synth_dir, capsys):
    out = tmp_path / "m.keras"
    code, stdout, err = run_cli(
        capsys, "train", synth_dir, "--out", out, "--window", "48", "--hop", "24", "--layers", "1",
        "--d-model", "12", "--heads", "3", "--ffn", "20", "--attention", "linear", "--patch", "6",
        "--dropout", "0.2", "--ln-epsilon", "0.01", "--layernorm", "keras", "--epochs", "2",
        "--batch", "64",
        "--patience", "1", "--lr", "0.002", "--seed", "7",
        "--augment", "jitter=0.1,time-warp,channel-dropout=0.2", "--sample-rate", "100", "--quiet")
    assert code == 0, err
    assert "validation accuracy" in stdout and "saved" in stdout
    info = models.model_info(models.load(str(out)))
    c = info["config"]
    assert (c["layers"], c["d_model"], c["heads"], c["ffn"], c["attention"], c["patch"]) == \
        (1, 12, 3, 20, "linear", 6)
    assert c["tokens"] == 8 and c["dropout"] == 0.2 and c["ln_epsilon"] == 0.01
    assert c["layernorm"] == "keras"
    assert (info["window"], info["hop"], info["sample_rate"]) == (48, 24, 100.0)
    t = info["training"]
    assert (t["epochs"], t["batch"], t["seed"], t["patience"], t["lr"]) == (2, 64, 7, 1, 0.002)
    assert t["augment"] == "jitter=0.1,time-warp=0.2,channel-dropout=0.2"
    assert info["split"]["seed"] == 7
    assert info["metrics"]["epochs_run"] <= 2


def test_progress_bar_is_shown_by_default(tmp_path, capsys):
    root = make_folder_dataset(tmp_path / "d", n_rec=3, n=64)
    code, out, err = run_cli(capsys, "train", root, "--out", tmp_path / "m.keras",
                             "--window", "16", "--epochs", "2", "--d-model", "8", "--ffn", "8")
    assert code == 0
    assert "epoch" in err and "2/2" in err


def test_stream_dataset_trains_with_local_attention(tmp_path, stream_csv, capsys):
    code, out, err = run_cli(capsys, "train", stream_csv, "--out", tmp_path / "s.keras", *FAST_TRAIN,
                             "--attention", "local:2")
    assert code == 0, err
    info = models.model_info(models.load(str(tmp_path / "s.keras")))
    assert "labelled run" in json.dumps(info["split"]) and info["config"]["attention"] == "local:2"


@pytest.mark.parametrize("args, message", [
    (["--window", "5000"], "window 5000 is longer than every recording"),
    (["--attention", "local"], "needs a window"),
    (["--augment", "wobble"], "unknown augmentation"),
    (["--d-model", "10", "--heads", "3"], "not divisible"),
    (["--out", "m.h5"], "expected a .keras file name"),
])
def test_train_errors(tmp_path, synth_dir, capsys, args, message):
    argv = ["train", synth_dir, "--out", tmp_path / "m.keras", "--quiet", "--epochs", "1"]
    if args[0] == "--out":
        argv = ["train", synth_dir, "--quiet", "--out", tmp_path / args[1]]
    else:
        argv += args
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert err.startswith("microformer: ") and message in err


def test_too_few_recordings_error(tmp_path, capsys):
    root = make_folder_dataset(tmp_path / "d", labels=("a", "b"), n_rec=2, n=64)
    code, out, err = run_cli(capsys, "train", root, "--out", tmp_path / "m.keras", "--quiet")
    assert code == 1 and "label 'a' has 2 recordings" in err


def test_missing_data_error(tmp_path, capsys):
    code, out, err = run_cli(capsys, "train", tmp_path / "nope", "--out", tmp_path / "m.keras")
    assert code == 1 and "does not exist" in err


def test_training_is_reproducible_with_a_seed(tmp_path, capsys):
    root = make_folder_dataset(tmp_path / "d", n_rec=3, n=64)
    ws = []
    for k in range(2):
        out = tmp_path / f"m{k}.keras"
        assert run_cli(capsys, "train", root, "--out", out, "--window", "16", "--epochs", "2",
                       "--d-model", "8", "--ffn", "8", "--seed", "3", "--quiet")[0] == 0
        ws.append(models.load(str(out)).get_weights())
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(*ws))
