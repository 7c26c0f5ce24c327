"""Helpers for tests/device files, which run unchanged under CPython (pytest) and under
real MicroPython (conftest.py runs each test function again through mprun.py).

Test files import only this module, uformer and the runtime's own modules. Data built on
the host (test models) comes from the directory in UFORMER_TEST_DATA, which conftest.py
fills before any test runs; UFORMER_TEST_TMP is a fresh directory per test.
"""
import os
import sys

IMPL = sys.implementation.name
MICROPYTHON = IMPL == "micropython"

try:
    import pytest

    _SkipBase = pytest.skip.Exception
except ImportError:  # MicroPython
    pytest = None
    _SkipBase = Exception


class Skip(_SkipBase):
    """A test skipped with a reason (pytest's skip under CPython)."""


def skip(reason):
    if pytest is not None:
        pytest.skip(reason)
    raise Skip(reason)


def needs_engine(fn):
    """Mark a test that needs _uformer: under stock MicroPython it runs only with
    MICROPYTHON_UFORMER (a unix MicroPython built with the module)."""
    if not MICROPYTHON:
        fn.needs_engine = True
    return fn


def heapsize(size):
    """Run the MicroPython variants of this test with `-X heapsize=size` (e.g. "100K")."""

    def mark(fn):
        if not MICROPYTHON:
            fn.heapsize = size
        return fn

    return mark


def trained_models(fn):
    """This test reads trained_a.tflite / trained_b.tflite (real ~36 KB transformers trained
    by the project; conftest.py trains them once per machine and caches them)."""
    if not MICROPYTHON:
        fn.trained = True
    return fn


def slow(fn):
    if not MICROPYTHON:
        fn.slow = True
    return fn


def engine():
    try:
        import _uformer
    except ImportError:
        if MICROPYTHON:
            # The CPython _uformer may well be built; it is this interpreter that lacks it.
            skip("this MicroPython has no _uformer (stock build); the [mpy-uformer] variant "
                 "runs the test: set MICROPYTHON_UFORMER to a unix micropython built with it")
        skip("the CPython _uformer is not built: pip install -e . or setup.py build_ext --inplace")
    return _uformer


def data(name):
    d = os.getenv("UFORMER_TEST_DATA")
    if not d:
        skip("UFORMER_TEST_DATA is not set (run through pytest: tests/device/conftest.py)")
    return d + "/" + name


def has_data(name):
    try:
        os.stat(data(name))
        return True
    except OSError:
        return False


def tmp(name=""):
    d = os.getenv("UFORMER_TEST_TMP")
    if not d:
        skip("UFORMER_TEST_TMP is not set (run through pytest: tests/device/conftest.py)")
    return d + "/" + name if name else d


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def file_size(path):
    return os.stat(path)[6]


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def installed(data, name="model.tflite"):
    """A model path whose store already holds `data` (as after an earlier update)."""
    from uformer.storage import store_for

    path = tmp(name)
    s = store_for(path)
    part = s.part_path()
    write(part, data)
    s.install(part, sha256_hex(data))
    return path


def sha256_hex(data):
    import hashlib
    from binascii import hexlify

    h = hashlib.sha256()
    h.update(data)
    return hexlify(h.digest()).decode()


def raises(exc, fn, *args, **kw):
    """Call fn and return the exception of type exc it raised; fail if it did not."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc.__name__))


def approx(a, b, tol=1e-5):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


class Log:
    """A log callable that keeps lines (for checking the slot's and runner's reports)."""

    def __init__(self, echo=False):
        self.lines = []
        self.echo = echo

    def __call__(self, line):
        self.lines.append(line)
        if self.echo:
            print(line)

    def has(self, *words):
        for line in self.lines:
            ok = True
            for w in words:
                if w not in line:
                    ok = False
                    break
            if ok:
                return line
        return None
