"""Time, memory, serial and I2C access for MicroPython, CircuitPython and CPython.

Everything in uformer that differs between the three runtimes goes through this module, so
porting to another runtime means editing this file only.

Ticks follow MicroPython's `time.ticks_*` semantics everywhere: values wrap at 2**30 and
must be compared with `ticks_diff` (the CPython and CircuitPython versions wrap at the same
period on purpose, so wrap-around bugs show up in the simulator too).
"""
import gc
import sys

try:
    from micropython import const
except ImportError:  # CPython and CircuitPython builds without micropython.const

    def const(x):
        return x


IMPL = sys.implementation.name  # "micropython", "circuitpython" or "cpython"
MICROPYTHON = IMPL == "micropython"

try:
    from time import ticks_ms, ticks_us, ticks_diff, ticks_add, sleep_ms
except ImportError:  # CPython, CircuitPython: ticks derived from the monotonic clock
    import time as _time

    _PERIOD = const(1 << 30)  # MicroPython's TICKS_PERIOD
    _MASK = const((1 << 30) - 1)
    _HALF = const(1 << 29)
    _ns = _time.monotonic_ns

    def ticks_ms():
        return (_ns() // 1000000) & _MASK

    def ticks_us():
        return (_ns() // 1000) & _MASK

    def ticks_add(t, delta):
        return (t + delta) & _MASK

    def ticks_diff(a, b):
        # Signed distance a - b in (-2**29, 2**29], like MicroPython's ticks_diff.
        return ((a - b + _HALF) & _MASK) - _HALF

    def sleep_ms(ms):
        if ms > 0:
            _time.sleep(ms / 1000)


try:
    import micropython as _mp
except ImportError:
    _mp = None

# Ctrl-C is raised by the runtime when byte 3 arrives on the REPL stream; only MicroPython
# lets a program turn that off (micropython.kbd_intr). On CPython a piped stdin never turns
# byte 3 into an interrupt (SIGINT comes from the terminal), so there is nothing to switch.
KBD_INTR_SUPPORTED = _mp is not None and hasattr(_mp, "kbd_intr")


def kbd_intr(ch):
    """Set the interrupt character (3 = Ctrl-C, -1 = none). Returns True if the runtime has one."""
    if KBD_INTR_SUPPORTED:
        _mp.kbd_intr(ch)
        return True
    return False


def heap_free():
    """Free GC heap bytes, or -1 where the runtime has no fixed heap (CPython)."""
    f = getattr(gc, "mem_free", None)
    return f() if f is not None else -1


def heap_alloc():
    """Allocated GC heap bytes, or -1 on CPython."""
    f = getattr(gc, "mem_alloc", None)
    return f() if f is not None else -1


try:
    from machine import idle as _idle
except ImportError:
    _idle = None


def idle():
    """Wait for the next interrupt where the port can (saves power in the runner's slack)."""
    if _idle is not None:
        _idle()


_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 4, "L": 4, "f": 4, "d": 8}


def zeros(typecode, n):
    """array(typecode) of n zeros, allocated once (no temporary list on MicroPython)."""
    from array import array

    if MICROPYTHON:
        # MicroPython copies a bytes initializer raw; CPython refuses bytes for most codes.
        return array(typecode, bytes(n * _SIZES[typecode]))
    return array(typecode, [0]) * n


def serial_streams():
    """(input, output) binary streams of the console link the live protocol runs over.

    CPython gets the raw FileIO under stdin so that select.poll and reads agree (a
    BufferedReader would hide bytes it already pulled from the pipe).
    """
    inp = getattr(sys.stdin, "buffer", sys.stdin)
    if not MICROPYTHON:
        inp = getattr(inp, "raw", inp)
    out = getattr(sys.stdout, "buffer", sys.stdout)
    return inp, out


# Whether readinto() on the console returns what is available instead of waiting until the
# buffer is full: true for CPython's raw FileIO (one read(2) call). MicroPython's stream
# readinto loops until the buffer is full on every port, so there the live receiver reads
# one byte per select.poll() that says one is there.
PARTIAL_READS = not MICROPYTHON


class I2CDevice:
    """Register access to one I2C device on machine.I2C/SoftI2C or CircuitPython busio.I2C.

    Buffers are the caller's (preallocated), so reads allocate nothing on MicroPython.
    """

    def __init__(self, i2c, addr):
        self.i2c = i2c
        self.addr = addr
        self._mp = hasattr(i2c, "readfrom_mem_into")
        self._reg = bytearray(1)

    def read_into(self, reg, buf):
        if self._mp:
            self.i2c.readfrom_mem_into(self.addr, reg, buf)
            return
        self._reg[0] = reg
        self._lock()
        try:
            self.i2c.writeto_then_readfrom(self.addr, self._reg, buf)
        finally:
            self.i2c.unlock()

    def write(self, reg, data):
        if self._mp:
            self.i2c.writeto_mem(self.addr, reg, data)
            return
        self._lock()
        try:
            self.i2c.writeto(self.addr, bytes((reg,)) + bytes(data))
        finally:
            self.i2c.unlock()

    def _lock(self):
        # busio.I2C is shared between drivers; try_lock spins only while another holds it.
        n = 0
        while not self.i2c.try_lock():
            n += 1
            if n > 100000:
                raise OSError("I2C bus stayed locked by another driver")
