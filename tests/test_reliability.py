"""Corrupt and hostile inputs through the real entry points, interrupted training, atomic outputs.

Every bad input must end ``python -m ofa_mue.evaluate`` with one clear line naming the
file, the row and the field (for checkpoints: the file, and the class where one is
refused), never a traceback, and must leave no output file that claims success. Rows are
never skipped silently. ``fairseq-train`` stopped right after a mid-epoch checkpoint and
started again continues from that checkpoint with the same data order.
"""
from __future__ import annotations

import base64
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from PIL import Image

from ofa_mue import evaluate
from ofa_mue.atomic_files import write_atomically
from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.errors import CheckpointError
from demo_training import subprocess_env, train_in_process
from fork_server import fast_python

REPO = Path(__file__).resolve().parents[1]
TEST_ROWS = 13
TRAIN_UPDATES = 8  # 32 training rows / batch 8 = 4 updates per epoch: two epochs
INTERRUPT_AT = 3  # a mid-epoch checkpoint


# ---- fixtures: demo data and one real training run ------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reliability_demo")
    generate_demo_data(out, seed=11, train=32, valid=9, test=TEST_ROWS, image_size=64)
    return out


def train_command(demo: Path, task: str, save_dir: Path, *extra: str) -> List[str]:
    return [
        sys.executable, "-m", "fairseq_cli.train", str(demo / task), "--user-dir", "ofa_mue", "--task", task,
        "--arch", "ofa_demo", "--bpe-dir", str(demo / "bpe"), "--patch-image-size", "64",
        "--code-dict-size", "0", "--num-bins", "0",
        "--criterion", "adjust_label_smoothed_cross_entropy", "--label-smoothing", "0.1",
        "--optimizer", "adam", "--lr", "5e-4", "--max-update", str(TRAIN_UPDATES), "--batch-size", "8",
        "--save-dir", str(save_dir), "--save-interval-updates", str(INTERRUPT_AT), "--no-epoch-checkpoints",
        "--disable-validation", "--num-workers", "0", "--cpu", "--log-format", "simple", "--log-interval", "1",
        "--seed", "7", *extra,
    ]


def run_to_end(command: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=subprocess_env())


@pytest.fixture(scope="module")
def trained(demo, tmp_path_factory) -> Dict[str, object]:
    """An uninterrupted snli_ve run of :func:`train_command` (fairseq-train's entry point, in this
    process): its checkpoint and its per-update log."""
    save_dir = tmp_path_factory.mktemp("reference_ckpt")
    log = train_in_process(train_command(demo, "snli_ve", save_dir)[3:])  # without "python -m fairseq_cli.train"
    return {"checkpoint": save_dir / "checkpoint_last.pt", "log": log}


def update_records(log: str) -> Dict[int, Dict[str, str]]:
    """``num_updates -> {metric: value}`` of fairseq's per-update ``train_inner`` lines."""
    records = {}
    for line in log.splitlines():
        if "| train_inner |" not in line:
            continue
        fields = dict(part.strip().split("=", 1) for part in line.split("|")[-1].split(",") if "=" in part)
        records[int(fields["num_updates"])] = fields
    return records


# ---- evaluate: bad inputs end in one clear line --------------------------------------------------
def evaluate_in_process(monkeypatch, data_dir: Path, checkpoint: Path, results: Path, demo: Path, *extra: str) -> str:
    """Run ``ofa_mue.evaluate``'s console entry point in this process; return its exit message."""
    argv = ["ofa_mue.evaluate", str(data_dir), "--path", str(checkpoint), "--task", "snli_ve",
            "--bpe-dir", str(demo / "bpe"), "--gen-subset", "test", "--batch-size", "4",
            "--results-path", str(results), "--cpu", *extra]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        evaluate.cli_main()
    message = stop.value.code
    assert isinstance(message, str), f"exit status {message!r} instead of an error message"
    return message


def assert_one_clear_line(message: str, *expected: str) -> None:
    assert message.startswith("error: "), message
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message, message
    for part in expected:
        assert part in message, f"{part!r} not in: {message}"


def assert_no_success_claim(results: Path) -> None:
    left = sorted(p.name for p in results.iterdir()) if results.exists() else []
    assert left == [], f"a failed evaluation left {left} in {results}"


def tsv_rows(path: Path) -> List[List[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def write_rows(path: Path, rows: List[List[str]], trailing_newline: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join("\t".join(row) for row in rows) + ("\n" if trailing_newline else "")
    path.write_text(text, encoding="utf-8")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


SNLI_IMAGE, SNLI_HYPOTHESIS, SNLI_LABEL = 2, 3, 5  # file positions of OFA's SNLI-VE layout


def corrupt_truncated_row(rows):
    """The last row cut in the middle of its image cell, as an interrupted copy leaves it."""
    last = rows[-1]
    return rows[:-1] + [last[:SNLI_IMAGE] + [last[SNLI_IMAGE][: len(last[SNLI_IMAGE]) // 2]]], TEST_ROWS, "hypothesis"


def corrupt_non_image(rows):
    rows[4][SNLI_IMAGE] = b64(b"just some text, not an image at all")
    return rows, 5, "image"


def corrupt_bomb_header(rows):
    rows[6][SNLI_IMAGE] = b64(png_claiming(200_000, 200_000))
    return rows, 7, "image"


def corrupt_empty_text(rows):
    rows[2][SNLI_HYPOTHESIS] = ""
    return rows, 3, "hypothesis"


def corrupt_unknown_label(rows):
    rows[8][SNLI_LABEL] = "entailmen"
    return rows, 9, "label"


def corrupt_bad_base64(rows):
    rows[10][SNLI_IMAGE] = "!!!!not*base64"
    return rows, 11, "image"


@pytest.mark.parametrize("corrupt", [corrupt_truncated_row, corrupt_non_image, corrupt_bomb_header,
                                     corrupt_empty_text, corrupt_unknown_label, corrupt_bad_base64],
                         ids=lambda f: f.__name__.replace("corrupt_", ""))
def test_corrupt_test_split_is_a_clear_error_naming_file_row_field(demo, trained, tmp_path, monkeypatch, corrupt):
    rows, row, field = corrupt(tsv_rows(demo / "snli_ve" / "test.tsv"))
    data_dir = tmp_path / "data"
    write_rows(data_dir / "test.tsv", rows, trailing_newline=corrupt is not corrupt_truncated_row)
    results = tmp_path / "results"
    message = evaluate_in_process(monkeypatch, data_dir, trained["checkpoint"], results, demo)
    assert_one_clear_line(message, str(data_dir / "test.tsv"), f"row {row}", f"field '{field}'")
    assert_no_success_claim(results)


def test_large_image_over_the_pixel_limit_is_refused(demo, trained, tmp_path, monkeypatch):
    """A real image above PIL's pixel limit (lowered here, so a 64 x 64 image is 'huge')."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 3)
    data_dir = tmp_path / "data"
    write_rows(data_dir / "test.tsv", tsv_rows(demo / "snli_ve" / "test.tsv"))
    results = tmp_path / "results"
    message = evaluate_in_process(monkeypatch, data_dir, trained["checkpoint"], results, demo)
    assert_one_clear_line(message, str(data_dir / "test.tsv"), "row 1", "field 'image'", "decompression bomb")
    assert_no_success_claim(results)


CAPTION_TEXT, CAPTION_IMAGE = 2, 4  # file positions of OFA's caption layout


@pytest.mark.parametrize("cell, field, expected", [
    ("a red square&&!!", "caption", "reference 2 of 2 is empty"),
    ("", "caption", "the caption is empty"),
], ids=["empty_reference", "empty_caption"])
def test_caption_split_with_empty_text_is_a_clear_error(demo, tmp_path, cell, field, expected):
    """The caption task's API (as evaluation and training read rows): every row is read, and
    a bad one is an error naming file, row and field, not a skipped row."""
    from ofa_mue.errors import DataError
    from ofa_mue.tasks.caption import CaptionConfig, CaptionTask

    rows = tsv_rows(demo / "caption" / "test.tsv")
    rows[5][CAPTION_TEXT] = cell
    write_rows(tmp_path / "test.tsv", rows)
    task = CaptionTask.setup_task(CaptionConfig(data=str(tmp_path), bpe_dir=str(demo / "bpe"), patch_image_size=64))
    task.load_dataset("test")
    dataset = task.dataset("test")
    assert len(dataset) == TEST_ROWS
    for index in range(5):
        dataset[index]
    with pytest.raises(DataError) as error:
        dataset[5]
    message = str(error.value)
    for part in (str(tmp_path / "test.tsv"), "row 6", f"field '{field}'", expected):
        assert part in message, message


@pytest.mark.parametrize("option", ["--text-exit-threshold", "--image-exit-threshold", "--decoder-exit-threshold"])
def test_nan_threshold_is_a_clear_error_naming_the_option(demo, trained, tmp_path, monkeypatch, option):
    results = tmp_path / "results"
    message = evaluate_in_process(monkeypatch, demo / "snli_ve", trained["checkpoint"], results, demo, option, "nan")
    assert_one_clear_line(message, option, "nan")
    assert_no_success_claim(results)


class RunsCodeWhenUnpickled:
    """A hostile payload: unpickling it would run a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def checkpoint_of_another_architecture(source: Path, target: Path) -> str:
    """The trained checkpoint's configuration with the weights of a wider model."""
    from ofa_mue.models.builders import build_model, numbered_dictionary

    state = torch.load(source, weights_only=False)
    rows = state["model"]["encoder.embed_tokens.weight"].size(0)
    wider = build_model("ofa_demo", numbered_dictionary(rows), encoder_embed_dim=192, encoder_ffn_embed_dim=384,
                        encoder_attention_heads=4, decoder_attention_heads=4)
    state["model"] = wider.state_dict()
    torch.save(state, target)
    return "embedding dimension 192"


def truncated_checkpoint(source: Path, target: Path) -> str:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) * 2 // 3])
    return "truncated or corrupt"


def hostile_checkpoint(source: Path, target: Path) -> str:
    state = torch.load(source, weights_only=False)
    state["extra_state"]["payload"] = RunsCodeWhenUnpickled(target.parent / "pwned")
    torch.save(state, target)
    return "system"  # the refused global: posix.system / os.system


@pytest.mark.parametrize("make", [checkpoint_of_another_architecture, truncated_checkpoint, hostile_checkpoint],
                         ids=["other_architecture", "truncated", "unexpected_global"])
def test_bad_checkpoint_is_a_clear_error_naming_the_file(demo, trained, tmp_path, monkeypatch, make):
    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    checkpoint = tmp_path / "bad_checkpoint.pt"
    expected = make(trained["checkpoint"], checkpoint)
    results = tmp_path / "results"
    message = evaluate_in_process(monkeypatch, demo / "snli_ve", checkpoint, results, demo)
    assert_one_clear_line(message, str(checkpoint), expected)
    assert_no_success_claim(results)
    assert not (tmp_path / "pwned").exists(), "the checkpoint's payload ran"


def test_evaluate_process_prints_one_line_and_no_traceback(demo, trained, tmp_path):
    """The console command itself: exit status 1, the error as its last line, no traceback."""
    rows, row, field = corrupt_non_image(tsv_rows(demo / "snli_ve" / "test.tsv"))
    data_dir = tmp_path / "data"
    write_rows(data_dir / "test.tsv", rows)
    results = tmp_path / "results"
    done = run_to_end([fast_python(), "-m", "ofa_mue.evaluate", str(data_dir), "--path", str(trained["checkpoint"]),
                       "--task", "snli_ve", "--bpe-dir", str(demo / "bpe"), "--gen-subset", "test",
                       "--batch-size", "4", "--results-path", str(results), "--cpu"])
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert_one_clear_line(last, str(data_dir / "test.tsv"), f"row {row}", f"field '{field}'")
    assert_no_success_claim(results)


def test_fairseq_train_stops_at_a_bad_training_row_naming_file_row_field(demo, tmp_path):
    """fairseq-train (fairseq's own command line) ends with the one-line error naming the row,
    and nothing after it, and does not skip the row to finish training."""
    rows = tsv_rows(demo / "caption" / "train.tsv")
    rows[19][4] = b64(b"GIF89a but not really")  # caption layout: uniq-id, image-id, caption, labels, image
    data_dir = tmp_path / "caption"
    write_rows(data_dir / "train.tsv", rows)
    write_rows(data_dir / "valid.tsv", tsv_rows(demo / "caption" / "valid.tsv"))
    command = train_command(demo, "caption", tmp_path / "ckpt")
    command[command.index(str(demo / "caption"))] = str(data_dir)
    command[0] = fast_python()
    done = run_to_end(command)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    for part in (str(data_dir / "train.tsv"), "row 20", "field 'image'"):
        assert part in last, last
    assert "done training" not in done.stdout + done.stderr


# ---- training interrupted and resumed ---------------------------------------------------------
def test_killed_training_resumes_from_its_checkpoint_with_the_same_data_order(demo, trained, tmp_path):
    save_dir = tmp_path / "ckpt"
    command = train_command(demo, "snli_ve", save_dir)
    command[0] = fast_python()  # killing the stand-in kills its forked command (tests/test_fork_server.py)
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=subprocess_env())
    before: List[str] = []
    deadline = time.monotonic() + 300
    try:
        for line in process.stdout:
            before.append(line)
            if "Saved checkpoint" in line:
                process.send_signal(signal.SIGKILL)  # no clean shutdown: as a crash or a preemption
                break
            assert time.monotonic() < deadline, "training did not save a checkpoint in time"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL, "".join(before)[-2000:]
    interrupted = update_records("".join(before))
    assert max(interrupted) == INTERRUPT_AT, sorted(interrupted)

    resumed = run_to_end(command)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-3000:]
    assert re.search(rf"Loaded checkpoint .*checkpoint_last\.pt \(epoch 1 @ {INTERRUPT_AT} updates\)", output), \
        output[-2000:]
    after = update_records(output)
    reference = update_records(trained["log"])
    assert sorted(after) == list(range(INTERRUPT_AT + 1, TRAIN_UPDATES + 1))
    assert sorted(reference) == list(range(1, TRAIN_UPDATES + 1))
    compared = ("loss", "nll_loss", "gnorm", "lr", "wpb", "bsz", "epoch")
    for update in range(1, INTERRUPT_AT + 1):
        assert {k: interrupted[update].get(k) for k in compared} == {k: reference[update].get(k) for k in compared}
    for update in after:  # same batches in the same order, same optimizer state: the same losses
        assert {k: after[update].get(k) for k in compared} == {k: reference[update].get(k) for k in compared}, update


def test_fairseqs_commands_end_on_one_line_for_ofa_mue_errors_unless_tracebacks_are_asked_for(capsys, monkeypatch):
    """Importing ofa_mue installs its excepthook (fairseq-train with --user-dir): an uncaught
    DataError prints the one line ``error: <message>``; OFA_MUE_TRACEBACK=1 asks for the traceback."""
    from ofa_mue import one_line_errors
    from ofa_mue.errors import DataError

    try:
        raise DataError("train.tsv", "not a number", row=3, field="label")
    except DataError as raised:
        error = raised
    monkeypatch.delenv(one_line_errors.TRACEBACK_ENV_VAR, raising=False)
    one_line_errors.excepthook(DataError, error, error.__traceback__)
    assert capsys.readouterr().err == "error: train.tsv, row 3, field 'label': not a number\n"
    for value in ("1", "true", "yes"):
        monkeypatch.setenv(one_line_errors.TRACEBACK_ENV_VAR, value)
        one_line_errors.excepthook(DataError, error, error.__traceback__)
        shown = capsys.readouterr().err
        assert shown.startswith("Traceback (most recent call last):"), (value, shown)
        assert "ofa_mue.errors.DataError: train.tsv, row 3, field 'label': not a number" in shown, value
        assert "\nerror: " not in shown and not shown.startswith("error: ")


# ---- evaluation outputs are written atomically --------------------------------------------------
def test_output_files_are_replaced_atomically(tmp_path, monkeypatch):
    target = tmp_path / "out" / "test_metrics.json"
    write_atomically(str(target), '{"old": true}\n')
    assert target.read_text() == '{"old": true}\n'

    seen = {}
    real_replace = os.replace

    def crash_before_rename(source, destination):
        seen["source"] = Path(source)
        # same extension as the result: writers (numpy, torch, safetensors) pick their format by it
        assert Path(source).suffix == ".json" and Path(source).name != target.name
        # the new text exists only in a temporary file in the same folder (same file system)
        assert Path(source).parent == target.parent and Path(source).read_text() == '{"new": true}\n'
        assert target.read_text() == '{"old": true}\n'
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash_before_rename)
    with pytest.raises(OSError):
        write_atomically(str(target), '{"new": true}\n')
    assert target.read_text() == '{"old": true}\n', "a failed write changed the file"
    assert not seen["source"].exists(), "a failed write left its temporary file behind"

    monkeypatch.setattr(os, "replace", real_replace)
    write_atomically(str(target), '{"new": true}\n')
    assert target.read_text() == '{"new": true}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["test_metrics.json"]
    # a whole evaluation leaving exactly its two files: tests/test_determinism.py


def _raised_in(outer: BaseException, inner: BaseException, explicit: bool) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as caught:
            if explicit:
                raise outer from caught
            raise outer
    except BaseException as raised:
        return raised


_WORKER_TRACEBACK = ("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
                     "  File \"x.py\", line 1, in f\nofa_mue.errors.CheckpointError: first line\n"
                     "During handling of the above exception, another exception occurred:\n"
                     "ofa_mue.errors.DataError: train.tsv: not a number\n")


@pytest.mark.parametrize("make, expected", [
    (lambda: _raised_in(RuntimeError("wrapper"), CheckpointError("bad weights"), explicit=True), "bad weights"),
    (lambda: _raised_in(RuntimeError("wrapper"), CheckpointError("bad weights"), explicit=False), "bad weights"),
    (lambda: RuntimeError(_WORKER_TRACEBACK), "train.tsv: not a number"),
    (lambda: _raised_in(KeyError("k"), ValueError("v"), explicit=False), None),
], ids=["cause", "context", "worker-traceback-text", "no-ofa-mue-error"])
def test_one_line_message_finds_the_ofa_mue_error_behind_another(make, expected):
    """The one line comes from the ofa_mue error that caused (or was being handled at) the uncaught
    one, or from the last ``ofa_mue.errors`` line of a traceback a worker process sent as text."""
    from ofa_mue import one_line_errors

    assert one_line_errors.one_line_message(make()) == expected
