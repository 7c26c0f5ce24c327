"""Model: metadata, normalization + quantization into the input tensor, predict/classify,
errors, the missing-engine error, and zero-copy models on ROMFS."""
import json
import sys

import devtest
from devtest import needs_engine
from uformer.window import Window


def info():
    with open(devtest.data("models.json")) as f:
        return json.load(f)


def round_away(y):
    return int(y + 0.5) if y >= 0 else -int(0.5 - y)


def expected_q(values, mean, std, scale, zp, channels):
    out = []
    for i, x in enumerate(values):
        c = i % channels
        q = round_away((x - mean[c]) / std[c] / scale) + zp
        out.append(max(-128, min(127, q)))
    return out


def samples(n, channels, seed=3):
    # A small LCG so CPython and MicroPython draw the same values.
    s = seed
    out = []
    for _ in range(n):
        row = []
        for c in range(channels):
            s = (s * 1103515245 + 12345) & 0x7FFFFFFF
            row.append((s % 20000) / 1000.0 - 10.0 + (9.8 if c == 2 else 0.0))
        out.append(tuple(row))
    return out


@needs_engine
def test_load_info_and_metadata():
    devtest.engine()
    from uformer import Model

    m = Model.load(devtest.data("v1.tflite"))
    d = info()
    i = m.info()
    assert i["labels"] == d["labels"]
    assert i["window"] == d["window"] and m.channels == d["channels"]
    assert i["channels"] == ["ax", "ay", "az"]
    assert i["ops"] == ("FULLY_CONNECTED",)
    assert i["arena"] > 0
    assert i["bytes"] == d["models"]["v1.tflite"]["size"]
    assert i["zero_copy"] is False
    assert i["input"][1] == "b" and i["output"][1] == "b"
    assert i["task"] == "classification" and i["hop"] == d["window"] // 2


@needs_engine
def test_set_input_normalizes_and_quantizes_into_the_tensor():
    devtest.engine()
    from uformer import Model

    d = info()
    m = Model.load(devtest.data("v2.tflite"))
    C = d["channels"]
    w = Window(d["window"], C, hop=1)
    rows = samples(d["window"] + 5, C)  # wraps the ring
    for r in rows:
        w.push(r)
    m.set_input(w)
    flat = []
    for r in rows[-d["window"]:]:
        flat.extend(r)
    # The ring stores float32; quantize the float32 values like the device does.
    ref = list(w.latest())
    want = expected_q(ref, d["mean"], d["std"], m.input_scale, m.input_zero_point, C)
    got = list(m._in)
    assert got == want, (got, want)
    # A flat sequence gives the same tensor as the window
    m.set_input(ref)
    assert list(m._in) == want
    # Saturation at the int8 range instead of wrapping
    m.set_input([1e30, -1e30, 0.0] * d["window"])
    assert list(m._in)[:2] == [127, -128]


@needs_engine
def test_quantization_rounds_ties_away_from_zero():
    devtest.engine()
    from uformer import Model

    m = Model.load(devtest.data("ties.tflite"))  # mean 0, std 1, scale 0.5
    zp = m.input_zero_point
    n = m.input_size
    vals = [1.25, -1.25, 0.25, -0.25, 0.75, -0.75] * (n // 6)
    m.set_input(vals)
    assert list(m._in)[:6] == [3 + zp, -3 + zp, 1 + zp, -1 + zp, 2 + zp, -2 + zp]


@needs_engine
def test_predict_and_classify_agree():
    devtest.engine()
    from uformer import Model

    d = info()
    m = Model.load(devtest.data("v3.tflite"))
    w = Window(d["window"], d["channels"])
    seen = {}
    for k in range(6):
        for r in samples(d["window"], d["channels"], seed=11 + k):
            w.push(r)
        probs = list(m.predict(w))
        raw = list(m.engine.output(0))
        assert probs == [(q - m.output_zero_point) * m.output_scale for q in raw]
        label, score = m.classify(w)
        best = probs.index(max(probs))
        assert label == d["labels"][best]
        assert devtest.approx(score, probs[best])
        seen[label] = True
    assert len(seen) >= 1


@needs_engine
def test_model_from_buffer_without_metadata_classifies_by_index():
    devtest.engine()
    from uformer import Model

    m = Model(devtest.read(devtest.data("nometa.tflite")))
    assert m.labels is None and m.window is None
    label, score = m.classify([0.5] * m.input_size)
    assert isinstance(label, int) and 0 <= label < m.output_size


@needs_engine
def test_bad_inputs_and_models_have_clear_errors():
    devtest.engine()
    from uformer import Model

    d = info()
    m = Model.load(devtest.data("v1.tflite"))
    e = devtest.raises(ValueError, m.set_input, [0.0] * 5)
    assert "5 values" in str(e) and str(m.input_size) in str(e)
    e = devtest.raises(ValueError, m.set_input, Window(16, 3))
    assert "48" in str(e) and str(m.input_size) in str(e)
    good = devtest.read(devtest.data("v1.tflite"))
    e = devtest.raises(ValueError, Model, good[:len(good) // 2])
    assert str(e)
    e = devtest.raises(NotImplementedError, Model.load, devtest.data("unsupported.tflite"))
    assert d["unsupported_op"] in str(e)


def test_missing_engine_error_names_uformer_module():
    import uformer.model as um

    saved = sys.modules.get("_uformer")
    try:
        import _uformer  # noqa: F401

        has = True
    except ImportError:
        has = False
    if has:
        if devtest.MICROPYTHON:
            devtest.skip("this MicroPython has _uformer built in")
        sys.modules["_uformer"] = None  # CPython: the next import raises ImportError
    um._native = None
    try:
        from uformer import Model

        e = devtest.raises(ImportError, Model, b"\x00" * 64)
        assert "_uformer" in str(e) and "firmware" in str(e)
    finally:
        um._native = None
        if has:
            if saved is None:
                del sys.modules["_uformer"]
            else:
                sys.modules["_uformer"] = saved
    import uformer  # importing the package itself never needs the engine

    assert uformer.Window is Window


@needs_engine
def test_rom_model_is_zero_copy():
    devtest.engine()
    if not devtest.MICROPYTHON:
        devtest.skip("ROMFS (vfs.VfsRom) is MicroPython's; CPython reads files into RAM")
    import uctypes
    import vfs
    from uformer import Model

    ref = Model.load(devtest.data("v1.tflite"))
    x = [float(i % 7) for i in range(ref.input_size)]
    img = devtest.read(devtest.data("rom.img"))  # files 16-byte aligned
    vfs.mount(vfs.VfsRom(img), "/rom")
    try:
        m = Model.load("/rom/v1.tflite")
        assert m.zero_copy and m.note is None
        start = uctypes.addressof(img)
        at = uctypes.addressof(m.buffer)
        assert start <= at < start + len(img), "model bytes are not the ROM image's"
        assert m.classify(x) == ref.classify(x)
    finally:
        vfs.umount("/rom")
    # mpremote's plain image leaves the file unaligned: it still loads, from RAM, and says why
    img = devtest.read(devtest.data("rom_odd.img"))
    vfs.mount(vfs.VfsRom(img), "/rom")
    try:
        m = Model.load("/rom/v1.tflite")
        assert not m.zero_copy and "not 16-byte aligned" in m.note
        assert m.classify(x) == ref.classify(x)
    finally:
        vfs.umount("/rom")
