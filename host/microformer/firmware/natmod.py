"""`microformer firmware natmod`: _uformer as a dynamic native module for stock firmware.

MicroPython loads native machine code from .mpy files (py/dynruntime.mk, tools/mpy_ld.py),
so the engine runs on the firmware a board already has. build() compiles the same engine
and binding as the built-in module (cmodule/natmod/Makefile includes
cmodule/micropython/moduformer.c) for one architecture and lays the result out as

    <out>/<arch>/_uformer.mpy            the engine (import _uformer)
    <out>/<arch>/lib/uformer/*.mpy       the uformer package, compiled with mpy-cross
    <out>/<arch>/natmod.json             what an installer checks before copying:
        {"arch", "version" (of microformer), "mpy_version": read_header() of _uformer.mpy,
         "micropython_version", "ops", "terse_errors", "sizes": {"mpy", "text", "bss", "package"}}

and the build trees in <out>/build/ (mpy-cross, one per arch). The MicroPython checkout
is only read. read_header() parses an .mpy header; loadable() applies MicroPython's own
rule (py/persistentcode.c) to say whether a board whose sys.implementation._mpy is given
can import a file.
"""
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

from . import FirmwareError, boards, driver, opsconfig, source_root

# py/persistentcode.h: MP_NATIVE_ARCH_* in file order.
MPY_ARCHS = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
             "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
MPY_FEATURE_ARCH_FLAGS = 0x40
# The Thumb archs form a ladder: a firmware loads native code of its own arch or any
# lower rung (MPY_FEATURE_ARCH_TEST for ARM in py/persistentcode.h).
THUMB = ("armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp")


@dataclasses.dataclass(frozen=True)
class Arch:
    name: str
    cc: str              # the compiler py/dynruntime.mk invokes
    packages: str        # Debian/Ubuntu packages providing it (and its libm)
    cores: str           # what runs it


# The architectures built and run in tests (tests/firmware/test_natmod_*.py). xtensawin
# (ESP32, ESP32-S3) needs Espressif's xtensa-esp32-elf toolchain, which Debian does not
# package, and there is no emulated board for it here: it is not offered.
ARCHS = {
    "x64": Arch("x64", "x86_64-linux-gnu-gcc", "gcc musl-dev",
                "the unix port on x86-64 Linux"),
    "armv6m": Arch("armv6m", "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi",
                   "Cortex-M0/M0+ (RP2040) and every larger Cortex-M"),
    "armv7m": Arch("armv7m", "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi",
                   "Cortex-M3 and larger"),
    "armv7emsp": Arch("armv7emsp", "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi",
                      "Cortex-M4F, M33 (RP2350, STM32F4/L4, nRF52)"),
    "armv7emdp": Arch("armv7emdp", "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi",
                      "Cortex-M7, M55 with a double-precision FPU (STM32F7/H7)"),
    "rv32imc": Arch("rv32imc", "riscv64-unknown-elf-gcc",
                    "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf",
                    "RV32IMC (ESP32-C3/C6, RP2350 in RISC-V mode)"),
}

NATMOD_FILE = "_uformer.mpy"
MANIFEST = "natmod.json"


def arch(name):
    try:
        return ARCHS[name]
    except KeyError:
        raise FirmwareError(f"unknown natmod arch {name!r}; archs: {', '.join(ARCHS)}") from None


# ---------------------------------------------------------------------------- headers

def decode_features(version, features, small_int_bits=None, arch_flags=0):
    """The fields of an .mpy header (or of sys.implementation._mpy) as a dict."""
    code = (features >> 2) & 0x2F
    return {
        "version": version,
        "sub_version": features & 3,
        "arch": MPY_ARCHS[code] if code < len(MPY_ARCHS) else f"arch#{code}",
        "arch_code": code,
        "arch_flags": arch_flags,
        "small_int_bits": small_int_bits,
    }


def _read_uint(data, pos):
    """MicroPython's variable-length unsigned int (7 bits a byte, high bit = more)."""
    value = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated variable-length integer")
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos


def read_header(path):
    """{"magic" ('M' MicroPython, 'C' CircuitPython), "version", "sub_version", "arch",
    "arch_code", "arch_flags", "small_int_bits"} from an .mpy file (or its bytes);
    FirmwareError when it is not one."""
    if isinstance(path, (bytes, bytearray, memoryview)):
        data, name = bytes(path[:16]), "data"
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(16)
        except OSError as e:
            raise FirmwareError(f"{path}: {e.strerror}") from None
        name = str(path)
    # CircuitPython's .mpy files carry the same header after the magic 'C'.
    if len(data) < 4 or data[0] not in b"MC":
        raise FirmwareError(f"{name} is not an .mpy file (first bytes {data[:4].hex() or 'none'}, "
                            f"expected 'M' (MicroPython) or 'C' (CircuitPython) and a version)")
    flags = 0
    if data[2] & MPY_FEATURE_ARCH_FLAGS:
        try:
            flags, _ = _read_uint(data, 4)
        except ValueError:
            raise FirmwareError(f"{name}: .mpy header announces arch flags but is cut short") from None
    h = decode_features(data[1], data[2] & ~MPY_FEATURE_ARCH_FLAGS, data[3], flags)
    return {"magic": chr(data[0]), **h}


def board_mpy(mpy):
    """sys.implementation._mpy of a board (an int) decoded like a header."""
    return decode_features(mpy & 0xFF, (mpy >> 8) & 0xFF)


def loadable(header, mpy):
    """None when a board whose sys.implementation._mpy is `mpy` can import an .mpy with this
    header (read_header), else the reason in one line. The rule is MicroPython's: same
    version; a file with native code also needs the same sub-version and an arch the
    board runs (its own, or a lower Thumb rung on a Thumb board)."""
    board = board_mpy(mpy)
    if header["version"] != board["version"]:
        return (f".mpy version {header['version']} but the board's MicroPython loads version "
                f"{board['version']}")
    if header["arch_code"] == 0:
        return None
    if header["sub_version"] != board["sub_version"]:
        return (f"native .mpy sub-version {header['sub_version']} but the board's MicroPython "
                f"needs {board['sub_version']} (build the natmod against the board's MicroPython release)")
    a, b = header["arch"], board["arch"]
    if b == "none":
        return f"the board's firmware cannot load native code (it has no arch; the .mpy is {a})"
    ok = a == b or (a in THUMB and b in THUMB and THUMB.index(a) <= THUMB.index(b))
    if not ok:
        return f"the .mpy is for {a} but the board runs {b}"
    return None


# ---------------------------------------------------------------------------- build

def _run(cmd, log, cwd=None, env=None, on_line=None):
    """Runs cmd appending its output to log; FirmwareError with the output's tail."""
    with open(log, "a") as f:
        f.write("$ " + " ".join(str(c) for c in cmd) + "\n")
        f.flush()
        try:
            p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace", cwd=cwd, env=env)
        except FileNotFoundError:
            raise FirmwareError(f"{cmd[0]} is not installed") from None
        out = []
        for line in p.stdout:
            f.write(line)
            out.append(line)
            if on_line is not None:
                on_line(line)
        rc = p.wait()
    if rc != 0:
        raise FirmwareError(f"`{' '.join(str(c) for c in cmd[:4])} ...` failed (exit {rc}); "
                            f"full log: {log}\n" + "".join(out[-30:]).rstrip())
    return "".join(out)


def missing_tools(a):
    """[(tool, packages)] that building arch `a` needs and PATH lacks."""
    a = arch(a) if isinstance(a, str) else a
    missing = [(t, p) for t, p in (("make", "make"), ("gcc", "gcc"), (a.cc, a.packages))
               if shutil.which(t) is None]
    if a.name == "x64" and not pathlib.Path("/usr/lib/x86_64-linux-musl/libc.a").is_file():
        missing.append(("musl libc.a", "musl-dev"))
    if a.cc == "arm-none-eabi-gcc" and shutil.which(a.cc):
        libm = subprocess.run([a.cc, "--print-file-name=libm.a"], capture_output=True, text=True).stdout.strip()
        if libm == "libm.a":  # not found: the compiler without newlib
            missing.append(("newlib's libm.a", "libnewlib-arm-none-eabi"))
    if a.name == "rv32imc" and shutil.which(a.cc):
        specs = subprocess.run([a.cc, "--print-file-name=picolibc.specs"], capture_output=True,
                               text=True).stdout.strip()
        if specs == "picolibc.specs":
            missing.append(("picolibc", "picolibc-riscv64-unknown-elf"))
    for mod, pkg in (("elftools", "pyelftools"), ("ar", "ar")):
        try:
            __import__(mod)
        except ImportError:
            missing.append((f"Python module {mod}", f"pip install {pkg}"))
    return missing


def check(a, micropython_dir):
    """The MicroPython version string, or FirmwareError naming what is missing."""
    a = arch(a)
    d = driver()
    mpy = pathlib.Path(micropython_dir)
    try:
        v = d.micropython_version(mpy)
    except d.BuildError as e:
        raise FirmwareError(str(e)) from None
    for f in ("py/dynruntime.mk", "tools/mpy_ld.py", "mpy-cross/Makefile"):
        if not (mpy / f).is_file():
            raise FirmwareError(f"{mpy} has no {f}: cannot build native modules with it")
    missing = missing_tools(a)
    if missing:
        raise FirmwareError(f"natmod {a.name} needs {', '.join(t for t, _ in missing)}; install: "
                            + "; ".join(sorted({p for _, p in missing}))
                            + " (or `make firmware-deps` in the microformer checkout)")
    return d.version_string(v)


def mpy_cross(micropython_dir, build_dir, log, on_line=None):
    """mpy-cross built from the checkout into build_dir (make rebuilds only what changed)."""
    build_dir = pathlib.Path(build_dir)
    _run(["make", "-C", pathlib.Path(micropython_dir) / "mpy-cross", f"BUILD={build_dir}",
          f"-j{min(2, os.cpu_count() or 1)}"], log, on_line=on_line)
    exe = build_dir / "mpy-cross"
    if not exe.is_file():
        raise FirmwareError(f"mpy-cross build finished but {exe} is missing; log: {log}")
    return exe


def package_sources(root=None):
    """The uformer package's .py files (device/uformer)."""
    pkg = pathlib.Path(root or source_root()) / "device" / "uformer"
    files = sorted(pkg.glob("*.py"))
    if not files:
        raise FirmwareError(f"{pkg} holds no .py files: not a microformer checkout?")
    return files


def _fingerprint(a, mpy_dir, ops_config, terse_errors, root):
    h = hashlib.sha256()
    h.update(f"{a}\0{pathlib.Path(mpy_dir).resolve()}\0{int(terse_errors)}\0{root}\0".encode())
    h.update(ops_config.read_bytes() if ops_config else b"all ops")
    return h.hexdigest()


_LD_SIZE = re.compile(r"^(text|bss) size:\s+(\d+)", re.M)


def build(arch_name, micropython_dir, out, ops_from=None, terse_errors=None, on_line=None):
    """Builds _uformer.mpy and the compiled uformer package for one arch into
    <out>/<arch>/ (layout in the module docstring); returns that directory.
    ops_from: .tflite paths whose ops are the only kernels compiled in (None: all).
    terse_errors: None = the registry's default for a native module (terse)."""
    a = arch(arch_name)
    ops_from = [ops_from] if isinstance(ops_from, (str, os.PathLike)) else list(ops_from or [])
    if terse_errors is None:
        terse_errors = boards.terse_errors_default(ops_from, natmod=True)
    mpy_dir = pathlib.Path(micropython_dir).resolve()
    version = check(a.name, mpy_dir)
    root = source_root()
    out = pathlib.Path(out).resolve()
    dest = out / a.name
    build_root = out / "build"
    build_dir = build_root / a.name
    build_root.mkdir(parents=True, exist_ok=True)
    log = build_root / f"{a.name}.log"
    log.write_text("")

    ops_config = None
    if ops_from:
        ops_config, ops = opsconfig.write(ops_from, build_root / f"ops-{a.name}", root)
    else:
        ops = opsconfig.engine_ops(root)

    # Flags are not make dependencies: a tree built for another op set (or from another
    # checkout, whose objects would stay beside the new ones) starts over.
    stamp = build_dir / ".microformer-config"
    fp = _fingerprint(a.name, mpy_dir, ops_config, terse_errors, root)
    if build_dir.exists() and (not stamp.exists() or stamp.read_text() != fp):
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fp)
    # dynruntime.mk builds in the current directory and lists "Makefile" as a prerequisite
    # of every object: a one-line Makefile here pulls in the real one from the checkout.
    natmod_mk = root / "cmodule" / "natmod" / "Makefile"
    (build_dir / "Makefile").write_text(f"include {natmod_mk}\n")

    cross = mpy_cross(mpy_dir, build_root / "mpy-cross", log, on_line)
    cmd = ["make", "-C", build_dir, f"MPY_DIR={mpy_dir}", f"ARCH={a.name}", f"PYTHON={sys.executable}",
           f"MPY_CROSS={cross}", f"MF_TERSE_ERRORS={1 if terse_errors else 0}"]
    if ops_config is not None:
        cmd.append(f"MF_OPS_CONFIG_DIR={ops_config.parent}")
    text = _run(cmd, log, on_line=on_line)
    built = build_dir / NATMOD_FILE
    if not built.is_file():
        raise FirmwareError(f"the natmod build finished but {built} is missing; log: {log}")
    ld = dict((k, int(v)) for k, v in _LD_SIZE.findall(text))
    if "text" not in ld:
        # make had nothing to relink: the sizes of the previous link are in its log.
        prev = build_dir / ".mpy_ld-sizes.json"
        ld = json.loads(prev.read_text()) if prev.is_file() else {}
    else:
        (build_dir / ".mpy_ld-sizes.json").write_text(json.dumps(ld))

    # The output directory is replaced as a whole, so no file of an older build survives.
    stage = out / f".{a.name}.new"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "lib" / "uformer").mkdir(parents=True)
    shutil.copyfile(built, stage / NATMOD_FILE)
    package = 0
    for src in package_sources(root):
        dst = stage / "lib" / "uformer" / (src.stem + ".mpy")
        _run([cross, f"-march={a.name}", "-s", f"uformer/{src.name}", "-o", dst, src], log)
        package += dst.stat().st_size
    header = read_header(stage / NATMOD_FILE)
    from .. import __version__

    manifest = {
        "arch": a.name,
        "version": __version__,
        "mpy_version": header,
        "micropython_version": version,
        "ops": ops,
        "terse_errors": terse_errors,
        "sizes": {
            "mpy": (stage / NATMOD_FILE).stat().st_size,
            "text": ld.get("text"),
            "bss": ld.get("bss"),
            "package": package,
        },
    }
    (stage / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    stage.rename(dest)
    return dest


def manifest(arch_dir):
    """natmod.json of a built arch directory, as a dict."""
    p = pathlib.Path(arch_dir) / MANIFEST
    try:
        return json.loads(p.read_text())
    except OSError as e:
        raise FirmwareError(f"{p}: {e.strerror} (build it with `microformer firmware natmod`)") from None
    except ValueError as e:
        raise FirmwareError(f"{p} is not valid JSON: {e}") from None


# ---------------------------------------------------------------------------- stock boards

# MicroPython's qemu boards the natmod is tested on (boards.STOCK_EMULATORS runs them), and
# the natmod archs each one loads (its own arch and, on Thumb, the lower rungs tested).
STOCK_BOARDS = {
    "MPS2_AN385": ("armv6m", "armv7m"),          # Cortex-M3
    "MPS2_AN500": ("armv7emdp",),                # Cortex-M7
    "MPS3_AN547": ("armv7emsp", "armv7emdp"),    # Cortex-M55
    "VIRT_RV32": ("rv32imc",),                   # RV32IMAC
}


# Make arguments that let the stock boards build with Debian 12's toolchains, the MicroPython
# source untouched:
STOCK_MAKE_ARGS = {
    # arm-none-eabi-gcc 12 in gnu99 mode sets __FLT_EVAL_METHOD__ to 16 for the Cortex-M55,
    # so newlib's math.h leaves double_t undefined and lib/libm_dbl/log.c does not compile.
    "MPS3_AN547": ("CFLAGS_EXTRA=-fpermitted-flt-eval-methods=c11",),
}


def _stock_make_args(board):
    args = list(STOCK_MAKE_ARGS.get(board, ()))
    if board == "VIRT_RV32":
        # riscv64-unknown-elf-gcc 12 has no multilib for rv32imac_zicsr (the port's -march),
        # so -print-libgcc-file-name names the rv64 libgcc and the link fails: name the
        # rv32imac/ilp32 one (same instructions; Zicsr only matters to the assembler).
        libgcc = subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv32imac", "-mabi=ilp32",
                                 "-print-libgcc-file-name"], capture_output=True, text=True).stdout.strip()
        if libgcc:
            args.append(f"LIBS={libgcc}")
    return args


def stock_firmware(board, micropython_dir, out, on_line=None, mpy_cross_dir=None):
    """MicroPython's own qemu board `board` built from the checkout as it is (no user C
    modules, no board changes) into `out`; returns its firmware.elf. Only the port's
    test-only frozen modules are left out (FROZEN_MANIFEST empty: they need the
    micropython-lib submodule). make rebuilds only what changed. mpy_cross_dir: where
    mpy-cross is built (default out/mpy-cross; share one between boards to build it once)."""
    if board not in STOCK_BOARDS:
        raise FirmwareError(f"unknown stock qemu board {board!r}; boards: {', '.join(STOCK_BOARDS)}")
    mpy_dir = pathlib.Path(micropython_dir).resolve()
    port = mpy_dir / "ports" / "qemu" / "boards" / board
    if not port.is_dir():
        raise FirmwareError(f"{mpy_dir} has no ports/qemu/boards/{board}")
    out = pathlib.Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "build.log"
    log.write_text("")
    cross = mpy_cross(mpy_dir, pathlib.Path(mpy_cross_dir or out / "mpy-cross").resolve(), log, on_line)
    _run(["make", "-C", mpy_dir / "ports" / "qemu", f"BOARD={board}", f"BUILD={out / 'build'}",
          f"MICROPY_MPYCROSS={cross}", "FROZEN_MANIFEST=", *_stock_make_args(board),
          f"-j{min(2, os.cpu_count() or 1)}"],
         log, on_line=on_line)
    elf = out / "build" / "firmware.elf"
    if not elf.is_file():
        raise FirmwareError(f"the {board} build finished but {elf} is missing; log: {log}")
    return elf
