"""Shared pytest fixtures: small real TSV files with base64 PNG images, OFA's vocabulary, and
the demo data with an SNLI-VE and a caption checkpoint trained once per session by
fairseq-train's entry point (tests/demo_training.py)."""
from __future__ import annotations

import base64
from io import BytesIO
from pathlib import Path
from typing import Callable, Dict, Sequence

import pytest
from PIL import Image

from demo_training import DEMO_SIZES, TASKS, TrainedCheckpoint, make_read_only, train_shared_checkpoints


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
