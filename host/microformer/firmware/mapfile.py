"""What a firmware's flash holds, per input file, from the GNU ld map of its link.

Flash counts every allocated output section except the zero-initialised ones (.bss and
friends): code, constants and the initial values of .data. Library members (libgcc,
libm, libc) count for the module when the linker pulled them in for one of the module's
objects, or for a member pulled in for it (the map names the first reference only, so a
helper both the module and MicroPython use is counted for whichever came first).
"""
import collections
import dataclasses
import re

# Output sections that take no flash (zeroed or reserved at run time) or no memory.
_NO_FLASH = re.compile(r"^\.(bss|sbss|noinit|heap|stack|uninitialized_data|tbss)\b|^COMMON$")
_NOT_LOADED = re.compile(r"^\.(debug|comment|ARM\.attributes|stab|note|gnu_debug|symtab|strtab|shstrtab)")
_MEMBER = re.compile(r"^(?P<archive>.+\.a)\((?P<member>[^)]+)\)$")
# The object makemanifest's frozen_content.c compiles to, as each build system names it:
# make ports "build/frozen_content.o", cmake ports "CMakeFiles/firmware.dir/frozen_content.c.o"
# (".c.obj" when the platform file asks for it, as pico-sdk's and esp-idf's do), or a
# member of a static library "libmain.a(frozen_content.c.obj)".
_FROZEN = re.compile(r"(^|[/(])frozen_content(\.c)?\.o(bj)?\)?$")


def is_frozen(f):
    """True for the input file that holds the frozen Python (bytecode and its names)."""
    return _FROZEN.search(f) is not None


def is_object_of(f, source_dir):
    """True when input file f was compiled from a source under source_dir (absolute).
    make names objects after the source's path inside BUILD; cmake names them
    CMakeFiles/<target>.dir/<absolute source path without its leading />.c.o(bj)."""
    return str(source_dir).rstrip("/") + "/" in "/" + f.lstrip("/")


@dataclasses.dataclass
class FlashUse:
    by_file: dict        # input file (object or archive(member)) -> flash bytes
    pulled_by: dict      # archive(member) -> the file whose reference pulled it in


def parse(text):
    """Parses a GNU ld map (text) into a FlashUse."""
    lines = text.splitlines()
    pulled_by = {}
    i = 0
    # "Archive member included to satisfy reference by file (symbol)"
    while i < len(lines) and not lines[i].startswith("Archive member included"):
        i += 1
    i += 1
    while i < len(lines):
        line = lines[i]
        if line.startswith(("Discarded input sections", "Memory Configuration", "Allocating common")):
            break
        if line and not line.startswith(" ") and _MEMBER.match(line.split()[0]):
            member = line.split()[0]
            ref = line[len(member):].strip()
            if not ref and i + 1 < len(lines):
                i += 1
                ref = lines[i].strip()
            ref = re.sub(r"\s*\([^()]*\)\s*$", "", ref)
            pulled_by[member] = ref
        i += 1
    while i < len(lines) and not lines[i].startswith("Linker script and memory map"):
        i += 1

    by_file = collections.Counter()
    out_section = None
    pending = None  # an input section name on its own line (its address/size follow)
    entry = re.compile(r"^\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(\S.*)$")
    for line in lines[i:]:
        if not line:
            continue
        if not line.startswith(" "):
            # An output section: ".text   0x... 0x..." or just its name.
            out_section = line.split()[0]
            pending = None
            continue
        if out_section is None or _NO_FLASH.match(out_section) or _NOT_LOADED.match(out_section):
            continue
        stripped = line.strip()
        if stripped.startswith("*fill*") or stripped.startswith("*(") or stripped.startswith("0x") and " = " in stripped:
            pending = None
            continue
        if line.startswith(" ") and not line.startswith("  ") and " " not in stripped:
            # " .text.name" alone: address, size and file on the next line.
            pending = stripped
            continue
        m = entry.match(line)
        if m is None:
            # " .text.name  0xADDR  0xSIZE file" on one line.
            parts = stripped.split(None, 3)
            if len(parts) == 4 and parts[1].startswith("0x") and parts[2].startswith("0x"):
                size, file = int(parts[2], 16), parts[3]
            else:
                pending = None
                continue
        else:
            if pending is None:
                continue  # a symbol line ("0xADDR  name") or an assignment
            size, file = int(m.group(2), 16), m.group(3)
        pending = None
        if size and not file.startswith(("load address", "PROVIDE", "ASSERT")):
            by_file[file.strip()] += size
    return FlashUse(dict(by_file), pulled_by)


def module_flash(use, is_module_file):
    """(object bytes, library bytes, {file: bytes}) for the files is_module_file accepts
    plus the library members pulled in on their behalf."""
    members = {}
    mod = {f for f in use.by_file if is_module_file(f)}

    def for_module(f, depth=0):
        if f in mod:
            return True
        if depth > 64 or f not in use.pulled_by:
            return False
        return for_module(use.pulled_by[f], depth + 1)

    for f, size in use.by_file.items():
        if f not in mod and _MEMBER.match(f) and for_module(f):
            members[f] = size
    objects = {f: use.by_file[f] for f in mod}
    return sum(objects.values()), sum(members.values()), {**objects, **members}
