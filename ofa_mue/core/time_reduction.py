"""The expected time reduction rate of MuE, and the layer counts behind it.

For one example the MuE paper defines the share of the full model's time that is spent as

    (n_E / N_E + sum_i w_i n_D,i / sum_i w_i N_D) / 2

where ``N_E``/``N_D`` are the encoder/decoder depths, ``n_E`` the encoder layers used and
``n_D,i`` the decoder layers used by decoder token ``i``. The expected time reduction rate
is one minus its mean over the examples of a split.

How the terms are counted here:

- Encoder: with a modality-decomposed encoder the image and the text stream stop at
  their own depths; ``n_E`` is their mean weighted by the number of (non-padding) tokens
  in each stream, so a 900-patch image stream counts for what it costs.
- Decoder: every token the decoder processes counts with weight ``w_i = 1`` (all beams
  and steps of a generation; for teacher-forced scoring, every scored position of every
  candidate), so the decoder term is the mean layer count per processed token over ``N_D``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List


@dataclass
class ExampleLayers:
    """Layers one example used: per encoder stream, and summed over its decoder tokens.

    The fields after ``decoder_tokens`` are what the FLOPs count (:mod:`ofa_mue.core.flops`)
    needs beyond the layer counts: the decoder tokens' self-attention keys (summed, and
    weighted by the layers each token ran), the layers that projected keys/values for them,
    the example's decoder rows (beams, candidates) and its deepest decoder token, and the
    exit tests run (per encoder stream; summed over decoder tokens).
    """

    image_layers: int
    image_tokens: int
    text_layers: int
    text_tokens: int
    decoder_layer_sum: int = 0
    decoder_tokens: int = 0
    decoder_key_sum: int = 0
    decoder_key_layer_sum: int = 0
    decoder_kv_layer_sum: int = 0
    decoder_rows: int = 0
    decoder_deepest: int = 0
    image_tests: int = 0
    text_tests: int = 0
    decoder_tests: int = 0

    def encoder_layers(self) -> float:
        """Token-weighted mean encoder depth of the two streams."""
        tokens = self.image_tokens + self.text_tokens
        if tokens == 0:
            return 0.0
        return (self.image_layers * self.image_tokens + self.text_layers * self.text_tokens) / tokens

    def decoder_layers(self) -> float:
        """Mean decoder layers per processed token."""
        return self.decoder_layer_sum / self.decoder_tokens if self.decoder_tokens else 0.0


def time_share(example: ExampleLayers, encoder_depth: int, decoder_depth: int) -> float:
    """The paper's ``(n_E/N_E + n_D/N_D) / 2`` for one example: 1.0 for the full model."""
    encoder = example.encoder_layers() / encoder_depth
    decoder = example.decoder_layers() / decoder_depth if example.decoder_tokens else 1.0
    return (encoder + decoder) / 2


def expected_time_reduction(examples: Iterable[ExampleLayers], encoder_depth: int, decoder_depth: int) -> float:
    """``1 - mean(time_share)`` over the examples (0.0 for the full model)."""
    shares = [time_share(example, encoder_depth, decoder_depth) for example in examples]
    if not shares:
        raise ValueError("expected time reduction of an empty set of examples")
    return 1.0 - sum(shares) / len(shares)


@dataclass
class LayerUsageSummary:
    """Mean layers per example and the expected time reduction rate of a split."""

    examples: int
    image_layers: float
    text_layers: float
    decoder_layers: float
    expected_time_reduction: float
    encoder_depth: int
    decoder_depth: int
    per_example: List[Dict[str, float]] = field(default_factory=list, repr=False)

    def as_dict(self) -> Dict[str, float]:
        """The summary without the per-example list (for metrics files)."""
        return {
            "examples": self.examples,
            "image_layers": self.image_layers,
            "text_layers": self.text_layers,
            "decoder_layers": self.decoder_layers,
            "expected_time_reduction": self.expected_time_reduction,
            "encoder_depth": self.encoder_depth,
            "decoder_depth": self.decoder_depth,
        }


def summarize(examples: List[ExampleLayers], encoder_depth: int, decoder_depth: int) -> LayerUsageSummary:
    """Means over ``examples`` (image/text means over examples that have that stream)."""
    if not examples:
        raise ValueError("no examples to summarize")

    def mean(values: List[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return LayerUsageSummary(
        examples=len(examples),
        image_layers=mean([e.image_layers for e in examples if e.image_tokens]),
        text_layers=mean([e.text_layers for e in examples if e.text_tokens]),
        decoder_layers=mean([e.decoder_layers() for e in examples if e.decoder_tokens]),
        expected_time_reduction=expected_time_reduction(examples, encoder_depth, decoder_depth),
        encoder_depth=encoder_depth,
        decoder_depth=decoder_depth,
        per_example=[
            {"image_layers": e.image_layers, "text_layers": e.text_layers, "decoder_layers": e.decoder_layers(),
             "time_share": time_share(e, encoder_depth, decoder_depth)}
            for e in examples
        ],
    )
