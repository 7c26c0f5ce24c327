"""Drives a uformer.live.Receiver without a console: frames are built here (the host's
format, docs/protocol.md) and fed straight into its parser. Imported by tests/device files
(runs under CPython and MicroPython)."""
from binascii import crc32

import devtest


class Sink:
    """The receiver's output stream: keeps only the last reply line."""

    def __init__(self):
        self.last = b""

    def write(self, data):
        self.last = data
        return len(data)


def header(kind, seq, off, payload):
    body = b"MF%s%04X%08X%04X%08X" % (kind, seq & 0xFFFF, off, len(payload),
                                      (crc32(payload) & 0xFFFFFFFF) if payload else 0)
    return b"\x16" + body + b"%08X\n" % (crc32(body) & 0xFFFFFFFF)


class Feeder:
    """A Receiver for `slot` whose parser is fed directly (no pipes: 500 pushes of 36 KB
    through a console would take minutes), through a read buffer that holds a whole
    payload; its replies go to a Sink."""

    def __init__(self, Receiver, slot, chunk):
        devtest.write(devtest.tmp("console.in"), b"")  # an empty console: EOF at once
        self.rx = Receiver(slot, inp=open(devtest.tmp("console.in"), "rb"), out=Sink(),
                           max_chunk=chunk, log=None)
        self.rx._rbuf = bytearray(chunk + 64)
        self.rx._rmv = memoryview(self.rx._rbuf)
        self.chunk = chunk
        self.seq = 0

    def feed(self, data):
        mv = memoryview(data)
        i = 0
        while i < len(data):
            n = min(len(data) - i, len(self.rx._rbuf))
            self.rx._rmv[:n] = mv[i:i + n]
            self.rx._feed(n)
            i += n

    def request(self, kind, payload=b"", off=0):
        self.seq += 1
        self.feed(header(kind, self.seq, off, payload))
        if payload:
            self.feed(payload)
        return self.rx.out.last

    def push(self, name, src, digest, buf):
        """Send the file src, read len(buf) bytes at a time into buf (the test keeps no model
        bytes in RAM: the 256 KB heap holds the slot's reservation and little else)."""
        size = devtest.file_size(src)
        r = self.request(b"B", ("%s %d %s" % (name, size, digest)).encode())
        assert b" K off=0" in r, r
        mv = memoryview(buf)
        off = 0
        with open(src, "rb") as f:
            while off < size:
                n = f.readinto(buf)
                r = self.request(b"D", mv[:n], off)
                off += n
                assert (b" K off=%d" % off) in r, r
        r = self.request(b"E")
        assert b" W installing" in r or b" K installed" in r, r
