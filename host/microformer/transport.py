"""The one board link: every verb that talks to a board goes through a Transport.

    with connect(port="/dev/ttyACM0") as t:           # or sim="sim/", drive="/media/u/CIRCUITPY"
        st = t.call("state", t.models_dir, "gesture.tflite")   # files: onboard.py functions
        t.put_file("/lib/x.mpy", data)                           # verified, atomic copy
        print(t.exec("import sys; print(sys.implementation)"))   # exec: code in the raw REPL
    with connect(port="/dev/ttyACM0") as t:           # live frames: the app keeps running
        LiveLink(t).push("m.tflite", data)             # write(bytes) / read(timeout)
        for line in t.lines(10): ...                   # what the app prints (monitor)

A Transport has three groups of methods:
- files: `call(fn, *args)` runs a function of microformer/onboard.py on the board (in this
  process for a directory); `write_part` and `put_file` build the verified copy on it (chunks
  checked with crc32 on arrival, the whole file with sha256 before an atomic rename).
- exec: `exec(code)` runs Python in the board's raw REPL and returns what it printed;
  `exec_lines(code)` yields its output lines as they come; `run_detached(script, argv)` starts
  an app and lets go of the port; `soft_reset`, `restart`.
- live frames: `write(bytes)` / `read(timeout)` on the byte stream of a running app
  (microformer.live.LiveLink speaks the framed protocol over them), `lines(seconds)`.

Implementations: SerialTransport (a MicroPython board's serial port, or the emulated board's
pty, opened with mpremote's serial layer; the raw REPL is driven here with a deadline on
every read), AmpyTransport (the same on adafruit-ampy's Pyboard, for boards where mpremote's
raw-paste REPL does not fit, e.g. CircuitPython), ProcessTransport (an app as a local
process: the simulator or unix MicroPython on stdin/stdout), SimTransport (a directory that
stands for the board's filesystem) and DriveTransport (a CircuitPython board's CIRCUITPY USB
drive). A method a transport cannot do raises DeviceError saying so.

Serial link failures: any exchange whose answer does not arrive or does not check out (a
dropped, flipped or duplicated byte), helper pieces included, is retried after getting the
board back into the raw REPL: every onboard function is idempotent, so a retry never does a
step twice. When the board has given no valid answer for `link_timeout` seconds (push
--link-timeout, default 10) the link counts as lost; every failure ends as a DeviceError
saying what happened (`microformer: ...` from the CLI), never a traceback.
"""
import ast
import base64
import binascii
import contextlib
import hashlib
import io
import os
import select
import subprocess
import time

from .errors import MicroformerError

try:
    from mpremote.transport_serial import SerialTransport as _MpremoteSerial
except ImportError:  # the CLI still runs without it; connecting says what is missing
    _MpremoteSerial = None

MODELS_DIR = "/models"  # on the board; the simulator's is DIR/models
HELPER_PIECE = 1024  # helper source characters per upload command (each one crc-checked)
# Raw REPL protocol bytes (MicroPython's pyexec): the banner after Ctrl-A.
BANNER = b"raw REPL; CTRL-B to exit\r\n"
TRANSPORTS = ("mpremote", "ampy")  # --transport choices for a serial port


class DeviceError(MicroformerError):
    """No board, a board that does not answer, or a link that keeps failing."""


def onboard_source():
    """onboard.py without its docstring and comment lines: fewer bytes over a slow UART."""
    from . import onboard

    with open(onboard.__file__) as f:
        src = f.read()
    body = src.split('"""', 2)[2] if src.startswith('"""') else src
    lines = [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return "\n".join(lines) + "\n"


def parse_result(out):
    """The value of onboard.reply's line "<repr> *<crc32 hex>" (the last line of out);
    ValueError when it is missing or damaged."""
    lines = out.decode("utf-8").strip().splitlines()
    if not lines:
        raise ValueError("empty reply")
    text, sep, crc = lines[-1].rstrip().rpartition(" *")
    if not sep:
        raise ValueError(f"reply without a checksum: {lines[-1][:60]!r}")
    if crc != "-" and int(crc, 16) != binascii.crc32(text.encode()) & 0xFFFFFFFF:
        raise ValueError(f"damaged reply: {lines[-1][:60]!r}")
    return ast.literal_eval(text)


def call_code(fn, args):
    """The raw REPL command that runs onboard.<fn>(*args) and prints its checked result."""
    return "_mf['reply'](_mf[%r](%s))" % (fn, ",".join(repr(a) for a in args))


def split_lines(buf):
    """(complete lines decoded, rest) of bytes from the app's output."""
    *lines, rest = buf.split(b"\n")
    return [ln.decode("utf-8", "replace").rstrip("\r") for ln in lines], rest


class Transport:
    """The board link every verb uses; see the module docstring for the three method groups.
    Subclasses implement what their link can do; the rest says so with a DeviceError."""

    kind = "?"
    errors = 0  # commands lost and retried
    recoveries = 0
    models_dir = MODELS_DIR
    log = None

    def describe(self):
        return self.kind

    def open(self):
        return self

    def close(self):
        """Release the link (nothing to release by default)."""

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def _cannot(self, what):
        return DeviceError(f"{what} is not possible on the {self.describe()}")

    def _say(self, msg):
        if self.log is not None:
            self.log(msg)

    # --- files ----------------------------------------------------------------------------------

    def call(self, fn, *args, timeout=None):
        """onboard.<fn>(*args) on the board; its result (plain dict/int/str/list)."""
        raise self._cannot("running board commands")

    def write_part(self, part, data, off=0, chunk=2048, progress=None):
        """Chunks of data from off on into `part` (a *.part file) on the board; each chunk's
        crc32 is checked there and a lost one is resent from the size the board reports.
        Returns the part file's size (== len(data)). progress(n): n more bytes are there."""
        from .onboard import chunk_crc

        size = len(data)
        stuck = 0
        while off < size:
            piece = data[off:off + chunk]
            b64 = base64.b64encode(piece).decode()
            new = self.call("write", part, off, b64, chunk_crc(part, off, piece))
            if new <= -1000:
                err = -1000 - new
                if err == 28:  # ENOSPC
                    raise DeviceError(f"device filesystem is full after {off} of {size} bytes of {part}")
                if err == 30:  # EROFS: CircuitPython while its drive is mounted on a computer
                    raise DeviceError(f"the board's filesystem is read-only to the board ({part}); on "
                                      f"CircuitPython that is so while CIRCUITPY is mounted on a "
                                      f"computer: push --drive there, or remount it in boot.py")
                # ENOENT here: the folder is missing, because makedirs could not create it.
                why = "its folder does not exist and could not be created" if err == 2 else os.strerror(err)
                raise DeviceError(f"{self.describe()}: writing {part} failed: {why} (OSError {err}); "
                                  f"is the filesystem read-only or full?")
            if new < 0 or new > size:
                # A damaged chunk (-2), or a part file that is not ours: resume where it is
                # sound, or start over.
                new = off if new == -2 else 0
                stuck += 1
            elif new <= off:
                stuck += 1
            else:
                stuck = 0
            if stuck > 20:
                raise DeviceError(f"no progress writing {part} at byte {off} of {size}")
            if progress is not None:
                progress(new - off)
            off = new
        return off

    def put_file(self, path, data, chunk=4096, progress=None):
        """Copy any file to the board (`path` on the board) through path.part: written in
        checked chunks, its sha256 verified on the board, renamed into place. A failure
        leaves at most path.part; path is either the old file or the new one."""
        digest = hashlib.sha256(data).hexdigest()
        d = path.rsplit("/", 1)[0] if "/" in path else ""
        if d:
            self.call("makedirs", d)
        slow = len(data) / 2000  # seconds the board may hash without a word (2 KB/s)
        for _ in range(3):
            self.write_part(path + ".part", data, 0, chunk, progress)
            if self.call("commit", path + ".part", path, digest, timeout=slow):
                return digest
            # The reply to a commit that did its rename may have been lost on the link.
            if self.call("sha256_file", path, timeout=slow) == digest:
                return digest
        raise DeviceError(f"{path}: the board never received an intact copy (sha256 mismatch 3 times)")

    # --- exec -----------------------------------------------------------------------------------

    def exec(self, code, timeout=None, soft_reset=False):
        """Run Python code on the board; what it printed (str). DeviceError when it raised."""
        raise self._cannot("running code")

    def exec_lines(self, code, silence=180.0):
        """Run code on the board, yielding its output lines as they arrive."""
        raise self._cannot("running code")

    def soft_reset(self):
        raise self._cannot("a soft reset")

    def run_detached(self, script, argv):
        raise self._cannot("starting an app")

    def restart(self):
        """Let the board's own app run again after commands (nothing to do by default)."""

    # --- live frames ----------------------------------------------------------------------------

    def write(self, data):
        raise self._cannot("streaming to a running app")

    def read(self, timeout):
        raise self._cannot("streaming from a running app")

    def lines(self, seconds=None):
        """The running app's output lines (str, without line ends) for `seconds` (None:
        until the link ends)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        buf = b""
        while deadline is None or time.monotonic() < deadline:
            left = 0.2 if deadline is None else min(0.2, max(0.0, deadline - time.monotonic()))
            buf += self.read(left)
            got, buf = split_lines(buf)
            yield from got


class _Lost(Exception):
    """One exchange with the board failed (timeout, damaged protocol bytes): retried."""


class SerialTransport(Transport):
    """A MicroPython board on a serial port (USB CDC, UART adapter, the emulated board's pty).

    The port is opened with mpremote's serial layer; opening sends nothing, so a running app
    goes on running (live frames, monitor). The first file or exec command interrupts it
    and enters the raw REPL (raw-paste when the board has it); those exchanges are driven
    here, every read bounded by a deadline, so that a silent or cut link ends the command
    within `link_timeout` seconds of the board's last valid answer, and every link failure
    ends as a DeviceError that names what happened.

    link_timeout: seconds without a valid answer from the board (a reply, the raw REPL
        banner, a raw-paste window) after which the link counts as lost.
    connect_timeout: seconds the board gets to show the raw REPL prompt at connect.
    cmd_timeout: seconds of silence after which one command counts as lost and is retried
        (default: a third of link_timeout, so a retry fits in it).
    retries: commands lost in a row before giving up.
    """

    kind = "serial"

    def __init__(self, port, baudrate=115200, connect_timeout=5.0, cmd_timeout=None, retries=20,
                 link_timeout=10.0, log=None):
        self.port = port
        self.baudrate = baudrate
        self.link_timeout = float(link_timeout)
        self.connect_timeout = min(float(connect_timeout), self.link_timeout)
        self.cmd_timeout = min(float(cmd_timeout), self.link_timeout) if cmd_timeout else self.link_timeout / 3
        self.retries = retries
        self.log = log
        self.models_dir = MODELS_DIR
        self.t = None
        self.errors = 0  # commands lost and retried
        self.recoveries = 0
        self.restarted = False
        self.helper_pieces = 0  # helper upload commands sent (retries included)
        self._rx = b""  # bytes read past the end of the last exchange
        self._alive = 0.0  # time of the board's last valid answer
        self._helper_crc = None
        self._in_repl = False  # the board sits in the raw REPL (its app interrupted)
        self.use_raw_paste = True
        self._last_read = self._last_write = 0.0  # live frames: the link deadline

    def describe(self):
        return f"board on {self.port}"

    # --- bytes on the link, every wait bounded -------------------------------------------

    def _write(self, data):
        import serial

        try:
            self.t.serial.write(data)
        except (serial.SerialException, OSError) as e:
            raise _Lost(f"writing to {self.port} failed: {e}") from None

    def _read_some(self, deadline, one=False):
        """Bytes that arrive before deadline (b"" when none do); one: at most one byte."""
        import serial

        s = self.t.serial
        wait = deadline - time.monotonic()
        if wait <= 0:
            return b""
        old = s.timeout
        try:
            s.timeout = min(0.05, wait)
            got = s.read(1 if one else max(1, s.in_waiting))
        except (serial.SerialException, OSError, TypeError) as e:
            # pyserial raises SerialException for a port that went away; TypeError comes
            # from some of its versions when the fd was closed under it.
            raise _Lost(f"reading from {self.port} failed: {e}") from None
        finally:
            try:
                s.timeout = old
            except (serial.SerialException, OSError, ValueError):
                pass
        return got

    def _read_until(self, ending, timeout, what, limit=1 << 20, one=False):
        """Bytes up to and including `ending`. Gives up (_Lost) after `timeout` seconds
        without a new byte, at the link deadline, or after `limit` bytes without it.
        one: read byte by byte, so nothing past `ending` is taken off the port."""
        buf = self._rx
        self._rx = b""
        quiet_end = time.monotonic() + timeout
        while True:
            i = buf.find(ending)
            if i >= 0:
                self._rx = buf[i + len(ending):]
                return buf[:i + len(ending)]
            if len(buf) > limit:
                raise _Lost(f"no {what} in {len(buf)} bytes from the board")
            now = time.monotonic()
            end = min(quiet_end, self._deadline())
            if now >= end:
                self._rx = buf
                silent = "nothing" if not buf else repr(buf[-60:])
                within = f" within {timeout:.3g} s" if end == quiet_end else ""
                raise _Lost(f"no {what}{within} (it sent {silent})")
            chunk = self._read_some(end, one)
            if chunk:
                buf += chunk
                quiet_end = time.monotonic() + timeout

    def _waiting(self):
        import serial

        try:
            return self.t.serial.in_waiting
        except (serial.SerialException, OSError, TypeError) as e:
            raise _Lost(f"reading from {self.port} failed: {e}") from None

    def _drain(self, quiet=0.05):
        """Drops whatever the board sends until it is quiet for `quiet` seconds (1 s at most)."""
        self._rx = b""
        end = min(time.monotonic() + 1.0, self._deadline())
        while time.monotonic() < end:
            if not self._read_some(time.monotonic() + quiet):
                return

    def _deadline(self):
        return self._alive + self.link_timeout

    def _answered(self):
        self._alive = time.monotonic()

    def _check_deadline(self, what):
        if time.monotonic() >= self._deadline():
            raise DeviceError(f"the link to {self.port} is lost: no valid answer from the board for "
                              f"{self.link_timeout:g} s (--link-timeout){'; ' + what if what else ''}")

    # --- connection -------------------------------------------------------------------------

    def open(self):
        """Open the port; nothing is sent (the board's app keeps running)."""
        from mpremote.transport import TransportError
        import serial

        if self.t is not None:
            return self
        if self.port.startswith("/dev/") and not os.path.exists(self.port):
            raise DeviceError(f"no board on {self.port}")
        if _MpremoteSerial is None:
            raise DeviceError("talking to a board over serial needs mpremote (pip install mpremote)")
        try:
            # A read timeout: mpremote reads a pty byte by byte and would block forever on
            # a board that stopped talking.
            with contextlib.redirect_stdout(io.StringIO()):
                self.t = _MpremoteSerial(self.port, baudrate=self.baudrate, timeout=1.0)
        except (TransportError, serial.SerialException, OSError) as e:
            raise DeviceError(f"no board on {self.port} ({e})") from None
        self._in_repl = False
        self._helper_crc = None
        self._rx = b""
        # The link deadline of read() runs from the host's first write on: an app that
        # prints nothing while only watched (monitor) is not a lost link.
        self._last_read, self._last_write = time.monotonic(), 0.0
        return self

    def _repl(self, helper=True):
        """Into the raw REPL (interrupting the app) unless the board is there already, and,
        with helper, onboard.py loaded. The board gets connect_timeout to show the prompt,
        then link_timeout from there."""
        if self.t is None:
            raise DeviceError(f"the link to {self.port} is closed")
        if not self._in_repl:
            self._alive = time.monotonic() - self.link_timeout + self.connect_timeout
            self._rx = b""
            self._helper_crc = None
            try:
                self._raw_repl()
            except _Lost as e:
                raise DeviceError(self._no_raw_repl(str(e))) from None
            self._answered()
        if helper and self._helper_crc is None:
            self._with_retries("loading the helper code", self._load_helper)

    def _no_raw_repl(self, detail):
        got = detail.split("(it sent ", 1)[1][:-1] if "(it sent " in detail else ""
        hint = ("a running program did not stop on Ctrl-C (push --live hands a model to a "
                "uformer app that keeps running)" if got and got != "nothing" and len(got) > 8 else
                "is it running MicroPython, or is another program using the port?")
        return (f"board did not answer the raw REPL in {self.connect_timeout:g} s"
                + (f" (it sent {got})" if got else " (it sent nothing)") + "; " + hint)

    def _raw_repl(self):
        """Interrupt whatever runs and get the raw REPL banner, asking again (Ctrl-C,
        Ctrl-A) every second until the link deadline. The prompt '>' stays unread."""
        # Two Ctrl-C: the first may land while an app's own except-KeyboardInterrupt runs.
        self._write(b"\r\x03")
        time.sleep(0.05)
        self._write(b"\x03")
        self._drain()
        seen = b""
        while True:
            self._write(b"\r\x01")
            try:
                self._read_until(BANNER, 1.0, "raw REPL banner")
                break
            except _Lost as e:
                if time.monotonic() >= self._deadline():
                    if "(it sent nothing)" in str(e) and seen:
                        raise _Lost(f"no raw REPL banner (it sent {seen[-60:]!r})") from None
                    raise
                seen = (seen + self._rx)[-200:]
                self._write(b"\r\x03")
                self._drain()
        self.use_raw_paste = True
        self._in_repl = True

    def _exec(self, cmd, timeout):
        """Runs cmd in the raw REPL; (stdout, stderr) bytes. _Lost when the exchange
        failed on the link."""
        self._submit(cmd)
        return self._follow(timeout)

    def _submit(self, cmd):
        """Sends cmd to the raw REPL and has it accepted (raw-paste or plain); its output
        follows on the port."""
        data = cmd.encode() if isinstance(cmd, str) else cmd
        self._read_until(b">", self.cmd_timeout, "raw REPL prompt")
        if self.use_raw_paste:
            self._write(b"\x05A\x01")
            head = self._read_until(b"R", self.cmd_timeout, "raw-paste answer")
            if head.endswith(b"raw R"):
                # Firmware older than raw-paste mode: Ctrl-A printed the banner again.
                self._read_until(BANNER[5:] + b">", self.cmd_timeout, "raw REPL banner")
            elif len(head) > 1:  # "R" must be the first byte: something else came first
                raise _Lost(f"unexpected {head[-40:]!r} before the raw-paste answer")
            else:
                flag = self._read_exact(1, "raw-paste answer")
                if flag == b"\x01":
                    return self._paste(data)
                if flag != b"\x00":
                    raise _Lost(f"raw-paste answer R{flag!r}")
            # The board has no raw-paste mode: the plain raw REPL from now on.
            self.use_raw_paste = False
        for i in range(0, len(data), 256):
            self._write(data[i:i + 256])
            time.sleep(0.01)
        self._write(b"\x04")
        ok = self._read_exact(2, "OK after the command")
        if ok != b"OK":
            raise _Lost(f"the board did not accept the command (it sent {ok!r})")

    def _read_exact(self, n, what):
        buf = self._rx
        self._rx = b""
        end = min(time.monotonic() + self.cmd_timeout, self._deadline())
        while len(buf) < n:
            if time.monotonic() >= end:
                self._rx = buf
                raise _Lost(f"no {what} (it sent {buf!r})")
            buf += self._read_some(end)
        self._rx = buf[n:]
        return buf[:n]

    def _paste(self, data):
        """Raw-paste mode: the board grants a window of bytes and sends 0x01 for each
        further window; 0x04 from it ends the paste early."""
        win = self._read_exact(2, "raw-paste window size")
        size = win[0] | win[1] << 8
        if not 0 < size <= 8192:  # boards grant 32..512 bytes: a larger one is damaged
            raise _Lost(f"raw-paste window size {size}")
        self._answered()
        room = size
        i = 0
        while i < len(data):
            while room == 0 or self._rx or self._waiting():
                b = self._read_exact(1, "raw-paste window")
                if b == b"\x01":
                    room += size
                    self._answered()
                elif b == b"\x04":
                    self._write(b"\x04")
                    raise _Lost("the board ended the paste early")
                else:
                    raise _Lost(f"unexpected {b!r} during raw paste")
            n = min(room, len(data) - i)
            self._write(data[i:i + n])
            room -= n
            i += n
        self._write(b"\x04")
        # The board acknowledges the end of the paste with 0x04 (window acks may come first).
        ack = self._read_until(b"\x04", self.cmd_timeout, "end-of-paste acknowledgement")
        if ack.strip(b"\x01") != b"\x04":
            raise _Lost(f"unexpected {ack[-40:]!r} at the end of the paste")

    def _follow(self, timeout):
        out = self._read_until(b"\x04", timeout, "end of the command's output")[:-1]
        err = self._read_until(b"\x04", timeout, "end of the command's error output")[:-1]
        return out, err

    def _load_helper(self):
        """Sends onboard.py in pieces (each checked with crc32 on the board and resent
        alone when damaged), then runs it only when the whole source's crc32 matches.
        Skipped when the board still holds this helper (after a recovery)."""
        src = onboard_source()
        crc = binascii.crc32(src.encode()) & 0xFFFFFFFF
        have = self._run_checked("try:\n print('MFH%d'%_mf['_crc'])\nexcept Exception:\n print('MFH0')",
                                 b"MFH")
        if have == str(crc):
            return
        # The pieces a lost exchange interrupted stay on the board: resume after them
        # (each was crc-checked with its offset; a wrong whole is deleted by the last step).
        held = self._run_checked(
            "from binascii import crc32\n"
            "def _mfa(s,o,c):\n"
            " global _mfs\n"
            " if o==0:_mfs=''\n"
            " if o==len(_mfs) and crc32(('%d:'%o+s).encode())==c:_mfs+=s\n"
            " print('MFA%d'%len(_mfs))\n"
            "try:\n print('MFA%d'%len(_mfs))\nexcept NameError:\n print('MFA0')", b"MFA")
        off = int(held) if held.isdigit() else 0
        if off % HELPER_PIECE or off > len(src):
            off = 0
        stuck = 0
        while off < len(src):
            piece = src[off:off + HELPER_PIECE]
            c = binascii.crc32(f"{off}:{piece}".encode()) & 0xFFFFFFFF
            self.helper_pieces += 1
            got = self._run_checked("_mfa(%r,%d,%d)" % (piece, off, c), b"MFA")
            new = int(got) if got.isdigit() else -1
            if new == off + len(piece):
                off = new
                stuck = 0
                continue
            stuck += 1
            if stuck > 5:
                raise _Lost(f"helper piece at {off} refused {stuck} times")
            if 0 <= new < off and new % HELPER_PIECE == 0:
                off = new  # the board holds less than we thought: resend from there
        done = self._run_checked(
            "if crc32(_mfs.encode())==%d:\n _mf={}\n exec(_mfs,_mf)\n _mf['_crc']=%d\n print('MFOK1')\n"
            "else:\n print('MFOK0')\n"
            "del _mfs" % (crc, crc), b"MFOK")
        if done != "1":
            raise _Lost("the helper code arrived damaged")
        self._helper_crc = crc

    def _run_checked(self, cmd, tag):
        """Runs a helper-upload command; the text after `tag` on its reply line. _Lost
        when the reply is missing or the board raised."""
        out, err = self._exec(cmd, self.cmd_timeout)
        if err:
            raise _Lost(f"the board raised {err.decode('utf-8', 'replace').strip().splitlines()[-1:]}")
        text = out.decode("utf-8", "replace").strip()
        if not text.startswith(tag.decode()) or "\n" in text:
            raise _Lost(f"unexpected reply {text[:60]!r}")
        self._answered()
        return text[len(tag):]

    def _with_retries(self, what, step):
        """step() until it succeeds: after each failed try the link is recovered (raw REPL
        entered again) and the step repeated, until retries or the link deadline run out."""
        last = None
        for attempt in range(self.retries + 1):
            try:
                return step()
            except _Lost as e:
                last = str(e)
            self.errors += 1
            self._check_deadline(f"{what}: {last}")
            self._say(f"{what}: {last}; retrying ({attempt + 1}/{self.retries})")
            self._recover(what)
        raise DeviceError(f"the link to {self.port} kept failing: {what} failed {self.retries + 1} "
                          f"times (last: {last})")

    def _recover(self, what):
        """Back to a known state after a lost exchange: interrupt whatever the board is
        doing, re-enter the raw REPL (reopening the port when it went away). Bounded by
        the link deadline; a DeviceError when that passes."""
        self.recoveries += 1
        self._helper_crc = None  # checked (and sent again if the board lost it) before the next command
        while True:
            self._check_deadline(what)
            try:
                if not self._port_ok():
                    self._reopen()
                self._raw_repl()
                self._answered()
                return
            except _Lost as e:
                self._say(f"recovering the link to {self.port}: {e}")

    def _port_ok(self):
        import serial

        if self.port.startswith("/dev/") and not os.path.exists(self.port):
            return False
        try:
            self.t.serial.in_waiting
            return self.t.serial.is_open
        except (serial.SerialException, OSError, TypeError):
            return False

    def _reopen(self):
        import serial

        if self.port.startswith("/dev/pts/") or getattr(self.t, "is_pty", False):
            # A pseudo-terminal does not come back: the same name may be handed to another
            # program's terminal next, so it is never opened again.
            raise DeviceError(f"the link to {self.port} is lost: the port went away")
        try:
            self.t.serial.close()
        except (serial.SerialException, OSError) as e:
            self._say(f"closing {self.port}: {e}")
        while True:
            try:
                self.t.serial.open()
                return
            except (serial.SerialException, OSError):
                self._check_deadline(f"{self.port} went away")
                time.sleep(0.2)

    def _say(self, msg):
        if self.log is not None:
            self.log(msg)

    # --- commands -----------------------------------------------------------------------------

    def call(self, fn, *args, timeout=None):
        """Run onboard.<fn>(*args) on the board and return its result. `timeout`: seconds
        the command may compute without a word (default cmd_timeout); the link deadline
        is extended to cover it."""
        cmd = call_code(fn, args)
        timeout = self.cmd_timeout if timeout is None else max(timeout, self.cmd_timeout)
        state = {"last": None, "same": 0}

        def once():
            if self._helper_crc is None:  # after a recovery: is the helper still there?
                self._load_helper()
            if timeout > self.link_timeout / 3:
                # A long computation: the board may be silent for `timeout`.
                self._alive = max(self._alive, time.monotonic() + timeout - self.link_timeout / 3 * 2)
            out, err = self._exec(cmd, timeout)
            if err:
                # The board raised: a damaged command (SyntaxError, NameError, ...) is worth
                # another try; the same error three times in a row is the board's answer.
                msg = err.decode("utf-8", "replace").strip().splitlines()
                msg = msg[-1] if msg else "?"
                state["same"] = state["same"] + 1 if msg == state["last"] else 1
                state["last"] = msg
                if state["same"] >= 3:
                    raise DeviceError(f"{fn} failed on the board: {msg}")
                raise _Lost(f"the board raised {msg}")
            try:
                res = parse_result(out)
            except Exception as e:  # any failure to parse is a reply damaged on the link
                state["same"] = 0
                raise _Lost(f"{type(e).__name__}: {e}") from None
            self._answered()
            return res

        self._repl()
        return self._with_retries(f"command {fn}", once)

    def soft_reset(self):
        """Soft-reset and stay in the raw REPL: a fresh heap (and no helper) for code that
        needs the board's memory, like an app started the way main.py is at boot."""
        self._repl(helper=False)
        self._answered()
        try:
            self._read_until(b">", self.cmd_timeout, "raw REPL prompt", one=True)
            self._write(b"\x04")
            self._read_until(b"soft reboot\r\n", self.connect_timeout, "soft reboot", one=True)
            self._read_until(BANNER, self.connect_timeout, "raw REPL banner", one=True)
        except _Lost as e:
            raise DeviceError(f"the board did not come back from a soft reset: {e}") from None
        self._helper_crc = None
        self._answered()

    def exec(self, code, timeout=None, soft_reset=False):
        """Run code in the raw REPL (after a soft reset: a fresh heap, as `mpremote run`
        gives) and return what it printed. It may compute without a word for `timeout`
        seconds (default cmd_timeout). Not retried: code is not known to be idempotent.
        DeviceError with the board's traceback when it raised, or when the link failed."""
        timeout = self.cmd_timeout if timeout is None else max(timeout, self.cmd_timeout)
        if soft_reset:
            self.soft_reset()
        else:
            self._repl(helper=False)
        self._alive = max(self._alive, time.monotonic() + timeout - self.link_timeout)
        try:
            out, err = self._exec(code, timeout)
        except _Lost as e:
            raise DeviceError(f"running code on {self.port} failed: {e}") from None
        self._answered()
        out = out.decode("utf-8", "replace").replace("\r\n", "\n")
        if err:
            err = err.decode("utf-8", "replace").replace("\r\n", "\n").strip()
            raise DeviceError(f"the code raised on the board:\n{out[-2000:]}{err}")
        return out

    def exec_lines(self, code, silence=180.0):
        """Run code in the raw REPL and yield its output lines as they arrive (an app that
        runs for minutes). DeviceError when the board is silent for `silence` seconds or the
        code raised. The board is back at the raw REPL afterwards."""
        self._repl(helper=False)
        try:
            self._submit(code)
        except _Lost as e:
            raise DeviceError(f"starting code on {self.port} failed: {e}") from None
        buf, self._rx = self._rx, b""
        last = time.monotonic()
        # After the code, the raw REPL sends its output, 0x04, the exception text and 0x04.
        while b"\x04" not in buf:
            got, buf = split_lines(buf)
            yield from got
            chunk = self._stream_read(time.monotonic() + 0.2)
            if chunk:
                last = time.monotonic()
                buf += chunk
            elif time.monotonic() - last > silence:
                raise DeviceError(f"the board went silent for {silence:g} s while the code ran")
        out, err = buf.split(b"\x04", 1)
        got, rest = split_lines(out + b"\n")
        yield from (ln for ln in got if ln.strip())
        while b"\x04" not in err and time.monotonic() - last < self.link_timeout:
            err += self._stream_read(time.monotonic() + 0.2)
        err, _, self._rx = err.partition(b"\x04")  # the raw REPL prompt '>' follows
        self._answered()
        err = err.decode("utf-8", "replace").strip()
        if err:
            raise DeviceError(f"the code failed on the board: {err.splitlines()[-1]}")

    def run_detached(self, script, argv):
        """Soft-reset, start `script` (a file on the board) with sys.argv = [script, *argv]
        in the raw REPL, and let go of the port without waiting: the app keeps running and
        the caller opens the port again (live frames, monitor) to talk to it."""
        import serial

        self.soft_reset()
        args = [script] + [str(a) for a in argv]
        try:
            self._submit("import sys\nsys.argv[:]=%r\nexec(open(%r).read(),{'__name__':'__main__'})\n"
                         % (args, script))
            self.t.serial.close()
        except (_Lost, serial.SerialException, OSError) as e:
            raise DeviceError(f"could not start {script} on {self.port}: {e}") from None
        self.t = None
        self._in_repl = False

    def restart(self):
        """Leave the raw REPL and soft-reset, so the board runs boot.py and main.py again."""
        if self.t is None or not self._in_repl:
            return
        try:
            self._write(b"\r\x02")
            time.sleep(0.05)
            self._write(b"\x04")
            self.restarted = True
            self._in_repl = False
        except _Lost as e:
            raise DeviceError(f"could not restart the app on {self.port}: {e}") from None

    def close(self):
        if self.t is None:
            return
        import serial

        try:
            if self._in_repl:
                self.t.serial.write(b"\r\x02")  # back to the friendly REPL
            self.t.close()
        except (serial.SerialException, OSError) as e:
            self._say(f"closing {self.port}: {e}")
        self.t = None
        self._in_repl = False

    # --- live frames: the running app's byte stream ------------------------------------------

    def _stream_read(self, deadline):
        try:
            return self._read_some(deadline)
        except _Lost as e:
            raise DeviceError(f"lost the board on {self.port}: {e}") from None

    def write(self, data):
        """Bytes to the running app. No flush(): it waits until the other end has read
        everything (tcdrain), which would let only one streamed frame be in flight."""
        if self.t is None:
            raise DeviceError(f"the link to {self.port} is closed")
        if self._last_write < self._last_read:
            self._last_write = time.monotonic()  # the wait for an answer starts here
        try:
            self._write(data)
        except _Lost as e:
            raise DeviceError(f"the link to {self.port} failed: {e}") from None

    def read(self, timeout):
        """Bytes the app sent within timeout seconds (b"" if none). DeviceError when the
        board has sent nothing at all for link_timeout seconds since the host last sent it
        something (a cut cable, a board that stopped); silence while the host only waits
        (an app installing after its W answer, an app that prints nothing) is not a loss."""
        if self.t is None:
            raise DeviceError(f"the link to {self.port} is closed")
        data, self._rx = self._rx, b""
        if not data:
            end = time.monotonic() + max(0.0, timeout)
            fd = self.t.serial.fileno() if hasattr(self.t.serial, "fileno") else None
            while True:
                n = self._waiting_stream()
                if n:
                    data = self._stream_read(end + 1.0)
                    break
                left = end - time.monotonic()
                if left <= 0:
                    break
                if fd is not None:
                    # Woken by the first byte instead of a polling sleep: a streamed transfer
                    # answers each frame's acknowledgement within a fraction of a millisecond.
                    select.select([fd], [], [], min(left, 0.2))
                else:
                    time.sleep(0.002)
        now = time.monotonic()
        if data:
            self._last_read = now
        elif self._last_write >= self._last_read and now - self._last_write >= self.link_timeout:
            raise DeviceError(f"the link to {self.port} is lost: nothing from the board for "
                              f"{self.link_timeout:g} s (--link-timeout)")
        return data

    def _waiting_stream(self):
        try:
            return self._waiting()
        except _Lost as e:
            raise DeviceError(f"lost the board on {self.port}: {e}") from None


class AmpyTransport(Transport):
    """A board's serial port through adafruit-ampy's Pyboard (`--transport ampy`): its raw
    REPL (entered with a soft reset, written in 32-byte pieces, no raw-paste), for boards
    where mpremote's raw-paste REPL does not fit, such as CircuitPython's. onboard.py is
    sent once after the raw REPL is entered; each call's reply is crc32-checked. ampy has no
    recovery: a failed exchange ends the command with a DeviceError (push again resumes)."""

    kind = "serial"

    def __init__(self, port, baudrate=115200, link_timeout=10.0, log=None, **_ignored):
        self.port = port
        self.baudrate = baudrate
        self.link_timeout = float(link_timeout)
        self.log = log
        self.models_dir = MODELS_DIR
        self.pb = None
        self._in_repl = False
        self._helper = False
        self.restarted = False

    def describe(self):
        return f"board on {self.port} (ampy)"

    def open(self):
        if self.pb is not None:
            return self
        try:
            from ampy.pyboard import Pyboard, PyboardError
        except ImportError:
            raise DeviceError("--transport ampy needs adafruit-ampy (pip install 'microformer[ampy]')") from None
        import serial

        if self.port.startswith("/dev/") and not os.path.exists(self.port):
            raise DeviceError(f"no board on {self.port}")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.pb = Pyboard(self.port, baudrate=self.baudrate)
        except (PyboardError, serial.SerialException, OSError) as e:
            raise DeviceError(f"no board on {self.port} ({e})") from None
        return self

    def _run(self, code, timeout):
        from ampy.pyboard import PyboardError
        import serial

        if self.pb is None:
            raise DeviceError(f"the link to {self.port} is closed")
        try:
            if not self._in_repl:
                self.pb.enter_raw_repl()  # Ctrl-C, Ctrl-A and a soft reset
                self._in_repl = True
                self._helper = False
            out, err = self.pb.exec_raw(code, timeout=max(timeout, self.link_timeout))
        except (PyboardError, serial.SerialException, OSError) as e:
            self._in_repl = False
            raise DeviceError(f"the link to {self.port} failed (ampy): {e}") from None
        return out, err

    def call(self, fn, *args, timeout=None):
        if not self._in_repl or not self._helper:
            self._run("_mf={}\nexec(%r,_mf)\n" % onboard_source(), self.link_timeout)
            self._helper = True
        out, err = self._run(call_code(fn, args), timeout or self.link_timeout)
        if err:
            msg = err.decode("utf-8", "replace").strip().splitlines()
            raise DeviceError(f"{fn} failed on the board: {msg[-1] if msg else '?'}")
        try:
            return parse_result(out)
        except (ValueError, SyntaxError) as e:
            raise DeviceError(f"{fn}: damaged reply from {self.port} ({e}); try again") from None

    def exec(self, code, timeout=None, soft_reset=False):
        if soft_reset:
            self._in_repl = False  # ampy enters the raw REPL with a soft reset
        out, err = self._run(code, timeout or self.link_timeout)
        out = out.decode("utf-8", "replace").replace("\r\n", "\n")
        if err:
            err = err.decode("utf-8", "replace").replace("\r\n", "\n").strip()
            raise DeviceError(f"the code raised on the board:\n{out[-2000:]}{err}")
        return out

    def restart(self):
        if self.pb is None or not self._in_repl:
            return
        import serial

        try:
            self.pb.exit_raw_repl()
            self.pb.serial.write(b"\x04")
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"could not restart the app on {self.port}: {e}") from None
        self._in_repl = False
        self.restarted = True

    def close(self):
        if self.pb is None:
            return
        import serial

        try:
            if self._in_repl:
                self.pb.exit_raw_repl()
            self.pb.close()
        except (serial.SerialException, OSError) as e:
            self._say(f"closing {self.port}: {e}")
        self.pb = None
        self._in_repl = False


class ProcessTransport(Transport):
    """A device app running as a local process (the simulator, or unix MicroPython),
    talking over its stdin/stdout: live frames only. stderr is collected in
    `self.proc.stderr` when captured."""

    kind = "process"

    def __init__(self, argv, cwd=None, env=None, stderr=subprocess.PIPE):
        self.argv = argv
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=stderr, bufsize=0)
        self._out = self.proc.stdout.fileno()

    def describe(self):
        return f"process {os.path.basename(str(self.argv[0]))}"

    def write(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise DeviceError(f"device process exited with status {self.proc.poll()}") from None

    def read(self, timeout):
        r, _, _ = select.select([self._out], [], [], max(0.0, timeout))
        if not r:
            return b""
        data = os.read(self._out, 65536)
        if not data:
            # EOF: report it once the caller has used its timeout, like a silent link.
            time.sleep(max(0.0, timeout))
        return data

    def close(self, timeout=5):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # EOF: the app's cue to finish
            except BrokenPipeError:
                self.proc.poll()  # it already exited; wait() below collects it
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SimTransport(Transport):
    """The simulator: a directory standing for the board's filesystem (DIR/models/NAME.tflite,
    the app's files). Board commands run onboard.py's functions on it in this process; its
    lines() are what the app that `microformer sim DIR` runs prints."""

    kind = "sim"
    store_kind = None  # uformer.storage detects it (a host directory: rename store)

    def __init__(self, root, create=False, log=None):
        self.root = os.path.abspath(root)
        self.models_dir = os.path.join(self.root, "models")
        self.create = create
        self.log = log

    def describe(self):
        return f"simulator {self.root}"

    def open(self):
        if not os.path.isdir(self.root):
            parent = os.path.dirname(self.root)
            if not self.create:
                raise DeviceError(f"simulator directory {self.root} does not exist")
            if not os.path.isdir(parent):
                raise DeviceError(f"cannot create simulator directory {self.root}: "
                                  f"{parent} does not exist")
            os.mkdir(self.root)
        return self

    def call(self, fn, *args, timeout=None):
        from . import onboard
        from .simulator import SimError

        try:
            self._refuse_links(fn, args)
            if fn == "write":
                return self._write(*args)
            if fn in ("state", "install") and self.store_kind is not None:
                return getattr(onboard, fn)(*args, kind=self.store_kind)
            return getattr(onboard, fn)(*args)
        except SimError as e:
            raise DeviceError(f"{self.describe()}: {e}") from None
        except OSError as e:
            raise DeviceError(f"{self.describe()}: {fn}: {e}") from None

    def _refuse_links(self, fn, args):
        """No symlink among the files a command touches: the paths it is given (and their
        folders up to the simulator directory) and, for a model name, every NAME.* file
        the install steps write or rename (part, sidecar and its .tmp, A/B files)."""
        from .simulator import refuse_links

        for a in args:
            if isinstance(a, str) and os.path.isabs(a):
                refuse_links(a, self.root)
        if fn in ("state", "install") and len(args) >= 2:
            d, name = args[0], args[1]
            try:
                names = os.listdir(d)
            except OSError:
                names = []
            for n in names:
                if n == name or n.startswith(name + "."):
                    refuse_links(os.path.join(d, n))

    def _write(self, path, off, b64, crc):
        """onboard.write, writing only files it creates itself (O_EXCL | O_NOFOLLOW at
        offset 0, O_NOFOLLOW and a single link when appending)."""
        from . import onboard
        from .simulator import open_append, open_new

        if not path.endswith(".part"):
            return -2
        try:
            data = binascii.a2b_base64(b64)
        except (binascii.Error, ValueError):
            return -2
        if onboard.chunk_crc(path, off, data) != crc:
            return -2
        if off and onboard.size(path) != off:
            return onboard.size(path)
        try:
            with (open_append(path) if off else open_new(path)) as f:
                f.write(data)
        except OSError as e:
            return -1000 - (e.errno or 5)
        return onboard.size(path)

    def lines(self, seconds=None):
        """What the app `microformer sim DIR` runs prints from now on, until it stops or
        `seconds` pass."""
        from . import simulator

        if not os.path.isdir(self.root):
            raise DeviceError(f"simulator directory {self.root} does not exist")
        if simulator.running(self.root) is None:
            raise DeviceError(f"no app is running in the simulator {self.root}; start it with "
                              f"`microformer sim {self.root}`")
        log = simulator.console_log(self.root)
        start = os.path.getsize(log) if os.path.exists(log) else 0
        deadline = None if seconds is None else time.monotonic() + seconds

        def stop():
            return (deadline is not None and time.monotonic() >= deadline) or \
                simulator.running(self.root) is None

        yield from simulator.follow(log, start, stop=stop)


class DriveTransport(SimTransport):
    """A CircuitPython board's CIRCUITPY USB drive, mounted on this computer.

    Files only: the same onboard.py steps as the simulator, on the drive. Each file goes to
    a temporary NAME.part, is flushed and fsync'ed, its cached pages are dropped so that the
    sha256 check reads back what the drive holds, and only then renamed (and the folder
    fsync'ed). The drive is FAT, so models use uformer.storage's A/B files + manifest, the
    layout the board's Slot reads there. CircuitPython's auto-reload restarts code.py a
    moment after the drive is written (unless the app turned supervisor.runtime.autoreload
    off): the app starts again and loads the new model."""

    kind = "drive"
    store_kind = "fat"

    def __init__(self, root, log=None):
        super().__init__(root, create=False, log=log)

    def describe(self):
        return f"CircuitPython drive {self.root}"

    def open(self):
        if not os.path.isdir(self.root):
            raise DeviceError(f"no drive at {self.root}: is the board plugged in and its "
                              f"CIRCUITPY drive mounted?")
        if not os.access(self.root, os.W_OK):
            raise DeviceError(f"{self.root} is read-only (the board's boot.py may have "
                              f"remounted it for the board's own writes)")
        return self

    def call(self, fn, *args, timeout=None):
        if fn in ("commit", "install"):
            part = args[0] if fn == "commit" else os.path.join(args[0], args[1] + ".part")
            self._settle(part)
        res = super().call(fn, *args, timeout=timeout)
        if fn == "install" and res.get("ok"):
            # The store copied the part into its A/B file and wrote a manifest: those reach
            # the drive too, and the digest install reports is read back from the drive.
            from . import onboard

            d, name = args[0], args[1]
            for n in os.listdir(d):
                if n.startswith(name + "."):
                    self._settle(os.path.join(d, n))
            res["sha"] = onboard.sha256_file(res["path"])
        if fn in ("commit", "install", "makedirs", "remove"):
            self._settle_dir(os.path.dirname(args[0] if fn != "install" else args[0] + "/x"))
        return res

    def _settle(self, path):
        """fsync path and drop its cached pages: the hash before the rename reads the drive."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return  # no part file: the onboard step reports it
        try:
            os.fsync(fd)
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

    def _settle_dir(self, d):
        try:
            fd = os.open(d, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)  # the renames reach the drive before the command returns
        except OSError as e:  # some FAT drivers refuse fsync on a folder; the data is synced
            self._say(f"fsync {d}: {e}")
        finally:
            os.close(fd)


def connect(port=None, sim=None, drive=None, transport="mpremote", create=False, log=None, **kw):
    """The Transport for exactly one of: a serial port (transport 'mpremote' or 'ampy'), a
    simulator directory, or a CircuitPython drive."""
    if sum(x is not None for x in (port, sim, drive)) != 1:
        raise DeviceError("give one of: a serial port (--port), a simulator directory (--sim), "
                          "a CircuitPython drive (--drive)")
    if port is not None:
        if transport == "ampy":
            return AmpyTransport(port, log=log, **kw)
        if transport != "mpremote":
            raise DeviceError(f"--transport {transport}: choose one of {', '.join(TRANSPORTS)}")
        return SerialTransport(port, log=log, **kw)
    if drive is not None:
        return DriveTransport(drive, log=log)
    return SimTransport(sim, create=create, log=log)
