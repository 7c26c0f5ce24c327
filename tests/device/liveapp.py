"""The device side of the live-protocol tests: a uformer app (Runner + live Receiver) that
talks over its stdin/stdout, run under CPython or MicroPython by test_live_protocol.py.

    <python|micropython> liveapp.py ROOT WORKDIR MODE CHUNK

MODE "file": the target is a FileSlot (no engine); "model": a Slot for model.tflite (needs
_uformer). Samples come from the test recording (ReplaySensor, one row per 5 ms period).
It runs until its stdin closes and Ctrl-C is back on (at most 4 s), then 300 ms more, then prints one line
"APPSTATE <json>" (runner stats, receiver counters, Ctrl-C switching) and exits.
"""
import sys

root, work, mode, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, root + "/device")

import json  # noqa: E402
import os  # noqa: E402

from uformer import compat  # noqa: E402
from uformer.live import Receiver  # noqa: E402
from uformer.runner import Runner  # noqa: E402
from uformer.sensors import ReplaySensor  # noqa: E402
from uformer.window import Window  # noqa: E402

switches = []


def kbd(ch):
    # Record every Ctrl-C switch (ms, char) and make the real one.
    switches.append((compat.ticks_ms(), ch))
    compat.kbd_intr(ch)


window = Window(8, 3, hop=4)
if mode == "file":
    from uformer.storage import FileSlot

    slot = FileSlot(work + "/model.tflite", max_bytes=64 * 1024)
else:
    from uformer.slot import Slot

    slot = Slot(work + "/model.tflite", max_bytes=64 * 1024, max_arena=8 * 1024, window=window)
rx = Receiver(slot, max_chunk=chunk, frame_timeout_ms=2000, quiet_ms=300)
rx.kbd_intr = kbd
sensor = ReplaySensor(os.getenv("UFORMER_TEST_DATA") + "/rec.csv")
runner = Runner(sensor, window, slot, [], period_ms=5, stats_ms=2000, live=rx)
print("app started")
t0 = compat.ticks_ms()
while not rx._closed:
    runner.run(samples=20)
# Ctrl-C comes back after quiet_ms without input; on a loaded machine that can take longer
# than a fixed tail, so keep the loop (and the receiver) running until it has, up to 4 s.
for _ in range(80):
    if not rx._kbd_off:
        break
    runner.run(duration_ms=50)
runner.run(duration_ms=300)
state = {
    "stats": runner.stats(),
    "rx": rx.counters(),
    "switches": switches,
    "elapsed_ms": compat.ticks_diff(compat.ticks_ms(), t0),
    "digest": slot.digest,
}
print("APPSTATE " + json.dumps(state))
