"""The engine's one-translation-unit build (cmodule/engine/unity/mf_unity.c) names every
engine source exactly once: a file missing there would silently drop its ops from every
firmware and from the CPython extension (both compile only the unity file)."""
import pathlib
import re
import subprocess

import extbuild

ENGINE = pathlib.Path(__file__).resolve().parents[2] / "cmodule" / "engine"


def test_unity_includes_every_engine_source_once():
    unity = ENGINE / "unity" / "mf_unity.c"
    included = re.findall(r'^#include "\.\./([^"]+\.c)"$', unity.read_text(), re.M)
    sources = sorted(str(p.relative_to(ENGINE)) for p in ENGINE.rglob("*.c") if p.parent.name != "unity")
    assert sorted(included) == sources, "cmodule/engine/unity/mf_unity.c must #include each of: " + ", ".join(sources)
    assert len(included) == len(set(included))


def test_op_name_table_matches_the_schema():
    """mf_opnames.c names BuiltinOperator 0..MF_NAMED_OPS-1 in schema order, 6 bits a
    character (engine_opnames packs and decodes; the engine's own decoding is checked by the
    unsupported-op messages below and in test_engine_robustness)."""
    from microformer import engine_opnames, tflite

    text = (ENGINE / "mf_opnames.c").read_text()
    count = int(re.search(r"#define MF_NAMED_OPS (\d+)", text).group(1))
    assert count == engine_opnames.NAMED
    length, data = engine_opnames.table_in(text)
    assert length == len(data)
    schema = tflite._op_names()
    names = [schema[i] for i in range(count)]
    assert engine_opnames.unpack(data, count) == names
    assert data == engine_opnames.pack(names), "stale: python -m microformer.engine_opnames --write"
    assert len(data) < 0.76 * sum(len(n) + 1 for n in names)


def test_op_names_decode_in_the_engine(tmp_path):
    """mf_builtin_name decodes every name of the table, and names past it are NULL."""
    from microformer import engine_opnames, tflite

    src = r"""
#include <stdio.h>
#include "mf_internal.h"
int main(void) {
    char buf[40];
    for (int c = -1; c <= 170; c++) {
        const char *n = mf_builtin_name(c, buf, sizeof buf);
        printf("%d %s\n", c, n ? n : "-");
    }
    char small[4];
    printf("small %s\n", mf_builtin_name(3, small, sizeof small));
    return 0;
}
"""
    exe = extbuild.c_harness(tmp_path, src, "names")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    schema = tflite._op_names()
    want = [f"{c} {schema[c] if 0 <= c < engine_opnames.NAMED else '-'}" for c in range(-1, 171)]
    assert out[:-1] == want
    assert out[-1] == "small CON"  # truncated to the buffer, still terminated


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
