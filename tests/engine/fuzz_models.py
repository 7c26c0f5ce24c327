"""Mutated-model robustness driver, run in a subprocess against a sanitizer build.

usage: python fuzz_models.py SEED COUNT MODEL.tflite...
Every mutant must load and run, or be refused with ValueError / NotImplementedError /
MemoryError. A crash or a sanitizer report ends the process non-zero (the test sees it).
Prints one summary line: `fuzz: N mutants, L loaded, R refused`.
"""
import random
import sys

import _uformer

# Invoking a mutant whose shapes grew is bounded by refusing arenas above this (bytes).
MAX_ARENA = 256 * 1024
SPECIAL = [0, 1, 0x7F, 0x80, 0xFF]
SPECIAL32 = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000, 0x7FFF]


def mutate(data, rng):
    b = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        b = b[: rng.randrange(len(b))]
    elif kind == 2:  # huge / boundary 32-bit values (dims, offsets, counts, indices)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(0, max(1, len(b) - 4)) & ~3
            v = rng.choice(SPECIAL32)
            b[i:i + 4] = v.to_bytes(4, "little")
    elif kind == 3:  # special bytes
        for _ in range(rng.randint(1, 16)):
            b[rng.randrange(len(b))] = rng.choice(SPECIAL)
    elif kind == 4:  # copy a chunk over another place (plausible offsets elsewhere)
        n = rng.randint(4, 64)
        src = rng.randrange(max(1, len(b) - n))
        dst = rng.randrange(max(1, len(b) - n))
        b[dst:dst + n] = b[src:src + n]
    else:  # small integers in the table area (the first few KB hold shapes and indices)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(min(len(b), 4096)) if len(b) > 8 else 0
            b[i] = rng.randrange(256)
    return bytes(b)


def run_one(data, rng):
    try:
        need = _uformer.arena_size(data)
        if need > MAX_ARENA:
            _uformer.Model(data, arena_size=MAX_ARENA)  # must refuse cleanly
            return "loaded"
        m = _uformer.Model(data)
    except (ValueError, NotImplementedError, MemoryError):
        return "refused"
    for i in range(m.num_inputs):
        mv = m.input(i)
        raw = memoryview(mv).cast("B")
        for j in range(len(raw)):
            raw[j] = rng.randrange(256)
    m.invoke()
    for i in range(m.num_outputs):
        bytes(m.output(i))
    return "loaded"


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    models = [open(p, "rb").read() for p in sys.argv[3:]]
    rng = random.Random(seed)
    stats = {"loaded": 0, "refused": 0}
    for k in range(count):
        base = models[k % len(models)]
        stats[run_one(mutate(base, rng), rng)] += 1
    print(f"fuzz: {count} mutants, {stats['loaded']} loaded, {stats['refused']} refused")


if __name__ == "__main__":
    main()
