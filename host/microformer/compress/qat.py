"""Quantization-aware training: the engine's int8 arithmetic simulated inside Keras training.

    q = qat.wrap(model, train_windows)   # a training copy with fake quantization
    ... fit q ...
    model = qat.unwrap(q)                # the float model, weights on the int8 grid

What is simulated is what the TensorFlow converter produces for the engine (convert.py):
- weights: int8 per output channel, symmetric (codes -127..127, scale max|w| / 127) for
  Dense, Conv1D and both kernels of SeparableConv1D (depthwise per depth channel);
- activations: int8 per tensor, asymmetric, at every tensor the converted graph stores as
  int8: the normalized input, each Dense/Conv output (after its fused ReLU), the residual
  ADDs, the position-embedding ADD, mean pooling, and inside attention and LayerNorm every
  MUL/ADD/BATCH_MATMUL/MEAN/RSQRT/SQUARED_DIFFERENCE output; softmax outputs on the fixed
  int8 grid TFLite uses (scale 1/256, zero point -128);
- constant operands of MUL/ADD (LayerNorm gamma/beta, the position table) per tensor.
The formulas are microformer.quant's (rounding half away from zero). Gradients pass the
rounding unchanged (straight-through estimator).

Activation ranges start at the float model's min/max over calibration windows (what the
converter's calibration sees) and then follow an exponential moving average of each
batch's min/max while training (decay EMA_DECAY per step).

The model that comes out is the ordinary float model (same layers, same config) so
`microformer quantize` and convert.quantize treat it like any other; its kernels are
snapped onto their int8 grid, so the converter's per-channel weight quantization
reproduces exactly the codes training saw. The converted model is the usual full-integer
graph with the engine's ops.
"""
import math

import numpy as np

from .. import models, quant
from .._tf import keras as _keras
from ..errors import MicroformerError

keras = _keras()
layers = keras.layers
ops = keras.ops

# Per training step; ~100 steps to follow a range change, short enough for fine-tunes of a
# few epochs, long enough that one odd batch does not move the grid much.
EMA_DECAY = 0.99
# TFLite's int8 softmax output: scale 1/256, zero point -128 (codes cover [0, 255/256]).
SOFTMAX_SCALE = 1.0 / 256.0
SOFTMAX_ZP = -128.0
CALIB_BATCH = 64


class _Mode:
    """Process-wide switch: while calibrating, fake quantization is off and the ranges take
    the float min/max of everything that passes (read when a call is traced, so
    calibration runs eagerly)."""
    calibrating = False


def _ste(x, fq):
    """Forward fq, backward identity."""
    return x + ops.stop_gradient(fq - x)


def fq_weights(w, axis=-1):
    return _ste(w, quant.fake_quantize_weights(w, axis, ops))


def fq_depthwise(w):
    """Depthwise kernels (k, in, mult) have one scale per (in, mult) pair."""
    k = ops.reshape(w, (w.shape[0], -1))
    return ops.reshape(fq_weights(k, -1), w.shape)


def fq_constant(c):
    """A constant operand of MUL/ADD: per-tensor int8 from its own min/max."""
    s, zp = quant.activation_qparams(ops.min(c), ops.max(c), ops)
    return _ste(c, quant.fake_quantize(c, s, zp, ops))


def fq_softmax(p):
    return _ste(p, quant.fake_quantize(p, SOFTMAX_SCALE, SOFTMAX_ZP, ops))


class QuantMixin:
    """Per-tensor activation ranges held as non-trainable (lo, hi) variables of a layer."""

    def _init_ranges(self, keys):
        ranges = {}
        for key in keys:
            lo = self.add_weight(shape=(), initializer="zeros", trainable=False, name=f"{key}_lo")
            hi = self.add_weight(shape=(), initializer="zeros", trainable=False, name=f"{key}_hi")
            ranges[key] = (lo, hi)
        # Plain attributes (not Keras-tracked): borrow_range rewires them after build.
        object.__setattr__(self, "_ranges", ranges)
        object.__setattr__(self, "_borrowed", set())

    def borrow_range(self, key, owner, owner_key="out"):
        """Quantize tensor `key` on `owner`'s grid (the converter gives a FULLY_CONNECTED that
        feeds an ADD the ADD's output parameters); the owner alone updates the range."""
        self._ranges[key] = owner._ranges[owner_key]
        self._borrowed.add(key)

    def fq(self, x, key, training=False):
        lo, hi = self._ranges[key]
        if key in self._borrowed:
            if _Mode.calibrating:
                return x
        elif _Mode.calibrating:
            lo.assign(ops.minimum(lo, ops.min(x)))
            hi.assign(ops.maximum(hi, ops.max(x)))
            return x
        elif training:
            lo.assign(EMA_DECAY * lo + (1.0 - EMA_DECAY) * ops.minimum(ops.min(x), 0.0))
            hi.assign(EMA_DECAY * hi + (1.0 - EMA_DECAY) * ops.maximum(ops.max(x), 0.0))
        s, zp = quant.activation_qparams(lo, hi, ops)
        return _ste(x, quant.fake_quantize(x, s, zp, ops))

    def ranges(self):
        """{key: (lo, hi)} as floats, for reports and tests."""
        return {k: (float(lo.numpy()), float(hi.numpy())) for k, (lo, hi) in self._ranges.items()}


@keras.saving.register_keras_serializable(package="microformer_qat")
class FakeQuant(QuantMixin, layers.Layer):
    """Per-tensor int8 fake quantization of the tensor a (non-QAT) layer wrote."""

    def build(self, input_shape):
        self._init_ranges(("out",))

    def call(self, x, training=False):
        return self.fq(x, "out", training)


@keras.saving.register_keras_serializable(package="microformer_qat")
class SoftmaxQuant(layers.Layer):
    """The int8 softmax output grid (fixed, not learned)."""

    def call(self, x):
        return x if _Mode.calibrating else fq_softmax(x)


@keras.saving.register_keras_serializable(package="microformer_qat")
class QDense(QuantMixin, layers.Dense):
    """Dense with its kernel on the per-channel int8 grid.

    fold_ln: the QLayerNorm in front, when the converter folds that LayerNorm's gamma/beta
    into this layer (kernel diag(gamma) @ W, bias beta @ W + b): then the folded kernel is
    what gets quantized, as on the device. quantize_output False: the output is not an int8
    tensor of its own on the device (attention's q, whose 1/sqrt(dh) scale is folded in).
    """
    fold_ln = None
    quantize_output = True

    def build(self, input_shape):
        super().build(input_shape)
        self._init_ranges(("out",))

    def folded(self):
        """(kernel, bias) as the converted graph holds them, before quantization."""
        k, b = self.kernel, self.bias if self.use_bias else None
        ln = self.fold_ln
        if ln is not None:
            b2 = ops.matmul(ops.expand_dims(ln.beta, 0), k)[0]
            b = b2 if b is None else b + b2
            k = ops.expand_dims(ln.gamma, -1) * k
        return k, b

    def call(self, x, training=False):
        k, b = self.folded()
        if not _Mode.calibrating:
            k = fq_weights(k)
        y = ops.matmul(x, k)
        if b is not None:
            y = y + b
        if self.activation is not None:
            y = self.activation(y)
        return self.fq(y, "out", training) if self.quantize_output else y


@keras.saving.register_keras_serializable(package="microformer_qat")
class QConv1D(QuantMixin, layers.Conv1D):
    def build(self, input_shape):
        super().build(input_shape)
        self._init_ranges(("out",))

    def call(self, x, training=False):
        k = self.kernel if _Mode.calibrating else fq_weights(self.kernel)
        y = self.convolution_op(x, k)
        if self.use_bias:
            y = y + self.bias
        if self.activation is not None:
            y = self.activation(y)
        return self.fq(y, "out", training)


@keras.saving.register_keras_serializable(package="microformer_qat")
class QSeparableConv1D(QuantMixin, layers.SeparableConv1D):
    """DEPTHWISE_CONV_2D then CONV_2D on the device; the tensor between them is int8 too."""

    def build(self, input_shape):
        super().build(input_shape)
        self._init_ranges(("dw", "out"))

    def call(self, x, training=False):
        dk, pk = self.depthwise_kernel, self.pointwise_kernel
        if not _Mode.calibrating:
            dk, pk = fq_depthwise(dk), fq_weights(pk)
        h = ops.depthwise_conv(x, dk, strides=self.strides, padding=self.padding,
                               dilation_rate=self.dilation_rate, data_format=self.data_format)
        h = self.fq(h, "dw", training)
        y = ops.conv(h, pk, strides=1, padding="valid", data_format=self.data_format)
        if self.use_bias:
            y = y + self.bias
        if self.activation is not None:
            y = self.activation(y)
        return self.fq(y, "out", training)


def _identity(x, key, training=False):
    return x


def attention_forward(a, x, fq=_identity, training=False, probs_only=False):
    """models.Attention's computation with an activation hook `fq(tensor, key, training)`
    at every int8 tensor. With the identity hook it is models.Attention.call exactly (a test
    checks it); probs_only returns the attention distribution (b, heads, L, L) instead.
    Linear attention's distribution is softmax_f(q) @ softmax_L(k)^T, whose rows sum to 1.
    """
    softmax_q = _identity if fq is _identity or _Mode.calibrating else (lambda t, *_: fq_softmax(t))
    q = a._heads(a.q(x, training=training), (0, 2, 1, 3))  # (b, h, L, dh)
    kt = a._heads(a.k(x, training=training), (0, 2, 3, 1))  # (b, h, dh, L)
    if a.kind == "linear":
        q = softmax_q(ops.softmax(q, axis=-1), "q_softmax")
        kt = softmax_q(ops.softmax(kt, axis=-1), "k_softmax")
        if probs_only:
            return ops.matmul(q, kt)
        v = a._heads(a.v(x, training=training), (0, 2, 1, 3))
        ctx = fq(ops.matmul(kt, v), "ctx", training)
        out = fq(ops.matmul(q, ctx), "mix", training)
    else:
        scores = fq(q * (1.0 / math.sqrt(a.dh)), "q_scaled", training)
        scores = fq(ops.matmul(scores, kt), "scores", training)
        if a.kind != "full":
            scores = fq(scores * ops.convert_to_tensor(a.keep), "masked", training)
            scores = fq(scores + ops.convert_to_tensor(a.bias), "biased", training)
        p = softmax_q(ops.softmax(scores, axis=-1), "probs")
        if probs_only:
            return p
        v = a._heads(a.v(x, training=training), (0, 2, 1, 3))
        p = a.drop(p, training=training)
        out = fq(ops.matmul(p, v), "mix", training)
    out = ops.transpose(out, (0, 2, 1, 3))
    out = ops.reshape(out, (-1, a.tokens, a.heads * a.dh))
    return a.o(out, training=training)


ATTENTION_KEYS = ("q_scaled", "scores", "masked", "biased", "ctx", "mix")


@keras.saving.register_keras_serializable(package="microformer_qat")
class QAttention(QuantMixin, models.Attention):
    def build(self, input_shape):
        self.tokens, d = int(input_shape[1]), int(input_shape[2])
        self.dh = getattr(self, "head_dim", None) or d // self.heads
        width = self.heads * self.dh
        self.q = QDense(width, name="q")
        self.k = QDense(width, name="k")
        self.v = QDense(width, name="v")
        self.o = QDense(d, name="o")
        for lyr in (self.q, self.k, self.v):
            lyr.build(input_shape)
        self.o.build(tuple(input_shape[:-1]) + (width,))
        self.drop = layers.Dropout(self.dropout)
        if self.kind in ("local", "causal"):
            keep = models.band_mask(self.tokens, self.kind, self.window)
            self.keep = keep[None, None]
            self.bias = ((keep - 1.0) * models.MASK_LOGIT)[None, None]
        self._init_ranges(ATTENTION_KEYS)

    def call(self, x, training=False):
        return attention_forward(self, x, self.fq, training)


@keras.saving.register_keras_serializable(package="microformer_qat")
class QLayerNorm(QuantMixin, models.LayerNorm):
    """models.LayerNorm op by op (MEAN, SUB, SQUARED_DIFFERENCE, MEAN, ADD, RSQRT, MUL, MUL,
    ADD), each output on its int8 grid. With `fold` set (every consumer is a Dense or an
    attention layer) the converter folds MUL gamma / ADD beta into the consumers' kernels,
    so the output is the normalized tensor and the consumers apply gamma/beta."""
    fold = False

    def build(self, input_shape):
        super().build(input_shape)
        self._init_ranges(("mean", "centered", "sq", "var", "var_eps", "inv", "norm", "scaled",
                           "out"))

    def call(self, x, training=False):
        fq = self.fq
        mean = fq(ops.mean(x, axis=-1, keepdims=True), "mean", training)
        centered = fq(x - mean, "centered", training)
        sq = fq(models.tf.math.squared_difference(x, mean), "sq", training)
        var = fq(ops.mean(sq, axis=-1, keepdims=True), "var", training)
        # var + eps can round to code 0 (a constant token); the engine's RSQRT then saturates
        # at the top of its output range, which the clamp below plus fq reproduces without
        # an inf (0 * inf would be NaN in centered * inv).
        var_eps = ops.maximum(fq(var + self.epsilon, "var_eps", training), self.epsilon)
        inv = fq(ops.rsqrt(var_eps), "inv", training)
        y = fq(centered * inv, "norm", training)
        if self.fold:
            return y  # gamma/beta live in the consumers' kernels (QDense.fold_ln)
        gamma, beta = self.gamma, self.beta
        if not _Mode.calibrating:
            gamma, beta = fq_constant(gamma), fq_constant(beta)
        y = fq(y * gamma, "scaled", training)
        return fq(y + beta, "out", training)


@keras.saving.register_keras_serializable(package="microformer_qat")
class QPositionEmbedding(QuantMixin, models.PositionEmbedding):
    def build(self, input_shape):
        super().build(input_shape)
        self._init_ranges(("out",))

    def call(self, x, training=False):
        t = self.table if _Mode.calibrating else fq_constant(self.table)
        return self.fq(x + ops.expand_dims(t, 0), "out", training)


# Layers replaced by a QAT twin (same config, same weights plus ranges).
_TWINS = (
    (models.Attention, QAttention),
    (models.LayerNorm, QLayerNorm),
    (models.PositionEmbedding, QPositionEmbedding),
    (layers.SeparableConv1D, QSeparableConv1D),
    (layers.Conv1D, QConv1D),
    (layers.Dense, QDense),
)
# Layers whose output tensor is a requantized int8 tensor on the device.
_QUANTIZED_OUTPUT = (models.Standardize, layers.Add, layers.GlobalAveragePooling1D,
                     layers.LayerNormalization)
# Layers that only move, drop or select values: the device keeps the input's scale.
_PASS_THROUGH = (layers.InputLayer, layers.Reshape, layers.Cropping1D, layers.MaxPooling1D,
                 layers.Dropout)


def _clone(layer):
    for base, twin in _TWINS:
        if isinstance(layer, base) and not isinstance(layer, QuantMixin):
            return twin.from_config(layer.get_config())
    if isinstance(layer, _QUANTIZED_OUTPUT + _PASS_THROUGH + (layers.Softmax,)):
        return layer.__class__.from_config(layer.get_config())
    raise MicroformerError(
        f"quantization-aware training does not know layer {layer.name!r} "
        f"({type(layer).__name__}); it handles the layers of microformer's transformer and "
        "hybrid models")


def _call(layer, *args, **kwargs):
    out = layer(*args, **kwargs)
    if isinstance(layer, _QUANTIZED_OUTPUT):
        return FakeQuant(name=f"{layer.name}_fq")(out)
    if isinstance(layer, layers.Softmax):
        return SoftmaxQuant(name=f"{layer.name}_fq")(out)
    return out


def _consumers(layer):
    """Layers reading `layer`'s output in the functional graph, looking through Dropout
    (an identity on the device)."""
    out = []
    for node in layer._outbound_nodes:
        c = node.operation
        out.extend(_consumers(c) if isinstance(c, layers.Dropout) else [c])
    return out


def _wire(q):
    """Mirror the converter's fusions in the QAT copy (see QDense, QLayerNorm):
    LayerNorm gamma/beta folded into the Dense layers reading it, attention's 1/sqrt(dh)
    folded into q, and a Dense feeding an ADD quantized on the ADD's output grid."""
    for lyr in q.layers:
        if isinstance(lyr, QAttention) and lyr.kind != "linear":
            object.__setattr__(lyr.q, "quantize_output", False)
        if isinstance(lyr, QLayerNorm):
            cons = _consumers(lyr)
            if cons and all(isinstance(c, (QDense, QAttention)) for c in cons):
                object.__setattr__(lyr, "fold", True)
                for c in cons:
                    for d in ((c.q, c.k, c.v) if isinstance(c, QAttention) else (c,)):
                        # Not Keras-tracked: the LayerNorm is not a sublayer of the Dense.
                        object.__setattr__(d, "fold_ln", lyr)
        producer = lyr.o if isinstance(lyr, QAttention) else lyr if isinstance(lyr, QDense) else None
        cons = _consumers(lyr) if producer is not None else []
        if len(cons) == 1:
            owner = cons[0]
            if isinstance(owner, layers.Add):
                after = _consumers(owner)
                owner = after[0] if len(after) == 1 and isinstance(after[0], FakeQuant) else None
            if isinstance(owner, (FakeQuant, QPositionEmbedding)):
                producer.borrow_range("out", owner)


def _var_map(model):
    return {v.path: v for v in model.weights}


def wrap(model, calib_windows, n_calib=256, seed=0):
    """A QAT copy of `model` (float weights copied, ranges calibrated on raw windows).

    calib_windows: raw (not normalized) windows (n, window, channels), e.g. training
    windows; up to n_calib of them are used.
    """
    if getattr(model, "_mf_float", None) is not None:
        raise MicroformerError(f"model {model.name!r} is already a quantization-aware copy")
    q = keras.models.clone_model(model, clone_function=_clone, call_function=_call)
    src = _var_map(model)
    dst = _var_map(q)
    missing = [p for p in src if p not in dst]
    if missing:
        raise MicroformerError(f"QAT copy lacks variables {missing[:5]} of the float model")
    for p, v in src.items():
        dst[p].assign(v)
    # Not Keras-tracked: the float model's variables must not become the copy's.
    object.__setattr__(q, "_mf_float", model)
    _wire(q)
    calibrate(q, calib_windows, n_calib, seed)
    return q


def quant_layers(qmodel):
    """Every layer holding activation ranges (including attention's inner Dense layers)."""
    out = []
    for lyr in qmodel.layers:
        if isinstance(lyr, QuantMixin):
            out.append(lyr)
        if isinstance(lyr, QAttention):
            out.extend([lyr.q, lyr.k, lyr.v, lyr.o])
    return out


def calibrate(qmodel, windows, n_calib=256, seed=0):
    """Set every range to the float min/max over the windows (converter calibration)."""
    x = np.asarray(windows, np.float32)
    if x.ndim != 3 or len(x) == 0:
        raise MicroformerError(f"calibration needs raw windows (n, window, channels), got {x.shape}")
    if len(x) > n_calib:
        rng = np.random.default_rng(seed)
        x = x[np.sort(rng.choice(len(x), n_calib, replace=False))]
    for lyr in quant_layers(qmodel):
        for lo, hi in lyr._ranges.values():
            lo.assign(0.0)
            hi.assign(0.0)
    _Mode.calibrating = True
    try:
        for i in range(0, len(x), CALIB_BATCH):
            qmodel(x[i:i + CALIB_BATCH], training=False)
    finally:
        _Mode.calibrating = False


def _snap(qmodel, model):
    """Put the float model's kernels on the int8 grid the QAT copy trained with, so the
    converter's per-channel quantization gives exactly those codes. A kernel the converter
    folds gamma into is snapped as fq(diag(gamma) W) / gamma. Returns how many kernels."""
    dst = _var_map(model)
    n = 0
    for lyr in quant_layers(qmodel):
        if isinstance(lyr, QSeparableConv1D):
            w = lyr.depthwise_kernel.numpy()
            flat = quant.fake_quantize_weights(w.reshape(w.shape[0], -1), -1)
            dst[lyr.depthwise_kernel.path].assign(flat.reshape(w.shape))
            dst[lyr.pointwise_kernel.path].assign(
                quant.fake_quantize_weights(lyr.pointwise_kernel.numpy(), -1))
            n += 2
        elif isinstance(lyr, (QDense, QConv1D)):
            k = lyr.kernel.numpy()
            ln = getattr(lyr, "fold_ln", None)
            if ln is None:
                k = quant.fake_quantize_weights(k, -1)
            else:
                g = ln.gamma.numpy()[:, None]
                kq = quant.fake_quantize_weights(g * k, -1)
                k = np.where(g != 0, kq / np.where(g != 0, g, 1.0), k)
            dst[lyr.kernel.path].assign(k.astype(np.float32))
            n += 1
    return n


def unwrap(qmodel, snap=True):
    """The float model `wrap` was given, holding the QAT copy's trained weights.

    The `standardize` metadata gains training["qat"] so the model says how it was trained.
    """
    model = getattr(qmodel, "_mf_float", None)
    if model is None:
        raise MicroformerError(f"model {qmodel.name!r} is not a quantization-aware copy")
    src = _var_map(qmodel)
    for p, v in _var_map(model).items():
        v.assign(src[p])
    if snap:
        _snap(qmodel, model)
    st = model.get_layer("standardize")
    training = dict(st.info.get("training") or {})
    training["qat"] = {"weights": "int8 per-channel symmetric", "activations": "int8 per-tensor",
                       "ema_decay": EMA_DECAY}
    st.info = dict(st.info, training=training)
    return model


__all__ = ["wrap", "unwrap", "calibrate", "attention_forward", "quant_layers",
           "QDense", "QAttention", "QLayerNorm", "FakeQuant"]
