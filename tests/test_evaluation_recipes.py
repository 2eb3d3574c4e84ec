"""The evaluation recipes (run_scripts/{snli_ve,caption}/evaluate_mue.sh) evaluate a checkpoint
as it was fine-tuned: a modality-decomposed one as it is, a joint one (as OFA's own are) only
decomposed on request (DECOMPOSE=1), never silently as another model."""
from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from pathlib import Path
from typing import List

import pytest
import torch

from fork_server import fast_python
from ofa_mue.demo.pretrain import fairseq_checkpoint
from tiny_ofa import tiny_dictionary, tiny_model

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ["run_scripts/snli_ve/evaluate_mue.sh", "run_scripts/caption/evaluate_mue.sh"]
OVERRIDE = ["--model-overrides", "{'decompose_modalities': True}"]

# Stands in for PY: runs Python for the recipe's own checks (``PY - ARGS`` with a script on
# stdin) and records every ``PY -m MODULE ARGS`` run instead of running it, making its
# --results-path as the recipe's later steps expect.
RECORDER = """#!/usr/bin/env bash
if [[ "$1" == - ]]; then exec {python} "$@"; fi
printf '%s\\n' "$(printf '%q ' "$@")" >> "$RUNS_FILE"
while [[ $# -gt 0 ]]; do [[ "$1" == --results-path ]] && mkdir -p "$2"; shift; done
"""


def checkpoint(tmp_path: Path, decomposed: bool) -> Path:
    path = tmp_path / ("decomposed.pt" if decomposed else "joint.pt")
    torch.save(fairseq_checkpoint(tiny_model(tiny_dictionary(), decompose_modalities=decomposed)), path)
    return path


def recipe_environment(**settings: str) -> dict:
    """This process's environment without DECOMPOSE, with ``settings``."""
    return {**{key: value for key, value in os.environ.items() if key != "DECOMPOSE"}, **settings}


def run_recipe(tmp_path: Path, script: str, checkpoint_path: Path, **env: str) -> tuple[subprocess.CompletedProcess,
                                                                                           List[List[str]]]:
    """Run ``script`` on ``checkpoint_path`` with the recorder as PY; returns the process and the
    argument lists of the Python modules it ran."""
    recorder, runs = tmp_path / "python", tmp_path / "runs.txt"
    recorder.write_text(RECORDER.format(python=shlex.quote(fast_python())))
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    runs.write_text("")
    environment = recipe_environment(PY=str(recorder), RUNS_FILE=str(runs), CHECKPOINT=str(checkpoint_path),
                                     DATA_DIR=str(tmp_path / "data"), RESULTS_DIR=str(tmp_path / "results"), **env)
    done = subprocess.run(["bash", str(REPO / script)], env=environment, capture_output=True, text=True, timeout=120)
    return done, [shlex.split(line) for line in runs.read_text().splitlines()]


def has_override(argv: List[str]) -> bool:
    return any(argv[i:i + 2] == OVERRIDE for i in range(len(argv)))


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_decomposed_checkpoint_is_evaluated_as_it_is(tmp_path, script):
    done, runs = run_recipe(tmp_path, script, checkpoint(tmp_path, decomposed=True))
    assert done.returncode == 0, done.stderr
    modules = [argv[1] for argv in runs]
    assert modules == ["ofa_mue.calibrate", "ofa_mue.evaluate", "ofa_mue.evaluate", "ofa_mue.sweep", "ofa_mue.report"]
    assert not any("--model-overrides" in argv for argv in runs)


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_joint_checkpoint_is_refused_unless_decomposition_is_asked_for(tmp_path, script):
    joint = checkpoint(tmp_path, decomposed=False)
    done, runs = run_recipe(tmp_path, script, joint)
    assert done.returncode == 1 and runs == []
    assert str(joint) in done.stderr and "joint encoder" in done.stderr and "DECOMPOSE=1" in done.stderr

    done, runs = run_recipe(tmp_path, script, joint, DECOMPOSE="1")
    assert done.returncode == 0, done.stderr
    evaluations = [argv for argv in runs if argv[1] != "ofa_mue.report"]
    assert len(evaluations) == 4 and all(has_override(argv) for argv in evaluations)  # the full model's run too


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bad_decompose_value_or_an_unreadable_checkpoint_is_refused(tmp_path, script):
    done, runs = run_recipe(tmp_path, script, checkpoint(tmp_path, decomposed=False), DECOMPOSE="yes")
    assert done.returncode == 1 and runs == [] and "DECOMPOSE must be 0 or 1" in done.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    done, runs = run_recipe(tmp_path, script, junk)
    assert done.returncode == 1 and runs == []
    assert any(line.startswith(f"error: {junk}") for line in done.stderr.splitlines()), done.stderr
    assert "Traceback" not in done.stderr


def test_the_recipe_runs_end_to_end_on_a_mue_checkpoint(demo_data, demo_checkpoints, tmp_path):
    """The SNLI-VE recipe's own commands, run for real on the tiny demo split: every step accepts
    the arguments the script passes, every test row is scored by the full model and by MuE, and
    CALIBRATE_ARGS / SWEEP_ARGS reach their commands (here a small grid: the defaults' 216
    calibration settings and 250 timed sweep points took three minutes). (The caption recipe runs
    the same steps with caption flags; its beam searches are left to the recorder tests above.)"""
    task = "snli_ve"
    results = tmp_path / "results"
    environment = recipe_environment(PY=fast_python(), CHECKPOINT=str(demo_checkpoints[task].path),
                                     DATA_DIR=str(demo_data / task), BPE_DIR=str(demo_data / "bpe"),
                                     RESULTS_DIR=str(results), BATCH_SIZE="8", CALIBRATE_ARGS="--candidates 0.9",
                                     SWEEP_ARGS="--depths 1 --thresholds 0.9  --entropies 0.5 --patiences 1")
    done = subprocess.run(["bash", str(REPO / f"run_scripts/{task}/evaluate_mue.sh")], env=environment,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = len((demo_data / task / "test.tsv").read_text().splitlines())
    for run in ("full", "mue"):
        metrics = json.loads((results / run / "test_metrics.json").read_text())
        assert metrics["examples"] == rows and metrics["checkpoint"] == str(demo_checkpoints[task].path)
    profile = json.loads((results / "profile.json").read_text())
    assert profile["method"] == "retention" and profile["settings_evaluated"] == 2 ** 3  # 0.9 or off, per knob
    sweep = json.loads((results / "sweep" / "sweep.json").read_text())["rows"]
    assert [row["setting"] for row in sweep if row["policy"] != "static"] == [
        "-", "threshold 0.9", "decoder threshold 0.9", "entropy 0.5", "patience 1"]
    assert len([row for row in sweep if row["policy"] == "static"]) == 2 ** 3 - 1  # depths 1 and 6, but all-6
    assert (results / "report" / "table.md").is_file()


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_recipes_pass_calibrate_and_sweep_options_on_and_their_commands_refuse_unknown_ones(tmp_path, script):
    decomposed = checkpoint(tmp_path, decomposed=True)
    done, runs = run_recipe(tmp_path, script, decomposed,
                            CALIBRATE_ARGS="--candidates 0.9,0.8", SWEEP_ARGS=" --depths 1,2  --timing-repetitions 0 ")
    assert done.returncode == 0, done.stderr
    calibrate, sweep = (next(argv for argv in runs if argv[1] == module)
                        for module in ("ofa_mue.calibrate", "ofa_mue.sweep"))
    assert calibrate[-2:] == ["--candidates", "0.9,0.8"] and "--depths" not in calibrate
    assert sweep[-4:] == ["--depths", "1,2", "--timing-repetitions", "0"] and "--candidates" not in sweep
    assert not any("--candidates" in argv or "--depths" in argv
                   for argv in runs if argv[1] in ("ofa_mue.evaluate", "ofa_mue.report"))

    environment = recipe_environment(PY=fast_python(), CHECKPOINT=str(decomposed),
                                     DATA_DIR=str(tmp_path / "data"), RESULTS_DIR=str(tmp_path / "real"),
                                     CALIBRATE_ARGS="--candidate 0.9")
    done = subprocess.run(["bash", str(REPO / script)], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "unrecognized arguments: --candidate 0.9" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "real").exists()
