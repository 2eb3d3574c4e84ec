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
- Decoder: every position the decoder processes counts with weight ``w_i = 1``, so the
  decoder term is the mean layer count per processed position over ``N_D``. In generation
  that is every step of every beam hypothesis. In SNLI-VE's teacher-forced scoring it is
  every non-padding position of every candidate's row: the decoder prompt (OFA's
  ``prev_output``: the source text without eos) and the answer, once per candidate.
- No decoder position counted (an example whose exit session recorded no decoder call,
  e.g. an encoder-only pass, or a scored-positions count of zero): the decoder term is
  1.0, the full model's, so no decoder saving is claimed for work that was not observed
  and the reduction is never overstated; the encoder term still counts. (The mean decoder
  depth, :meth:`ExampleLayers.decoder_layers`, is 0.0 for such an example, and the split's
  mean decoder depth in :func:`summarize` leaves it out.)

The paper does not say which decoder positions count when answers are scored rather than
generated, so a second figure is reported beside it: the *scored-positions* variant
(``expected_time_reduction_scored_positions``), whose decoder term counts only the
positions whose output is scored (the last prompt position, which predicts the answer's
first token, and the answer's positions, which predict the rest and eos). In generation
every processed position is scored, so the two figures are equal. The first is the main
figure, the paper's definition applied to all the work the decoder does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple


@dataclass
class ExampleLayers:
    """Layers one example used: per encoder stream, and summed over its decoder tokens.

    ``decoder_scored_*``: the same sums over the scored positions only (teacher-forced
    scoring; see the module docstring). The fields after them are what the FLOPs count (:mod:`ofa_mue.core.flops`)
    needs beyond the layer counts: the decoder tokens' self-attention keys (summed, and
    weighted by the layers each token ran), the layers that projected keys/values for them,
    the example's decoder rows (beams, candidates) and its deepest decoder token, and the
    exit tests run (per encoder stream; summed over decoder tokens; and, of the decoder's, those
    that project the token to the vocabulary).
    """

    image_layers: int
    image_tokens: int
    text_layers: int
    text_tokens: int
    decoder_layer_sum: int = 0
    decoder_tokens: int = 0
    decoder_scored_layer_sum: Optional[int] = None  # None: every processed position is scored
    decoder_scored_tokens: Optional[int] = None
    decoder_key_sum: int = 0
    decoder_key_layer_sum: int = 0
    decoder_kv_layer_sum: int = 0
    decoder_rows: int = 0
    decoder_deepest: int = 0
    image_tests: int = 0
    text_tests: int = 0
    decoder_tests: int = 0
    decoder_prediction_tests: int = 0  # those of decoder_tests that project to the vocabulary (entropy, patience)
    models: int = 1  # an ensemble's size: the encoder fields are one model's, the decoder sums every model's calls

    def encoder_layers(self) -> float:
        """Token-weighted mean encoder depth of the two streams."""
        tokens = self.image_tokens + self.text_tokens
        if tokens == 0:
            return 0.0
        return (self.image_layers * self.image_tokens + self.text_layers * self.text_tokens) / tokens

    def decoder_layers(self, scored_positions: bool = False) -> float:
        """Mean decoder layers per processed position (per scored position with ``scored_positions``)."""
        layer_sum, tokens = self.decoder_sums(scored_positions)
        return layer_sum / tokens if tokens else 0.0

    def decoder_sums(self, scored_positions: bool = False) -> Tuple[int, int]:
        """Decoder layers summed over the counted positions, and their number."""
        if scored_positions and self.decoder_scored_tokens is not None:
            return self.decoder_scored_layer_sum or 0, self.decoder_scored_tokens
        return self.decoder_layer_sum, self.decoder_tokens


def time_share(example: ExampleLayers, encoder_depth: int, decoder_depth: int,
               scored_positions: bool = False) -> float:
    """The paper's ``(n_E/N_E + n_D/N_D) / 2`` for one example: 1.0 for the full model.
    ``scored_positions``: the decoder term over scored positions only (module docstring).
    With no decoder position counted, ``n_D/N_D`` is 1.0: no decoder saving is claimed."""
    encoder = example.encoder_layers() / encoder_depth
    counted = example.decoder_sums(scored_positions)[1]
    decoder = example.decoder_layers(scored_positions) / decoder_depth if counted else 1.0
    return (encoder + decoder) / 2


def expected_time_reduction(examples: Iterable[ExampleLayers], encoder_depth: int, decoder_depth: int,
                            scored_positions: bool = False) -> float:
    """``1 - mean(time_share)`` over the examples (0.0 for the full model)."""
    shares = [time_share(example, encoder_depth, decoder_depth, scored_positions) for example in examples]
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
    decoder_layers_scored_positions: float = 0.0
    expected_time_reduction_scored_positions: float = 0.0
    per_example: List[Dict[str, float]] = field(default_factory=list, repr=False)

    def as_dict(self) -> Dict[str, float]:
        """The summary without the per-example list (for metrics files)."""
        return {
            "examples": self.examples,
            "image_layers": self.image_layers,
            "text_layers": self.text_layers,
            "decoder_layers": self.decoder_layers,
            "expected_time_reduction": self.expected_time_reduction,
            "decoder_layers_scored_positions": self.decoder_layers_scored_positions,
            "expected_time_reduction_scored_positions": self.expected_time_reduction_scored_positions,
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
        decoder_layers_scored_positions=mean([e.decoder_layers(True) for e in examples if e.decoder_sums(True)[1]]),
        expected_time_reduction_scored_positions=expected_time_reduction(examples, encoder_depth, decoder_depth,
                                                                         scored_positions=True),
        per_example=[
            {"image_layers": e.image_layers, "text_layers": e.text_layers, "decoder_layers": e.decoder_layers(),
             "decoder_layers_scored_positions": e.decoder_layers(True),
             "time_share": time_share(e, encoder_depth, decoder_depth)}
            for e in examples
        ],
    )
