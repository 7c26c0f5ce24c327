"""The simulator: a directory standing for a board, its app run under CPython.

    DIR/main.py             the app (what a board runs at boot)
    DIR/models/N.tflite     models, as `microformer push --sim DIR` installs them
    DIR/lib/                extra packages (the board's /lib)
    DIR/.sim/               host-side state, not part of the board: app.json (the running
                            app's pid) and console.log (everything the app printed)

The app runs in a child process with DIR as its working directory (so the relative paths a
board app uses, "models/N.tflite", resolve the same way as on a board whose cwd is /) and
sys.path = [DIR, the uformer package, DIR/lib], like a board's ['', '.frozen', '/lib'].
`uformer` is the same package the firmware freezes; `_uformer` is its CPython build.
"""
import errno
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

from .errors import MicroformerError

STATE = ".sim"


class SimError(MicroformerError):
    """The simulator directory or its app is missing or unusable."""


# Never follow a symlink when creating or writing a file in a simulator directory: a
# planted DIR/models/NAME.tflite.part -> /elsewhere would make a push write outside the
# directory and then install the link as the active model. 0 where the OS has no such flag.
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def link_error(path):
    return SimError(f"{path} is a symbolic link: microformer never writes through one in a "
                    f"simulator directory (remove it, or point --sim at the real directory)")


def refuse_links(path, root=None):
    """SimError naming the first symlink among path and its parents up to root (path
    itself only when root is None or path is not under it). Missing parts are fine."""
    path = os.path.abspath(path)
    parts = [path]
    if root is not None:
        root = os.path.abspath(root)
        rel = os.path.relpath(path, root)
        if rel != "." and not rel.startswith(".."):
            cur = root
            parts = []
            for name in rel.split(os.sep):
                cur = os.path.join(cur, name)
                parts.append(cur)
    for p in parts:
        if os.path.islink(p):
            raise link_error(p)


def open_new(path, mode="wb"):
    """A fresh file at path (a stale regular file there is removed first), created with
    O_EXCL | O_NOFOLLOW: never an existing inode (symlink or hard link) written through."""
    refuse_links(path)
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ELOOP):  # a link planted since the check
            raise link_error(path) from None
        raise
    return os.fdopen(fd, mode)


def open_append(path, mode="ab"):
    """path opened for appending (created when missing), refusing a symlink and a file
    with other hard links."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise link_error(path) from None
        raise
    if os.fstat(fd).st_nlink > 1:
        os.close(fd)
        raise SimError(f"{path} has other hard links: microformer never writes through one in "
                       f"a simulator directory (remove it)")
    return os.fdopen(fd, mode)


def replace_file(path, data):
    """path atomically replaced by data (bytes or str) through a fresh path.tmp; refuses
    when path or path.tmp is a symlink."""
    refuse_links(path)
    tmp = path + ".tmp"
    with open_new(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(tmp, path)


def state_dir(root):
    return os.path.join(os.path.abspath(root), STATE)


def console_log(root):
    return os.path.join(state_dir(root), "console.log")


def _pkg_parent(name):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    origin = os.path.dirname(os.path.abspath(spec.origin))
    # A package's origin is pkg/__init__.py; an extension module's is the .so itself.
    return os.path.dirname(origin) if spec.submodule_search_locations else origin


def child_env(root):
    """Environment for the app: finds uformer and _uformer where this process finds them."""
    uformer_dir = _pkg_parent("uformer")
    if uformer_dir is None:
        raise SimError("the simulator needs the uformer package (device/uformer); install "
                       "microformer (pip install .) or put device/ on PYTHONPATH")
    engine_dir = _pkg_parent("_uformer")
    env = dict(os.environ)
    env["MICROFORMER_SIM_PATH"] = os.pathsep.join(p for p in (uformer_dir, engine_dir) if p)
    # The app must not see the host package's TensorFlow noise or buffering.
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


BOOT = (
    "import os,runpy,sys\n"
    "root,app=sys.argv[1],sys.argv[2]\n"
    "os.chdir(root)\n"
    "sys.path[:]=[root]+os.environ['MICROFORMER_SIM_PATH'].split(os.pathsep)"
    "+[os.path.join(root,'lib')]+[p for p in sys.path if p]\n"
    "sys.argv=sys.argv[2:]\n"
    "runpy.run_path(app,run_name='__main__')\n"
)


def app_command(root, app="main.py", args=()):
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise SimError(f"simulator directory {root} does not exist")
    path = os.path.join(root, app)
    if not os.path.isfile(path):
        raise SimError(f"{path} does not exist: put the app there (a board runs main.py at boot; "
                       f"examples/replay_app.py runs in the simulator)")
    return [sys.executable, "-u", "-c", BOOT, root, app, *map(str, args)]


def start(root, app="main.py", args=(), stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT):
    """The app as a child process with its stdout on a pipe (text lines)."""
    cmd = app_command(root, app, args)
    return subprocess.Popen(cmd, cwd=os.path.abspath(root), env=child_env(root), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=stderr, bufsize=0)


class App:
    """The app of a simulator directory, running: a with-block starts it (refusing when one
    already runs there), records it for `push --live` / `monitor`, logs its output to
    DIR/.sim/console.log, and stops it (Ctrl-C, as on a board) on the way out.

        with App("sim", args=["data/x.csv"]) as app:
            for line in app.lines(seconds=10):
                print(line)
    """

    def __init__(self, root, app="main.py", args=(), stdin=subprocess.DEVNULL):
        self.root = root
        self.app = app
        self.args = list(args)
        self.stdin = stdin
        self.proc = None
        self.log = None
        self.returncode = None
        self.eof = False  # its stdout closed
        self.stopped = False  # True when we stopped it (not the app ending on its own)

    def __enter__(self):
        other = running(self.root)
        if other is not None:
            raise SimError(f"an app already runs in {self.root} (pid {other['pid']}); a board "
                           f"runs one main.py at a time")
        refuse_links(state_dir(self.root))
        os.makedirs(state_dir(self.root), exist_ok=True)
        self.log = open_append(console_log(self.root))
        try:
            self.proc = start(self.root, self.app, self.args, stdin=self.stdin)
            try:
                record(self.root, self.proc.pid, self.app, self.args)
            except BaseException:  # a symlinked app.json: no app runs unrecorded
                self.proc.kill()
                self.proc.wait()
                self.proc.stdout.close()
                raise
        except BaseException:
            self.log.close()
            raise
        self.log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {self.app} started "
                       f"(pid {self.proc.pid})\n".encode())
        self.log.flush()
        return self

    def lines(self, seconds=None):
        """The app's output lines (str, without newline) until it exits or `seconds` pass."""
        import select

        deadline = None if seconds is None else time.monotonic() + seconds
        fd = self.proc.stdout.fileno()
        buf = b""
        while True:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            r, _, _ = select.select([fd], [], [], wait)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.eof = True
                    if buf:
                        self.log.write(buf + b"\n")
                        yield buf.decode("utf-8", "replace")
                    return
                self.log.write(chunk)
                self.log.flush()
                buf += chunk
                *done, buf = buf.split(b"\n")
                for ln in done:
                    yield ln.decode("utf-8", "replace").rstrip("\r")
            if deadline is not None and time.monotonic() >= deadline:
                return

    def stop(self, timeout=5.0):
        """Ctrl-C for the app (KeyboardInterrupt, as on a board), then kill if it ignores it."""
        # Its output ended: it is exiting on its own; give it the time to.
        if self.eof and self._exits_within(timeout):
            return
        if self.proc.poll() is not None:
            return
        self.stopped = True
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:  # it caught KeyboardInterrupt and kept going
            self.proc.kill()

    def _exits_within(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def __exit__(self, *exc):
        self.stop()
        self.returncode = self.proc.wait()
        self.proc.stdout.close()
        forget(self.root, self.proc.pid)
        self.log.close()


def record(root, pid, app, args):
    d = state_dir(root)
    refuse_links(d)
    os.makedirs(d, exist_ok=True)
    replace_file(os.path.join(d, "app.json"),
                 json.dumps({"pid": pid, "app": app, "args": list(map(str, args)), "started": time.time()}))


def forget(root, pid):
    p = os.path.join(state_dir(root), "app.json")
    try:
        with open(p) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return
    if rec.get("pid") == pid:
        os.remove(p)


def running(root):
    """The record of the app `microformer sim` runs on root, or None when none runs."""
    p = os.path.join(state_dir(root), "app.json")
    try:
        with open(p) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    pid = rec.get("pid")
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            alive = b"MICROFORMER_SIM_PATH" in f.read()
    except OSError:
        try:
            os.kill(pid, 0)
            alive = True
        except (OSError, TypeError):
            alive = False
    return rec if alive else None


def find_line(path, start, prefix):
    """The first line of the file at `path`, after byte `start`, that contains prefix."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            for raw in f:
                line = raw.decode("utf-8", "replace")
                if prefix in line:
                    return line.strip()
    except OSError:
        return None
    return None


def follow(path, start=0, poll=0.1, stop=None):
    """Lines appended to the file at `path` from byte `start` on (a generator; `tail -f`).
    stop(): return True to end after the lines available now."""
    pos = start
    buf = b""
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except OSError:
            chunk = b""
        if chunk:
            pos += len(chunk)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for ln in lines:
                yield ln.decode("utf-8", "replace").rstrip("\r")
        elif stop is not None and stop():
            return
        else:
            time.sleep(poll)
