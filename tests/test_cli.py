"""The ``ofa-mue`` command: one screen listing every command, each the same as ``python -m``."""
from __future__ import annotations

import importlib.util
import json
import os
import runpy
import subprocess
import sys

import pytest

import ofa_mue
from fork_server import fast_python
from ofa_mue import cli
from ofa_mue.user_dir import user_dir


def test_help_lists_every_command_in_one_screen(capsys):
    cli.main(["--help"])
    text = capsys.readouterr().out
    assert len(text.splitlines()) <= 24
    for name, (module, _) in cli.COMMANDS.items():
        assert importlib.util.find_spec(module) is not None, module
        assert f"  {name} " in text and f"[{module}]" in text


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_command_runs_its_module(name, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_python_dash_m_ofa_mue_is_the_same_command(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["ofa_mue", "user-dir"])
    runpy.run_module("ofa_mue", run_name="__main__", alter_sys=False)
    assert capsys.readouterr().out.strip() == os.path.dirname(os.path.abspath(ofa_mue.__file__))


def test_the_user_dir_registers_the_tasks_models_and_criterions_with_fairseq(tmp_path):
    """The folder ``python -m ofa_mue.user_dir`` prints, given to fairseq as --user-dir in a
    process started from another folder that has not imported ofa_mue (fairseq's own
    import_user_module, as fairseq-train runs it), registers the project's tasks, architectures
    and criterions."""
    folder = user_dir()
    done = subprocess.run([fast_python(), "-c", (
        "import argparse, json\n"
        "from fairseq import utils\n"
        "from fairseq.criterions import CRITERION_REGISTRY\n"
        "from fairseq.models import ARCH_MODEL_REGISTRY\n"
        "from fairseq.tasks import TASK_REGISTRY\n"
        f"utils.import_user_module(argparse.Namespace(user_dir={folder!r}))\n"
        "print(json.dumps([sorted(TASK_REGISTRY), sorted(ARCH_MODEL_REGISTRY), sorted(CRITERION_REGISTRY)]))\n")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    tasks, architectures, criterions = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"snli_ve", "caption"} <= set(tasks)
    assert {"ofa_base", "ofa_large", "ofa_tiny", "ofa_demo"} <= set(architectures)
    assert {"adjust_label_smoothed_cross_entropy", "layerwise_label_smoothed_cross_entropy"} <= set(criterions)


def test_unknown_or_missing_command_is_refused(capsys):
    with pytest.raises(SystemExit, match="unknown command 'train'"):
        cli.main(["train"])
    with pytest.raises(SystemExit) as done:
        cli.main([])
    assert done.value.code == 2
    assert "usage: ofa-mue COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["evaluate", "calibrate", "sweep", "reproduce"])
def test_the_help_of_the_evaluation_commands_lists_the_task_options(name, capsys, monkeypatch):
    """fairseq prints its help before it adds the task's options; these commands' --help lists
    them (the exit options, the task settings, and those of the --task given)."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--task", "caption", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--exit-profile", "--image-exit-threshold", "--exit-granularity", "--bpe-dir", "--eval-cider"):
        assert option in text, option
    with pytest.raises(SystemExit):
        cli.main([name, "-h"])  # default task snli_ve
    text = capsys.readouterr().out
    assert "--add-caption" in text and "--exit-profile" in text and "--eval-cider" not in text


def test_short_help_prints_the_usage(capsys):
    cli.main(["-h"])
    assert "usage: ofa-mue COMMAND" in capsys.readouterr().out
