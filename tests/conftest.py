"""Shared pytest fixtures: small real TSV files with base64 PNG images, OFA's vocabulary, and
the demo data with an SNLI-VE and a caption checkpoint trained once per session by
fairseq-train's entry point (tests/demo_training.py)."""
from __future__ import annotations

import os

# One torch (OpenMP) thread per test process and per command line a test starts, unless
# OMP_NUM_THREADS says otherwise: the suite runs a process per core (pytest-xdist), and a
# process with as many threads as cores beside it stalls on OpenMP's thread barriers (a
# 10-batch SNLI-VE evaluation: 2 s on one thread, 20 s on two with the other core busy).
# Set before torch is imported, for this process and every process it starts.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import base64
from io import BytesIO
from pathlib import Path
from typing import Callable, Dict, Sequence

import pytest
import torch
from PIL import Image

from demo_training import DEMO_SIZES, TASKS, TrainedCheckpoint, make_read_only, train_shared_checkpoints
from fork_server import fast_python

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # also when a plugin imported torch first


def _image_b64(width: int = 8, height: int = 6, color=(200, 30, 60), urlsafe: bool = True, padded: bool = True) -> str:
    """A PNG of one colour, base64-encoded as in OFA's TSV files."""
    buffer = BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = encode(buffer.getvalue()).decode("ascii")
    return text if padded else text.rstrip("=")


@pytest.fixture
def image_b64() -> Callable[..., str]:
    """``image_b64(width, height, color, urlsafe, padded)``: a base64 PNG cell."""
    return _image_b64


@pytest.fixture
def write_tsv(tmp_path: Path) -> Callable[[Sequence[Sequence[str]], str], Path]:
    """Write rows (lists of fields) as a tab-separated file in tmp_path and return its path."""

    def write(rows: Sequence[Sequence[str]], name: str = "data.tsv") -> Path:
        path = tmp_path / name
        path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def ofa_vocab():
    """OFA's vocabulary from the files shipped in ofa_mue/resources/ofa_bpe."""
    from ofa_mue.data.vocabulary import OFAVocabulary

    return OFAVocabulary.load()


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """The demo data set (DEMO_SIZES: 32 / 9 / 13 rows per task, 64 px), generated once; read only."""
    from ofa_mue.demo.generate import generate_demo_data

    out = tmp_path_factory.mktemp("demo_data")
    generate_demo_data(out, **DEMO_SIZES)
    make_read_only(out)
    return out


@pytest.fixture(scope="session")
def demo_checkpoints(demo_data, tmp_path_factory) -> Dict[str, TrainedCheckpoint]:
    """``{task: checkpoint}`` for snli_ve and caption, trained on ``demo_data`` by fairseq-train's
    entry point with ``demo_training.train_argv`` (MuE fine-tuning, three updates); read only.
    For tests that need *a* trained checkpoint of a kind."""
    return train_shared_checkpoints(demo_data, {task: tmp_path_factory.mktemp(f"checkpoint_{task}") for task in TASKS})


@pytest.fixture
def forked_benchmark_commands(monkeypatch) -> None:
    """benchmarks/measurement.py's commands run forked from the tests' fork server (for the tests
    of benchmarks, which put benchmarks/ on sys.path)."""
    import measurement

    monkeypatch.setattr(measurement, "PYTHON", fast_python())


# The test files that take longest (most seconds first, measured on 2 cores), run before the
# others; every other file keeps its place after them. run_scripts/test.sh hands out whole
# files to its workers in this order (--dist loadfile --no-loadscope-reorder): a long file
# started last would keep one worker busy long after the other has finished.
LONGEST_FILES_FIRST = (
    "test_training_and_evaluation_cli.py",
    "test_reproduce.py",
    "test_lossless_decoding.py",
    "test_ofa_eval_habits.py",
    "test_sharded_evaluation.py",
    "test_predict.py",
    "test_speed_benchmark.py",
    "test_ofa_habits_generation.py",
    "test_distributed_training.py",
    "test_evaluation_recipes.py",
    "test_install.py",
    "test_determinism.py",
    "test_reliability.py",
    "test_caption_references.py",
    "test_question_stage.py",
    "test_inference_with_checkpoint_settings.py",
    "test_ofa_training_options.py",
    "test_convert.py",
    "test_demo_data.py",
)


def pytest_collection_modifyitems(items) -> None:
    """Order the tests by :data:`LONGEST_FILES_FIRST` (a stable sort: a file's tests keep their order)."""
    rank = {name: index for index, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
