"""Slot: a hot-swappable model.

    slot = Slot("model.tflite", max_bytes=64 * 1024, window=w)
    model = slot.acquire()          # once per window; do not keep it across windows

A new version arrives from `push(data, sha256)`, from the live protocol (live.py), or as a
file copy: copy the model to NAME.new, then NAME.new.sha256 (what `sha256sum NAME.new`
prints: "<hex>  NAME.new"); `step()` notices the sidecar. The new version is read into a
spare buffer while the old one keeps serving (a bounded slice of work per `step`, so the
runner keeps its deadlines), checked against its sha256, loaded by the engine (which
validates every offset, shape and op), checked against the app (input size, channels,
labels vs outputs, `accept`), given a test invoke, installed power-safely (storage.py), and
only then swapped in. On any failure the old model keeps serving and the reason goes to
`on_event(kind, info)` and to one log line.

Memory contract (docs/architecture.md, "Slot memory contract"): everything a swap needs is
reserved here, at creation, or creation raises MemoryError with the numbers:

    reserved = buffers * max_bytes + (max_arena + ARENA_TAG) + SWAP_HEADROOM

buffers is 2 (a new model is staged while the old serves) or 1 (`double=False`, or
automatically when two do not fit: the new model is read over the old one, which is
reloaded from storage if the new one is refused). One arena serves every model: the new
model is loaded into it only once its bytes are verified, and a refused one is replaced by
the old model again, whose bytes are still in their buffer (or on storage, with one
buffer). Nothing is allocated per swap except small transient objects (SWAP_HEADROOM), so
a swap can be refused but never leaves the slot without the model it served: allocating
fresh buffers per swap fragments a small heap (docs/architecture.md, "Slot memory contract":
MemoryError on about half of 200 swaps on a ~100 KB heap).

max_arena, when not given, is measured from the model found at boot plus half again for
bigger successors (a model needing more is refused with both numbers); with no model at
boot it is max_bytes (an arena is usually well under the model's size; pass max_arena to
reserve less).
"""
import gc

from .compat import const, heap_free, ticks_diff, ticks_ms, ticks_us
from .model import Model, native
from .storage import (CHUNK, StorageError, exists, file_size, hexdigest, is_hex_digest,
                      parse_sha256_line, read_small, remove, sha256, store_for)

_STEP_CHUNKS = const(1)  # chunks a staging slice reads even when its time budget is spent
# Free heap a swap needs besides the reserved buffers and arena: the staging job, its hash
# and file objects, the new Model's wrapper (metadata dict, normalization lists, output
# array, tensor views) and the log line. Measured under unix MicroPython with the project's
# 50 KB transformer: under 3 KB at the peak; 4 KB keeps a margin.
SWAP_HEADROOM = const(4096)
_TAG = const(8)  # _uformer.ARENA_TAG: the owner tag at the start of a caller-provided arena


def budget(max_bytes, max_arena, buffers=2):
    """Heap bytes a Slot reserves: the memory contract's formula (docs/architecture.md)."""
    return buffers * max_bytes + max_arena + _TAG + SWAP_HEADROOM


def default_max_arena(need):
    """max_arena for a boot model whose exact arena is `need`: half again on top for
    successors, in 256-byte steps."""
    return (need + need // 2 + 255) // 256 * 256


def _why(e):
    """A refusal's reason: the message, with the type when it is not a plain ValueError."""
    msg = str(e)
    if isinstance(e, (ValueError, OSError)) and msg:
        return msg
    return "%s: %s" % (type(e).__name__, msg) if msg else type(e).__name__


def _kb(n):
    return (n + 1023) // 1024


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
        self.buf = -1  # index into Slot._bufs; -1: single buffer holding the active model


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
        self._active = -1  # buffer index of the active model; -1: none, or in ROM
        self._job = None
        self._queue = None  # one offer waiting while a job runs: (src, digest, source, done)
        self._last_watch = ticks_ms()
        self._chunk = bytearray(CHUNK)

        src = None
        digest = None
        try:
            src, digest = self.store.recover()
        except Exception as e:  # whatever is on storage, the app starts and says why
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
        if not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError("max_bytes must be a positive int, got %r" % (max_bytes,))
        if max_arena is not None and (not isinstance(max_arena, int) or max_arena <= 0):
            raise ValueError("max_arena must be a positive int, got %r" % (max_arena,))
        self.max_bytes = max_bytes
        self.max_arena = max_arena
        self._reserve(double, src, zero_copy or rom is not None and src == rom)
        if src is not None:
            self._boot(src, digest, zero_copy)
        if self.model is None and rom is not None and not zero_copy:
            # The stored update is unusable: fall back to the model baked into ROM.
            self._boot(rom, None, True)

    # --- the memory contract ----------------------------------------------------------------

    def _reserve(self, double, src, mapped):
        # Allocation order: the buffer every mode needs, the arena (measured from the boot
        # model read into that buffer), then the optional second buffer last, so failing
        # it leaves nothing half-allocated behind (a conservative GC may keep a dropped
        # block alive for a while, which would eat the memory a retry needs).
        gc.collect()
        free = heap_free()  # -1: CPython, no fixed heap to check against
        need_bufs = 2 if double else 1
        self._bufs = []
        self._arena = None
        self.double = False
        short = False  # True: the sum does not fit; False: the allocator found no hole
        try:
            if free >= 0 and budget(self.max_bytes, self.max_arena or 0, need_bufs) > free:
                short = True
                raise MemoryError
            self._bufs.append(bytearray(self.max_bytes))
            if self.max_arena is None:
                self.max_arena = self._measure(src, mapped)
            if free >= 0 and budget(self.max_bytes, self.max_arena, need_bufs) > free:
                short = True
                raise MemoryError
            self._arena = bytearray(self.max_arena + _TAG)
            if double is not False:
                if free >= 0 and budget(self.max_bytes, self.max_arena, 2) > free:
                    raise MemoryError
                self._bufs.append(bytearray(self.max_bytes))
                self.double = True
        except MemoryError:
            if double is None and self._arena is not None:
                # Auto: one buffer it is; the old model reloads from storage instead.
                self._log("RAM holds one %d-byte model buffer: a new model replaces the old "
                          "in place (the old is reloaded from storage if the new one is "
                          "refused)" % self.max_bytes)
                return
            self._bufs = []
            self._arena = None
            gc.collect()
            n = budget(self.max_bytes, self.max_arena or 0, need_bufs)
            raise MemoryError(
                "Slot %s needs %s%d KB for %s %d KB buffer%s and %s (+%d KB for a swap's "
                "transient objects); %s: lower max_bytes%s" % (
                    self.name, "over " if self.max_arena is None else "", _kb(n),
                    "two" if need_bufs == 2 else "one", _kb(self.max_bytes),
                    "s" if need_bufs == 2 else "",
                    "an arena" if self.max_arena is None else
                    "a %d KB arena" % _kb(self.max_arena), _kb(SWAP_HEADROOM),
                    ("%d KB free" % (free // 1024) if short else
                     "%d KB free but not in pieces that big" % (free // 1024))
                    if free >= 0 else "allocation failed",
                    ", max_arena or use double=False" if need_bufs == 2 else " or max_arena"))

    def _measure(self, src, mapped):
        """max_arena from the boot model (half again on top), or max_bytes without one."""
        need = 0
        if src is not None:
            try:
                if mapped:
                    with open(src, "rb") as f:
                        need = native().arena_size(memoryview(f))
                else:
                    need = native().arena_size(self._read_into(src, 0))
            except Exception as e:
                # The boot model is refused with its reason by _boot; size for max_bytes.
                self._log("cannot size the arena from %s (%s): reserving max_bytes" % (src, e))
                need = 0
        if not need:
            return self.max_bytes
        return default_max_arena(need)

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
            msg = "swapped %s -> %s (%s, %d B, test invoke %d us)" % (
                (info.get("old") or "none")[:12], self._ident(), info.get("source"),
                info.get("bytes", 0), info.get("test_us", 0))
        elif kind == "loaded":
            msg = "serving %s from %s (%d B%s, arena %d B of %d reserved, test invoke %d us)" % (
                self._ident(), info.get("path"), info.get("bytes", 0),
                ", zero-copy" if info.get("zero_copy") else "", info.get("arena", 0),
                self.max_arena, info.get("test_us", 0)) + (
                "; " + info["note"] if info.get("note") else "")
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

    def _make(self, buf, name):
        """Engine model over buf in the reserved arena, checked and test-invoked;
        (model, test_us). Overwrites the arena: the active model must be reloaded if this
        fails (_reload_old)."""
        try:
            m = Model(buf, name=name, arena=self._arena)
        except MemoryError as e:
            if "arena" not in str(e):
                raise
            raise MemoryError("%s (max_arena is %d: the arena reserved when the slot was "
                              "created)" % (e, self.max_arena))
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
                # An unaligned ROM file is copied into buffer 0 (Model.load says so in m.note).
                m = Model.load(src, arena=self._arena, into=self._bufs[0])
                bi = -1 if m.zero_copy else 0
                self._check(m)
                t0 = ticks_us()
                m.test_invoke()
                test_us = ticks_diff(ticks_us(), t0)
            else:
                h = sha256() if digest is not None else None
                buf = self._read_into(src, 0, h)
                if h is not None and hexdigest(h) != digest:
                    raise ValueError("sha256 mismatch: %s reads %s, expected %s" % (
                        src, hexdigest(h)[:16], digest[:16]))
                m, test_us = self._make(buf, src)
                bi = 0
        except Exception as e:  # a stored model is a peer's too: refuse whatever it raises
            self._event("refused", reason="%s: %s" % (src, e), source="boot", digest=digest)
            return
        self.model = m
        self.digest = digest
        self._active = bi
        self._event("loaded", path=src, bytes=len(m.buffer), zero_copy=m.zero_copy,
                    arena=m.engine.arena_size, test_us=test_us, digest=digest, note=m.note)

    # --- new versions ---------------------------------------------------------------------

    def push(self, data, sha256_hex=None, done=None):
        """Offer model bytes held in RAM: written to the store's incoming file, then
        staged like any other new version. Without sha256_hex the digest of `data` is used
        (so only the write and the model itself are checked)."""
        if sha256_hex is None:
            h = sha256()
            h.update(data)
            sha256_hex = hexdigest(h)
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
            return self._refuse(None, "sha256 must be 64 hex digits, got %r" % (
                sha256_hex if not isinstance(sha256_hex, str) else sha256_hex[:80],),
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
        free = heap_free()
        if 0 <= free < SWAP_HEADROOM:
            gc.collect()
            free = heap_free()
            if free < SWAP_HEADROOM:
                # The app has used the room the contract leaves for a swap's small objects:
                # say so instead of failing halfway with a bare MemoryError.
                return self._refuse(digest, "only %d bytes of heap free; a swap needs %d "
                                    "(SWAP_HEADROOM) besides the slot's reservation" % (
                                        free, SWAP_HEADROOM), source, done)
        if digest == self.digest and self.model is not None:
            # Same model as the active one (a retried transfer): nothing to swap.
            self._finish_same(src, digest, source, done)
            return True
        job = _Job(src, digest, size, source, done)
        if self._active < 0:
            job.buf = 0  # no model, or one in ROM: every buffer is free
        elif self.double:
            job.buf = 1 - self._active
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
                # One buffer: hash the file in slices first (the old model serves
                # meanwhile), then read it over the old one in one step.
                if self._read_slice(job, deadline_us):
                    self._stage_in_place(job)
            elif self._read_slice(job, deadline_us):
                self._verify(job, hexdigest(job.h))
                self._swap(job, memoryview(self._bufs[job.buf])[:job.size], job.buf)
        except Exception as e:  # a peer's model may raise anything: refuse it, keep serving
            self._fail(job, e)
        return True

    def _read_slice(self, job, deadline_us):
        if job.f is None:
            job.f = open(job.src, "rb")
        # Into the spare buffer; with one buffer through the chunk buffer, only hashing.
        spare = job.buf >= 0
        mv = memoryview(self._bufs[job.buf] if spare else self._chunk)
        k = 0
        while job.got < job.size:
            at = job.got if spare else 0
            end = at + CHUNK
            if end - at > job.size - job.got:
                end = at + job.size - job.got
            n = job.f.readinto(mv[at:end])
            if not n:
                raise OSError("%s: read %d of %d bytes (truncated while staging)" % (
                    job.src, job.got, job.size))
            job.h.update(mv[at:at + n])
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

    def _swap(self, job, buf, bi, reload=True):
        """Load the verified bytes in buf into the arena, check, install, and make them the
        active model; on any failure the old model is loaded back (reload) before the error
        goes on. Runs within one step(), between two windows: no window sees the arena
        mid-swap."""
        old = self.model
        try:
            m, test_us = self._make(buf, job.src)
            try:
                self.store.install(job.src, job.digest)
            except (OSError, StorageError) as e:
                raise OSError("install failed: %s" % e)
        except Exception as e:  # any failure: the old model goes back before it is reported
            m = None
            if reload:
                self._reload_old(old)
            raise e
        old_digest = self.digest
        self.model = m
        self.digest = job.digest
        self._active = bi
        self.swaps += 1
        self._job = None
        info = {"digest": job.digest, "source": job.source, "bytes": job.size,
                "test_us": test_us, "arena": m.engine.arena_size}
        self._event("swapped", old=old_digest, **info)
        if job.done is not None:
            job.done(True, info)
        self._next()

    def _reload_old(self, old):
        """Put the model that served before a refused swap back into the arena. Its bytes
        are unchanged in its buffer (or ROM) and the arena is the one it loaded into, so
        this cannot fail for lack of memory."""
        if old is None:
            return
        try:
            old.reload()
        except Exception as e:
            # Only a changed buffer gets here; the model reports it on every invoke.
            self._event("error", reason="could not reload the serving model: %s" % e)

    def _stage_in_place(self, job):
        # One buffer, holding the active model: the digest was checked by streaming the
        # file (_read_slice); now read the new model over the old one, and if it is
        # refused read the old one back from storage (its file is untouched until install)
        # and reload it. The file is read again, so its digest too (it may have changed).
        self._verify(job, hexdigest(job.h))
        old = self.model
        old_path = self.store.active_path
        try:
            h = sha256()
            buf = self._read_into(job.src, 0, h)
            self._verify(job, hexdigest(h))
            self._swap(job, buf, 0, reload=False)
        except Exception as e:
            self._restore_from(old, old_path)
            raise e

    def _restore_from(self, old, path):
        if old is None:
            return
        try:
            h = sha256() if self.digest else None
            self._read_into(path, 0, h)
            if h is not None and hexdigest(h) != self.digest:
                raise ValueError("%s no longer matches its sha256" % path)
        except Exception as e:
            self._event("error", reason="could not read the serving model back from %s: %s"
                        % (path, e))
            return
        self._reload_old(old)
        self._event("restored", reason="%s read back from %s, serving again" % (
            self._ident(), path))

    def _fail(self, job, e):
        if job.f is not None:
            job.f.close()
            job.f = None
        self._job = None
        self._refuse(job.digest, _why(e), job.source, job.done)
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
        digest = ""
        try:
            # What `sha256sum NAME.new > NAME.new.sha256` writes; only the digest is used
            # (the model is always NAME.new), the name may be anything, spaces included.
            text = read_small(side, 1024)
            digest = parse_sha256_line(text or "")[0] or (text or "")[:80]
        except (OSError, StorageError) as e:
            self._log("cannot read %s: %s" % (side, e))
        remove(side)
        self.offer(new, digest, source="file")

    def acquire(self):
        """The model to use for the next window. Call once per window and do not keep the
        result across windows (a swap reloads the arena between windows)."""
        return self.model

    @property
    def serving(self):
        return self.model is not None

    @property
    def busy(self):
        return self._job is not None

    def info(self):
        d = self.model.info() if self.model is not None else {}
        d["sha256"] = self.digest
        d["swaps"] = self.swaps
        d["refusals"] = self.refusals
        d["max_bytes"] = self.max_bytes
        d["max_arena"] = self.max_arena
        d["double_buffered"] = self.double
        d["reserved"] = budget(self.max_bytes, self.max_arena, len(self._bufs))
        d["store"] = self.store.kind
        return d
