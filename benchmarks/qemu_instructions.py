"""Instructions per inference of the zoo models on an emulated board (QEMU_M4, or QEMU_M55
with --board: the Cortex-M55 firmware, whose engine runs its Helium kernels).

    MICROPY_DIR=~/micropython python benchmarks/qemu_instructions.py [--models a,b] [--invokes N]
    python benchmarks/qemu_instructions.py --firmware out/firmware/QEMU_M4/firmware.elf
    python benchmarks/qemu_instructions.py --board QEMU_M55 --firmware out/firmware/QEMU_M55/firmware.elf

qemu runs with -icount shift=0: its clock advances exactly 1 ns per instruction, so the
board's time.ticks_us() counts thousands of instructions. Each model is mapped in place
from /rom (a ROMFS image packed with 16-byte aligned files), invoked N times on seeded
random int8 inputs, and its outputs compared byte for byte with the CPython _uformer.
Prints per model: ops, arena bytes on the board, instructions per inference (min over
the invokes, resolution 1000), and whether the outputs match.
"""
import argparse
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))
sys.path.insert(0, str(ROOT / "tests" / "firmware"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _uformer  # noqa: E402

import fwutil  # noqa: E402
from microformer.firmware import FirmwareError, boards, builder, device, qemu, romfs  # noqa: E402

SCRIPT = """
import _uformer, gc
MODELS = {names!r}
INVOKES = {invokes}
for name in MODELS:
    gc.collect()
    try:
        f = open("/rom/" + name + ".tflite", "rb")
        m = _uformer.Model(memoryview(f))
    except MemoryError as e:
        print("FAIL", name, "MemoryError", e, "free", gc.mem_free())
        continue
""" + """
    views = [m.input(i) for i in range(m.num_inputs)]
    best = None
    with open("/rom/" + name + ".in", "rb") as src:
        for s in range(INVOKES):
            for v in views:
                v[:] = src.read(len(v))
            t = time.ticks_us()
            m.invoke()
            dt = time.ticks_diff(time.ticks_us(), t)
            best = dt if best is None or dt < best else best
            for j in range(m.num_outputs):
                print("OUT", name, s, j, bytes(m.output(j)).hex())
    print("RES", name, len(m.ops), m.arena_size, best)
    del m, views
    f.close()
"""


def main(argv=None):
    import zoo

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--micropython", default=os.environ.get("MICROPY_DIR"))
    p.add_argument("--board", choices=sorted(boards.EMULATED), default="QEMU_M4", help="emulated board")
    p.add_argument("--firmware", help="the board's firmware.elf (default: build it)")
    p.add_argument("--models", default=",".join(zoo.MODELS), help="comma-separated zoo names")
    p.add_argument("--invokes", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "out" / "bench" / "qemu"))
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fw = args.firmware
    if fw is None:
        if not args.micropython:
            p.error("set MICROPY_DIR (or --micropython) to build the firmware, or pass --firmware")
        fw = builder.build(args.board, args.micropython, out / "firmware" / args.board).firmware

    names = [n for n in args.models.split(",") if n]
    files, expected = fwutil.zoo_files(_uformer, names, args.invokes)
    img = out / "models.romfs"
    img.write_bytes(romfs.build(files))
    code = "import time\n" + SCRIPT.format(names=names, invokes=args.invokes)
    with qemu.booted(args.board, fw, romfs=img) as b:
        text = device.run(b.pty, code, timeout=3600)

    got = {}
    print(f"{args.board} ({boards.BOARDS[args.board].description}), qemu -icount shift=0; firmware {fw}")
    print(f"{'model':<20} {'ops':>4} {'arena':>8} {'instructions':>13}  outputs")
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "OUT":
            got.setdefault(f[1], {}).setdefault(int(f[2]), []).append(bytes.fromhex(f[4]) if len(f) > 4 else b"")
        elif f and f[0] == "RES":
            n, ops, arena, us = f[1], int(f[2]), int(f[3]), int(f[4])
            rows = [got[n][s] for s in sorted(got.get(n, {}))]
            same = "identical to CPython" if rows == expected[n] else "DIFFER from CPython"
            print(f"{n:<20} {ops:>4} {arena:>8} {us * 1000:>13,}  {same}")
        elif f and f[0] == "FAIL":
            print(f"{f[1]:<20} does not fit: {' '.join(f[2:])}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FirmwareError as e:
        print(f"qemu_instructions: {e}", file=sys.stderr)
        sys.exit(1)
