"""The README's demo numbers are generated from a recorded run (benchmarks/readme_numbers.py
and benchmarks/demo_numbers.json), never typed: the marked text must be exactly what the
record renders to."""
import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("readme_numbers", ROOT / "benchmarks" / "readme_numbers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_matches_the_recorded_run():
    rn = _script()
    rec = json.loads(rn.RECORD.read_text())
    assert rec["target"] == "sim" and rec["windows"] > 0
    text = rn.README.read_text()
    assert rn.rewrite(text, rn.render(rec)) == text, \
        "README's demo numbers differ from benchmarks/demo_numbers.json: run python benchmarks/readme_numbers.py"
    # The numbers quoted are the record's.
    assert f'"accuracy": {json.dumps(rec["accuracy"])}' in text
    assert f'{rec["dataset"]["recordings_per_label"]} recordings of' in text


def test_rewrite_replaces_only_marked_text_and_needs_every_marker():
    rn = _script()
    text = "a <!-- demo:x -->old<!-- /demo:x --> b <!-- demo:y -->\nold\n<!-- /demo:y --> c"
    assert rn.rewrite(text, {"x": "1", "y": "\n2\n"}) == \
        "a <!-- demo:x -->1<!-- /demo:x --> b <!-- demo:y -->\n2\n<!-- /demo:y --> c"
    with pytest.raises(SystemExit, match="no <!-- demo:KEY --> marker for z"):
        rn.rewrite(text, {"x": "1", "y": "2", "z": "3"})
    with pytest.raises(SystemExit, match="demo:y has no generated text"):
        rn.rewrite(text, {"x": "1"})


def test_record_counts_the_dataset_and_refuses_board_runs(tmp_path):
    from microformer import synth

    rn = _script()
    out = tmp_path / "demo-out"
    synth.generate(str(out / "data"), recordings_per_label=2, seconds=(3.0, 4.0), seed=0)
    res = {"target": "sim", "accuracy": 0.5, "model": "/somewhere/model.tflite"}
    (out / "results.json").write_text(json.dumps(res))
    rec = rn.record(out)
    d = rec["dataset"]
    assert d["recordings_per_label"] == 2 and d["labels"] == sorted(synth.LABELS)
    assert 3.0 <= d["seconds_min"] <= d["seconds_max"] <= 4.0
    assert "model" not in rec  # no machine-specific path in the record
    (out / "results.json").write_text(json.dumps(dict(res, target="QEMU_M4")))
    with pytest.raises(SystemExit, match="quotes a simulator run"):
        rn.record(out)
    with pytest.raises(SystemExit, match="run `make demo`"):
        rn.record(tmp_path / "nothing")
