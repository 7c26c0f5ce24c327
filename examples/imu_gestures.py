"""Gesture detection on a board with an MPU-6050: copy as main.py; the model is
/models/model.tflite, where `microformer push` installs it.

    microformer push model.tflite --port /dev/ttyACM0
    mpremote cp examples/imu_gestures.py :main.py + reset

Reads the IMU at the model's sample rate, classifies every hop, lights the LED on "wave"
(three windows in a row, then 2 s of quiet), prints one line per gesture and a stats line
a minute, and accepts new models over the same USB link while it runs:

    microformer push new.tflite --name model --port /dev/ttyACM0 --live

Pins and bus are for a Raspberry Pi Pico (I2C0 on GP4/GP5); change BUS/SDA/SCL/LED.
Record training data in the same units (raw counts, the default) and channel order
(ax ay az gx gy gz).
"""
from machine import I2C, Pin
from micropython import const

from uformer import Rule, Runner, Slot, Window
from uformer.live import Receiver
from uformer.mpu6050 import MPU6050

BUS = const(0)
SDA = const(4)
SCL = const(5)
LED = "LED"
MAX_MODEL_BYTES = const(96 * 1024)  # the largest model this app accepts (RAM is set aside once)

# Used until the first model arrives; a model's metadata decides afterwards.
DEFAULT_WINDOW, DEFAULT_HOP, DEFAULT_RATE = 64, 32, 50

slot = Slot("models/model.tflite", max_bytes=MAX_MODEL_BYTES)
m = slot.model
length = m.window if m is not None and m.window else DEFAULT_WINDOW
hop = m.hop if m is not None and m.hop else DEFAULT_HOP
rate = int(m.sample_rate) if m is not None and m.sample_rate else DEFAULT_RATE  # Hz
window = Window(length, 6, hop)
slot.window = window  # from now on, models for another window shape are refused

imu = MPU6050(I2C(BUS, sda=Pin(SDA), scl=Pin(SCL), freq=400000), rate_hz=rate)
led = Pin(LED, Pin.OUT)


def on_wave(label, score):
    led.on()
    print("gesture", label, "%.2f" % score)


def on_release(label, score):
    led.off()


rules = [
    Rule("wave", threshold=0.7, min_hits=3, cooldown_ms=2000, action=on_wave,
         release=0.4, on_release=on_release),
    Rule("tap", threshold=0.8, action=lambda label, score: print("gesture", label, "%.2f" % score)),
]

runner = Runner(imu, window, slot, rules, period_ms=1000 // rate, stats_ms=60000,
                live=Receiver(slot))
runner.run()
