"""The engine's table of BuiltinOperator names (cmodule/engine/mf_opnames.c), packed.

The engine names ops it does not run in its load errors ("unsupported op EXP v1 at node
17"). The names of BuiltinOperator 0..NAMED-1, NUL-separated, are 1,780 characters of
A-Z, 0-9 and '_': 38 symbols, so each is stored in 6 bits (0 ends a name), 1,336 bytes
instead of 1,780; mf_builtin_name decodes one name into the caller's buffer.

    python -m microformer.engine_opnames --write   # regenerate the table from the schema

tests/engine/test_engine_build.py fails when the table is stale or decodes wrong.
"""
import pathlib
import re
import sys

# BuiltinOperator 0..NAMED-1: the TFLite ops. 162.. are StableHLO ops and DILATE /
# REDUCE_WINDOW, which int8 models for microcontrollers do not contain ("#N" then).
NAMED = 162
ALPHABET = "\0ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
SOURCE = pathlib.Path("cmodule") / "engine" / "mf_opnames.c"
_TABLE = re.compile(r"(static const uint8_t mf_builtin_names\[\d+\] = \{\n)(.*?)(\n\};)", re.S)


def pack(names):
    """Names -> bytes: each character and each name's terminating 0 as a 6-bit symbol,
    little-endian bit order, plus one zero byte so a decoder may read two bytes at a time."""
    bits = nbits = 0
    out = bytearray()
    for name in names:
        for ch in name + "\0":
            if ch not in ALPHABET:
                raise ValueError(f"op name {name!r}: {ch!r} is not in the 6-bit alphabet")
            bits |= ALPHABET.index(ch) << nbits
            nbits += 6
            while nbits >= 8:
                out.append(bits & 0xFF)
                bits >>= 8
                nbits -= 8
    if nbits:
        out.append(bits & 0xFF)
    out.append(0)
    return bytes(out)


def unpack(data, count):
    """The first `count` names of a packed table (the decoder the C mirrors)."""
    names, cur = [], []
    bit = 0
    while len(names) < count:
        i = bit >> 3
        v = ((data[i] | (data[i + 1] << 8)) >> (bit & 7)) & 63
        bit += 6
        if v == 0:
            names.append("".join(cur))
            cur = []
        else:
            cur.append(ALPHABET[v])
    return names


def schema_names():
    from . import tflite

    names = tflite._op_names()
    return [names[i] for i in range(NAMED)]


def render(data):
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 12]) for i in range(0, len(data), 12)]
    return "    " + ",\n    ".join(rows)


def table_in(source_text):
    """(declared length, bytes) of the table in mf_opnames.c's text."""
    m = _TABLE.search(source_text)
    if m is None:
        raise ValueError(f"{SOURCE}: no 'static const uint8_t mf_builtin_names[N] = {{' table")
    data = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", m.group(2)))
    return int(re.search(r"\[(\d+)\]", m.group(1)).group(1)), data


def main(argv=None):
    from .firmware import source_root

    argv = sys.argv[1:] if argv is None else argv
    path = source_root() / SOURCE
    text = path.read_text()
    data = pack(schema_names())
    want = _TABLE.sub(lambda m: f"static const uint8_t mf_builtin_names[{len(data)}] = {{\n{render(data)}\n}};",
                      text, count=1)
    if argv == ["--write"]:
        path.write_text(want)
        print(f"wrote {path}: {NAMED} names in {len(data)} bytes")
        return 0
    print("up to date" if want == text else f"{path} is stale: run with --write")
    return 0 if want == text else 1


if __name__ == "__main__":
    sys.exit(main())
