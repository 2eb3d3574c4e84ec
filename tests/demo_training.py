"""Demo data and small checkpoints made through the project's real command lines, shared by the
tests that need *a* trained checkpoint of a kind (tests/conftest.py makes them once per session:
fixtures ``demo_data`` and ``demo_checkpoints``), and the helpers that run a command line in a
process of its own (forked from the tests' fork server, tests/fork_server.py)."""
from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Dict, Iterator, List, Sequence

import pytest
import torch

from fork_server import fast_python

REPO = Path(__file__).resolve().parents[1]
TASKS = ("snli_ve", "caption")
# 32 training rows in batches of 8: four updates per epoch. 13 test rows: not a multiple of
# the batch sizes the tests use, so the last batch is partial.
DEMO_SIZES = dict(seed=4, train=32, valid=9, test=13, image_size=64)
TEST_ROWS = DEMO_SIZES["test"]
UPDATES = 3
FAIRSEQ_LOG_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"  # fairseq_cli.train's log lines


def subprocess_env() -> Dict[str, str]:
    """The environment of a command run by a test: unbuffered output, one torch thread unless set."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def run_module(module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repository root, its output captured; a process of its
    own, forked from the tests' fork server (:func:`fork_server.fast_python`)."""
    return subprocess.run([fast_python(), "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=subprocess_env())


def run_ok(module: str, *args: str) -> str:
    """Run ``python -m module args``, which must succeed; return its output (stdout, then stderr)."""
    done = run_module(module, *args)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def train_argv(data: Path, task: str, save_dir: Path, max_update: int = UPDATES, *extra: str) -> List[str]:
    """fairseq-train's arguments for a small MuE fine-tuning (layer-wise loss, decomposed
    encoder) of ``ofa_demo`` on the demo data in ``data``."""
    return [str(data / task), "--user-dir", "ofa_mue", "--task", task, "--arch", "ofa_demo",
            "--bpe-dir", str(data / "bpe"), "--patch-image-size", "64", "--code-dict-size", "0", "--num-bins", "0",
            "--decompose-modalities", "--criterion", "layerwise_label_smoothed_cross_entropy",
            "--label-smoothing", "0.1", "--optimizer", "adam", "--lr", "1e-3", "--max-update", str(max_update),
            "--batch-size", "8", "--save-dir", str(save_dir), "--no-epoch-checkpoints", "--disable-validation",
            "--num-workers", "0", "--cpu", "--seed", "3", "--log-format", "simple", *extra]


def run_side_by_side(module: str, runs: Dict[str, Sequence[str]], logs: Dict[str, Path], pythons: Dict[str, str],
                     timeout: int = 400) -> Dict[str, str]:
    """Run ``python -m module`` with each of ``runs``' argument lists, all at once (one process
    each, interpreter ``pythons[name]``, output to ``logs[name]``); every run must succeed.
    Returns each run's output. On a 2-core machine two single-threaded runs side by side take
    the wall time of one."""
    processes = {}
    try:
        for name, argv in runs.items():
            with open(logs[name], "w", encoding="utf-8") as log:
                processes[name] = subprocess.Popen([pythons[name], "-m", module, *argv], cwd=REPO,
                                                   stdout=log, stderr=subprocess.STDOUT, env=subprocess_env())
        outputs = {}
        for name, process in processes.items():
            process.wait(timeout=timeout)
            outputs[name] = logs[name].read_text(encoding="utf-8")
            assert process.returncode == 0, f"{name}: {outputs[name][-3000:]}"
        return outputs
    finally:  # a failed or timed-out run leaves no training behind
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def train_in_process(argv: Sequence[str]) -> str:
    """fairseq-train's console entry point (``fairseq_cli.train.cli_main``) with ``argv``, in this
    process, from the repository root and on one torch thread as :func:`run_module` runs it (the
    same checkpoint, bit for bit), without the 8 CPU seconds of a fresh interpreter's imports.
    Returns what it logged, in fairseq's format. For fixtures that need a checkpoint (and its
    log), not the process."""
    from fairseq_cli import train

    output = StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter(FAIRSEQ_LOG_FORMAT))
    root = logging.getLogger()
    level, threads = root.level, torch.get_num_threads()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "argv", ["fairseq-train", *argv])
            patch.chdir(REPO)
            train.cli_main()
    finally:
        torch.set_num_threads(threads)
        root.setLevel(level)
        root.removeHandler(handler)
    return output.getvalue()


@contextmanager
def run_here() -> Iterator[None]:
    """Around a command's entry point called in this process (without the seconds of a fresh
    interpreter's imports): runs it from the repository root, then puts back what it may change
    for the whole process (torch's thread count, the root logger's level and handlers), as if it
    had run in a process of its own. For tests of what a command computes, not of its process."""
    root = logging.getLogger()
    level, handlers, threads = root.level, list(root.handlers), torch.get_num_threads()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(REPO)
            yield
    finally:
        torch.set_num_threads(threads)
        root.setLevel(level)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        for handler in [h for h in handlers if h not in root.handlers]:
            root.addHandler(handler)


@dataclass(frozen=True)
class TrainedCheckpoint:
    """A checkpoint fairseq-train wrote, with that run's output. Shared: read, never write."""

    task: str
    path: Path
    log: str


def make_read_only(folder: Path) -> None:
    """Clear the write bits of every file under ``folder``: a test that writes to shared files fails."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def train_shared_checkpoints(data: Path, save_dirs: Dict[str, Path]) -> Dict[str, TrainedCheckpoint]:
    """Train each task's shared checkpoint with :func:`train_argv` (:func:`train_in_process`);
    the checkpoints are made read only."""
    trained = {}
    for task, save_dir in save_dirs.items():
        log = train_in_process(train_argv(data, task, save_dir))
        make_read_only(save_dir)
        trained[task] = TrainedCheckpoint(task, save_dir / "checkpoint_last.pt", log)
    return trained

