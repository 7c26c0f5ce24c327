# The writable littlefs at / of the emulated boards (QEMU_M4, QEMU_M55), frozen next to
# each board's _boot.py, which names the 4 MB of RAM it lives in. That RAM is outside the
# firmware's own: the filesystem survives soft resets (Ctrl-D, machine.soft_reset) and
# starts zeroed, hence unformatted, when qemu starts.
from micropython import const
import sys
import uctypes
import vfs

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


def mount(base):
    """Mounts the RAM disk at `base` on / (formatting it on first boot)."""
    bdev = RAMBlockDev(base, _SIZE, _BLOCK)
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

