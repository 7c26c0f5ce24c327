"""Flash that the engine takes in the QEMU_M4 firmware (Cortex-M4F, -Os, arm-none-eabi-gcc),
with every op and with --ops-from one transformer.

    MICROPY_DIR=~/micropython python benchmarks/firmware_size.py [--model tf_l2_h4_d32_s64] [--out DIR]

Builds the firmware twice (out/bench/firmware/{all,ops}), reads each linker map and prints
the flash of the engine's objects, of the library code they pull in (libgcc's soft double
helpers: the M4F's FPU is single precision), of the binding, and the module's total, next
to the targets: all ops <= 48 KB, one transformer's ops <= 24 KB (engine + its library code).
"""
import argparse
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from microformer.firmware import builder  # noqa: E402

TARGETS = {"all": 48 * 1024, "ops": 24 * 1024}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--micropython", default=os.environ.get("MICROPY_DIR"),
                   help="MicroPython checkout (default $MICROPY_DIR)")
    p.add_argument("--model", default="tf_l2_h4_d32_s64", help="zoo transformer for --ops-from")
    p.add_argument("--out", default=str(ROOT / "out" / "bench" / "firmware"))
    p.add_argument("--top", type=int, default=8, help="largest engine files to list")
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
    }
    print(f"QEMU_M4 (Cortex-M4F, -Os), MicroPython {builds['all'].micropython_version}")
    print(f"{'build':<34} {'ops':>4} {'engine':>8} {'+lib':>7} {'=engine':>8} {'binding':>8} "
          f"{'module':>8} {'target':>8}  verdict")
    for key, fw in builds.items():
        s = fw.sizes
        eng = s.engine + s.library
        label = "all ops" if key == "all" else f"--ops-from {args.model}"
        verdict = "ok" if eng <= TARGETS[key] else f"over by {eng - TARGETS[key]}"
        print(f"{label:<34} {len(fw.ops):>4} {s.engine:>8} {s.library:>7} {eng:>8} {s.binding:>8} "
              f"{s.module:>8} {TARGETS[key]:>8}  {verdict}")
    print("(bytes; engine = cmodule/engine objects, +lib = library code they pull in, "
          "module = engine + lib + binding)")
    print(f"ops compiled for {args.model}: {', '.join(builds['ops'].ops)}")
    for key, fw in builds.items():
        files = sorted(((v, k) for k, v in fw.sizes.by_file.items() if "/cmodule/engine/" in k), reverse=True)
        print(f"largest engine files ({key}): " + ", ".join(
            f"{k.split('/cmodule/engine/')[1]} {v}" for v, k in files[:args.top]))
    print(f"firmware flash: all ops {builds['all'].sizes.flash}, ops-from {builds['ops'].sizes.flash} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
