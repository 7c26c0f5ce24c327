"""The same kind of app on a CSV recording: runs in the simulator (CPython with the
_uformer extension) and on unix MicroPython built with _uformer, unchanged.

    python examples/replay_app.py recording.csv model.tflite [seconds]
    micropython-uformer examples/replay_app.py recording.csv model.tflite [seconds]

The recording is in the dataset format (header of channel names, optional t and label
columns). It plays at the model's sample rate; each window's label is printed when it
changes, rules fire on every label with a score >= 0.6 for two windows in a row, and
models pushed live over stdin/stdout (microformer.live.LiveLink) replace the running one.
With a `label` column the app also reports how often it agreed with it.
"""
import sys

try:
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "device"))
except (ImportError, AttributeError):  # MicroPython: os.path is missing; run from the repo root
    sys.path.insert(0, "device")

from uformer import Rule, Runner, Slot, Window  # noqa: E402
from uformer.live import Receiver  # noqa: E402
from uformer.sensors import ReplaySensor  # noqa: E402

if len(sys.argv) < 3:
    print("usage: replay_app.py RECORDING.csv MODEL.tflite [SECONDS]")
    sys.exit(2)
recording, model_path = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else None

# Everything a hot swap needs is reserved here (docs/architecture.md, "Slot memory
# contract"): two model buffers of this size when they fit, else one, plus the arena (1.5 x
# this model's). If even that does not fit, Slot raises MemoryError with the numbers.
slot = Slot(model_path, max_bytes=64 * 1024)
m = slot.model
if m is None:
    print("no usable model in", model_path)
    sys.exit(1)
window = Window(m.window, m.channels, m.hop or m.window)
slot.window = window
rate = int(m.sample_rate or 50)  # Hz; the metadata stores it as a float
sensor = ReplaySensor(recording, rate_hz=rate, columns=m.channel_names)

state = {"last": None, "agree": 0, "total": 0}


def on_result(label, score):
    if label != state["last"]:
        print("label %s %.2f at row %d" % (label, score, sensor.index))
        state["last"] = label
    truth = sensor.label()
    if truth is not None:
        state["total"] += 1
        state["agree"] += truth == label


def fired(label, score):
    print("event %s %.2f" % (label, score))


rules = [Rule(lab, threshold=0.6, min_hits=2, cooldown_ms=1000, action=fired) for lab in m.labels or []]
runner = Runner(sensor, window, slot, rules, period_ms=max(1, 1000 // rate), stats_ms=5000,
                live=Receiver(slot), on_result=on_result)
runner.run(duration_ms=None if seconds is None else int(seconds * 1000))
runner.report()
if state["total"]:
    print("agreement %d/%d windows" % (state["agree"], state["total"]))
