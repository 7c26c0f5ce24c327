"""The live receiver takes only well-formed frames (issue 12): header fields are hex digits
and nothing else (int(x, 16) took a sign, "0x" and underscores: a length of -1 with a valid
CRC crashed the app, -100 made CPython re-parse one header forever), BEGIN sizes are
decimal digits, bounds are checked before anything is allocated or written, and garbage
never raises out of the receiver. The Runner survives whatever a receiver or slot raises."""
from binascii import crc32

import devtest
from livefeed import Feeder, header
from uformer.compat import ticks_add, ticks_us
from uformer.live import Receiver
from uformer.runner import Runner
from uformer.storage import FileSlot
from uformer.window import Window


def forged(kind, seq, off, length, pcrc=b"00000000"):
    """A header with fields given as raw text (any bytes) and a valid header CRC."""
    body = b"MF" + kind + seq + off + length + pcrc
    return b"\x16" + body + b"%08X\n" % (crc32(body) & 0xFFFFFFFF)


def make(chunk=256):
    slot = FileSlot(devtest.tmp("cfg.bin"), max_bytes=4096, log=None)
    f = Feeder(Receiver, slot, chunk)
    return slot, f


def test_header_fields_are_hex_digits_only():
    slot, f = make()
    rx = f.rx
    bad = [
        forged(b"D", b"0001", b"00000000", b"-001"),  # length -1: crashed the app
        forged(b"D", b"0002", b"00000000", b"-064"),  # -100-ish: CPython looped forever
        forged(b"D", b"0003", b"00000000", b"0x10"),
        forged(b"D", b"0004", b"00000000", b"1_00"),
        forged(b"D", b"0005", b"00000000", b" 010"),
        forged(b"D", b"0006", b"00000000", b"+010"),
        forged(b"P", b"-001", b"00000000", b"0000"),
        forged(b"D", b"0007", b"-0000001", b"0000"),
        forged(b"D", b"0008", b"0000000G", b"0000"),
        forged(b"D", b"0009", b"00000000", b"0010", b"-0000001"),
    ]
    for i, h in enumerate(bad):
        assert len(h) == 37, h
        f.feed(h)
        assert rx.bad_headers == i + 1, (h, rx.counters())
        assert rx.frames == 0 and rx.out.last == b"", (h, rx.out.last)
    # The parser is back at the start: a good ping is answered.
    assert b" K proto=" in f.request(b"P")
    assert rx.errors == 0


def test_oversized_frames_are_refused_before_any_allocation():
    slot, f = make(chunk=256)
    rx = f.rx
    r = f.request(b"D", bytes(300))
    assert b" E chunk of 300 bytes exceeds the device's 256" in r, r
    # BEGIN bounds: size digits only, within max_bytes; nothing is written for a refusal.
    for text, want in ((b"cfg.bin -1 " + b"a" * 64, b"decimal digits"),
                       (b"cfg.bin +5 " + b"a" * 64, b"decimal digits"),
                       (b"cfg.bin 1_0 " + b"a" * 64, b"decimal digits"),
                       (b"cfg.bin 99999999999 " + b"a" * 64, b"decimal digits"),
                       (b"cfg.bin 5000 " + b"a" * 64, b"accepts 1..4096"),
                       (b"cfg.bin 0 " + b"a" * 64, b"accepts 1..4096"),
                       (b"cfg.bin 10 " + b"g" * 64, b"64 hex digits"),
                       (b"cfg.bin 10", b"name size sha256"),
                       (b"\xff\xfe 10 " + b"a" * 64, b"bad frame|no slot named")):
        r = f.request(b"B", text)
        assert b" E " in r and any(w in r for w in want.split(b"|")), (text, r)
    assert not devtest.exists(devtest.tmp("cfg.bin.part"))
    assert not devtest.exists(devtest.tmp("cfg.bin.rx"))
    # DATA without a transfer, past the end, and an END without one.
    assert b"no transfer" in f.request(b"D", b"x" * 10, 0)
    assert b"no transfer" in f.request(b"E")
    data = b"0123456789"
    r = f.request(b"B", b"cfg.bin 10 " + devtest.sha256_hex(data).encode())
    assert b" K off=0" in r
    assert b"past the model" in f.request(b"D", b"x" * 11, 0)
    assert b" K off=10" in f.request(b"D", data, 0)
    f.request(b"E")
    while slot.step():
        pass
    assert devtest.read(devtest.tmp("cfg.bin")) == data
    assert rx.errors == 0


def test_garbage_never_raises_out_of_the_receiver():
    slot, f = make()
    rx = f.rx
    seed = 12345
    junk = bytearray(20000)
    for i in range(len(junk)):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        junk[i] = (seed >> 16) & 0xFF
        if i % 97 == 0:
            junk[i] = 0x16  # many SYNs: many partial headers
    f.feed(junk)
    # Valid header CRCs around random payload lengths and types.
    for i in range(200):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        kind = b"PBDESAXZ"[seed % 8:seed % 8 + 1]
        n = (seed >> 8) % 300
        f.feed(header(kind, i, (seed >> 4) % 5000, bytes(n)))
        f.feed(bytes((seed >> 3) % 300))
    assert rx.errors == 0
    assert b" K proto=" in f.request(b"P")


class Exploding:
    """A receiver or slot whose every call raises something unusual."""

    stats = None
    model = None
    digest = None
    swaps = 0
    refusals = 0

    def __init__(self, exc):
        self.exc = exc
        self.calls = 0

    def poll(self, deadline_us=None):
        self.calls += 1
        raise self.exc

    def step(self, deadline_us=None):
        self.calls += 1
        raise self.exc

    def acquire(self):
        return None


def test_runner_survives_any_exception_from_receiver_and_slot():
    log = devtest.Log()
    w = Window(4, 1, hop=2)
    live = Exploding(TypeError("bad receiver"))
    slot = Exploding(IndexError("bad slot"))
    runner = Runner(lambda: [1.0], w, slot, period_ms=1, stats_ms=0, log=log, live=live)
    for _ in range(50):
        runner.step()
        runner.background(ticks_add(ticks_us(), 100))
    st = runner.stats()
    assert live.calls == 50 and slot.calls == 50
    assert st["errors"] == 100 and st["samples"] == 50, st
    assert log.has("live failed", "TypeError", "bad receiver")
    assert log.has("slot failed", "IndexError", "bad slot")


def test_streamed_data_frames_need_no_handshake_and_rewind_on_a_gap():
    slot, f = make(chunk=256)
    rx = f.rx
    data = bytes((i * 13 + 7) & 0xFF for i in range(1000))
    # Before a BEGIN, a streamed frame's payload is swallowed and refused: no transfer.
    f.feed(header(b"d", 1, 0, data[:100]) + data[:100])
    assert b" E no transfer" in rx.out.last, rx.out.last
    r = f.request(b"B", b"cfg.bin 1000 " + devtest.sha256_hex(data).encode())
    assert b" K off=0" in r
    replies = []
    rx.out.write = lambda b: replies.append(b) or len(b)
    f.feed(header(b"d", 2, 0, data[:256]) + data[:256])
    # frame 3 lost; frame 4 arrives: a gap, the device says where it is
    f.feed(header(b"d", 4, 512, data[512:768]) + data[512:768])
    f.feed(header(b"d", 5, 256, data[256:512]) + data[256:512])
    f.feed(header(b"d", 6, 256, data[256:512]) + data[256:512])  # a duplicate
    assert [r.split(b" *")[0][8:] for r in replies] == [
        b" K off=256", b" N gap off=256", b" K off=512", b" K off=512 dup"], replies
    assert not any(b" R " in r for r in replies)
    # too long for the device: refused, and its payload cannot fake a frame
    f.feed(header(b"d", 7, 512, bytes(300)) + bytes(300))
    assert b"exceeds the device's 256" in replies[-1]
    for off in (512, 768):
        piece = data[off:off + 256]
        f.feed(header(b"d", 8 + off, off, piece) + piece)
    assert b" K off=1000" in replies[-1], replies[-1]
    f.request(b"E")
    while slot.step():
        pass
    assert devtest.read(devtest.tmp("cfg.bin")) == data and rx.errors == 0
