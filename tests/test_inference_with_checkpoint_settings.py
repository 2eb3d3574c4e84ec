"""A checkpoint fine-tuned at a non-default image size (128 px, with OFA's --add-caption) through
the real command lines: every inference entry point takes the checkpoint's task settings unless
they are set, honours a setting that is set (even to OFA's default), and ends on the model's
errors with one line; ``fairseq-generate --task snli_ve`` answers yes / no / maybe with the
evaluation's accuracy; fairseq-train's data errors end in one line; SNLI-VE's exits with a
decaying threshold do not depend on the batch (issue 13, points 3, 4, 7 and 8)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.evaluate import build_parser, load_evaluation
from demo_training import run_module as run, train_in_process

TEST_ROWS = 13
IMAGE_SIZE = 128  # 8 x 8 patches; OFA's default 480 gives 30 x 30, more than ofa_demo's 16 x 16 positions
TOO_LARGE = "error: 480x480-pixel images give a 30x30 patch grid"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("settings_demo")
    generate_demo_data(out, seed=5, train=16, valid=4, test=TEST_ROWS, image_size=64)
    return out


def train_args(data: Path, bpe: Path, save_dir: Path, *extra: str) -> List[str]:
    return [str(data), "--user-dir", "ofa_mue", "--task", "snli_ve", "--arch", "ofa_demo",
            "--bpe-dir", str(bpe), "--criterion", "adjust_label_smoothed_cross_entropy",
            "--optimizer", "adam", "--lr", "5e-4", "--batch-size", "8", "--save-dir", str(save_dir),
            "--disable-validation", "--cpu", "--log-format", "simple", "--seed", "7", *extra]


@pytest.fixture(scope="module")
def checkpoint(demo, tmp_path_factory) -> str:
    save_dir = tmp_path_factory.mktemp("snli_128px")
    train_in_process(train_args(demo / "snli_ve", demo / "bpe", save_dir, "--patch-image-size", str(IMAGE_SIZE),
                                "--add-caption", "--decompose-modalities", "--max-update", "2", "--num-workers", "0"))
    return str(save_dir / "checkpoint_last.pt")


def evaluation(demo: Path, checkpoint: str, *extra: str) -> Dict:
    """``python -m ofa_mue.evaluate``'s loading and scoring, in this process."""
    setup, _ = load_evaluation(build_parser(), [str(demo / "snli_ve"), "--path", checkpoint, "--task", "snli_ve",
                                                "--gen-subset", "test", "--cpu", *extra])
    return {"setup": setup, "result": setup.evaluate()}


def last_line(done: subprocess.CompletedProcess) -> str:
    return done.stderr.strip().splitlines()[-1]


def test_fairseq_generate_and_evaluate_take_the_checkpoints_settings(demo, checkpoint):
    """No --patch-image-size, --add-caption or --bpe-dir: all come from the checkpoint."""
    done = run("fairseq_cli.generate", str(demo / "snli_ve"), "--user-dir", "ofa_mue", "--task", "snli_ve",
               "--path", checkpoint, "--gen-subset", "test", "--batch-size", "4", "--cpu")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    answers = {int(i): answer for i, answer in re.findall(r"^D-(\d+)\t\S+\t\s*(\S+)$", output, flags=re.MULTILINE)}
    assert sorted(answers) == list(range(TEST_ROWS))
    assert set(answers.values()) <= {"yes", "no", "maybe"}, answers
    sources = re.findall(r"^S-\d+\t(.*)$", output, flags=re.MULTILINE)
    assert len(sources) == TEST_ROWS and all(s.startswith(" can image and text1 ") for s in sources)  # the premise
    accuracy = re.search(r"snli_ve test: accuracy ([0-9.]+) \((\d+) of (\d+) rows correct", output)
    assert accuracy and int(accuracy.group(3)) == TEST_ROWS, output[-2000:]

    evaluated = evaluation(demo, checkpoint, "--batch-size", "5")
    task = evaluated["setup"].task
    assert (task.cfg.patch_image_size, task.cfg.add_caption) == (IMAGE_SIZE, True)
    predictions = {r["row"] - 1: r["prediction"] for r in evaluated["result"]["records"]}
    assert predictions == answers
    assert float(accuracy.group(1)) == pytest.approx(evaluated["result"]["metrics"]["accuracy"], abs=1e-4)


def test_a_setting_given_is_honoured_even_at_ofas_default(demo, checkpoint, monkeypatch):
    """--patch-image-size 480 is OFA's default, and what the user asked for: the model cannot take
    it, which every entry point says in one line with the size that fits."""
    done = run("fairseq_cli.generate", str(demo / "snli_ve"), "--user-dir", "ofa_mue", "--task", "snli_ve",
               "--path", checkpoint, "--gen-subset", "test", "--batch-size", "4", "--cpu", "--patch-image-size", "480")
    assert done.returncode != 0
    assert last_line(done).startswith(TOO_LARGE) and "--patch-image-size 256 or less" in last_line(done), \
        done.stderr[-2000:]
    assert "Traceback" not in done.stderr

    from ofa_mue import evaluate

    monkeypatch.setattr(sys, "argv", ["ofa_mue.evaluate", str(demo / "snli_ve"), "--path", checkpoint, "--task",
                                      "snli_ve", "--gen-subset", "test", "--cpu", "--patch-image-size", "480"])
    with pytest.raises(SystemExit) as stop:
        evaluate.cli_main()
    assert str(stop.value.code).startswith(TOO_LARGE), stop.value.code


def test_generation_options_snli_ve_cannot_honour_are_refused(demo, checkpoint, monkeypatch):
    """SNLI-VE scores its three answers: --nbest 3 would print one answer, --lenpen and --sampling
    would change nothing; fairseq-generate and the evaluation refuse them in one line (OFA's
    --beam, which changes nothing either, passes: OFA's scripts give it)."""
    done = run("fairseq_cli.generate", str(demo / "snli_ve"), "--user-dir", "ofa_mue", "--task", "snli_ve",
               "--path", checkpoint, "--gen-subset", "test", "--batch-size", "4", "--cpu", "--nbest", "3",
               "--lenpen", "2")
    assert done.returncode != 0
    assert last_line(done).startswith("error: --nbest, --lenpen cannot apply to snli_ve"), done.stderr[-2000:]
    assert "Traceback" not in done.stderr

    from ofa_mue import evaluate

    monkeypatch.setattr(sys, "argv", ["ofa_mue.evaluate", str(demo / "snli_ve"), "--path", checkpoint, "--task",
                                      "snli_ve", "--gen-subset", "test", "--cpu", "--sampling", "--beam", "5"])
    with pytest.raises(SystemExit) as stop:
        evaluate.cli_main()
    assert str(stop.value.code).startswith("error: --sampling cannot apply to snli_ve"), stop.value.code


def test_fairseq_train_data_error_is_one_last_line(demo, tmp_path):
    """A corrupt image cell, read in a data-loader worker: the user sees file, row and field last."""
    data = tmp_path / "snli_ve"
    data.mkdir()
    rows = (demo / "snli_ve" / "train.tsv").read_text().splitlines()
    fields = rows[2].split("\t")
    fields[2] = "not base64 at all!"
    rows[2] = "\t".join(fields)
    (data / "train.tsv").write_text("\n".join(rows) + "\n")
    done = run("fairseq_cli.train", *train_args(data, demo / "bpe", tmp_path / "ckpt", "--patch-image-size",
                                                "64", "--max-update", "4", "--num-workers", "1"))
    assert done.returncode != 0
    assert last_line(done).startswith(f"error: {data / 'train.tsv'}, row 3, field 'image': "), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_snli_ve_exits_do_not_depend_on_the_batch(demo, checkpoint):
    """A decaying decoder threshold (beta < 1): rows scored alone and in one batch of 13 use the
    same layers and give the same answers; the scored-positions figure is reported beside."""
    options = ["--decoder-exit-threshold", "0.97", "--decoder-exit-beta", "0.5", "--decoder-exit-tau", "3"]
    alone = evaluation(demo, checkpoint, "--batch-size", "1", *options)["result"]
    together = evaluation(demo, checkpoint, "--batch-size", str(TEST_ROWS), *options)["result"]
    depth = alone["layers"]["decoder_depth"]
    assert 1.0 < alone["layers"]["decoder_layers"] < depth  # tokens do exit, at several layers
    for one, other in zip(alone["records"], together["records"]):
        assert one["row"] == other["row"]
        assert one["layers"] == other["layers"], one["row"]
        assert one["prediction"] == other["prediction"], one["row"]
    assert alone["layers"] == together["layers"]
    scored = alone["layers"]["expected_time_reduction_scored_positions"]
    assert 0.0 < scored < 1.0 and scored != alone["layers"]["expected_time_reduction"]
    json.dumps(alone["layers"])  # the metrics file can hold both figures
