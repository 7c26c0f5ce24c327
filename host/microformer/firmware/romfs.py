"""ROMFS images whose file data is aligned, so models in /rom load in place.

The engine reads int32 biases and other multi-byte weights straight from the model bytes
with aligned loads (Cortex-M0+ faults on unaligned ones) and refuses a model whose
buffers are misaligned. The .tflite converter aligns buffers to 16 bytes within the file,
so the file's data must start on a 16-byte boundary in flash too. `mpremote romfs build`
packs records back to back (data lands at any offset); this writer uses ROMFS's own
padding mechanisms (a varuint may be prefixed with 0x80 bytes; padding records are
skipped by readers) to start every file's data on an `align`-byte boundary of the image.
The partition itself starts aligned (qemu: 0x21000000; rp2: a 4 KB flash sector).

Format (extmod/vfs_rom.c): records are varuint kind, varuint payload length, payload.
The image is one record of kind 0x14a6b1 (bytes d2 cd 31) holding directory (4) and
file (5) records; a file's payload is varuint name length, name, then a verbatim data
record (2). Varuints are big-endian base-128 with the high bit on all but the last byte.
"""
import pathlib

from . import FirmwareError

_KIND_FILESYSTEM = b"\xd2\xcd\x31"
_KIND_PADDING = 1
_KIND_DATA = 2
_KIND_DIR = 4
_KIND_FILE = 5
_LEN_WIDTH = 4      # fixed width of record lengths (up to 256 MB) so offsets are known early
DEFAULT_ALIGN = 16


def _uint(value, width=None):
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    if width is not None:
        if len(out) > width:
            raise FirmwareError(f"ROMFS record of {value} bytes is too large")
        out = [0x80] * (width - len(out)) + out
    return bytes(out)


class _Writer:
    def __init__(self, align):
        self.align = align
        self.buf = bytearray()

    def record(self, kind, body):
        """Appends a record whose payload `body()` appends; patches its length after."""
        self.buf += kind if isinstance(kind, bytes) else _uint(kind)
        at = len(self.buf)
        self.buf += bytes(_LEN_WIDTH)
        start = len(self.buf)
        body()
        self.buf[at:start] = _uint(len(self.buf) - start, _LEN_WIDTH)

    def name(self, name):
        raw = name.encode("utf-8")
        self.buf += _uint(len(raw)) + raw

    def data(self, data):
        self.buf += _uint(_KIND_DATA)
        length = _uint(len(data))
        pad = -(len(self.buf) + len(length)) % self.align
        self.buf += b"\x80" * pad + length
        self.buf += data


def _entries(src):
    """Sorted (name, bytes or nested entries) of a directory."""
    out = []
    for p in sorted(pathlib.Path(src).iterdir()):
        if p.is_dir():
            out.append((p.name, _entries(p)))
        elif p.is_file():
            out.append((p.name, p.read_bytes()))
    return out


def build(src, align=DEFAULT_ALIGN):
    """A ROMFS image (bytes) of `src`: a directory, or a dict {name: bytes or dict}."""
    if align < 1 or align & (align - 1):
        raise FirmwareError(f"ROMFS alignment must be a power of two, got {align}")
    entries = _entries(src) if not isinstance(src, dict) else _dict_entries(src)
    w = _Writer(align)

    def put(items):
        for name, content in items:
            if isinstance(content, list):
                w.record(_KIND_DIR, lambda n=name, c=content: (w.name(n), put(c)))
            else:
                w.record(_KIND_FILE, lambda n=name, c=content: (w.name(n), w.data(c)))

    def body():
        put(entries)
        if len(w.buf) % 2:
            # Readers need an even image size; a 3-byte padding record flips the parity.
            w.buf += _uint(_KIND_PADDING) + _uint(1) + b"\0"

    w.record(_KIND_FILESYSTEM, body)
    return bytes(w.buf)


def _dict_entries(d):
    return [(k, _dict_entries(v) if isinstance(v, dict) else bytes(v)) for k, v in sorted(d.items())]


def files(image):
    """{path: (offset, bytes)} of a ROMFS image: a reader to check what build() wrote."""
    def uint(pos):
        v = 0
        while True:
            b = image[pos]
            pos += 1
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                return v, pos

    def walk(pos, end, prefix, out):
        while pos < end:
            kind, pos = uint(pos)
            length, pos = uint(pos)
            nxt = pos + length
            if kind in (_KIND_DIR, _KIND_FILE):
                n, p = uint(pos)
                name = prefix + image[p:p + n].decode()
                p += n
                if kind == _KIND_DIR:
                    walk(p, nxt, name + "/", out)
                else:
                    while p < nxt:
                        k, p = uint(p)
                        ln, p = uint(p)
                        if k == _KIND_DATA:
                            out[name] = (p, bytes(image[p:p + ln]))
                            break
                        p += ln
            pos = nxt
        return out

    if image[:3] != _KIND_FILESYSTEM:
        raise FirmwareError("not a ROMFS image (header is not d2 cd 31)")
    length, pos = uint(3)
    return walk(pos, pos + length, "", {})
