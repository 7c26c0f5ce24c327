"""The unix MicroPython REPL on a pty, standing for a board, and a fault relay in front of it
(tests of push and install over a real MicroPython raw REPL, no toolchain needed)."""
import hashlib
import os
import subprocess
import threading
import time
import tty

from ptyrelay import PtyRelay


def sha(b):
    return hashlib.sha256(b).hexdigest()


class UnixBoard:
    """The unix MicroPython REPL on a pty, restarted when it exits (a Ctrl-D that a fault
    made out of other bytes ends the unix port; a real board soft-resets instead)."""

    def __init__(self, exe, root, env=None):
        self.exe = exe
        self.root = root
        self.env = env  # e.g. MICROPYPATH=DIR/lib: the interpreter's sys.path
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.restarts = -1
        self.proc = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(0.3)

    def _run(self):
        while not self._stop:
            self.restarts += 1
            self.proc = subprocess.Popen([self.exe], stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                         cwd=self.root, close_fds=True, env=self.env)
            self.proc.wait()

    def restart(self):
        n = self.restarts
        self.proc.kill()
        while self.restarts == n:
            time.sleep(0.05)
        time.sleep(0.3)

    def close(self):
        self._stop = True
        if self.proc is not None:
            self.proc.kill()
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)

    def truth(self, name="m.tflite"):
        """(sidecar's sha256, the active file's sha256, part file size) as stored."""
        p = os.path.join(self.root, "models", name)
        try:
            side = open(p + ".sha256").read().split()[0]
        except (OSError, IndexError):
            side = None
        real = sha(open(p, "rb").read()) if os.path.exists(p) else None
        part = os.path.getsize(p + ".part") if os.path.exists(p + ".part") else -1
        return side, real, part


class Relay(PtyRelay):
    """PtyRelay in front of an fd (the unix board's pty master), which it leaves open."""

    def __init__(self, fd, **kw):
        super().__init__(None, **kw)
        self.fd = fd
        self.cut_time = None

    def _open_upstream(self):
        return self.fd, False

    def _pass(self, src, dst, direction):
        super()._pass(src, dst, direction)
        if self.cut_time is None and self.dead:
            self.cut_time = time.monotonic()
