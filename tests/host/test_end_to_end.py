"""train -> quantize -> inspect -> eval through the CLI, and the Python API the demo uses."""
import json

import numpy as np

from hostutil import needs_engine, run_cli


@needs_engine
def test_train_quantize_eval_cli(tmp_path, hybrid_model, synth_dir, synth_test_dir, capsys):
    """hybrid_model is `microformer train --arch hybrid --attention causal:2 ...` (conftest)."""
    t = tmp_path / "m.tflite"
    code, out, err = run_cli(capsys, "quantize", hybrid_model, "--calib", synth_dir, "--out", t)
    assert code == 0 and "int8 on the engine" in out
    code, out, err = run_cli(capsys, "inspect", t, "--json", "--no-sqnr")
    s = json.loads(out)
    assert code == 0 and s["metadata"]["config"]["attention"] == "causal:2"
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "GELU"} <= set(s["op_counts"])
    code, out, err = run_cli(capsys, "eval", t, synth_test_dir, "--json")
    r8 = json.loads(out)
    code, out, err = run_cli(capsys, "eval", hybrid_model, synth_test_dir, "--json")
    rf = json.loads(out)
    assert r8["n"] == rf["n"] > 0
    assert abs(r8["accuracy"] - rf["accuracy"]) < 0.1


@needs_engine
def test_python_api(tmp_path, synth_dir, synth_test_dir):
    from microformer import convert, engine, training

    res = training.train(synth_dir, progress=False, log=lambda *a: None, window=32, hop=16,
                         d_model=16, ffn=32, epochs=2, batch=64)
    assert res.info["labels"] == ["idle", "run", "stairs", "walk"]
    b = convert.quantize(res.model, res.splits.x["train"])
    rep = engine.evaluate(b, synth_test_dir)
    assert rep["n"] > 0 and 0 <= rep["accuracy"] <= 1
    e = engine.Engine(b)
    p = e.predict(res.splits.x["test"])
    assert p.shape == (len(res.splits.y["test"]), 4)
    assert np.allclose(p.sum(1), 1.0, atol=0.05)  # int8 softmax, dequantized
    assert e.arena_size > 0 and "SOFTMAX" in e.ops
