"""The board registry: every fact about a microformer board that code needs, in one place.

Read by the build driver (firmware/build.py loads this file by path, so it must stay
standard-library only and import nothing from the package) and by the host package
(`firmware build`, `board start`, the size report, the emulator). A board is this entry
plus its MicroPython board definition in boards/<NAME>/ (docs/architecture.md, "Adding
a board").

Facts that make reads from the board definition (the qemu machine and the ROMFS window in
boards/QEMU_M4/mpconfigboard.mk) are repeated here for the host, which runs the board
without make; tests/host/test_firmware_registry.py fails when the two disagree.
"""
import dataclasses
import pathlib


@dataclasses.dataclass(frozen=True)
class Emulator:
    """How qemu runs an emulated board."""
    system: str          # qemu-system-* binary
    machine: str         # -machine (QEMU_MACHINE in the board's .mk)
    romfs_addr: int      # where the firmware mounts /rom from (MICROPY_HW_ROMFS_PART0_START)
    romfs_size: int      # bytes of that window (MICROPY_HW_ROMFS_PART0_SIZE)
    args: tuple = ()     # more qemu arguments (the port's QEMU_ARGS for this machine)


@dataclasses.dataclass(frozen=True)
class Board:
    name: str
    port: str             # directory under MICROPY/ports
    dir_var: str          # make variable naming the out-of-tree board: BOARD_DIR / VARIANT_DIR
    cc: str               # the C compiler the port invokes (its binutils prefix finds `size`)
    artifacts: tuple      # files copied from the build dir to the output dir (first = firmware)
    map_file: str         # linker map in the build dir
    elf: str              # the linked program in the build dir (sizes and symbols)
    description: str
    cmake: bool = False   # cmake-based port (rp2): USER_C_MODULES names the .cmake file
    # (submodule dir, a file that exists once it is checked out) the port's build needs
    submodules: tuple = ()
    emulator: Emulator = None  # set for boards that run under qemu
    native: bool = False  # a host program (no flash; sizes are "program" bytes)

    def next_step(self, out):
        """The line telling the user what to do with a firmware built into `out`."""
        out = pathlib.Path(out)
        if self.native:
            fw = out / self.artifacts[0]
            return f"run it: {fw} (tests/device use it through MICROPYTHON_UFORMER={fw})"
        if self.emulator is not None:
            return f"run it: microformer board start {self.name} --firmware {out / self.artifacts[0]}"
        return f"flash it: copy {out / self.artifacts[0]} to the board's BOOTSEL drive"


# The rp2 port's CMakeLists.txt adds lib/mbedtls and lib/tinyusb for every board (hashlib
# and the USB stack), the Makefile checks lib/pico-sdk, and the boards' manifests require
# micropython-lib (firmware/no-micropython-lib/README.md).
_RP2_SUBMODULES = (
    ("lib/pico-sdk", "pico_sdk_init.cmake"),
    ("lib/tinyusb", "src/tusb.h"),
    ("lib/mbedtls", "include/mbedtls/ssl.h"),
    ("lib/micropython-lib", "README.md"),
)

_RP2_ARTIFACTS = ("firmware.uf2", "firmware.elf", "firmware.elf.map")

BOARDS = {b.name: b for b in (
    Board("UNIX", "unix", "VARIANT_DIR", "gcc",
          ("micropython-uformer",), "micropython-uformer.map", "micropython-uformer",
          "unix port with _uformer: the native simulator", native=True),
    Board("QEMU_M4", "qemu", "BOARD_DIR", "arm-none-eabi-gcc",
          ("firmware.elf", "firmware.bin", "firmware.map"), "firmware.map", "firmware.elf",
          "MPS2-AN386 (Cortex-M4F) under qemu-system-arm",
          emulator=Emulator("qemu-system-arm", "mps2-an386", 0x21000000, 0x400000)),
    Board("QEMU_M55", "qemu", "BOARD_DIR", "arm-none-eabi-gcc",
          ("firmware.elf", "firmware.bin", "firmware.map"), "firmware.map", "firmware.elf",
          "MPS3-AN547 (Cortex-M55 with Helium) under qemu-system-arm",
          emulator=Emulator("qemu-system-arm", "mps3-an547", 0x62000000, 0x2000000)),
    Board("RPI_PICO", "rp2", "BOARD_DIR", "arm-none-eabi-gcc",
          _RP2_ARTIFACTS, "firmware.elf.map", "firmware.elf",
          "Raspberry Pi Pico (RP2040, Cortex-M0+)", cmake=True, submodules=_RP2_SUBMODULES),
    Board("RPI_PICO2", "rp2", "BOARD_DIR", "arm-none-eabi-gcc",
          _RP2_ARTIFACTS, "firmware.elf.map", "firmware.elf",
          "Raspberry Pi Pico 2 (RP2350, Cortex-M33)", cmake=True, submodules=_RP2_SUBMODULES),
)}

EMULATED = {name: b for name, b in BOARDS.items() if b.emulator is not None}

# MicroPython's own qemu boards (ports/qemu/boards/<NAME>, built from an unmodified checkout,
# without _uformer): the stock firmware that `_uformer.mpy` (microformer firmware natmod)
# is tested on. Not microformer boards (nothing to `firmware build`), but `board start`
# and the tests run them. Machine, ROMFS window and arguments from their mpconfigboard.mk
# and ports/qemu/Makefile.
STOCK_EMULATORS = {
    "MPS2_AN385": Emulator("qemu-system-arm", "mps2-an385", 0x21000000, 0x400000),    # Cortex-M3
    "MPS2_AN500": Emulator("qemu-system-arm", "mps2-an500", 0x60C00000, 0x400000),    # Cortex-M7
    "MPS3_AN547": Emulator("qemu-system-arm", "mps3-an547", 0x62000000, 0x2000000),   # Cortex-M55
    # RV32IMAC. The port's Makefile adds -cpu rv32,zcd=off,zcmp=on, which qemu 7.2 (Debian
    # 12) refuses; the firmware itself is built for rv32imac and runs on the default cpu.
    "VIRT_RV32": Emulator("qemu-system-riscv32", "virt", 0x80610000, 0x400000, ("-bios", "none")),
}


def names(boards=BOARDS):
    """'UNIX, QEMU_M4, ...' for help texts and error messages."""
    return ", ".join(boards)


def lookup(name, error=ValueError):
    """The Board called `name`; `error` (an exception class) naming the boards otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise error(f"unknown board {name!r}; boards: {names()}") from None


def default_out(board):
    """Where `firmware build` puts a board's firmware without --out (relative to the
    current directory), and where `board start` looks for it."""
    return pathlib.Path("out") / "firmware" / board


def terse_errors_default(ops_from, natmod=False):
    """Model errors as codes unless asked otherwise: when the firmware is cut to some
    models' kernels (--ops-from), where flash is what the build is about, and always for a
    native module, whose code a stock board loads into its heap (the sentences are about
    7.7 KB of it on rv32imc: a small transformer's arena on a 140 KB heap)."""
    return natmod or bool(ops_from)


# What makes a build a microformer firmware; build.py checks the linker map for them and
# refuses to report a firmware without them as built.
MODULE_SYMBOL = "uformer_user_cmodule"   # the _uformer module object (cmodule/micropython)
FROZEN_PACKAGE = "uformer/__init__"      # in the frozen_content.c that makemanifest writes
