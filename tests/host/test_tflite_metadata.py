"""The .tflite rewriting: metadata entry in the flatbuffer, alignment, extra outputs, errors."""
import json

import numpy as np
import pytest

from hostutil import needs_engine
from microformer import convert, models, tflite
from microformer.errors import ModelError

T, C = 32, 2


@pytest.fixture(scope="module")
def raw_model():
    """A converted model without our metadata (straight from the TFLite converter)."""
    import tensorflow as tf

    c = models.resolve_config({"layers": 1, "d_model": 8, "heads": 2, "ffn": 8}, T, C, 2)
    m = models.build_model(c, [0, 0], [1, 1], {"labels": ["a", "b"], "window": T, "hop": 8,
                                               "channels": ["x", "y"]})
    dev = models.build_device_model(m)
    cf = tf.function(lambda v: dev(v)).get_concrete_function(tf.TensorSpec((1, T, C), tf.float32))
    cv = tf.lite.TFLiteConverter.from_concrete_functions([cf])
    cv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    cv.representative_dataset = lambda: ([rng.normal(size=(1, T, C)).astype(np.float32)] for _ in range(8))
    cv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    cv.inference_input_type = cv.inference_output_type = tf.int8
    return cv.convert()


def test_set_get_metadata_roundtrip_keeps_the_model(raw_model):
    assert tflite.get_metadata(raw_model) is None
    doc = {"labels": ["a", "b"], "window": T}
    b = tflite.set_metadata(raw_model, json.dumps(doc).encode())
    assert json.loads(tflite.get_metadata(b)) == doc
    g0, g1 = tflite.Graph(raw_model), tflite.Graph(b)
    assert [o["op"] for o in g0.ops] == [o["op"] for o in g1.ops]
    for t in g0.const_tensors():
        assert g0.const_bytes(t) == g1.const_bytes(t)
    # TFLite's own entries (min_runtime_version, ...) survive next to ours.
    names = {tflite._name(m.name) for m in tflite.unpack(b).metadata}
    assert "microformer" in names and len(names) >= 2


def test_set_metadata_replaces_an_existing_entry(raw_model):
    b = tflite.set_metadata(raw_model, b"one")
    b2 = tflite.set_metadata(b, b"second")
    assert tflite.get_metadata(b2) == b"second"
    assert sum(tflite._name(m.name) == "microformer" for m in tflite.unpack(b2).metadata) == 1


def test_buffers_stay_16_byte_aligned(raw_model):
    b = tflite.set_metadata(raw_model, b"x" * 7)  # odd-sized entry to shift what follows
    from microformer.tflite import schema

    m = schema().Model.GetRootAs(b, 0)
    checked = 0
    for i in range(m.BuffersLength()):
        buf = m.Buffers(i)
        if buf.DataLength():
            off = buf._tab.Vector(buf._tab.Offset(4))
            assert off % tflite.BUFFER_ALIGN == 0, f"buffer {i} at {off}"
            checked += 1
    assert checked > 3


@needs_engine
def test_engine_reads_our_metadata(raw_model):
    import _uformer

    b = tflite.set_metadata(raw_model, b'{"k": 1}')
    assert bytes(_uformer.Model(b).metadata("microformer")) == b'{"k": 1}'


def test_with_all_outputs_lists_every_op_output(raw_model):
    b, outs = tflite.with_all_outputs(raw_model)
    g0, g = tflite.Graph(raw_model), tflite.Graph(b)
    assert g.outputs[:len(g0.outputs)] == g0.outputs
    assert set(outs) == {t for op in g0.ops for t in op["outputs"]}


@pytest.mark.parametrize("data, err", [
    (b"", "not a .tflite model"), (b"0123TFL2xxxxxxxx", "expected file identifier"),
    (b"\xff\xff\xff\x7fTFL3" + b"\0" * 8, "corrupt")])
def test_bad_files(data, err):
    with pytest.raises(ModelError, match=err):
        tflite.Graph(data)


def test_read_info_requires_the_entry(raw_model):
    with pytest.raises(ModelError, match="no 'microformer' metadata"):
        tflite.read_info(raw_model)
    with pytest.raises(ModelError, match="not valid JSON"):
        tflite.read_info(tflite.set_metadata(raw_model, b"{nope"))


def test_graph_summary_counts(raw_model):
    g = tflite.Graph(raw_model)
    s = g.summary()
    fc = [op for op in g.ops if op["op"] == "FULLY_CONNECTED"]
    assert s["op_counts"]["FULLY_CONNECTED"] == len(fc)
    # MACs of a FULLY_CONNECTED: output elements x input depth.
    op = fc[0]
    assert g.macs(op) == int(np.prod(g.shape(op["outputs"][0]))) * g.shape(op["inputs"][1])[1]
    assert s["weight_bytes"] >= s["params"]  # int8 weights + int32 biases
    assert convert.ops_of(raw_model) == [o["op"] for o in g.ops]
