"""Live model updates over the running app's console link (device side).

The host (host/microformer/live.py) streams a model in framed, CRC32-checked, resumable
chunks while the app keeps sensing and inferring; no Ctrl-C, no soft reset. The format is
in docs/protocol.md. In short:

  host -> device  SYN "MF" type seq4 off8 len4 pcrc8 hcrc8 LF   (37 ASCII bytes), then,
                  only after the device answered R, `len` payload bytes; or, for a
                  streamed data frame ('d', inside a transfer), the payload right away
  device -> host  "#MF " seq4 " " code " " text " *" crc8 LF    (one line)

`Receiver.poll(deadline_us)` reads whatever the console has (select.poll, never blocking
past the deadline) and is called from the Runner's slack time. Header fields are parsed
strictly (hex digits only) and bounded before anything is stored. Ctrl-C: payload bytes may
contain 0x03, which the runtime would turn into KeyboardInterrupt. Header bytes never do
(ASCII, and SYN/LF differ from 0x03 in two or more bits, so one flipped bit cannot make
one), so a valid header switches Ctrl-C off (micropython.kbd_intr(-1)) before the device
answers R, and it stays off while the frame is in flight and until the link has been quiet
for `quiet_ms` after it (so duplicated or delayed tails of a damaged frame are still read
with Ctrl-C off), or `hold_ms` while a transfer is open (streamed frames need that).

Data goes to the slot store's incoming file (NAME.part on littlefs, the inactive A/B file
on FAT) and survives resets: NAME.rx records the transfer ("name size sha256"), and a new
BEGIN for the same model resumes at the bytes already written. On END the slot verifies
the sha256, loads, test-invokes, installs atomically and swaps at the next window.
"""
import select
import sys
from binascii import crc32

from . import compat
from .compat import const, ticks_diff, ticks_ms
from .storage import exists, file_size, is_hex_digest, remove

PROTO = const(1)
SYN = const(0x16)
HDR_LEN = const(37)
_LF = const(0x0A)

_MIN_BYTES = const(64)  # console bytes a poll() takes even when its time budget is spent
_BODY_RUN = const(128)  # payload bytes read between two deadline checks (~1 ms on a Cortex-M4)

_SCAN = const(0)
_HEAD = const(1)
_BODY = const(2)

# Transfer states
_IDLE = const(0)
_RX = const(1)
_INSTALLING = const(2)
_DONE = const(3)


def _hex(b):
    """Value of the ASCII hex digits in b, or -1 if any byte is not one. Not int(x, 16):
    that accepts a sign, "0x", underscores and spaces, so a peer could send a length of
    -1 with a valid CRC."""
    v = 0
    for c in b:
        if 0x30 <= c <= 0x39:
            c -= 0x30
        elif 0x41 <= c <= 0x46:
            c -= 0x37
        elif 0x61 <= c <= 0x66:
            c -= 0x57
        else:
            return -1
        v = (v << 4) | c
    return v


def _dec(s, most):
    """Value of a string of 1..10 ASCII decimal digits, at most `most`; -1 otherwise (no
    sign, no spaces, no underscores: int() accepts all three)."""
    if not 0 < len(s) <= 10:
        return -1
    v = 0
    for ch in s:
        if ch < "0" or ch > "9":
            return -1
        v = v * 10 + ord(ch) - 0x30
    return v if v <= most else -1


def crc_hex(data):
    return "%08X" % (crc32(data) & 0xFFFFFFFF)


class Receiver:
    def __init__(self, slots, inp=None, out=None, max_chunk=1024, frame_timeout_ms=2000,
                 quiet_ms=300, hold_ms=3000, log=print):
        if not isinstance(slots, (list, tuple)):
            slots = [slots]
        self.slots = {}
        for s in slots:
            self.slots[s.name] = s
        if inp is None or out is None:
            i, o = compat.serial_streams()
            inp = inp if inp is not None else i
            out = out if out is not None else o
        self.inp = inp
        self.out = out
        self.max_chunk = max_chunk
        self.frame_timeout_ms = frame_timeout_ms
        self.quiet_ms = quiet_ms
        self.hold_ms = hold_ms  # Ctrl-C stays off this long without input during a transfer
        self.log = log
        self.stats = None  # callable returning a stats line (the Runner sets it)
        self.kbd_intr = compat.kbd_intr  # replaceable, so tests can watch the switching
        self._poller = select.poll()
        self._poller.register(inp, select.POLLIN)
        # MicroPython's ipoll iterates without allocating a result list per call (poll()
        # would, once per console byte).
        self._ipoll = getattr(self._poller, "ipoll", None)
        self._rbuf = bytearray(256 if compat.PARTIAL_READS else 1)
        self._rmv = memoryview(self._rbuf)
        self._fast = self._ipoll is not None and len(self._rbuf) == 1  # see _read_body
        self._hdr = bytearray(HDR_LEN)
        self._hmv = memoryview(self._hdr)
        self._hn = 0
        self._body = bytearray(max_chunk)
        self._bmv = memoryview(self._body)
        self._bn = 0
        self._state = _SCAN
        self._closed = False
        self._kbd_off = False
        self._last_rx = ticks_ms()
        self._frame_t0 = 0
        self._f_type = 0
        self._f_seq = 0
        self._f_off = 0
        self._f_len = 0
        self._f_crc = 0
        # transfer
        self._t = _IDLE
        self._t_slot = None
        self._t_size = 0
        self._t_digest = None
        self._t_off = 0
        self._t_file = None
        self._t_part = None
        self._t_end_seq = -1
        self._t_result = None  # (code, text) of the finished install
        # counters (docs/protocol.md lists them; `counters()` returns them)
        self.frames = 0
        self.bad_headers = 0
        self.bad_payloads = 0
        self.timeouts = 0
        self.exposed = 0  # 0x03 bytes read while Ctrl-C was on (a board would have stopped)
        self.installs = 0
        self.errors = 0  # exceptions the receiver caught or passed on to the Runner

    # --- reading ----------------------------------------------------------------------------

    def poll(self, deadline_us=None):
        """Process what the link has; True if any byte arrived. Never blocks past
        deadline_us (a ticks_us value; None: only what is there now).

        While a transfer is open it keeps listening until the deadline (waiting up to 1 ms
        at a time in select.poll, idle, not spinning): the host's next frame usually
        arrives within that slack, and returning would leave it unread until the next
        sample period, one period per frame."""
        got = False
        taken = 0
        while not self._closed:
            if not self._ready(0) and not self._await(deadline_us):
                break
            if self._state == _BODY and self._fast:
                # Past the deadline only the minimum a period always takes (_MIN_BYTES):
                # a loop with no slack must not fall further behind.
                room = _BODY_RUN
                if deadline_us is not None and ticks_diff(deadline_us, compat.ticks_us()) <= 0:
                    room = _MIN_BYTES - taken
                    if room <= 0:
                        break
                k = self._read_body(room)
                if k:
                    got = True
                    self._last_rx = ticks_ms()
                    taken += k
                    if self._bn == self._f_len:
                        self._state = _SCAN
                        self._payload_done()
                    if deadline_us is not None and ticks_diff(deadline_us, compat.ticks_us()) <= 0:
                        break
                    continue
            n = self.inp.readinto(self._rbuf)
            if n is None:  # a non-blocking stream with nothing after all
                break
            if not n:
                # EOF: the host side closed (pipes in the simulator); stop polling it.
                self._closed = True
                self._poller.unregister(self.inp)
                break
            got = True
            self._last_rx = ticks_ms()
            try:
                self._feed(n)
            except Exception:
                # Whatever a peer's bytes did, the next frame starts from a clean parser;
                # the Runner counts and logs the error.
                self.errors += 1
                self._state = _SCAN
                raise
            taken += n
            # MIN_BYTES per call even without time left, so a transfer advances on a loop
            # that has no slack; then as much as the deadline allows.
            if taken >= _MIN_BYTES and deadline_us is not None and \
                    ticks_diff(deadline_us, compat.ticks_us()) <= 0:
                break
        now = ticks_ms()
        if self._state == _BODY and ticks_diff(now, self._frame_t0) > self.frame_timeout_ms:
            self.timeouts += 1
            self._state = _SCAN
            self._reply(self._f_seq, "N", "timeout after %d of %d payload bytes off=%d" % (
                self._bn, self._f_len, self._t_off))
        # Ctrl-C comes back once the link is quiet: after quiet_ms, or hold_ms while a
        # transfer is open (streamed 'd' frames carry payload without an R handshake, so
        # it must stay off between them while the host is still sending).
        if self._kbd_off and self._state == _SCAN and ticks_diff(now, self._last_rx) >= (
                self.hold_ms if self._t == _RX else self.quiet_ms):
            self._kbd_off = False
            self.kbd_intr(3)
        return got

    def _read_body(self, room):
        """Payload bytes straight into the payload buffer while the console has them, up
        to `room` at a time: the hot loop of a transfer on MicroPython, whose console reads
        one byte at a time. No method call, slice or allocation per byte (about 2.5 us a
        byte on unix MicroPython instead of 11 through _feed)."""
        ipoll = self._ipoll
        rd = self.inp.readinto
        rb = self._rbuf
        body = self._body
        bn = self._bn
        end = self._f_len
        if end - bn > room:
            end = bn + room
        while bn < end:
            ready = False
            for _ in ipoll(0):
                ready = True
                break
            if not ready or not rd(rb):
                break  # nothing now, or EOF (which the general path then sees)
            body[bn] = rb[0]
            bn += 1
        k = bn - self._bn
        self._bn = bn
        return k

    def _await(self, deadline_us):
        """While a transfer is open: wait for input in 1 ms steps until 1 ms before the
        deadline; True when some arrived."""
        if deadline_us is None or self._t != _RX:
            return False
        while ticks_diff(deadline_us, compat.ticks_us()) > 1000:
            if self._ready(1):
                return True
        return False

    def _ready(self, wait_ms):
        if self._ipoll is not None:
            for _ in self._ipoll(wait_ms):
                return True
            return False
        return bool(self._poller.poll(wait_ms))

    def _feed(self, n):
        rb = self._rbuf
        i = 0
        while i < n:
            st = self._state
            if st == _BODY:
                # Bulk copy: the rest of the read buffer, up to the end of the payload.
                take = self._f_len - self._bn
                if take > n - i:
                    take = n - i
                if take <= 0:  # cannot happen with a checked length; never loop on it
                    self._state = _SCAN
                    continue
                if take == 1:  # one byte per read on MicroPython: no slices to allocate
                    self._body[self._bn] = rb[i]
                else:
                    self._bmv[self._bn:self._bn + take] = self._rmv[i:i + take]
                self._bn += take
                i += take
                if self._bn == self._f_len:
                    self._state = _SCAN
                    self._payload_done()
                continue
            b = rb[i]
            i += 1
            if b == 3 and not self._kbd_off:
                self.exposed += 1
            if b == SYN:
                self._hdr[0] = b
                self._hn = 1
                self._state = _HEAD
            elif st == _HEAD:
                self._hdr[self._hn] = b
                self._hn += 1
                if self._hn == HDR_LEN:
                    self._state = _SCAN
                    self._header_done()

    def _header_done(self):
        h = self._hmv
        if h[1] != 0x4D or h[2] != 0x46 or h[36] != _LF:  # "MF" ... LF
            self.bad_headers += 1
            return
        seq = _hex(h[4:8])
        off = _hex(h[8:16])
        ln = _hex(h[16:20])
        pcrc = _hex(h[20:28])
        hcrc = _hex(h[28:36])
        # Every field is unsigned hex by construction, so it is in range once it parsed.
        if seq < 0 or off < 0 or ln < 0 or pcrc < 0 or hcrc < 0:
            self.bad_headers += 1
            return
        if crc32(h[1:28]) & 0xFFFFFFFF != hcrc:
            self.bad_headers += 1
            return
        self.frames += 1
        if not self._kbd_off:
            self._kbd_off = True
            self.kbd_intr(-1)
        self._f_type = h[3]
        self._f_seq = seq
        self._f_off = off
        self._f_len = ln
        self._f_crc = pcrc
        if ln > self.max_chunk:
            self._reply(seq, "E", "chunk of %d bytes exceeds the device's %d" % (ln, self.max_chunk))
            return
        if ln == 0:
            if pcrc != 0:
                self.bad_headers += 1
                return
            self._handle(h[3], seq, off, self._bmv[0:0])
            return
        self._bn = 0
        self._frame_t0 = ticks_ms()
        self._state = _BODY
        if h[3] != 0x64:
            self._reply(seq, "R", "")
        # 'd': streamed data, its payload follows the header at once (no R): the host sends
        # it only within a transfer whose Ctrl-C hold (hold_ms) a reply just renewed.

    def _payload_done(self):
        body = self._bmv[0:self._f_len]
        if crc32(body) & 0xFFFFFFFF != self._f_crc:
            self.bad_payloads += 1
            self._reply(self._f_seq, "N", "payload crc mismatch off=%d" % self._t_off)
            return
        self._handle(self._f_type, self._f_seq, self._f_off, body)

    # --- replies ----------------------------------------------------------------------------

    def _reply(self, seq, code, text):
        text = text.replace("\n", " ").replace("\r", " ")
        line = "#MF %04X %s %s" % (seq & 0xFFFF, code, text)
        data = (line + " *" + crc_hex(line.encode()) + "\n").encode()
        flush = getattr(self.out, "flush", None)
        # Lines the app printed before this reply go out first (CPython buffers print()).
        text_flush = getattr(sys.stdout, "flush", None)
        if text_flush is not None:
            text_flush()
        self.out.write(data)
        if flush is not None:
            flush()

    # --- frames -----------------------------------------------------------------------------

    def _handle(self, t, seq, off, payload):
        try:
            if t == 0x50:  # P: ping
                self._ping(seq)
            elif t == 0x42:  # B: begin
                self._begin(seq, bytes(payload).decode())
            elif t == 0x44 or t == 0x64:  # D: data; d: streamed data (no R handshake)
                self._data(seq, off, payload)
            elif t == 0x45:  # E: end
                self._end(seq)
            elif t == 0x53:  # S: stats
                self._reply(seq, "K", self.stats() if self.stats is not None else "no runner")
            elif t == 0x41:  # A: abort, and forget the partial file
                if self._t == _INSTALLING:
                    self._reply(seq, "W", "installing")
                    return
                slot = self._t_slot
                self._abort()
                if slot is not None:
                    remove(slot.store.part_path())
                    remove(slot.path + ".rx")
                self._reply(seq, "K", "aborted")
            else:
                self._reply(seq, "E", "unknown frame type %r" % chr(t))
        except OSError as e:
            # Filesystem full or failing: the host must not retry blindly.
            self._close_file()
            self._t = _IDLE
            self._reply(seq, "E", "storage error: %s" % e)
        except (ValueError, UnicodeError) as e:
            self._reply(seq, "E", "bad frame: %s" % e)
        except MemoryError as e:
            self._reply(seq, "E", "out of memory: %s" % e)
        except Exception as e:  # a bug must not leave the host waiting: say what it was
            self.errors += 1
            self._reply(seq, "E", "device error: %s: %s" % (type(e).__name__, e))

    def _ping(self, seq):
        parts = ["proto=%d" % PROTO, "chunk=%d" % self.max_chunk, "stream=1",
                 "hold_ms=%d" % self.hold_ms]
        for name in self.slots:
            s = self.slots[name]
            parts.append("slot=%s:%s" % (name, (s.digest or "unverified") if s.serving else "none"))
        self._reply(seq, "K", " ".join(parts))

    def _begin(self, seq, text):
        parts = text.split()
        if len(parts) != 3:
            self._reply(seq, "E", "BEGIN needs 'name size sha256', got %r" % text[:60])
            return
        name, size, digest = parts[0], _dec(parts[1], 0xFFFFFFFF), parts[2].lower()
        if size < 0:
            self._reply(seq, "E", "BEGIN size must be decimal digits, got %r" % parts[1][:12])
            return
        slot = self.slots.get(name)
        if slot is None:
            self._reply(seq, "E", "no slot named %s (this app has: %s)" % (
                name, ",".join(self.slots)))
            return
        if not is_hex_digest(digest):
            self._reply(seq, "E", "sha256 must be 64 hex digits")
            return
        if size <= 0 or size > slot.max_bytes:
            self._reply(seq, "E", "model is %d bytes, slot %s accepts 1..%d (max_bytes)" % (
                size, name, slot.max_bytes))
            return
        same = self._t != _IDLE and self._t_slot is slot and self._t_digest == digest
        if same and self._t in (_RX, _INSTALLING, _DONE):
            self._reply(seq, "K", "off=%d" % (self._t_size if self._t != _RX else self._t_off))
            return
        if self._t == _INSTALLING:
            self._reply(seq, "W", "installing another model")
            return
        if digest == slot.digest and slot.serving:
            self._reply(seq, "K", "off=%d active" % size)
            self._set_done(slot, digest, size, ("K", "installed sha=%s active" % digest[:12]))
            return
        self._abort()
        part = slot.store.part_path()
        rx = slot.path + ".rx"
        off = 0
        if exists(rx) and exists(part):
            try:
                with open(rx) as f:
                    rec = f.read().split()
            except OSError:
                rec = []
            if rec == [name, str(size), digest]:
                off = file_size(part)
                if off > size:
                    off = 0
        if off == 0:
            with open(rx, "w") as f:
                f.write("%s %d %s\n" % (name, size, digest))
            self._t_file = open(part, "wb")
        else:
            self._t_file = open(part, "ab")
        self._t = _RX
        self._t_slot = slot
        self._t_size = size
        self._t_digest = digest
        self._t_off = off
        self._t_part = part
        self._t_result = None
        self._reply(seq, "K", "off=%d" % off)

    def _data(self, seq, off, payload):
        if self._t != _RX:
            if self._t in (_INSTALLING, _DONE):
                self._reply(seq, "K", "off=%d" % self._t_size)
            else:
                self._reply(seq, "E", "no transfer in progress; send BEGIN")
            return
        if off < self._t_off:
            self._reply(seq, "K", "off=%d dup" % self._t_off)  # a duplicate: already written
            return
        if off > self._t_off:
            self._reply(seq, "N", "gap off=%d" % self._t_off)
            return
        n = len(payload)
        if off + n > self._t_size:
            self._reply(seq, "E", "chunk ends at %d, past the model's %d bytes" % (off + n, self._t_size))
            return
        # No flush per chunk: on littlefs each one is a metadata commit, several ms of a
        # small board's sample period. A reset loses at most the unsynced tail, and BEGIN
        # resumes from what the file really holds (its size), so nothing is acknowledged
        # twice or skipped. END closes (syncs) the file before it is verified.
        self._t_file.write(payload)
        self._t_off = off + n
        self._reply(seq, "K", "off=%d" % self._t_off)

    def _end(self, seq):
        t = self._t
        if t == _DONE:
            self._reply(seq, self._t_result[0], self._t_result[1])
            return
        if t == _INSTALLING:
            self._reply(seq, "W", "installing")
            return
        if t != _RX:
            self._reply(seq, "E", "no transfer in progress; send BEGIN")
            return
        if self._t_off != self._t_size:
            self._reply(seq, "N", "incomplete off=%d" % self._t_off)
            return
        self._close_file()
        self._t = _INSTALLING
        self._t_end_seq = seq
        self._reply(seq, "W", "installing")
        self._t_slot.offer(self._t_part, self._t_digest, source="live", done=self._installed)

    def _installed(self, ok, info):
        slot = self._t_slot
        remove(slot.path + ".rx")
        if ok:
            self.installs += 1
            res = ("K", "installed sha=%s test_us=%s" % (self._t_digest[:12], info.get("test_us", 0)))
        else:
            # The bytes are wrong or the model is unusable: resending the same file will not
            # help unless it was damaged, so start the next attempt from byte 0.
            remove(self._t_part)
            res = ("E", "refused: %s" % info.get("reason"))
        self._t = _DONE
        self._t_result = res
        self._reply(self._t_end_seq, res[0], res[1])

    def _set_done(self, slot, digest, size, result):
        self._abort()
        self._t = _DONE
        self._t_slot = slot
        self._t_digest = digest
        self._t_size = size
        self._t_result = result

    def _close_file(self):
        if self._t_file is not None:
            self._t_file.close()
            self._t_file = None

    def _abort(self):
        """Forget the current transfer; its incoming file and .rx stay for a resume."""
        self._close_file()
        self._t = _IDLE
        self._t_slot = None
        self._t_digest = None
        self._t_result = None

    def counters(self):
        return {"frames": self.frames, "bad_headers": self.bad_headers,
                "bad_payloads": self.bad_payloads, "timeouts": self.timeouts,
                "exposed_ctrl_c": self.exposed, "installs": self.installs, "errors": self.errors,
                "kbd_off": self._kbd_off}
