"""Quantization-aware training: fake-quant formulas, the QAT copy of a model, exact weight
codes after conversion, the int8 graph on the engine, and `train --qat`."""
import numpy as np
import pytest

from hostutil import FAST_TRAIN, needs_engine, run_cli
from microformer import quant


def test_weight_fake_quant_is_per_channel_symmetric(rng):
    w = rng.normal(size=(7, 5)).astype(np.float32) * np.array([1, 10, 0.1, 3, 0], np.float32)
    fq = quant.fake_quantize_weights(w, -1)
    scale = np.abs(w).max(0) / 127
    for c in range(4):
        codes = fq[:, c] / scale[c]
        assert np.allclose(codes, np.round(codes), atol=1e-4)
        assert np.abs(codes).max() == pytest.approx(127, abs=1e-3)  # the largest weight is +-127
        assert np.abs(fq[:, c] - w[:, c]).max() <= scale[c] / 2 + 1e-7
    assert np.all(fq[:, 4] == 0)  # an all-zero channel stays zero


def test_weight_rounding_is_half_away_from_zero():
    w = np.array([[127.0], [2.5], [-2.5], [0.5], [-0.5]], np.float32)  # scale is exactly 1
    assert quant.fake_quantize_weights(w, -1)[:, 0].tolist() == [127, 3, -3, 1, -1]


@pytest.mark.parametrize("lo, hi, scale, zp", [
    (-1.0, 3.0, 4.0 / 255, -64),     # -128 - (-1 / (4/255)) = -64.25 -> -64
    (0.5, 2.0, 2.0 / 255, -128),     # range widened to contain 0
    (-2.0, -0.5, 2.0 / 255, 127),    # all negative: 0 is the top code
    (0.0, 0.0, 1.0 / 255, -128),     # empty range: any scale, 0 exact
])
def test_activation_qparams_match_tflite_nudging(lo, hi, scale, zp):
    s, z = quant.activation_qparams(np.float32(lo), np.float32(hi))
    assert float(s) == pytest.approx(scale, rel=1e-6) and float(z) == zp
    # 0 is exactly representable and the range ends land on codes -128 / 127
    assert quant.fake_quantize(np.float32(0.0), s, z) == 0.0


def test_activation_fake_quant_clamps_to_the_range():
    s, z = quant.activation_qparams(np.float32(-1.0), np.float32(1.0))
    x = np.array([-5.0, -1.0, 0.3, 1.0, 5.0], np.float32)
    y = quant.fake_quantize(x, s, z)
    assert y[0] == np.float32((-128 - z) * s) and y[4] == np.float32((127 - z) * s)
    assert abs(y[1] + 1) <= s / 2 + 1e-6 and abs(y[3] - 1) <= s / 2 + 1e-6
    assert abs(y[2] - 0.3) <= s / 2 + 1e-7


@pytest.mark.parametrize("attention", ["full", "local:2", "causal:3", "linear"])
def test_attention_forward_is_the_models_attention(attention, rng):
    from microformer import models
    from microformer.compress import qat

    a = models.Attention(2, attention, name="a")
    x = rng.normal(size=(3, 8, 12)).astype(np.float32)
    want = np.asarray(a(x))
    got = np.asarray(qat.attention_forward(a, x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    p = np.asarray(qat.attention_forward(a, x, probs_only=True))
    assert p.shape == (3, 2, 8, 8)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)  # rows are distributions


@pytest.fixture(scope="session")
def qat_pair(keras_model, synth_dir):
    """(float model, its QAT copy, splits) for the tiny session model."""
    from microformer import models, training
    from microformer.compress import qat

    m = models.load(keras_model)
    ds, sp = training.load_splits(models.model_info(m), synth_dir)
    return m, qat.wrap(m, sp.x["train"]), sp


def test_qat_copy_tracks_the_float_model(qat_pair):
    from microformer import training
    from microformer.compress import qat

    m, q, sp = qat_pair
    x = sp.x["test"]
    pf, pq = training.predict(m, x), training.predict(q, x)
    # int8 noise moves probabilities a little; it must not change most decisions
    assert np.mean(np.argmax(pf, 1) == np.argmax(pq, 1)) >= 0.8
    assert 0 < np.abs(pf - pq).max() < 0.5
    # every range was calibrated and contains 0
    ranges = [r for lyr in qat.quant_layers(q) for r in lyr.ranges().values()]
    assert ranges and all(lo <= 0 <= hi for lo, hi in ranges)
    assert sum(hi - lo > 0 for lo, hi in ranges) > len(ranges) // 2
    # the copy has its own variables: the float model's are not trainable through it
    assert {id(v) for v in q.trainable_variables}.isdisjoint({id(v) for v in m.trainable_variables})


def test_qat_mirrors_the_converters_fusions(qat_pair):
    from microformer.compress import qat

    _, q, _ = qat_pair
    ln0a, attn0, ffn0a = q.get_layer("ln0a"), q.get_layer("attn0"), q.get_layer("ffn0a")
    assert ln0a.fold and q.get_layer("ln0b").fold and not q.get_layer("ln_out").fold
    assert attn0.q.fold_ln is ln0a and ffn0a.fold_ln is q.get_layer("ln0b")
    assert not attn0.q.quantize_output  # 1/sqrt(dh) folded into q
    assert attn0.o._ranges["out"] is q.get_layer("res0a_fq")._ranges["out"]
    assert q.get_layer("embed")._ranges["out"] is q.get_layer("pos")._ranges["out"]
    assert isinstance(q.get_layer("probs_fq"), qat.SoftmaxQuant)


def test_qat_copy_of_the_hybrid_model(hybrid_model, synth_dir):
    """Conv1D, SeparableConv1D (depthwise per channel), GELU and causal attention."""
    from microformer import models, training
    from microformer.compress import qat

    m = models.load(hybrid_model)
    ds, sp = training.load_splits(models.model_info(m), synth_dir)
    q = qat.wrap(m, sp.x["train"])
    names = {type(q.get_layer(n)).__name__ for n in ("conv1", "conv2", "attn0", "head")}
    assert names == {"QConv1D", "QSeparableConv1D", "QAttention", "QDense"}
    assert q.get_layer("conv2").ranges()["dw"][1] > 0  # the int8 tensor between the two convs
    x = sp.x["test"]
    agree = np.mean(np.argmax(training.predict(m, x), 1) == np.argmax(training.predict(q, x), 1))
    assert agree >= 0.8
    qat.unwrap(q)
    dw = m.get_layer("conv2").depthwise_kernel.numpy()
    flat = dw.reshape(dw.shape[0], -1)
    assert np.allclose(quant.fake_quantize_weights(flat, -1), flat, atol=1e-6)
    k = m.get_layer("conv1").kernel.numpy()
    assert np.allclose(quant.fake_quantize_weights(k, -1), k, atol=1e-6)


@needs_engine
def test_unwrapped_qat_model_converts_to_exactly_the_trained_codes(keras_model, synth_dir):
    """After QAT, every int8 FULLY_CONNECTED weight of the converted model is the value the
    QAT copy trained with (per-channel grid, LayerNorm gamma and q's 1/sqrt(dh) folded)."""
    from microformer import convert, engine, models, quant as Q, tflite, training
    from microformer.compress import loop, qat

    m = models.load(keras_model)
    info = models.model_info(m)
    ds, sp = training.load_splits(info, synth_dir)
    q = qat.wrap(m, sp.x["train"])
    loop.fit(loop.Objective(q), sp, info, epochs=1, batch=64, progress=False)
    expected = []
    for lyr in qat.quant_layers(q):
        if isinstance(lyr, qat.QDense):
            k, _ = lyr.folded()
            fq = Q.fake_quantize_weights(np.asarray(k), -1).T
            expected += [fq, fq / np.sqrt(q.get_layer("attn0").dh)]
    out = qat.unwrap(q)
    assert out is m and "qat" in models.model_info(m)["training"]
    b = convert.quantize(m, sp.x["train"])
    g = tflite.Graph(b)
    fcs = [op for op in g.ops if op["op"] == "FULLY_CONNECTED"]
    assert len(fcs) >= 10
    for op in fcs:
        t = op["inputs"][1]
        scale, zp, dim = g.quant(t)
        codes = np.frombuffer(g.const_bytes(t), np.int8).reshape(g.shape(t)).astype(np.float32)
        assert dim == 0 and np.all(zp == 0)  # per output channel, symmetric
        w = codes * scale[:, None]
        assert any(e.shape == w.shape and np.allclose(e, w, rtol=1e-5, atol=1e-7) for e in expected), \
            f"node {op['index']}: converted weights differ from the QAT grid"
    # full-integer, engine ops only
    assert {g.dtype(t) for op in g.ops for t in op["outputs"]} == {"int8"}
    assert set(convert.ops_of(b)) <= set(engine.supported_ops())


@needs_engine
def test_train_qat_cli(tmp_path, synth_dir, capsys):
    out = tmp_path / "qat.keras"
    code, stdout, err = run_cli(capsys, "train", synth_dir, "--out", out, *FAST_TRAIN, "--qat")
    assert code == 0, err
    assert "quantization-aware" in stdout
    for word in ("float%", "int8%", "MACs", "params", "arena B"):
        assert word in stdout
    from microformer import models

    info = models.model_info(models.load(str(out)))
    assert info["training"]["qat"]["weights"] == "int8 per-channel symmetric"
    assert 0 <= info["metrics"]["int8_accuracy"] <= 1


@needs_engine
def test_train_qat_fine_tunes_an_existing_model(tmp_path, keras_model, synth_dir, capsys):
    from microformer import models

    out = tmp_path / "ft.keras"
    code, stdout, err = run_cli(capsys, "train", synth_dir, "--init", keras_model, "--qat",
                                "--out", out, "--epochs", "1", "--batch", "64", "--quiet")
    assert code == 0, err
    assert "fine-tuned" in stdout and "int8%" in stdout
    old = models.model_info(models.load(keras_model))
    new = models.model_info(models.load(str(out)))
    assert new["config"] == old["config"] and new["normalization"] == old["normalization"]
    assert new["training"]["qat"] and new["training"]["init"] == keras_model
    w = models.load(str(out)).get_layer("ffn0b").get_weights()[0]
    assert np.allclose(quant.fake_quantize_weights(w, -1), w, atol=1e-6)  # snapped to int8 grid


def test_init_needs_a_keras_model(tmp_path, synth_dir, capsys):
    code, out, err = run_cli(capsys, "train", synth_dir, "--init", tmp_path / "nope.keras",
                             "--qat", "--out", tmp_path / "x.keras")
    assert code == 1 and "does not exist" in err


def test_init_refuses_architecture_flags(tmp_path, keras_model, synth_dir, capsys):
    code, out, err = run_cli(capsys, "train", synth_dir, "--init", keras_model, "--d-model", "8",
                             "--out", tmp_path / "x.keras")
    assert code == 1 and "--init" in err and "d-model" in err
