"""The CLI frame: verb list, missing verbs skipped, error convention, no TensorFlow on import."""
import subprocess
import sys
import types

import pytest

from hostutil import ROOT, run_cli
from microformer import cli
from microformer.errors import MicroformerError


def test_verbs_list_names_every_verb_of_the_design():
    for v in ("train", "quantize", "inspect", "eval", "push", "bench", "monitor", "demo",
              "firmware", "board", "sim", "distill", "prune"):
        assert v in cli.VERBS


def test_issue3_verbs_are_registered():
    sub = cli.build_parser()._subparsers._group_actions[0]
    for v in ("train", "quantize", "inspect", "eval"):
        assert v in sub.choices


def test_missing_verb_module_is_skipped(monkeypatch):
    monkeypatch.setattr(cli, "VERBS", cli.VERBS + ("no_such_verb_xyz",))
    sub = cli.build_parser()._subparsers._group_actions[0]
    assert "no_such_verb_xyz" not in sub.choices
    assert "train" in sub.choices


def test_broken_dependency_inside_a_verb_is_not_hidden(monkeypatch):
    real = cli.importlib.import_module

    def fake(name):
        if name.endswith(".train"):
            raise ModuleNotFoundError("No module named 'somedep'", name="somedep")
        return real(name)

    monkeypatch.setattr(cli.importlib, "import_module", fake)
    with pytest.raises(ModuleNotFoundError):
        cli.build_parser()


def test_microformer_error_becomes_message_and_exit_1(monkeypatch, capsys):
    mod = types.ModuleType("fakeverb")

    def add_parser(sub):
        sub.add_parser("fakeverb")

    def run(args):
        raise MicroformerError("the thing is 3, expected 4")

    mod.add_parser, mod.run = add_parser, run
    real = cli._verb_module
    monkeypatch.setattr(cli, "VERBS", ("fakeverb",))
    monkeypatch.setattr(cli, "_verb_module", lambda n: mod if n == "fakeverb" else real(n))
    code, out, err = run_cli(capsys, "fakeverb")
    assert code == 1
    assert err.strip() == "microformer: the thing is 3, expected 4"


def test_no_verb_prints_help_and_returns_2(capsys):
    code, out, err = run_cli(capsys)
    assert code == 2
    assert "train" in err


def test_help_and_version_return_0(capsys):
    assert run_cli(capsys, "--help")[0] == 0
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and "microformer" in out


def test_usage_error_returns_2(capsys):
    code, _, err = run_cli(capsys, "train")
    assert code == 2 and "DATA" in err


def test_import_cli_and_build_parser_do_not_import_tensorflow():
    code = ("import sys; sys.path.insert(0, 'host'); import microformer.cli as c; c.build_parser(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_python_dash_m_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "microformer", "--version"], cwd=ROOT + "/host",
                       capture_output=True, text=True)
    assert r.returncode == 0 and "microformer" in r.stdout
