"""Shared pytest fixtures: small real TSV files with base64 PNG images, and OFA's vocabulary."""
from __future__ import annotations

import base64
from io import BytesIO
from pathlib import Path
from typing import Callable, Sequence

import pytest
from PIL import Image


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
