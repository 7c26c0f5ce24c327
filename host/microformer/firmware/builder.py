"""`microformer firmware build`: checks, --ops-from header, the build, the sizes."""
import dataclasses
import pathlib

from . import FirmwareError, boards, driver, opsconfig, sizes, source_root


@dataclasses.dataclass
class Firmware:
    board: str
    out: pathlib.Path
    firmware: pathlib.Path
    artifacts: list
    sizes: sizes.Sizes
    micropython_version: str
    micropython_dir: pathlib.Path
    ops: list              # ops compiled in (all the engine has without --ops-from)
    log: pathlib.Path
    terse_errors: bool     # model errors as codes (MF_TERSE_ERRORS)


def check(board, micropython):
    """(MicroPython version string, compiler version) or FirmwareError naming the fix."""
    b = boards.lookup(board, FirmwareError)
    d = driver()
    try:
        v = d.check_micropython(micropython, b)
        d.check_tools(b)
    except d.BuildError as e:
        raise FirmwareError(str(e)) from None
    return d.version_string(v), d.compiler_version(b.cc)


def build(board, micropython, out=None, ops_from=(), jobs=None, on_line=None, terse_errors=None):
    """Builds `board` against the MicroPython checkout; returns a Firmware.
    terse_errors: None = boards.terse_errors_default(ops_from)."""
    if terse_errors is None:
        terse_errors = boards.terse_errors_default(ops_from)
    root = source_root()
    d = driver()
    out = pathlib.Path(out or boards.default_out(board)).resolve()
    ops_dir = None
    if ops_from:
        ops_dir = out / "ops"
        _, ops = opsconfig.write(ops_from, ops_dir, root)
    else:
        ops = opsconfig.engine_ops(root)
    try:
        r = d.build(board, micropython, out, ops_dir, jobs, on_line, terse_errors=terse_errors)
    except d.BuildError as e:
        raise FirmwareError(str(e)) from None
    try:
        s = sizes.measure(r, root)
        sizes.check_complete(s, board)
    except FirmwareError:
        d.discard(r)  # not a firmware: no artifacts in out, and the next build starts afresh
        raise
    return Firmware(board, out, r.firmware, r.artifacts, s,
                    d.version_string(r.micropython_version), pathlib.Path(micropython).resolve(), ops, r.log,
                    terse_errors)
