"""uformer.Model.profile: one entry per node named like the engine's ops, the clock's unit,
and the same outputs as invoke for the same window (under CPython and the unix MicroPython
built with _uformer). Structure only: the tick values are never compared with a bound.
The fused-attention case runs in tests/engine/test_engine_profile.py and, on the emulated
board, tests/host/test_bench_profile.py."""
import devtest
from devtest import needs_engine


def window(m, seed=5):
    # A small LCG so CPython and MicroPython draw the same values.
    s = seed
    out = []
    for _ in range(m.input_size):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        out.append((s % 20000) / 1000.0 - 10.0)
    return out


@needs_engine
def test_profile_entries_and_unit():
    devtest.engine()
    from uformer import Model

    for name in ("v1.tflite", "deep.tflite"):
        m = Model.load(devtest.data(name))
        unit, nodes = m.profile(window(m))
        assert unit in (("us", "cpu") if devtest.MICROPYTHON else ("ns",)), unit
        assert len(nodes) == len(m.engine.ops)
        assert tuple(op for op, _, _ in nodes) == tuple(m.engine.ops)
        for op, fused, ticks in nodes:
            assert fused == 0, (name, op, fused)  # no attention chain in these models
            assert isinstance(ticks, int) and ticks >= 0


@needs_engine
def test_profile_computes_what_invoke_does():
    devtest.engine()
    from uformer import Model

    m = Model.load(devtest.data("deep.tflite"))
    x = window(m)
    m.invoke(x)
    want = bytes(m._out)
    for seed in (1, 2):
        m.profile(window(m, seed))  # other windows in between
        m.profile(x)
        assert bytes(m._out) == want


@needs_engine
def test_profile_refuses_a_bad_window():
    devtest.engine()
    from uformer import Model

    m = Model.load(devtest.data("v1.tflite"))
    try:
        m.profile([0.0] * (m.input_size + 1))
    except ValueError as e:
        assert "input has %d values, the model takes %d" % (m.input_size + 1, m.input_size) in str(e)
    else:
        raise AssertionError("a window of the wrong size was accepted")
