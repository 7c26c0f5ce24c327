"""Distillation: losses (soft targets, attention maps with differing head counts), layer
pairing, the student's config, and `microformer distill` end to end."""
import numpy as np
import pytest

from hostutil import needs_engine, run_cli


@pytest.fixture(scope="module")
def D():
    from microformer.compress import distill

    return distill


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def test_soft_kl_is_zero_for_the_teachers_own_logits_and_scaled_by_t2(D, rng):
    t = rng.normal(size=(5, 4)).astype(np.float32)
    s = rng.normal(size=(5, 4)).astype(np.float32)
    assert float(D.soft_kl(t, t, 4.0)) == pytest.approx(0.0, abs=1e-5)
    pt, ps = _softmax(t / 2.0), _softmax(s / 2.0)
    want = 4.0 * np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), -1))
    assert float(D.soft_kl(t, s, 2.0)) == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("ht, hs, groups", [(4, 4, 4), (4, 2, 2), (4, 1, 1), (2, 4, 2), (3, 2, 1)])
def test_attention_kl_handles_differing_head_counts(D, rng, ht, hs, groups):
    t = _softmax(rng.normal(size=(2, ht, 6, 6))).astype(np.float32)
    s = _softmax(rng.normal(size=(2, hs, 6, 6))).astype(np.float32)
    gt = np.asarray(D.group_heads(t, groups))
    gs = np.asarray(D.group_heads(s, groups))
    assert gt.shape == gs.shape == (2, groups, 6, 6)
    np.testing.assert_allclose(gt.sum(-1), 1.0, atol=1e-5)  # group means stay distributions
    want = np.mean(np.sum(gt * (np.log(gt + 1e-7) - np.log(gs + 1e-7)), -1))
    assert float(D.attention_kl(t, s)) == pytest.approx(want, rel=1e-4)
    # a student whose head groups average to the teacher's has nothing left to learn
    same = np.repeat(gt, hs // groups, axis=1)
    assert float(D.attention_kl(t, same)) == pytest.approx(0.0, abs=1e-5)


def test_layer_pairs(D):
    assert D.parse_layer_map("all", 1, 3) == [(0, 2)]
    assert D.parse_layer_map(None, 2, 2) == [(0, 0), (1, 1)]
    assert D.parse_layer_map("all", 3, 2) == [(0, 0), (1, 0), (2, 1)]
    assert D.parse_layer_map("0:1, 1:0", 2, 2) == [(0, 1), (1, 0)]
    assert D.parse_layer_map("none", 2, 2) == []
    from microformer.errors import MicroformerError

    with pytest.raises(MicroformerError, match="out of range; the student has layers 0..1"):
        D.parse_layer_map("2:0", 2, 2)
    with pytest.raises(MicroformerError, match="expected S:T pairs"):
        D.parse_layer_map("first", 2, 2)


def test_student_config_defaults_to_half_the_teacher(D):
    info = {"config": {"arch": "transformer", "layers": 2, "d_model": 64, "heads": 4, "ffn": 128,
                       "attention": "local:2", "patch": 4, "activation": "gelu", "dropout": 0.2,
                       "ln_epsilon": 1e-5, "layernorm": "integer"},
            "window": 64, "channels": ["a", "b"], "labels": ["x", "y", "z"]}
    c = D.student_config(info)
    assert (c["layers"], c["d_model"], c["heads"], c["ffn"]) == (2, 32, 2, 64)
    assert (c["attention"], c["patch"], c["activation"], c["tokens"]) == ("local:2", 4, "gelu", 16)
    c = D.student_config(info, d_model=12, heads=3, layers=1)
    assert (c["layers"], c["d_model"], c["heads"], c["ffn"]) == (1, 12, 3, 64)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, keras_model, synth_dir):
    """`microformer distill` run once: (exit code, stdout, stderr, student path)."""
    import contextlib
    import io

    from microformer import cli

    out = tmp_path_factory.mktemp("distill") / "student.keras"
    tfl = out.with_suffix(".tflite")
    buf_out, buf_err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
        code = cli.main(["distill", synth_dir, "--teacher", keras_model, "--out", str(out),
                         "--tflite", str(tfl), "--epochs", "2", "--batch", "64", "--quiet",
                         "--alpha", "0.7", "--temperature", "3", "--attn-weight", "0.5"])
    return code, buf_out.getvalue(), buf_err.getvalue(), str(out)


def test_distill_cli_trains_a_smaller_student(distilled, keras_model):
    from microformer import models

    code, out, err, path = distilled
    assert code == 0, err
    t = models.load(keras_model)
    s = models.load(path)
    ti, si = models.model_info(t), models.model_info(s)
    assert s.count_params() < t.count_params()
    assert (si["config"]["d_model"], si["config"]["heads"], si["config"]["ffn"]) == (8, 1, 16)
    for k in ("labels", "channels", "window", "hop", "normalization", "split"):
        assert si[k] == ti[k], k
    d = si["training"]["distillation"]
    assert (d["alpha"], d["temperature"], d["attn_weight"]) == (0.7, 3.0, 0.5)
    assert d["attn_layers"] == [[0, 0], [1, 1]] and d["teacher_config"]["heads"] == 2
    assert "attention matched (student layer <- teacher layer): 0 <- 0, 1 <- 1" in out


@needs_engine
def test_distill_cli_prints_float_int8_macs_params_arena(distilled):
    code, out, err, path = distilled
    lines = out.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("model "))
    for word in ("float%", "int8%", "MACs", "params", "arena B"):
        assert word in lines[head]
    rows = {l.split()[0]: l.split()[1:] for l in lines[head + 1:head + 3]}
    assert set(rows) == {"teacher", "student"}
    t_macs, s_macs = int(rows["teacher"][2]), int(rows["student"][2])
    assert 0 < s_macs < t_macs
    for r in rows.values():
        assert 0 <= float(r[0]) <= 100 and 0 <= float(r[1]) <= 100 and int(r[4]) > 0
    from microformer import engine

    e = engine.Engine(open(path[:-len(".keras")] + ".tflite", "rb").read())
    assert e.info["metrics"]["macs"] == s_macs and e.info["metrics"]["arena_bytes"] == e.arena_size


def test_distill_errors(tmp_path, keras_model, synth_dir, capsys):
    base = ["distill", synth_dir, "--teacher", keras_model, "--out", tmp_path / "s.keras", "--quiet",
            "--epochs", "1"]
    code, out, err = run_cli(capsys, *base, "--patch", "4")
    assert code == 1 and "same number of tokens: the student has 8, the teacher 16" in err
    code, out, err = run_cli(capsys, *base, "--alpha", "1.5")
    assert code == 1 and "--alpha must be in [0, 1]" in err
    code, out, err = run_cli(capsys, *base, "--heads", "3", "--d-model", "8")
    assert code == 1 and "not divisible" in err
    code, out, err = run_cli(capsys, *base[:4], "--out", tmp_path / "s.h5")
    assert code == 1 and "expected a .keras" in err
    code, out, err = run_cli(capsys, "distill", synth_dir, "--teacher", tmp_path / "none.keras")
    assert code == 1 and "does not exist" in err
