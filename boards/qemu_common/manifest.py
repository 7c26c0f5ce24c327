# What QEMU_M4's and QEMU_M55's manifests share (each includes it and freezes its own
# _boot.py): the microformer firmware and the RAM-disk mount the boot script calls.
include("../../firmware/manifest.py")
freeze(".", "_ramdisk.py")

# MicroPython's own test suite (tests/run-tests.py) needs unittest on the board, which the
# stock qemu boards freeze from micropython-lib. A checkout without that submodule builds
# without it (and the three basics tests that import unittest cannot run there).
# (stderr: the build reads this manifest's stdout as a list of C modules.)
import sys

try:
    require("unittest")
except Exception as e:  # manifestfile.ManifestFileError, not importable from a manifest
    print(f"unittest not frozen ({e})", file=sys.stderr)
