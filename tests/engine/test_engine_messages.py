"""Load-error messages: MF_MSG codes in cmodule/engine, the terse build and its decoder.

A terse build (MF_TERSE_ERRORS=1, the default of `firmware build --ops-from`) prints a code
and the numbers; `microformer explain` must turn that back into exactly the sentence the
full build prints, for the same model.
"""
import ctypes
import json
import os
import pathlib
import random
import re
import subprocess
import sys

import pytest

import _uformer
import extbuild
import fuzz_models
import zoo
from microformer import engine_messages
from microformer._engine_messages import MESSAGES

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENGINE = ROOT / "cmodule" / "engine"
# Format literals that stay sentences in terse builds: they depend on the device (heap,
# buffer alignment) or on the firmware's op set, which the host cannot check beforehand,
# or they are a caller's argument errors at run time (mf_write_window), not model errors,
# or the heap of the device sizing the arena (mf_measure).
KEPT_WHOLE = ("arena too small", "unsupported op", "unsupported custom op", "aligned (load",
              "left out of this build", "window", "to size the model's arena")


def test_codes_are_unique_and_conversions_match_the_sentence():
    found = engine_messages.parse_sources(ENGINE)
    assert len(found) > 150
    for code, (conv, sentence) in found.items():
        want = "".join((": " if i == 0 else "; ") + "%" + c
                       for i, c in enumerate(engine_messages.conversions(sentence)))
        assert conv == want, f"MF_MSG({code}): conversions {conv!r}, the sentence {sentence!r} needs {want!r}"


def test_host_table_is_current():
    found = engine_messages.parse_sources(ENGINE)
    assert {c: s for c, (_, s) in found.items()} == MESSAGES, \
        "host/microformer/_engine_messages.py is stale: python -m microformer.engine_messages --write"


def test_every_format_is_an_mf_msg():
    """A format is MF_MSG(code, ...) or, for the few sentences kept whole, MF_TEXT("...")."""
    raw = re.compile(r'\b(?:mf_fail|set_err)\s*\(\s*[^,()]+,\s*[^,()]+,\s*(")')
    text = re.compile(r'\bMF_TEXT\(\s*("(?:[^"\\]|\\.)*")')
    kept = 0
    for path in ENGINE.rglob("*.c"):
        source = path.read_text()
        for m in raw.finditer(source):
            line = source.count("\n", 0, m.start()) + 1
            raise AssertionError(f"{path.name}:{line}: wrap the format in MF_MSG(<next free code>, ...)")
        for m in text.finditer(source):
            assert any(k in m.group(1) for k in KEPT_WHOLE), \
                f"{path.name}: MF_TEXT({m.group(1)}) is not a kept-whole sentence: use MF_MSG(<next free code>, ...)"
            kept += 1
    assert kept >= len(KEPT_WHOLE)


# One value per conversion type, chosen so that reading it as any other type (width or
# signedness) prints something else, with C's long as wide as this host's.
_LONG_BITS = 8 * ctypes.sizeof(ctypes.c_long)
_SAMPLE = {"d": ("-7", "-7"), "u": ("4000000000u", "4000000000"), "s": ('"abc"', "abc"),
           "ld": ("LONG_MIN", str(-2 ** (_LONG_BITS - 1))), "lu": ("ULONG_MAX", str(2 ** _LONG_BITS - 1))}

_WORDS = r"""
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include "mf_internal.h"

static void show(mf_msg_t msg, ...) {
    char out[160];
    va_list ap;
    va_start(ap, msg);
    mf_vformat(out, sizeof(out), msg, ap);
    va_end(ap);
    puts(out);
}

int main(void) {
%s
    return 0;
}
"""


@pytest.mark.parametrize("terse", [1, 0], ids=["terse", "full"])
def test_every_conversion_pattern_formats_as_explain_expects(terse, tmp_path):
    """Each distinct conversions string of the sources, compiled as the engine compiles it:
    the terse word the compiler folds from the literal prints "E<code>: a; b" with the
    right argument types, the full build prints the sentence, and MF_TEXT prints its
    format in both. The terse object stores no message text at all."""
    cc = extbuild.host_cc()
    if cc is None:
        pytest.skip("no host C compiler (cc, gcc, clang) found")
    found = engine_messages.parse_sources(ENGINE)
    patterns = {}
    for code, (conv, sentence) in sorted(found.items()):
        patterns.setdefault(conv, (code, sentence))
    assert len(patterns) > 20
    calls, want = [], []
    for conv, (code, sentence) in patterns.items():
        kinds = engine_messages.conversions(sentence)
        assert len(kinds) <= 5, f"MF_MSG({code}) has {len(kinds)} conversions, the terse word holds 5"
        args = "".join(", " + _SAMPLE[k][0] for k in kinds)
        c_sentence = sentence.replace("\\", "\\\\").replace('"', '\\"')
        calls.append(f'    show(MF_MSG({code}, "{conv}", "{c_sentence}"){args});')
        values = [_SAMPLE[k][1] for k in kinds]
        want.append(f"E{code}" + "".join((": " if i == 0 else "; ") + v for i, v in enumerate(values))
                    if terse else engine_messages._format(sentence, values))
    calls.append('    show(MF_TEXT("arena too small: need %lu bytes, have %lu (%s, %d%%)"), 9ul, 8ul, "x", -1);')
    want.append("arena too small: need 9 bytes, have 8 (x, -1%)")
    src = tmp_path / "words.c"
    src.write_text(_WORDS % "\n".join(calls))
    exe = tmp_path / "words"
    r = subprocess.run([cc, "-std=gnu99", "-Os", "-Wall", "-Werror", f"-DMF_TERSE_ERRORS={terse}", "-I", str(ENGINE),
                        str(src), str(ENGINE / "unity" / "mf_unity.c"), "-lm", "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == want
    if terse:
        # ("E98" alone can be instruction bytes; a conversion cannot)
        left = [s for s in re.findall(rb"[ -~]{3,}", exe.read_bytes()) if re.search(rb"E\d+: %|^: %", s)]
        assert not left, f"message text left in the terse build: {left[:5]}"


def test_explain_fills_in_the_numbers():
    code = next(c for c, s in MESSAGES.items() if s == "has %d inputs, need %d to %d")
    assert engine_messages.explain(f"node 3 (ADD): E{code}: 1; 2; 3") == "node 3 (ADD): has 1 inputs, need 2 to 3"
    # wrong argument count or unknown code: left as it is
    assert engine_messages.explain(f"E{code}: 1") == f"E{code}: 1"
    assert engine_messages.explain("E99999: 1") == "E99999: 1"
    # a firmware without op names (--ops-from) numbers ops
    assert engine_messages.explain("unsupported op #3 v1 at node 0") == "unsupported op CONV_2D v1 at node 0"


@pytest.fixture(scope="session")
def terse_build(tmp_path_factory):
    return extbuild.build(tmp_path_factory.mktemp("terse"), "-DMF_TERSE_ERRORS=1")


def _outcome(data):
    try:
        _uformer.Model(data, arena_size=256 * 1024)
        return None
    except (ValueError, NotImplementedError, MemoryError) as e:
        return [type(e).__name__, str(e)]


_CHILD = """
import json, pathlib, sys
import _uformer
out = []
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.tflite")):
    try:
        _uformer.Model(p.read_bytes(), arena_size=256 * 1024)
        out.append(None)
    except (ValueError, NotImplementedError, MemoryError) as e:
        out.append([type(e).__name__, str(e)])
print(json.dumps(out))
"""


def test_terse_build_explains_to_the_full_message(terse_build, tmp_path):
    """The same mutated models through the full (this process) and the terse build: each
    terse error, explained, is the full error; and terse errors carry codes."""
    rng = random.Random(7)
    seeds = [zoo.get(n) for n in ("tf_l1_h1_d16_s16", "hybrid", "cnn", "mlp")]
    mutants = [fuzz_models.mutate(rng.choice(seeds), rng) for _ in range(1500)]
    for i, m in enumerate(mutants):
        (tmp_path / f"{i:05d}.tflite").write_bytes(m)
    r = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], env=dict(os.environ, PYTHONPATH=str(terse_build)),
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    terse = json.loads(r.stdout)
    codes = set()
    for data, t in zip(mutants, terse):
        full = _outcome(data)
        assert (full is None) == (t is None), (full, t)
        if full is None:
            continue
        assert t[0] == full[0]
        assert engine_messages.explain(t[1]) == full[1]
        codes.update(re.findall(r"\bE(\d+)\b", t[1]))
    assert len(codes) >= 30, f"mutants reached only codes {sorted(codes)}"


def test_terse_build_explains_the_arena_limit(terse_build, tmp_path):
    """The planner's limit refusal (activations past what the build addresses) in the terse
    build: a code and the numbers, which explain turns into the full build's sentence."""
    import bigmodels

    data = bigmodels.past_4gib(True)
    (tmp_path / "big.tflite").write_bytes(data)
    r = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], env=dict(os.environ, PYTHONPATH=str(terse_build)),
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    [t] = json.loads(r.stdout)
    full = _outcome(data)
    assert full[0] == t[0] == "NotImplementedError"
    assert re.fullmatch(r"E\d+: \d+; tensor; 63", t[1]), t[1]
    assert engine_messages.explain(t[1]) == full[1]
