"""Constrained decoding over a closed answer set (SNLI-VE's " no" / " yes" / " maybe")."""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

import torch


class AnswerTrie:
    """Prefix tree of ``[bos] + answer + [eos]`` token sequences.

    :meth:`allowed_next` gives the tokens that may follow a prefix that starts with bos;
    a prefix that has left the tree allows only eos, as in OFA.
    """

    def __init__(self, bos: int, eos: int, answers: Iterable[Sequence[int]]):
        self.bos = bos
        self.eos = eos
        self._root: Dict[int, dict] = {}
        for answer in answers:
            node = self._root
            for token in [bos, *answer, eos]:
                node = node.setdefault(int(token), {})

    def allowed_next(self, prefix: Sequence[int]) -> List[int]:
        """Tokens allowed after ``prefix`` (which starts with bos)."""
        node = self._root
        for token in prefix:
            node = node.get(int(token))
            if node is None:
                return [self.eos]
        return list(node)

    def constraint_mask(self, target: torch.Tensor, answer_start: int, vocab_size: int) -> torch.Tensor:
        """Bool mask [len(target), vocab_size] of the tokens allowed at each target position.

        Rows before ``answer_start`` (a decoder prompt) allow nothing; row ``i`` from there
        on allows what the trie permits after ``[bos] + target[answer_start:i]``.
        """
        mask = torch.zeros(len(target), vocab_size, dtype=torch.bool)
        answer = target.tolist()[answer_start:]
        for i in range(answer_start, len(target)):
            mask[i, self.allowed_next([self.bos, *answer[: i - answer_start]])] = True
        return mask
