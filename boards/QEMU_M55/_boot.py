# Mounts a writable littlefs at / on the QEMU_M55 board, run by board_init.c at every
# mp_init(). The filesystem lives in the AN547's SRAM 2 (4 MB at 0x21000000), which the
# firmware does not otherwise use: it survives soft resets (Ctrl-D, machine.soft_reset)
# and starts zeroed, hence unformatted, when qemu starts. Same as QEMU_M4's _boot.py
# apart from the address (the two boards' memory maps differ).
from micropython import const
import sys
import uctypes
import vfs

_BASE = const(0x21000000)
_SIZE = const(0x400000)
_BLOCK = const(4096)

# littlefs ioctl operations (the block device protocol of the vfs module).
_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_BLOCK_ERASE = const(6)


class RAMBlockDev:
    """The extended block device protocol over a fixed memory region (no heap copy)."""

    def __init__(self, base, size, block_size):
        self.mem = memoryview(uctypes.bytearray_at(base, size))
        self.block_size = block_size
        self.blocks = size // block_size

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.mem[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        self.mem[start : start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.blocks
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_BLOCK_ERASE:
            # RAM needs no erase before a write.
            return 0
        # Init, deinit and sync need nothing either.
        return 0


def _mount():
    bdev = RAMBlockDev(_BASE, _SIZE, _BLOCK)
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        # First boot (zeroed RAM): format.
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    vfs.mount(fs, "/")
    # Where mpremote mip and the host's `push` put packages, as on the stock boards.
    if "/lib" not in sys.path:
        sys.path.append("/lib")


_mount()
del _mount
