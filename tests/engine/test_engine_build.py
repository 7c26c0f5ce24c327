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
