"""SNLI-VE (visual entailment) in OFA's format: premise + hypothesis + image -> yes / no / maybe."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
from fairseq.data.data_utils import collate_tokens
from torch.nn.utils.rnn import pad_sequence

from .constraints import AnswerTrie
from .ofa_dataset import OFATSVDataset, collate_samples, decoder_io
from .text import normalize_sentence
from .tsv import SelectedCols
from .vocabulary import OFAVocabulary

LABEL_TO_ANSWER = {"contradiction": "no", "entailment": "yes", "neutral": "maybe"}
ANSWERS = ("no", "yes", "maybe")  # OFA's candidate order (ans2label no=0, yes=1, maybe=2)
PROMPT_TYPES = ("none", "src", "prev_output")


def answer_candidates(vocab: OFAVocabulary) -> List[Tuple[str, torch.Tensor]]:
    """``(answer, tokens of " answer")`` for each SNLI-VE answer, in :data:`ANSWERS` order."""
    return [(answer, vocab.encode(" " + answer)) for answer in ANSWERS]


def answer_trie(vocab: OFAVocabulary) -> AnswerTrie:
    """The trie of the three answers that constrains SNLI-VE decoding."""
    dictionary = vocab.dictionary
    return AnswerTrie(dictionary.bos(), dictionary.eos(), [tokens.tolist() for _, tokens in answer_candidates(vocab)])


def stack_masks(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Right-pad [T_i, V] boolean masks to [B, max T, V]; padding rows allow nothing."""
    return pad_sequence(list(masks), batch_first=True, padding_value=False)


def candidate_answer_masks(trie: AnswerTrie, candidates: Sequence[torch.Tensor], vocab_size: int) -> List[torch.Tensor]:
    """For each candidate, the bool mask ``[len + 1, V]`` of the tokens the trie allows at its
    answer positions and eos (the same after any decoder prompt, so computed once)."""
    eos = torch.tensor([trie.eos])
    return [trie.constraint_mask(torch.cat([answer, eos]), 0, vocab_size) for answer in candidates]


def candidate_inputs(
    decoder_prompts: Sequence[torch.Tensor],
    candidates: Sequence[torch.Tensor],
    answer_masks: Sequence[torch.Tensor],
    pad: int,
    eos: int,
) -> Dict[str, torch.Tensor]:
    """Teacher-forced inputs that score every candidate answer after every decoder prompt.

    Row ``b * len(candidates) + c`` pairs prompt ``b`` with candidate ``c``. Returns
    ``prev_output_tokens`` and ``target`` [B*C, T] (prompt positions of the target are
    padding) and ``constraint_masks`` [N, V] for the N non-padding target positions in
    row-major order (from :func:`candidate_answer_masks`). A candidate's score is the sum
    of the log-probabilities of its non-padding target tokens. Everything is made on the
    prompts' device (a batch moved to the GPU holds its prompts there; the task's candidates
    stay on the CPU).
    """
    device = decoder_prompts[0].device if len(decoder_prompts) else torch.device("cpu")
    candidates = [answer.to(device) for answer in candidates]
    answer_masks = [mask.to(device) for mask in answer_masks]
    prevs, targets, masks = [], [], []
    for prompt in decoder_prompts:
        for answer, mask in zip(candidates, answer_masks):
            prev_output_tokens, target = decoder_io(prompt, answer, pad, eos)
            prevs.append(prev_output_tokens)
            targets.append(target)
            masks.append(mask)
    return {
        "prev_output_tokens": collate_tokens(prevs, pad),
        "target": collate_tokens(targets, pad),
        "constraint_masks": torch.cat(masks),
    }


class SnliVeDataset(OFATSVDataset):
    """SNLI-VE rows: uniq-id, image-id, image, hypothesis, caption (premise), label.

    The encoder reads ``bos + ' can image and text1 " {premise} " imply text2 " {hypothesis} "?' + eos``
    (with ``add_caption=False``: ``' does the image describe " {hypothesis} "?'``); premise and
    hypothesis are cleaned as OFA does and cut to ``max_src_length`` words each. The answer
    ``" no" / " yes" / " maybe"`` follows a decoder prompt chosen by ``prompt_type``:
    ``"none"`` (bos only), ``"src"`` (the whole source) or ``"prev_output"`` (the source
    without eos; OFA's fine-tuning scripts use it). Only the answer and eos are targets.
    With ``constraint_masks`` each sample carries OFA's mask of the tokens the answer trie
    allows at each target position (prompt rows allow nothing).
    """

    COLUMNS = ("uniq-id", "image", "hypothesis", "caption", "label")
    DEFAULT_SELECTED_COLS = (0, 2, 3, 4, 5)

    def __init__(
        self,
        split: str,
        path: Union[str, os.PathLike],
        vocab: OFAVocabulary,
        selected_cols: SelectedCols = None,
        patch_image_size: int = 480,
        max_src_length: int = 80,
        add_caption: bool = False,
        prompt_type: str = "prev_output",
        constraint_masks: bool = True,
        imagenet_default_mean_and_std: bool = False,
    ):
        if prompt_type not in PROMPT_TYPES:
            raise ValueError(f"prompt_type must be one of {PROMPT_TYPES}, got {prompt_type!r}")
        super().__init__(split, path, vocab, selected_cols, patch_image_size, imagenet_default_mean_and_std)
        self.max_src_length = max_src_length
        self.add_caption = add_caption
        self.prompt_type = prompt_type
        self.trie = answer_trie(vocab) if constraint_masks else None
        self.answer_tokens = dict(answer_candidates(vocab))

    def _clean(self, index: int, field: str, row: Dict[str, str]) -> str:
        """The row's ``field`` cleaned as OFA does; empty text is a DataError."""
        text = normalize_sentence(row[field], self.max_src_length)
        if not text:
            raise self.error(index, field, "empty text")
        return text

    def __getitem__(self, index: int) -> Dict[str, Any]:
        row = self.reader[index]
        label = row["label"].strip()
        if label not in LABEL_TO_ANSWER:
            raise self.error(index, "label", f"unknown label {label!r}, expected one of {sorted(LABEL_TO_ANSWER)}")
        answer = LABEL_TO_ANSWER[label]
        hypothesis = self._clean(index, "hypothesis", row)
        if self.add_caption:
            premise = self._clean(index, "caption", row)
            prompt = f' can image and text1 " {premise} " imply text2 " {hypothesis} "?'
        else:
            prompt = f' does the image describe " {hypothesis} "?'
        source = self.vocab.encode(prompt, add_bos=True, add_eos=True)
        decoder_prompt = {"none": source[:1], "src": source, "prev_output": source[:-1]}[self.prompt_type]
        sample = self.make_sample(index, row, source, self.answer_tokens[answer], decoder_prompt)
        sample["answer"] = answer
        sample["decoder_prompt"] = decoder_prompt
        if self.trie is not None:
            sample["constraint_mask"] = self.trie.constraint_mask(
                sample["target"], len(decoder_prompt) - 1, len(self.vocab.dictionary)
            )
        return sample

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        """:func:`collate_samples` plus ``answers`` (gold answer strings), ``decoder_prompts``
        (list of 1-D tensors), ``split`` (this dataset's) and, when built, ``constraint_masks`` [B, T, V]."""
        batch = collate_samples(samples, self.pad)
        if batch:
            batch["split"] = self.split
            batch["answers"] = [s["answer"] for s in samples]
            batch["decoder_prompts"] = [s["decoder_prompt"] for s in samples]
            if self.trie is not None:
                batch["constraint_masks"] = stack_masks([s["constraint_mask"] for s in samples])
        return batch
