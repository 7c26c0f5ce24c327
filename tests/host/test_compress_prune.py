"""Structured pruning: importance scores, plans, physically smaller layers that compute what
the masked model computes, per-layer configs, and `microformer prune` end to end."""
import numpy as np
import pytest

from hostutil import needs_engine, run_cli


@pytest.fixture(scope="module")
def setup(keras_model, synth_dir):
    from microformer import models, training
    from microformer.compress import prune

    m = models.load(keras_model)
    ds, sp = training.load_splits(models.model_info(m), synth_dir)
    imp = prune.importance(m, sp.x["train"], sp.y["train"], n_max=128)
    return m, sp, imp


def test_importance_scores_every_head_and_unit(setup):
    m, sp, imp = setup
    assert [len(v) for v in imp["heads"]] == [2, 2]
    assert [len(v) for v in imp["ffn"]] == [32, 32]
    for v in imp["heads"] + imp["ffn"]:
        assert np.all(np.isfinite(v)) and np.all(v >= 0)
    assert all(v.max() > 0 for v in imp["heads"])


def test_head_importance_is_the_gate_gradient(setup):
    """|dL/dg| for a gate on head h equals |sum over its o-kernel rows of W * dL/dW| per window."""
    import tensorflow as tf

    from microformer.compress import prune

    m, sp, _ = setup
    x, y = sp.x["train"][:6], sp.y["train"][:6]
    imp = prune.importance(m, x, y)
    a = m.get_layer("attn1")
    want = np.zeros(a.heads)
    for i in range(len(x)):
        with tf.GradientTape() as tape:
            p = m(x[i:i + 1], training=False)
            loss = -tf.math.log(p[0, y[i]] + 1e-7)
        g = tape.gradient(loss, a.o.kernel).numpy()
        rows = (g * a.o.kernel.numpy()).sum(1).reshape(a.heads, a.dh).sum(1)
        want += np.abs(rows)
    np.testing.assert_allclose(imp["heads"][1], want / len(x), rtol=1e-3, atol=1e-7)


def test_pruned_model_computes_what_the_masked_model_computes(setup):
    """Removing head h and unit u physically == zeroing their rows of o / ffn-b in the
    original; the new layers are really smaller."""
    from microformer import models, training
    from microformer.compress import prune

    m, sp, _ = setup
    keep_h = [np.array([1]), np.array([0, 1])]
    keep_u = [np.arange(32), np.array([u for u in range(32) if u not in (3, 17, 30)])]
    p = prune.apply(m, keep_h, keep_u)
    a0 = p.get_layer("attn0")
    assert a0.heads == 1 and a0.dh == 8 and tuple(a0.q.kernel.shape) == (16, 8)
    assert tuple(a0.o.kernel.shape) == (8, 16)
    assert tuple(p.get_layer("ffn1a").kernel.shape) == (16, 29)
    c = models.model_info(p)["config"]
    assert c["heads"] == [1, 2] and c["ffn"] == [32, 29] and c["head_dim"] == 8
    masked = m.__class__.from_config(m.get_config())
    masked.set_weights(m.get_weights())
    k, b = masked.get_layer("attn0").o.get_weights()
    k[0:8] = 0  # head 0 of layer 0
    masked.get_layer("attn0").o.set_weights([k, b])
    k, b = masked.get_layer("ffn1b").get_weights()
    k[[3, 17, 30]] = 0
    masked.get_layer("ffn1b").set_weights([k, b])
    x = sp.x["test"][:16]
    np.testing.assert_allclose(training.predict(p, x), training.predict(masked, x), atol=2e-5)
    assert models.count_macs(c) < models.count_macs(models.model_info(m)["config"])


def test_plans(setup):
    from microformer import models
    from microformer.compress import prune
    from microformer.errors import MicroformerError

    m, sp, imp = setup
    kh, ku = prune.plan(m, imp, heads=1)
    assert [k.tolist() for k in kh] == [[int(np.argmax(v))] for v in imp["heads"]]
    assert [len(k) for k in ku] == [32, 32]
    kh, ku = prune.plan(m, imp, heads=1, ffn_units=5)
    assert [len(k) for k in ku] == [5, 5]
    for i in range(2):  # the kept units are the 5 most important
        assert set(ku[i].tolist()) == set(np.argsort(imp["ffn"][i])[-5:].tolist())
    c = models.model_info(m)["config"]
    full = models.count_macs(c)
    kh, ku = prune.plan(m, imp, target_macs=full * 6 // 10)
    macs = prune.macs_of(c, [len(k) for k in kh], [len(k) for k in ku], 8)
    assert macs <= full * 6 // 10
    with pytest.raises(MicroformerError, match="keep between 1 and 2 per layer"):
        prune.plan(m, imp, heads=3)
    with pytest.raises(MicroformerError, match="smallest model pruning can reach"):
        prune.plan(m, imp, target_macs=1000)
    with pytest.raises(MicroformerError, match="do not combine"):
        prune.plan(m, imp, heads=1, target_macs=full // 2)


def test_pruned_model_saves_loads_and_quantizes(setup, tmp_path):
    from microformer import convert, models, tflite
    from microformer.compress import prune

    m, sp, imp = setup
    p = prune.apply(m, [np.array([0]), np.array([1])], [np.arange(0, 32, 2), np.arange(20)])
    p.save(tmp_path / "p.keras")
    q = models.load(str(tmp_path / "p.keras"))
    np.testing.assert_allclose(q.predict(sp.x["test"][:4], verbose=0),
                               p.predict(sp.x["test"][:4], verbose=0), atol=1e-6)
    g = tflite.Graph(convert.quantize(q, sp.x["train"]))
    assert {g.dtype(t) for op in g.ops for t in op["outputs"]} == {"int8"}
    fc = sorted({g.shape(op["inputs"][1]) for op in g.ops if op["op"] == "FULLY_CONNECTED"})
    assert (8, 16) in fc and (16, 8) in fc  # one head of 8 for q/k/v, o back to d_model 16
    assert (20, 16) in fc and (16, 20) in fc  # layer 1's FFN kept 20 units


@needs_engine
def test_prune_cli_heads(tmp_path, keras_model, synth_dir, capsys):
    from microformer import models

    out = tmp_path / "p.keras"
    code, stdout, err = run_cli(capsys, "prune", keras_model, synth_dir, "--out", out, "--heads", "1",
                                "--epochs", "1", "--batch", "64", "--quiet",
                                "--tflite", tmp_path / "p.tflite")
    assert code == 0, err
    assert "layer 0: heads 2 -> 1" in stdout and "layer 1: heads 2 -> 1" in stdout
    lines = stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("model "))
    for word in ("float%", "int8%", "MACs", "params", "arena B"):
        assert word in lines[head]
    rows = {l[:24].strip(): l[24:].split() for l in lines[head + 1:head + 4]}
    assert set(rows) == {"before", "pruned, not fine-tuned", "pruned, fine-tuned"}
    assert int(rows["pruned, fine-tuned"][2]) < int(rows["before"][2])  # MACs
    assert int(rows["pruned, fine-tuned"][3]) < int(rows["before"][3])  # parameters
    info = models.model_info(models.load(str(out)))
    assert info["config"]["heads"] == 1 and info["config"]["head_dim"] == 8
    assert info["pruning"]["heads_before"] == [2, 2] and len(info["pruning"]["kept_heads"]) == 2
    assert (tmp_path / "p.tflite").stat().st_size > 0


@needs_engine
def test_prune_cli_target_macs_and_ffn_units(tmp_path, keras_model, synth_dir, capsys):
    from microformer import models

    out = tmp_path / "t.keras"
    code, stdout, err = run_cli(capsys, "prune", keras_model, synth_dir, "--out", out,
                                "--target-macs", "60%", "--no-finetune", "--quiet")
    assert code == 0, err
    lines = stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("model "))
    before = int(lines[head + 1][6:].split()[2])
    after = int(lines[head + 2][6:].split()[2])
    assert after <= before * 0.6 and "above the target" not in stdout
    code, stdout, err = run_cli(capsys, "prune", keras_model, synth_dir, "--out", out,
                                "--ffn-units", "8", "--no-finetune", "--quiet")
    assert code == 0, err
    assert models.model_info(models.load(str(out)))["config"]["ffn"] == 8


@pytest.mark.parametrize("args, message", [
    ([], "say what to prune"),
    (["--heads", "1", "--target-macs", "100"], "do not combine"),
    (["--heads", "4"], "keep between 1 and 2 per layer"),
    (["--target-macs", "150%"], "percentage must be in (0, 100)"),
])
def test_prune_errors(tmp_path, keras_model, synth_dir, capsys, args, message):
    code, out, err = run_cli(capsys, "prune", keras_model, synth_dir, "--out", tmp_path / "p.keras",
                             "--no-finetune", "--quiet", *args)
    assert code != 0
    assert message in err
