"""Decoding what a uformer app prints: predictions, stats lines, model events.

The formats are the ones the device framework and the example apps print:

    uformer stats t_ms=.. invokes=.. p50_us=.. p99_us=.. heap_free=.. swaps=.. model=..
    uformer slot NAME: serving SHA from PATH (N B, arena A B, test invoke T us)
    uformer slot NAME: swapped OLD -> NEW (source) | refused ...
    label walk 0.93 at row 1234          (examples/replay_app.py, on each label change)
    gesture wave 0.91 / event walk 0.88  (examples/imu_gestures.py, rules firing)
    pred walk 0.93 [us=812]              (one line per window, for apps that want it)

Every line becomes an Event (stats lines through uformer.runner.parse_stats, the device's
own parser); lines in none of these formats are kind "log". The live
protocol's own reply lines (#MF ...) are dropped.
"""
import re
from dataclasses import dataclass, field

# The device framework's own parser of its stats lines: one definition for both sides.
from uformer.runner import parse_stats

_PRED = re.compile(r"^(label|gesture|event|pred|prediction)\s+(\S+)\s+(-?\d+(?:\.\d*)?)(.*)$")
_SERVING = re.compile(r"^uformer slot (\S+): serving (\S+) from (\S+) \((\d+) B.*?arena (\d+) B"
                      r"(?:.*?test invoke (\d+) us)?")
_SLOT = re.compile(r"^uformer slot (\S+): (swapped|refused|verified|restored|error)\b\s*(.*)$")
_KV = re.compile(r"(\w+)=(\S+)")


@dataclass
class Event:
    kind: str  # prediction | event | stats | model | swap | refused | log
    text: str
    label: str = None
    score: float = None
    latency_us: int = None  # this window's, when the line says; else the last stats p50
    fields: dict = field(default_factory=dict)


class Decoder:
    """Feed lines, get Events; remembers the last stats for the latency of predictions."""

    def __init__(self):
        self.stats = None
        self.arena = None
        self.model = None

    def decode(self, line):
        line = line.rstrip("\r\n")
        if "#MF " in line:
            return None
        s = line.strip()
        st = parse_stats(s)
        if st is not None:
            self.stats = st
            return Event("stats", s, latency_us=st.get("p50_us"), fields=st)
        m = _PRED.match(s)
        if m:
            kind = "event" if m.group(1) in ("gesture", "event") else "prediction"
            extra = dict(_KV.findall(m.group(4)))
            lat = extra.get("us")
            if lat is not None and lat.isdigit():
                lat = int(lat)
            else:
                lat = self.stats.get("p50_us") if self.stats else None
            row = re.search(r"at row (\d+)", m.group(4))
            if row:
                extra["row"] = int(row.group(1))
            return Event(kind, s, m.group(2), float(m.group(3)), lat, extra)
        m = _SERVING.match(s)
        if m:
            self.arena = int(m.group(5))
            self.model = m.group(2)
            f = {"slot": m.group(1), "sha": m.group(2), "path": m.group(3),
                 "model_bytes": int(m.group(4)), "arena_bytes": int(m.group(5))}
            if m.group(6):
                f["test_us"] = int(m.group(6))
            return Event("model", s, fields=f)
        m = _SLOT.match(s)
        if m:
            kind = {"swapped": "swap", "refused": "refused"}.get(m.group(2), "model")
            return Event(kind, s, fields={"slot": m.group(1), "what": m.group(2), "detail": m.group(3)})
        return Event("log", s)


CSV_FIELDS = ("t_s", "kind", "label", "score", "latency_us", "p99_us", "heap_free", "invokes",
              "swaps", "text")


def csv_row(t, ev):
    f = ev.fields
    return {
        "t_s": f"{t:.3f}",
        "kind": ev.kind,
        "label": ev.label or "",
        "score": "" if ev.score is None else f"{ev.score:.4f}",
        "latency_us": "" if ev.latency_us is None else ev.latency_us,
        "p99_us": f.get("p99_us", "") if ev.kind == "stats" else "",
        "heap_free": f.get("heap_free", "") if ev.kind == "stats" else "",
        "invokes": f.get("invokes", "") if ev.kind == "stats" else "",
        "swaps": f.get("swaps", "") if ev.kind == "stats" else "",
        "text": ev.text,
    }


def format_event(t, ev):
    head = f"{t:8.2f} s  "
    if ev.kind in ("prediction", "event"):
        lat = f"  ~{ev.latency_us} us" if ev.latency_us is not None else ""
        tag = "→" if ev.kind == "prediction" else "!"
        return head + f"{tag} {ev.label:12s} {ev.score:5.2f}{lat}"
    if ev.kind == "stats":
        f = ev.fields
        heap = f.get("heap_free")
        heap = "" if heap in (None, -1) else f"  heap free {heap:,} B"
        return head + (f"stats  {f.get('invokes', '?')} invokes  p50 {f.get('p50_us', '?')} us  "
                       f"p99 {f.get('p99_us', '?')} us  missed {f.get('missed', '?')}  "
                       f"swaps {f.get('swaps', '?')}  refused {f.get('refused', '?')}{heap}  "
                       f"model {f.get('model', '?')}")
    if ev.kind == "model" and "arena_bytes" in ev.fields:
        f = ev.fields
        return head + (f"model  {f['slot']} {f['sha']} ({f['model_bytes']:,} B, arena "
                       f"{f['arena_bytes']:,} B)")
    if ev.kind in ("swap", "refused", "model"):
        return head + f"{ev.kind:6s} {ev.fields['slot']}: {ev.fields['detail']}"
    return head + "  " + ev.text
