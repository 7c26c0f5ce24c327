"""Live model updates: the host side of the framed protocol in docs/protocol.md.

    from microformer.transport import SerialTransport
    with SerialTransport("/dev/ttyACM0") as t:      # opening sends nothing: the app runs on
        link = LiveLink(t)
        print(link.ping())
        result = link.push("model.tflite", open("model.tflite", "rb").read())

LiveLink speaks over the live-frame methods (write(bytes), read(timeout)) of the one board
link, microformer.transport.Transport (a serial port, or an app run as a local process).
The device app keeps running (uformer.Runner with a uformer.live.Receiver); models travel
in CRC32-checked chunks, each acknowledged with the device's write offset, so a damaged,
lost, duplicated or delayed frame is retried, a broken transfer resumes where the device's
file ends, and the whole file's sha256 is checked on the device before it is installed.
Streamed 'd' frames (up to `window` in flight) are used while the device holds Ctrl-C off
for the transfer; replies are parsed strictly (a line that fails its CRC is not a reply).
Lines the app prints that are not protocol replies go to `on_line` (the monitor shows them).
"""
import binascii
import hashlib
import time

from .errors import MicroformerError

PROTO = 1
SYN = 0x16
HDR_LEN = 37
DEFAULT_CHUNK = 1024
# Streamed data frames ('d') in flight before the host waits for an acknowledgement: the
# device parses them back to back in its slack time instead of one per sample period.
DEFAULT_WINDOW = 8


class LiveError(MicroformerError):
    """The device refused the model, or the link failed beyond the retry budget."""


def _int(text, default):
    return int(text) if text is not None and text.isdigit() else default


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def frame(kind, seq, off=0, payload=b""):
    """Header bytes of one frame (send `payload` after the device answers R)."""
    if len(kind) != 1:
        raise ValueError(f"frame type must be one character, got {kind!r}")
    if not 0 <= off < 1 << 32 or len(payload) >= 1 << 16:
        raise ValueError(f"offset {off} or payload length {len(payload)} out of range")
    body = b"MF%s%04X%08X%04X%08X" % (kind.encode(), seq & 0xFFFF, off, len(payload),
                                      _crc(payload) if payload else 0)
    return bytes((SYN,)) + body + b"%08X\n" % _crc(body)


class Reply:
    """One device reply line: seq, code (R K N E W), text and its key=value fields."""

    def __init__(self, seq, code, text):
        self.seq = seq
        self.code = code
        self.text = text

    def fields(self):
        out = {}
        for part in self.text.split():
            k, sep, v = part.partition("=")
            if sep:
                out[k] = v
        return out

    def off(self):
        v = self.fields().get("off")
        return int(v) if v is not None and v.isdigit() else None

    def __repr__(self):
        return f"Reply({self.seq:04X} {self.code} {self.text!r})"


def parse_reply(line):
    """A Reply from one line (bytes, without the newline), or None if it is not a valid one."""
    i = line.rfind(b"#MF ")
    if i < 0:
        return None
    line = line[i:].rstrip(b"\r")
    j = line.rfind(b" *")
    if j < 0 or len(line) - j != 10:
        return None
    body, crc = line[:j], line[j + 2:]
    try:
        if int(crc, 16) != _crc(body):
            return None
        text = body.decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    parts = text.split(" ", 3)
    if len(parts) < 3 or len(parts[1]) != 4 or len(parts[2]) != 1:
        return None
    try:
        seq = int(parts[1], 16)
    except ValueError:
        return None
    return Reply(seq, parts[2], parts[3] if len(parts) > 3 else "")


# --- the link ---------------------------------------------------------------------------------


class LiveLink:
    """Request/acknowledge over a Transport. Counters: `timeouts`, `naks`, `resends`."""

    def __init__(self, transport, timeout=1.0, retries=40, chunk=DEFAULT_CHUNK, on_line=None,
                 progress=None, window=DEFAULT_WINDOW):
        self.t = transport
        self.timeout = timeout
        self.retries = retries
        self.chunk = chunk
        self.window = window  # streamed frames in flight; 0 or 1: every frame handshaken
        self.on_line = on_line
        self.progress = progress
        self._seq = 0
        self._rx = b""
        self.timeouts = 0
        self.naks = 0
        self.resends = 0
        self.restarts = 0
        self.last_begin_off = None

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _lines(self, timeout):
        """Complete lines that arrive within `timeout` (generator; stops at the timeout)."""
        end = time.monotonic() + timeout
        while True:
            nl = self._rx.find(b"\n")
            if nl >= 0:
                line, self._rx = self._rx[:nl], self._rx[nl + 1:]
                yield line
                continue
            left = end - time.monotonic()
            if left <= 0:
                return
            self._rx += self.t.read(min(left, 0.05))

    def wait(self, seqs, codes, timeout):
        """The first valid reply whose seq is in `seqs` and code in `codes`, or None."""
        for line in self._lines(timeout):
            r = parse_reply(line)
            if r is None:
                if b"#MF " not in line and self.on_line is not None:
                    self.on_line(line.decode("utf-8", "replace"))
                continue
            if r.seq in seqs and r.code in codes:
                return r
        return None

    def request(self, kind, payload=b"", off=0, timeout=None):
        """Send one frame until the device answers it (K, N, E or W); raises LiveError
        after `retries` unanswered attempts."""
        timeout = self.timeout if timeout is None else timeout
        for attempt in range(self.retries):
            if attempt:
                self.resends += 1
            seq = self._next_seq()
            self.t.write(frame(kind, seq, off, payload))
            if payload:
                r = self.wait({seq}, "RKNEW", timeout)
                if r is None:
                    self.timeouts += 1
                    self._fill(len(payload))
                    continue
                if r.code != "R":
                    return r
                self.t.write(payload)
            r = self.wait({seq}, "KNEW", timeout)
            if r is None:
                self.timeouts += 1
                if payload:
                    self._fill(len(payload))
                continue
            return r
        raise LiveError(f"no answer to {kind!r} frame (offset {off}) after {self.retries} tries: "
                        "is the app running a uformer.live.Receiver on this port?")

    def _fill(self, n):
        # The device may be inside a frame whose bytes the link lost, waiting for up to n
        # more payload bytes: zeros complete it at once (it then fails its CRC and the
        # device answers N) instead of after the device's frame timeout. Zeros outside a
        # frame are skipped by the device, and are never Ctrl-C.
        self.t.write(bytes(n))

    def ping(self):
        r = self.request("P")
        if r.code != "K":
            raise LiveError(f"device answered ping with {r.code}: {r.text}")
        info = r.fields()
        if info.get("proto") != str(PROTO):
            raise LiveError(f"device speaks live protocol {info.get('proto')}, this host {PROTO}")
        return info

    def stats(self):
        r = self.request("S")
        if r.code != "K":
            raise LiveError(f"stats refused: {r.text}")
        return r.text

    def abort(self):
        return self.request("A")

    def push(self, name, data, install_timeout=60.0, resume=True, expect_sha256=None):
        """Send model bytes to slot `name`; returns the device's final fields
        (sha, test_us, ...). Raises LiveError with the device's reason when refused.

        expect_sha256: the digest the device must find (e.g. from a release manifest);
        by default the digest of `data`. resume=False discards a partial earlier transfer.
        `last_begin_off` tells where the device resumed."""
        data = bytes(data)
        size = len(data)
        digest = (expect_sha256 or hashlib.sha256(data).hexdigest()).lower()
        info = self.ping()
        chunk = min(self.chunk, _int(info.get("chunk"), self.chunk))
        # A device that holds Ctrl-C off for a whole transfer takes streamed frames.
        hold_s = _int(info.get("hold_ms"), 0) / 1000.0 if info.get("stream") == "1" else 0.0
        if not resume:
            self.abort()
        sha_retry = True
        while True:
            off = self._begin(name, size, digest)
            self.last_begin_off = off
            if hold_s > 0 and self.window > 1:
                off = self._stream(data, off, chunk, hold_s)
            else:
                off = self._send(data, off, chunk)
            r = self._end(install_timeout)
            if r.code == "K":
                out = r.fields()
                out.update(bytes=size, sha256=digest, timeouts=self.timeouts, naks=self.naks,
                           resends=self.resends, restarts=self.restarts)
                return out
            if "sha256 mismatch" in r.text and sha_retry:
                # Damage CRC32 let through (or a stale partial file): resend everything once.
                sha_retry = False
                self.restarts += 1
                continue
            raise LiveError(f"device refused {name}: {r.text}")

    def _begin(self, name, size, digest):
        deadline = time.monotonic() + self.timeout * self.retries
        while True:
            r = self.request("B", f"{name} {size} {digest}".encode())
            if r.code == "K" and r.off() is not None:
                return r.off()
            if r.code == "W" and time.monotonic() < deadline:
                time.sleep(self.timeout / 4)
                continue
            if r.code == "N":
                self.naks += 1
                continue
            raise LiveError(f"device refused the transfer of {name}: {r.text}")

    def _send(self, data, off, chunk):
        size = len(data)
        stuck = 0
        while off < size:
            piece = data[off:off + chunk]
            r = self.request("D", piece, off)
            new = r.off()
            if r.code == "K" and new is not None:
                stuck = 0 if new > off else stuck + 1
                off = new
                if self.progress is not None:
                    self.progress(off, size)
            elif r.code == "N":
                self.naks += 1
                stuck += 1
                if new is not None:
                    off = new
            elif r.code == "E" and "no transfer" in r.text:
                raise LiveError("device lost the transfer state (app restarted?); push again to resume")
            else:
                raise LiveError(f"device refused data at offset {off}: {r.text}")
            if stuck > self.retries:
                raise LiveError(f"no progress at offset {off} after {stuck} tries: {r.text}")
        return off

    def _stream(self, data, off, chunk, hold_s):
        """Send data from off in streamed 'd' frames, up to `window` unacknowledged: the
        header and payload go out together (no R round trip), which is safe for Ctrl-C only
        while the device holds it off for the transfer, i.e. within hold_ms of a reply the
        device sent after BEGIN. After a silence longer than half of that, the next frame
        goes handshaken ('D', which switches Ctrl-C off again before its payload). Every
        acknowledgement carries the device's write offset; a gap, a bad CRC or a timeout
        rewinds to it."""
        size = len(data)
        acked = off  # the device's write offset as last reported
        nxt = off  # the next byte to send
        inflight = {}  # seq -> end offset of a streamed frame
        fresh = time.monotonic()  # the BEGIN just got its answer
        stuck = 0
        while acked < size:
            while len(inflight) < self.window and nxt < size and \
                    time.monotonic() - fresh < hold_s / 2:
                piece = data[nxt:nxt + chunk]
                seq = self._next_seq()
                self.t.write(frame("d", seq, nxt, piece) + piece)
                inflight[seq] = nxt + len(piece)
                nxt += len(piece)
            if not inflight:
                # Quiet too long (or a rewind): one handshaken frame renews the hold.
                r = self.request("D", data[acked:acked + chunk], acked)
                fresh = time.monotonic()
            else:
                r = self.wait(set(inflight), "KNE", self.timeout)
                if r is None:
                    # Frames or replies lost. Zeros complete a frame the device may still be
                    # inside (it then answers N); everything in flight is sent again.
                    self.timeouts += 1
                    self.resends += len(inflight)
                    self._fill(chunk)
                    inflight.clear()
                    nxt = acked
                    fresh = 0.0
                    stuck += 1
                    if stuck > self.retries:
                        raise LiveError(f"no answer at offset {acked} after {stuck} tries")
                    continue
                fresh = time.monotonic()
                inflight.pop(r.seq, None)
            new = r.off()
            if r.code == "K" and new is not None:
                if new > acked:
                    acked = new
                    stuck = 0
                    if self.progress is not None:
                        self.progress(acked, size)
                if nxt < acked:
                    nxt = acked
            elif r.code == "N":
                # A gap or a damaged frame: the device says where it is; what is in flight
                # after that is resent (its late answers are ignored: seqs no longer wanted).
                self.naks += 1
                stuck += 1
                if new is not None:
                    acked = max(acked, new) if new <= size else acked
                self.resends += len(inflight)
                inflight.clear()
                nxt = acked
                if stuck > self.retries:
                    raise LiveError(f"no progress at offset {acked} after {stuck} tries: {r.text}")
            elif r.code == "E" and "no transfer" in r.text:
                raise LiveError("device lost the transfer state (app restarted?); push again to resume")
            else:
                raise LiveError(f"device refused data at offset {acked}: {r.text}")
        return acked

    def _end(self, install_timeout):
        deadline = time.monotonic() + install_timeout
        seqs = set()
        while True:
            r = self.request("E")
            seqs.add(self._seq)
            if r.code in "KE":
                return r
            if r.code == "N":
                raise LiveError(f"device has not received the whole file: {r.text}")
            # W: installing (sha256, load, test invoke); the outcome comes tagged with the
            # seq of the END that started it, which may be any one we sent.
            left = deadline - time.monotonic()
            if left <= 0:
                raise LiveError(f"device still installing after {install_timeout:.0f} s")
            r = self.wait(seqs, "KE", min(left, self.timeout * 4))
            if r is not None:
                return r
