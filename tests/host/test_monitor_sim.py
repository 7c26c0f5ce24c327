"""microformer sim and monitor: the device app of a simulator directory, its output decoded."""
import csv
import os
import shutil

from hostutil import ROOT, needs_engine, run_cli
from microformer import simulator
from microformer.monitor import Decoder, format_event, parse_stats


def test_decoder_reads_the_framework_and_example_formats():
    d = Decoder()
    ev = d.decode("uformer slot m.tflite: serving 34826b13a4b7 from models/m.tflite (38976 B, "
                  "arena 16983 B, test invoke 156 us)\r\n")
    assert ev.kind == "model" and ev.fields["arena_bytes"] == 16983 and ev.fields["test_us"] == 156
    assert d.arena == 16983
    ev = d.decode("label walk 0.93 at row 1234")
    assert (ev.kind, ev.label, ev.score, ev.fields["row"], ev.latency_us) == ("prediction", "walk", 0.93, 1234, None)
    ev = d.decode("uformer stats t_ms=5000 samples=251 windows=14 invokes=14 p50_us=201 p99_us=238 "
                  "max_us=238 heap_free=-1 missed=0 bad=0 errors=0 swaps=0 refused=0 model=34826b13a4b7")
    assert ev.kind == "stats" and ev.fields["p99_us"] == 238 and ev.fields["model"] == "34826b13a4b7"
    # Predictions after a stats line carry its p50 as their latency; a line's own us= wins.
    assert d.decode("gesture wave 0.91").latency_us == 201
    assert d.decode("pred tap 0.50 us=812").latency_us == 812
    assert d.decode("event walk 0.88").kind == "event"
    ev = d.decode("uformer slot m.tflite: refused file model 375b8d58890f: model has 1 channels, "
                  "the app's window 6; still serving a991eda4637e")
    assert ev.kind == "refused" and "1 channels" in ev.fields["detail"]
    assert d.decode("uformer slot m.tflite: swapped 34826b13a4b7 -> bba371ec65eb (pending)").kind == "swap"
    assert d.decode("#MF 0001 K proto=1 chunk=1024 *105306AE") is None
    assert d.decode("hello").kind == "log"
    assert parse_stats("not stats") is None
    for line in ("label walk 0.93 at row 1", "uformer stats invokes=3 p50_us=1", "whatever"):
        assert isinstance(format_event(1.0, Decoder().decode(line)), str)


def _sim_dir(tmp_path, tflite_model):
    from microformer import synth

    sim = tmp_path / "sim"
    (sim / "models").mkdir(parents=True)
    shutil.copyfile(tflite_model, sim / "models" / "m.tflite")
    shutil.copyfile(os.path.join(ROOT, "examples", "replay_app.py"), sim / "main.py")
    synth.generate(str(sim / "rec.csv"), recordings_per_label=1, seconds=(3.0, 4.0), seed=5, stream=True)
    return sim


@needs_engine
def test_sim_runs_the_app_and_monitor_decodes_it(tmp_path, tflite_model, capsys):
    sim = _sim_dir(tmp_path, tflite_model)
    code, out, err = run_cli(capsys, "sim", sim, "rec.csv", "models/m.tflite", "5", "--seconds", "60")
    assert code == 0, err
    assert "uformer slot m.tflite: serving" in out and "agreement" in out
    assert simulator.running(str(sim)) is None and not (sim / ".sim" / "app.json").exists()
    assert "agreement" in (sim / ".sim" / "console.log").read_text()
    out_csv = tmp_path / "mon.csv"
    code, out, err = run_cli(capsys, "monitor", "--sim", sim, "rec.csv", "models/m.tflite", "3",
                             "--csv", out_csv)
    assert code == 0, err
    assert "→" in out and "stats" in out and "model" in out
    rows = list(csv.DictReader(open(out_csv)))
    kinds = {r["kind"] for r in rows}
    assert {"prediction", "stats", "model"} <= kinds
    stats = [r for r in rows if r["kind"] == "stats"]
    assert int(stats[-1]["latency_us"]) > 0 and int(stats[-1]["invokes"]) > 0


@needs_engine
def test_sim_errors(tmp_path, tflite_model, capsys):
    code, out, err = run_cli(capsys, "sim", tmp_path / "nope")
    assert code == 1 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli(capsys, "sim", tmp_path / "empty")
    assert code == 1 and "main.py does not exist" in err
    sim = _sim_dir(tmp_path, tflite_model)
    code, out, err = run_cli(capsys, "sim", sim, "rec.csv", "models/missing.tflite", "--seconds", "20")
    assert code == 1 and "exited with status 1" in err and "console.log" in err
    code, out, err = run_cli(capsys, "monitor", "--port", "/dev/ttyNOSUCH0", "x")
    assert code == 1 and "only apply to --sim" in err
