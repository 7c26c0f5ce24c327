#!/usr/bin/env python3
"""The firmware build driver: MicroPython + _uformer + frozen uformer for one board.

`microformer firmware build` runs this; it also runs on its own (standard library only):

    python3 firmware/build.py --board QEMU_M4 --micropython ~/micropython [--out DIR]
        [--ops-config DIR]   # a directory with mf_ops_config.h (see --ops-from in the CLI)
        [--errors full|terse]

The boards are host/microformer/firmware/boards.py (the registry the CLI reads too).

The MicroPython tree is only read: the board comes from boards/<BOARD> (BOARD_DIR or
VARIANT_DIR), the engine from cmodule/ (USER_C_MODULES), the frozen Python from the
board's manifest (FROZEN_MANIFEST), and everything built, mpy-cross included, goes to
the output directory.
"""
import argparse
import dataclasses
import hashlib
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Oldest MicroPython with everything the boards rely on: out-of-tree qemu boards
# (ports/qemu with BOARD_DIR, v1.24) and ROMFS with vfs.rom_ioctl (v1.25).
MIN_MICROPYTHON = (1, 25, 0)


# In the build dir: the configuration (board, checkout, op set, error style) its objects
# were compiled for, and a marker written only after a build that passed verify().
STAMP = ".microformer-config"
BUILT = ".microformer-built"
# What a cmake port's configure generates and its wrapper trusts from then on (the rp2
# Makefile runs cmake only when BUILD/Makefile is missing): removed after a failed build so
# that the next one configures again instead of building a half-configured tree.
GENERATED = ("Makefile", "CMakeCache.txt")


class BuildError(Exception):
    """A build that cannot start or that failed; the message says what to do."""


def _load_registry():
    """host/microformer/firmware/boards.py, the one board registry, loaded by path so that
    this driver keeps running on its own (standard library only)."""
    path = ROOT / "host" / "microformer" / "firmware" / "boards.py"
    host = sys.modules.get("microformer.firmware.boards")  # run by the host package
    if host is not None and pathlib.Path(host.__file__).resolve() == path:
        return host
    spec = importlib.util.spec_from_file_location("microformer_board_registry", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


registry = _load_registry()
BOARDS = registry.BOARDS


# apt packages that provide the tools (Debian/Ubuntu); `make firmware-deps` installs them.
APT_PACKAGES = {
    "gcc": "build-essential",
    "make": "build-essential",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-g++": "gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib",
    "qemu-system-arm": "qemu-system-arm",
    "cmake": "cmake",
}


def board(name):
    return registry.lookup(name, BuildError)


def micropython_version(mpy_dir):
    """(major, minor, micro, prerelease) from py/mpconfig.h of a MicroPython checkout."""
    mpy_dir = pathlib.Path(mpy_dir)
    header = mpy_dir / "py" / "mpconfig.h"
    if not header.is_file():
        raise BuildError(f"{mpy_dir} is not a MicroPython checkout: {header} is missing")
    text = header.read_text(errors="replace")
    parts = []
    for field in ("MAJOR", "MINOR", "MICRO", "PRERELEASE"):
        m = re.search(rf"#define MICROPY_VERSION_{field} (\d+)", text)
        if m is None and field != "PRERELEASE":
            raise BuildError(f"{header} has no MICROPY_VERSION_{field}: not a MicroPython checkout?")
        parts.append(int(m.group(1)) if m else 0)
    return tuple(parts)


def version_string(v):
    return f"{v[0]}.{v[1]}.{v[2]}" + ("-preview" if v[3] else "")


def check_micropython(mpy_dir, b):
    """The version, or BuildError when the checkout is too old or lacks what `b` needs."""
    mpy_dir = pathlib.Path(mpy_dir)
    v = micropython_version(mpy_dir)
    if v[:3] < MIN_MICROPYTHON:
        raise BuildError(
            f"MicroPython {version_string(v)} at {mpy_dir} is too old: the boards need "
            f"{version_string(MIN_MICROPYTHON + (0,))} or newer (out-of-tree qemu boards, ROMFS)")
    if not (mpy_dir / "ports" / b.port / "Makefile").is_file():
        raise BuildError(f"{mpy_dir} has no ports/{b.port}: cannot build {b.name}")
    subs = missing_submodules(mpy_dir, b)
    if subs:
        raise BuildError(
            f"{b.name} needs the MicroPython submodule{'s' if len(subs) > 1 else ''} "
            f"{', '.join(subs)}, empty in {mpy_dir}: "
            f"run `make -C {mpy_dir / 'ports' / b.port} BOARD={b.name} submodules`")
    return v


def missing_submodules(mpy_dir, b):
    """Submodules the board's build needs that the checkout lacks (only rp2 needs any)."""
    mpy_dir = pathlib.Path(mpy_dir)
    return [sub for sub, probe in b.submodules if not (mpy_dir / sub / probe).exists()]


def missing_tools(b):
    """[(tool, apt packages)] the board's build (and run, for emulated boards) needs."""
    tools = ["make", b.cc]
    if b.cc != "gcc":
        tools.append("gcc")  # mpy-cross is built for the host
    if b.cmake:
        tools += ["cmake", "arm-none-eabi-g++"]
    if b.emulator is not None:
        tools.append(b.emulator.system)
    return [(t, APT_PACKAGES.get(t, t)) for t in tools if shutil.which(t) is None]


def check_tools(b):
    missing = missing_tools(b)
    if missing:
        pkgs = " ".join(sorted({p for _, p in missing}))
        raise BuildError(
            f"{b.name} needs {', '.join(t for t, _ in missing)} on PATH; on Debian/Ubuntu: "
            f"`sudo apt-get install {pkgs}` (or `make firmware-deps` in the microformer checkout)")


def compiler_version(cc):
    out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else cc


@dataclasses.dataclass
class BuildResult:
    board: "registry.Board"
    out: pathlib.Path
    build_dir: pathlib.Path
    firmware: pathlib.Path      # the first artifact, copied into out
    artifacts: list
    map_file: pathlib.Path
    log: pathlib.Path
    micropython_version: tuple
    ops_config: pathlib.Path    # mf_ops_config.h used, or None for all ops


def _run(cmd, log, on_line=None, env=None, cwd=None):
    """Runs cmd appending its output to log; BuildError with the output's tail on failure."""
    with open(log, "a") as f:
        f.write("$ " + " ".join(str(c) for c in cmd) + "\n")
        f.flush()
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, errors="replace", env=env, cwd=cwd)
        tail = []
        for line in p.stdout:
            f.write(line)
            tail.append(line)
            del tail[:-40]
            if on_line is not None:
                on_line(line)
        rc = p.wait()
    if rc != 0:
        raise BuildError(
            f"`{' '.join(str(c) for c in cmd[:3])} ...` failed (exit {rc}); full log: {log}\n"
            + "".join(tail).rstrip())


def _fingerprint(b, mpy_dir, ops_config, terse_errors):
    h = hashlib.sha256()
    h.update(f"{b.name}\0{pathlib.Path(mpy_dir).resolve()}\0{int(terse_errors)}\0".encode())
    h.update(ops_config.read_bytes() if ops_config else b"all ops")
    return h.hexdigest()


def build(board_name, mpy_dir, out, ops_config_dir=None, jobs=None, on_line=None, terse_errors=False):
    """Builds the board into `out` (build tree in out/build) and returns a BuildResult.

    ops_config_dir: a directory holding mf_ops_config.h, or None for every op.
    terse_errors: model errors as codes and numbers (MF_TERSE_ERRORS; less flash, the
    measured saving is in docs/firmware.md).
    on_line: called with each line of compiler output (progress display).
    """
    b = board(board_name)
    mpy_dir = pathlib.Path(mpy_dir).resolve()
    out = pathlib.Path(out).resolve()
    version = check_micropython(mpy_dir, b)
    check_tools(b)
    ops_config = None
    if ops_config_dir is not None:
        ops_config = pathlib.Path(ops_config_dir).resolve() / "mf_ops_config.h"
        if not ops_config.is_file():
            raise BuildError(f"--ops-config {ops_config_dir}: no mf_ops_config.h there")
    jobs = jobs or os.cpu_count() or 1

    out.mkdir(parents=True, exist_ok=True)
    build_dir = out / "build"
    log = out / "build.log"
    log.write_text("")

    # Compiler flags are not make dependencies: a build tree made for another op set
    # (or another checkout) is rebuilt from scratch rather than linked from stale objects.
    stamp = build_dir / STAMP
    fp = _fingerprint(b, mpy_dir, ops_config, terse_errors)
    if build_dir.exists() and (not stamp.exists() or stamp.read_text() != fp):
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    built = build_dir / BUILT
    if not built.exists():
        # The last build here failed (or was interrupted): configure again; objects that
        # compiled stay and make reuses them.
        for name in GENERATED:
            (build_dir / name).unlink(missing_ok=True)
    built.unlink(missing_ok=True)
    stamp.write_text(fp)
    for name in b.artifacts:  # no firmware from an earlier build survives a failed one
        (out / name).unlink(missing_ok=True)

    # mpy-cross, for the host, outside the MicroPython tree.
    mpy_cross_dir = out / "mpy-cross"
    mpy_cross = mpy_cross_dir / "mpy-cross"
    _run(["make", "-C", mpy_dir / "mpy-cross", f"BUILD={mpy_cross_dir}", f"-j{jobs}"], log, on_line)

    board_dir = ROOT / "boards" / b.name
    port_dir = mpy_dir / "ports" / b.port
    env = dict(os.environ)
    manifest = board_dir / "manifest.py"
    cmd = ["make", "-C", port_dir, f"-j{jobs}", f"{b.dir_var}={board_dir}", f"BUILD={build_dir}",
           f"MICROPY_MPYCROSS={mpy_cross}", f"FROZEN_MANIFEST={manifest}",
           f"USER_C_MODULES={ROOT / 'cmodule'}"]
    if b.dir_var == "BOARD_DIR":
        # The board's name in sys.implementation._build (the qemu port defaults BOARD).
        cmd.insert(4, f"BOARD={b.name}")
    if b.cmake:
        # The rp2 Makefile wraps cmake; USER_C_MODULES there names the .cmake file, and the
        # op set reaches cmodule/micropython/micropython.cmake through the environment.
        cmd[-1] = f"USER_C_MODULES={ROOT / 'cmodule' / 'micropython' / 'micropython.cmake'}"
        if ops_config:
            env["MF_OPS_CONFIG_DIR"] = str(ops_config.parent)
        else:
            env.pop("MF_OPS_CONFIG_DIR", None)
        env["MF_TERSE_ERRORS"] = "1" if terse_errors else "0"
    else:
        if ops_config:
            cmd.append(f"MF_OPS_CONFIG_DIR={ops_config.parent}")
        cmd.append(f"MF_TERSE_ERRORS={1 if terse_errors else 0}")
    _run(cmd, log, on_line, env=env)

    for name in b.artifacts:
        if not (build_dir / name).is_file():
            raise BuildError(f"the build finished but {build_dir / name} is missing; log: {log}")
    verify(b, build_dir, log)
    artifacts = []
    for name in b.artifacts:
        src, dst = build_dir / name, out / name
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)
        artifacts.append(dst)
    built.write_text(fp)
    return BuildResult(b, out, build_dir, artifacts[0], artifacts, build_dir / b.map_file, log,
                       version, ops_config)


def discard(result):
    """Undoes what build() left for a BuildResult that turned out unusable: the copied
    artifacts and the marker that lets the next build trust the tree's configuration."""
    for a in result.artifacts:
        pathlib.Path(a).unlink(missing_ok=True)
    (result.build_dir / BUILT).unlink(missing_ok=True)


def verify(b, build_dir, log="the build log"):
    """BuildError unless the linked firmware in build_dir is a microformer firmware: its
    linker map defines the _uformer module object and its frozen Python holds the uformer
    package. A make that "succeeds" without them (a tree configured without
    USER_C_MODULES, a manifest that froze nothing) is a failed build, not a firmware."""
    build_dir = pathlib.Path(build_dir)
    map_file = build_dir / b.map_file
    try:
        text = map_file.read_text(errors="replace")
    except OSError as e:
        raise BuildError(f"cannot read the linker map {map_file} ({e.strerror}); log: {log}") from None
    # GNU ld lists each global symbol on its own line: "  0xADDRESS   name".
    if not re.search(rf"^\s+0x[0-9a-fA-F]+\s+{registry.MODULE_SYMBOL}$", text, flags=re.M):
        raise BuildError(
            f"the build finished but the firmware has no _uformer: {registry.MODULE_SYMBOL} is "
            f"not in {map_file}, so USER_C_MODULES did not reach the port's build (log: {log})")
    frozen = build_dir / "frozen_content.c"
    if not frozen.is_file() or registry.FROZEN_PACKAGE not in frozen.read_text(errors="replace"):
        raise BuildError(
            f"the build finished but the firmware has no frozen uformer package "
            f"({registry.FROZEN_PACKAGE} is not in {frozen}), so FROZEN_MANIFEST did not reach "
            f"the port's build (log: {log})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--board", required=True, choices=list(BOARDS))
    p.add_argument("--micropython", required=True, help="MicroPython checkout (read only)")
    p.add_argument("--out", help=f"output directory (default: {registry.default_out('BOARD')})")
    p.add_argument("--ops-config", help="directory with mf_ops_config.h (default: all ops)")
    p.add_argument("--errors", choices=("full", "terse"),
                   help="model errors as sentences or as codes and numbers (`microformer explain` "
                        "decodes them); default: terse with --ops-config, else full")
    p.add_argument("-j", "--jobs", type=int, help="parallel compile jobs (default: CPU count)")
    args = p.parse_args(argv)
    out = args.out or registry.default_out(args.board)
    terse = (args.errors == "terse" if args.errors
             else registry.terse_errors_default(args.ops_config))
    try:
        r = build(args.board, args.micropython, out, args.ops_config, args.jobs, terse_errors=terse)
    except BuildError as e:
        print(f"build.py: {e}", file=sys.stderr)
        return 1
    for a in r.artifacts:
        print(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
