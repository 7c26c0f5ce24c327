"""A gesture app for event models (trained on one file per take): hold the button while you
make the gesture, release it, and the take is classified. Runs in the simulator (CPython
with _uformer) and on unix MicroPython built with _uformer, replaying recorded takes; on a
board, `board_loop()` reads an MPU-6050 and a button on GP15.

    python examples/event_app.py TAKES/ model.tflite
    micropython-uformer examples/event_app.py TAKES/ model.tflite

TAKES is a dataset folder (TAKES/<label>/*.csv, as recorded for training). Each file is one
press of the button: its samples are pushed into an EventWindow between press and release,
which fits them to the model's input length exactly as `microformer train` fitted every
training file (the metadata's "event": resample or pad). Prints one line per take and the
share the model got right.
"""
import sys

try:
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "device"))
    listdir = os.listdir
except (ImportError, AttributeError):  # MicroPython: os.path is missing; run from the repo root
    import os

    sys.path.insert(0, "device")
    listdir = os.listdir

from uformer import EventWindow, Model  # noqa: E402
from uformer.sensors import ReplaySensor  # noqa: E402


def classify_take(model, ev, sensor):
    """Button pressed: collect the take; released (the recording ended): classify it."""
    ev.start()
    while True:
        s = sensor()
        if s is None:
            break
        if ev.push(s):
            break  # the longest event the window accepts; later samples are ignored
    return model.classify(ev.finish())


def replay(takes_dir, model_path):
    model = Model.load(model_path)
    ev = EventWindow.for_model(model)
    right = total = 0
    for label in sorted(listdir(takes_dir)):
        folder = takes_dir + "/" + label
        try:
            names = sorted(n for n in listdir(folder) if n.endswith(".csv"))
        except OSError:
            continue  # not a label folder
        for name in names:
            sensor = ReplaySensor(folder + "/" + name, loop=False, columns=model.channel_names)
            got, score = classify_take(model, ev, sensor)
            total += 1
            right += got == label
            print("take %s/%s: %s %.2f" % (label, name, got, score))
    print("takes %d right %d (%.1f%%)" % (total, right, 100.0 * right / max(total, 1)))
    return right, total


def board_loop(model_path="model.tflite", button_pin=15):
    """On a board: an MPU-6050 on I2C0 (GP4/GP5) and a button to ground on `button_pin`."""
    import time

    from machine import I2C, Pin

    from uformer.mpu6050 import MPU6050

    model = Model.load(model_path)
    ev = EventWindow.for_model(model)
    imu = MPU6050(I2C(0, sda=Pin(4), scl=Pin(5)))
    button = Pin(button_pin, Pin.IN, Pin.PULL_UP)
    period_ms = int(1000 // (model.sample_rate or 50))
    while True:
        while button.value():  # released: wait for a press
            time.sleep_ms(5)
        ev.start()
        full = False
        while not button.value() and not full:
            full = ev.push(imu())
            time.sleep_ms(period_ms)
        print(model.classify(ev.finish()))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print("usage: event_app.py TAKES/ MODEL.tflite")
        sys.exit(2)
    replay(sys.argv[1], sys.argv[2])
