"""Window: ring order, hop timing, bad samples, and allocation-free push."""
from array import array

import devtest
from uformer.window import Window


def flat(samples):
    out = []
    for s in samples:
        out.extend(s)
    return out


def test_ready_first_at_length_then_every_hop():
    w = Window(5, 2, hop=2)
    ready = [w.push((i, -i)) for i in range(15)]
    # first when 5 samples have arrived (index 4), then every 2 samples
    assert [i for i, r in enumerate(ready) if r] == [4, 6, 8, 10, 12, 14]


def test_default_hop_is_length_and_hop_longer_than_length():
    w = Window(4, 1)
    assert [i for i in range(12) if w.push((i,))] == [3, 7, 11]
    w = Window(3, 1, hop=5)
    assert [i for i in range(16) if w.push((i,))] == [2, 7, 12]


def test_latest_is_oldest_first_sample_major():
    w = Window(4, 3, hop=1)
    samples = [(i, 10 + i, 100 + i) for i in range(11)]
    for s in samples:
        w.push(s)
    got = list(w.latest())
    assert got == [float(v) for v in flat(samples[-4:])]
    out = array("f", [0.0] * 12)
    assert w.latest(out) is out and list(out) == got


def test_latest_before_full_pads_oldest_with_zeros():
    w = Window(4, 2)
    w.push((1, 2))
    w.push((3, 4))
    assert list(w.latest()) == [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(w) == 2


def test_extend_counts_windows_and_matches_push():
    a = Window(6, 2, hop=3)
    b = Window(6, 2, hop=3)
    samples = [(i * 0.5, -i * 0.25) for i in range(20)]
    n_push = sum(1 for s in samples if a.push(s))
    n_ext = b.extend(flat(samples[:7])) + b.extend(flat(samples[7:]))
    assert n_push == n_ext == 5
    assert list(a.latest()) == list(b.latest())
    e = devtest.raises(ValueError, b.extend, [1.0, 2.0, 3.0])
    assert "3 values" in str(e) and "2-channel" in str(e)


def test_array_samples_are_copied_raw():
    w = Window(3, 2)
    s = array("f", [0.0, 0.0])
    for i in range(4):
        s[0] = i + 0.5
        s[1] = -i
        w.push(s)
    assert list(w.latest()) == [1.5, -1.0, 2.5, -2.0, 3.5, -3.0]
    e = devtest.raises(ValueError, w.push, array("i", [1, 2]))
    assert "array('f')" in str(e)


def test_bad_samples_rejected_and_ring_unchanged():
    w = Window(3, 3, hop=1)
    for i in range(3):
        w.push((i, i, i))
    before = list(w.latest())
    e = devtest.raises(ValueError, w.push, (1, 2))
    assert "2 values" in str(e) and "3 channels" in str(e)
    e = devtest.raises(ValueError, w.push, (1.0, float("nan"), 2.0))
    assert "channel 1" in str(e)
    e = devtest.raises(ValueError, w.push, (1.0, 2.0, float("inf")))
    assert "channel 2" in str(e)
    e = devtest.raises(ValueError, w.push, (1.0, "x", 2.0))
    assert "channel 1" in str(e) and "not a number" in str(e)
    assert devtest.raises(ValueError, w.push, (1.0, 2.0, 1e39))  # beyond float32
    assert list(w.latest()) == before  # nothing half-written
    assert w.push((7, 8, 9))
    assert list(w.latest())[-3:] == [7.0, 8.0, 9.0]


def test_constructor_checks():
    for args in ((0, 3), (8, 0), (8, 3, 0), (8.0, 3), (8, 3, -1)):
        e = devtest.raises(ValueError, Window, *args)
        assert "positive integer" in str(e)


def _push_many(w, samples, n):
    ready = 0
    k = len(samples)
    for i in range(n):
        if w.push(samples[i % k]):
            ready += 1
    return ready


def test_push_allocates_nothing_in_steady_state():
    w = Window(50, 3, hop=25)
    samples = [(0.25 * i, -1.5 * i, 9.81) for i in range(7)] + [(1, -2, 3), (32767, -32768, 0)]
    fsample = array("f", [1.0, 2.0, 3.0])
    # Fill the ring first (the first array sample is type-checked once, which allocates),
    # so the 1000 measured pushes are steady state: a window every 25 samples.
    w.push(fsample)
    _push_many(w, samples, 49)
    if devtest.MICROPYTHON:
        import micropython

        micropython.heap_lock()
        try:
            ready = _push_many(w, samples, 1000)
            for _ in range(100):
                w.push(fsample)
        finally:
            micropython.heap_unlock()
    else:
        import tracemalloc

        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            ready = _push_many(w, samples, 1000)
            for _ in range(100):
                w.push(fsample)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert grown <= 0, "push kept %d bytes allocated" % grown
    assert ready == 40
