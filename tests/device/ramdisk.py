"""A RAM block device for MicroPython's vfs (VfsLfs2, VfsFat) that loses power on demand.

Flash semantics: erase sets a block to 0xFF, program ANDs bits in (like NOR flash, so a
filesystem that programs without erasing corrupts data here too). `budget` is the number
of program/erase operations that still complete; the next one is cut: with `torn`, half of
its bytes land (a torn program / half-erased block), then it and every later operation
fail with EIO, as if the board lost power. `image()` is the flash content at that moment.
"""

EIO = 5


class RamDisk:
    def __init__(self, block_size=512, blocks=64, data=None, budget=None, torn=True):
        self.bs = block_size
        self.blocks = blocks
        self.data = bytearray(data) if data is not None else bytearray(b"\xff" * (block_size * blocks))
        self.budget = budget
        self.torn = torn
        self.dead = False
        self.ops = 0  # program/erase operations performed (or attempted when cut)

    def image(self):
        return bytes(self.data)

    def _cut(self):
        """True if this write/erase is the one the power cut interrupts (or comes after)."""
        self.ops += 1
        if self.dead:
            return True
        if self.budget is None:
            return False
        if self.budget == 0:
            self.dead = True
            return True
        self.budget -= 1
        return False

    def readblocks(self, block, buf, offset=0):
        start = block * self.bs + offset
        mv = memoryview(buf)
        mv[:] = memoryview(self.data)[start:start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        ext = offset is not None
        start = block * self.bs + (offset or 0)
        n = len(buf)
        first_cut = not self.dead and self.budget == 0
        if self._cut():
            if first_cut and self.torn:
                self._program(start, buf, n // 2, ext)
            return -EIO
        self._program(start, buf, n, ext)
        return 0

    def _program(self, start, buf, n, nor):
        d = self.data
        if nor:
            for i in range(n):
                d[start + i] &= buf[i]
        else:
            # FAT's simple interface writes whole sectors (the device erases internally).
            d[start:start + n] = buf[:n]

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return self.bs
        if op == 6:  # erase (littlefs' extended interface)
            first_cut = not self.dead and self.budget == 0
            start = arg * self.bs
            if self._cut():
                if first_cut and self.torn:
                    self.data[start:start + self.bs // 2] = b"\xff" * (self.bs // 2)
                return -EIO
            self.data[start:start + self.bs] = b"\xff" * self.bs
            return 0
        return 0
