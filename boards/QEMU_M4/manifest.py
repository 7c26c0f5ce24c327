# QEMU_M4: the shared emulated-board content and the boot script that mounts the RAM disk at /.
include("../qemu_common/manifest.py")
freeze(".", "_boot.py")
