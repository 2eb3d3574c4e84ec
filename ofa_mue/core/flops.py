"""FLOPs of one example, counted from shapes: what a user's compute bill follows.

The paper's expected time reduction weighs the encoder and the decoder equally whatever
each costs. This module counts the floating-point operations (two per multiply-add) that
the matrix products of one example need, part by part, from the layers it used
(:class:`~ofa_mue.core.time_reduction.ExampleLayers`) and the model's shapes:

- ``image_embedding``: the ResNet (counted by :class:`torch.utils.flop_counter.FlopCounterMode`
  on shape-only tensors for the task's image size) and the projection of its features;
- ``image_stream`` / ``text_stream``: the encoder layers each stream ran, for the
  example's own (non-padding) tokens (a joint, not decomposed, encoder is one stream of
  both, counted under ``text_stream``);
- ``decoder_layers``: per processed decoder token, the layers it ran (queries, attention
  over its keys and the encoder's tokens, feed-forward), the keys/values every layer
  still projects for it (state propagation: every layer when a cache is kept, else as
  deep as its row runs), and the encoder's keys/values of each decoder row (beam or
  candidate) up to the deepest layer the example's tokens ran;
- ``exit_tests``: the cosine-similarity tests (three dot products of the state width per
  token and test; for an encoder stream, over its tokens); a decoder test of the entropy or
  patience rule projects the token to the vocabulary instead, as ``output_projection`` does;
- ``output_projection``: the projection of every processed decoder token to the vocabulary.

An ensemble (``--path a.pt:b.pt``) runs every model: the encoder's parts and each decoder
row's encoder keys/values are counted once per model (``ExampleLayers.models``); the decoder's
own counts already hold every model's calls.

Left out: layer norms, softmax, activations, position-bias tables, beam search (elementwise
work, a few percent at most). A layer's count for a token is what that token needs: the
packed teacher-forced path also attends with zero queries for exited tokens of rows that
still run, which is not counted.

:func:`flops_summary` gives the means over a split and the FLOPs reduction against the
same examples at full depth (same tokens, every layer, no exit tests).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Iterable, List

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from .time_reduction import ExampleLayers

PARTS = ("image_embedding", "image_stream", "text_stream", "decoder_layers", "exit_tests", "output_projection")


def encoder_layer_flops(dim: int, ffn: int, tokens: int) -> int:
    """One encoder layer over a stream of ``tokens`` tokens: q/k/v/out projections,
    attention scores and weighted values, feed-forward."""
    return tokens * (8 * dim * dim + 4 * dim * ffn) + 4 * tokens * tokens * dim


def decoder_layer_flops(dim: int, ffn: int, keys: int, source: int) -> int:
    """One decoder layer for one running token with ``keys`` self-attention keys and
    ``source`` encoder tokens, without its own keys/values (:func:`key_value_flops`):
    self and cross query/output projections, both attentions, feed-forward."""
    return 8 * dim * dim + 4 * dim * ffn + 4 * dim * (keys + source)


def key_value_flops(dim: int) -> int:
    """Keys and values of one token at one layer."""
    return 4 * dim * dim


def similarity_test_flops(dim: int, tokens: int = 1) -> int:
    """One cosine-similarity exit test over ``tokens`` states: a dot product and two norms."""
    return 6 * dim * tokens


def prediction_test_flops(dim: int, vocab: int) -> int:
    """One decoder exit test of the entropy or patience rule: the token's projection to the vocabulary."""
    return 2 * dim * vocab


@lru_cache(maxsize=16)
def _image_embedding_flops(module: nn.Module, image_size: int) -> int:
    state = {name: torch.empty_like(t, device="meta")
             for name, t in [*module.named_parameters(), *module.named_buffers()]}
    with FlopCounterMode(display=False) as counter:
        functional_call(module, state, (torch.empty(1, 3, image_size, image_size, device="meta"),))
    return counter.get_total_flops()


def image_embedding_flops(module: nn.Module, image_size: int) -> int:
    """FLOPs of the image backbone ``module`` on one ``image_size`` square image, counted by
    torch's FLOP counter on shape-only (meta) tensors: nothing is computed."""
    return _image_embedding_flops(module, int(image_size))


@dataclass(frozen=True)
class ModelShape:
    """The shapes the counts need: widths, depths, vocabulary, and the image backbone's FLOPs
    for the task's image size."""

    dim: int
    ffn: int
    encoder_layers: int
    decoder_layers: int
    vocab: int
    image_channels: int
    decomposed: bool
    backbone_flops: int

    @classmethod
    def of(cls, model, image_size: int) -> "ModelShape":
        """The shape of an OFA ``model`` for square images of ``image_size`` pixels."""
        encoder, decoder = model.encoder, model.decoder
        return cls(
            dim=encoder.embed_tokens.embedding_dim,
            ffn=encoder.layers[0].fc1.out_features,
            encoder_layers=encoder.num_layers,
            decoder_layers=decoder.num_layers,
            vocab=decoder.output_projection.out_features,
            image_channels=encoder.image_proj.in_features,
            decomposed=encoder.decompose_modalities,
            backbone_flops=image_embedding_flops(encoder.embed_images, image_size),
        )


def example_flops(shape: ModelShape, example: ExampleLayers) -> Dict[str, int]:
    """FLOPs of one example by part (:data:`PARTS`), with their ``total``."""
    d, f = shape.dim, shape.ffn
    images, texts = example.image_tokens, example.text_tokens
    parts = dict.fromkeys(PARTS, 0)
    if images:
        parts["image_embedding"] = shape.backbone_flops + 2 * images * shape.image_channels * d
    if shape.decomposed:
        parts["image_stream"] = example.image_layers * encoder_layer_flops(d, f, images)
        parts["text_stream"] = example.text_layers * encoder_layer_flops(d, f, texts)
    else:
        parts["text_stream"] = example.text_layers * encoder_layer_flops(d, f, images + texts)
    source = images + texts
    per_layer_run = 8 * d * d + 4 * d * f  # decoder_layer_flops without the attention's length terms
    parts["decoder_layers"] = (
        example.decoder_layer_sum * (per_layer_run + 4 * d * source)
        + 4 * d * example.decoder_key_layer_sum
        + key_value_flops(d) * example.decoder_kv_layer_sum
        + example.models * example.decoder_rows * example.decoder_deepest * source * key_value_flops(d)
    )
    similarity_tests = example.decoder_tests - example.decoder_prediction_tests
    parts["exit_tests"] = (similarity_test_flops(d, images) * example.image_tests
                           + similarity_test_flops(d, texts) * example.text_tests
                           + similarity_test_flops(d) * similarity_tests
                           + prediction_test_flops(d, shape.vocab) * example.decoder_prediction_tests)
    parts["output_projection"] = 2 * d * shape.vocab * example.decoder_tokens
    for part in ("image_embedding", "image_stream", "text_stream"):  # every model of an ensemble encodes
        parts[part] *= example.models
    parts["total"] = sum(parts.values())
    return parts


def at_full_depth(shape: ModelShape, example: ExampleLayers) -> ExampleLayers:
    """The same example (same tokens and decoder rows) run through every layer with no exit test."""
    encoder, decoder = shape.encoder_layers, shape.decoder_layers
    return ExampleLayers(
        image_layers=encoder if example.image_tokens else example.image_layers,
        image_tokens=example.image_tokens,
        text_layers=encoder if example.text_tokens else example.text_layers,
        text_tokens=example.text_tokens,
        decoder_layer_sum=decoder * example.decoder_tokens,
        decoder_tokens=example.decoder_tokens,
        decoder_key_sum=example.decoder_key_sum,
        decoder_key_layer_sum=decoder * example.decoder_key_sum,
        decoder_kv_layer_sum=decoder * example.decoder_tokens,
        decoder_rows=example.decoder_rows,
        decoder_deepest=decoder if example.decoder_tokens else 0,
        models=example.models,
    )


def flops_summary(shape: ModelShape, examples: Iterable[ExampleLayers]) -> Dict[str, object]:
    """Mean GFLOPs per example by part as run and at full depth, and the FLOPs reduction
    ``1 - sum(run) / sum(full depth)`` over the examples."""
    examples = list(examples)
    if not examples:
        raise ValueError("FLOPs of an empty set of examples")
    used: List[Dict[str, int]] = [example_flops(shape, e) for e in examples]
    full: List[Dict[str, int]] = [example_flops(shape, at_full_depth(shape, e)) for e in examples]

    def mean_gflops(counts: List[Dict[str, int]]) -> Dict[str, float]:
        return {part: sum(c[part] for c in counts) / len(counts) / 1e9 for part in (*PARTS, "total")}

    used_mean, full_mean = mean_gflops(used), mean_gflops(full)
    return {
        "gflops_per_example": used_mean["total"],
        "full_depth_gflops_per_example": full_mean["total"],
        "flops_reduction": 1.0 - used_mean["total"] / full_mean["total"] if full_mean["total"] else 0.0,
        "parts_gflops": {part: used_mean[part] for part in PARTS},
        "full_depth_parts_gflops": {part: full_mean[part] for part in PARTS},
    }
