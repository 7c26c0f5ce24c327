"""Flash and RAM of a built firmware, and the share of it that _uformer adds."""
import dataclasses
import pathlib
import re
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
    text, data, bss = elf_sizes(result.build_dir / b.elf, b.cc)
    if not result.map_file.is_file():
        raise FirmwareError(f"the linker map {result.map_file} is missing; cannot attribute flash")
    return attribute(result.map_file.read_text(errors="replace"), root, text, data, bss)


# The make ports name the binding's object after its path below USER_C_MODULES
# (BUILD/micropython/moduformer.o); cmake after its absolute path (.../cmodule/micropython/...).
_BINDING = re.compile(r"(^|/)micropython/moduformer(\.c)?\.o(bj)?$")


def attribute(map_text, root, text=0, data=0, bss=0):
    """Sizes from a linker map's text (root: the microformer checkout the module was
    compiled from) and the ELF's text/data/bss."""
    use = mapfile.parse(map_text)
    engine_dir = pathlib.Path(root) / "cmodule" / "engine"
    binding_dir = pathlib.Path(root) / "cmodule" / "micropython"

    def is_engine(f):
        return mapfile.is_object_of(f, engine_dir)

    def is_binding(f):
        return mapfile.is_object_of(f, binding_dir) or _BINDING.search(f) is not None

    eng, _, _ = mapfile.module_flash(use, is_engine)
    bnd, _, _ = mapfile.module_flash(use, is_binding)
    _, lib, all_files = mapfile.module_flash(use, lambda f: is_engine(f) or is_binding(f))
    frozen = sum(v for f, v in use.by_file.items() if mapfile.is_frozen(f))
    return Sizes(text, data, bss, eng, bnd, lib, frozen, all_files)


# Floors below which a build is not a microformer firmware whatever make said. The engine
# with no op at all is board_costs.FLASH["base"] bytes on Cortex-M4 (-Os); other compilers
# differ, but not by half. MicroPython alone is over 150 KB on every port the boards use.
MIN_BINDING = 1024
MIN_MICROPYTHON = 64 * 1024


def check_complete(s, board):
    """FirmwareError unless the sizes are those of MicroPython with _uformer and the
    frozen uformer package, so that a broken build is never reported as built."""
    from ..board_costs import FLASH

    min_engine = FLASH["base"] // 2
    problems = []
    if s.engine < min_engine:
        problems.append(f"engine {s.engine} bytes (the engine without any op is {FLASH['base']})")
    if s.binding < MIN_BINDING:
        problems.append(f"binding {s.binding} bytes (expected over {MIN_BINDING})")
    if s.frozen <= 0:
        problems.append("no frozen Python")
    rest = s.flash - s.module - s.frozen
    if rest < MIN_MICROPYTHON:
        problems.append(f"{rest} bytes besides _uformer and frozen Python (MicroPython alone "
                        f"is over {MIN_MICROPYTHON})")
    if problems:
        raise FirmwareError(f"the {board} build finished but is not a microformer firmware "
                            f"({s.flash} bytes): {'; '.join(problems)}")


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
