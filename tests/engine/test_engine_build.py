"""The engine's one-translation-unit build (cmodule/engine/unity/mf_unity.c) names every
engine source exactly once: a file missing there would silently drop its ops from every
firmware and from the CPython extension (both compile only the unity file)."""
import pathlib
import re

ENGINE = pathlib.Path(__file__).resolve().parents[2] / "cmodule" / "engine"


def test_unity_includes_every_engine_source_once():
    unity = ENGINE / "unity" / "mf_unity.c"
    included = re.findall(r'^#include "\.\./([^"]+\.c)"$', unity.read_text(), re.M)
    sources = sorted(str(p.relative_to(ENGINE)) for p in ENGINE.rglob("*.c") if p.parent.name != "unity")
    assert sorted(included) == sources, "cmodule/engine/unity/mf_unity.c must #include each of: " + ", ".join(sources)
    assert len(included) == len(set(included))


def test_op_name_table_matches_the_schema():
    """mf_opnames.c names BuiltinOperator 0..MF_NAMED_OPS-1 in schema order."""
    from microformer import tflite

    text = (ENGINE / "mf_opnames.c").read_text()
    count = int(re.search(r"#define MF_NAMED_OPS (\d+)", text).group(1))
    table = text.split("mf_builtin_names[] =")[1].split(";")[0]
    names = re.findall(r'"([A-Z0-9_]*)(?:\\0)?"', table)
    schema = tflite._op_names()
    assert len(names) == count
    assert names == [schema[i] for i in range(count)]
