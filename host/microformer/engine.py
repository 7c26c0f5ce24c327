"""Batch inference on the engine (`_uformer`, the device-identical integer arithmetic).

Every "int8 on the device" number the host prints comes from here.

    from microformer import engine
    e = engine.Engine(tflite_bytes)
    probs = e.predict(raw_windows)          # normalizes with the metadata, quantizes, invokes
    report = engine.evaluate(tflite_bytes, "DATA")
"""
import numpy as np

from . import quant
from .errors import EngineUnavailable, ModelError

BUILD_HINT = ("build it with `pip install -e .` (or `python setup.py build_ext --inplace` in the "
              "repository) so the engine's CPython module `_uformer` is importable")


def uformer():
    """The `_uformer` module, or EngineUnavailable saying how to build it."""
    try:
        import _uformer
    except ImportError as e:
        raise EngineUnavailable(f"the engine is not available ({e}); {BUILD_HINT}") from None
    return _uformer


def supported_ops():
    return tuple(uformer().OPS)


def arena_size(model_bytes):
    """Exact arena bytes the engine needs for the model (a dry run of the load)."""
    u = uformer()
    try:
        return int(u.arena_size(bytes(model_bytes)))
    except (ValueError, NotImplementedError, MemoryError) as e:
        raise ModelError(f"engine refuses the model: {e}") from None


class Engine:
    """One loaded model; run() takes normalized windows, predict() raw ones."""

    def __init__(self, model_bytes):
        u = uformer()
        # The engine keeps pointers into these bytes; hold them as long as the model.
        self.model_bytes = bytes(model_bytes)
        try:
            self.m = u.Model(self.model_bytes)
        except NotImplementedError as e:
            raise ModelError(f"the engine cannot run this model: {e}") from None
        except (ValueError, MemoryError) as e:
            raise ModelError(f"engine refuses the model: {e}") from None
        if self.m.num_inputs != 1:
            raise ModelError(f"expected a model with 1 input, it has {self.m.num_inputs}")
        self.in_shape, self.in_tc, self.in_scale, self.in_zp = self.m.input_info(0)
        self.outputs = [self.m.output_info(i) for i in range(self.m.num_outputs)]
        self._info = None

    @property
    def arena_size(self):
        return int(self.m.arena_size)

    @property
    def ops(self):
        return tuple(self.m.ops)

    @property
    def info(self):
        """The `microformer` metadata (dict)."""
        if self._info is None:
            import json

            raw = self.m.metadata("microformer")
            if raw is None:
                raise ModelError(
                    "the .tflite model has no 'microformer' metadata entry; quantize it with "
                    "`microformer quantize`")
            self._info = json.loads(bytes(raw).decode("utf-8"))
        return self._info

    def write_window(self, window, mean, std):
        """One window into the input tensor by the engine's own formula (mf_write_window, the
        function the device's uformer.Model calls): float32 (x - mean) / std per channel,
        then for an int8 input round half away from zero of that / scale, plus the zero
        point, clamped. window: (window, channels) or flat float32 values; mean, std: one
        float32 per channel."""
        x = np.ascontiguousarray(window, dtype=np.float32).reshape(-1)
        mean = np.ascontiguousarray(mean, dtype=np.float32).reshape(-1)
        std = np.ascontiguousarray(std, dtype=np.float32).reshape(-1)
        try:
            self.m.set_input(0, x, mean, std)
        except ValueError as e:
            raise ModelError(f"cannot write the window into the model input: {e}") from None

    def _read_output(self, i, dequant=True):
        shape, tc, scale, zp = self.outputs[i]
        v = np.frombuffer(self.m.output(i), dtype=np.int8 if tc == "b" else np.float32)
        v = v.reshape(shape).copy()
        if dequant and tc == "b":
            return quant.dequantize(v, scale, zp)
        return v

    def run(self, x, outputs=None, dequant=True):
        """Normalized windows (n, *input shape without batch) -> output 0 for each, stacked.

        With `outputs` (a list of output indices) returns a list of stacked arrays instead.
        The windows enter through the engine's formula with mean 0 and std 1, under which
        (x - 0) / 1 is x exactly.
        """
        return self._run(x, np.zeros(1, np.float32), np.ones(1, np.float32), outputs, dequant)

    def predict(self, windows):
        """Raw windows (n, window, channels) -> class scores (n, classes), float: normalized
        and quantized by the engine with the model's metadata, as on the device."""
        norm = self.info["normalization"]
        return self._run(windows, norm["mean"], norm["std"])

    def _run(self, x, mean, std, outputs=None, dequant=True):
        x = np.asarray(x, dtype=np.float32)
        per = tuple(self.in_shape[1:])
        if x.shape[1:] != per and (x.ndim < 2 or int(np.prod(x.shape[1:])) != int(np.prod(per))):
            raise ModelError(f"windows have shape {x.shape[1:]}, the model input is {per}")
        idx = [0] if outputs is None else list(outputs)
        res = [[] for _ in idx]
        for w in x:
            self.write_window(w, mean, std)
            self.m.invoke()
            for k, i in enumerate(idx):
                res[k].append(self._read_output(i, dequant))
        stacked = [np.concatenate(r) if r else np.zeros((0,)) for r in res]
        if outputs is None:
            return stacked[0].reshape(len(x), -1)
        return stacked


def evaluate(model_bytes, data_dir, noise=0.0, drift=0.0, seed=0):
    """Accuracy report (metrics.report) of a .tflite model on every window of DATA."""
    from . import metrics

    e, _, y, p = predict_windows(model_bytes, data_dir, noise, drift, seed)
    return metrics.report(y, p, e.info["labels"])


def predict_windows(model_bytes, data_dir, noise=0.0, drift=0.0, seed=0):
    """Every window of DATA as `eval` sees it: (Engine, raw windows (n, window, ch) float32,
    labels (n,), predicted class indices (n,)). The windows are cut like the device's
    uformer.Window cuts a live stream (start 0, every hop samples)."""
    from . import data as D

    e = Engine(model_bytes)
    info = e.info
    ds = D.load(data_dir)
    D.align_channels(ds, info["channels"])
    D.align_labels(ds, info["labels"])
    x, y, _ = D.recording_windows(ds, info["window"], info["hop"], info.get("event"))
    x = perturb(x, info, noise, drift, seed)
    p = np.argmax(e.predict(x), axis=1)
    return e, x, y, p


def perturb(x, info, noise=0.0, drift=0.0, seed=0):
    """Robustness probes on raw windows, in units of each channel's training std:
    noise: Gaussian sigma; drift: a linear baseline ramp per window and channel whose end
    offset is uniform in [-drift, +drift] (sensor bias drift within a window)."""
    if not noise and not drift:
        return x
    rng = np.random.default_rng(seed)
    std = np.asarray(info["normalization"]["std"], np.float32)
    x = np.array(x, dtype=np.float32, copy=True)
    n, w, c = x.shape
    if noise:
        x += rng.normal(0, noise, size=x.shape).astype(np.float32) * std
    if drift:
        end = rng.uniform(-drift, drift, size=(n, 1, c)).astype(np.float32)
        ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        x += end * ramp * std
    return x
