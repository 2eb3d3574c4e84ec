"""What OFA's task datasets share: reading a TSV row, the decoder layout, and batching."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from fairseq.data import FairseqDataset
from fairseq.data.data_utils import collate_tokens

from ofa_mue.errors import DataError

from .images import decode_image, image_transform
from .tsv import SelectedCols, TSVReader
from .vocabulary import OFAVocabulary


def decoder_io(decoder_prompt: torch.Tensor, answer: torch.Tensor, pad: int, eos: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Decoder input and target for ``answer`` after ``decoder_prompt`` (which starts with bos).

    ``prev_output_tokens = decoder_prompt + answer`` and
    ``target = [pad] * (len(decoder_prompt) - 1) + answer + [eos]``: only the answer and eos
    are predicted. With the prompt ``[bos]`` this is the usual ``bos + y`` / ``y + eos``.
    """
    prev_output_tokens = torch.cat([decoder_prompt, answer])
    target = torch.cat([
        decoder_prompt.new_full((len(decoder_prompt) - 1,), pad),
        answer,
        answer.new_tensor([eos]),
    ])
    return prev_output_tokens, target


def collate_samples(samples: List[Dict[str, Any]], pad: int) -> Dict[str, Any]:
    """A fairseq batch from OFA samples; token tensors are right-padded, as in OFA.

    ``id`` holds the dataset indices (LongTensor), ``uniq_ids`` the TSV ids; ``ntokens``
    counts the target tokens that are not padding.
    """
    if not samples:
        return {}
    target = collate_tokens([s["target"] for s in samples], pad)
    return {
        "id": torch.tensor([s["id"] for s in samples], dtype=torch.long),
        "uniq_ids": [s["uniq_id"] for s in samples],
        "nsentences": len(samples),
        "ntokens": int(target.ne(pad).sum()),
        "net_input": {
            "src_tokens": collate_tokens([s["source"] for s in samples], pad),
            "src_lengths": torch.tensor([len(s["source"]) for s in samples], dtype=torch.long),
            "patch_images": torch.stack([s["patch_image"] for s in samples]),
            "patch_masks": torch.cat([s["patch_mask"] for s in samples]),
            "prev_output_tokens": collate_tokens([s["prev_output_tokens"] for s in samples], pad),
        },
        "target": target,
    }


class OFATSVDataset(FairseqDataset):
    """Base of the task datasets: one TSV row -> one sample with a patch image (:func:`image_transform`).

    Subclasses set ``COLUMNS`` (the field names they read, used in error messages) and
    ``DEFAULT_SELECTED_COLS`` (their positions in OFA's files), and build samples with
    :meth:`make_sample`. Batches come from :func:`collate_samples`.
    """

    COLUMNS: Tuple[str, ...] = ()
    DEFAULT_SELECTED_COLS: Tuple[int, ...] = ()

    def __init__(
        self,
        split: str,
        path: Union[str, os.PathLike],
        vocab: OFAVocabulary,
        selected_cols: SelectedCols = None,
        patch_image_size: int = 480,
        imagenet_default_mean_and_std: bool = False,
    ):
        self.split = split
        self.vocab = vocab
        self.reader = TSVReader(path, self.COLUMNS, selected_cols if selected_cols else self.DEFAULT_SELECTED_COLS)
        self.transform = image_transform(patch_image_size, imagenet_default_mean_and_std)
        self.bos = vocab.dictionary.bos()
        self.eos = vocab.dictionary.eos()
        self.pad = vocab.dictionary.pad()

    def __len__(self) -> int:
        return len(self.reader)

    def error(self, index: int, field: Optional[str], message: str) -> DataError:
        """A DataError pointing at ``field`` of the row behind sample ``index``."""
        return DataError(self.reader.path, message, row=index + 1, field=field)

    def make_sample(
        self,
        index: int,
        row: Dict[str, str],
        source: torch.Tensor,
        answer: torch.Tensor,
        decoder_prompt: Optional[torch.Tensor] = None,
    ) -> Dict[str, Any]:
        """Sample dict from encoded ``source`` (with bos/eos) and ``answer`` tokens, and the row's image.

        ``decoder_prompt`` (default ``[bos]``) lays out the decoder as in :func:`decoder_io`.
        """
        if decoder_prompt is None:
            decoder_prompt = torch.tensor([self.bos])
        image = decode_image(row["image"], self.reader.path, index + 1, "image")
        prev_output_tokens, target = decoder_io(decoder_prompt, answer, self.pad, self.eos)
        return {
            "id": index,
            "uniq_id": row[self.COLUMNS[0]],
            "source": source,
            "patch_image": self.transform(image),
            "patch_mask": torch.tensor([True]),
            "prev_output_tokens": prev_output_tokens,
            "target": target,
        }

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        return collate_samples(samples, self.pad)

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        """Whether fairseq may keep one batch iterator for every epoch: not for training, whose
        rows are reshuffled into new batches each epoch. fairseq would otherwise reuse the first
        epoch's batches (only their order changing), so a run resumed at an epoch boundary would
        see other batches than an uninterrupted one."""
        return self.split != "train"

    def ordered_indices(self) -> np.ndarray:
        """Row order: shuffled for training (fairseq seeds numpy with seed + epoch), file order otherwise."""
        if self.split == "train":
            return np.random.permutation(len(self))
        return np.arange(len(self))

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        """Consecutive runs of ``max_sentences`` rows (``--batch-size``); the last may be smaller.

        Rows are not measured (that would decode every image), so ``--max-tokens`` alone is
        not supported; no row is ever left out.
        """
        if not max_sentences:
            raise ValueError("OFA tasks batch by rows: pass --batch-size (and --batch-size-valid)")
        return [indices[start:start + max_sentences] for start in range(0, len(indices), max_sentences)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, {self.reader!r})"

