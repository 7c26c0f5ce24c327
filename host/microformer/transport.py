"""The boards `push`, `bench` and `monitor` talk to: a serial board or the simulator.

    with connect(port="/dev/ttyACM0") as b:        # or connect(sim="sim/")
        st = b.call("state", b.models_dir, "gesture.tflite")

SerialBoard drives a MicroPython board's raw REPL (raw-paste when the board has it) on a
port opened with mpremote's SerialTransport: it sends microformer/onboard.py in crc-checked
pieces at connect (only when the board does not hold it already) and then calls its
functions, reading each result back with ast.literal_eval. Any exchange whose answer does
not arrive or does not check out (a dropped, flipped or duplicated byte on the link),
helper pieces included, is retried after getting the board back into the raw REPL: every
onboard function is idempotent, so a retry never does a step twice. Every read has a
deadline: when the board has given no valid answer for `link_timeout` seconds (push
--link-timeout, default 10) the link counts as lost, and every failure ends as a
DeviceError saying what happened (`microformer: ...` from the CLI), never a traceback.

SimBoard is a directory standing for the board's filesystem (DIR/models/NAME.tflite, the
app's files); the same onboard functions run on it in this process.
"""
import ast
import binascii
import contextlib
import io
import os
import time

from .errors import MicroformerError

try:
    from mpremote.transport_serial import SerialTransport
except ImportError:  # the CLI still runs without it; connecting says what is missing
    SerialTransport = None

MODELS_DIR = "/models"  # on the board; the simulator's is DIR/models


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


def parse_reply(out):
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


class _Lost(Exception):
    """One exchange with the board failed (timeout, damaged protocol bytes): retried."""


# Raw REPL protocol bytes (MicroPython's pyexec): the banner after Ctrl-A, the raw-paste
# request and its answers.
BANNER = b"raw REPL; CTRL-B to exit\r\n"
HELPER_PIECE = 1024  # helper source characters per upload command (each one crc-checked)


class SerialBoard:
    """A MicroPython board on a serial port (USB CDC, UART adapter, the emulated board's pty).

    The port is opened with mpremote's SerialTransport; the raw REPL exchanges are driven
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
        from mpremote.transport import TransportError
        import serial

        if self.port.startswith("/dev/") and not os.path.exists(self.port):
            raise DeviceError(f"no board on {self.port}")
        if SerialTransport is None:
            raise DeviceError("talking to a board over serial needs mpremote (pip install mpremote)")
        try:
            # A read timeout: mpremote reads a pty byte by byte and would block forever on
            # a board that stopped talking.
            with contextlib.redirect_stdout(io.StringIO()):
                self.t = SerialTransport(self.port, baudrate=self.baudrate, timeout=1.0)
        except (TransportError, serial.SerialException, OSError) as e:
            raise DeviceError(f"no board on {self.port} ({e})") from None
        # The connect gets connect_timeout to show the raw REPL, then link_timeout from there.
        self._alive = time.monotonic() - self.link_timeout + self.connect_timeout
        try:
            try:
                self._raw_repl()
            except _Lost as e:
                raise DeviceError(self._no_raw_repl(str(e))) from None
            self._answered()
            self._with_retries("loading the helper code", self._load_helper)
        except BaseException:
            self.close()
            raise
        return self

    def _no_raw_repl(self, detail):
        got = detail.split("(it sent ", 1)[1][:-1] if "(it sent " in detail else ""
        hint = ("a running program did not stop on Ctrl-C (push --live hands a model to a "
                "uformer app that keeps running)" if got and got != "nothing" and len(got) > 8 else
                "is it running MicroPython, or is another program using the port?")
        return (f"board did not answer the raw REPL in {self.connect_timeout:g} s"
                + (f" (it sent {got})" if got else " (it sent nothing)") + "; " + hint)

    def _enter_raw(self):
        """Back to the raw REPL after code that used the port directly (demo runs an app
        with mpremote's exec and reads its output): the board gets connect_timeout."""
        self._alive = time.monotonic() - self.link_timeout + self.connect_timeout
        self._rx = b""
        self._helper_crc = None
        try:
            self._raw_repl()
        except _Lost as e:
            raise DeviceError(self._no_raw_repl(str(e))) from None
        self._answered()

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
        self.t.use_raw_paste = True  # for callers that use mpremote's exec (demo)
        self.t.in_raw_repl = True

    def _exec(self, cmd, timeout):
        """Runs cmd in the raw REPL; (stdout, stderr) bytes. _Lost when the exchange
        failed on the link."""
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
                    return self._paste(data, timeout)
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
        return self._follow(timeout)

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

    def _paste(self, data, timeout):
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
        return self._follow(timeout)

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
        cmd = "_mf['reply'](_mf[%r](%s))" % (fn, ",".join(repr(a) for a in args))
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
                res = parse_reply(out)
            except Exception as e:  # any failure to parse is a reply damaged on the link
                state["same"] = 0
                raise _Lost(f"{type(e).__name__}: {e}") from None
            self._answered()
            return res

        if self.t is None:
            raise DeviceError(f"the link to {self.port} is closed")
        return self._with_retries(f"command {fn}", once)

    def soft_reset(self):
        """Soft-reset and stay in the raw REPL: a fresh heap (and no helper) for code that
        needs the board's memory, like an app started with run_app-style exec."""
        # Byte by byte: the prompt after the banner stays on the port for callers that go on
        # with mpremote's exec (demo runs the app with exec_raw_no_follow).
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

    def run_detached(self, script, argv):
        """Soft-reset, start `script` (a file on the board) with sys.argv = [script, *argv]
        in the raw REPL, and let go of the port without waiting: the app keeps running and
        the caller reconnects (LiveLink, monitor) to talk to it."""
        import serial
        from mpremote.transport import TransportError

        self.soft_reset()
        args = [script] + [str(a) for a in argv]
        try:
            self.t.exec_raw_no_follow(
                "import sys\nsys.argv[:]=%r\nexec(open(%r).read(),{'__name__':'__main__'})\n"
                % (args, script))
            self.t.serial.close()
        except (TransportError, serial.SerialException, OSError) as e:
            raise DeviceError(f"could not start {script} on {self.port}: {e}") from None
        self.t = None

    def restart(self):
        """Leave the raw REPL and soft-reset, so the board runs boot.py and main.py again."""
        try:
            self._write(b"\r\x02")
            time.sleep(0.05)
            self._write(b"\x04")
            self.restarted = True
            self.t.in_raw_repl = False
        except _Lost as e:
            raise DeviceError(f"could not restart the app on {self.port}: {e}") from None

    def close(self):
        if self.t is None:
            return
        import serial

        try:
            if not self.restarted:
                self.t.serial.write(b"\r\x02")  # back to the friendly REPL
            self.t.close()
        except (serial.SerialException, OSError) as e:
            self._say(f"closing {self.port}: {e}")
        self.t = None

    def __enter__(self):
        return self.open() if self.t is None else self

    def __exit__(self, *exc):
        self.close()


class SimBoard:
    """The simulator: a directory standing for the board's filesystem."""

    kind = "sim"
    errors = 0
    recoveries = 0

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
            return getattr(onboard, fn)(*args)
        except SimError as e:
            raise DeviceError(f"simulator {self.root}: {e}") from None
        except OSError as e:
            raise DeviceError(f"simulator {self.root}: {fn}: {e}") from None

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

    def restart(self):
        """Nothing runs between commands in the simulator; `microformer sim` starts the app."""

    def close(self):
        """No connection to close: the directory is the board."""

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


def connect(port=None, sim=None, create=False, log=None, **kw):
    """A SerialBoard for port or a SimBoard for sim (exactly one of them)."""
    if (port is None) == (sim is None):
        raise DeviceError("give either a serial port (--port) or a simulator directory (--sim)")
    if port is not None:
        return SerialBoard(port, log=log, **kw)
    return SimBoard(sim, create=create, log=log)
