# The stock rp2 firmware content (_boot.py mounting the flash filesystem, rp2 helpers,
# asyncio, drivers from micropython-lib) plus the microformer device framework.
include("$(PORT_DIR)/boards/manifest.py")
include("$(BOARD_DIR)/../../firmware/manifest.py")
