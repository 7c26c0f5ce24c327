# Run by board_init.c at every mp_init(): the littlefs RAM disk at / lives in the AN547's
# SRAM 2 (4 MB at 0x21000000, qemu hw/arm/mps2-tz.c), which the firmware does not otherwise
# use.
import _ramdisk

_ramdisk.mount(0x21000000)
