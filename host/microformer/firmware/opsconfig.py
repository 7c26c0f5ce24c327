"""--ops-from: the kernels a firmware compiles, chosen from the ops some models use.

The engine's ops are the MF_OP lines of cmodule/engine/mf_ops.def (the one op list); the
engine reads `mf_ops_config.h` when built with -DMF_OPS_CONFIG (cmodule/engine/mf_config.h),
which must set every MF_OP_<NAME> of that list to 0 or 1. This module writes that header.
"""
import functools
import pathlib
import re

from . import FirmwareError, source_root

HEADER = "mf_ops_config.h"
OPLIST = "mf_ops.def"
# MF_OP(NAME, code, vmin, vmax, min_in, max_in, n_out, options, float32, prepare, eval)
_OP_LINE = re.compile(r"^MF_OP\((\w+), (\d+), (\d+), (\d+), (\w+), (\w+), (\d+), (\w+), (\w+), (\w+), (\w+)\)$",
                      re.M)
_OPTIONS_LINE = re.compile(r"^MF_OPTIONS\((\w+), (\d+)\)$", re.M)


def oplist_path(root=None):
    """The engine's op list: in the checkout `root` when given; else the copy a wheel
    install carries next to this module (setup.py's build_py puts it there), or the
    checkout's."""
    if root is None:
        packaged = pathlib.Path(__file__).with_name(OPLIST)
        if packaged.exists():
            return packaged
        root = source_root()
    return pathlib.Path(root) / "cmodule" / "engine" / OPLIST


def oplist(root=None):
    """[{name, code, versions, inputs, outputs, options, float32, prepare, eval}] in table
    order, and {options member: union tag}, from mf_ops.def."""
    path = oplist_path(root)
    try:
        text = path.read_text()
    except OSError as e:
        raise FirmwareError(f"the engine's op list {path}: {e.strerror}") from None
    return _parse_oplist(text, str(path))


@functools.lru_cache(maxsize=4)
def _parse_oplist(text, where):
    ops = []
    for m in _OP_LINE.finditer(text):
        name, code, vmin, vmax, min_in, max_in, n_out, options, f32, prepare, ev = m.groups()
        ops.append({"name": name, "code": int(code), "versions": (int(vmin), int(vmax)),
                    "inputs": (min_in, max_in), "outputs": int(n_out), "options": options,
                    "float32": f32, "prepare": prepare, "eval": ev})
    declared = len(re.findall(r"^MF_OP\(", text, re.M))
    if not ops or declared != len(ops):
        raise FirmwareError(f"{where}: {declared} MF_OP lines, {len(ops)} in the expected form "
                            "MF_OP(NAME, code, vmin, vmax, min_in, max_in, n_out, options, "
                            "float32, prepare, eval)")
    options = {k: int(v) for k, v in _OPTIONS_LINE.findall(text)}
    return ops, options


def engine_ops(root=None):
    """The op names the engine can compile (one MF_OP_<NAME> switch each), in table order."""
    return [op["name"] for op in oplist(root)[0]]


def float_switches(root=None):
    """{MF_FLOAT_<switch>: (ops)}: the ops with float32 kernels besides int8 ones, by the
    engine switch that keeps them (mf_ops.def's float32 column); 0 leaves those kernels
    out. QUANTIZE and DEQUANTIZE convert from and to float32 in every build."""
    out = {}
    for op in oplist(root)[0]:
        if op["float32"] != "NONE":
            out.setdefault("MF_FLOAT_" + op["float32"], []).append(op["name"])
    return {k: tuple(v) for k, v in out.items()}


def __getattr__(name):
    # FLOAT_SWITCHES / FLOAT_SWITCHED read the op list when first used (no file access at
    # import, so importing the package never depends on a checkout).
    if name == "FLOAT_SWITCHES":
        return float_switches()
    if name == "FLOAT_SWITCHED":
        return tuple(op for ops in float_switches().values() for op in ops)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _graph(path):
    """The parsed model, read once per file version: `firmware build` asks for its ops
    (select, to print them), then for its ops and float32 ops again (write)."""
    path = pathlib.Path(path)
    try:
        st = path.stat()
    except OSError as e:
        raise FirmwareError(f"--ops-from {path}: {e.strerror}") from None
    return _parse(str(path), str(path.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _parse(path, resolved, mtime_ns, size):
    from ..errors import MicroformerError
    from ..tflite import Graph

    try:
        buf = pathlib.Path(resolved).read_bytes()
    except OSError as e:
        raise FirmwareError(f"--ops-from {path}: {e.strerror}") from None
    try:
        return Graph(buf)
    except MicroformerError as e:
        raise FirmwareError(f"--ops-from {path}: {e}") from None


def model_ops(path):
    """Names of the builtin ops a .tflite model's graph uses, in first-use order."""
    seen = []
    for op in _graph(path).ops:
        if op["op"] not in seen:
            seen.append(op["op"])
    return seen


def model_float_ops(path, root=None):
    """Names of the float-switched ops (float_switches) that a model runs on float32 tensors."""
    g = _graph(path)
    switched = {op for ops in float_switches(root).values() for op in ops}
    return sorted({op["op"] for op in g.ops if op["op"] in switched
                   and any(g.dtype(t) == "float32" for t in op["outputs"])})


def select(models, root=None):
    """(ops to compile, all engine ops) for the models; FirmwareError names any op the
    engine lacks, so a firmware that could not run the model is never built."""
    available = engine_ops(root)
    wanted = []
    for m in models:
        ops = model_ops(m)
        missing = [o for o in ops if o not in available]
        if missing:
            raise FirmwareError(
                f"{m} uses {', '.join(missing)}, which the engine does not implement "
                f"(it has {len(available)} ops: {', '.join(available)})")
        wanted += [o for o in ops if o not in wanted]
    return wanted, available


def render(wanted, available, models=(), float_ops=(), root=None):
    lines = [
        "/*",
        " * Generated by `microformer firmware build --ops-from`: the engine compiles only the",
        " * kernels these models use (cmodule/engine/mf_config.h reads this file when",
        " * MF_OPS_CONFIG is defined). Models:",
    ]
    lines += [f" *   {pathlib.Path(m).name}" for m in models]
    lines += [
        f" * {len(wanted)} of {len(available)} ops.",
        " *",
        " * MF_OP_NAMES 0 drops the table of builtin op names (about 2.6 KB of flash): an",
        " * error about an op this build does not run then says \"op #47\" instead of its name",
        " * (`microformer explain` names it).",
        " */",
        "#ifndef MF_OPS_CONFIG_H",
        "#define MF_OPS_CONFIG_H",
        "",
    ]
    lines += [f"#define MF_OP_{name} {1 if name in wanted else 0}" for name in available]
    lines += ["", "#define MF_OP_NAMES 0"]
    lines += ["", "/* float32 kernels, kept only for the ops these models run on float32 tensors */"]
    for switch, ops in float_switches(root).items():
        used = [o for o in ops if o in float_ops]
        lines.append(f"#define {switch} {1 if used else 0}"
                     + (f"  /* {', '.join(used)} */" if used else ""))
    lines += ["", "#endif /* MF_OPS_CONFIG_H */", ""]
    return "\n".join(lines)


def write(models, out_dir, root=None):
    """Writes out_dir/mf_ops_config.h for the models; returns (path, ops compiled)."""
    wanted, available = select(models, root)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / HEADER
    float_ops = sorted({o for m in models for o in model_float_ops(m, root)})
    text = render(wanted, available, models, float_ops, root)
    # Unchanged content keeps its timestamp, so make does not recompile the engine.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path, wanted
