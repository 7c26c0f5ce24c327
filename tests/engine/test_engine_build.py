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


_FLOATLESS_CHILD = """
import sys, _uformer
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    try:
        m = _uformer.Model(data)
    except NotImplementedError as e:
        print("REFUSED", e)
        continue
    x = m.input(0)
    for i in range(len(x)):
        v = (i * 37) % 256 - 128
        x[i] = v / 64 if x.format == "f" else v
    m.invoke()
    print("OUT", bytes(memoryview(m.output(0)).cast("B")).hex())
"""


def test_float_kernels_can_be_left_out(tmp_path):
    """MF_FLOAT_BINARY/UNARY/MEAN=0 (what --ops-from writes for int8-only graphs): a model
    that runs NEG on float32 is refused naming the reason; an int8 model computes what the
    full build computes."""
    import os
    import subprocess
    import sys

    import extbuild
    import zoo

    lib = extbuild.build(tmp_path / "build", "-DMF_FLOAT_BINARY=0 -DMF_FLOAT_UNARY=0 -DMF_FLOAT_MEAN=0")
    paths = []
    for name in ("tf_l1_h1_d16_s16", "cnn"):
        p = tmp_path / f"{name}.tflite"
        p.write_bytes(zoo.get(name))
        paths.append(str(p))
    child = [sys.executable, "-c", _FLOATLESS_CHILD, *paths]
    # cwd: not the repository root, whose in-place _uformer would shadow the variant build.
    lean = subprocess.run(child, env=dict(os.environ, PYTHONPATH=str(lib)), cwd=tmp_path,
                          capture_output=True, text=True, check=True).stdout.splitlines()
    full = subprocess.run(child, capture_output=True, text=True, check=True).stdout.splitlines()
    assert lean[0].startswith("REFUSED node ") and "float32 kernel left out of this build" in lean[0]
    assert full[0].startswith("OUT ")
    assert lean[1] == full[1] and lean[1].startswith("OUT ")
