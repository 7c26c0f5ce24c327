"""Runner: the application loop — sample, window, infer, rules — with timing statistics.

    Runner(sensor, window, slot, rules, period_ms=20).run()

Every `period_ms` it calls `sensor()` (any callable returning one sample, or None when no
sample is available yet) and pushes the sample into the window; when a window is ready it
asks the slot for the model (a pending hot swap happens exactly there, between windows),
classifies, and feeds (label, score) to every rule. The slack before the next deadline goes
to background work: the live-update receiver, then the slot's staging, then idle. With no
slack they still make a minimum of progress each period (64 console bytes, one 512-byte
staging chunk), so an overloaded loop cannot starve a model update.

It never dies on one bad sample: sensor errors, rejected samples, and exceptions from
actions are counted and logged (rate-limited), and the loop goes on. KeyboardInterrupt and
SystemExit still stop it.

Stats, one parseable line (printed every `stats_ms` and by `report()`; the live protocol's
STATS frame returns it):
    uformer stats t_ms=.. samples=.. windows=.. invokes=.. p50_us=.. p99_us=.. max_us=..
                  heap_free=.. missed=.. bad=.. errors=.. swaps=.. refused=.. model=..
p50/p99/max are over the last LAT_N invokes (set_input + invoke + arg-max, in µs);
heap_free is -1 on CPython; missed counts sample deadlines passed by a whole period or more.
"""
from .compat import const, heap_free, idle, sleep_ms, ticks_add, ticks_diff, ticks_ms, ticks_us, zeros

LAT_N = const(256)  # latencies kept for the percentiles (1 KB of RAM)
_LOG_EVERY = const(100)  # after the first, log one error in this many


def percentile(sorted_vals, p):
    """Nearest-rank percentile (p in 0..100) of an ascending sequence."""
    n = len(sorted_vals)
    if n == 0:
        return 0
    k = (p * n + 99) // 100  # ceil(p/100 * n), in integers
    if k < 1:
        k = 1
    return sorted_vals[k - 1]


class Runner:
    def __init__(self, sensor, window, slot, rules=(), period_ms=20, stats_ms=60000,
                 live=None, log=print, on_result=None):
        if period_ms <= 0:
            raise ValueError("period_ms must be > 0, got %r" % (period_ms,))
        self.sensor = sensor
        self.window = window
        self.slot = slot
        self.rules = list(rules)
        self.period_ms = int(period_ms)  # ticks arithmetic needs ints (rates come as floats)
        self.stats_ms = stats_ms
        self.log = log
        self.on_result = on_result
        self.live = live
        if live is not None and getattr(live, "stats", None) is None:
            live.stats = self.stats_line
        self.samples = 0
        self.windows = 0
        self.invokes = 0
        self.no_model = 0  # windows that arrived while no model was loaded
        self.missed = 0
        self.bad = 0
        self.errors = 0
        self.last = None  # (label, score) of the last window
        self._lat = zeros("i", LAT_N)
        self._lat_n = 0
        self._lat_i = 0
        self._t0 = ticks_ms()
        self._last_stats = self._t0
        self._stop = False

    # --- one sample -----------------------------------------------------------------------

    def step(self, now_ms=None):
        """Take one sample and, if a window completes, run it. Returns True on a window."""
        if now_ms is None:
            now_ms = ticks_ms()
        try:
            sample = self.sensor()
        except Exception as e:  # an I2C glitch, a malformed CSV line: skip this sample
            self._bad("sensor", e)
            return False
        if sample is None:
            return False
        try:
            ready = self.window.push(sample)
        except (ValueError, TypeError) as e:
            self._bad("sample", e)
            return False
        self.samples += 1
        if ready:
            self.infer(now_ms)
        return ready

    def infer(self, now_ms=None):
        """Run the current window through the slot's model and the rules."""
        self.windows += 1
        model = self.slot.acquire()
        if model is None:
            self.no_model += 1
            return None
        t0 = ticks_us()
        try:
            label, score = model.classify(self.window)
        except Exception as e:  # the window no longer fits the model, etc.
            self._error("inference", e)
            return None
        dt = ticks_diff(ticks_us(), t0)
        self.invokes += 1
        self._lat[self._lat_i] = dt
        self._lat_i = (self._lat_i + 1) % LAT_N
        if self._lat_n < LAT_N:
            self._lat_n += 1
        self.last = (label, score)
        if now_ms is None:
            now_ms = ticks_ms()
        for r in self.rules:
            try:
                r.update(label, score, now_ms)
            except Exception as e:  # a failing action must not stop the sensing
                self._error("rule %s" % r.label, e)
        if self.on_result is not None:
            try:
                self.on_result(label, score)
            except Exception as e:
                self._error("on_result", e)
        return label, score

    def _bad(self, what, e):
        self.bad += 1
        if self.bad == 1 or self.bad % _LOG_EVERY == 0:
            self._log("bad %s #%d skipped: %s" % (what, self.bad, e))

    def _error(self, what, e):
        self.errors += 1
        if self.errors == 1 or self.errors % _LOG_EVERY == 0:
            self._log("%s failed (#%d): %s: %s" % (what, self.errors, type(e).__name__, e))

    def _log(self, msg):
        if self.log is not None:
            self.log("uformer runner: " + msg)

    # --- background work ----------------------------------------------------------------

    def background(self, deadline_us):
        """Live receiver, slot staging, stats: until deadline_us (a ticks_us value)."""
        live = self.live
        if live is not None:
            try:
                live.poll(deadline_us)
            except Exception as e:  # a broken console stream or a peer's bytes: never fatal
                self._error("live", e)
        # Staging always advances by at least one chunk per period, even without slack,
        # so a swap completes on a loaded loop too (at one chunk's cost per period).
        try:
            self.slot.step(deadline_us)
        except Exception as e:  # the slot refuses what it can name; anything else lands here
            self._error("slot", e)
        if self.stats_ms and ticks_diff(ticks_ms(), self._last_stats) >= self.stats_ms:
            self.report()

    # --- the loop -------------------------------------------------------------------------

    def stop(self):
        self._stop = True

    def run(self, duration_ms=None, samples=None):
        """Loop until stop(), `duration_ms` elapsed or `samples` samples taken."""
        period = self.period_ms
        start = ticks_ms()
        nxt = start
        taken = 0
        self._stop = False
        while not self._stop:
            now = ticks_ms()
            if duration_ms is not None and ticks_diff(now, start) >= duration_ms:
                break
            if samples is not None and taken >= samples:
                break
            late = ticks_diff(now, nxt)
            if late < 0:
                # Slack: background work until 1 ms before the deadline, then wait for it.
                self.background(ticks_add(ticks_us(), (-late - 1) * 1000))
                while ticks_diff(nxt, ticks_ms()) > 0:
                    if ticks_diff(nxt, ticks_ms()) > 1:
                        sleep_ms(1)
                    else:
                        idle()
                now = ticks_ms()
            else:
                if late >= period:
                    # A whole period or more behind: count the deadlines lost and
                    # resynchronize instead of bursting through them.
                    self.missed += late // period
                    nxt = now
                # No slack: background work still makes its minimum progress (a few
                # console bytes, one staging chunk) so updates cannot starve.
                self.background(ticks_us())
            self.step(now)
            taken += 1
            nxt = ticks_add(nxt, period)
        return self.stats()

    # --- stats ----------------------------------------------------------------------------

    def stats(self):
        n = self._lat_n
        lat = sorted(self._lat[i] for i in range(n))
        s = self.slot
        return {
            "t_ms": ticks_diff(ticks_ms(), self._t0),
            "samples": self.samples,
            "windows": self.windows,
            "invokes": self.invokes,
            "p50_us": percentile(lat, 50),
            "p99_us": percentile(lat, 99),
            "max_us": lat[-1] if n else 0,
            "heap_free": heap_free(),
            "missed": self.missed,
            "bad": self.bad,
            "errors": self.errors,
            "swaps": s.swaps,
            "refused": s.refusals,
            "model": (s.digest or "unverified")[:12] if s.model is not None else "none",
        }

    def stats_line(self):
        d = self.stats()
        return "uformer stats " + " ".join("%s=%s" % (k, d[k]) for k in _STATS_KEYS)

    def report(self):
        self._last_stats = ticks_ms()
        line = self.stats_line()
        if self.log is not None:
            self.log(line)
        return line


_STATS_KEYS = ("t_ms", "samples", "windows", "invokes", "p50_us", "p99_us", "max_us",
               "heap_free", "missed", "bad", "errors", "swaps", "refused", "model")


def parse_stats(line):
    """dict of a stats line (values int where they parse); None if it is not one."""
    if not line.startswith("uformer stats "):
        return None
    out = {}
    for kv in line[len("uformer stats "):].split():
        k, _, v = kv.partition("=")
        try:
            out[k] = int(v)
        except ValueError:
            out[k] = v
    return out
