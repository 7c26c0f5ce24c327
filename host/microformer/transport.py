"""The boards `push`, `bench` and `monitor` talk to: a serial board or the simulator.

    with connect(port="/dev/ttyACM0") as b:        # or connect(sim="sim/")
        st = b.call("state", b.models_dir, "gesture.tflite")

SerialBoard drives a MicroPython board through mpremote's SerialTransport used as a library
(raw REPL, raw-paste when the board has it): it sends microformer/onboard.py once per
connection and then calls its functions, reading each result back with ast.literal_eval.
A command whose reply does not arrive or does not parse (a dropped, flipped or duplicated
byte on the link) is retried after getting the board back into the raw REPL: every onboard
function is idempotent, so a retry never does a step twice.

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


class SerialBoard:
    """A MicroPython board on a serial port (USB CDC, UART adapter, the emulated board's pty).

    connect_timeout: seconds the board gets to show the raw REPL prompt.
    cmd_timeout: seconds of silence after which one command counts as lost.
    retries: commands lost in a row before giving up.
    """

    kind = "serial"

    def __init__(self, port, baudrate=115200, connect_timeout=5.0, cmd_timeout=10.0, retries=12,
                 log=None):
        self.port = port
        self.baudrate = baudrate
        self.connect_timeout = connect_timeout
        self.cmd_timeout = cmd_timeout
        self.retries = retries
        self.log = log
        self.models_dir = MODELS_DIR
        self.t = None
        self.errors = 0  # commands lost and retried
        self.recoveries = 0
        self.restarted = False

    def describe(self):
        return f"board on {self.port}"

    # --- connection -------------------------------------------------------------------------

    def open(self):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport
        import serial

        if self.port.startswith("/dev/") and not os.path.exists(self.port):
            raise DeviceError(f"no board on {self.port}")
        try:
            # A read timeout: mpremote reads a pty byte by byte and would block forever on
            # a board that stopped talking.
            with contextlib.redirect_stdout(io.StringIO()):
                self.t = SerialTransport(self.port, baudrate=self.baudrate, timeout=1.0)
        except (TransportError, serial.SerialException, OSError) as e:
            raise DeviceError(f"no board on {self.port} ({e})") from None
        self._enter_raw()
        self._load_helper()
        return self

    def _interrupt(self):
        # Two Ctrl-C: the first may land while an app's own except-KeyboardInterrupt runs.
        s = self.t.serial
        s.write(b"\r\x03")
        time.sleep(0.05)
        s.write(b"\x03")
        time.sleep(0.1)
        while s.in_waiting:
            s.read(s.in_waiting)

    def _enter_raw(self):
        from mpremote.transport import TransportError

        said = io.StringIO()
        try:
            self._interrupt()
            with contextlib.redirect_stdout(said):
                self.t.enter_raw_repl(soft_reset=False, timeout_overall=self.connect_timeout)
        except (TransportError, OSError) as e:
            # mpremote printed what it received as bytes reprs, one per failed wait.
            got = b""
            for ln in said.getvalue().splitlines():
                try:
                    v = ast.literal_eval(ln.strip())
                except (ValueError, SyntaxError):
                    continue
                if isinstance(v, bytes):
                    got += v
            tail = repr(got[-100:]) if got else ""
            hint = ("a running program did not stop on Ctrl-C (push --live hands a model to a "
                    "uformer app that keeps running)" if len(got.strip()) > 4 else
                    "is it running MicroPython, or is another program using the port?")
            raise DeviceError(
                f"board did not answer the raw REPL in {self.connect_timeout:g} s"
                + (f" (it sent {tail})" if tail else " (it sent nothing)")
                + (f": {e}" if str(e) and "could not enter raw repl" not in str(e) else "")
                + "; " + hint) from None
        # A fresh raw REPL may offer raw-paste again.
        self.t.use_raw_paste = True

    def _load_helper(self):
        # Runs the helper only when it arrived intact (its crc32 is checked on the board).
        src = onboard_source()
        crc = binascii.crc32(src.encode()) & 0xFFFFFFFF
        out = self._exec("from binascii import crc32\n_s=%r\n"
                         "if crc32(_s.encode())&0xFFFFFFFF==%d:\n _mf={}\n exec(_s,_mf)\n print('MFOK')\n"
                         "del _s" % (src, crc), self.cmd_timeout)
        if b"MFOK" not in out:
            raise DeviceError("the helper code arrived damaged")

    def _exec(self, cmd, timeout):
        from mpremote.transport import TransportExecError

        out, err = self.t.exec_raw(cmd, timeout=timeout)
        if err:
            raise TransportExecError(out, err.decode("utf-8", "replace"))
        return out

    def _recover(self):
        """Back to a known state after a lost command: interrupt whatever the board is
        doing, re-enter the raw REPL (reopening the port when it went away) and resend the
        helper."""
        import serial

        self.recoveries += 1
        for attempt in range(3):
            try:
                if attempt:
                    self._reopen()
                self._enter_raw()
                self._load_helper()
                return True
            except (DeviceError, serial.SerialException, OSError) as e:
                self._say(f"recovering the link to {self.port}: {e}")
            except Exception as e:  # TransportError and parse errors from a damaged helper load
                self._say(f"recovering the link to {self.port}: {type(e).__name__}: {e}")
            time.sleep(0.2 * (attempt + 1))
        return False

    def _reopen(self):
        import serial

        try:
            self.t.serial.close()
        except (serial.SerialException, OSError) as e:
            self._say(f"closing {self.port}: {e}")
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                self.t.serial.open()
                return
            except (serial.SerialException, OSError):
                if time.monotonic() > deadline:
                    raise DeviceError(f"no board on {self.port} (it went away)") from None
                time.sleep(0.2)

    def _say(self, msg):
        if self.log is not None:
            self.log(msg)

    # --- commands -----------------------------------------------------------------------------

    def call(self, fn, *args, timeout=None):
        """Run onboard.<fn>(*args) on the board and return its result."""
        from mpremote.transport import TransportError, TransportExecError
        import serial

        cmd = "_mf['reply'](_mf[%r](%s))" % (fn, ",".join(repr(a) for a in args))
        timeout = self.cmd_timeout if timeout is None else timeout
        last = None
        same = 0
        for attempt in range(self.retries + 1):
            try:
                out = self._exec(cmd, timeout)
                return parse_reply(out)
            except TransportExecError as e:
                # The board raised: a damaged command (SyntaxError, NameError, ...) is worth
                # another try; the same error three times in a row is the board's answer.
                msg = e.error_output.strip().splitlines()[-1] if e.error_output.strip() else "?"
                same = same + 1 if msg == last else 1
                last = msg
                if same >= 3:
                    raise DeviceError(f"{fn} failed on the board: {msg}") from None
            except (TransportError, serial.SerialException, OSError, ValueError, SyntaxError,
                    UnicodeDecodeError, IndexError) as e:
                last = f"{type(e).__name__}: {e}"
                same = 0
            self.errors += 1
            self._say(f"command {fn} lost ({last}); retrying ({attempt + 1}/{self.retries})")
            self._recover()
        raise DeviceError(f"the link to {self.port} kept failing: {fn} got no valid answer in "
                          f"{self.retries + 1} tries (last: {last})")

    def soft_reset(self):
        """Soft-reset and stay in the raw REPL: a fresh heap (and no helper) for code that
        needs the board's memory, like an app started with run_app-style exec."""
        from mpremote.transport import TransportError

        with contextlib.redirect_stdout(io.StringIO()):
            try:
                self.t.enter_raw_repl(soft_reset=True, timeout_overall=self.connect_timeout)
            except TransportError as e:
                raise DeviceError(f"the board did not come back from a soft reset: {e}") from None

    def restart(self):
        """Leave the raw REPL and soft-reset, so the board runs boot.py and main.py again."""
        import serial

        try:
            self.t.exit_raw_repl()
            time.sleep(0.05)
            self.t.serial.write(b"\x04")
            self.restarted = True
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"could not restart the app on {self.port}: {e}") from None

    def close(self):
        if self.t is None:
            return
        import serial

        try:
            if self.t.in_raw_repl and not self.restarted:
                self.t.exit_raw_repl()
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

        try:
            return getattr(onboard, fn)(*args)
        except OSError as e:
            raise DeviceError(f"simulator {self.root}: {fn}: {e}") from None

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
