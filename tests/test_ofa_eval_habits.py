"""Evaluation as OFA's own evaluation does it, for users with OFA's habits: caption text as
OFA's ``eval_caption`` writes it, and the generation options of ``--eval-args`` /
``--scst-args`` meaning what they mean in OFA's caption task."""
from __future__ import annotations

import json
import string
from argparse import Namespace
from pathlib import Path

import pytest
import torch

from ofa_mue.tasks.caption import CaptionConfig, CaptionTask
from tiny_ofa import IMAGE_SIZE, tiny_model

OFA_PUNCTUATION = str.maketrans({key: None for key in string.punctuation})


def ofa_caption(decoded: str) -> str:
    """OFA's ``eval_caption``: the decoded hypothesis without ASCII punctuation, stripped."""
    return decoded.translate(OFA_PUNCTUATION).strip()


@pytest.fixture
def caption_task(tmp_path: Path, image_b64) -> CaptionTask:
    rows = [["u0", "7", "a dog on grass", "dog", image_b64(9, 7)], ["u1", "8", "two cats", "cat", image_b64(5, 6)]]
    (tmp_path / "test.tsv").write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    task = CaptionTask.setup_task(CaptionConfig(data=str(tmp_path), patch_image_size=IMAGE_SIZE))
    task.load_dataset("test")
    return task


def test_captions_lose_punctuation_as_in_ofas_evaluation(caption_task):
    """A hypothesis holding punctuation (forced here as a prefix of real beam search) is
    written and scored as OFA's evaluation writes it: "a man's t-shirt." -> "a mans tshirt"."""
    task = caption_task
    model = tiny_model(task.vocab.dictionary).eval()
    dataset = task.dataset("test")
    sample = dataset.collater([dataset[0], dataset[1]])
    prefix = task.vocab.encode(" a man's t-shirt.")
    prefix_tokens = prefix.unsqueeze(0).expand(2, -1)
    generator = task.build_generator([model], Namespace(beam=2, max_len_b=len(prefix) + 3))
    with torch.no_grad():
        hypotheses = generator.generate([model], sample, prefix_tokens=prefix_tokens)
        captions = task.captions(generator, [model], sample, prefix_tokens=prefix_tokens)
    decoded = [task.vocab.decode(hypos[0]["tokens"]) for hypos in hypotheses]
    assert all(text.startswith(" a man's t-shirt.") for text in decoded), decoded  # the punctuation is there
    for caption, text in zip(captions, decoded):
        assert caption.startswith("a mans tshirt"), caption
        assert caption.split() == ofa_caption(text).split()
        assert caption == " ".join(caption.split())
