"""`microformer board start|stop`: an emulated board (QEMU_M4, QEMU_M55) with its UART on a pty.

    microformer board start QEMU_M4 [--firmware out/firmware/QEMU_M4/firmware.elf] [--romfs DIR|IMG]
    microformer board stop [QEMU_M4]

The board runs under `qemu-system-arm -icount shift=0`: its clock advances 1 ns per
instruction, so time.ticks_us() on it counts instructions (1 us = 1000 instructions).
`start` prints the serial port to give mpremote, push, bench and monitor.
"""


def _default_firmware(board):
    """Where `firmware build` puts the board's firmware without --out."""
    from ..firmware import boards

    return boards.default_out(board) / "firmware.elf"


def add_parser(subparsers):
    p = subparsers.add_parser("board", help="start or stop an emulated board (QEMU_M4, QEMU_M55)",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    s = sub.add_parser("start", help="boot the emulated board and print its serial port")
    s.add_argument("board", nargs="?", default="QEMU_M4", help="emulated board (default QEMU_M4)")
    s.add_argument("--firmware", metavar="ELF",
                   help=f"firmware to boot (default: {_default_firmware('BOARD')})")
    s.add_argument("--romfs", metavar="DIR|IMG",
                   help="mounted at /rom: a directory (packed with file data 16-byte aligned, "
                        "so models load in place) or a ROMFS image")
    t = sub.add_parser("stop", help="stop the emulated board")
    t.add_argument("board", nargs="?", default="QEMU_M4")
    return p


def run(args):
    from ..firmware import qemu

    if args.action == "start":
        fw = args.firmware or _default_firmware(args.board)
        b = qemu.start(args.board, fw, args.romfs)
        print(b.pty)
        print(f"{args.board} running (pid {b.pid}, firmware {b.firmware}); talk to it with "
              f"microformer install|push|bench|monitor --port {b.pty} (or mpremote connect {b.pty})")
        return 0
    qemu.machine(args.board)
    b = qemu.stop(args.board)
    if b is None:
        print(f"{args.board} is not running")
    else:
        print(f"{args.board} stopped (pid {b.pid})")
    return 0
