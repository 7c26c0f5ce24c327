"""The `_uformer` API contract (docs/architecture.md, "Contracts") and the engine's error reporting."""
import numpy as np
import pytest

import _uformer
from microformer.firmware import opsconfig
from tflbuild import Graph

# Every op of the engine's op list (cmodule/engine/mf_ops.def): the full build has them all.
REQUIRED_OPS = set(opsconfig.engine_ops())


def passthrough(meta=None):
    g = Graph()
    x = g.input((1, 4), "int8", scale=0.5, zp=1)
    g.outputs.append(x)
    if meta is not None:
        g.add_metadata("microformer", meta)
    return g.build()


def reshape_chain():
    """input -> RESHAPE -> RESHAPE -> output: both outputs alias the input's bytes."""
    g = Graph()
    x = g.input((1, 2, 3), "int8", scale=0.1, zp=0)
    y = g.tensor((1, 6), "int8", scale=0.1, zp=0)
    z = g.output((6,), "int8", scale=0.1, zp=0)
    g.op("RESHAPE", [x, g.const(np.array([1, 6], np.int32))], [y])
    g.op("RESHAPE", [y, g.const(np.array([6], np.int32))], [z])
    return g.build()


def test_api_module_attributes():
    assert isinstance(_uformer.version, str) and _uformer.version
    assert REQUIRED_OPS <= set(_uformer.OPS)


def test_api_model_info_and_views():
    m = _uformer.Model(passthrough())
    assert (m.num_inputs, m.num_outputs) == (1, 1)
    assert m.input_info(0) == ((1, 4), "b", 0.5, 1)
    assert m.output_info(0) == ((1, 4), "b", 0.5, 1)
    mv = m.input(0)
    assert mv.format == "b" and len(mv) == 4 and not mv.readonly
    mv[0] = -7
    m.invoke()
    out = m.output(0)
    assert out.readonly and out[0] == -7
    with pytest.raises(IndexError, match="input 1 out of range"):
        m.input(1)
    with pytest.raises(IndexError):
        m.output_info(-1)


def test_api_views_keep_the_model_alive():
    m = _uformer.Model(passthrough())
    mv = m.input(0)
    del m
    mv[1] = 3  # would be a use-after-free if the view did not own the model
    assert mv[1] == 3


def test_api_accepts_any_buffer():
    data = passthrough()
    for buf in (data, bytearray(data), memoryview(data)):
        assert _uformer.Model(buf).num_inputs == 1
    with pytest.raises(TypeError):
        _uformer.Model("not bytes")


@pytest.mark.parametrize("name", ["mlp", "cnn", "hybrid", "tf_l1_h1_d16_s16"])
def test_api_every_smaller_arena_is_a_memory_error(name):
    """Any arena below the model's need is refused with MemoryError, whatever table it runs
    out in: a front table that did not fit once overlapped the back tables instead (an
    unsigned wrap), which zeroed the tensor views and surfaced as a bogus model error."""
    import zoo

    data = zoo.get(name)
    need = _uformer.arena_size(data)
    for n in range(1, need):
        with pytest.raises(MemoryError):
            _uformer.Model(data, arena_size=n)
    assert _uformer.Model(data, arena_size=need).arena_size == need


def test_api_arena_size_is_exact():
    data = reshape_chain()
    need = _uformer.arena_size(data)
    m = _uformer.Model(data, arena_size=need)
    assert m.arena_size == need == _uformer.Model(data).arena_size
    with pytest.raises(MemoryError, match=f"need {need} bytes, have {need - 1}"):
        _uformer.Model(data, arena_size=need - 1)
    with pytest.raises(MemoryError, match=f"need {need} bytes, have 16"):
        _uformer.Model(data, arena_size=16)


def test_api_reshape_aliases_its_input():
    m = _uformer.Model(reshape_chain())
    x = np.frombuffer(m.input(0), np.int8)
    x[:] = np.arange(6)
    # The output shares the input's bytes: visible even before invoke, and no copy runs.
    assert list(m.output(0)) == list(range(6))
    m.invoke()
    assert list(m.output(0)) == list(range(6))


def test_api_metadata():
    m = _uformer.Model(passthrough(b'{"labels": ["a"]}'))
    assert m.metadata("microformer") == b'{"labels": ["a"]}'
    assert m.metadata("other") is None


def test_api_ops_tuple():
    assert _uformer.Model(reshape_chain()).ops == ("RESHAPE", "RESHAPE")


def test_errors_truncated_and_garbage():
    data = reshape_chain()
    for cut in (0, 7, 8, 40, len(data) // 2, len(data) - 1):
        with pytest.raises(ValueError):
            _uformer.Model(data[:cut])
    with pytest.raises(ValueError, match="TFL3"):
        _uformer.Model(b"\x10\x00\x00\x00XXXX" + bytes(64))


def test_errors_unsupported_op_names_op_version_and_node():
    g = Graph()
    x = g.input((4,), "float32")
    y = g.output((4,), "float32")
    g.op("EXP", [x], [y], version=2)
    with pytest.raises(NotImplementedError, match="unsupported op EXP v2 at node 0"):
        _uformer.Model(g.build())


def test_errors_version_too_new():
    g = Graph()
    x = g.input((1, 2, 3), "int8", scale=0.1, zp=0)
    y = g.output((1, 6), "int8", scale=0.1, zp=0)
    g.op("RESHAPE", [x, g.const(np.array([1, 6], np.int32))], [y], version=99)
    with pytest.raises(NotImplementedError, match="RESHAPE v99 at node 0"):
        _uformer.Model(g.build())


def test_errors_buffer_index_out_of_range():
    g = Graph()
    x = g.input((1, 4), "int8", scale=0.5, zp=1)
    w = g.const(np.zeros(4, np.int8), scale=0.5, zp=0)
    g.outputs.append(x)
    g.tensors[w].buffer = 9
    with pytest.raises(ValueError, match="tensor 1: buffer 9 out of range"):
        _uformer.Model(g.build())


def test_errors_tensor_index_out_of_range():
    g = Graph()
    x = g.input((1, 2, 3), "int8", scale=0.1, zp=0)
    y = g.output((1, 6), "int8", scale=0.1, zp=0)
    g.op("RESHAPE", [x, 77], [y])
    with pytest.raises(ValueError, match="tensor index 77 out of range"):
        _uformer.Model(g.build())


def test_errors_read_before_write():
    g = Graph()
    x = g.input((1, 6), "int8", scale=0.1, zp=0)
    t = g.tensor((6,), "int8", scale=0.1, zp=0)
    y = g.output((6,), "int8", scale=0.1, zp=0)
    g.op("RESHAPE", [t, g.const(np.array([6], np.int32))], [y])
    g.op("RESHAPE", [x, g.const(np.array([6], np.int32))], [t])
    with pytest.raises(ValueError, match="reads tensor 1 before any node writes it"):
        _uformer.Model(g.build())


def test_errors_dynamic_shape_refused():
    g = Graph()
    x = g.input((1, 4), "int8", scale=0.5, zp=1)
    g.outputs.append(x)
    g.tensors[x].shape = np.array([1, -1], np.int32)
    with pytest.raises(NotImplementedError, match="dim 1 is -1"):
        _uformer.Model(g.build())


def test_errors_unsupported_type():
    g = Graph()
    x = g.input((1, 4), "int8", scale=0.5, zp=1)
    g.outputs.append(x)
    g.tensors[x].type = 1  # FLOAT16
    with pytest.raises(NotImplementedError, match="float16"):
        _uformer.Model(g.build())
