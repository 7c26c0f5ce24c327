"""`microformer tune`: budget screening on real quantized models, the latency and flash
models against their measurements, the Pareto front, the journal (resume) and the CLI."""
import json
import math
import pathlib

import numpy as np
import pytest

from hostutil import needs_engine, run_cli
from microformer import board_costs, latency, tune

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHAPE = {"window": 32, "hop": 16, "channels": ["ax", "ay", "az"], "labels": ["a", "b", "c"]}
SMALL = {"arch": "transformer", "layers": 1, "d_model": 16, "heads": 2, "ffn": 32,
         "attention": "full", "patch": 2, "qat": False}
BIG = dict(SMALL, layers=2, d_model=32, ffn=64)


@pytest.fixture(scope="module")
def probed():
    """Untrained int8 models of two sizes and a hybrid, as tune screens them."""
    return {name: tune.probe(cfg, SHAPE) for name, cfg in
            (("small", SMALL), ("big", BIG), ("hybrid", dict(SMALL, arch="hybrid")))}


@needs_engine
def test_cost_uses_exact_arena_op_flash_and_instruction_model(probed):
    import _uformer

    from microformer import convert

    costs = {k: latency.cost(b) for k, b in probed.items()}
    for name, b in probed.items():
        c = costs[name]
        assert c.arena == _uformer.arena_size(b) == _uformer.Model(b).arena_size
        assert c.model_bytes == len(b)
        assert c.ops == tuple(dict.fromkeys(convert.ops_of(b)))
        assert c.engine_flash == latency.engine_flash(c.ops)
        assert c.flash() == c.engine_flash + len(b)
        assert c.ram() == c.arena and c.ram(model_in_ram=True) == c.arena + len(b)
        assert c.instructions > 0
    # The hybrid's conv kernels cost flash the transformer's ops do not.
    assert costs["hybrid"].engine_flash > costs["small"].engine_flash
    assert set(costs["hybrid"].ops) - set(costs["small"].ops) >= {"CONV_2D", "DEPTHWISE_CONV_2D"}
    # Twice the layers and width: more of everything.
    s, b = costs["small"], costs["big"]
    assert b.arena > s.arena and b.model_bytes > s.model_bytes
    assert b.instructions > 2 * s.instructions
    # Board scaling: QEMU_M4's time is its instruction count (1 us = 1000 instructions).
    assert s.latency_ms("QEMU_M4") == pytest.approx(s.instructions / 1e6)
    pico = latency.BOARDS["RPI_PICO"]
    assert s.latency_ms("RPI_PICO") == pytest.approx(s.instructions * pico.cpi / (pico.mhz * 1e3))


def test_latency_model_reproduces_its_stated_error_on_the_measured_counts():
    """The coefficients in board_costs.py against benchmarks/latency_measured.json (counts
    from QEMU_M4): the error the docs and `tune` print is the one these numbers give."""
    doc = json.loads((ROOT / "benchmarks" / "latency_measured.json").read_text())
    rows = doc["models"]
    assert len(rows) >= 20
    c = board_costs.LATENCY["coefficients"]
    assert set(c) == set(latency.FEATURES) and all(v >= 0 for v in c.values())
    err = np.array([(sum(c[k] * r["features"][k] for k in latency.FEATURES) - r["instructions"])
                    / r["instructions"] for r in rows])
    stated = board_costs.LATENCY["error"]
    assert stated["models"] == len(rows)
    assert np.mean(np.abs(err)) == pytest.approx(stated["mean_abs_error"], abs=1e-3)
    assert np.max(np.abs(err)) == pytest.approx(stated["max_abs_error"], abs=1e-3)
    assert stated["mean_abs_error"] < 0.15


@needs_engine
def test_features_count_the_graph(probed):
    from microformer.tflite import Graph

    g = Graph(probed["small"])
    f = latency.features(probed["small"])
    assert f["nodes"] == len(g.ops)
    fc = sum(g.macs(op) for op in g.ops if op["op"] == "FULLY_CONNECTED")
    assert f["fc_macs"] == fc > 0 and f["bmm_macs"] > 0 and f["softmax_elems"] > 0
    assert f["conv_macs"] == f["dw_macs"] == 0
    h = latency.features(probed["hybrid"])
    assert h["conv_macs"] > 0 and h["dw_macs"] > 0 and h["move_elems"] > 0


def test_flash_table_gives_the_measured_op_sets_and_predicts_each_from_the_others():
    """board_costs.FLASH (benchmarks/latency_fit.py --flash): a model whose ops are one of the
    measured sets gets that build's exact size; each set predicted from the other sets
    (leave-one-out) stays within 10%."""
    fl = board_costs.FLASH
    if "sets" not in fl:
        pytest.skip("the per-op flash table is not measured yet (benchmarks/latency_fit.py --flash)")
    assert {"transformer", "hybrid", "all"} <= set(fl["sets"])
    for name, ref in fl["sets"].items():
        assert latency.engine_flash(ref["ops"]) == ref["bytes"], name
        chk = fl["checks"][name]
        others = dict(fl, sets={k: v for k, v in fl["sets"].items() if k != name})
        assert latency.engine_flash(ref["ops"], table=others) == chk["from_other_sets"]
        assert abs(chk["from_other_sets"] - ref["bytes"]) / ref["bytes"] < 0.10, name
    t = fl["sets"]["transformer"]["ops"]
    # One op more costs flash; the conv kernels cost more than GELU alone.
    assert latency.engine_flash(t + ["GELU"]) > latency.engine_flash(t)
    assert latency.engine_flash(t + ["CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D"]) > \
        latency.engine_flash(t + ["GELU"])
    with pytest.raises(Exception, match="no flash size known"):
        latency.engine_flash(["NOT_AN_OP"])


def test_budget_check_and_board_defaults():
    b = tune.make_budget("rpi_pico")
    pico = latency.BOARDS["RPI_PICO"]
    assert (b.ram, b.flash, b.latency_ms) == (pico.ram_kb * 1024, pico.flash_kb * 1024, math.inf)
    b = tune.make_budget("RPI_PICO", ram_kb=8, flash_kb=40, latency_ms=5)
    cost = {"ram": 9000, "flash": 30000, "latency_ms": 6.0}
    why = b.check(cost)
    assert len(why) == 2 and why[0].startswith("RAM 8.8 KB > 8 KB") and "latency 6.0 ms > 5 ms" in why[1]
    assert b.check({"ram": 8192, "flash": 40960, "latency_ms": 5.0}) == []
    with pytest.raises(Exception, match="unknown board 'ESP8266'"):
        tune.make_budget("ESP8266")


def test_pareto_front_and_choice():
    rows = [
        {"accuracy": 0.90, "latency_ms": 10, "ram": 20, "flash": 50},  # 0 best accuracy
        {"accuracy": 0.80, "latency_ms": 2, "ram": 10, "flash": 40},   # 1 cheapest
        {"accuracy": 0.80, "latency_ms": 3, "ram": 10, "flash": 40},   # 2 dominated by 1
        {"accuracy": 0.70, "latency_ms": 4, "ram": 5, "flash": 60},    # 3 least RAM
        {"accuracy": 0.90, "latency_ms": 10, "ram": 20, "flash": 55},  # 4 dominated by 0
        {"accuracy": 0.60, "latency_ms": 5, "ram": 30, "flash": 70},   # 5 dominated by 1
    ]
    assert tune.pareto(rows) == [0, 1, 3]
    assert tune.choose(rows) == 0
    assert tune.choose([dict(r, accuracy=0.5) for r in rows]) == 1  # ties: lowest latency
    assert tune.choose([]) is None


def test_candidates_are_valid_configs_and_screening_space_is_small():
    from microformer import models

    for quick in (False, True):
        space = tune.candidates(64, quick=quick)
        assert len(space) <= 24
        keys = {json.dumps(c, sort_keys=True) for c in space}
        assert len(keys) == len(space)
        for c in space:
            models.resolve_config({k: v for k, v in c.items() if k != "qat"}, 64, 3, 4)
    kinds = {c["attention"] for c in tune.candidates(64)}
    assert kinds == {"full", "linear", "local:4"}
    assert {c["arch"] for c in tune.candidates(64)} == {"convformer", "transformer", "hybrid"}


def test_journal_resumes_and_survives_a_cut_line(tmp_path):
    j = tune.Journal(tmp_path / "j.jsonl")
    j.put({"key": "a", "v": 1})
    j.put({"key": "b", "v": 2})
    j.put({"key": "a", "v": 3})
    with open(tmp_path / "j.jsonl", "a") as f:
        f.write('{"key": "c", "v"')  # an interrupted write
    j2 = tune.Journal(tmp_path / "j.jsonl")
    assert j2.get("a")["v"] == 3 and j2.get("b")["v"] == 2 and j2.get("c") is None


def test_fingerprint_changes_with_the_data(tmp_path):
    d = tmp_path / "d" / "a"
    d.mkdir(parents=True)
    (d / "r.csv").write_text("x\n1\n")
    f1 = tune.fingerprint(tmp_path / "d")
    (d / "r.csv").write_text("x\n2\n")
    assert tune.fingerprint(tmp_path / "d") != f1


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, synth_dir):
    """One real search on the synthetic set, kept tiny: two architectures, a RAM budget
    between them, one-epoch screening and final runs."""
    from microformer import training

    cap = {}
    for cfg in (SMALL, BIG):
        cap[cfg["d_model"]] = latency.cost(tune.probe(cfg, dict(SHAPE, channels=["c"] * 6,
                                                              labels=["l"] * 4))).arena
    ram_kb = (cap[16] + cap[32]) / 2 / 1024  # SMALL fits, BIG does not
    d = tmp_path_factory.mktemp("tune")
    budget = tune.make_budget("RPI_PICO", ram_kb=ram_kb)
    calls = []
    real = training.train

    def counting(*a, **k):
        calls.append(k)
        return real(*a, **k)

    training.train = counting
    try:
        res = tune.run(synth_dir, budget, d / "m.tflite", work_dir=d / "w", window=32,
                       screen=1, final_epochs=1, qat=False, progress=False,
                       log=lambda *a: None, space=[SMALL, BIG], plot=d / "front.png")
    finally:
        training.train = real
    return res, budget, d, calls


@needs_engine
def test_search_screens_by_budget_trains_what_fits_and_saves_the_winner(tuned):
    from microformer.tflite import get_metadata

    res, budget, d, calls = tuned
    # pilot, one screening run (BIG was screened out untrained), the final run
    assert [k.get("epochs") for k in calls] == [1, 1, 1]
    assert calls[1]["d_model"] == 16 and calls[1]["refit"] is False
    assert [s[0]["d_model"] for s in res.skipped] == [32]
    assert res.skipped[0][2][0].startswith("RAM ")
    assert len(res.rows) == 1 and res.chosen == 0 and res.front == [0]
    row = res.rows[0]
    assert row["ram"] <= budget.ram and 0.0 <= row["accuracy"] <= 1.0
    saved = (d / "m.tflite").read_bytes()
    meta = json.loads(get_metadata(saved))
    assert meta["config"]["d_model"] == 16
    assert meta["tune"]["board"] == "RPI_PICO" and meta["tune"]["arena"] <= budget.ram
    assert {"int8_accuracy", "float_accuracy", "heldback_windows"} <= set(meta["metrics"])
    import _uformer

    assert _uformer.arena_size(saved) == meta["tune"]["arena"] == res.final["cost"]["arena"]
    assert (d / "front.png").stat().st_size > 5000
    text = "\n".join(tune.report(res))
    assert ">>T L1 d16" in text and "RAM " in text and "chosen: T L1 d16" in text


@needs_engine
def test_rerun_comes_from_the_journal_and_a_tight_budget_refuses(tuned, tmp_path, monkeypatch,
                                                                synth_dir):
    """Same search again: nothing is built or trained. A budget nothing fits: a clear error
    with the smallest model's needs, and no model file."""
    import shutil

    from microformer import training
    from microformer.errors import MicroformerError

    res, budget, d, _ = tuned
    work = tmp_path / "w"
    shutil.copytree(d / "w", work)

    def boom(*a, **k):
        raise AssertionError("built or trained again")

    monkeypatch.setattr(tune, "probe", boom)
    monkeypatch.setattr(training, "train", boom)
    again = tune.run(synth_dir, budget, tmp_path / "m.tflite", work_dir=work, window=32,
                     screen=1, final_epochs=1, qat=False, progress=False,
                     log=lambda *a: None, space=[SMALL, BIG])
    assert again.rows[0]["accuracy"] == res.rows[0]["accuracy"]
    assert (tmp_path / "m.tflite").read_bytes() == (d / "m.tflite").read_bytes()
    out = tmp_path / "none.tflite"
    with pytest.raises(MicroformerError, match=r"no candidate fits RPI_PICO .*RAM <= 2 KB.*"
                                               r"the smallest, T L1 d16 .* needs RAM"):
        tune.run(synth_dir, tune.make_budget("RPI_PICO", ram_kb=2), out, work_dir=work,
                 window=32, progress=False, log=lambda *a: None, space=[SMALL, BIG])
    assert not out.exists()


@needs_engine
def test_a_candidate_whose_training_fails_is_reported_and_the_search_goes_on(
        tuned, tmp_path, monkeypatch, synth_dir):
    import shutil

    from microformer import training
    from microformer.errors import MicroformerError

    res, budget, d, _ = tuned
    work = tmp_path / "w"
    shutil.copytree(d / "w", work)
    tiny = dict(SMALL, d_model=8, heads=2, ffn=16)

    def fails(*a, **k):
        raise MicroformerError("the validation split is empty")

    monkeypatch.setattr(training, "train", fails)
    again = tune.run(synth_dir, budget, tmp_path / "m.tflite", work_dir=work, window=32,
                     screen=1, final_epochs=1, qat=False, progress=False,
                     log=lambda *a: None, space=[SMALL, tiny])
    assert [r["config"]["d_model"] for r in again.rows] == [16]
    assert [(s[0]["d_model"], s[2]) for s in again.skipped] == \
        [(8, ["training failed: the validation split is empty"])]
    assert "training failed: the validation split is empty" in "\n".join(tune.report(again))


def test_cli_refuses_bad_board_and_out(capsys, tmp_path):
    code, out, err = run_cli(capsys, "tune", str(tmp_path), "--board", "NOPE")
    assert code == 1 and "unknown board 'NOPE'" in err
    code, out, err = run_cli(capsys, "tune", str(tmp_path), "--board", "QEMU_M4", "--out", "x.keras")
    assert code == 1 and "expected a .tflite" in err
    code, out, err = run_cli(capsys, "tune", "--help")
    assert code == 0 and "--latency-ms" in out and "RPI_PICO" in out


@pytest.mark.slow
@needs_engine
def test_tune_end_to_end_on_synthetic_data(capsys, tmp_path, synth_dir):
    out = tmp_path / "best.tflite"
    argv = ["tune", synth_dir, "--board", "RPI_PICO", "--ram", "24", "--flash", "96",
            "--latency-ms", "60", "--quick", "--screen-epochs", "2", "--final-epochs", "2",
            "--max-train", "2", "--no-qat", "--window", "32", "--out", str(out), "--plot",
            "--quiet"]
    code, text, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert ">>" in text and "Pareto front" in text and "chosen:" in text
    meta = json.loads(__import__("microformer.tflite", fromlist=["x"]).get_metadata(out.read_bytes()))
    assert meta["tune"]["board"] == "RPI_PICO"
    assert meta["tune"]["arena"] <= 24 * 1024 and meta["tune"]["flash"] <= 96 * 1024
    assert "int8_accuracy" in meta["metrics"] and "float_accuracy" in meta["metrics"]
    assert (tmp_path / "best.tune" / "pareto.png").stat().st_size > 10_000
    import _uformer

    assert _uformer.arena_size(out.read_bytes()) == meta["tune"]["arena"]
    # Re-run: everything comes from the journal.
    code, text2, err = run_cli(capsys, *argv)
    assert code == 0
    assert text2.split("chosen:")[1].split("(")[0] == text.split("chosen:")[1].split("(")[0]
