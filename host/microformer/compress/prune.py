"""Structured pruning: whole attention heads and feed-forward units are removed, the layers
are rebuilt smaller (q/k/v/o and the FFN Dense layers physically lose columns/rows; nothing
is masked), and the smaller model is fine-tuned.

Importance is a first-order Taylor estimate of how much the loss changes when a structure
is removed (Michel et al. 2019 for heads, Molchanov et al. 2019 for units): put a gate
g = 1 on the structure's output; removing it sets g = 0, which changes the loss by about
|dL/dg|. Head h of layer i feeds rows h*dh..(h+1)*dh-1 of attn{i}/o's kernel and FFN unit
u feeds row u of ffn{i}b's kernel, so dL/dg is the sum of W * dL/dW over those rows. It
is computed per window (a Jacobian over the batch) and |.| is averaged over training
windows. Heads and units are scored in the same unit (loss), so --target-macs ranks them
against each other by importance per MAC saved.
"""
import numpy as np

from .. import models
from .._tf import keras as _keras, tensorflow as _tensorflow
from ..errors import MicroformerError

keras = _keras()
tf = _tensorflow()

# Windows the importance is averaged over, and per Jacobian batch (memory ~ batch * kernel).
IMPORTANCE_WINDOWS = 1024
IMPORTANCE_BATCH = 64


def layer_value(v, i):
    return int(v[i]) if isinstance(v, (list, tuple)) else int(v)


def structure(model):
    """Current sizes read from the layers: (heads per layer, ffn units per layer, head dim)."""
    c = models.model_info(model)["config"]
    heads, units, dh = [], [], None
    for i in range(c["layers"]):
        a = model.get_layer(f"attn{i}")
        heads.append(a.heads)
        dh = a.dh
        units.append(int(model.get_layer(f"ffn{i}a").units))
    return heads, units, dh


def importance(model, x, y, n_max=IMPORTANCE_WINDOWS, batch=IMPORTANCE_BATCH, seed=0):
    """Mean |dL/dgate| per head and per FFN unit: {"heads": [array per layer], "ffn": [...]}.

    x: raw windows, y: labels (training windows; no augmentation).
    """
    c = models.model_info(model)["config"]
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int32)
    if len(x) == 0:
        raise MicroformerError("no windows to score importance on")
    if len(x) > n_max:
        idx = np.sort(np.random.default_rng(seed).choice(len(x), n_max, replace=False))
        x, y = x[idx], y[idx]
    n_layers = c["layers"]
    o_kernels = [model.get_layer(f"attn{i}").o.kernel for i in range(n_layers)]
    f_kernels = [model.get_layer(f"ffn{i}b").kernel for i in range(n_layers)]
    kernels = o_kernels + f_kernels

    @tf.function(reduce_retracing=True)
    def rows(xb, yb):
        with tf.GradientTape() as tape:
            p = model(xb, training=False)
            loss = -tf.math.log(tf.gather(p, yb, batch_dims=1) + 1e-7)
        jac = tape.jacobian(loss, kernels, experimental_use_pfor=True)
        # Per window and kernel row: sum over columns of W * dL/dW = dL/d(row gate).
        return [tf.reduce_sum(j * k, axis=-1) for j, k in zip(jac, kernels)]

    sums = [np.zeros(model.get_layer(f"attn{i}").heads, np.float64) for i in range(n_layers)]
    sums += [np.zeros(int(k.shape[0]), np.float64) for k in f_kernels]
    for i in range(0, len(x), batch):
        out = rows(tf.constant(x[i:i + batch]), tf.constant(y[i:i + batch]))
        for k, r in enumerate(out):
            r = r.numpy()
            if k < n_layers:
                a = model.get_layer(f"attn{k}")
                r = r.reshape(len(r), a.heads, a.dh).sum(-1)  # rows of one head together
            sums[k] += np.abs(r).sum(0)
    sums = [s / len(x) for s in sums]
    return {"heads": sums[:n_layers], "ffn": sums[n_layers:]}


def _cfg_with(cfg, heads, units, dh):
    c = dict(cfg)
    c["heads"] = heads[0] if len(set(heads)) == 1 else list(heads)
    c["ffn"] = units[0] if len(set(units)) == 1 else list(units)
    c["head_dim"] = dh
    return c


def macs_of(cfg, heads, units, dh):
    return int(models.count_macs(_cfg_with(cfg, heads, units, dh)))


def check_keep(k, have, what):
    """k structures kept per layer must exist in every layer (have: counts per layer)."""
    if k is not None and (k < 1 or k > min(have)):
        raise MicroformerError(
            f"{what} {k}: keep between 1 and {min(have)} per layer (the model has "
            f"{', '.join(map(str, have))} per layer)")


def plan(model, imp, heads=None, ffn_units=None, target_macs=None, macs_offset=0):
    """Which heads/units each layer keeps: (keep_heads [sorted index arrays], keep_units).

    heads / ffn_units: keep that many in every layer (the most important);
    target_macs: remove the structure with the least importance per MAC saved until the
    model's MACs are at most the target (every layer keeps >= 1 head and >= 1 unit).
    macs_offset: MACs the target counts beyond models.count_macs (the converted graph's
    count includes LayerNorm multiplies etc., which pruning does not change).
    """
    cfg = models.model_info(model)["config"]
    h0, u0, dh = structure(model)
    n_layers = len(h0)
    if target_macs is not None and (heads is not None or ffn_units is not None):
        raise MicroformerError("--target-macs chooses heads and units itself; do not combine it "
                               "with --heads or --ffn-units")
    if target_macs is None and heads is None and ffn_units is None:
        raise MicroformerError("say what to prune: --heads K, --ffn-units K or --target-macs N")
    order_h = [list(np.argsort(imp["heads"][i], kind="stable")) for i in range(n_layers)]
    order_u = [list(np.argsort(imp["ffn"][i], kind="stable")) for i in range(n_layers)]
    drop_h = [[] for _ in range(n_layers)]
    drop_u = [[] for _ in range(n_layers)]
    if target_macs is None:
        for k, have, order, drop, what in ((heads, h0, order_h, drop_h, "--heads"),
                                           (ffn_units, u0, order_u, drop_u, "--ffn-units")):
            if k is None:
                continue
            check_keep(k, have, what)
            for i in range(n_layers):
                drop[i] = order[i][:have[i] - k]
    else:
        cur = {"heads": list(h0), "ffn": list(u0)}
        order = {"heads": order_h, "ffn": order_u}
        drop = {"heads": drop_h, "ffn": drop_u}

        def total(c):
            return macs_of(cfg, c["heads"], c["ffn"], dh) + macs_offset

        floor = macs_of(cfg, [1] * n_layers, [1] * n_layers, dh) + macs_offset
        start = total(cur)
        if target_macs < floor:
            raise MicroformerError(
                f"--target-macs {target_macs}: the smallest model pruning can reach (1 head and 1 "
                f"FFN unit per layer) needs {floor} MACs; the model has {start}")
        # Greedy: drop the least important head or unit per MAC saved, one at a time.
        now = start
        while now > target_macs:
            best = None
            for i in range(n_layers):
                for kind in ("heads", "ffn"):
                    if cur[kind][i] > 1:
                        fewer = list(cur[kind])
                        fewer[i] -= 1
                        saved = now - total(dict(cur, **{kind: fewer}))
                        idx = order[kind][i][len(drop[kind][i])]
                        score = imp[kind][i][idx] / max(saved, 1)
                        if best is None or score < best[0]:
                            best = (score, kind, i, idx)
            _, kind, i, idx = best
            drop[kind][i].append(idx)
            cur[kind][i] -= 1
            now = total(cur)
    keep_h = [np.array(sorted(set(range(h0[i])) - set(drop_h[i])), np.int64) for i in range(n_layers)]
    keep_u = [np.array(sorted(set(range(u0[i])) - set(drop_u[i])), np.int64) for i in range(n_layers)]
    return keep_h, keep_u


def apply(model, keep_h, keep_u):
    """A new, physically smaller model keeping the listed heads and units (weights copied)."""
    info = models.model_info(model)
    cfg = info["config"]
    h0, u0, dh = structure(model)
    heads = [len(k) for k in keep_h]
    units = [len(k) for k in keep_u]
    if min(heads) < 1 or min(units) < 1:
        raise MicroformerError("every layer must keep at least one head and one FFN unit")
    new_cfg = _cfg_with(cfg, heads, units, dh)
    norm = info.pop("normalization")
    meta = {k: v for k, v in info.items() if k != "config"}
    new = models.build_like(new_cfg, norm, meta)
    pruned = set()
    for i in range(cfg["layers"]):
        a_old, a_new = model.get_layer(f"attn{i}"), new.get_layer(f"attn{i}")
        cols = np.concatenate([np.arange(h * dh, (h + 1) * dh) for h in keep_h[i]])
        for name in ("q", "k", "v"):
            k, b = getattr(a_old, name).get_weights()
            getattr(a_new, name).set_weights([k[:, cols], b[cols]])
        k, b = a_old.o.get_weights()
        a_new.o.set_weights([k[cols, :], b])
        fa_old, fb_old = model.get_layer(f"ffn{i}a"), model.get_layer(f"ffn{i}b")
        k, b = fa_old.get_weights()
        new.get_layer(f"ffn{i}a").set_weights([k[:, keep_u[i]], b[keep_u[i]]])
        k, b = fb_old.get_weights()
        new.get_layer(f"ffn{i}b").set_weights([k[keep_u[i], :], b])
        pruned |= {f"attn{i}", f"ffn{i}a", f"ffn{i}b"}
    for lyr in new.layers:
        if lyr.weights and lyr.name not in pruned:
            lyr.set_weights(model.get_layer(lyr.name).get_weights())
    return new


def record(new, old, keep_h, keep_u, imp):
    """Store what was pruned in the new model's metadata (`pruning`)."""
    h0, u0, _ = structure(old)
    st = new.get_layer("standardize")
    prev = st.info.get("pruning")
    st.info = dict(st.info, pruning={
        "importance": "first-order Taylor |dL/dgate|, mean over training windows",
        "heads_before": h0, "ffn_before": u0,
        "kept_heads": [k.tolist() for k in keep_h],
        "head_importance": [np.round(v, 6).tolist() for v in imp["heads"]],
        "previous": prev,
    })


__all__ = ["importance", "plan", "check_keep", "apply", "record", "structure", "macs_of"]
