"""OFA's multi-head attention computed step by step: the project's split attention
(projections, ``attend``, ``project_out``) gives OFA's numbers.

OFA's ``MultiheadAttention`` scales the queries by ``(head_dim * attn_scale_factor) ** -0.5``
(factor 2 in every OFA model, not the usual ``head_dim ** -0.5``), adds the position bias to
the scores, removes padded keys, and, with NormFormer's ``--scale-heads``, multiplies each
head's output by its ``c_attn`` weight before the output projection. Every other test runs
the same attention code on both sides of its comparison, so a wrong scale or a dropped head
weight would pass them all; a checkpoint trained with OFA would silently give other outputs.
"""
from __future__ import annotations

import math

import pytest
import torch

from ofa_mue.models.attention import OFAAttention


def _by_hand(attn: OFAAttention, x, memory, bias, padding, scale_factor):
    """OFA's attention written out: per sample, per head, per query."""
    heads, head_dim = attn.num_heads, attn.embed_dim // attn.num_heads
    q, k, v = attn.q_proj(x), attn.k_proj(memory), attn.v_proj(memory)
    out = torch.zeros_like(q)
    for b in range(x.size(0)):
        for h in range(heads):
            cols = slice(h * head_dim, (h + 1) * head_dim)
            for t in range(x.size(1)):
                scores = [float(q[b, t, cols] @ k[b, s, cols]) / math.sqrt(head_dim * scale_factor)
                          + float(bias[0, h, t, s]) for s in range(memory.size(1))]
                kept = [s for s in range(memory.size(1)) if not padding[b, s]]
                top = max(scores[s] for s in kept)
                weights = {s: math.exp(scores[s] - top) for s in kept}
                total = sum(weights.values())
                head_out = sum(weights[s] / total * v[b, s, cols] for s in kept)
                scale = float(attn.c_attn[h]) if attn.c_attn is not None else 1.0
                out[b, t, cols] = scale * head_out
    return attn.out_proj(out)


@pytest.mark.parametrize("scale_factor", [2.0, 3.0])
def test_attention_scales_biases_masks_and_weights_heads_as_ofa(scale_factor):
    torch.manual_seed(0)
    attn = OFAAttention(16, 4, scale_factor=scale_factor, scale_heads=True).eval()
    with torch.no_grad():
        attn.c_attn.copy_(torch.tensor([0.5, 1.0, 1.5, 2.0]))
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    bias = torch.randn(1, 4, 3, 5)
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    with torch.no_grad():
        key, value = attn.project_kv(memory)
        ours = attn.project_out(attn.attend(attn.q_proj(x), key, value, bias, padding))
        expected = _by_hand(attn, x, memory, bias, padding, scale_factor)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_recorded_probabilities_are_the_ones_the_attention_uses():
    """``recorded``: each attend appends the probabilities it weights the values with (masked keys
    at zero, rows summing to one); the outputs are those of an unrecorded call."""
    torch.manual_seed(1)
    attn = OFAAttention(16, 4).eval()
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    bias = torch.randn(1, 4, 3, 5)
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    with torch.no_grad():
        key, value = attn.project_kv(memory)
        plain = attn.attend(attn.q_proj(x), key, value, bias, padding)
        attn.recorded = []
        recorded = attn.attend(attn.q_proj(x), key, value, bias, padding)
    assert torch.equal(plain, recorded) and len(attn.recorded) == 1
    probabilities = attn.recorded[0]
    assert probabilities.shape == (2, 4, 3, 5)
    assert probabilities[1, ..., 3:].abs().max() == 0
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(2, 4, 3))
    weighted = (probabilities @ value).transpose(1, 2).reshape(2, 3, 16)
    torch.testing.assert_close(weighted, plain, rtol=1e-5, atol=1e-6)


def test_a_width_the_heads_do_not_divide_is_refused():
    with pytest.raises(ValueError, match="embed_dim 18 is not divisible by num_heads 4"):
        OFAAttention(18, 4)
