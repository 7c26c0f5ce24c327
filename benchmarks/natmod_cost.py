"""What _uformer costs as a dynamic native module (_uformer.mpy on stock firmware) next to
the module built into the firmware: flash, RAM and speed.

    MICROPY_DIR=~/micropython python benchmarks/natmod_cost.py [--archs armv7emsp,...]
        [--models a,b] [--invokes N] [--out DIR]

Flash: per arch, the .mpy file's bytes and its machine code and static RAM as mpy_ld
linked them (natmod.json), next to the built-in module's flash in the QEMU_M4 firmware
(Cortex-M4F): engine + binding + the library code they pull in, from the linker map as
benchmarks/firmware_size.py reports it.

RAM: MicroPython copies a native module's code and data into its heap at import, so the
natmod costs heap that the built-in module (code in flash) does not: measured on a board
as gc.mem_free() before and after `import _uformer`, per arch on the stock qemu board that
runs it (natmod.STOCK_BOARDS) and on QEMU_M4.

Speed: the QEMU_M4 firmware (built-in _uformer) also imports the armv7emsp natmod, under
the name _uformer_natmod, from its ROMFS; both engines run the same zoo models (mapped in
place from /rom) on the same seeded inputs in one boot. qemu runs with -icount shift=0, so
time.ticks_us() counts thousands of instructions (benchmarks/qemu_instructions.py's method;
each reading times enough back-to-back invokes to span 2M instructions, so small models
are not lost in the 1000-instruction resolution); per model: the least over the readings
for each engine, the natmod/built-in ratio, and
whether both engines' outputs equal the CPython _uformer's byte for byte. Target: the
natmod within 10% of the built-in module.
"""
import argparse
import json
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
from microformer.firmware import builder, device, natmod, qemu, romfs  # noqa: E402

# The stock board that measures each arch's import cost (the first that runs it).
ARCH_BOARD = {a: b for b, archs in reversed(list(natmod.STOCK_BOARDS.items())) for a in archs}

HEAP_SCRIPT = """
import gc
gc.collect()
before = gc.mem_free()
import {module}
gc.collect()
print("HEAP", before - gc.mem_free(), gc.mem_free())
"""

SPEED_SCRIPT = """
import gc, time
import _uformer, _uformer_natmod
ENGINES = (("builtin", _uformer), ("natmod", _uformer_natmod))
for name in {names!r}:
    for tag, eng in ENGINES:
        gc.collect()
        f = open("/rom/" + name + ".tflite", "rb")
        m = eng.Model(memoryview(f))
        views = [m.input(i) for i in range(m.num_inputs)]
        best = None
        reps = 0
        with open("/rom/" + name + ".in", "rb") as src:
            for s in range({invokes}):
                for v in views:
                    v[:] = src.read(len(v))
                t = time.ticks_us()
                m.invoke()
                dt = time.ticks_diff(time.ticks_us(), t)
                # The outputs of this sample (later invokes run on an input tensor the
                # activations may have overwritten: its arena bytes are reused).
                for j in range(m.num_outputs):
                    print("OUT", tag, name, s, j, bytes(m.output(j)).hex())
                if not reps:
                    # Enough invokes per reading to span 2M instructions: the clock's
                    # resolution (1000) is then at most 0.05%.
                    reps = max(1, 2000 // max(1, dt))
                t = time.ticks_us()
                for _ in range(reps):
                    m.invoke()
                dt = time.ticks_diff(time.ticks_us(), t) * 1000 // reps
                best = dt if best is None or dt < best else best
        print("RES", tag, name, best)
        del m, views
        f.close()
print("DONE")
"""


def lib_tree(natdir, name=natmod.NATMOD_FILE):
    return {"lib": {name: (natdir / natmod.NATMOD_FILE).read_bytes()}}


def heap_cost(board, fw, natdir, workdir, module="_uformer", name=natmod.NATMOD_FILE):
    img = pathlib.Path(workdir) / f"heap-{board}.img"
    img.write_bytes(romfs.build(lib_tree(natdir, name)))
    with qemu.booted(board, fw, romfs=img) as b:
        out = device.run(b.pty, HEAP_SCRIPT.format(module=module), timeout=300)
    f = next(ln for ln in out.splitlines() if ln.startswith("HEAP")).split()
    return int(f[1]), int(f[2])


SIZE_TOOL = {"x64": "size", "rv32imc": "riscv64-unknown-elf-size"}


def own_code(arch, out):
    """Bytes of code and constants (`size` text) in the natmod's own objects (binding and
    engine, plus any libm sources compiled with them); the rest of the .mpy's machine code
    is the libgcc/libm/libc members mpy_ld linked in, which firmware shares with everything
    else and the built-in module therefore does not count."""
    import subprocess

    objs = sorted((out / "natmod" / "build" / arch).rglob("*.o"))
    tool = SIZE_TOOL.get(arch, "arm-none-eabi-size")
    text = subprocess.run([tool, "-A", *map(str, objs)], capture_output=True, text=True, check=True).stdout
    total = 0
    for line in text.splitlines():
        f = line.split()
        # code and read-only data, as mpy_ld places them (not unwind tables or notes)
        if len(f) >= 2 and f[0].startswith((".text", ".rodata", ".srodata", ".data.rel.ro")):
            total += int(f[1])
    return total


def main(argv=None):
    import zoo

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--micropython", default=os.environ.get("MICROPY_DIR"))
    p.add_argument("--archs", default=",".join(natmod.ARCHS), help="comma-separated natmod archs")
    p.add_argument("--models", default=",".join(zoo.MODELS), help="comma-separated zoo names")
    p.add_argument("--invokes", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "out" / "bench" / "natmod"))
    args = p.parse_args(argv)
    if not args.micropython:
        p.error("set MICROPY_DIR or pass --micropython")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    archs = [a for a in args.archs.split(",") if a]
    names = [n for n in args.models.split(",") if n]
    if "armv7emsp" not in archs:
        archs.append("armv7emsp")  # the speed comparison needs it

    print("building the QEMU_M4 firmware (built-in _uformer) ...", flush=True)
    fw = builder.build("QEMU_M4", args.micropython, out / "QEMU_M4")
    s = fw.sizes
    builtin_flash = s.engine + s.binding + s.library
    results = {"builtin": {"engine": s.engine, "binding": s.binding, "library": s.library,
                           "flash": builtin_flash}, "natmod": {}, "speed": {}}

    print("\nflash and RAM: _uformer.mpy per arch, against the built-in module on QEMU_M4")
    print(f"  built-in (QEMU_M4, Cortex-M4F): {builtin_flash} B flash (engine {s.engine}, binding "
          f"{s.binding}, library {s.library}), 0 B heap for code")
    print(f"  {'arch':10} {'.mpy B':>8} {'text B':>8} {'own B':>7} {'lib B':>6} {'bss B':>6} "
          f"{'text/built-in':>13} {'heap at import':>15}  board")
    for a in archs:
        if natmod.missing_tools(a):
            print(f"  {a:10} skipped: missing {', '.join(t for t, _ in natmod.missing_tools(a))}")
            continue
        d = natmod.build(a, args.micropython, out / "natmod")
        info = natmod.manifest(d)
        sz = info["sizes"]
        row = dict(sz)
        own = own_code(a, out)
        row.update(own=own, library=sz["text"] - own)
        board = ARCH_BOARD.get(a)
        heap = ""
        if board is not None:
            bfw = natmod.stock_firmware(board, args.micropython, out / "stock" / board,
                                        mpy_cross_dir=out / "natmod" / "build" / "mpy-cross")
            used, left = heap_cost(board, bfw, d, out)
            row.update(heap=used, heap_free_after=left, board=board)
            heap = f"{used:>15}  {board} ({left} B free after)"
        elif a == "x64":
            heap = f"{'-':>15}  unix port (not measured)"
        results["natmod"][a] = row
        print(f"  {a:10} {sz['mpy']:>8} {sz['text']:>8} {own:>7} {sz['text'] - own:>6} {sz['bss']:>6} "
              f"{sz['text'] / builtin_flash:>12.2f}x {heap}")

    # Speed on the Cortex-M4F: both engines in the QEMU_M4 firmware.
    nat = out / "natmod" / "armv7emsp"
    used, left = heap_cost("QEMU_M4", fw.firmware, nat, out, "_uformer_natmod", "_uformer_natmod.mpy")
    results["natmod"]["armv7emsp"]["heap_qemu_m4"] = used
    print(f"  armv7emsp on QEMU_M4: import takes {used} B of heap ({left} B free after)")

    models, expected = fwutil.zoo_files(_uformer, names, args.invokes)
    files = {**lib_tree(nat, "_uformer_natmod.mpy"), **models}
    img = out / "speed.img"
    img.write_bytes(romfs.build(files))
    with qemu.booted("QEMU_M4", fw.firmware, romfs=img) as b:
        text = device.run(b.pty, SPEED_SCRIPT.format(names=names, invokes=args.invokes), timeout=3600)
    got, best = {}, {}
    for ln in text.splitlines():
        f = ln.split()
        if f and f[0] == "OUT":
            got.setdefault((f[1], f[2]), {}).setdefault(int(f[3]), []).append(bytes.fromhex(f[5]))
        elif f and f[0] == "RES":
            best[(f[1], f[2])] = int(f[3])  # instructions per invoke
    print(f"\nspeed on QEMU_M4 (instructions per inference, least of {args.invokes}; -icount shift=0)")
    print(f"  {'model':20} {'built-in':>11} {'natmod':>11} {'natmod/built-in':>16}  outputs = CPython")
    ratios = []
    for n in names:
        b_, n_ = best.get(("builtin", n)), best.get(("natmod", n))
        ok = [[got.get((t, n), {}).get(s) for s in range(args.invokes)] == expected[n]
              for t in ("builtin", "natmod")]
        r = n_ / b_ if b_ and n_ else float("nan")
        ratios.append(r)
        results["speed"][n] = {"builtin": b_, "natmod": n_, "ratio": r, "builtin_equal": ok[0],
                               "natmod_equal": ok[1]}
        print(f"  {n:20} {b_ or 0:>11,} {n_ or 0:>11,} {r:>16.3f}  built-in {ok[0]}, natmod {ok[1]}")
    worst = max(ratios)
    print(f"  worst natmod/built-in {worst:.3f} (target <= 1.10: {'met' if worst <= 1.10 else 'NOT met'})")
    (out / "natmod_cost.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{out / 'natmod_cost.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
