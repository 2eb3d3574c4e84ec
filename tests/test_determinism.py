"""The same checkpoint, data and flags give the same outputs, run to run.

Two separate ``python -m ofa_mue.evaluate`` processes with MuE exits on must write
byte-identical prediction files, the layers every example used included, and the same
metrics (all but the measured seconds).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from ofa_mue.demo.generate import generate_demo_data

REPO = Path(__file__).resolve().parents[1]
TEST_ROWS = 13
# Thresholds in the range of this barely trained model's layer similarities, so that
# samples and tokens stop at different layers (checked below) and the comparison covers
# exit decisions made close to their thresholds.
EXITS = {
    "snli_ve": ["--image-exit-threshold", "0.97", "--text-exit-threshold", "0.97", "--decoder-exit-threshold", "0.97"],
    "caption": ["--image-exit-threshold", "0.95", "--text-exit-threshold", "0.95", "--decoder-exit-threshold", "0.95",
                "--decoder-exit-beta", "0.95", "--decoder-exit-tau", "1", "--beam", "3", "--max-len-b", "8"],
}


def run(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("determinism_demo")
    generate_demo_data(out, seed=4, train=32, valid=9, test=TEST_ROWS, image_size=64)
    return out


def train(demo: Path, task: str, save_dir: Path) -> Path:
    run("fairseq_cli.train", str(demo / task), "--user-dir", "ofa_mue", "--task", task, "--arch", "ofa_demo",
        "--bpe-dir", str(demo / "bpe"), "--patch-image-size", "64", "--code-dict-size", "0", "--num-bins", "0",
        "--decompose-modalities", "--criterion", "layerwise_label_smoothed_cross_entropy", "--label-smoothing", "0.1",
        "--optimizer", "adam", "--lr", "1e-3", "--max-update", "3", "--batch-size", "8", "--save-dir", str(save_dir),
        "--no-epoch-checkpoints", "--disable-validation", "--num-workers", "0", "--cpu", "--seed", "3",
        "--log-format", "simple")
    return save_dir / "checkpoint_last.pt"


def evaluate(demo: Path, task: str, checkpoint: Path, results: Path) -> None:
    run("ofa_mue.evaluate", str(demo / task), "--path", str(checkpoint), "--task", task, "--bpe-dir",
        str(demo / "bpe"), "--gen-subset", "test", "--batch-size", "4", "--results-path", str(results), "--cpu",
        *EXITS[task])


def metrics_without_timing(path: Path) -> Dict:
    summary = json.loads(path.read_text())
    summary.pop("seconds")
    return summary


@pytest.mark.parametrize("task", ["snli_ve", "caption"])
def test_two_evaluations_give_identical_predictions_and_exit_layers(demo, tmp_path, task):
    checkpoint = train(demo, task, tmp_path / "ckpt")
    first, second = tmp_path / "first", tmp_path / "second"
    evaluate(demo, task, checkpoint, first)
    evaluate(demo, task, checkpoint, second)

    for results in (first, second):  # complete files, written atomically: no temporary left behind
        assert sorted(p.name for p in results.iterdir()) == ["test_metrics.json", "test_predictions.jsonl"]
    predictions = (first / "test_predictions.jsonl").read_bytes()
    assert predictions == (second / "test_predictions.jsonl").read_bytes()
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
