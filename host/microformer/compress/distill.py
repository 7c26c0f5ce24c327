"""Knowledge distillation: a trained teacher trains a smaller student.

loss = (1 - alpha) * CE(labels, student)
     + alpha * T^2 * KL(softmax(teacher_logits / T) || softmax(student_logits / T))
     + attn_weight * mean over matched layers of KL(teacher attention || student attention)

The T^2 factor keeps the soft-target gradients on the scale of the hard-label ones when T
changes (Hinton et al. 2015). Attention matching compares, for each query token, the
distribution over key tokens. Teacher and student may have different head counts: with
g = gcd(teacher heads, student heads), both sides' heads are averaged in g consecutive
groups (a mean of distributions is a distribution) and group i is matched with group i;
equal counts match head by head, a 1-head student learns the teacher's head average.
The student sees exactly the teacher's input: same window, hop, channels, labels,
normalization and split.
"""
import math

from .. import models
from .._tf import keras as _keras
from ..errors import MicroformerError
from . import loop, qat

keras = _keras()
ops = keras.ops
layers = keras.layers

DEFAULTS = {"alpha": 0.5, "temperature": 4.0, "attn_weight": 1.0}
SIZE_KEYS = ("layers", "d_model", "heads", "ffn", "attention", "patch", "activation", "dropout")


def _per_layer(v, i):
    return v[i] if isinstance(v, (list, tuple)) else v


def heads_of(cfg, i):
    return int(_per_layer(cfg["heads"], i))


def student_config(teacher_info, **sizes):
    """The student's resolved config: flags given in `sizes`, else half the teacher's width
    (d_model, ffn; heads halved, at least 1) at the teacher's depth, patch and attention."""
    t = teacher_info["config"]
    h0 = max(heads_of(t, k) for k in range(t["layers"]))
    ffn0 = max(int(_per_layer(t["ffn"], k)) for k in range(t["layers"]))
    heads = sizes.get("heads") or max(1, h0 // 2)
    d = sizes.get("d_model")
    if d is None:
        d = max(4, t["d_model"] // 2)
        d = max(heads, d - d % heads)
    cfg = {
        "arch": t["arch"], "layers": sizes.get("layers") or t["layers"], "d_model": d,
        "heads": heads, "ffn": sizes.get("ffn") or max(4, ffn0 // 2),
        "attention": sizes.get("attention") or t["attention"],
        "patch": sizes.get("patch") or t["patch"],
        "activation": sizes.get("activation") or t["activation"],
        "dropout": t["dropout"] if sizes.get("dropout") is None else sizes["dropout"],
        "ln_epsilon": t.get("ln_epsilon"), "layernorm": t.get("layernorm"),
    }
    unknown = set(sizes) - set(SIZE_KEYS)
    if unknown:
        raise MicroformerError(f"unknown student option(s): {sorted(unknown)}")
    return models.resolve_config(cfg, teacher_info["window"], len(teacher_info["channels"]),
                                 len(teacher_info["labels"]))


def parse_layer_map(spec, student_layers, teacher_layers):
    """'all' (default) | 'none' | 'S:T,S:T' (student layer : teacher layer, from 0).

    'all' pairs each student layer with the teacher layer at the same relative depth,
    counted from the top (the last layers are always paired)."""
    s = (spec or "all").strip().lower()
    if s == "none":
        return []
    if s == "all":
        return [(i, round((i + 1) * teacher_layers / student_layers) - 1)
                for i in range(student_layers)]
    pairs = []
    for part in s.split(","):
        a, sep, b = part.strip().partition(":")
        try:
            i, j = int(a), int(b)
        except ValueError:
            raise MicroformerError(
                f"--attn-layers {spec!r}: expected S:T pairs like 0:1,1:3, got {part.strip()!r}") from None
        if not sep or not 0 <= i < student_layers or not 0 <= j < teacher_layers:
            raise MicroformerError(
                f"--attn-layers {spec!r}: pair {part.strip()!r} is out of range; the student has "
                f"layers 0..{student_layers - 1}, the teacher 0..{teacher_layers - 1}")
        pairs.append((i, j))
    return pairs


class AttentionProbe(layers.Layer):
    """The attention distribution (b, heads, L, L) of an attention layer, computed from that
    layer's input with its own q/k weights (shared, so gradients reach them)."""

    def __init__(self, attention, **kw):
        super().__init__(**kw)
        # A reference, not a sublayer: the weights belong to the model being trained.
        object.__setattr__(self, "attention", attention)

    def call(self, x):
        return qat.attention_forward(self.attention, x, training=False, probs_only=True)

    def compute_output_shape(self, input_shape):
        a = self.attention
        return (input_shape[0], a.heads, a.tokens, a.tokens)


def view(model, attn_layers):
    """keras.Model: input -> [logits, attention maps of the listed layer indices...]."""
    outs = [model.get_layer("head").output]
    for i in attn_layers:
        a = model.get_layer(f"attn{i}")
        outs.append(AttentionProbe(a, name=f"probe{i}")(a.input))
    return keras.Model(model.input, outs, name=model.name + "_kd_view")


def group_heads(maps, groups):
    """(b, h, L, L) -> (b, groups, L, L): means of h / groups consecutive heads."""
    b, h, lq, lk = maps.shape
    if h == groups:
        return maps
    return ops.mean(ops.reshape(maps, (-1, groups, h // groups, lq, lk)), axis=2)


def attention_kl(t_maps, s_maps):
    """Mean over batch, head groups and queries of KL(teacher row || student row)."""
    g = math.gcd(int(t_maps.shape[1]), int(s_maps.shape[1]))
    t = group_heads(t_maps, g)
    s = group_heads(s_maps, g)
    eps = 1e-7
    kl = ops.sum(t * (ops.log(t + eps) - ops.log(s + eps)), axis=-1)
    return ops.mean(kl)


def soft_kl(t_logits, s_logits, temperature):
    """T^2 * mean KL(softmax(t / T) || softmax(s / T))."""
    T = float(temperature)
    pt = ops.softmax(t_logits / T, axis=-1)
    log_ps = ops.log_softmax(s_logits / T, axis=-1)
    kl = ops.sum(pt * (ops.log(pt + 1e-9) - log_ps), axis=-1)
    return T * T * ops.mean(kl)


class DistillObjective(loop.Objective):
    parts = ("ce", "kd", "attn")

    def __init__(self, student, teacher, alpha=0.5, temperature=4.0, attn_weight=1.0,
                 layer_pairs=()):
        if not 0.0 <= alpha <= 1.0:
            raise MicroformerError(f"--alpha must be in [0, 1], got {alpha}")
        if not temperature > 0:
            raise MicroformerError(f"--temperature must be > 0, got {temperature}")
        if attn_weight < 0:
            raise MicroformerError(f"--attn-weight must be >= 0, got {attn_weight}")
        super().__init__(student)
        self.alpha, self.temperature, self.attn_weight = alpha, temperature, attn_weight
        self.pairs = list(layer_pairs) if attn_weight > 0 else []
        if self.pairs:
            lt = teacher.get_layer(f"attn{self.pairs[0][1]}")
            ls = student.get_layer(f"attn{self.pairs[0][0]}")
            if lt.tokens != ls.tokens:
                raise MicroformerError(
                    f"attention matching needs the same number of tokens: the student has "
                    f"{ls.tokens}, the teacher {lt.tokens} (patch {student_patch(student)} vs "
                    f"{student_patch(teacher)}); keep the teacher's --patch or use --attn-weight 0")
        self.student_view = view(student, [i for i, _ in self.pairs])
        self.teacher_view = view(teacher, [j for _, j in self.pairs])

    def __call__(self, x, y, w, training=True):
        t = self.teacher_view(x, training=False)
        s = self.student_view(x, training=training)
        t = t if isinstance(t, (list, tuple)) else [t]
        s = s if isinstance(s, (list, tuple)) else [s]
        t_logits = ops.stop_gradient(t[0])
        ce = loop.cross_entropy(y, s[0], w)
        kd = soft_kl(t_logits, s[0], self.temperature)
        loss = (1.0 - self.alpha) * ce + self.alpha * kd
        parts = {"ce": ce, "kd": kd}
        if self.pairs:
            att = ops.mean(ops.stack([attention_kl(ops.stop_gradient(tm), sm)
                                      for tm, sm in zip(t[1:], s[1:])]))
            loss = loss + self.attn_weight * att
            parts["attn"] = att
        return loss, parts


def student_patch(model):
    return models.model_info(model)["config"]["patch"]


def build_student(teacher, cfg, seed=0):
    """A fresh student with the teacher's Standardize (normalization) and metadata."""
    info = models.model_info(teacher)
    norm = info.pop("normalization")
    # The student's own training record replaces the teacher's (distill() writes it).
    meta = {k: v for k, v in info.items() if k not in ("config", "metrics", "training", "pruning")}
    keras.utils.set_random_seed(seed)
    return models.build_like(cfg, norm, meta)


def distill(teacher, splits, cfg, alpha=0.5, temperature=4.0, attn_weight=1.0, attn_layers="all",
            qat_mode=False, seed=0, **fit_opts):
    """Train a student of config `cfg` from `teacher` on `splits`. Returns (student, FitResult,
    layer pairs). With qat_mode the student trains quantization-aware from the start."""
    info = models.model_info(teacher)
    student = build_student(teacher, cfg, seed)
    pairs = parse_layer_map(attn_layers, cfg["layers"], info["config"]["layers"]) \
        if attn_weight > 0 else []
    trainee = qat.wrap(student, splits.x["train"], seed=seed) if qat_mode else student
    obj = DistillObjective(trainee, teacher, alpha, temperature, attn_weight, pairs)
    res = loop.fit(obj, splits, info, seed=seed, desc="distill", **fit_opts)
    if qat_mode:
        student = qat.unwrap(trainee)
    st = student.get_layer("standardize")
    tr = dict(st.info.get("training") or {})
    tr["distillation"] = {"alpha": alpha, "temperature": temperature, "attn_weight": attn_weight,
                          "attn_layers": [list(p) for p in pairs],
                          "teacher_config": info["config"]}
    tr.update({k: fit_opts[k] for k in ("epochs", "batch", "lr", "patience", "augment")
               if k in fit_opts})
    tr["seed"] = seed
    st.info = dict(st.info, training=tr)
    return student, res, pairs


__all__ = ["distill", "student_config", "parse_layer_map", "attention_kl", "soft_kl",
           "group_heads", "DistillObjective", "build_student", "view", "DEFAULTS"]
