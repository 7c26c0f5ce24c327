"""Code that runs on the board for `push` and `bench` (and `bench --profile`).

The host sends this file's source over the raw REPL (`exec` into a dict named `_mf`, so the
board's globals stay clean) and calls its functions one at a time; in the simulator the
host imports it and calls the same functions on the simulator directory. So it is written
for both MicroPython and CPython, with the standard modules only (os, hashlib, binascii, gc,
time) plus `uformer.storage` when the firmware has it frozen in. Every function returns a
plain dict/int/str (printed with repr on the board, read back with ast.literal_eval) and
reports expected conditions (no file, digest mismatch) in its result instead of raising:
on the serial link an exception means the command itself was damaged and is retried.

Install follows uformer.storage (RenameStore on littlefs, the A/B layout on FAT) when it is
importable, so a Slot sees exactly what its own installs write: NAME.sha256 first ("digest
source"), then NAME.part renamed over NAME, each rename atomic on littlefs. A cut between
the two is finished by the Slot's recovery at the next boot.
"""
import os
from binascii import a2b_base64, hexlify

try:
    from binascii import crc32
except ImportError:  # ports built without MICROPY_PY_BINASCII_CRC32: the sha256 still checks
    crc32 = None

BLOCK = 512  # bytes per read while hashing: one littlefs/FAT block, small for a tiny heap


def reply(v):
    """Print a result with the crc32 of its text, so the host can tell a damaged reply."""
    r = repr(v)
    print(r, "*%08x" % (crc32(r.encode()) & 0xFFFFFFFF) if crc32 is not None else "*-")


def size(path):
    """File size in bytes, -1 when it does not exist."""
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def remove(path):
    try:
        os.remove(path)
    except OSError:
        return False
    return True


def makedirs(d):
    """Create d and its parents (MicroPython has no os.makedirs)."""
    cur = "/" if d.startswith("/") else ""
    for part in d.split("/"):
        if not part:
            continue
        cur = cur + part if cur in ("", "/") else cur + "/" + part
        try:
            os.mkdir(cur)
        except OSError:
            # Exists already (EEXIST), or a read-only parent: writing reports the latter.
            continue


def sha256_file(path, upto=-1):
    """Hex sha256 of the file's first `upto` bytes (all when -1); None when it is missing."""
    import hashlib

    h = hashlib.sha256()
    buf = bytearray(BLOCK)
    mv = memoryview(buf)
    left = upto
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        while left != 0:
            n = f.readinto(buf)
            if not n:
                break
            if 0 <= left < n:
                n = left
            h.update(mv[:n])
            if left > 0:
                left -= n
    return hexlify(h.digest()).decode()


def free_bytes(d):
    """Bytes the filesystem holding d can still give to a file (f_frsize * f_bavail)."""
    try:
        s = os.statvfs(d)
    except (OSError, AttributeError):
        return -1
    return s[1] * s[4]


def _store(path, kind=None):
    """uformer.storage's store for path (kind: 'fat' for a CircuitPython drive written from
    the host; None: detected where this runs), or None when uformer is not installed."""
    try:
        from uformer.storage import store_for
    except ImportError:
        return None
    return store_for(path, kind)


def _sidecar(path):
    try:
        with open(path + ".sha256") as f:
            parts = f.read().split()
    except OSError:
        return None
    return parts[0] if parts else ""


def state(d, name, prefix_len=-1, kind=None):
    """What the board holds for model `name` in folder d: the active model's path, its
    verified sha256 (None when missing, unverified or damaged), the size of an incoming
    NAME.part and the sha256 of its first prefix_len bytes, and the free bytes."""
    makedirs(d)
    p = d + "/" + name
    part = p + ".part"
    out = {"active": None, "sha": None, "size": -1, "part": size(part), "part_sha": None,
           "free": free_bytes(d), "problem": None, "store": None}
    st = _store(p, kind)
    if st is not None:
        out["store"] = st.kind
        try:
            active, digest = st.recover()
        except Exception as e:  # StorageError and OSError: the stored model is unusable
            active, digest = None, None
            out["problem"] = str(e)
    else:
        active = p if size(p) >= 0 else None
        digest = _sidecar(p) if active else None
        if digest is not None and sha256_file(p) != digest:
            out["problem"] = "%s does not match its .sha256" % p
            digest = None
    out["active"] = active
    out["sha"] = digest or None
    out["size"] = size(active) if active else -1
    if out["part"] > 0 and prefix_len > 0:
        out["part_sha"] = sha256_file(part, min(prefix_len, out["part"]))
    if out["free"] >= 0 and out["part"] > 0:
        # The part file is replaced (or extended) by this push: its bytes count as free.
        out["free"] += out["part"]
    return out


def chunk_crc(path, off, data):
    """crc32 of a chunk seeded with its destination, so a damaged path or offset fails too."""
    return crc32(data, crc32(("%s:%d" % (path, off)).encode())) & 0xFFFFFFFF


def write(path, off, b64, crc):
    """Append one base64 chunk at byte offset `off` of path (a *.part file); returns the
    file size after, -2 for a damaged chunk or path, -1000 - errno when the filesystem
    refuses the write.

    Writes only when the file is exactly `off` bytes long (offset 0 starts a new file), and
    only a chunk whose crc32 (over path, offset and bytes) matches, so a damaged or repeated
    command changes nothing: the host resumes from the size this returns."""
    if not path.endswith(".part"):
        return -2  # never write anything but an incoming file (a damaged path)
    try:
        data = a2b_base64(b64)
    except ValueError:
        return -2
    if crc32 is not None and chunk_crc(path, off, data) != crc:
        return -2
    have = size(path)
    if off == 0:
        have = 0
    elif have != off:
        return have
    try:
        with open(path, "ab" if off else "wb") as f:
            f.write(data)
    except OSError as e:
        # -1000 - errno (28: the filesystem is full), so the host can say what happened.
        err = e.args[0] if e.args and isinstance(e.args[0], int) else 5
        return -1000 - err
    return size(path)


def install(d, name, digest, kind=None):
    """Make NAME.part the active model if its sha256 is `digest`; a mismatching part is
    deleted. Returns {"ok", "have", "path", "sha"}."""
    p = d + "/" + name
    part = p + ".part"
    have = sha256_file(part)
    if have != digest:
        if have is not None:
            remove(part)
        return {"ok": False, "have": have, "path": None, "sha": None}
    st = _store(p, kind)
    if st is not None:
        try:
            st.recover()  # learns which A/B file is active, so install writes the other one
        except Exception:  # StorageError/OSError: the old model is unusable; replace it
            st.active_path = None
        path = st.install(part, digest)
    else:
        # uformer.storage.RenameStore.install, step for step.
        tmp = p + ".sha256.tmp"
        with open(tmp, "w") as f:
            f.write(digest + " " + part + "\n")
        os.rename(tmp, p + ".sha256")
        os.rename(part, p)
        path = p
    return {"ok": True, "have": have, "path": path, "sha": sha256_file(path)}


def models(d):
    """[(file name, bytes)] of the .tflite models in folder d (A/B files included)."""
    out = []
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        if n.endswith(".tflite") or n.endswith(".tflite.a") or n.endswith(".tflite.b"):
            out.append((n, size(d + "/" + n)))
    out.sort()
    return out


def commit(part, path, digest):
    """Rename part over path (any file: an app, a recording) if its sha256 is digest;
    a mismatching part is deleted. True when path now holds it."""
    if sha256_file(part) != digest:
        remove(part)
        return False
    os.rename(part, path)
    return True


def _clock():
    import time

    if hasattr(time, "ticks_us"):
        return time.ticks_us, time.ticks_diff
    ns = time.perf_counter_ns
    return (lambda: ns() // 1000), (lambda a, b: a - b)


def _engine():
    """_uformer, or None when this firmware lacks it (see NO_ENGINE)."""
    try:
        import _uformer
    except ImportError:
        return None
    return _uformer


NO_ENGINE = "this firmware has no _uformer: flash a microformer build (microformer firmware build)"


def _load(uf, path):
    """(model bytes, _uformer.Model) of the file at path, or (None, error text)."""
    with open(path, "rb") as f:
        buf = f.read()
    try:
        return buf, uf.Model(buf)
    except (ValueError, NotImplementedError, MemoryError) as e:
        return None, "%s: %s: %s" % (path, type(e).__name__, e)


def _fill(m):
    """A fixed, non-constant input (the kernels take the same paths on every run)."""
    inp = m.input(0)
    int8 = m.input_info(0)[1] == "b"
    for i in range(len(inp)):
        inp[i] = ((i * 37) % 61 - 30) if int8 else ((i % 13) - 6) * 0.25


def _runtime(uf):
    import sys

    return {"impl": sys.implementation.name,
            "machine": getattr(sys.implementation, "_machine", sys.platform),
            "engine": getattr(uf, "version", "?")}


def bench(path, n, warmup=3):
    """Load the model at path in the engine, invoke it n times; latency percentiles in us
    (nearest rank), arena and model bytes, free heap before and after loading."""
    import gc

    uf = _engine()
    if uf is None:
        return {"error": NO_ENGINE}
    mem_free = getattr(gc, "mem_free", None)
    gc.collect()
    before = mem_free() if mem_free else -1
    buf, m = _load(uf, path)
    if buf is None:
        return {"error": m}
    gc.collect()
    after = mem_free() if mem_free else -1
    _fill(m)
    us, diff = _clock()
    for _ in range(warmup):
        m.invoke()
    lat = [0] * n
    for i in range(n):
        t0 = us()
        m.invoke()
        lat[i] = diff(us(), t0)
    lat.sort()
    total = 0
    for v in lat:
        total += v
    out = {
        "n": n,
        "p50_us": lat[(50 * n + 99) // 100 - 1],
        "p99_us": lat[(99 * n + 99) // 100 - 1],
        "min_us": lat[0],
        "max_us": lat[-1],
        "mean_us": total // n,
        "arena_bytes": m.arena_size,
        "model_bytes": len(buf),
        "heap_free_before": before,
        "heap_free": after,
        "ops": len(m.ops),
    }
    out.update(_runtime(uf))
    return out


def profile(path, n, warmup=3):
    """Load the model at path, run the engine's profiled invoke (Model.profile) n times:
    per node [op, fused, ticks summed over the n runs] and the clock's unit ("ns" CPython,
    "cpu" or "us" MicroPython); fused 0 own op, 1 runs a fused chain (charged with it),
    2 absorbed by one (0 ticks)."""
    uf = _engine()
    if uf is None:
        return {"error": NO_ENGINE}
    buf, m = _load(uf, path)
    if buf is None:
        return {"error": m}
    if not hasattr(m, "profile"):
        return {"error": "this firmware's _uformer has no profiler (its engine was built with MF_PROFILE 0)"}
    _fill(m)
    for _ in range(warmup):
        m.invoke()
    try:
        unit, nodes = m.profile()
        ticks = [t for _, _, t in nodes]
        for _ in range(n - 1):
            _, run = m.profile()
            for i in range(len(ticks)):
                ticks[i] += run[i][2]
    except (NotImplementedError, MemoryError) as e:  # a natmod without time.ticks_us; a full heap
        return {"error": "profile: %s: %s" % (type(e).__name__, e)}
    out = {"n": n, "unit": unit, "model_bytes": len(buf), "arena_bytes": m.arena_size,
           "nodes": [[nodes[i][0], nodes[i][1], ticks[i]] for i in range(len(ticks))]}
    out.update(_runtime(uf))
    return out


def probe(lib=None):
    """What `microformer install` needs to know: the runtime (name, version, platform, the
    .mpy version/arch word sys.implementation._mpy, None when it cannot import .mpy), whether
    _uformer and uformer import already and from where, the lib folder (`lib`, or the first
    absolute sys.path entry ending in /lib) and its free bytes."""
    import sys

    impl = sys.implementation
    if lib is None:
        lib = "/lib"
        for p in sys.path:
            if p.startswith("/") and p.endswith("/lib"):
                lib = p
                break
    out = {"impl": impl.name, "version": list(impl.version[:3]), "platform": sys.platform,
           "mpy": getattr(impl, "_mpy", None), "lib": lib, "free": -1,
           "path": list(sys.path), "_uformer": None, "uformer": None}
    makedirs(lib)
    out["free"] = free_bytes(lib)
    out["lib_ok"] = size(lib) >= 0  # the folder exists (makedirs could create it)
    try:
        import _uformer

        out["_uformer"] = [getattr(_uformer, "version", "?"), getattr(_uformer, "__file__", "built-in")]
    except ImportError:
        out["_uformer"] = None
    except ValueError as e:  # an .mpy the firmware cannot load: say why
        out["_uformer"] = ["error", str(e)]
    try:
        import uformer

        out["uformer"] = [getattr(uformer, "__version__", "?"), getattr(uformer, "__file__", "frozen")]
    except ImportError:
        out["uformer"] = None
    except Exception as e:  # a uformer that imports _uformer which fails, or is broken
        out["uformer"] = ["error", "%s: %s" % (type(e).__name__, e)]
    return out
