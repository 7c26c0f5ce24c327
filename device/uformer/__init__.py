"""uformer: the on-device framework of microformer.

    from uformer import Window, EventWindow, Model, Slot, Rule, Runner

Runs on MicroPython (frozen into firmware or copied to the board) and unchanged on CPython,
where the CPython build of the native engine `_uformer` makes it the simulator. Importing
uformer never needs `_uformer`; Model (and so Slot) raise ImportError naming it when used on
a runtime without it. Optional parts load on demand: uformer.live (live updates),
uformer.storage (power-safe files), uformer.sensors (CSV replay), uformer.mpu6050 (IMU).
"""
from .window import EventWindow, Window
from .model import Model
from .rule import Rule
from .slot import Slot
from .runner import Runner

__version__ = "0.1.0"
__all__ = ["Window", "EventWindow", "Model", "Rule", "Slot", "Runner"]
