"""Flash that the engine takes in the QEMU_M4 firmware (Cortex-M4F, -Os, arm-none-eabi-gcc),
with every op and with --ops-from one transformer.

    MICROPY_DIR=~/micropython python benchmarks/firmware_size.py [--model tf_l2_h4_d32_s64] [--out DIR]

Builds the firmware three times (out/bench/firmware/{all,ops,ops-full}): every op with
full error sentences (the default build), --ops-from the transformer as `microformer
firmware build` makes it (terse errors), and the same with --errors full for comparison.
Reads each linker map and prints the flash of the engine (one object: the unity build),
of the library code it pulls in (libgcc/libm/libc members the engine is the first to
need), of the binding, and the module's total, next to the targets: all ops <= 48 KB, one
transformer's ops <= 24 KB (engine + its library code). Then the engine's largest functions.
"""
import argparse
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from microformer.firmware import builder  # noqa: E402

TARGETS = {"all": 48 * 1024, "ops": 24 * 1024}


def engine_functions(fw):
    """[(bytes, name)] of the engine's symbols in the firmware, largest first."""
    nm = "arm-none-eabi-nm"
    objs = [p for p in fw.out.joinpath("build").rglob("*.o") if "/cmodule/engine/" in str(p)]
    mine = set()
    for o in objs:
        for line in subprocess.run([nm, "--defined-only", str(o)], capture_output=True, text=True).stdout.splitlines():
            mine.add(line.split()[-1])
    rows = []
    for line in subprocess.run([nm, "-S", str(fw.firmware)], capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] in mine:
            rows.append((int(parts[1], 16), parts[3]))
    return sorted(rows, reverse=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--micropython", default=os.environ.get("MICROPY_DIR"),
                   help="MicroPython checkout (default $MICROPY_DIR)")
    p.add_argument("--model", default="tf_l2_h4_d32_s64", help="zoo transformer for --ops-from")
    p.add_argument("--out", default=str(ROOT / "out" / "bench" / "firmware"))
    p.add_argument("--top", type=int, default=12, help="largest engine functions to list")
    args = p.parse_args(argv)
    if not args.micropython:
        p.error("set MICROPY_DIR or pass --micropython")

    import zoo

    out = pathlib.Path(args.out)
    model = out / f"{args.model}.tflite"
    out.mkdir(parents=True, exist_ok=True)
    model.write_bytes(zoo.get(args.model))

    builds = {
        "all": builder.build("QEMU_M4", args.micropython, out / "all"),
        "ops": builder.build("QEMU_M4", args.micropython, out / "ops", ops_from=[model]),
        "ops-full": builder.build("QEMU_M4", args.micropython, out / "ops-full", ops_from=[model],
                                  terse_errors=False),
    }
    print(f"QEMU_M4 (Cortex-M4F, -Os), MicroPython {builds['all'].micropython_version}")
    print(f"{'build':<48} {'ops':>4} {'engine':>8} {'+lib':>7} {'=engine':>8} {'binding':>8} "
          f"{'module':>8} {'target':>8}  verdict")
    for key, fw in builds.items():
        s = fw.sizes
        eng = s.engine + s.library
        label = ("all ops" if key == "all" else f"--ops-from {args.model}") + \
            (", terse errors" if fw.terse_errors else "")
        target = TARGETS[key.split("-")[0]]
        verdict = "ok" if eng <= target else f"over by {eng - target}"
        print(f"{label:<48} {len(fw.ops):>4} {s.engine:>8} {s.library:>7} {eng:>8} {s.binding:>8} "
              f"{s.module:>8} {target:>8}  {verdict}")
    print("(bytes; engine = cmodule/engine objects, +lib = library code they pull in, "
          "module = engine + lib + binding)")
    print(f"ops compiled for {args.model}: {', '.join(builds['ops'].ops)}")
    for key in ("all", "ops"):
        print(f"largest engine functions ({key}): " + ", ".join(
            f"{name} {size}" for size, name in engine_functions(builds[key])[:args.top]))
        lib = sorted(((v, k.rsplit("/", 1)[-1]) for k, v in builds[key].sizes.by_file.items()
                      if ".a(" in k), reverse=True)
        if lib:
            print(f"library code for the module ({key}): " + ", ".join(f"{k} {v}" for v, k in lib))
    print(f"firmware flash: all ops {builds['all'].sizes.flash}, ops-from {builds['ops'].sizes.flash} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
