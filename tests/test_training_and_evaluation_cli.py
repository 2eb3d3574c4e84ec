"""The real command lines on generated demo data: fairseq-train with the user dir, resuming,
fairseq-generate, and the evaluation that must score every row of a split."""
from __future__ import annotations

import csv
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
    rows = [json.loads(line) for line in (results / "test_predictions.jsonl").read_text().splitlines()]
    assert sorted(r["row"] for r in rows) == list(range(1, TEST_ROWS + 1))
    assert all(r["prediction"] in {"yes", "no", "maybe"} for r in rows)


def test_caption_trains_generates_and_evaluates_every_row(demo, tmp_path):
    save_dir = tmp_path / "ckpt"
    train(demo, "caption", save_dir, 2)
    checkpoint = str(save_dir / "checkpoint_last.pt")
    # as the README writes it: image size and vocabulary come from the checkpoint (trained at 64 px)
    generated = run("fairseq_cli.generate", str(demo / "caption"), "--user-dir", "ofa_mue", "--task", "caption",
                    "--path", checkpoint, "--gen-subset", "test", "--batch-size", str(BATCH), "--beam", "2",
                    "--max-len-b", "8", "--cpu")
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

    sweep_dir = tmp_path / "sweep"
    run("ofa_mue.sweep", *common, "--gen-subset", "valid", "--thresholds", "0.99,0.9", "--depths", "3",
        "--entropies", "0.5", "--patiences", "1", "--image-exit-threshold", "0.9", "--text-exit-threshold", "0.95",
        "--timing-rows", "4",
        "--sweep-dir", str(sweep_dir))
    lines = (sweep_dir / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("# commit ")
    rows = list(csv.DictReader(lines[1:]))
    assert [row["curve"] for row in rows] == ["full", "mue", "mue", "mue_decoder", "mue_decoder", "entropy",
                                              "patience", "entropy_encoder", "patience_encoder", "mue_given",
                                              *["static"] * 7]  # depths {3, 6} for image, text and decoder
    assert {row["exits"] for row in rows if row["curve"].endswith("_encoder")} == {"image+text+decoder"}
    assert rows[9]["setting"] == "given: image 0.9 / text 0.95 / decoder off" and rows[9]["exits"] == "image+text"
    assert all(row["measured_reduction"] for row in rows if row["curve"] != "static")
    assert not any(row["measured_reduction"] for row in rows if row["curve"] == "static")
    assert (sweep_dir / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "median of 5 paired ratios" in (sweep_dir / "sweep.md").read_text()


@pytest.mark.parametrize("module, flags, message", [
    ("ofa_mue.evaluate", ["--decoder-exit-threshold", "nan"], "error: --decoder-exit-threshold must be"),
    ("ofa_mue.evaluate", ["--exit-policy", "static", "--static-decoder-layers", "7"],
     "error: --static-decoder-layers 7 is deeper than the model's decoder (6 layers)"),
    ("ofa_mue.sweep", ["--depths", "7", "--sweep-dir", "SWEEP"], "error: --depths 7 is deeper than the model's encoder"),
])
def test_out_of_range_option_is_a_one_line_error(demo, decomposed_snli_checkpoint, tmp_path, module, flags, message):
    flags = [str(tmp_path / "out") if flag == "SWEEP" else flag for flag in flags]
    done = subprocess.run(
        [sys.executable, "-m", module, str(demo / "snli_ve"), "--path", decomposed_snli_checkpoint,
         "--task", "snli_ve", "--bpe-dir", str(demo / "bpe"), "--gen-subset", "test", "--cpu", *flags,
         "--results-path", str(tmp_path / "out")],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith(message)
    assert not (tmp_path / "out").exists()
