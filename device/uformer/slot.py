"""Slot: a hot-swappable model.

    slot = Slot("model.tflite", max_bytes=64 * 1024, window=w)
    model = slot.acquire()          # once per window: applies a pending swap, then infer

A new version arrives from `push(data, sha256)`, from the live protocol (live.py), or as a
file copy: copy the model to NAME.new, then its hex digest to NAME.new.sha256; `step()`
notices the sidecar. The new version is read into a spare buffer while the old one keeps
serving (a bounded slice of work per `step`, so the runner keeps its deadlines), checked
against its sha256, loaded by the engine (which validates every offset, shape and op),
checked against the app (input size, channels, labels vs outputs, `accept`), given a test
invoke, installed power-safely (storage.py), and only then swapped in by `acquire()` at the
next window boundary. On any failure the old model keeps serving and the reason goes to
`on_event(kind, info)` and to one log line.

Memory: allocating a fresh buffer per swap fragments a small heap (DESIGN.md measured
MemoryError on about half of 200 swaps on a ~100 KB heap), so the model buffers are
allocated once, at start, for the largest model the app accepts (`max_bytes`), and every
arena is requested at the same size (`max_arena`) so a freed arena's block fits the next.
With two buffers (`double`) a new model is staged while the old serves. When RAM holds only
one buffer, or the new arena does not fit next to the old, the old model is freed first and
reloaded if the new one fails.
"""
import gc

from .compat import const, ticks_diff, ticks_ms, ticks_us
from .model import Model, native
from .storage import (CHUNK, StorageError, exists, file_size, hexdigest, is_hex_digest,
                      remove, sha256, sha256_file, store_for)

_STEP_CHUNKS = const(1)  # chunks a staging slice reads even when its time budget is spent


class _Job:
    """A new model being staged: read + hash in slices, then load, check, install."""

    def __init__(self, src, digest, size, source, done):
        self.src = src
        self.digest = digest
        self.size = size
        self.source = source
        self.done = done
        self.got = 0
        self.h = sha256()
        self.f = None
        self.buf = -1  # index into Slot._bufs


class Slot:
    def __init__(self, path, max_bytes=None, max_arena=None, window=None, rom=None,
                 on_event=None, log=print, store=None, double=None, accept=None,
                 watch_ms=1000):
        self.path = path
        self.name = path.rsplit("/", 1)[-1]
        self.store = store if store is not None else store_for(path)
        self.window = window
        self.on_event = on_event
        self.log = log
        self.accept = accept
        self.watch_ms = watch_ms
        self.model = None
        self.digest = None
        self.swaps = 0
        self.refusals = 0
        self.last_event = None
        self._active = -1  # index of the buffer the active model lives in, -1 if none/ROM
        self._pending = None  # (model, digest, buffer index, source) for the next window
        self._job = None
        self._queue = None  # one offer waiting while a job runs: (src, digest, source, done)
        self._last_watch = ticks_ms()
        self._chunk = bytearray(CHUNK)

        src = None
        digest = None
        try:
            src, digest = self.store.recover()
        except (StorageError, OSError) as e:
            self._event("refused", reason="stored model unusable: %s" % e, source="boot")
        zero_copy = False
        if src is None and rom is not None:
            src = rom
            zero_copy = True
        size = file_size(src) if src is not None else 0
        if max_bytes is None:
            if not size:
                raise ValueError("Slot %s has no model yet: pass max_bytes, the size of the "
                                 "largest model the app accepts" % path)
            max_bytes = size + size // 2
        self.max_bytes = max_bytes
        self._bufs = [bytearray(max_bytes)]
        self.double = False
        if double is not False:
            try:
                self._bufs.append(bytearray(max_bytes))
                self.double = True
            except MemoryError:
                if double:
                    raise
                self._log("RAM holds one %d-byte model buffer: a new model replaces the old "
                          "in place (the old is reloaded if the new one fails)" % max_bytes)
        self.max_arena = max_arena
        if src is not None:
            self._boot(src, digest, zero_copy)
        if self.model is None and rom is not None and not zero_copy:
            # The stored update is unusable: fall back to the model baked into ROM.
            self._boot(rom, None, True)

    # --- reporting ----------------------------------------------------------------------

    def _log(self, msg):
        if self.log is not None:
            self.log("uformer slot %s: %s" % (self.name, msg))

    def _event(self, kind, **info):
        info["kind"] = kind
        self.last_event = info
        if kind == "refused":
            self.refusals += 1
            msg = "refused %s model%s: %s; %s" % (
                info.get("source", "new"),
                (" " + info["digest"][:12]) if info.get("digest") else "",
                info.get("reason"),
                ("still serving " + self._ident()) if self.model is not None else "no model")
        elif kind == "swapped":
            msg = "swapped %s -> %s (%s)" % (
                (info.get("old") or "none")[:12], self._ident(), info.get("source"))
        elif kind == "loaded":
            msg = "serving %s from %s (%d B%s, arena %d B, test invoke %d us)" % (
                self._ident(), info.get("path"), info.get("bytes", 0),
                ", zero-copy" if info.get("zero_copy") else "", info.get("arena", 0),
                info.get("test_us", 0)) + ("; " + info["note"] if info.get("note") else "")
        elif kind == "staged":
            msg = "verified %s (%s, %d B, test invoke %d us); swapping at the next window" % (
                info["digest"][:12], info.get("source"), info.get("bytes", 0), info.get("test_us", 0))
        else:
            msg = "%s: %s" % (kind, info.get("reason", ""))
        self._log(msg)
        if self.on_event is not None:
            self.on_event(kind, info)

    def _ident(self):
        if self.model is None:
            return "none"
        return (self.digest or "unverified")[:12]

    # --- loading --------------------------------------------------------------------------

    def _arena(self, buf):
        if self.max_arena is None:
            need = native().arena_size(buf)
            self.max_arena = need + need // 2
        return self.max_arena

    def _check(self, m):
        """Raise ValueError if the app cannot use model m."""
        if len(m.buffer) > self.max_bytes:
            raise ValueError("model is %d bytes, the slot accepts at most %d (max_bytes)" % (
                len(m.buffer), self.max_bytes))
        w = self.window
        if w is not None:
            if m.input_size != w.size:
                raise ValueError("model input takes %d values, the app's window is %d x %d = %d"
                                 % (m.input_size, w.length, w.channels, w.size))
            if m.channels != w.channels:
                raise ValueError("model has %d channels, the app's window %d" % (m.channels, w.channels))
        if self.accept is not None:
            reason = self.accept(m)
            if reason:
                raise ValueError(reason)

    def _make(self, buf, name, zero_copy=False):
        """Engine model over buf, checked and test-invoked; (model, test_us)."""
        m = Model(buf, self._arena(buf), name=name)
        m.zero_copy = zero_copy
        self._check(m)
        t0 = ticks_us()
        m.test_invoke()
        return m, ticks_diff(ticks_us(), t0)

    def _read_into(self, path, bi, h=None):
        """Read a whole file into buffer bi; memoryview of its bytes."""
        size = file_size(path)
        if size > self.max_bytes:
            raise ValueError("model is %d bytes, the slot accepts at most %d (max_bytes)" % (
                size, self.max_bytes))
        mv = memoryview(self._bufs[bi])[:size]
        got = 0
        with open(path, "rb") as f:
            while got < size:
                n = f.readinto(mv[got:min(size, got + CHUNK)])
                if not n:
                    raise OSError("%s: read %d of %d bytes" % (path, got, size))
                if h is not None:
                    h.update(mv[got:got + n])
                got += n
        return mv

    def _boot(self, src, digest, zero_copy):
        try:
            if zero_copy:
                m = Model.load(src, self._arena_for_file(src))
                self._check(m)
                t0 = ticks_us()
                m.test_invoke()
                test_us = ticks_diff(ticks_us(), t0)
                bi = -1
            else:
                h = sha256() if digest is not None else None
                buf = self._read_into(src, 0, h)
                if h is not None and hexdigest(h) != digest:
                    raise ValueError("sha256 mismatch: %s reads %s, expected %s" % (
                        src, hexdigest(h)[:16], digest[:16]))
                m, test_us = self._make(buf, src)
                bi = 0
        except (ValueError, NotImplementedError, MemoryError, OSError) as e:
            self._event("refused", reason="%s: %s" % (src, e), source="boot", digest=digest)
            return
        self.model = m
        self.digest = digest
        self._active = bi
        self._event("loaded", path=src, bytes=len(m.buffer), zero_copy=m.zero_copy,
                    arena=m.engine.arena_size, test_us=test_us, digest=digest, note=m.note)

    def _arena_for_file(self, path):
        if self.max_arena is None:
            with open(path, "rb") as f:
                try:
                    mv = memoryview(f)
                except TypeError:
                    mv = None
                if mv is not None:
                    return self._arena(mv)
        return self.max_arena

    # --- new versions ---------------------------------------------------------------------

    def push(self, data, sha256_hex=None, done=None):
        """Offer model bytes held in RAM: written to the store's incoming file, then
        staged like any other new version. Without sha256_hex the digest of `data` is used
        (so only the write and the model itself are checked)."""
        h = sha256()
        h.update(data)
        have = hexdigest(h)
        if sha256_hex is None:
            sha256_hex = have
        part = self.store.part_path()
        with open(part, "wb") as f:
            f.write(data)
        return self.offer(part, sha256_hex, source="push", done=done)

    def offer(self, src, sha256_hex, source="file", done=None):
        """Stage the model file src, expected to have sha256 sha256_hex (hex string).

        Returns False if refused at once (reported), True if staging started or was
        queued. done(ok, info) is called when the outcome is known."""
        digest = sha256_hex.lower() if isinstance(sha256_hex, str) else sha256_hex
        if not isinstance(digest, str) or not is_hex_digest(digest):
            return self._refuse(None, "sha256 must be 64 hex digits, got %r" % (sha256_hex,),
                                source, done)
        if self._job is not None:
            q = self._queue
            self._queue = (src, digest, source, done)
            if q is not None:
                self._refuse(q[1], "superseded by a newer model before staging", q[2], q[3])
            return True
        return self._start(src, digest, source, done)

    def _start(self, src, digest, source, done):
        try:
            size = file_size(src)
        except OSError:
            return self._refuse(digest, "%s does not exist" % src, source, done)
        if size > self.max_bytes:
            return self._refuse(digest, "model is %d bytes, the slot accepts at most %d "
                                "(max_bytes)" % (size, self.max_bytes), source, done)
        if digest == self.digest and self.model is not None and self._pending is None:
            # Same model as the active one (a retried transfer): nothing to swap.
            self._finish_same(src, digest, source, done)
            return True
        job = _Job(src, digest, size, source, done)
        if self.double or self._active < 0:
            job.buf = 1 - self._active if self._active >= 0 else 0
            if self._pending is not None:
                # A verified model still waits for its window boundary: stage in its buffer
                # (it is superseded) rather than the active one's.
                job.buf = self._pending[2]
                self._pending = None
        self._job = job
        return True

    def _finish_same(self, src, digest, source, done):
        try:
            if src != self.store.active_path:
                self.store.install(src, digest)
        except (OSError, StorageError) as e:
            self._refuse(digest, "install failed: %s" % e, source, done)
            return
        info = {"digest": digest, "source": source, "same": True}
        if done is not None:
            done(True, info)

    def _refuse(self, digest, reason, source, done):
        self._event("refused", reason=reason, source=source, digest=digest)
        if done is not None:
            done(False, {"digest": digest, "source": source, "reason": reason})
        return False

    def step(self, deadline_us=None):
        """Do a bounded slice of background work: staging, and watching for NAME.new.sha256.

        deadline_us: ticks_us() value to stop by (None: finish the current job)."""
        job = self._job
        if job is None:
            if self.watch_ms is not None and ticks_diff(ticks_ms(), self._last_watch) >= self.watch_ms:
                self._last_watch = ticks_ms()
                self._watch()
            return self._job is not None
        try:
            if job.buf < 0:
                self._stage_in_place(job)
            elif self._read_slice(job, deadline_us):
                self._finish(job)
        except (ValueError, NotImplementedError, MemoryError, OSError, StorageError) as e:
            self._fail(job, e)
        return True

    def _read_slice(self, job, deadline_us):
        if job.f is None:
            job.f = open(job.src, "rb")
        mv = memoryview(self._bufs[job.buf])
        k = 0
        while job.got < job.size:
            end = job.got + CHUNK
            if end > job.size:
                end = job.size
            n = job.f.readinto(mv[job.got:end])
            if not n:
                raise OSError("%s: read %d of %d bytes (truncated while staging)" % (
                    job.src, job.got, job.size))
            job.h.update(mv[job.got:job.got + n])
            job.got += n
            k += 1
            # At least _STEP_CHUNKS per call so staging always advances, then until the
            # deadline (no deadline: the whole file).
            if k >= _STEP_CHUNKS and deadline_us is not None and \
                    ticks_diff(deadline_us, ticks_us()) <= 0:
                break
        if job.got < job.size:
            return False
        job.f.close()
        job.f = None
        return True

    def _verify(self, job, have):
        if have != job.digest:
            raise ValueError("sha256 mismatch: got %s, expected %s" % (have[:16], job.digest[:16]))

    def _finish(self, job):
        self._verify(job, hexdigest(job.h))
        buf = memoryview(self._bufs[job.buf])[:job.size]
        try:
            m, test_us = self._make(buf, job.src)
        except MemoryError:
            if self.model is None or self._active < 0:
                raise
            self._replace_freeing_old(job, buf)
            return
        self._install(job, m, job.buf, test_us)

    def _replace_freeing_old(self, job, buf):
        # The new arena does not fit next to the old one: free the old model first, and
        # rebuild it from its (untouched) buffer if the new one fails to load or install.
        old = self.model
        old_buf = memoryview(self._bufs[self._active])[:len(old.buffer)]
        old_name = old.name
        self.model = None
        old = None
        gc.collect()
        try:
            m, test_us = self._make(buf, job.src)
            # The old model is gone: the new one serves from the next window on.
            self._install(job, m, job.buf, test_us, now=True)
        except (ValueError, NotImplementedError, MemoryError, OSError) as e:
            m = None
            self._restore(old_buf, old_name)
            raise e

    def _restore(self, buf, name):
        m = None
        try:
            gc.collect()
            m = Model(buf, self.max_arena, name=name)
        except (ValueError, NotImplementedError, MemoryError) as e:
            self._event("error", reason="could not restore the old model: %s" % e)
        self.model = m
        if m is None:
            self.digest = None
            self._active = -1
        else:
            self._event("restored", reason="old model %s serving again" % self._ident())

    def _stage_in_place(self, job):
        # One buffer, holding the active model: check the digest by streaming first (no
        # RAM), then free the old model, load the new one into its buffer, and reload the
        # old one from its file if anything fails.
        have = sha256_file(job.src, self._chunk)
        self._verify(job, have)
        old_path = self.store.active_path
        old_digest = self.digest
        old_name = self.model.name if self.model is not None else None
        self.model = None
        gc.collect()
        try:
            buf = self._read_into(job.src, 0)
            m, test_us = self._make(buf, job.src)
        except (ValueError, NotImplementedError, MemoryError, OSError) as e:
            if old_path is not None:
                try:
                    h = sha256() if old_digest else None
                    old_buf = self._read_into(old_path, 0, h)
                    if h is not None and hexdigest(h) != old_digest:
                        raise ValueError("%s no longer matches its sha256" % old_path)
                    self._restore(old_buf, old_name)
                    self.digest = old_digest if self.model is not None else None
                except (ValueError, OSError) as e2:
                    self._event("error", reason="could not restore the old model: %s" % e2)
                    self._active = -1
            raise e
        self._install(job, m, 0, test_us, now=True)

    def _install(self, job, m, bi, test_us, now=False):
        try:
            self.store.install(job.src, job.digest)
        except (OSError, StorageError) as e:
            raise OSError("install failed: %s" % e)
        self._job = None
        info = {"digest": job.digest, "source": job.source, "bytes": job.size,
                "test_us": test_us, "arena": m.engine.arena_size}
        self._event("staged", **info)
        self._pending = (m, job.digest, bi, job.source)
        if now:
            self.acquire()
        if job.done is not None:
            job.done(True, info)
        self._next()

    def _fail(self, job, e):
        if job.f is not None:
            job.f.close()
            job.f = None
        self._job = None
        self._refuse(job.digest, str(e), job.source, job.done)
        self._next()

    def _next(self):
        q = self._queue
        if q is not None:
            self._queue = None
            self._start(*q)

    def _watch(self):
        new = self.path + ".new"
        side = new + ".sha256"
        if not exists(side):
            return
        try:
            with open(side) as f:
                text = f.read()
        except OSError as e:
            text = ""
            self._log("cannot read %s: %s" % (side, e))
        remove(side)
        parts = text.split()
        digest = parts[0].lower() if parts else ""
        self.offer(new, digest, source="file")

    def acquire(self):
        """The model to use for the next window; applies a pending swap first. Call once
        per window and do not keep the result across windows."""
        p = self._pending
        if p is not None:
            self._pending = None
            old = self.digest
            self.model, self.digest, self._active, source = p
            self.swaps += 1
            self._event("swapped", old=old, digest=self.digest, source=source)
        return self.model

    @property
    def serving(self):
        return self.model is not None

    @property
    def busy(self):
        return self._job is not None or self._pending is not None

    def info(self):
        d = self.model.info() if self.model is not None else {}
        d["sha256"] = self.digest
        d["swaps"] = self.swaps
        d["refusals"] = self.refusals
        d["max_bytes"] = self.max_bytes
        d["max_arena"] = self.max_arena
        d["double_buffered"] = self.double
        d["store"] = self.store.kind
        return d
