"""Image captioning (COCO) in OFA's format: image -> caption."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Union

from .ofa_dataset import OFATSVDataset, collate_samples
from .text import strip_punctuation, truncate_words
from .tsv import SelectedCols
from .vocabulary import OFAVocabulary

PROMPT = " what does the image describe?"
REFERENCE_SEPARATOR = "&&"


def raw_references(caption: str) -> List[str]:
    """The references of a caption cell as written, each with its whitespace runs made one space."""
    return [" ".join(part.split()) for part in caption.split(REFERENCE_SEPARATOR)]


class CaptionDataset(OFATSVDataset):
    """Caption rows: uniq-id, image-id, caption (references joined by ``&&``), object labels, image.

    ``COLUMNS`` are the fields read: ``id`` (OFA selects uniq-id, column 0, for training
    and image-id, column 1, for COCO evaluation), ``image`` and ``caption``. The encoder
    reads ``bos + " what does the image describe?" + eos``. Every sample keeps all its
    references twice: ``references`` without ASCII punctuation, as OFA's dataset makes them
    (training targets, SCST rewards, ``--eval-cider`` validation), and ``raw_references`` as
    written, only whitespace normalised, as OFA's ``coco_eval.py`` scores test captions. The
    target is the first reference, cut to ``max_tgt_length`` words when training with
    cross-entropy (``split == "train"`` and not ``scst``).
    """

    COLUMNS = ("id", "image", "caption")
    DEFAULT_SELECTED_COLS = (0, 4, 2)

    def __init__(
        self,
        split: str,
        path: Union[str, os.PathLike],
        vocab: OFAVocabulary,
        selected_cols: SelectedCols = None,
        patch_image_size: int = 480,
        max_tgt_length: int = 30,
        scst: bool = False,
        imagenet_default_mean_and_std: bool = False,
    ):
        super().__init__(split, path, vocab, selected_cols, patch_image_size, imagenet_default_mean_and_std)
        self.max_tgt_length = max_tgt_length
        self.truncate_target = split == "train" and not scst
        self.source = vocab.encode(PROMPT, add_bos=True, add_eos=True)

    def references(self, index: int, caption: str) -> List[str]:
        """The cleaned references of a caption cell; an empty one is a DataError."""
        parts = caption.split(REFERENCE_SEPARATOR)
        references = [strip_punctuation(part) for part in parts]
        for number, reference in enumerate(references, start=1):
            if not reference:
                which = f"reference {number} of {len(parts)}" if len(parts) > 1 else "the caption"
                raise self.error(index, "caption", f"{which} is empty (after removing punctuation)")
        return references

    def all_references(self) -> Iterator[List[str]]:
        """The cleaned references (:meth:`references`) of every row, in file order."""
        for index in range(len(self)):
            yield self.references(index, self.reader[index]["caption"])

    def __getitem__(self, index: int) -> Dict[str, Any]:
        row = self.reader[index]
        references = self.references(index, row["caption"])
        target = truncate_words(references[0], self.max_tgt_length if self.truncate_target else None)
        sample = self.make_sample(index, row, self.source, self.vocab.encode(" " + target))
        sample["references"] = references
        sample["raw_references"] = raw_references(row["caption"])
        return sample

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        """:func:`collate_samples` plus ``references`` and ``raw_references`` (lists of reference
        lists) and ``split``."""
        batch = collate_samples(samples, self.pad)
        if batch:
            batch["references"] = [s["references"] for s in samples]
            batch["raw_references"] = [s["raw_references"] for s in samples]
            batch["split"] = self.split
        return batch
