# Run by board_init.c at every mp_init(): the littlefs RAM disk at / lives in the SSRAM2/3
# block (4 MB at 0x20000000, qemu hw/arm/mps2.c), which the firmware does not otherwise use.
import _ramdisk

_ramdisk.mount(0x20000000)
