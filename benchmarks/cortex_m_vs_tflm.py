"""The engine against TensorFlow Lite Micro on an emulated Cortex-M4F (and RV32), same compiler.

    python benchmarks/cortex_m_vs_tflm.py --tflm ~/src/tflite-micro --cmsis-nn ~/src/CMSIS-NN \\
        --flatbuffers ~/src/flatbuffers --gemmlowp ~/src/gemmlowp --ruy ~/src/ruy

Builds three bare-metal harnesses from source with one arm-none-eabi-gcc and one set of flags
(-Os -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16, -ffunction-sections, --gc-sections):
the microformer engine (cmodule/engine), TFLM with its reference kernels, and TFLM with ARM's
CMSIS-NN kernels (TFLM's kernels/cmsis_nn specializations plus CMSIS-NN's sources), each with
the same C main (benchmarks/cmp). Every model runs on QEMU mps2-an386 with -icount shift=0
(one ELF per library, the model and its inputs loaded next to it by qemu's loader device);
the harness counts instructions for the model load and for every invoke, and prints the
outputs, which must be byte-identical across the three libraries and the host's _uformer.

With riscv64-unknown-elf-gcc and picolibc (`make firmware-deps`), the engine and TFLM's
reference kernels are also built for rv32imc (portable C) and run on qemu-system-riscv32
-M virt, where minstret counts instructions exactly.

--m55 adds the engine alone on a Cortex-M55 (qemu mps3-an547), built with and without
Helium (-mcpu=cortex-m55 vs -mcpu=cortex-m55+nomve, all else equal): instructions per
invoke of both and their ratio, outputs byte-identical to the host's. `--m55 only` runs
just that, without TFLM checkouts:

    python benchmarks/cortex_m_vs_tflm.py --m55 only

Nothing from the checkouts is copied into this repository: objects and ELFs go to --build
(default out/bench/cortex_m_vs_tflm). The TFLM checkout's own third-party pins say which
flatbuffers/gemmlowp/ruy/CMSIS-NN versions fit it (tensorflow/lite/micro/tools/make/
flatbuffers_download.sh, third_party_downloads.inc, ext_libs/cmsis_nn_download.sh).
"""
import argparse
import concurrent.futures
import dataclasses
import hashlib
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
CMP = ROOT / "benchmarks" / "cmp"
ENGINE = ROOT / "cmodule" / "engine"
sys.path.insert(0, str(ROOT / "tests" / "engine"))
sys.path.insert(0, str(ROOT / "tests" / "firmware"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class CompareError(Exception):
    """A problem the user can fix (missing checkout, tool, failed build or run): one line."""


# The 15 models: name -> (class, zoo builder, kwargs). Transformers span 1-3 layers and
# sequence 16-128; hybrids put Conv1D/depthwise front ends before a transformer block.
MODELS = {
    "tf_l1_d16_s16": ("transformer", "transformer", dict(seq=16, d_model=16, heads=1, layers=1, ffn=32)),
    "tf_l2_d32_s16": ("transformer", "transformer", dict(seq=16, d_model=32, heads=2, layers=2, ffn=64)),
    "tf_l3_d48_s32": ("transformer", "transformer", dict(seq=32, d_model=48, heads=6, layers=3, ffn=96)),
    "tf_l2_d32_s64": ("transformer", "transformer", dict(seq=64, d_model=32, heads=4, layers=2, ffn=64)),
    "tf_l2_d24_s96": ("transformer", "transformer", dict(seq=96, d_model=24, heads=2, layers=2, ffn=48)),
    "tf_l1_d64_s128": ("transformer", "transformer", dict(seq=128, d_model=64, heads=2, layers=1, ffn=128)),
    "tf_l3_d32_s128": ("transformer", "transformer", dict(seq=128, d_model=32, heads=2, layers=3, ffn=64)),
    "hybrid_s32_d16": ("hybrid", "hybrid", dict(seq=32, channels=3, d_model=16, heads=1)),
    "hybrid_s64_d24": ("hybrid", "hybrid", dict(seq=64, d_model=24, heads=2)),
    "hybrid_s128_d32": ("hybrid", "hybrid", dict(seq=128, d_model=32, heads=2)),
    "cnn_16x16x2": ("cnn", "cnn", dict(h=16, w=16, c=2, classes=5)),
    "cnn_24x24x3": ("cnn", "cnn", dict(h=24, w=24, c=3, classes=4)),
    "cnn_32x32x1": ("cnn", "cnn", dict(h=32, w=32, c=1, classes=10)),
    "mlp_20": ("mlp", "mlp", dict(features=20, classes=3)),
    "mlp_64": ("mlp", "mlp", dict(features=64, classes=8)),
}

# Same flags for every library on a target (TFLM's own makefile would use -O2 for kernels;
# here everything is -Os, what the firmware builds use). NDEBUG as TFLM's release_with_logs.
def _arm_link(ld):
    return ["--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles", f"-L{CMP}", f"-T{CMP / ld}"]


ARM = dict(
    name="cortex-m4",
    prefix="arm-none-eabi-",
    arch=["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    link=_arm_link("mps2_an386.ld"),
    port="port_arm.c",
)
# The engine alone on the Cortex-M55 (mps3-an547), built twice with the same flags but for
# Helium: -mcpu=cortex-m55 (integer and float MVE: the engine's k_mve.h kernels) and
# -mcpu=cortex-m55+nomve (the same core without MVE: its ARMv7E-M DSP kernels).
M55 = dict(ARM, name="cortex-m55", arch=["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-DBENCH_MPS3_AN547"],
           link=_arm_link("mps3_an547.ld"))
M55_NOMVE = dict(M55, name="cortex-m55+nomve", arch=["-mcpu=cortex-m55+nomve"] + M55["arch"][1:])
RISCV = dict(
    name="rv32imc",
    prefix="riscv64-unknown-elf-",
    # picolibc keeps errno in thread-local storage, addressed from tp (set up by its crt0).
    arch=["-march=rv32imc", "-mabi=ilp32", "-ftls-model=local-exec"],
    c_only=["--specs=picolibc.specs"],
    link=["--specs=picolibc.specs", "-Wl,--defsym=__flash=0x80000000", "-Wl,--defsym=__flash_size=0x1000000",
          "-Wl,--defsym=__ram=0x81000000", "-Wl,--defsym=__ram_size=0x1000000",
          "-Wl,--defsym=__stack_size=0x10000"],
    port="port_riscv.c",
)
# The host profile (--profile MODEL --on host): the engine built natively, -O2 after the
# common -Os as the CPython _uformer (the simulator) is built; timed in nanoseconds.
HOST = dict(name="host", prefix="", arch=["-O2"], link=[], port="port_host.c")
COMMON = ["-Os", "-ffunction-sections", "-fdata-sections", "-fno-unwind-tables",
          "-fno-asynchronous-unwind-tables", "-DNDEBUG"]
CXX = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"]
TFLM_DEFS = ["-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DFLATBUFFERS_LOCALE_INDEPENDENT=0"]

QEMU = {
    "cortex-m4": lambda elf, blob: [
        "qemu-system-arm", "-machine", "mps2-an386", "-nographic", "-monitor", "none",
        "-serial", "none", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
        "-kernel", str(elf), "-device", f"loader,file={blob},addr=0x21000000,force-raw=on"],
    "rv32imc": lambda elf, blob: [
        "qemu-system-riscv32", "-machine", "virt", "-m", "128M", "-bios", "none", "-nographic",
        "-monitor", "none", "-serial", "stdio", "-icount", "shift=0",
        "-kernel", str(elf), "-device", f"loader,file={blob},addr=0x82000000,force-raw=on"],
}
for _t in (M55, M55_NOMVE):
    QEMU[_t["name"]] = lambda elf, blob: [
        "qemu-system-arm", "-machine", "mps3-an547", "-nographic", "-monitor", "none",
        "-serial", "none", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
        "-kernel", str(elf), "-device", f"loader,file={blob},addr=0x60000000,force-raw=on"]
QEMU["host"] = lambda elf, blob: [str(elf)]
BLOB_MAX = {"cortex-m4": 16 << 20, "rv32imc": 64 << 20, "cortex-m55": 16 << 20, "cortex-m55+nomve": 16 << 20}


# ---------------------------------------------------------------------------- sources

@dataclasses.dataclass
class Checkouts:
    tflm: pathlib.Path
    cmsis_nn: pathlib.Path
    flatbuffers: pathlib.Path
    gemmlowp: pathlib.Path
    ruy: pathlib.Path

    def check(self):
        need = {
            "--tflm": (self.tflm, "tensorflow/lite/micro/micro_interpreter.h"),
            "--cmsis-nn": (self.cmsis_nn, "Include/arm_nnfunctions.h"),
            "--flatbuffers": (self.flatbuffers, "include/flatbuffers/flatbuffers.h"),
            "--gemmlowp": (self.gemmlowp, "fixedpoint/fixedpoint.h"),
            "--ruy": (self.ruy, "ruy/profiler/instrumentation.h"),
        }
        for opt, (root, rel) in need.items():
            if not (root / rel).is_file():
                raise CompareError(f"{opt} {root}: no {rel} there; pass the root of a checkout")
        self._check_flatbuffers_version()

    def _check_flatbuffers_version(self):
        schema = (self.tflm / "tensorflow/lite/schema/schema_generated.h").read_text()
        want = re.search(r"FLATBUFFERS_VERSION_MAJOR == (\d+) &&\s*FLATBUFFERS_VERSION_MINOR == (\d+) &&"
                         r"\s*FLATBUFFERS_VERSION_REVISION == (\d+)", schema)
        base = (self.flatbuffers / "include/flatbuffers/base.h").read_text()
        have = [re.search(rf"#define FLATBUFFERS_VERSION_{k} (\d+)", base) for k in ("MAJOR", "MINOR", "REVISION")]
        if want and all(have):
            w = ".".join(want.groups())
            h = ".".join(m.group(1) for m in have)
            if w != h:
                raise CompareError(f"--flatbuffers {self.flatbuffers} is version {h}; this TFLM's schema needs "
                                   f"{w} (git checkout v{w} there)")


# The TFLM kernel files (stems in tensorflow/lite/micro/kernels, each with its X_common.cc
# when there is one) implementing the ops the harness registers: the 28 ops microformer has
# that TFLM also has (all but GELU; benchmarks/cmp/lib_tflm.cc). Kernel files of other ops
# could not end up in the linked image, so they are not compiled.
TFLM_KERNELS = (
    "activations", "add", "batch_matmul", "concatenation", "conv", "depthwise_conv", "dequantize",
    "elementwise", "expand_dims", "fully_connected", "hard_swish", "logistic", "mul", "neg", "pad",
    "pooling", "quantize", "reduce", "reshape", "softmax", "squared_difference", "squeeze",
    "strided_slice", "sub", "tanh", "transpose",
    "kernel_util", "micro_tensor_utils",  # helpers every kernel uses
)


def tflm_sources(co, cmsis):
    """(core sources, kernel sources) of the TFLM library as its makefile lists them
    (tools/make/sources.inc; kernels: those of TFLM_KERNELS), with kernels/cmsis_nn/X.cc
    replacing kernels/X.cc when cmsis."""
    t = co.tflm
    micro = t / "tensorflow/lite/micro"
    core = []
    for d in ("", "arena_allocator", "memory_planner", "tflite_bridge"):
        core += sorted(p for p in (micro / d).glob("*.cc")
                       if not p.name.endswith("_test.cc") and p.name not in ("debug_log.cc",))
    # TFLite sources shared with TFLM: everything under tensorflow/ except lite/micro and
    # lite/experimental (and array.cc, excluded with TF_LITE_STATIC_MEMORY).
    for p in sorted((t / "tensorflow").rglob("*")):
        rel = p.relative_to(t).as_posix()
        if p.suffix in (".cc", ".c") and not rel.startswith(("tensorflow/lite/micro/", "tensorflow/lite/experimental/")) \
                and rel != "tensorflow/lite/array.cc":
            core.append(p)
    # Bare-metal logging: the cortex_m_generic DebugLog with a callback (the harness's).
    core.append(micro / "cortex_m_generic/debug_log.cc")
    inc = (micro / "tools/make/sources.inc").read_text()
    block = re.search(r"^MICROLITE_CC_KERNEL_SRCS := \\\n(.*?)\n\n", inc, re.S | re.M)
    if block is None:
        raise CompareError(f"{micro / 'tools/make/sources.inc'}: no MICROLITE_CC_KERNEL_SRCS list "
                           f"(a TFLM checkout of another layout?)")
    kernels = []
    for line in block.group(1).splitlines():
        rel = line.strip().rstrip("\\").strip().replace("$(TENSORFLOW_ROOT)", "")
        if not rel:
            continue
        p = t / rel
        if p.stem.removesuffix("_common") not in TFLM_KERNELS:
            continue
        if cmsis and (p.parent / "cmsis_nn" / p.name).is_file():
            p = p.parent / "cmsis_nn" / p.name
        kernels.append(p)
    return core, kernels


def cmsis_nn_sources(co):
    # int8/int16 kernels only, as TFLM's cmsis_nn.inc with ARM_NN_ENABLE_F16/F32=0.
    return sorted(p for p in (co.cmsis_nn / "Source").rglob("*.c")
                  if not p.name.endswith(("_f16.c", "_f32.c")) and p.name != "arm_nntables_flt.c")


# ---------------------------------------------------------------------------- building

class Builder:
    """Compiles sources into objects keyed by (source, flags), in parallel, skipping up to
    date ones; archives and links with the target's toolchain."""

    def __init__(self, target, out, jobs):
        self.t = target
        self.out = out
        self.jobs = jobs
        for tool in ("gcc", "g++", "ar"):
            exe = self.t["prefix"] + tool
            if shutil.which(exe) is None:
                raise CompareError(f"{exe} is not installed (Debian/Ubuntu: `make firmware-deps`)")
        self.cxx_includes = self._cxx_includes()

    def _search_dirs(self, cmd):
        r = subprocess.run(cmd + ["-E", "-Wp,-v", "-"], input="", capture_output=True, text=True)
        text = r.stderr.split("#include <...> search starts here:", 1)[-1].split("End of search list.")[0]
        return [d.strip() for d in text.splitlines() if d.strip()]

    def _cxx_includes(self):
        """Flags giving C++ sources their standard headers. Debian's riscv64-unknown-elf-gcc
        comes without libstdc++; TFLM only uses header templates of it (cstdint, limits,
        algorithm, cmath, type_traits; no library code is linked), so there the headers of
        libstdc++-arm-none-eabi-newlib (configured for a 32-bit newlib bare-metal target)
        are put in front of picolibc's C headers."""
        gxx = [self.tool("g++")] + self.t["arch"] + self.t.get("c_only", [])
        probe = subprocess.run(gxx + ["-x", "c++", "-fsyntax-only", "-"], input="#include <cstdint>\n",
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return list(self.t.get("c_only", []))
        arm = shutil.which("arm-none-eabi-g++")
        if arm is None:
            raise CompareError(f"{self.tool('g++')} has no C++ standard headers and arm-none-eabi-g++ "
                               f"(whose libstdc++ headers would do) is not installed")
        cxx_dirs = [d for d in self._search_dirs([arm, "-mcpu=cortex-m3", "-mthumb", "-x", "c++"])
                    if "c++" in d]
        c_dirs = self._search_dirs([self.tool("gcc")] + self.t["arch"] + self.t.get("c_only", []) + ["-x", "c"])
        if not cxx_dirs:
            raise CompareError("arm-none-eabi-g++ lists no libstdc++ header directory "
                               "(apt-get install libstdc++-arm-none-eabi-newlib)")
        return ["-nostdinc"] + [f"-isystem{d}" for d in cxx_dirs + c_dirs]

    def tool(self, name):
        return self.t["prefix"] + name

    def compile(self, sources, flags, label):
        jobs = []
        for src in sources:
            cxx = src.suffix == ".cc"
            cmd_flags = (self.t["arch"] + COMMON + (CXX + self.cxx_includes if cxx else ["-std=c99"] + self.t.get("c_only", []))
                         + flags)
            key = hashlib.sha256((str(src) + "\0" + "\0".join(cmd_flags)).encode()).hexdigest()[:12]
            obj = self.out / "obj" / f"{src.stem}-{key}.o"
            jobs.append((src, obj, [self.tool("g++" if cxx else "gcc")] + cmd_flags + ["-c", str(src), "-o", str(obj)]))
        (self.out / "obj").mkdir(parents=True, exist_ok=True)
        todo = [j for j in jobs if not j[1].exists() or j[1].stat().st_mtime < j[0].stat().st_mtime
                or str(j[0]).startswith(str(ROOT))]
        if todo:
            print(f"  {self.t['name']}: compiling {len(todo)} of {len(jobs)} sources ({label})", file=sys.stderr)

        def run(job):
            src, obj, cmd = job
            r = subprocess.run(["nice", "-n", "10"] + cmd, capture_output=True, text=True)
            if r.returncode != 0:
                err = (r.stderr.strip().splitlines() or ["(no message)"])
                first = next((ln for ln in err if "error" in ln), err[0])
                raise CompareError(f"compiling {src} for {self.t['name']} failed: {first}")
            return obj

        with concurrent.futures.ThreadPoolExecutor(self.jobs) as ex:
            list(ex.map(run, todo))
        return [j[1] for j in jobs]

    def archive(self, objs, name):
        lib = self.out / name
        if lib.exists():
            lib.unlink()
        subprocess.run([self.tool("ar"), "rcs", str(lib)] + [str(o) for o in objs], check=True)
        return lib

    def link(self, objs, libs, name):
        elf = self.out / f"{name}.elf"
        mapf = self.out / f"{name}.map"
        cmd = ([self.tool("gcc")] + self.t["arch"] + COMMON + self.t["link"]
               + ["-Wl,--gc-sections", f"-Wl,-Map={mapf}", "-o", str(elf)]
               + [str(o) for o in objs] + [str(lib) for lib in libs] + ["-lm"])
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            err = r.stderr.strip().splitlines() or ["(no message)"]
            first = next((ln for ln in err if "undefined" in ln or "error" in ln), err[0])
            raise CompareError(f"linking {name} for {self.t['name']} failed: {first}")
        return elf, mapf


@dataclasses.dataclass
class Harness:
    name: str           # engine / tflm-ref / tflm-cmsis
    target: str         # cortex-m4 / rv32imc
    elf: pathlib.Path
    mapfile: pathlib.Path
    lib_files: tuple    # object/archive basenames whose code counts as the library's


def build_all(co, target, out, jobs, cmsis, engine=ENGINE):
    b = Builder(target, out, jobs)
    harness = [CMP / "main.c", CMP / target["port"]]
    inc_cmp = [f"-I{CMP}"]
    res = []

    eng = b.compile([engine / "unity" / "mf_unity.c"], [f"-I{engine}"], "engine")
    glue = b.compile(harness + [CMP / "lib_engine.c"], inc_cmp + [f"-I{engine}"], "harness")
    elf, mapf = b.link(glue + eng, [], "engine")
    res.append(Harness("engine", target["name"], elf, mapf, tuple(o.name for o in eng)))

    if co is None:
        return res
    tinc = [f"-I{co.tflm}", f"-I{co.flatbuffers / 'include'}", f"-I{co.gemmlowp}", f"-I{co.ruy}"]
    core, kernels = tflm_sources(co, cmsis=False)
    core_objs = b.compile(core, TFLM_DEFS + tinc, "TFLM core")
    ref_kern = b.compile(kernels, TFLM_DEFS + tinc, "TFLM reference kernels")
    lib_ref = b.archive(core_objs + ref_kern, "libtflm_ref.a")
    tglue = b.compile(harness + [CMP / "lib_tflm.cc"], TFLM_DEFS + tinc + inc_cmp, "harness")
    elf, mapf = b.link(tglue, [lib_ref], "tflm-ref")
    res.append(Harness("tflm-ref", target["name"], elf, mapf, (lib_ref.name,)))
    if not cmsis:
        return res

    ninc = [f"-I{co.cmsis_nn}", f"-I{co.cmsis_nn / 'Include'}"]
    ndefs = ["-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0"]
    _, ckernels = tflm_sources(co, cmsis=True)
    cm_kern = b.compile(ckernels, TFLM_DEFS + ndefs + tinc + ninc, "TFLM CMSIS-NN kernels")
    nn = b.compile(cmsis_nn_sources(co), ndefs + ninc, "CMSIS-NN")
    lib_cm = b.archive(core_objs + cm_kern, "libtflm_cmsis.a")
    lib_nn = b.archive(nn, "libcmsis_nn.a")
    cglue = b.compile(harness + [CMP / "lib_tflm.cc"], TFLM_DEFS + ndefs + tinc + ninc + inc_cmp, "harness")
    elf, mapf = b.link(cglue, [lib_cm, lib_nn], "tflm-cmsis")
    res.append(Harness("tflm-cmsis", target["name"], elf, mapf, (lib_cm.name, lib_nn.name)))
    return res


def build_profile(target, out, jobs, engine=ENGINE):
    """The engine harness with per-node instruction counts (lib_engine.c, BENCH_PROFILE)."""
    b = Builder(target, out, jobs)
    eng = b.compile([engine / "unity" / "mf_unity.c"], [f"-I{engine}"], "engine")
    glue = b.compile([CMP / "main.c", CMP / target["port"], CMP / "lib_engine.c"],
                     [f"-I{CMP}", f"-I{engine}", "-DBENCH_PROFILE"], "profiling harness")
    elf, mapf = b.link(glue + eng, [], "engine-profile")
    return Harness("engine", target["name"], elf, mapf, tuple(o.name for o in eng))


def profile(h, name, model, samples, expected, timeout):
    """Prints where one invoke's instructions go, per op type and for the costliest nodes."""
    with tempfile.TemporaryDirectory(prefix="mfprof-") as tmp:
        bp = pathlib.Path(tmp) / "blob.bin"
        bp.write_bytes(blob(model, samples))
        cmd = QEMU[h.target](h.elf, bp)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, env=dict(os.environ, BENCH_BLOB=str(bp)))
    res = Result()
    nodes = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if f and f[0] == "PROF":
            # min over the invokes: exact on the emulated boards, the least disturbed on the host
            i, op, n = int(f[1]), f[2] + ("+fused" if f[3] == "1" else ""), int(f[4])
            nodes[i] = (op, min(n, nodes[i][1]) if i in nodes else n)
        elif f and f[0] == "OUT":
            res.outputs.setdefault(int(f[1]), {})[int(f[2])] = bytes.fromhex(f[3]) if len(f) > 3 else b""
        elif f and f[0] == "ERR":
            raise CompareError(f"profiling {name}: {line[4:]}")
    if not nodes or "END" not in r.stdout:
        raise CompareError(f"profiling {name}: qemu exited {r.returncode} without a profile")
    same = as_rows(res.outputs) == expected
    total = sum(n for _, n in nodes.values())
    per_op = {}
    for op, n in nodes.values():
        c = per_op.setdefault(op, [0, 0])
        c[0] += 1
        c[1] += n
    unit = "ns" if h.target == "host" else "instructions"
    print(f"\n== {name} on {h.target}: {total:,} {unit} in {len(nodes)} nodes that run "
          f"(per node the min over {len(samples)} invokes; outputs {'identical to' if same else 'DIFFER from'} "
          f"host _uformer)")
    print(f"{'op':<28} {'nodes':>5} {unit:>14} {'share':>7}")
    for op, (k, n) in sorted(per_op.items(), key=lambda kv: -kv[1][1]):
        print(f"{op:<28} {k:>5} {n:>14,} {100 * n / total:>6.1f}%")
    print(f"\ncostliest nodes:")
    for i, (op, n) in sorted(nodes.items(), key=lambda kv: -kv[1][1])[:10]:
        print(f"  node {i:>4} {op:<28} {n:>14,} {100 * n / total:>6.1f}%")
    return same


_MAP_LINE = re.compile(r"^ (\.\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def flash_bytes(h):
    """(library code, library total, whole image) bytes placed in flash, from the linker
    map: code is the library's .text input sections; total adds its read-only and
    initialized data. The library's share is what came from its own objects (not libc,
    libgcc, libm or the harness)."""
    code = lib = total = 0
    section = pending = None
    text = h.mapfile.read_text().split("Linker script and memory map", 1)[-1]
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = line.split()[0]
            continue
        if section not in (".text", ".data", ".rodata", ".srodata", ".sdata", ".init_array", ".ARM.exidx"):
            continue
        if re.match(r"^ \.\S+$", line):
            pending = line.strip()  # a long input section name; its address and size follow
            continue
        m = _MAP_LINE.match(line)
        name, pending = (m.group(1) if m else None) or pending, None
        if not m or int(m.group(2), 16) == 0:
            continue
        size = int(m.group(3), 16)
        total += size
        if any(lf in m.group(4) for lf in h.lib_files):
            lib += size
            if (name or "").startswith(".text"):
                code += size
    return code, lib, total


# ---------------------------------------------------------------------------- models and runs

def model_bytes(name):
    """Converted .tflite of MODELS[name], built with tests/engine/zoo.py's builders and
    converter, cached next to zoo's own cache."""
    import zoo

    cls, builder, kwargs = MODELS[name]
    try:
        import tensorflow as tf
        tfv = tf.__version__
    except ImportError:
        raise CompareError("TensorFlow is needed to convert the models (pip install '.[train]')") from None
    key = hashlib.sha256(pathlib.Path(zoo.__file__).read_bytes() + repr((name, builder, sorted(kwargs.items()))).encode()
                         + tfv.encode()).hexdigest()[:16]
    path = zoo.CACHE / f"cmp-{name}-{key}.tflite"
    if path.exists():
        return path.read_bytes()
    data = zoo.convert(getattr(zoo, builder)(**kwargs))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def blob(model, samples):
    """bench_blob_t (benchmarks/cmp/bench.h) + model + packed inputs."""
    sample_len = len(b"".join(samples[0]))
    head = 6 * 4
    model_off = head
    inputs_off = (model_off + len(model) + 15) // 16 * 16
    data = bytearray(inputs_off)
    struct.pack_into("<6I", data, 0, 0x4243464D, model_off, len(model), inputs_off, sample_len, len(samples))
    data[model_off:model_off + len(model)] = model
    for row in samples:
        data += b"".join(row)
    return bytes(data)


@dataclasses.dataclass
class Result:
    init: int = 0
    invokes: list = dataclasses.field(default_factory=list)
    arena: int = 0
    outputs: dict = dataclasses.field(default_factory=dict)   # sample -> {output: bytes}
    error: str = ""

    @property
    def invoke(self):
        return min(self.invokes) if self.invokes else 0


def run(h, blob_path, timeout):
    cmd = QEMU[h.target](h.elf, blob_path)
    if shutil.which(cmd[0]) is None:
        raise CompareError(f"{cmd[0]} is not installed (Debian/Ubuntu: `make firmware-deps`)")
    try:
        # qemu writes semihosting output to stderr, the RISC-V UART to stdout: read both.
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Result(error=f"no END within {timeout} s")
    res = Result()
    ended = False
    for line in r.stdout.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "INIT":
            res.init = int(f[1])
        elif f[0] == "ARENA":
            res.arena = int(f[1])
        elif f[0] == "INVOKE":
            res.invokes.append(int(f[2]))
        elif f[0] == "OUT":
            res.outputs.setdefault(int(f[1]), {})[int(f[2])] = bytes.fromhex(f[3]) if len(f) > 3 else b""
        elif f[0] == "ERR":
            res.error = line[4:]
        elif f[0] == "END":
            ended = True
    if not ended and not res.error:
        tail = r.stdout.strip().splitlines()[-1:] or ["no output"]
        res.error = f"qemu exited {r.returncode} before END: {tail[0]}"
    return res


def as_rows(outputs):
    return [[outputs[s][j] for j in sorted(outputs[s])] for s in sorted(outputs)]


# ---------------------------------------------------------------------------- report

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def span(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}"


def report(names, results, harnesses, expected, target, libs):
    """Prints the per-model table for one target; returns True when every output matched."""
    ok = True
    labels = {"engine": "engine", "tflm-ref": "TFLM-ref", "tflm-cmsis": "CMSIS-NN"}
    print(f"\n== {target}: instructions per invoke (min over samples) and at init (model load)")
    hdr = f"{'model':<16} {'class':<11} " + " ".join(f"{labels[x]:>11}" for x in libs)
    hdr += "".join(f" {'e/' + labels[x]:>10}" for x in libs[1:])
    print(hdr + "  outputs")
    per_class = {}
    for n in names:
        r = results[n]
        cls = MODELS[n][0]
        if any(r[x].error for x in libs):
            print(f"{n:<16} {cls:<11} " + "; ".join(f"{x}: {r[x].error}" for x in libs if r[x].error))
            ok = False
            continue
        rows = {x: as_rows(r[x].outputs) for x in libs}
        same = all(rows[x] == expected[n] for x in libs)
        ok &= same
        verdict = "identical" if same else "DIFFER: " + ",".join(x for x in libs if rows[x] != expected[n])
        line = f"{n:<16} {cls:<11} " + " ".join(f"{r[x].invoke:>11,}" for x in libs)
        line += "".join(f" {ratio(r['engine'].invoke, r[x].invoke):>10}" for x in libs[1:])
        print(line + "  " + verdict)
        for x in libs[1:]:
            per_class.setdefault(cls, {}).setdefault(x, []).append(r["engine"].invoke / r[x].invoke)
            per_class[cls].setdefault("init-" + x, []).append(r["engine"].init / r[x].init)
    print(f"\n{'model':<16} " + " ".join(f"{'init ' + labels[x]:>16}" for x in libs)
          + "".join(f" {'e/' + labels[x]:>10}" for x in libs[1:])
          + " " + " ".join(f"{'arena ' + labels[x]:>16}" for x in libs))
    for n in names:
        r = results[n]
        if any(r[x].error for x in libs):
            continue
        print(f"{n:<16} " + " ".join(f"{r[x].init:>16,}" for x in libs)
              + "".join(f" {ratio(r['engine'].init, r[x].init):>10}" for x in libs[1:])
              + " " + " ".join(f"{r[x].arena:>16,}" for x in libs))
    if len(libs) > 1:
        print(f"\n{'class':<12}" + "".join(f" {'invoke e/' + labels[x]:>20}" for x in libs[1:])
              + "".join(f" {'init e/' + labels[x]:>18}" for x in libs[1:]))
        for cls, d in per_class.items():
            print(f"{cls:<12}" + "".join(f" {span(d[x]):>20}" for x in libs[1:])
                  + "".join(f" {span(d['init-' + x]):>18}" for x in libs[1:]))
    print(f"\nflash (code + read-only + initialized data in the linked -Os image, every op the "
          f"engine has registered/compiled in):")
    for h in harnesses:
        code, lib, total = flash_bytes(h)
        print(f"  {labels[h.name]:<9} library objects {lib:>9,} bytes ({lib / 1024:.1f} KB; code {code / 1024:.1f} KB); "
              f"whole harness image {total:>9,} bytes")
    return ok


def run_all(names, models, samples, harnesses, target, where, jobs, timeout):
    """Every model's blob through every harness ({key: Harness}) on the emulator;
    -> {model: {key: result}}. `target` names the BLOB_MAX entry, `where` the board."""
    results = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix="mfcmp-") as tmp:
        work = []
        for n in names:
            data = blob(models[n], samples[n])
            if len(data) > BLOB_MAX[target]:
                raise CompareError(f"model {n}: blob of {len(data)} bytes exceeds the "
                                   f"{BLOB_MAX[target]} bytes the {target} harness maps")
            bp = pathlib.Path(tmp) / f"{n}.bin"
            bp.write_bytes(data)
            work += [(n, key, h, bp) for key, h in harnesses.items()]
        print(f"running {len(work)} qemu runs on {where} ...", file=sys.stderr)
        with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
            futs = {ex.submit(run, h, bp, timeout): (n, key) for n, key, h, bp in work}
            for f in concurrent.futures.as_completed(futs):
                n, key = futs[f]
                results[n][key] = f.result()
    return results


def m55_section(names, models, samples, expected, build, jobs, timeout, engine):
    """The engine on the Cortex-M55 with and without Helium; prints the per-model table and
    returns True when every output matched the host's."""
    builds = {}
    for target in (M55_NOMVE, M55):
        out = build / target["name"]
        print(f"building the engine for {target['name']} in {out} ...", file=sys.stderr)
        builds[target["name"]] = build_all(None, target, out, jobs, False, engine)[0]
    results = run_all(names, models, samples, builds, M55["name"], "mps3-an547", jobs, timeout)
    no, mve = M55_NOMVE["name"], M55["name"]
    print(f"\n== cortex-m55 (mps3-an547), engine only: instructions per invoke (min over samples) "
          f"without Helium ({' '.join(M55_NOMVE['arch'][:1])}) and with it ({' '.join(M55['arch'][:1])})")
    print(f"{'model':<16} {'class':<11} {'no MVE':>12} {'MVE':>12} {'MVE/no':>7}  outputs")
    ok = True
    per_class = {}
    for n in names:
        r = results[n]
        cls = MODELS[n][0]
        if r[no].error or r[mve].error:
            print(f"{n:<16} {cls:<11} " + "; ".join(f"{t}: {r[t].error}" for t in (no, mve) if r[t].error))
            ok = False
            continue
        same = as_rows(r[no].outputs) == expected[n] and as_rows(r[mve].outputs) == expected[n]
        ok &= same
        per_class.setdefault(cls, []).append(r[mve].invoke / r[no].invoke)
        print(f"{n:<16} {cls:<11} {r[no].invoke:>12,} {r[mve].invoke:>12,} {ratio(r[mve].invoke, r[no].invoke):>7}  "
              + ("identical" if same else "DIFFER"))
    print(f"\n{'class':<12} {'MVE/no':>10}")
    for cls, v in per_class.items():
        print(f"{cls:<12} {span(v):>10}")
    for t, h in builds.items():
        code, lib, _ = flash_bytes(h)
        print(f"  engine flash {t}: {lib:,} bytes (code {code / 1024:.1f} KB)")
    return ok


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tflm", help="tensorflow/tflite-micro checkout")
    p.add_argument("--cmsis-nn", help="ARM-software/CMSIS-NN checkout")
    p.add_argument("--flatbuffers", help="google/flatbuffers checkout (default: TFLM's downloads dir)")
    p.add_argument("--gemmlowp", help="google/gemmlowp checkout (default: TFLM's downloads dir)")
    p.add_argument("--ruy", help="google/ruy checkout (default: TFLM's downloads dir)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated names (default: all 15)")
    p.add_argument("--samples", type=int, default=2, help="random input samples per model")
    p.add_argument("--riscv", choices=("auto", "yes", "no"), default="auto",
                   help="also the rv32imc comparison (auto: when riscv64-unknown-elf-gcc is installed)")
    p.add_argument("--m55", choices=("auto", "yes", "no", "only"), default="auto",
                   help="also the engine on the Cortex-M55 with and without Helium (auto: when "
                        "arm-none-eabi-gcc knows cortex-m55); only: just that, no TFLM checkouts needed")
    p.add_argument("--build", default=str(ROOT / "out" / "bench" / "cortex_m_vs_tflm"))
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--timeout", type=int, default=900, help="seconds per qemu run")
    p.add_argument("--on", choices=("cortex-m4", "cortex-m55", "cortex-m55+nomve", "host"), default="cortex-m4",
                   help="with --profile: an emulated Cortex-M (instructions) or this machine (nanoseconds, "
                        "the engine built natively as the simulator's _uformer is)")
    p.add_argument("--engine-rev", metavar="REV",
                   help="build cmodule/engine as committed at REV (git archive) instead of the working tree")
    p.add_argument("--profile", metavar="MODEL",
                   help="instead of the comparison: the engine's instructions per op on the Cortex-M4 for "
                        "MODEL (a name above or a .tflite file); needs no TFLM checkout")
    args = p.parse_args(argv)
    if args.profile:
        return main_profile(args)
    if args.m55 == "only":
        return main_m55(args)
    if not args.tflm or not args.cmsis_nn:
        raise CompareError("--tflm DIR and --cmsis-nn DIR are needed for the comparison")

    tflm = pathlib.Path(args.tflm).expanduser().resolve()
    dl = tflm / "tensorflow/lite/micro/tools/make/downloads"
    co = Checkouts(
        tflm=tflm,
        cmsis_nn=pathlib.Path(args.cmsis_nn).expanduser().resolve(),
        flatbuffers=pathlib.Path(args.flatbuffers or dl / "flatbuffers").expanduser().resolve(),
        gemmlowp=pathlib.Path(args.gemmlowp or dl / "gemmlowp").expanduser().resolve(),
        ruy=pathlib.Path(args.ruy or dl / "ruy").expanduser().resolve(),
    )
    co.check()
    names = _model_args(args)
    build = pathlib.Path(args.build).resolve()
    engine, engine_state = engine_sources(args.engine_rev, build)
    targets = [(ARM, True)]
    if args.riscv == "yes" or (args.riscv == "auto" and shutil.which(RISCV["prefix"] + "gcc")):
        targets.append((RISCV, False))

    models, samples, expected = _references(names, args.samples)

    ok = True
    print(f"cortex_m_vs_tflm: {len(names)} models, {args.samples} samples each; qemu -icount shift=0")
    print(f"  compilers: {_version(ARM['prefix'] + 'gcc')}"
          + (f"; {_version(RISCV['prefix'] + 'gcc')}" if len(targets) > 1 else ""))
    print(f"  flags: {' '.join(COMMON)} -Wl,--gc-sections; "
          f"Arm {' '.join(ARM['arch'])}; RISC-V {' '.join(RISCV['arch'][:2])}")
    print(f"  checkouts: tflite-micro {_rev(co.tflm)}, CMSIS-NN {_rev(co.cmsis_nn)}, "
          f"flatbuffers {_rev(co.flatbuffers)}")
    print(f"  engine: cmodule/engine, {engine_state}")
    for target, cmsis in targets:
        out = build / target["name"]
        print(f"building for {target['name']} in {out} ...", file=sys.stderr)
        harnesses = build_all(co, target, out, args.jobs, cmsis, engine)
        libs = [h.name for h in harnesses]
        results = run_all(names, models, samples, {h.name: h for h in harnesses}, target["name"],
                          target["name"], args.jobs, args.timeout)
        ok &= report(names, results, harnesses, expected, target["name"], libs)
    if args.m55 == "yes" or (args.m55 == "auto" and _knows_m55()):
        ok &= m55_section(names, models, samples, expected, build, args.jobs, args.timeout, engine)
    print("\nall outputs identical (every library on every target, byte for byte, to the host _uformer's)" if ok
          else "\nSOME OUTPUTS DIFFER OR RUNS FAILED (see above)")
    return 0 if ok else 1


def _references(names, n_samples):
    """({name: model bytes}, {name: random int8 samples}, {name: host _uformer outputs})."""
    import _uformer
    import fwutil

    print("models and reference outputs (host _uformer) ...", file=sys.stderr)
    models, samples, expected = {}, {}, {}
    for n in names:
        models[n] = model_bytes(n)
        samples[n] = fwutil.inputs(_uformer, models[n], samples=n_samples)
        expected[n] = fwutil.reference(_uformer, models[n], samples[n])
    return models, samples, expected


def _knows_m55():
    """True when arm-none-eabi-gcc compiles for -mcpu=cortex-m55 (gcc 10+)."""
    try:
        r = subprocess.run([ARM["prefix"] + "gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-x", "c",
                            "-fsyntax-only", "-"], input="", capture_output=True, text=True)
    except OSError:
        return False
    return r.returncode == 0


def _model_args(args):
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise CompareError(f"unknown model {unknown[0]}; models: {', '.join(MODELS)}")
    if args.samples < 1:
        raise CompareError(f"--samples {args.samples}: need at least 1")
    return names


def main_m55(args):
    """--m55 only: the Cortex-M55 section alone."""
    if not _knows_m55():
        raise CompareError(f"{ARM['prefix']}gcc does not compile for -mcpu=cortex-m55 (gcc 10 or later needed)")
    names = _model_args(args)
    build = pathlib.Path(args.build).resolve()
    engine, engine_state = engine_sources(args.engine_rev, build)
    models, samples, expected = _references(names, args.samples)
    print(f"cortex_m_vs_tflm --m55 only: {len(names)} models, {args.samples} samples each; qemu -icount shift=0")
    print(f"  compiler: {_version(ARM['prefix'] + 'gcc')}; flags: {' '.join(COMMON)} -Wl,--gc-sections; "
          f"{' '.join(M55['arch'])}")
    print(f"  engine: cmodule/engine, {engine_state}")
    ok = m55_section(names, models, samples, expected, build, args.jobs, args.timeout, engine)
    print("\nall outputs identical (with and without Helium, byte for byte, to the host _uformer's)" if ok
          else "\nSOME OUTPUTS DIFFER OR RUNS FAILED (see above)")
    return 0 if ok else 1


def main_profile(args):
    import _uformer
    import fwutil

    if args.profile in MODELS:
        name, model = args.profile, model_bytes(args.profile)
    else:
        path = pathlib.Path(args.profile)
        if not path.is_file():
            raise CompareError(f"--profile {args.profile}: neither a model name ({', '.join(MODELS)}) nor a file")
        name, model = path.name, path.read_bytes()
    try:
        samples = fwutil.inputs(_uformer, model, samples=args.samples)
    except (ValueError, NotImplementedError, MemoryError) as e:
        raise CompareError(f"--profile {args.profile}: the engine cannot load it: {e}") from None
    expected = fwutil.reference(_uformer, model, samples)
    build = pathlib.Path(args.build).resolve()
    engine, engine_state = engine_sources(args.engine_rev, build)
    print(f"engine: cmodule/engine, {engine_state}")
    target = {"host": HOST, "cortex-m4": ARM, M55["name"]: M55, M55_NOMVE["name"]: M55_NOMVE}[args.on]
    h = build_profile(target, build / target["name"], args.jobs, engine)
    return 0 if profile(h, name, model, samples, expected, args.timeout) else 1


def engine_sources(rev, build):
    """(cmodule/engine directory to build, description). rev None: the working tree;
    otherwise `git archive rev cmodule/engine` exported under build/engine-<commit>."""
    if rev is None:
        head = _git(ROOT, "rev-parse", "--short=12", "HEAD")
        dirty = _git(ROOT, "status", "--porcelain", "--", "cmodule/engine")
        state = f"working tree at {head}" + (" with uncommitted changes in cmodule/engine" if dirty else "")
        return ENGINE, state
    commit = _git(ROOT, "rev-parse", "--verify", "--short=12", f"{rev}^{{commit}}")
    if not commit:
        raise CompareError(f"--engine-rev {rev}: not a commit of {ROOT}")
    dest = build / f"engine-{commit}"
    if not (dest / "cmodule/engine/unity/mf_unity.c").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "cmodule/engine"], capture_output=True)
        if arch.returncode != 0:
            raise CompareError(f"--engine-rev {rev}: git archive failed: {arch.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(dest)], input=arch.stdout, check=True)
    return dest / "cmodule/engine", f"commit {commit}"


def _git(path, *args):
    try:
        r = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True)
    except OSError:
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def _version(exe):
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return f"{exe} (version unknown)"


def _rev(path):
    try:
        r = subprocess.run(["git", "-C", str(path), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    except OSError:
        return "(no git)"
    return r.stdout.strip() if r.returncode == 0 else "(not a git checkout)"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CompareError as e:
        print(f"cortex_m_vs_tflm: {e}", file=sys.stderr)
        sys.exit(1)
