# Unix port with _uformer: the native simulator of a board. The stock unix manifest
# needs micropython-lib (mip, ssl, unix-ffi); this one only needs the MicroPython tree.
include("../../firmware/manifest.py")
include("$(MPY_DIR)/extmod/asyncio")
