"""Load-error messages: cmodule/engine/mf_messages.def (the one list, a message's code its
position), the MF_MSG(NAME) call sites, the terse build and its decoder.

A terse build (MF_TERSE_ERRORS=1, the default of `firmware build --ops-from`) prints a code
and the numbers; `microformer explain` must turn that back into exactly the sentence the
full build prints, for the same model, also for a firmware built before the message list
last grew.
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
# The codes as firmware built so far prints them: code -> sentence, null for a code
# retired before this record (the numbered MF_MSG(code, ...) of commit a4d1c5f). A code
# here never moves; a reworded sentence is updated here, with the same conversions.
CODES = {int(k): v for k, v in json.loads((pathlib.Path(__file__).with_name("engine_message_codes.json")).read_text()).items()}
# Format literals that stay sentences in terse builds: they depend on the device (heap,
# buffer alignment) or on the firmware's op set, which the host cannot check beforehand,
# or they are a caller's argument errors at run time (mf_write_window), not model errors,
# or the heap of the device sizing the arena (mf_measure).
KEPT_WHOLE = ("arena too small", "unsupported op", "unsupported custom op", "aligned (load",
              "left out of this build", "window", "to size the model's arena")

_NAMED = re.compile(r"\bMF_MSG\(\s*([A-Za-z_]\w*)\s*\)")


def _entries():
    return engine_messages.read_def((ROOT / engine_messages.DEF).read_text())


def _sources():
    """The engine's sources that raise messages: not mf_internal.h, which defines MF_MSG, nor
    the generated mf_messages.h."""
    return [p for p in sorted(ENGINE.rglob("*.[ch]")) if p.name not in ("mf_internal.h", "mf_messages.h")]


def _call_sites():
    """[(file:line, NAME)] of every MF_MSG(...) in the engine's sources; AssertionError for
    one that does not name a message (a number, a sentence)."""
    sites = []
    for path in _sources():
        source = path.read_text()
        for m in re.finditer(r"\bMF_MSG\(", source):
            where = f"{path.name}:{source.count(chr(10), 0, m.start()) + 1}"
            named = _NAMED.match(source, m.start())
            assert named, f"{where}: MF_MSG takes the name of a message of mf_messages.def"
            sites.append((where, named.group(1)))
    return sites


def test_the_def_parses_and_codes_fit_the_terse_word():
    entries = _entries()
    assert [code for code, _, _ in entries] == list(range(1, len(entries) + 1))
    assert sum(1 for _, name, _ in entries if name) > 150
    with pytest.raises(ValueError, match="retired code 3 is entry 2"):
        engine_messages.read_def('MF_MESSAGE(A, "a")\nMF_MESSAGE_RETIRED(3)\n')
    with pytest.raises(ValueError, match="already a message"):
        engine_messages.read_def('MF_MESSAGE(A, "a")\nMF_MESSAGE(A, "b")\n')
    with pytest.raises(ValueError, match="at most 5 conversions"):
        engine_messages.read_def('MF_MESSAGE(A, "%d %d %d %d %d %d")\n')
    with pytest.raises(ValueError, match="at most 5 conversions"):
        engine_messages.read_def('MF_MESSAGE(A, "%x")\n')
    with pytest.raises(ValueError, match="on one line"):
        engine_messages.read_def('MF_MESSAGE(A,\n    "a")\n')


def test_no_code_moves():
    """Every code firmware may print keeps its sentence, or is retired; a retired code is
    never raised again."""
    entries = {code: sentence for code, _, sentence in _entries()}
    for code, sentence in CODES.items():
        assert code in entries, f"code {code} is gone from mf_messages.def: codes are positions, lines are never removed"
        if sentence is None:
            assert entries[code] is None, f"code {code} was retired: a new message is a new last line"
        elif entries[code] is not None:
            assert entries[code] == sentence, \
                f"code {code} was {sentence!r}, the .def says {entries[code]!r}: a line moved, or a rewording " \
                "(same conversions) must update tests/engine/engine_message_codes.json"


def test_each_message_is_raised_exactly_once_by_name():
    """Every live message of the .def is raised at one call site, by name; a message no
    source raises is retired (MF_MESSAGE_RETIRED), not left behind."""
    entries = _entries()
    by_name = {name: code for code, name, _ in entries if name}
    raised = {}
    for where, key in _call_sites():
        assert key in by_name, f"{where}: MF_MSG({key}) is not a message of mf_messages.def"
        code = by_name[key]
        assert code not in raised, f"{where}: message {code} is already raised at {raised[code]}"
        raised[code] = where
    unraised = sorted(by_name[name] for name in by_name if by_name[name] not in raised)
    assert not unraised, f"messages no source raises: {unraised}: retire them (MF_MESSAGE_RETIRED(code))"


def test_message_names_are_not_engine_macros():
    """MF_MSG_<NAME> must not redefine one of mf_internal.h's MF_MSG_* helpers."""
    helpers = set(re.findall(r"\bMF_MSG_(\w+)", (ENGINE / "mf_internal.h").read_text()))
    clash = sorted(name for _, name, _ in _entries() if name in helpers)
    assert not clash, f"message names that are mf_internal.h's MF_MSG_* helpers: {clash}"


def test_generated_files_are_current():
    for path, text in engine_messages.generated(ROOT).items():
        assert path.read_text() == text, f"{path} is stale: python -m microformer.engine_messages --write"
    assert MESSAGES == {code: sentence for code, name, sentence in _entries() if name}


def test_every_format_is_an_mf_msg():
    """A format is MF_MSG(NAME) or, for the few sentences kept whole, MF_TEXT("...")."""
    raw = re.compile(r'\b(?:mf_fail|set_err)\s*\(\s*[^,()]+,\s*[^,()]+,\s*(")')
    text = re.compile(r'\bMF_TEXT\(\s*("(?:[^"\\]|\\.)*")')
    kept = 0
    for path in ENGINE.rglob("*.c"):
        source = path.read_text()
        for m in raw.finditer(source):
            line = source.count("\n", 0, m.start()) + 1
            raise AssertionError(f"{path.name}:{line}: a new last line of mf_messages.def, raised as MF_MSG(NAME)")
        for m in text.finditer(source):
            assert any(k in m.group(1) for k in KEPT_WHOLE), \
                f"{path.name}: MF_TEXT({m.group(1)}) is not a kept-whole sentence: add it to mf_messages.def, MF_MSG(NAME)"
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
    patterns = {}
    for code, name, sentence in _entries():
        if name:
            patterns.setdefault(engine_messages.conversions_literal(sentence), (code, name, sentence))
    assert len(patterns) > 20
    calls, want = [], []
    for conv, (code, name, sentence) in patterns.items():
        kinds = engine_messages.conversions(sentence)
        args = "".join(", " + _SAMPLE[k][0] for k in kinds)
        calls.append(f"    show(MF_MSG({name}){args});")
        values = [_SAMPLE[k][1] for k in kinds]
        want.append(f"E{code}" + "".join((": " if i == 0 else "; ") + v for i, v in enumerate(values))
                    if terse else engine_messages._format(sentence, values))
    # a message may share its name with a macro (op_batch_matmul.c had BMM_RANK both ways)
    calls.insert(0, f"#define {next(iter(patterns.values()))[1]} 5")
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
