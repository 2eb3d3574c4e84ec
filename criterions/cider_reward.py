"""CIDEr-D of captions, with document frequencies from a chosen set of reference sets: SCST's
reward (:mod:`.scst`) and the caption task's ``--eval-cider`` validation score.

The score is CIDEr-D exactly as pycocoevalcap's ``CiderScorer`` computes it (1- to
4-grams, tf-idf vectors, clipped cosine similarity, Gaussian length penalty with sigma 6,
mean over n-gram sizes and references, times 10), except that the document frequencies
come from a corpus fixed when the scorer is built (each reference set is one document),
not from the captions being scored. Text is tokenised as OFA's SCST reward and validation
CIDEr-D do: case kept, ASCII punctuation removed, split on whitespace (no PTB tokenizer, so no
Java call per step); a scorer built with an ``end_word`` ends every caption and reference with
it, as OFA's SCST reward ends them with ``<eos>`` (its validation CIDEr-D adds none).
"""
from __future__ import annotations

import math
import string
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from pycocoevalcap.cider.cider_scorer import precook

NGRAM_ORDER = 4
SIGMA = 6.0
_PUNCTUATION = str.maketrans("", "", string.punctuation)

NGram = Tuple[str, ...]
Vector = Tuple[List[Dict[NGram, float]], List[float], int]


def tokenize(text: str) -> str:
    """Words of ``text`` (case kept) without ASCII punctuation, joined by single spaces."""
    return " ".join(text.translate(_PUNCTUATION).split())


def scored_words(text: str, end_word: Optional[str]) -> str:
    """:func:`tokenize` of ``text``, followed by ``end_word`` when one is given."""
    words = tokenize(text)
    return f"{words} {end_word}" if end_word else words


class CiderD:
    """CIDEr-D scorer with fixed document frequencies (see the module docstring)."""

    def __init__(self, document_frequency: Mapping[NGram, int], num_documents: int, end_word: Optional[str] = None):
        if num_documents < 1:
            raise ValueError("CIDEr-D needs at least one reference set for its document frequencies")
        self.document_frequency = document_frequency
        self.log_num_documents = math.log(num_documents)
        self.end_word = end_word

    @classmethod
    def from_references(cls, reference_sets: Iterable[Sequence[str]], end_word: Optional[str] = None) -> "CiderD":
        """Document frequencies of the n-grams of ``reference_sets`` (one document per set), each
        reference ended with ``end_word`` when one is given."""
        frequency: Counter = Counter()
        count = 0
        for references in reference_sets:
            frequency.update({ngram for ref in references
                              for ngram in precook(scored_words(ref, end_word), NGRAM_ORDER)})
            count += 1
        return cls(frequency, count, end_word)

    def _vector(self, text: str) -> Vector:
        """tf-idf vector per n-gram size, its norms, and the length pycocoevalcap uses (bigram count)."""
        vector: List[Dict[NGram, float]] = [defaultdict(float) for _ in range(NGRAM_ORDER)]
        norms = [0.0] * NGRAM_ORDER
        length = 0
        for ngram, count in precook(scored_words(text, self.end_word), NGRAM_ORDER).items():
            n = len(ngram) - 1
            idf = self.log_num_documents - math.log(max(1.0, self.document_frequency.get(ngram, 0.0)))
            vector[n][ngram] = count * idf
            norms[n] += vector[n][ngram] ** 2
            if n == 1:
                length += count
        return vector, [math.sqrt(x) for x in norms], length

    @staticmethod
    def _similarity(hypothesis: Vector, reference: Vector) -> float:
        (hyp, hyp_norm, hyp_len), (ref, ref_norm, ref_len) = hypothesis, reference
        penalty = math.exp(-((hyp_len - ref_len) ** 2) / (2 * SIGMA**2))
        total = 0.0
        for n in range(NGRAM_ORDER):
            value = sum(min(weight, ref[n].get(ngram, 0.0)) * ref[n].get(ngram, 0.0)
                        for ngram, weight in hyp[n].items())
            if hyp_norm[n] != 0 and ref_norm[n] != 0:
                value /= hyp_norm[n] * ref_norm[n]
            total += value * penalty
        return total / NGRAM_ORDER

    def scores(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> List[float]:
        """CIDEr-D of ``hypotheses[i]`` against ``references[i]`` (pycocoevalcap scale: 1.0 = 100)."""
        if len(hypotheses) != len(references):
            raise ValueError(f"need one reference list per caption, got {len(hypotheses)} and {len(references)}")
        cache: Dict[Tuple[str, ...], List[Vector]] = {}
        results = []
        for hypothesis, refs in zip(hypotheses, references):
            key = tuple(refs)
            if key not in cache:
                cache[key] = [self._vector(ref) for ref in refs]
            vector = self._vector(hypothesis)
            results.append(10.0 * sum(self._similarity(vector, ref) for ref in cache[key]) / len(refs))
        return results
