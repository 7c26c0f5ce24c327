# QEMU_M4: the microformer firmware plus the boot script that mounts the RAM disk at /.
include("../../firmware/manifest.py")
freeze(".", "_boot.py")
freeze("../qemu_common", "_ramdisk.py")

# MicroPython's own test suite (tests/run-tests.py) needs unittest on the board, which the
# stock qemu boards freeze from micropython-lib. A checkout without that submodule builds
# without it (and the three basics tests that import unittest cannot run there).
# (stderr: the build reads this manifest's stdout as a list of C modules.)
import sys

try:
    require("unittest")
except Exception as e:  # manifestfile.ManifestFileError, not importable from a manifest
    print(f"QEMU_M4: unittest not frozen ({e})", file=sys.stderr)
