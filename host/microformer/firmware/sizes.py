"""Flash and RAM of a built firmware, and the share of it that _uformer adds."""
import dataclasses
import pathlib
import shutil
import subprocess

from . import FirmwareError, mapfile


@dataclasses.dataclass
class Sizes:
    text: int             # code and constants (flash)
    data: int             # initial values of .data (flash, copied to RAM at boot)
    bss: int              # zeroed RAM (heap, stacks and statics)
    engine: int           # flash of cmodule/engine objects
    binding: int          # flash of cmodule/micropython objects
    library: int          # library code (libgcc/libm/libc members) pulled in for the module
    frozen: int           # frozen Python bytecode (uformer and the board's scripts)
    by_file: dict         # module file -> flash bytes

    @property
    def flash(self):
        return self.text + self.data

    @property
    def module(self):
        """Flash that _uformer adds: engine + binding + the library code they need."""
        return self.engine + self.binding + self.library


def _size_tool(cc):
    prefix = cc[: -len("gcc")] if cc.endswith("gcc") else ""
    tool = prefix + "size"
    if shutil.which(tool) is None:
        raise FirmwareError(f"{tool} (binutils) is not on PATH; it comes with {cc}")
    return tool


def elf_sizes(elf, cc):
    """(text, data, bss) of an ELF file, as `size` reports them (Berkeley format)."""
    out = subprocess.run([_size_tool(cc), str(elf)], capture_output=True, text=True)
    if out.returncode != 0:
        raise FirmwareError(f"size {elf}: {out.stderr.strip()}")
    fields = out.stdout.splitlines()[1].split()
    return int(fields[0]), int(fields[1]), int(fields[2])


def measure(result, root):
    """Sizes of a BuildResult from firmware/build.py (root: the microformer checkout)."""
    b = result.board
    elf = result.build_dir / (b.artifacts[0] if b.name == "UNIX" else "firmware.elf")
    text, data, bss = elf_sizes(elf, b.cc)
    if not result.map_file.is_file():
        raise FirmwareError(f"the linker map {result.map_file} is missing; cannot attribute flash")
    use = mapfile.parse(result.map_file.read_text(errors="replace"))
    engine_dir = str(pathlib.Path(root) / "cmodule" / "engine") + "/"

    def is_engine(f):
        return engine_dir in f

    def is_binding(f):
        return f.endswith("micropython/moduformer.o") or "/cmodule/micropython/" in f

    eng, _, eng_files = mapfile.module_flash(use, is_engine)
    bnd, _, _ = mapfile.module_flash(use, is_binding)
    _, lib, all_files = mapfile.module_flash(use, lambda f: is_engine(f) or is_binding(f))
    frozen = sum(v for f, v in use.by_file.items() if f.endswith("frozen_content.o"))
    return Sizes(text, data, bss, eng, bnd, lib, frozen, all_files)


def describe(s, native=False):
    """Human-readable lines for a Sizes (native: a host program, which has no flash)."""
    kb = lambda n: f"{n / 1024:.1f} KB"  # noqa: E731
    mem = "program" if native else "flash"
    return [
        f"{mem} {s.flash} bytes ({kb(s.flash)}): text {s.text} + data {s.data}; static RAM (bss) {s.bss} bytes",
        f"_uformer adds {s.module} bytes of {mem} ({kb(s.module)}): engine {s.engine}, "
        f"binding {s.binding}, library code it pulls in {s.library}",
        f"frozen Python (uformer package, board scripts): {s.frozen} bytes",
    ]
