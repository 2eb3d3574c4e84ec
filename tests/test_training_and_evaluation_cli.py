"""The real command lines on generated demo data: fairseq-train with the user dir, resuming,
fairseq-generate, and the evaluation that must score every row of a split."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ofa_mue.demo.generate import generate_demo_data

REPO = Path(__file__).resolve().parents[1]
TEST_ROWS = 13  # not a multiple of the batch size below: the last batch is partial
BATCH = 4


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo_data(out, seed=3, train=32, valid=9, test=TEST_ROWS, image_size=64)
    return out


def run(module: str, *args: str) -> str:
    """Run a fairseq / ofa_mue command line from the repository root; return its output."""
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def train(data: Path, task: str, save_dir: Path, max_update: int, *extra: str) -> str:
    return run(
        "fairseq_cli.train", str(data / task), "--user-dir", "ofa_mue", "--task", task, "--arch", "ofa_demo",
        "--bpe-dir", str(data / "bpe"), "--patch-image-size", "64",
        "--criterion", "adjust_label_smoothed_cross_entropy", "--label-smoothing", "0.1",
        "--optimizer", "adam", "--lr", "5e-4", "--max-update", str(max_update), "--batch-size", "8",
        "--save-dir", str(save_dir), "--num-workers", "0", "--cpu", "--log-format", "simple",
        "--log-interval", "1", "--seed", "7", *extra,
    )


def test_snli_ve_trains_resumes_and_evaluates_every_row(demo, tmp_path):
    save_dir = tmp_path / "ckpt"
    first = train(demo, "snli_ve", save_dir, 3)
    assert (save_dir / "checkpoint_last.pt").is_file()
    assert "num_updates 3" in first or "num_updates=3" in first
    resumed = train(demo, "snli_ve", save_dir, 6)
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 3 updates\)", resumed), resumed[-2000:]
    assert "num_updates 6" in resumed or "num_updates=6" in resumed

    results = tmp_path / "results"
    run("ofa_mue.evaluate", str(demo / "snli_ve"), "--path", str(save_dir / "checkpoint_last.pt"),
        "--task", "snli_ve", "--bpe-dir", str(demo / "bpe"), "--gen-subset", "test",
        "--batch-size", str(BATCH), "--results-path", str(results), "--cpu")
    summary = json.loads((results / "test_metrics.json").read_text())
    assert summary["examples"] == TEST_ROWS
    assert 0.0 <= summary["metrics"]["accuracy"] <= 1.0
    assert summary["flops"]["flops_reduction"] == 0.0, "exits off: every layer, no exit test"
    assert summary["flops"]["gflops_per_example"] == summary["flops"]["full_depth_gflops_per_example"] > 0
    rows = [json.loads(line) for line in (results / "test_predictions.jsonl").read_text().splitlines()]
    assert sorted(r["row"] for r in rows) == list(range(1, TEST_ROWS + 1))
    assert all(r["prediction"] in {"yes", "no", "maybe"} for r in rows)


def test_caption_trains_generates_and_evaluates_every_row(demo, tmp_path):
    save_dir = tmp_path / "ckpt"
    train(demo, "caption", save_dir, 2)
    checkpoint = str(save_dir / "checkpoint_last.pt")
    generated = run("fairseq_cli.generate", str(demo / "caption"), "--user-dir", "ofa_mue", "--task", "caption",
                    "--bpe-dir", str(demo / "bpe"), "--patch-image-size", "64", "--path", checkpoint,
                    "--gen-subset", "test", "--batch-size", str(BATCH), "--beam", "2", "--max-len-b", "8", "--cpu")
    hypotheses = re.findall(r"^D-(\d+)\t", generated, flags=re.MULTILINE)
    assert sorted(int(i) for i in hypotheses) == list(range(TEST_ROWS))

    results = tmp_path / "results"
    run("ofa_mue.evaluate", str(demo / "caption"), "--path", checkpoint, "--task", "caption",
        "--bpe-dir", str(demo / "bpe"), "--gen-subset", "test", "--batch-size", str(BATCH), "--beam", "2",
        "--results-path", str(results), "--cpu")
    summary = json.loads((results / "test_metrics.json").read_text())
    assert summary["examples"] == TEST_ROWS
    assert {"bleu1", "bleu4", "meteor", "rouge_l", "cider"} <= set(summary["metrics"])


@pytest.fixture(scope="module")
def decomposed_snli_checkpoint(demo, tmp_path_factory) -> str:
    save_dir = tmp_path_factory.mktemp("decomposed")
    train(demo, "snli_ve", save_dir, 4, "--decompose-modalities")
    return str(save_dir / "checkpoint_last.pt")


def test_calibrate_profile_and_sweep(demo, decomposed_snli_checkpoint, tmp_path):
    checkpoint = decomposed_snli_checkpoint
    common = [str(demo / "snli_ve"), "--path", checkpoint, "--task", "snli_ve", "--bpe-dir", str(demo / "bpe"),
              "--batch-size", str(BATCH), "--cpu"]
    profile_path = tmp_path / "profile.json"
    run("ofa_mue.calibrate", *common, "--gen-subset", "valid", "--retention", "0.9",
        "--profile-path", str(profile_path))
    profile = json.loads(profile_path.read_text())
    assert profile["metric"] >= 0.9 * profile["full_metric"]
    assert set(profile["options"]) == {"image_exit_threshold", "text_exit_threshold", "decoder_exit_threshold",
                                       "decoder_exit_beta", "decoder_exit_tau"}

    results = tmp_path / "results"
    run("ofa_mue.evaluate", *common, "--gen-subset", "test", "--exit-profile", str(profile_path),
        "--results-path", str(results))
    summary = json.loads((results / "test_metrics.json").read_text())
    assert summary["examples"] == TEST_ROWS
    assert summary["exit_policy"]["image"] == profile["options"]["image_exit_threshold"]
    assert 0.0 <= summary["layers"]["expected_time_reduction"] <= 1.0
    flops = summary["flops"]
    assert 0.0 <= flops["flops_reduction"] < 1.0
    assert flops["gflops_per_example"] == pytest.approx(sum(flops["parts_gflops"].values()))

    run("ofa_mue.evaluate", *common, "--gen-subset", "test", "--exit-profile", str(profile_path),
        "--exit-granularity", "step", "--exit-step-quantile", "0.5", "--results-path", str(tmp_path / "step"))
    step = json.loads((tmp_path / "step" / "test_metrics.json").read_text())
    assert step["exit_policy"]["granularity"] == {"mode": "step", "quantile": 0.5, "launch_flops": None}

    sweep_dir = tmp_path / "sweep"
    run("ofa_mue.sweep", *common, "--gen-subset", "valid", "--thresholds", "0.99,0.9", "--depths", "2,4",
        "--entropies", "0.5", "--patiences", "1", "--sweep-dir", str(sweep_dir))
    lines = (sweep_dir / "sweep.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["full", "mue", "mue", "entropy", "patience", "static",
                                                          "static"]
    assert (sweep_dir / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "expected time reduction" in (sweep_dir / "sweep.md").read_text()


def failed_evaluation(demo: Path, checkpoint: str, out: Path, *options: str) -> subprocess.CompletedProcess:
    """An evaluation of the SNLI-VE test split with ``options`` that must fail, writing nothing to ``out``."""
    done = subprocess.run(
        [sys.executable, "-m", "ofa_mue.evaluate", str(demo / "snli_ve"), "--path", checkpoint, "--task", "snli_ve",
         "--bpe-dir", str(demo / "bpe"), "--gen-subset", "test", "--cpu", *options, "--results-path", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert not out.exists()
    return done


def test_out_of_range_threshold_is_a_one_line_error(demo, decomposed_snli_checkpoint, tmp_path):
    done = failed_evaluation(demo, decomposed_snli_checkpoint, tmp_path / "out", "--decoder-exit-threshold", "nan")
    assert done.stderr.strip().splitlines()[-1].startswith("error: --decoder-exit-threshold must be")


def test_granularity_option_it_cannot_honour_is_a_one_line_error(demo, decomposed_snli_checkpoint, tmp_path):
    done = failed_evaluation(demo, decomposed_snli_checkpoint, tmp_path / "out", "--exit-step-quantile", "0.5")
    assert done.stderr.strip().splitlines()[-1] == ("error: --exit-step-quantile applies to --exit-granularity "
                                                     "step, not 'token'")
