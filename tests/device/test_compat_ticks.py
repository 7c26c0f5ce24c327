"""compat: MicroPython tick semantics everywhere, zero arrays, heap and Ctrl-C access."""
import devtest
from uformer import compat


def test_ticks_wrap_like_micropython():
    # The period is the port's (2**30 on boards, 2**62 on the 64-bit unix port) or compat's
    # (2**30 from monotonic_ns, 2**29 from CircuitPython's supervisor.ticks_ms):
    # ticks_add(0, -1) is the largest tick value.
    top = compat.ticks_add(0, -1)
    if compat.PERIOD is not None:
        assert top == compat.PERIOD - 1
    assert compat.ticks_add(top, 1) == 0
    assert compat.ticks_add(5, -10) == top - 4
    assert compat.ticks_diff(0, top) == 1
    assert compat.ticks_diff(top, 0) == -1
    assert compat.ticks_diff(compat.ticks_add(123, 1000), 123) == 1000
    a = compat.ticks_ms()
    compat.sleep_ms(20)
    assert 15 <= compat.ticks_diff(compat.ticks_ms(), a) < 5000
    assert 0 <= compat.ticks_us() <= top


def test_zeros_and_heap_and_kbd():
    a = compat.zeros("f", 5)
    assert len(a) == 5 and list(a) == [0.0] * 5
    b = compat.zeros("b", 3)
    b[0] = -128
    assert list(b) == [-128, 0, 0]
    if compat.MICROPYTHON:  # the MicroPython family: MicroPython and CircuitPython
        assert compat.heap_free() > 0 and compat.heap_alloc() > 0
        assert compat.kbd_intr(3) is True  # the real micropython.kbd_intr
    else:
        assert compat.heap_free() == -1
        assert compat.kbd_intr(-1) is False
    assert compat.IMPL == devtest.IMPL
