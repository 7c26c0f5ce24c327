# Frozen into every microformer firmware (boards/*/manifest.py include this file):
# the device framework `uformer` (device/uformer), compiled to bytecode by mpy-cross so
# it runs from flash without using heap for its code.
package("uformer", base_path="../device")
