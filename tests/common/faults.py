"""Byte-stream fault injection shared by the link tests (tests/device/linkfaults.py, a pipe
wrapper) and the serial relay (tests/host/ptyrelay.py, a pty in front of the QEMU board)."""
import time


def mangle(data, rng, p, injected, stall_s=(0.0, 0.0)):
    """`data` cut into 1-32 byte segments, each stalled, dropped, bit-flipped or duplicated
    with the probabilities in `p` ("stall" is optional: without it no random number is
    drawn for it). Counts every fault in `injected`; reproducible from `rng`'s seed."""
    out = bytearray()
    i = 0
    while i < len(data):
        n = rng.randint(1, 32)
        seg = bytearray(data[i:i + n])
        i += n
        r = rng.random
        if "stall" in p and r() < p["stall"]:
            injected["stall"] += 1
            time.sleep(rng.uniform(*stall_s))
        if r() < p["drop"]:
            injected["drop"] += 1
            continue
        if r() < p["flip"]:
            injected["flip"] += 1
            k = rng.randrange(len(seg))
            seg[k] ^= 1 << rng.randrange(8)
        out += seg
        if r() < p["dup"]:
            injected["dup"] += 1
            out += seg
    return bytes(out)
