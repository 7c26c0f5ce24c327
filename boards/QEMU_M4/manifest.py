# QEMU_M4: the microformer firmware plus the boot script that mounts the RAM disk at /.
include("../../firmware/manifest.py")
freeze(".", "_boot.py")
