"""Evaluation with every image replaced: does the model answer from the image at all?

``--replace-images other`` gives each row the image of another row of the same split (the
row half the split away, or the next one after it whose image differs), so the text stays
and the picture no longer fits it; ``--replace-images blank`` gives every row a uniform
gray image (all zeros after OFA's normalisation). A model that reads its answers from the
text keeps its score; one that looks at the image falls towards chance.
"""
from __future__ import annotations

from typing import Any, Dict

import torch
from fairseq.data import BaseWrapperDataset

from ofa_mue.data.images import decode_image
from ofa_mue.data.ofa_dataset import OFATSVDataset
from ofa_mue.errors import DataError

MODES = ("none", "other", "blank")


def donor_row(reader, index: int, field: str, option: str) -> int:
    """The row of ``reader`` whose ``field`` replaces row ``index``'s: half the split away,
    moved on past rows with the same value of ``field``."""
    size = len(reader)
    own = reader[index][field]
    for step in range(size):
        candidate = (index + size // 2 + step) % size
        if reader[candidate][field] != own:
            return candidate
    raise DataError(reader.path, f"{option} needs at least two different values of the {field} column in the split")


class ReplacedImages(BaseWrapperDataset):
    """An OFA TSV dataset whose samples carry another row's image (``other``) or a blank one."""

    def __init__(self, dataset: OFATSVDataset, mode: str):
        if mode not in MODES[1:]:
            raise ValueError(f"mode must be one of {MODES[1:]}, got {mode!r}")
        super().__init__(dataset)
        self.mode = mode

    def donor(self, index: int) -> int:
        """The row whose image replaces row ``index``'s (:func:`donor_row`)."""
        return donor_row(self.dataset.reader, index, "image", "--replace-images other")

    def __getitem__(self, index: int) -> Dict[str, Any]:
        sample = self.dataset[index]
        if self.mode == "blank":
            sample["patch_image"] = torch.zeros_like(sample["patch_image"])
        else:
            donor = self.donor(index)
            row = self.dataset.reader[donor]
            image = decode_image(row["image"], self.dataset.reader.path, donor + 1, "image")
            sample["patch_image"] = self.dataset.transform(image)
        return sample


def replace_images(dataset: OFATSVDataset, mode: str):
    """``dataset`` itself for mode ``none``, else a :class:`ReplacedImages` view of it."""
    return dataset if mode == "none" else ReplacedImages(dataset, mode)
