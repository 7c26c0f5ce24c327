"""microformer install (--port P | --drive D) [--natmod DIR]: the engine onto the firmware a board has.

    microformer install --port /dev/ttyACM0            # stock MicroPython: _uformer.mpy + uformer
    microformer install --drive /media/$USER/CIRCUITPY # CircuitPython: the uformer package
    microformer install --mip [--natmod DIR]           # write DIR/<arch>/package.json for mip

Over a port the board is asked for sys.implementation: its .mpy version and native arch
(_mpy), platform, whether _uformer and uformer import already, and the free bytes of its lib
folder (the first absolute sys.path entry ending in /lib). From the natmod output of
`microformer firmware natmod` (DIR/<arch>/_uformer.mpy, DIR/<arch>/lib/uformer/*.mpy) it picks
the module for that arch and checks its .mpy header (magic 'M', version, sub-version, arch,
arch flags) against the board BEFORE anything is copied; a wrong arch, an .mpy version the
firmware cannot load, or too little space is refused with one line. Firmware that already has
_uformer (built in) gets only what is missing: the uformer package (compiled .mpy when the
natmod output has it for the board's .mpy version, else its .py sources). Every file goes
through the same verified, atomic copy as push (crc32-checked chunks to NAME.part, sha256 on
the board, rename); files the board already holds unchanged are not sent again. Then
`import _uformer, uformer` is checked on the board and the board's app restarted.

--mip writes a package description next to each arch's natmod output, so that
`mpremote mip install DIR/<arch>/package.json` (a local path or the same tree served over
https) installs the same files into the board's /lib.
"""
import json
import os
import pathlib
import sys
import time

from .. import __version__
from ..cliutil import print_json
from ..errors import MicroformerError
from ..transport import DeviceError
from .push import AUTORELOAD, add_target, target

DEFAULT_NATMOD = os.path.join("out", "natmod")
NATMOD = "_uformer.mpy"  # natmod.NATMOD_FILE
MARGIN = 4096  # bytes kept free besides the files: filesystem blocks, the .part of the largest


def add_parser(sub):
    p = sub.add_parser(
        "install", help="put _uformer (natmod) and uformer on a board's stock firmware",
        description=" ".join(__doc__.split("\n\n")[2].split()))
    add_target(p, drive=True, required=False)
    p.add_argument("--natmod", metavar="DIR", default=DEFAULT_NATMOD,
                   help=f"natmod output of `microformer firmware natmod` (default {DEFAULT_NATMOD}; "
                        "DIR/<arch>/_uformer.mpy, or one arch's folder)")
    p.add_argument("--lib", metavar="DIR",
                   help="folder on the board to install into (default: the first absolute sys.path "
                        "entry ending in /lib, usually /lib)")
    p.add_argument("--mip", action="store_true",
                   help="write DIR/<arch>/package.json for `mpremote mip install` and stop")
    p.add_argument("--force", action="store_true", help="copy files the board already holds unchanged")
    p.add_argument("--no-restart", action="store_true",
                   help="leave the board at the REPL afterwards instead of restarting its app")
    p.add_argument("--json", action="store_true", help="print one JSON object with the outcome")


# --- what to copy ----------------------------------------------------------------------------------


def _natmod():
    from ..firmware import natmod

    return natmod


def header(path):
    """natmod.read_header (the .mpy header: magic 'M' or 'C', version, sub_version, arch,
    arch_flags, ...) with a file that is not one as a one-line MicroformerError."""
    from ..firmware import FirmwareError

    try:
        return _natmod().read_header(path)
    except FirmwareError as e:
        raise MicroformerError(str(e)) from None


def mpy_name(h):
    return f"{h['version']}.{h['sub_version']}"


def natmods(natmod):
    """[(arch folder, header of its _uformer.mpy)] in a natmod output (DIR/<arch>/ or one arch's
    folder given directly)."""
    root = pathlib.Path(natmod)
    dirs = [root] + sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
    return [(d, header(d / NATMOD)) for d in dirs if (d / NATMOD).is_file()]


def pick_natmod(natmod, mpy, where, magic="M"):
    """The arch folder whose _uformer.mpy the board loads (its own arch first, else the
    highest Thumb rung below it); refuses with MicroPython's rule as the reason. magic 'C':
    a CircuitPython board, which loads only CircuitPython's .mpy files."""
    nm = _natmod()
    board = nm.board_mpy(mpy)
    found = [(d, h) for d, h in natmods(natmod) if h["magic"] == magic]
    ok = [(d, h) for d, h in found if nm.loadable(h, mpy) is None]
    if ok:
        ok.sort(key=lambda dh: (dh[1]["arch"] == board["arch"],
                                nm.THUMB.index(dh[1]["arch"]) if dh[1]["arch"] in nm.THUMB else -1))
        return ok[-1][0]
    want = f"{board['arch']}, .mpy {mpy_name(board)}"
    if not found and magic == "C":
        raise MicroformerError(f"no natmod for CircuitPython ({want}) in {natmod}: CircuitPython "
                               f"loads only .mpy files made for it (see docs/circuitpython.md)")
    if not found:
        raise MicroformerError(f"no natmod for the board on {where} ({want}) in {natmod}: build it "
                               f"with microformer firmware natmod --arch {board['arch']} --micropython DIR")
    d, h = found[0] if len(found) == 1 else next(
        ((d, h) for d, h in found if h["arch"] == board["arch"]), found[0])
    raise MicroformerError(f"refused before copying: {d / NATMOD} cannot load on {where}: "
                           f"{nm.loadable(h, mpy)} ({want})")


def package_sources():
    """{name: path} of the uformer package's .py files (the host's copy of the device package)."""
    import uformer

    d = pathlib.Path(uformer.__file__).parent
    return {p.name: p for p in sorted(d.glob("*.py"))}


def package_files(natmod, board):
    """[(name inside uformer/, local path)] and a word on which: compiled .mpy from the natmod
    output when the board loads them (same .mpy version), else the .py sources."""
    if board["mpy"] is not None:
        nm = _natmod()
        for d, _ in natmods(natmod):
            files = sorted((d / "lib" / "uformer").glob("*.mpy"))
            if files and all(nm.loadable(header(f), board["mpy"]) is None for f in files):
                return [(f.name, f) for f in files], f"compiled .mpy from {d / 'lib' / 'uformer'}"
    return list(package_sources().items()), ("Python sources (no compiled package for this .mpy "
                                             "version in the natmod output)")


def plan(board, natmod, where):
    """(files [(remote path, local path)], facts) for a board's probe; refuses before copying."""
    lib = board["lib"].rstrip("/") or "/"
    facts = {"impl": board["impl"], "release": board["version"], "platform": board["platform"],
             "lib": lib, "free": board["free"], "arch": None, "mpy": None}
    if board["mpy"] is not None:
        abi = _natmod().board_mpy(board["mpy"])
        facts["arch"] = abi["arch"]
        facts["mpy"] = mpy_name(abi)
    eng = board["_uformer"]
    files = []
    circuitpython = board["impl"] == "circuitpython"
    if eng is not None and eng[0] != "error" and eng[1] == "built-in":
        facts["engine"] = f"built into the firmware (version {eng[0]}): not copied"
    elif circuitpython and not any(h["magic"] == "C" for _, h in natmods(natmod)):
        # CircuitPython refuses MicroPython's .mpy files ("MicroPython .mpy file; use
        # CircuitPython mpy-cross"): without one built for its ABI the package runs alone.
        facts["engine"] = ("none: CircuitPython loads only .mpy files made for it and none is in "
                           f"{natmod}; uformer's pure-Python parts run, Model does not")
    else:
        if board["mpy"] is None:
            raise MicroformerError(f"the firmware on {where} ({board['impl']} {board['platform']}) "
                                   f"cannot import .mpy files (no sys.implementation._mpy): build "
                                   f"the firmware with _uformer (microformer firmware build)")
        d = pick_natmod(natmod, board["mpy"], where, "C" if circuitpython else "M")
        files.append((f"{lib}/{NATMOD}", d / NATMOD))
        facts["engine"] = f"natmod {d / NATMOD} ({header(d / NATMOD)['arch']})"
    up = board["uformer"]
    if up is not None and up[0] != "error" and not str(up[1]).startswith(lib + "/"):
        # Frozen in the firmware (or elsewhere on sys.path ahead of lib): that one is imported.
        facts["package"] = f"uformer {up[0]} already on the board ({up[1]}): not copied"
    else:
        pkg, how = package_files(natmod, board) if not circuitpython else (
            list(package_sources().items()), "Python sources (CircuitPython)")
        facts["package"] = f"uformer {__version__}: {how}"
        files += [(f"{lib}/uformer/{n}", p) for n, p in pkg]
    return files, facts


def _kb(n):
    return f"{(n + 1023) // 1024} KB"


def check_space(files, have, free, lib, where):
    """Refuse before copying when lib's filesystem cannot take the files. have: {remote path:
    bytes the board holds there now (-1: none)}; a replaced file frees its bytes after the
    rename, the .part of the largest file needs room next to it."""
    sizes = {r: os.path.getsize(p) for r, p in files}
    need = sum(max(0, sizes[r] - max(0, have.get(r, -1))) for r in sizes)
    need += max(sizes.values(), default=0) + MARGIN
    if 0 <= free < need:
        total = sum(sizes.values())
        raise MicroformerError(f"not enough space on {where}: {lib} has {_kb(free)} free, the install "
                               f"needs {_kb(need)} ({len(files)} files, {_kb(total)}, plus room for "
                               f"the largest one's .part)")


VERIFY = """import sys
for _m in [k for k in sys.modules if k == '_uformer' or k == 'uformer' or k.startswith('uformer.')]:
    del sys.modules[_m]
%s
print('MFINSTALL', %s, uformer.__version__)
"""


def verify(t, where, engine=True):
    """import _uformer and uformer afresh on the board: (engine version, op count, uformer
    version); engine=False: uformer only (CircuitPython)."""
    code = VERIFY % (("import _uformer, uformer", "_uformer.version, len(_uformer.OPS)") if engine
                     else ("import uformer", "'-', 0"))
    try:
        out = t.exec(code, timeout=30)
    except DeviceError as e:
        why = str(e).strip().splitlines()[-1]
        hint = ""
        if "incompatible .mpy" in why:
            hint = ("; MicroPython's own words: the .mpy was built for another firmware version "
                    "or arch than the one on the board")
        raise MicroformerError(f"import _uformer failed on {where} after the install: {why}{hint}") from None
    for line in out.splitlines():
        if line.startswith("MFINSTALL "):
            v, ops, pv = line.split()[1:4]
            return {"engine": v, "ops": int(ops), "uformer": pv}
    raise MicroformerError(f"import _uformer on {where} printed no result: {out[-200:]!r}")


def install(t, natmod, lib=None, force=False, where=None, log=print):
    """Install onto an open serial Transport; returns the outcome dict."""
    where = where or t.describe()
    board = t.call("probe", lib, timeout=30)
    files, facts = plan(board, natmod, where)
    sha = {}
    have = {}
    for remote, local in files:
        have[remote] = t.call("size", remote)
        sha[remote] = t.call("sha256_file", remote, timeout=max(5.0, have[remote] / 2000)) \
            if have[remote] >= 0 and not force else None
    import hashlib

    todo = [(r, p) for r, p in files
            if force or sha[r] != hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest()]
    if todo and not board.get("lib_ok", True):
        raise MicroformerError(f"refused before copying: the board on {where} has no writable "
                               f"filesystem at {facts['lib']} (its firmware mounts none there): put "
                               f"the files into a ROMFS image, or build firmware with _uformer "
                               f"(microformer firmware build)")
    check_space(todo, have, board["free"], facts["lib"], where)
    copied = []
    for remote, local in todo:
        data = pathlib.Path(local).read_bytes()
        t.put_file(remote, data)
        copied.append((remote, len(data)))
        log(f"  {remote} ({len(data):,} bytes, sha256 verified on the board)")
        # A .py next to a new .mpy (or the other way round) would be imported instead of it.
        stem, ext = os.path.splitext(remote)
        if remote.endswith((".py", ".mpy")) and not remote.endswith(NATMOD):
            t.call("remove", stem + (".py" if ext == ".mpy" else ".mpy"))
    check = verify(t, where, engine=not facts["engine"].startswith("none"))
    return {"board": facts, "copied": [r for r, _ in copied],
            "bytes": sum(n for _, n in copied),
            "unchanged": [r for r, _ in files if r not in dict(todo)], "check": check}


def install_drive(t, log=print):
    """CircuitPython drive: the uformer package's sources into DRIVE/lib/uformer."""
    lib = os.path.join(t.root, "lib")
    files = [(os.path.join(lib, "uformer", n), p) for n, p in package_sources().items()]
    have = {r: t.call("size", r) for r, _ in files}
    import hashlib

    todo = [(r, p) for r, p in files
            if t.call("sha256_file", r) != hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest()]
    check_space(todo, have, t.call("free_bytes", t.root), lib, t.describe())
    for remote, local in todo:
        t.put_file(remote, pathlib.Path(local).read_bytes())
        log(f"  {remote}")
        stale = remote[:-3] + ".mpy"
        t.call("remove", stale)
    return {"copied": [r for r, _ in todo], "unchanged": [r for r, _ in files if r not in dict(todo)],
            "bytes": sum(os.path.getsize(p) for _, p in todo)}


def write_mip(natmod):
    """DIR/<arch>/package.json for every arch in the natmod output; [paths written]."""
    out = []
    for d, check in natmods(natmod):
        if check["magic"] != "M":
            continue  # mip is MicroPython's; a CircuitPython natmod goes on with install --port
        urls = [[NATMOD, NATMOD]]
        for f in sorted((d / "lib" / "uformer").glob("*.mpy")):
            urls.append([f"uformer/{f.name}", f"lib/uformer/{f.name}"])
        version = __version__
        meta = d / "natmod.json"
        if meta.is_file():
            try:
                version = str(json.loads(meta.read_text()).get("version", version))
            except ValueError:
                raise MicroformerError(f"{meta} is not valid JSON") from None
        pkg = {"urls": urls, "version": version,
               "description": f"microformer engine _uformer (natmod, {check['arch']}, .mpy "
                              f"{mpy_name(check)}) and the uformer package"}
        tmp = d / "package.json.tmp"
        tmp.write_text(json.dumps(pkg, indent=1) + "\n")
        os.replace(tmp, d / "package.json")
        out.append(d / "package.json")
    if not out:
        raise MicroformerError(f"no natmod output in {natmod} (DIR/<arch>/{NATMOD}); build one with "
                               f"microformer firmware natmod --arch ARCH --micropython DIR")
    return out


def run(args):
    if args.mip:
        for p in write_mip(args.natmod):
            print(f"wrote {p}: mpremote mip install {p}")
        return 0
    if args.sim:
        raise MicroformerError("install puts the engine on a board; the simulator already runs "
                               "this computer's _uformer (push --sim DIR needs no install)")
    if not (args.port or args.drive):
        raise MicroformerError("install needs a board: --port PORT (MicroPython) or --drive DIR "
                               "(a CircuitPython drive); or --mip to write package.json files")
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    if args.drive:
        with target(args) as t:
            res = install_drive(t, log=say)
        if args.json:
            print_json(res)
            return 0
        print(f"{args.drive}: uformer {__version__} in lib/uformer ({len(res['copied'])} files "
              f"copied, {len(res['unchanged'])} unchanged). CircuitPython has no _uformer natmod "
              f"yet: Window, Rule, Runner, Slot, storage and sensors run; Model needs the engine")
        if res["copied"]:
            print(AUTORELOAD)
        return 0
    t0 = time.monotonic()
    with target(args) as t:
        res = install(t, args.natmod, args.lib, args.force, where=args.port, log=say)
        if not args.no_restart:
            t.restart()
    res["seconds"] = round(time.monotonic() - t0, 2)
    if args.json:
        print_json(res)
        return 0
    b, c = res["board"], res["check"]
    arch = f"{b['arch'] or 'no native code'}, .mpy {b['mpy']}" if b["mpy"] else "no .mpy support"
    print(f"{args.port}: {b['impl']} {'.'.join(map(str, b['release']))} on {b['platform']} ({arch})")
    print(f"  engine: {b['engine']}")
    print(f"  package: {b['package']}")
    print(f"  {len(res['copied'])} files copied ({res['bytes']:,} bytes) to {b['lib']}, "
          f"{len(res['unchanged'])} unchanged, in {res['seconds']:.1f} s")
    if c["ops"]:
        print(f"  checked on the board: import _uformer (engine {c['engine']}, {c['ops']} ops) and "
              f"uformer {c['uformer']}")
    else:
        print(f"  checked on the board: import uformer {c['uformer']}")
    return 0
