"""`microformer inspect`: ops, sizes, MACs, arena, metadata, per-layer SQNR, refusal."""
import json

import numpy as np
import pytest

from hostutil import needs_engine, run_cli
from microformer import tflite

pytestmark = needs_engine


def test_inspect_text(tflite_model, capsys):
    code, out, err = run_cli(capsys, "inspect", tflite_model)
    assert code == 0, err
    for s in ("bytes", "parameters", "MACs per inference", "engine arena:", "FULLY_CONNECTED x",
              "float ops: none (fully int8)", "metadata: labels ['idle', 'run', 'stairs', 'walk']",
              "window 32, hop 16 @ 50 Hz", "normalization mean", "per-layer SQNR", "random N(0,1)"):
        assert s in out, s


def test_inspect_json_is_consistent_with_the_engine(tflite_model, capsys):
    import _uformer

    b = open(tflite_model, "rb").read()
    code, out, err = run_cli(capsys, "inspect", tflite_model, "--json")
    assert code == 0
    s = json.loads(out)
    m = _uformer.Model(b)
    assert s["arena_bytes"] == m.arena_size == _uformer.arena_size(b)
    assert [o["op"] for o in s["ops"]] == list(m.ops)
    assert s["bytes"] == len(b)
    assert s["macs"] == sum(o["macs"] for o in s["ops"]) > 0
    assert s["params"] > 0 and s["weight_bytes"] >= s["params"]
    assert s["input"]["shape"] == [1, 32, 6] and s["input"]["dtype"] == "int8"
    assert s["metadata"]["labels"] == ["idle", "run", "stairs", "walk"]
    assert len(s["sqnr"]) == len(s["ops"])
    fin = [r["sqnr_db"] for r in s["sqnr"] if isinstance(r["sqnr_db"], (int, float))]
    # Layers right after the input are near the int8 limit (~40 dB); nothing is pure noise.
    assert max(fin) > 25 and np.median(fin) > 5


def test_inspect_sqnr_with_data_and_plot(tflite_model, synth_dir, tmp_path, capsys):
    png = tmp_path / "sqnr.png"
    code, out, err = run_cli(capsys, "inspect", tflite_model, "--data", synth_dir, "--probes", "4",
                             "--plot", png)
    assert code == 0, err
    assert "4 windows of" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inspect_no_sqnr(tflite_model, capsys):
    code, out, err = run_cli(capsys, "inspect", tflite_model, "--no-sqnr", "--json")
    assert code == 0 and json.loads(out)["sqnr"] is None


def test_sqnr_drops_when_activations_are_coarser(tflite_model, rng):
    """The SQNR measures real quantization error: doubling the output scale of the patch
    embedding (one bit less of resolution; its consumer, an ADD, rescales any input)
    lowers that layer's SQNR by about 6 dB."""
    from microformer import analysis

    b = open(tflite_model, "rb").read()
    g = tflite.Graph(b)
    fc = next(op for op in g.ops if op["op"] == "FULLY_CONNECTED")
    assert [o["op"] for o in g.ops if fc["outputs"][0] in o["inputs"]] == ["ADD"]
    m = tflite.unpack(b)
    q = m.subgraphs[0].tensors[fc["outputs"][0]].quantization
    q.scale = np.asarray(q.scale) * 2
    coarse = tflite.pack(m)
    x = rng.standard_normal((6, 32, 6)).astype(np.float32)
    fine_rows = analysis.layer_sqnr(b, x)
    coarse_rows = analysis.layer_sqnr(coarse, x)
    i = fc["index"]
    drop = fine_rows[i]["sqnr_db"] - coarse_rows[i]["sqnr_db"]
    assert 4 < drop < 8, drop


def test_inspect_refuses_ops_the_engine_lacks(tflite_model, tmp_path, capsys):
    """Rewrite one op to EXP (not in the engine): inspect must refuse, naming op and node."""
    b = open(tflite_model, "rb").read()
    m = tflite.unpack(b)
    S = tflite.schema()
    oc = S.OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = S.BuiltinOperator.EXP
    oc.version = 1
    m.operatorCodes.append(oc)
    ops = m.subgraphs[0].operators
    node = next(i for i, op in enumerate(ops)
                if tflite._op_names()[max(m.operatorCodes[op.opcodeIndex].builtinCode,
                                          m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)] == "RSQRT")
    ops[node].opcodeIndex = len(m.operatorCodes) - 1
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(tflite.pack(m))
    code, out, err = run_cli(capsys, "inspect", bad)
    assert code == 1
    assert f"lacks EXP (node {node})" in err and err.startswith("microformer: ")


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"hello world!", "not a .tflite")])
def test_inspect_bad_files(tmp_path, capsys, content, message):
    p = tmp_path / "x.tflite"
    p.write_bytes(content)
    code, out, err = run_cli(capsys, "inspect", p)
    assert code == 1 and message in err
