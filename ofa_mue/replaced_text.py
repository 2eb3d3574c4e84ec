"""Evaluation with every SNLI-VE hypothesis replaced: how much does the model read from the image alone?

``--replace-text other`` gives each row the hypothesis of another row of the same split (the
row half the split away, or the next one after it whose hypothesis differs), keeping the
row's image and label. A model that matches the hypothesis against the picture falls towards
chance; one that answers from the picture alone (a cue in the image that goes with a label)
keeps its score. Captioning has no text input besides its fixed prompt, so it is refused.
"""
from __future__ import annotations

from typing import Any, Dict

from ofa_mue.data.ofa_dataset import OFATSVDataset
from ofa_mue.errors import ConfigError
from ofa_mue.replaced_images import donor_row

MODES = ("none", "other")
FIELD = "hypothesis"


class DonorHypotheses:
    """A view of a TSV reader whose row ``index`` carries the hypothesis of row :meth:`donor`."""

    def __init__(self, reader):
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)

    def donor(self, index: int) -> int:
        """The row whose hypothesis replaces row ``index``'s (:func:`~ofa_mue.replaced_images.donor_row`)."""
        return donor_row(self.reader, index, FIELD, "--replace-text other")

    def __getitem__(self, index: int) -> Dict[str, str]:
        return {**self.reader[index], FIELD: self.reader[self.donor(index)][FIELD]}


def replace_text(dataset: OFATSVDataset, mode: str) -> OFATSVDataset:
    """``dataset`` with its reader's hypotheses replaced (mode ``other``), or as it is (``none``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "none":
        return dataset
    if FIELD not in dataset.COLUMNS:
        raise ConfigError("--replace-text applies to SNLI-VE's hypotheses; this task's only text is its fixed prompt")
    dataset.reader = DonorHypotheses(dataset.reader)
    return dataset
