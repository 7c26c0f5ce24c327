"""cmodule/engine/mf_ops.def, the engine's one op list: every code and options tag is the
.tflite schema's, the build runs exactly the listed ops in list order, and each listed
prepare/eval is defined in the op files (adding an op is one line there plus its code)."""
import pathlib
import re

import _uformer
from microformer import tflite
from microformer.firmware import opsconfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENGINE = ROOT / "cmodule" / "engine"


def test_codes_and_options_tags_are_the_schemas():
    ops, options = opsconfig.oplist(ROOT)
    S = tflite.schema()
    for op in ops:
        assert getattr(S.BuiltinOperator, op["name"]) == op["code"], op["name"]
        assert 1 <= op["versions"][0] <= op["versions"][1], op["name"]
        assert op["options"] == "ANY" or op["options"] in options, op["name"]
    for member, tag in options.items():
        assert getattr(S.BuiltinOptions, member) == tag, member
    assert len({op["name"] for op in ops}) == len(ops)


def test_the_full_build_runs_the_list_in_order():
    assert tuple(opsconfig.engine_ops(ROOT)) == tuple(_uformer.OPS)


def test_float_switches_are_the_config_switches():
    cfg = (ENGINE / "mf_config.h").read_text()
    switches = opsconfig.float_switches(ROOT)
    assert set(switches) == set(re.findall(r"^#define (MF_FLOAT_\w+) 1$", cfg, re.M))
    for switch, ops in switches.items():
        # The prepare of each switched op's family reads its switch.
        families = {f for f in (ENGINE / "ops").glob("op_*.c") if any(
            re.search(r"\b%s\b" % o["prepare"], f.read_text()) for o in opsconfig.oplist(ROOT)[0]
            if o["name"] in ops)}
        assert families and all(switch in f.read_text() for f in families), switch


def test_every_prepare_and_eval_is_defined_once():
    sources = "\n".join(p.read_text() for p in (ENGINE / "ops").glob("op_*.c"))
    for op in opsconfig.oplist(ROOT)[0]:
        for fn in (op["prepare"], op["eval"]):
            defs = re.findall(r"^(?:mf_status_t|void) %s\(" % fn, sources, re.M)
            assert len(defs) == 1, (op["name"], fn, len(defs))


def test_nothing_else_repeats_the_list():
    """No op file declares a table entry or an options tag of its own, and the fusion pass
    names ops only through MF_CODE_<NAME>."""
    for p in list((ENGINE / "ops").glob("op_*.c")) + [ENGINE / "mf_fuse.c"]:
        text = p.read_text()
        assert not re.search(r"\bconst mf_op_t\b", text), p.name
        assert not re.search(r"#define \w*TAG\w* \d+", text), p.name
        assert not re.search(r"#define \w*CODE\w* \d+", text), p.name
