"""Keras 3 models that convert to full-integer int8 graphs the engine runs.

Two architectures share one encoder:
- `transformer`: the window is cut into patches of `patch` samples, each patch is projected
  to d_model by one Dense (RESHAPE + FULLY_CONNECTED), a learned positional embedding is
  added, then 1-3 pre-norm encoder layers, a final LayerNorm, mean pooling and a softmax head.
- `hybrid`: a small convolutional front end (Conv1D + max pooling, then a depthwise-separable
  Conv1D + max pooling) shortens the sequence by `patch` instead of the patch projection.

Every layer is written with ops that quantize to int8 kernels on the engine's list, so the
converted model has no float islands:
- LayerNorm computes mean, x - mean, mean of squared differences, rsqrt and the affine
  scale in that order. Keras' own LayerNormalization folds into x*inv + (beta - mean*inv),
  which the converter leaves as DEQUANTIZE -> NEG -> QUANTIZE in float.
- Attention uses separate q/k/v Dense layers (no SPLIT), RESHAPE/TRANSPOSE into heads and
  BATCH_MATMUL; local and causal windows are a constant band mask applied as
  `scores * keep + bias` (masked scores become exactly -MASK_LOGIT, see below).
- Linear attention is "efficient attention" (Shen et al. 2021): softmax over features for
  queries and over positions for keys, then K^T V first. It needs no division, which the
  engine does not have, and costs O(L * dh^2) instead of O(L^2 * dh).

The model saved to .keras takes raw sensor samples (batch, window, channels): its first layer
`Standardize` holds the per-channel mean/std fitted on training data and the training
metadata. The model converted to .tflite starts after that layer, so its int8 input is the
normalized signal (one per-tensor input scale fits all channels) and the device applies the
normalization from the metadata.
"""
import json
import math

from ._tf import keras as _keras, tensorflow as _tensorflow
from . import quant
from .errors import MicroformerError

keras = _keras()
tf = _tensorflow()
layers = keras.layers
ops = keras.ops

# Default tokens per window: the patch is window // TOKENS samples.
TOKENS = 16

# Masked attention logits are set to exactly -MASK_LOGIT. Large values (-1e9 as in float
# models) would stretch the int8 range of the score tensor so far that real scores collapse
# into a few codes; 10 keeps masked weights below exp(-10) of the row maximum whenever real
# scores stay within +-5, which pre-norm q/k with 1/sqrt(dh) scaling keep them in practice.
MASK_LOGIT = 10.0

ATTENTION_KINDS = ("full", "local", "causal", "linear")
ARCHS = ("convformer", "transformer", "hybrid")
# convformer's stem: (filters as a fraction of d_model, kernel) per Conv1D + BatchNorm + ReLU
# block; the first two halve the sequence (max pooling), the last pools down to the tokens.
# Measured on benchmarks/accuracy.py (OSULeaf int8: linear patch stem 0.71, this stem 0.91):
# small data needs local, shift-tolerant shape features before attention.
STEM = ((0.5, 7), (1.0, 5), (1.0, 3))
ACTIVATIONS = ("relu", "gelu")
LAYERNORMS = ("integer", "keras")

DEFAULT_CONFIG = {
    "arch": "convformer",
    "layers": 2,
    "d_model": 32,
    "heads": 2,
    "ffn": 64,
    "attention": "full",
    "patch": None,  # samples per token; None picks window // 16 (>= 1)
    "activation": "relu",
    "dropout": 0.1,
    "ln_epsilon": 1e-5,
    "layernorm": "integer",  # "keras": keras.layers.LayerNormalization (float island on device)
}


def parse_attention(spec):
    """'full' | 'local:W' | 'causal:W' | 'linear' -> (kind, W). W counts tokens (after patching)."""
    s = str(spec).strip().lower()
    kind, _, arg = s.partition(":")
    if kind not in ATTENTION_KINDS:
        raise MicroformerError(
            f"unknown attention {spec!r}: use full, local:W, causal:W or linear")
    if kind in ("local", "causal"):
        if not arg:
            raise MicroformerError(f"attention {spec!r} needs a window, e.g. {kind}:4")
        try:
            w = int(arg)
        except ValueError:
            raise MicroformerError(f"attention {spec!r}: window {arg!r} is not an integer") from None
        if w < 1:
            raise MicroformerError(f"attention {spec!r}: window must be >= 1, got {w}")
        return kind, w
    if arg:
        raise MicroformerError(f"attention {spec!r}: {kind} takes no window")
    return kind, 0


def resolve_config(cfg, window, channels, n_classes):
    """Fill defaults and validate a model config against the data shape; returns a new dict."""
    c = dict(DEFAULT_CONFIG)
    c.update({k: v for k, v in cfg.items() if v is not None})
    if c["arch"] not in ARCHS:
        raise MicroformerError(f"unknown arch {c['arch']!r}: use {', '.join(ARCHS)}")
    if c["layernorm"] not in LAYERNORMS:
        raise MicroformerError(f"unknown layernorm {c['layernorm']!r}: use integer or keras")
    if c["activation"] not in ACTIVATIONS:
        raise MicroformerError(f"unknown activation {c['activation']!r}: use relu or gelu")
    for k, lo, hi in (("layers", 1, 3), ("d_model", 4, 512), ("heads", 1, 16), ("ffn", 4, 2048)):
        v = c[k]
        if not isinstance(v, int) or not lo <= v <= hi:
            raise MicroformerError(f"{k.replace('_', '-')} must be an integer in [{lo}, {hi}], got {v!r}")
    if c["d_model"] % c["heads"]:
        raise MicroformerError(
            f"d-model {c['d_model']} is not divisible by heads {c['heads']}")
    if c["patch"] is None:
        c["patch"] = max(1, window // TOKENS)
    if not isinstance(c["patch"], int) or c["patch"] < 1:
        raise MicroformerError(f"patch must be a positive integer, got {c['patch']!r}")
    if c["patch"] > window:
        raise MicroformerError(f"patch {c['patch']} is longer than the window {window}")
    if not 0.0 <= float(c["dropout"]) < 1.0:
        raise MicroformerError(f"dropout must be in [0, 1), got {c['dropout']}")
    kind, w = parse_attention(c["attention"])
    c["attention"] = kind if kind in ("full", "linear") else f"{kind}:{w}"
    c["tokens"] = window // c["patch"]
    c["window"] = window
    c["channels"] = channels
    c["classes"] = n_classes
    return c


@keras.saving.register_keras_serializable(package="microformer")
class Standardize(layers.Layer):
    """(x - mean) / std per channel; carries the training metadata (`info`) with the model.

    input_range: [lo, hi] for inputs with heavy tails (data.input_range), else None. The
    device's input is int8 over that range (quantize calibrates it so), so training sees
    the standardized window clipped and quantize-dequantized to it, as the engine will get
    it: ACSF1 (appliance power, a few spikes stretch its range to 15 std) lost 3-4 points
    from float to int8 without it, at most 2 with it. No gradient flows to anything before
    this layer, so the rounding needs no straight-through estimator.
    """

    def __init__(self, mean, std, info=None, input_range=None, **kw):
        super().__init__(**kw)
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        self.info = dict(info or {})
        self.input_range = None if input_range is None else [float(v) for v in input_range]

    def call(self, x):
        mean = ops.convert_to_tensor(self.mean, dtype=x.dtype)
        inv = ops.convert_to_tensor([1.0 / s for s in self.std], dtype=x.dtype)
        y = (x - mean) * inv
        if self.input_range is not None:
            scale, zp = quant.activation_qparams(*self.input_range)
            y = quant.fake_quantize(y, float(scale), float(zp), ops)
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg.update(mean=self.mean, std=self.std, info=self.info, input_range=self.input_range)
        return cfg


@keras.saving.register_keras_serializable(package="microformer")
class PositionEmbedding(layers.Layer):
    """Adds a learned (tokens, d_model) table; one int8 ADD with a constant on the device."""

    def build(self, input_shape):
        self.table = self.add_weight(
            shape=(input_shape[1], input_shape[2]), name="table",
            initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, x):
        return x + ops.expand_dims(self.table, 0)


@keras.saving.register_keras_serializable(package="microformer")
class LayerNorm(layers.Layer):
    """LayerNorm over the last axis in an order that quantizes without a float island.

    Ops: MEAN, SUB, SQUARED_DIFFERENCE, MEAN, ADD, RSQRT, MUL, MUL, ADD.
    """

    def __init__(self, epsilon=1e-5, **kw):
        super().__init__(**kw)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        d = input_shape[-1]
        self.gamma = self.add_weight(shape=(d,), name="gamma", initializer="ones")
        self.beta = self.add_weight(shape=(d,), name="beta", initializer="zeros")

    def call(self, x):
        mean = ops.mean(x, axis=-1, keepdims=True)
        centered = x - mean
        var = ops.mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
        inv = ops.rsqrt(var + self.epsilon)
        return centered * inv * self.gamma + self.beta

    def get_config(self):
        cfg = super().get_config()
        cfg.update(epsilon=self.epsilon)
        return cfg


def band_mask(tokens, kind, window):
    """keep[i, j] = 1 where query i may attend to key j.

    local:W  -> |i - j| <= W   (W tokens on each side)
    causal:W -> 0 <= i - j <= W (itself and the W previous tokens)
    """
    import numpy as np

    i = np.arange(tokens)[:, None]
    j = np.arange(tokens)[None, :]
    if kind == "local":
        keep = np.abs(i - j) <= window
    elif kind == "causal":
        keep = (i - j >= 0) & (i - j <= window)
    else:
        keep = np.ones((tokens, tokens), dtype=bool)
    return keep.astype("float32")


@keras.saving.register_keras_serializable(package="microformer")
class Attention(layers.Layer):
    """Multi-head self-attention built from ops with int8 kernels (see module docstring)."""

    def __init__(self, heads, attention="full", dropout=0.0, head_dim=None, **kw):
        super().__init__(**kw)
        self.heads = int(heads)
        self.attention = attention
        self.kind, self.window = parse_attention(attention)
        self.dropout = float(dropout)
        # None: d_model // heads. Set when heads were pruned (compress.prune): the kept
        # heads keep their width, so q/k/v are heads * head_dim wide, not d_model.
        self.head_dim = None if head_dim is None else int(head_dim)

    def build(self, input_shape):
        self.tokens, d = int(input_shape[1]), int(input_shape[2])
        self.dh = self.head_dim or d // self.heads
        width = self.heads * self.dh
        self.q = layers.Dense(width, name="q")
        self.k = layers.Dense(width, name="k")
        self.v = layers.Dense(width, name="v")
        self.o = layers.Dense(d, name="o")
        for lyr in (self.q, self.k, self.v):
            lyr.build(input_shape)
        self.o.build(tuple(input_shape[:-1]) + (width,))
        self.drop = layers.Dropout(self.dropout)
        if self.kind in ("local", "causal"):
            keep = band_mask(self.tokens, self.kind, self.window)
            self.keep = keep[None, None]
            self.bias = ((keep - 1.0) * MASK_LOGIT)[None, None]

    def _heads(self, x, perm):
        x = ops.reshape(x, (-1, self.tokens, self.heads, self.dh))
        return ops.transpose(x, perm)

    def call(self, x, training=False):
        q = self._heads(self.q(x), (0, 2, 1, 3))  # (b, h, L, dh)
        kt = self._heads(self.k(x), (0, 2, 3, 1))  # (b, h, dh, L)
        v = self._heads(self.v(x), (0, 2, 1, 3))  # (b, h, L, dh)
        if self.kind == "linear":
            q = ops.softmax(q, axis=-1)
            kt = ops.softmax(kt, axis=-1)
            ctx = ops.matmul(kt, v)  # (b, h, dh, dh)
            out = ops.matmul(q, ctx)
        else:
            scores = ops.matmul(q * (1.0 / math.sqrt(self.dh)), kt)  # (b, h, L, L)
            if self.kind != "full":
                scores = scores * ops.convert_to_tensor(self.keep) + ops.convert_to_tensor(self.bias)
            p = ops.softmax(scores, axis=-1)
            p = self.drop(p, training=training)
            out = ops.matmul(p, v)
        out = ops.transpose(out, (0, 2, 1, 3))
        out = ops.reshape(out, (-1, self.tokens, self.heads * self.dh))
        return self.o(out)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(heads=self.heads, attention=self.attention, dropout=self.dropout,
                   head_dim=self.head_dim)
        return cfg


def _act(name):
    return {"relu": "relu", "gelu": keras.activations.gelu}[name]


def _norm(c, name):
    if c["layernorm"] == "keras":
        return layers.LayerNormalization(epsilon=c["ln_epsilon"], name=name)
    return LayerNorm(c["ln_epsilon"], name=name)


def stem_pools(p):
    """Max-pool sizes of the convformer stem's blocks for a patch of p samples (product p)."""
    p1 = 2 if p % 2 == 0 and p > 2 else 1
    p2 = 2 if (p // p1) % 2 == 0 and p // p1 > 2 else 1
    return p1, p2, p // (p1 * p2)


def _conv_stem(x, c):
    """Conv1D + BatchNorm + ReLU blocks (BatchNorm folds into the conv at conversion), max
    pooling between them down to c["tokens"] tokens of d_model features."""
    d = c["d_model"]
    for i, ((frac, k), pool) in enumerate(zip(STEM, stem_pools(c["patch"]))):
        x = layers.Conv1D(max(8, int(d * frac)), k, padding="same", use_bias=False,
                          name=f"stem{i}")(x)
        x = layers.BatchNormalization(name=f"stem{i}_bn")(x)
        x = layers.ReLU(name=f"stem{i}_relu")(x)
        if pool > 1:
            x = layers.MaxPooling1D(pool, name=f"stem{i}_pool")(x)
    return x


def _core(x, c):
    """The part of the model that runs on the device: normalized window -> class scores."""
    p, tokens = c["patch"], c["tokens"]
    crop = c["window"] - p * tokens
    if crop:
        # Drop the oldest samples so the newest always reach the model.
        x = layers.Cropping1D((crop, 0), name="crop")(x)
    d = c["d_model"]
    if c["arch"] == "transformer":
        x = layers.Reshape((tokens, p * c["channels"]), name="patchify")(x)
        x = layers.Dense(d, name="embed")(x)
    elif c["arch"] == "convformer":
        x = _conv_stem(x, c)
    else:
        p1 = 2 if p % 2 == 0 and p > 2 else p
        p2 = p // p1
        x = layers.Conv1D(max(8, d // 2), 5, padding="same", activation="relu", name="conv1")(x)
        if p1 > 1:
            x = layers.MaxPooling1D(p1, name="pool1")(x)
        x = layers.SeparableConv1D(d, 5, padding="same", activation="relu", name="conv2")(x)
        if p2 > 1:
            x = layers.MaxPooling1D(p2, name="pool2")(x)
    x = PositionEmbedding(name="pos")(x)
    drop = c["dropout"]
    for i in range(c["layers"]):
        h = _norm(c, f"ln{i}a")(x)
        h = Attention(layer_value(c["heads"], i), c["attention"], dropout=drop,
                      head_dim=c.get("head_dim"), name=f"attn{i}")(h)
        h = layers.Dropout(drop, name=f"drop{i}a")(h)
        x = layers.Add(name=f"res{i}a")([x, h])
        h = _norm(c, f"ln{i}b")(x)
        h = layers.Dense(layer_value(c["ffn"], i), activation=_act(c["activation"]),
                         name=f"ffn{i}a")(h)
        h = layers.Dense(d, name=f"ffn{i}b")(h)
        h = layers.Dropout(drop, name=f"drop{i}b")(h)
        x = layers.Add(name=f"res{i}b")([x, h])
    x = _norm(c, "ln_out")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dense(c["classes"], name="head")(x)
    return layers.Softmax(name="probs")(x)


def build_model(c, mean, std, info, batch_size=None, input_range=None):
    """Training model: raw samples (batch, window, channels) -> class probabilities.

    `c` is a config from resolve_config; `info` is the metadata stored with the model;
    `input_range` the standardized examples' [lo, hi] (see Standardize).
    """
    inp = keras.Input((c["window"], c["channels"]), batch_size=batch_size, name="samples")
    info = dict(info, config=c)
    x = Standardize(mean, std, info=json.loads(json.dumps(info)), input_range=input_range,
                    name="standardize")(inp)
    return keras.Model(inp, _core(x, c), name=f"microformer_{c['arch']}")


def build_like(c, norm, info):
    """A fresh training model of config `c` whose Standardize repeats a trained model's:
    `norm` is model_info's "normalization" (mean, std and, for heavy tails, input_range)."""
    return build_model(c, norm["mean"], norm["std"], info, input_range=norm.get("input_range"))


def build_device_model(model):
    """The trained model without `Standardize`, batch size fixed to 1, weights shared by name.

    A fixed batch keeps every shape static so the converter emits no dynamic-shape ops
    (SHAPE, PACK, ...) that the engine lacks.
    """
    c = {**DEFAULT_CONFIG, **model_info(model)["config"]}
    inp = keras.Input((c["window"], c["channels"]), batch_size=1, name="window")
    dev = keras.Model(inp, _core(inp, c), name=model.name + "_device")
    for lyr in dev.layers:
        if lyr.weights:
            lyr.set_weights(model.get_layer(lyr.name).get_weights())
    return dev


def model_info(model):
    """The metadata a trained model carries (labels, window, hop, channels, config, ...)."""
    try:
        st = model.get_layer("standardize")
    except ValueError:
        raise MicroformerError(
            f"model {model.name!r} has no 'standardize' layer: it was not trained by microformer") from None
    info = dict(st.info)
    info["normalization"] = {"mean": list(st.mean), "std": list(st.std)}
    if st.input_range is not None:
        info["normalization"]["input_range"] = list(st.input_range)
    return info


def layer_value(v, i):
    """A per-layer config entry: one value for every layer, or a list (pruned models)."""
    return int(v[i]) if isinstance(v, (list, tuple)) else int(v)


def count_macs(c):
    """Multiply-accumulates of one inference (the dense/conv/matmul work), from the config."""
    L, d = c["tokens"], c["d_model"]
    p, ch = c["patch"], c["channels"]
    if c["arch"] == "transformer":
        macs = L * p * ch * d
    elif c["arch"] == "convformer":
        n, cin, macs = L * p, ch, 0
        for (frac, k), pool in zip(STEM, stem_pools(p)):
            f = max(8, int(d * frac))
            macs += n * cin * f * k
            n, cin = n // pool, f
    else:
        f1 = max(8, d // 2)
        p1 = 2 if p % 2 == 0 and p > 2 else p
        t1 = c["window"] - (c["window"] - p * L)
        macs = t1 * ch * f1 * 5 + (t1 // p1) * (f1 * 5 + f1 * d)
    kind, _ = parse_attention(c["attention"])
    for i in range(c["layers"]):
        h = layer_value(c["heads"], i)
        dh = c.get("head_dim") or d // h
        macs += 4 * L * d * h * dh + 2 * L * d * layer_value(c["ffn"], i)
        macs += 2 * h * L * dh * dh if kind == "linear" else 2 * h * L * L * dh
    return macs + d * c["classes"]


def load(path):
    """Load a .keras model written by microformer (registers the custom layers)."""
    import os

    if not os.path.exists(path):
        raise MicroformerError(f"model {path} does not exist")
    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, KeyError, TypeError) as e:
        raise MicroformerError(f"cannot load Keras model {path}: {e}") from None
