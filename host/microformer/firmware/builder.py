"""`microformer firmware build`: checks, --ops-from header, the build, the sizes."""
import dataclasses
import pathlib

from . import FirmwareError, driver, opsconfig, sizes, source_root


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
    d = driver()
    try:
        b = d.board(board)
        v = d.check_micropython(micropython, b)
        d.check_tools(b)
    except d.BuildError as e:
        raise FirmwareError(str(e)) from None
    return d.version_string(v), d.compiler_version(b.cc)


def build(board, micropython, out=None, ops_from=(), jobs=None, on_line=None, terse_errors=None):
    """Builds `board` against the MicroPython checkout; returns a Firmware.
    terse_errors: None = terse exactly when ops_from is given (a firmware cut to its models)."""
    if terse_errors is None:
        terse_errors = bool(ops_from)
    root = source_root()
    d = driver()
    out = pathlib.Path(out or pathlib.Path("out") / "firmware" / board).resolve()
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
    return Firmware(board, out, r.firmware, r.artifacts, sizes.measure(r, root),
                    d.version_string(r.micropython_version), pathlib.Path(micropython).resolve(), ops, r.log,
                    terse_errors)
