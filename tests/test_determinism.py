"""The same checkpoint, data and flags give the same outputs, run to run.

Two separate ``python -m ofa_mue.evaluate`` processes (run side by side) with MuE exits on must write
byte-identical prediction files, the layers every example used included, and the same
metrics (all but the measured seconds). One is a fresh interpreter, the other a fork of the
tests' fork server (tests/fork_server.py): two str hash seeds and two import histories.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from demo_training import TEST_ROWS, run_side_by_side
from fork_server import fast_python

# Thresholds in the range of this barely trained model's layer similarities, so that
# samples and tokens stop at different layers (checked below) and the comparison covers
# exit decisions made close to their thresholds.
EXITS = {
    "snli_ve": ["--image-exit-threshold", "0.9", "--text-exit-threshold", "0.9", "--decoder-exit-threshold", "0.9"],
    "caption": ["--image-exit-threshold", "0.95", "--text-exit-threshold", "0.95", "--decoder-exit-threshold", "0.95",
                "--decoder-exit-beta", "0.95", "--decoder-exit-tau", "1", "--beam", "3", "--max-len-b", "8"],
}


def evaluate_twice(demo: Path, task: str, checkpoint: Path, first: Path, second: Path) -> None:
    """Two ``python -m ofa_mue.evaluate`` processes (side by side) writing to ``first`` (a fresh
    interpreter) and ``second`` (forked from the fork server)."""
    argv = [str(demo / task), "--path", str(checkpoint), "--task", task, "--bpe-dir", str(demo / "bpe"),
            "--gen-subset", "test", "--batch-size", "4", "--cpu", *EXITS[task]]
    run_side_by_side("ofa_mue.evaluate", {str(results): [*argv, "--results-path", str(results)]
                                          for results in (first, second)},
                     {str(results): results.with_suffix(".log") for results in (first, second)},
                     {str(first): sys.executable, str(second): fast_python()})


def metrics_without_timing(path: Path) -> Dict:
    summary = json.loads(path.read_text())
    summary.pop("seconds")
    return summary


@pytest.mark.parametrize("task", ["snli_ve", "caption"])
def test_two_evaluations_give_identical_predictions_and_exit_layers(demo_data, demo_checkpoints, tmp_path, task):
    checkpoint = demo_checkpoints[task].path
    first, second = tmp_path / "first", tmp_path / "second"
    evaluate_twice(demo_data, task, checkpoint, first, second)

    for results in (first, second):  # complete files, written atomically: no temporary left behind
        assert sorted(p.name for p in results.iterdir()) == ["test_metrics.json", "test_predict.json",
                                                             "test_predictions.jsonl"]
    predictions = (first / "test_predictions.jsonl").read_bytes()
    assert predictions == (second / "test_predictions.jsonl").read_bytes()
    assert (first / "test_predict.json").read_bytes() == (second / "test_predict.json").read_bytes()
    assert metrics_without_timing(first / "test_metrics.json") == metrics_without_timing(second / "test_metrics.json")

    records: List[Dict] = [json.loads(line) for line in predictions.decode().splitlines()]
    assert sorted(r["row"] for r in records) == list(range(1, TEST_ROWS + 1))
    layers = [r["layers"] for r in records]
    summary = json.loads((first / "test_metrics.json").read_text())["layers"]
    # the exits did fire, at more than one depth (across samples, or across the tokens of a
    # sample): the comparison covers real exit decisions
    assert summary["expected_time_reduction"] > 0.0
    depths = {(l["image_layers"], l["text_layers"], round(l["decoder_layers"], 6)) for l in layers}
    assert len(depths) > 1 or any(l["decoder_layers"] != int(l["decoder_layers"]) for l in layers), layers
