"""`microformer firmware build`: MicroPython firmware with _uformer for a board.

    microformer firmware build --board QEMU_M4 --micropython ~/micropython
        [--ops-from model.tflite ...] [--errors full|terse] [--out DIR] [-j N]
    microformer firmware romfs DIR [-o IMG]     # /rom image with aligned files
    microformer firmware natmod --arch ARCH --micropython DIR [--ops-from M ...] [--out DIR]
                                                # _uformer.mpy for stock firmware

Checks the MicroPython version and the toolchain, builds out of tree (BOARD_DIR or
VARIANT_DIR, USER_C_MODULES, FROZEN_MANIFEST; the MicroPython tree is only read), then
prints the firmware's size and the flash that _uformer adds. --ops-from compiles only the
kernels the given models use and, unless --errors full, reports model errors as codes
and numbers (`microformer explain` turns them back into sentences).
"""
import sys

from ..firmware import boards


def add_parser(subparsers):
    p = subparsers.add_parser("firmware", help="build MicroPython firmware with _uformer",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    b = sub.add_parser("build", help="build the firmware for a board",
                       description="Build MicroPython with _uformer and the frozen uformer package.")
    b.add_argument("--board", required=True, help=boards.names())
    b.add_argument("--micropython", required=True, metavar="DIR",
                   help="MicroPython checkout (read only; v1.25 or newer)")
    b.add_argument("--ops-from", nargs="+", metavar="MODEL", default=[],
                   help="compile only the kernels these .tflite models use")
    b.add_argument("--errors", choices=("full", "terse"),
                   help="model-validation errors as sentences (full) or as a code and the numbers "
                        "(terse: less flash, measured in docs/firmware.md; `microformer explain` "
                        "decodes them). Default: terse with --ops-from (a firmware cut to its "
                        "models), else full")
    b.add_argument("--out", metavar="DIR",
                   help=f"output directory (default: {boards.default_out('BOARD')})")
    b.add_argument("-j", "--jobs", type=int, help="parallel compile jobs (default: CPU count)")
    r = sub.add_parser("romfs", help="pack a directory into a ROMFS image for /rom",
                       description="Pack a directory into a ROMFS image whose files start on "
                                   "aligned addresses, so models in /rom load in place (no RAM "
                                   "copy). Deploy it with `mpremote romfs deploy IMG` (real "
                                   "boards) or `microformer board start --romfs IMG` (QEMU_M4).")
    r.add_argument("src", metavar="DIR", help="directory to pack (its tree becomes /rom)")
    r.add_argument("-o", "--output", metavar="IMG", help="image file (default: DIR.romfs)")
    r.add_argument("--align", type=int, default=16, help="file data alignment in bytes (default 16)")
    _add_natmod_parser(sub)
    return p


def _add_natmod_parser(sub):
    from ..firmware.natmod import ARCHS

    n = sub.add_parser("natmod", help="build _uformer.mpy for a board's stock firmware",
                       description="Build _uformer as a dynamic native module (.mpy) that stock "
                                   "MicroPython firmware imports, plus the uformer package compiled "
                                   "with mpy-cross: OUT/ARCH/_uformer.mpy, OUT/ARCH/lib/uformer/*.mpy "
                                   "and OUT/ARCH/natmod.json.")
    n.add_argument("--arch", required=True, choices=sorted(ARCHS),
                   help="; ".join(f"{a.name}: {a.cores}" for a in ARCHS.values()))
    n.add_argument("--micropython", required=True, metavar="DIR",
                   help="MicroPython checkout of the board's release (read only): a native .mpy "
                        "loads only on the MicroPython version it was built against")
    n.add_argument("--ops-from", nargs="+", metavar="MODEL", default=[],
                   help="compile only the kernels these .tflite models use")
    n.add_argument("--errors", choices=("full", "terse"),
                   help="model errors as sentences or codes (default: terse: a native module's "
                        "code sits in the board's heap; `microformer explain` decodes the codes)")
    n.add_argument("--out", metavar="DIR", default="out/natmod",
                   help="output directory (default: out/natmod); the files go to DIR/ARCH")


def run(args):
    if args.action == "romfs":
        return _romfs(args)
    if args.action == "natmod":
        return _natmod(args)
    from ..firmware import FirmwareError, builder, opsconfig
    from ..firmware.sizes import describe

    board = boards.lookup(args.board, FirmwareError)
    version, cc = builder.check(args.board, args.micropython)
    print(f"MicroPython {version} at {args.micropython}")
    print(f"toolchain: {cc}")
    if args.ops_from:
        wanted, available = opsconfig.select(args.ops_from)
        print(f"ops: {len(wanted)} of {len(available)} from {', '.join(args.ops_from)}: {', '.join(wanted)}")
    else:
        print("ops: all the engine has")
    errors = args.errors or ("terse" if boards.terse_errors_default(args.ops_from) else "full")
    print("model errors: " + ("sentences" if errors == "full" else
                              "codes and numbers (`microformer explain` decodes them)"))

    bar = _progress(args.board)
    try:
        fw = builder.build(args.board, args.micropython, args.out, args.ops_from, args.jobs,
                           on_line=bar.line, terse_errors=errors == "terse")
    finally:
        bar.close()
    print(f"firmware: {fw.firmware}")
    for line in describe(fw.sizes, native=board.native):
        print("  " + line)
    print(f"  build log: {fw.log}")
    print(board.next_step(fw.out))
    return 0


def _natmod(args):
    from ..firmware import natmod

    version = natmod.check(args.arch, args.micropython)
    print(f"MicroPython {version} at {args.micropython}; arch {args.arch} "
          f"({natmod.ARCHS[args.arch].cores})")
    errors = args.errors or ("terse" if boards.terse_errors_default(args.ops_from, natmod=True) else "full")
    bar = _progress(f"_uformer.mpy ({args.arch})")
    try:
        d = natmod.build(args.arch, args.micropython, args.out, args.ops_from or None,
                         terse_errors=errors == "terse", on_line=bar.line)
    finally:
        bar.close()
    info = natmod.manifest(d)
    h, s = info["mpy_version"], info["sizes"]
    print(f"{d / natmod.NATMOD_FILE}: {s['mpy']} bytes (machine code {s['text']}, static RAM "
          f"{s['bss']}), .mpy v{h['version']}.{h['sub_version']} {h['arch']}")
    print(f"{d / 'lib' / 'uformer'}: the uformer package, {s['package']} bytes of .mpy")
    print(f"ops: {len(info['ops'])}" + (f" ({', '.join(info['ops'])})" if args.ops_from else " (all the engine has)"))
    print(f"on the board: copy {natmod.NATMOD_FILE} and lib/uformer to /lib, then `import _uformer`")
    return 0


def _romfs(args):
    import pathlib

    from ..firmware import FirmwareError, romfs

    src = pathlib.Path(args.src)
    if not src.is_dir():
        raise FirmwareError(f"romfs: {src} is not a directory")
    img = romfs.build(src, args.align)
    out = pathlib.Path(args.output or str(src).rstrip("/") + ".romfs")
    out.write_bytes(img)
    for name, (offset, data) in sorted(romfs.files(img).items()):
        print(f"  /rom/{name}: {len(data)} bytes at offset {offset}")
    print(f"{out}: {len(img)} bytes, file data aligned to {args.align} bytes")
    return 0


class _progress:
    """A tqdm counter of compiled files (the total is unknown before make runs)."""

    def __init__(self, board):
        from tqdm import tqdm

        self.bar = tqdm(desc=f"building {board}", unit=" files", file=sys.stderr,
                        disable=not sys.stderr.isatty())

    def line(self, text):
        if text.startswith(("CC ", "CXX ", "AS ", "MPY ", "LINK ")) or "Building C object" in text:
            self.bar.update(1)

    def close(self):
        self.bar.close()
