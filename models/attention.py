"""OFA multi-head attention: separate q/k/v projections, scaled queries, additive position bias,
and NormFormer's per-head output scale (``c_attn``).

Parameter names and shapes equal OFA's (``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``,
``c_attn``). The computation is split into projection, attention and output steps so that
callers can compute keys/values for every token (to keep a decoder cache complete) while
computing queries and outputs only for the tokens that still run the layer. Setting
``recorded`` to a list makes :meth:`OFAAttention.attend` append its attention probabilities
there (a training signal on where the attention looks; the outputs are unchanged).
"""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class OFAAttention(nn.Module):
    """Multi-head attention with an additive bias ``[b, H, Tq, Tk]`` (``b`` is 1 or the batch)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        kdim: Optional[int] = None,
        dropout: float = 0.0,
        scale_factor: float = 2.0,
        scale_heads: bool = False,
    ):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scaling = (self.head_dim * scale_factor) ** -0.5
        self.dropout = dropout
        kdim = kdim or embed_dim
        self.k_proj = nn.Linear(kdim, embed_dim)
        self.v_proj = nn.Linear(kdim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.c_attn = nn.Parameter(torch.ones(num_heads)) if scale_heads else None
        self.recorded: Optional[List[Tensor]] = None
        """None, or a list that each :meth:`attend` appends its probabilities ``[B, H, Tq, Tk]`` to."""

    def split_heads(self, x: Tensor) -> Tensor:
        """``[B, T, D]`` -> ``[B, H, T, d]``."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def project_kv(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values ``[B, H, T, d]`` of a (normalised) input ``[B, T, D]``."""
        return self.split_heads(self.k_proj(x)), self.split_heads(self.v_proj(x))

    def attend(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        bias: Optional[Tensor],
        key_padding_mask: Optional[Tensor],
    ) -> Tensor:
        """Attention of projected queries ``[B, Tq, D]`` over keys/values ``[B, H, Tk, d]``.

        ``bias`` is added to the scaled scores; ``key_padding_mask`` (``True`` = padding) removes
        keys. Returns the heads merged back to ``[B, Tq, D]``, before the output projection.
        """
        mask = bias
        if key_padding_mask is not None:
            blocked = key_padding_mask[:, None, None, :]
            allowed = torch.zeros((), dtype=query.dtype, device=query.device) if mask is None else mask
            # A large finite value rather than -inf: a row with every key masked (an image-less
            # sample in a decomposed image stream) then gives finite, ignorable outputs, not NaN.
            mask = torch.where(blocked, torch.finfo(query.dtype).min, allowed)
        if self.recorded is not None:  # the probabilities scaled_dot_product_attention uses, before dropout
            scores = (self.split_heads(query) * self.scaling) @ key.transpose(-1, -2)
            self.recorded.append((scores if mask is None else scores + mask).softmax(-1))
        out = F.scaled_dot_product_attention(
            self.split_heads(query),
            key,
            value,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            scale=self.scaling,
        )
        batch, _, length, _ = out.shape
        return out.transpose(1, 2).reshape(batch, length, self.embed_dim)

    def project_out(self, heads: Tensor) -> Tensor:
        """Per-head scale (NormFormer) then output projection, for ``[..., D]`` merged heads."""
        if self.c_attn is not None:
            shape = heads.shape
            heads = (heads.view(*shape[:-1], self.num_heads, self.head_dim) * self.c_attn[:, None]).view(shape)
        return self.out_proj(heads)
