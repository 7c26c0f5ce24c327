"""Time, memory, serial and I2C access for MicroPython, CircuitPython and CPython.

Everything in uformer that differs between the three runtimes goes through this module, so
porting to another runtime means editing this file only.

Ticks follow MicroPython's `time.ticks_*` semantics everywhere: values wrap at PERIOD and
must be compared with `ticks_diff`. MicroPython has them built in. CPython and CircuitPython
boards with long ints derive them from `time.monotonic_ns` and wrap at 2**30 like a board
(so wrap-around bugs show up in the simulator too); CircuitPython builds without long ints
(no `time.monotonic_ns`) use `supervisor.ticks_ms`, which wraps at 2**29: there PERIOD is
2**29 and ticks_us has millisecond resolution. CircuitPython has no `machine` (idle() does
nothing) and its `micropython.const`; its filesystem (CIRCUITPY) is FAT.
"""
import gc
import sys

try:
    from micropython import const
except ImportError:  # CPython and CircuitPython builds without micropython.const

    def const(x):
        return x


IMPL = sys.implementation.name  # "micropython", "circuitpython" or "cpython"
CIRCUITPYTHON = IMPL == "circuitpython"
# The MicroPython runtime family (CircuitPython is built on it): its arrays, streams and heap.
MICROPYTHON = IMPL == "micropython" or CIRCUITPYTHON
# The filesystem uformer.storage assumes where the runtime cannot list its mounts: a CPython
# directory, a board's littlefs, CircuitPython's FAT CIRCUITPY drive.
DEFAULT_FS = "fat" if CIRCUITPYTHON else ("lfs" if MICROPYTHON else "posix")

# The wrap period of the ticks below: None where they are the port's own time.ticks_* (2**30
# on boards, 2**62 on the 64-bit unix port), else the period this module gives them.
PERIOD = None

try:
    from time import ticks_ms, ticks_us, ticks_diff, ticks_add, sleep_ms
except ImportError:  # CPython, CircuitPython: ticks derived from its clocks
    import time as _time

    _ns = getattr(_time, "monotonic_ns", None)
    if _ns is not None:
        PERIOD = 1 << 30
        _MASK = (1 << 30) - 1  # not const(): the two branches set it differently

        def ticks_ms():
            return (_ns() // 1000000) & _MASK

        def ticks_us():
            return (_ns() // 1000) & _MASK

    else:
        # CircuitPython without long ints: supervisor.ticks_ms counts ms modulo 2**29.
        from supervisor import ticks_ms

        PERIOD = 1 << 29
        _MASK = (1 << 29) - 1

        def ticks_us():
            # (ms * 1000) mod 2**29 in small ints (< 2**30): ms * 1000 = (ms * 125) << 3,
            # and (ms * 125) mod 2**26 from ms's high and low 13-bit halves. It stays
            # continuous where ticks_ms wraps, because 2**29 * 1000 is a multiple of 2**29.
            ms = ticks_ms()
            t = ((((ms >> 13) * 125) & 0x1FFF) << 13) + (ms & 0x1FFF) * 125
            return (t & 0x3FFFFFF) << 3

    _HALF = (_MASK + 1) >> 1

    def ticks_add(t, delta):
        return (t + delta) & _MASK

    def ticks_diff(a, b):
        # Signed distance a - b in [-PERIOD/2, PERIOD/2), like MicroPython's ticks_diff.
        return ((a - b + _HALF) & _MASK) - _HALF

    def sleep_ms(ms):
        if ms > 0:
            _time.sleep(ms / 1000)


def mounted_fs(path):
    """The type name of the filesystem mounted where `path` lives ("<class 'VfsLfs2'>",
    "VfsFat", "VfsPosix", ...), or None where the runtime cannot tell: MicroPython lists mounts with vfs.mount(),
    CircuitPython gives storage.getmount(mount point); its unix port has neither and runs on
    VfsPosix."""
    import os

    if not path.startswith("/"):
        path = os.getcwd().rstrip("/") + "/" + path
    try:
        import vfs

        mounts = vfs.mount()
    except (ImportError, TypeError, AttributeError):
        mounts = None
    if mounts is not None:
        best = None
        best_len = -1
        for fs, mp in mounts:
            mp = mp.rstrip("/")
            if (path == mp or path.startswith(mp + "/")) and len(mp) > best_len:
                best = fs
                best_len = len(mp)
        return None if best is None else str(type(best))
    if not CIRCUITPYTHON:
        return None
    try:
        import storage
    except ImportError:
        return "VfsPosix" if hasattr(os, "VfsPosix") else None  # the unix port: host folders
    top = "/" + path.split("/")[1] if path.count("/") > 1 else "/"
    for mp in (top, "/"):
        try:
            return str(type(storage.getmount(mp)))
        except (OSError, ValueError):  # not a mount point
            continue
    return None


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
