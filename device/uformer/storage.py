"""Power-safe model files: after a power cut at any point the old or the new model loads.

Two layouts, picked from the filesystem the model lives on (`store_for`):

RenameStore (littlefs, and POSIX for the simulator), for NAME:
    NAME          the active model
    NAME.sha256   "<hex digest>  <source path>\n" of the model being installed or active:
                  the line `sha256sum SRC` prints (so `sha256sum -c` can check it while
                  the source still exists); the path is everything after the two spaces,
                  so names with spaces survive recovery
    NAME.part     an incoming model (live transfers write here)
  install(src, digest): write NAME.sha256.tmp, rename it over NAME.sha256, rename src over
  NAME. Both renames are atomic on littlefs. A cut between them leaves NAME old and the
  sidecar new; recovery sees NAME does not match but src does, and finishes the rename.

ABStore (FAT, where MicroPython's rename deletes the destination first, so a cut can leave
no model at all), for NAME:
    NAME.a, NAME.b     two model files; the active one is never written
    NAME.m0, NAME.m1   manifests "MFAB <seq> <a|b> <digest> <size> <crc32>"
  install(src, digest): copy into the inactive file, read it back and check the digest,
  then write the manifest that does not describe the active model with seq + 1. A torn
  manifest fails its CRC and the other one (the old model) wins.

Recovery always checks the active file's sha256 against what the layout recorded.
"""
import os

from .compat import const

CHUNK = const(512)  # bytes per read when hashing/copying; one littlefs/FAT block


class StorageError(Exception):
    """The stored model is missing or does not match its recorded digest."""


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def file_size(path):
    return os.stat(path)[6]


def remove(path):
    """Delete path if it exists; True if something was deleted."""
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def hexdigest(h):
    from binascii import hexlify

    return hexlify(h.digest()).decode()


def sha256():
    try:
        from hashlib import sha256 as _sha256
    except ImportError:
        raise ImportError("uformer needs hashlib.sha256 to verify models; this firmware lacks it")
    return _sha256()


def sha256_file(path, buf=None):
    """Hex sha256 of a file, hashing CHUNK bytes at a time into `buf` (a bytearray)."""
    h = sha256()
    if buf is None:
        buf = bytearray(CHUNK)
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
    return hexdigest(h)


# A sidecar is a digest, two spaces and a path: a few hundred bytes at most. Reading a
# bigger one whole would let a stray file exhaust the heap at boot.
_SIDECAR_MAX = const(1024)


def read_small(path, limit):
    """Text of a file of at most `limit` bytes; None if it does not exist. StorageError if
    it is bigger or not text."""
    try:
        size = file_size(path)
    except OSError:
        return None
    if size > limit:
        raise StorageError("%s is %d bytes; a sha256 line is at most %d" % (path, size, limit))
    try:
        with open(path, "rb") as f:
            return f.read().decode()
    except UnicodeError:
        raise StorageError("%s is not text" % path)


def parse_sha256_line(text):
    """(digest, name) from `sha256sum` output: "<64 hex>  <name>" (text mode) or
    "<64 hex> *<name>" (binary mode), or just "<64 hex>"; name None when absent. The name is
    the rest of the line as written, spaces included. (None, None) if it is not one."""
    line = text.split("\n", 1)[0].rstrip("\r")
    digest = line[:64].lower()
    if not is_hex_digest(digest):
        return None, None
    rest = line[64:]
    if not rest.strip():
        return digest, None
    if rest[:1] != " ":
        return None, None
    if rest[1:2] in (" ", "*"):
        return digest, rest[2:] or None
    return digest, rest[1:]  # one space: what uformer wrote before it used sha256sum's format


def is_hex_digest(s):
    if len(s) != 64:
        return False
    for ch in s:
        if ch not in "0123456789abcdef":
            return False
    return True


def fs_kind(path):
    """'fat', 'lfs', 'rom' or 'posix' for the filesystem holding `path`."""
    from .compat import DEFAULT_FS, mounted_fs

    name = mounted_fs(path)
    if name is None:
        # CPython, or firmware that cannot tell its mounts: the runtime's usual filesystem.
        return DEFAULT_FS
    if "Fat" in name:
        return "fat"
    if "Rom" in name:
        return "rom"
    if "Posix" in name:
        return "posix"
    return "lfs"


def store_for(path, kind=None):
    """The store for a model at `path` (kind: 'fat', 'lfs', 'posix' or None to detect)."""
    if kind is None:
        kind = fs_kind(path)
    if kind == "fat":
        return ABStore(path)
    if kind == "rom":
        raise StorageError("%s is on read-only ROMFS; give Slot a writable path and pass "
                           "the ROM model as rom=" % path)
    return RenameStore(path)


def copy_file(src, dst, buf, h=None):
    """Copy src to dst CHUNK bytes at a time; feeds the bytes to hash h when given."""
    mv = memoryview(buf)
    with open(src, "rb") as fi:
        with open(dst, "wb") as fo:
            while True:
                n = fi.readinto(buf)
                if not n:
                    break
                fo.write(mv[:n])
                if h is not None:
                    h.update(mv[:n])


class RenameStore:
    kind = "rename"

    def __init__(self, path):
        self.path = path
        self.sidecar = path + ".sha256"
        self.active_path = None
        self.active_digest = None
        self._buf = bytearray(CHUNK)

    def part_path(self):
        """Where an incoming model is written before install."""
        return self.path + ".part"

    def _sidecar(self):
        text = read_small(self.sidecar, _SIDECAR_MAX)
        if text is None:
            return None, None
        digest, src = parse_sha256_line(text)
        if digest is None:
            raise StorageError("%s does not hold a sha256 digest: %r" % (self.sidecar, text[:80]))
        return digest, src

    def recover(self):
        """(path, digest) of the model to load, finishing an interrupted install.

        digest is None for a model copied by hand without a sidecar (unverified; the
        engine still validates its structure). (None, None) when there is no model."""
        for leftover in (self.sidecar + ".tmp",):
            remove(leftover)
        digest, src = self._sidecar()
        if digest is None:
            if exists(self.path):
                self.active_path, self.active_digest = self.path, None
                return self.path, None
            return None, None
        have = sha256_file(self.path, self._buf) if exists(self.path) else None
        if have == digest:
            self.active_path, self.active_digest = self.path, digest
            return self.path, digest
        if src and src != self.path and exists(src) and sha256_file(src, self._buf) == digest:
            # Cut between the two renames of install(): finish it.
            os.rename(src, self.path)
            self.active_path, self.active_digest = self.path, digest
            return self.path, digest
        if have is None:
            raise StorageError("%s is missing but %s names model %s" % (
                self.path, self.sidecar, digest[:16]))
        raise StorageError(
            "%s has sha256 %s but %s says %s: the file was changed without its .sha256; "
            "copy the model together with its .sha256, or delete %s" % (
                self.path, have[:16], self.sidecar, digest[:16], self.sidecar))

    def install(self, src, digest):
        """Make src (a complete, verified model file) the active model, atomically."""
        tmp = self.sidecar + ".tmp"
        with open(tmp, "w") as f:
            f.write(digest + "  " + src + "\n")
        os.rename(tmp, self.sidecar)
        if src != self.path:
            os.rename(src, self.path)
        self.active_path, self.active_digest = self.path, digest
        return self.path


_MAGIC = "MFAB"


def _crc_hex(s):
    from binascii import crc32

    return "%08x" % (crc32(s.encode()) & 0xFFFFFFFF)


class ABStore:
    kind = "ab"

    def __init__(self, path):
        self.path = path
        self.files = (path + ".a", path + ".b")
        self.manifests = (path + ".m0", path + ".m1")
        self.active_path = None
        self.active_digest = None
        self._seq = 0
        self._mslot = -1  # index of the manifest describing the active model, -1 if none
        self._buf = bytearray(CHUNK)

    def _read_manifest(self, i):
        try:
            with open(self.manifests[i]) as f:
                text = f.read()
        except OSError:
            return None
        parts = text.split()
        if len(parts) != 6 or parts[0] != _MAGIC:
            return None
        body = " ".join(parts[:5])
        if _crc_hex(body) != parts[5]:
            return None  # torn or damaged write: ignore, the other manifest wins
        try:
            seq = int(parts[1])
            size = int(parts[4])
        except ValueError:
            return None
        if parts[2] not in ("a", "b") or not is_hex_digest(parts[3]):
            return None
        return seq, "ab".index(parts[2]), parts[3], size

    def part_path(self):
        """The inactive A/B file: incoming models are written straight into it."""
        if self.active_path == self.files[0]:
            return self.files[1]
        return self.files[0]

    def recover(self):
        recs = []
        for i in (0, 1):
            r = self._read_manifest(i)
            if r is not None:
                recs.append((r[0], i, r))
        recs.sort()
        recs.reverse()
        bad = []
        for _, mi, (seq, fi, digest, size) in recs:
            path = self.files[fi]
            if exists(path) and file_size(path) == size and sha256_file(path, self._buf) == digest:
                self.active_path, self.active_digest = path, digest
                self._seq = seq
                self._mslot = mi
                return path, digest
            bad.append("%s (manifest %d) does not match its digest" % (path, seq))
        if bad:
            raise StorageError("no intact model: " + "; ".join(bad))
        if exists(self.path):
            # A model copied by hand before the first install: serve it unverified.
            self.active_path, self.active_digest = self.path, None
            return self.path, None
        return None, None

    def install(self, src, digest):
        target = self.part_path()
        if target == self.active_path:
            raise StorageError("refusing to overwrite the active model %s" % target)
        if src != target:
            copy_file(src, target, self._buf)
        have = sha256_file(target, self._buf)
        if have != digest:
            raise StorageError("%s reads back with sha256 %s, expected %s" % (
                target, have[:16], digest[:16]))
        seq = self._seq + 1
        body = "%s %d %s %s %d" % (_MAGIC, seq, "ab"[self.files.index(target)], digest,
                                   file_size(target))
        mi = 1 if self._mslot == 0 else 0
        with open(self.manifests[mi], "w") as f:
            f.write(body + " " + _crc_hex(body) + "\n")
        if src != target:
            remove(src)
        self.active_path, self.active_digest = target, digest
        self._seq = seq
        self._mslot = mi
        return target


class FileSlot:
    """A live-updatable plain file (a config, a label map) with the Slot interface the live
    receiver uses: the new version's sha256 is checked, then it is installed power-safely.
    No engine involved, so it also works on firmware without `_uformer`."""

    model = None

    def __init__(self, path, max_bytes, store=None, on_event=None, log=print):
        self.path = path
        self.name = path.rsplit("/", 1)[-1]
        self.store = store if store is not None else store_for(path)
        self.max_bytes = max_bytes
        self.on_event = on_event
        self.log = log
        self.swaps = 0
        self.refusals = 0
        self.last_event = None
        self._job = None  # (src, digest, source, done, hash, file, bytes done)
        self._chunk = bytearray(CHUNK)
        self._mv = memoryview(self._chunk)
        try:
            self.active, self.digest = self.store.recover()
        except (StorageError, OSError) as e:
            self.active, self.digest = None, None
            self._event("refused", "stored file unusable: %s" % e, None, "boot")

    def _event(self, kind, reason, digest, source):
        info = {"kind": kind, "reason": reason, "digest": digest, "source": source}
        self.last_event = info
        if kind == "refused":
            self.refusals += 1
        if self.log is not None:
            self.log("uformer file %s: %s %s: %s" % (self.name, kind, (digest or "")[:12], reason))
        if self.on_event is not None:
            self.on_event(kind, info)

    def offer(self, src, sha256_hex, source="file", done=None):
        try:
            size = file_size(src)
        except OSError:
            size = -1
        if size < 0 or size > self.max_bytes or not is_hex_digest(sha256_hex or ""):
            reason = ("%s does not exist" % src if size < 0 else
                      "file is %d bytes, at most %d accepted" % (size, self.max_bytes)
                      if size > self.max_bytes else "bad sha256 %r" % (sha256_hex,))
            self._event("refused", reason, sha256_hex, source)
            if done is not None:
                done(False, {"reason": reason})
            return False
        self._job = [src, sha256_hex, source, done, sha256(), open(src, "rb")]
        return True

    def step(self, deadline_us=None):
        from .compat import ticks_diff, ticks_us

        job = self._job
        if job is None:
            return False
        src, digest, source, done, h, f = job
        while True:
            n = f.readinto(self._chunk)
            if not n:
                break
            h.update(self._mv[:n])
            if deadline_us is not None and ticks_diff(deadline_us, ticks_us()) <= 0:
                return True
        f.close()
        self._job = None
        have = hexdigest(h)
        try:
            if have != digest:
                raise ValueError("sha256 mismatch: got %s, expected %s" % (have[:16], digest[:16]))
            self.active = self.store.install(src, digest)
        except (ValueError, OSError, StorageError) as e:
            self._event("refused", str(e), digest, source)
            if done is not None:
                done(False, {"reason": str(e), "digest": digest})
            return True
        self.digest = digest
        self.swaps += 1
        self._event("installed", self.active, digest, source)
        if done is not None:
            done(True, {"digest": digest, "source": source})
        return True

    def acquire(self):
        return None

    @property
    def serving(self):
        return self.active is not None

    @property
    def busy(self):
        return self._job is not None
