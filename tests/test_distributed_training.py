"""Data-parallel fine-tuning on fairseq's own engine, with 2 gloo processes on the CPU.

The SNLI-VE recipe runs as users run it on one node (``GPUS=2``: run_scripts/lib.sh
restarts it under ``torchrun --standalone``, and each copy passes fairseq its rank), starts
from an OFA checkpoint (rank 0 reads it, fairseq broadcasts it to rank 1, which unpickles it
through the allow-list), stops and resumes, and must end on exactly the parameters of an
uninterrupted run. Also: the broadcast refuses what a checkpoint file would be refused for, a
torchrun process that fairseq was not told about refuses to train alone,
the frozen ResNet's BatchNorm, and the launch and total-batch arithmetic of lib.sh.
"""
from __future__ import annotations

import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing
from fairseq import checkpoint_utils
from fairseq.distributed import utils as distributed_utils
from omegaconf import OmegaConf

from ofa_mue.checkpoint_loading import TRUST_ENV_VAR
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.errors import CheckpointError, ConfigError
from ofa_mue.models.builders import build_model, model_args
from ofa_mue.models.image_embedding import ResNetEmbedding
from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

REPO = Path(__file__).resolve().parents[1]
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "GPUS", "TOTAL_BATCH", "BATCH_SIZE",
              "UPDATE_FREQ", "LR", "FREEZE_RESNET", "CUDA_VISIBLE_DEVICES")


def _clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV and not k.startswith("SLURM_")}
    return {**env, "PY": sys.executable, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **extra}


def run_in_own_session(command, env: Dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``command``; on timeout kill its whole process group (torchrun and its workers)."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(command)} ran past {timeout} s:\n{output[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, output)


# --- lib.sh: launch flags and the total batch (bash only, no training) ---------------------------

def lib(script: str, **env: str) -> subprocess.CompletedProcess:
    """Source run_scripts/lib.sh in a fresh bash with ``env`` (a launcher's variables), run ``script``."""
    return subprocess.run(["bash", "-c", f"set -euo pipefail; source run_scripts/lib.sh; {script}"], cwd=REPO,
                          env=_clean_env(**env), capture_output=True, text=True, timeout=60)


SHOW = 'split_batch 64 8 3e-5; echo "$WORLD $BATCH_SIZE $UPDATE_FREQ $LR | ${DISTRIBUTED[*]}"'


@pytest.mark.parametrize("env, expected", [
    ({}, "1 8 8 3e-5 | --distributed-world-size 1 --ddp-backend legacy_ddp"),
    ({"GPUS": "2"}, "2 8 4 3e-5 | --distributed-world-size 2 --ddp-backend legacy_ddp"),
    ({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3"},
     "8 8 1 3e-5 | --distributed-world-size 8 --ddp-backend legacy_ddp --distributed-rank 3 --device-id 3 "
     "--distributed-no-spawn --distributed-init-method env:// --distributed-backend nccl"),
    ({"RANK": "63", "WORLD_SIZE": "64", "LOCAL_RANK": "7", "DIST_BACKEND": "gloo"},
     "64 1 1 3e-5 | --distributed-world-size 64 --ddp-backend legacy_ddp --distributed-rank 63 --device-id 7 "
     "--distributed-no-spawn --distributed-init-method env:// --distributed-backend gloo"),
    ({"SLURM_STEP_NUM_TASKS": "32", "SLURM_PROCID": "9", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "41234",
      "MASTER_ADDR": "node7", "CUDA_VISIBLE_DEVICES": "5"},
     "32 2 1 3e-5 | --distributed-world-size 32 --ddp-backend legacy_ddp --distributed-rank 9 --device-id 0 "
     "--distributed-no-spawn --distributed-init-method tcp://node7:21234 --distributed-backend nccl"),
    ({"RANK": "0", "WORLD_SIZE": "48", "LOCAL_RANK": "0", "TOTAL_BATCH": "96"},
     "48 2 1 3.674e-05 | --distributed-world-size 48 --ddp-backend legacy_ddp --distributed-rank 0 --device-id 0 "
     "--distributed-no-spawn --distributed-init-method env:// --distributed-backend nccl"),
    ({"TOTAL_BATCH": "32", "BATCH_SIZE": "4"}, "1 4 8 2.121e-05 | --distributed-world-size 1 --ddp-backend legacy_ddp"),
])
def test_launch_flags_and_total_batch(env, expected):
    done = lib(SHOW, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


@pytest.mark.parametrize("env, message", [
    ({"RANK": "0", "WORLD_SIZE": "48", "LOCAL_RANK": "0"}, "a total batch of 64 rows cannot be split evenly over 48"),
    ({"RANK": "0", "WORLD_SIZE": "128", "LOCAL_RANK": "0"}, "a total batch of 64 rows cannot be split evenly over 128"),
    ({"BATCH_SIZE": "3"}, "64 rows per process, not a multiple of BATCH_SIZE=3"),
    ({"TOTAL_BATCH": "sixty"}, "TOTAL_BATCH must be a positive integer"),
    ({"UPDATE_FREQ": "4"}, "UPDATE_FREQ is computed from the total batch (TOTAL_BATCH [64])"),
])
def test_total_batch_that_cannot_be_kept_is_a_one_line_error(env, message):
    done = lib(SHOW, **env)
    assert done.returncode != 0
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: ") and message in done.stderr


def test_trained_batch_norm_is_refused_with_several_processes():
    assert lib('resnet_flags; echo "${RESNET[*]}"').stdout.strip() == "--freeze-resnet"
    assert lib('resnet_flags; echo "[${RESNET[*]}]"', FREEZE_RESNET="0").stdout.strip() == "[]"
    done = lib("resnet_flags", FREEZE_RESNET="0", GPUS="4")
    assert done.returncode != 0 and "FREEZE_RESNET=0 with 4 processes" in done.stderr


def test_total_updates_counts_fairseq_updates(tmp_path):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("row\n" * 100)
    # 100 rows in batches of 8: 13 batches, 7 per process on 2 processes, 2 updates of 4 batches
    done = lib(f'split_batch 64 8 3e-5; total_updates "{tsv}" 3', GPUS="2")
    assert done.stdout.strip() == "6", done.stderr


def test_total_updates_counts_a_last_row_without_a_newline(tmp_path):
    """The reader counts a last row that lacks its newline: 9 rows in batches of 8 are 2 batches
    (wc -l counted 8 rows, 1 batch, and the schedule ended halfway through the training)."""
    tsv = tmp_path / "train.tsv"
    tsv.write_text("row\n" * 8 + "row")
    done = lib(f'split_batch 8 8 3e-5; total_updates "{tsv}" 5', GPUS="1")
    assert done.stdout.strip() == "10", done.stderr


def test_training_alone_in_a_torchrun_launch_is_refused(monkeypatch):
    """``torchrun --nproc_per_node 2 fairseq-train`` without fairseq's distributed flags would run
    two independent trainings writing the same checkpoints: the task refuses to start an epoch."""
    task = SnliVeTask.setup_task(SnliVeConfig())
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    task.begin_epoch(1, None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=r"started by torchrun as one of 2 .* each process would train alone"):
        task.begin_epoch(1, None)


# --- The frozen ResNet ---------------------------------------------------------------------------

def test_frozen_batch_norm_keeps_statistics_and_affine_parameters():
    torch.manual_seed(0)
    images = torch.randn(4, 3, 32, 32) * 3 + 1
    frozen = ResNetEmbedding((1, 1, 1), base_channels=8, frozen_batch_norm=True)
    trained = ResNetEmbedding((1, 1, 1), base_channels=8)
    trained.load_state_dict(frozen.state_dict())
    before = {k: v.clone() for k, v in frozen.state_dict().items()}

    frozen.train()
    train_mode = frozen(images)
    train_mode.sum().backward()
    norms = [m for m in frozen.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.training for m in norms)
    assert all(p.grad is None and not p.requires_grad for m in norms for p in m.parameters())
    assert frozen.conv1.weight.grad is not None
    assert all(torch.equal(v, before[k]) for k, v in frozen.state_dict().items())  # statistics untouched
    torch.testing.assert_close(train_mode, frozen.eval()(images), rtol=0, atol=0)

    trained.train()(images)  # without freezing, training changes the statistics
    assert not torch.equal(trained.bn1.running_mean, before["bn1.running_mean"])


# --- The checkpoint broadcast between ranks ------------------------------------------------------

class UnexpectedPayload:
    """A class no fairseq checkpoint holds."""


def _broadcast_worker(rank: int, store: str, hostile: bool, trusted: bool, out: str) -> None:
    if trusted:
        os.environ[TRUST_ENV_VAR] = "1"
    else:
        os.environ.pop(TRUST_ENV_VAR, None)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=60))
    try:
        state = None
        if rank == 0:
            state = {"cfg": OmegaConf.create({"model": {"arch": "ofa_demo"}}), "args": model_args("ofa_demo"),
                     "model": {"weight": torch.arange(6.0)}}
        if hostile:  # the object part only (what a refusal stops at: one collective, then rank 1 leaves)
            if rank == 0:
                state = {**state, "payload": UnexpectedPayload()}
            try:
                received = distributed_utils._broadcast_object_slow(state, 0, dist.group.WORLD, torch.device("cpu"))
                result = f"payload={type(received['payload']).__name__}"
            except CheckpointError as error:
                result = f"CheckpointError: {error}"
        else:  # what fairseq's trainer does when resuming: objects and tensors
            received = distributed_utils.broadcast_object(state, src_rank=0, group=dist.group.WORLD)
            result = f"arch={received['cfg'].model.arch} weight={received['model']['weight'].tolist()}"
        Path(out, f"rank{rank}.txt").write_text(result)
    finally:
        dist.destroy_process_group()


def _broadcast(tmp_path: Path, hostile: bool, trusted: bool) -> str:
    tmp_path.mkdir(exist_ok=True)
    context = torch.multiprocessing.start_processes(
        _broadcast_worker, args=(str(tmp_path / "store"), hostile, trusted, str(tmp_path)), nprocs=2,
        join=False, start_method="fork")
    try:
        for _ in range(60):
            if context.join(timeout=1):
                break
        else:
            pytest.fail("the broadcast processes did not finish in 60 s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    return (tmp_path / "rank1.txt").read_text()


def test_broadcast_checkpoint_state_is_unpickled_through_the_allow_list(tmp_path):
    received = _broadcast(tmp_path, hostile=False, trusted=False)
    assert received == "arch=ofa_demo weight=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]"


def test_broadcast_of_an_unexpected_class_is_refused_unless_trusted(tmp_path):
    refused = _broadcast(tmp_path / "refused", hostile=True, trusted=False)
    assert refused.startswith("CheckpointError: checkpoint state broadcast by rank 0: refused to unpickle")
    assert TRUST_ENV_VAR in refused
    trusted = _broadcast(tmp_path / "trusted", hostile=True, trusted=True)
    assert trusted == "payload=UnexpectedPayload"


# --- The recipe on 2 processes: fine-tune from an OFA checkpoint, stop, resume ------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distributed_demo")
    generate_demo_data(out, seed=3, train=32, valid=9, test=5, image_size=64)
    return out


@pytest.fixture(scope="module")
def ofa_export(demo, tmp_path_factory) -> Path:
    """A checkpoint in OFA's released format (weights and model config, no training history)."""
    torch.manual_seed(5)
    model = build_model("ofa_demo", OFAVocabulary.load(demo / "bpe").dictionary)
    path = tmp_path_factory.mktemp("ofa_export") / "ofa_demo.pt"
    torch.save({"model": model.state_dict(), "cfg": {"model": model_args("ofa_demo")}}, path)
    return path


def fine_tune(demo: Path, checkpoint: Path, save_dir: Path, resume: bool = False) -> str:
    """run_scripts/snli_ve/train_mue.sh on 2 gloo processes in float32: 2 epochs of 2 updates of 16 rows
    (``resume``: RESUME=1, continuing the run whose checkpoint_last.pt ``save_dir`` holds)."""
    env = _clean_env(GPUS="2", DIST_BACKEND="gloo", OFA_CHECKPOINT=str(checkpoint), DATA_DIR=str(demo / "snli_ve"),
                     BPE_DIR=str(demo / "bpe"), ARCH="ofa_demo", IMAGE_SIZE="64", TOTAL_BATCH="16", BATCH_SIZE="8",
                     EPOCHS="2", FP16="0", SAVE_DIR=str(save_dir), RESUME=str(int(resume)))
    done = run_in_own_session(["bash", "run_scripts/snli_ve/train_mue.sh", "--cpu", "--num-workers", "0",
                               "--keep-last-epochs", "-1", "--disable-validation"], env, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:]
    return done.stdout


def weights(path: Path) -> Dict[str, torch.Tensor]:
    return checkpoint_utils.load_checkpoint_to_cpu(str(path))["model"]


def test_two_process_fine_tune_resumes_to_the_parameters_of_an_uninterrupted_run(demo, ofa_export, tmp_path):
    uninterrupted = tmp_path / "uninterrupted"
    log = fine_tune(demo, ofa_export, uninterrupted)
    assert "training on 2 devices" in log
    assert re.search(r"distributed init \(rank 1\): env://", log)
    assert f"Loaded checkpoint {ofa_export} (epoch 0 @ 0 updates)" in log
    assert re.search(r"update_freq': \[1\]", log) and re.search(r"'batch_size': 8\b", log)  # 16 = 2 x 8 x 1

    # A run stopped after epoch 1 leaves that epoch's checkpoint as its last one: resume from it.
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    shutil.copy(uninterrupted / "checkpoint1.pt", stopped / "checkpoint_last.pt")
    log = fine_tune(demo, ofa_export, stopped, resume=True)
    assert f"Loaded checkpoint {stopped / 'checkpoint_last.pt'} (epoch 2 @ 2 updates)" in log
    assert "num_updates 4" in log

    resumed, reference, start = (weights(p) for p in (stopped / "checkpoint_last.pt",
                                                      uninterrupted / "checkpoint_last.pt", ofa_export))
    assert resumed.keys() == reference.keys()
    assert [k for k in reference if not torch.equal(resumed[k], reference[k])] == []
    # --freeze-resnet (the recipe's default): BatchNorm as in the OFA checkpoint, the rest trained
    norms = [k for k in start if ".bn" in k or "downsample.1" in k]
    assert norms and all(torch.equal(reference[k], start[k]) for k in norms)
    assert not torch.equal(reference["encoder.embed_images.conv1.weight"], start["encoder.embed_images.conv1.weight"])
