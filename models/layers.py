"""OFA's pre-LN transformer layers with NormFormer options (``--scale-attn``, ``--scale-fc``,
``--scale-heads``, ``--scale-resids``) and drop path. Names and shapes equal OFA's.

Decoder layers can run a subset of their tokens (``active``): every token still gets its
keys and values at this layer (from the hidden state it carries, which for an exited token
is the hidden state it exited with), so the key/value cache stays complete for later
tokens, while queries, attention and the feed-forward block run only for the batch rows
that still have an active token (active-set compaction); an exited token costs only its
key/value projection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from fairseq import utils as fairseq_utils
from timm.layers import DropPath
from torch import Tensor, nn

from .attention import OFAAttention


@dataclass(frozen=True)
class LayerOptions:
    """The architecture options a layer needs (a view of the model config)."""

    embed_dim: int
    ffn_dim: int
    num_heads: int
    dropout: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    activation_fn: str = "gelu"
    attn_scale_factor: float = 2.0
    scale_attn: bool = False
    scale_fc: bool = False
    scale_heads: bool = False
    scale_resids: bool = False


def _optional_norm(enabled: bool, dim: int) -> Optional[nn.LayerNorm]:
    return nn.LayerNorm(dim) if enabled else None


class _LayerBase(nn.Module):
    """Parts shared by encoder and decoder layers: FFN, dropouts, residual with drop path."""

    def __init__(self, opts: LayerOptions, drop_path_rate: float):
        super().__init__()
        self.fc1 = nn.Linear(opts.embed_dim, opts.ffn_dim)
        self.fc2 = nn.Linear(opts.ffn_dim, opts.embed_dim)
        self.ffn_layernorm = _optional_norm(opts.scale_fc, opts.ffn_dim)
        self.final_layer_norm = nn.LayerNorm(opts.embed_dim)
        self.w_resid = nn.Parameter(torch.ones(opts.embed_dim)) if opts.scale_resids else None
        self.activation_fn: Callable[[Tensor], Tensor] = fairseq_utils.get_activation_fn(opts.activation_fn)
        self.dropout = nn.Dropout(opts.dropout)
        self.activation_dropout = nn.Dropout(opts.activation_dropout)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def residual(self, branch: Tensor, residual: Tensor) -> Tensor:
        """``residual + drop_path(dropout(branch))`` (both are identities at inference)."""
        if self.training:
            branch = self.drop_path(self.dropout(branch))
        return residual + branch

    def feed_forward_block(self, x: Tensor) -> Tensor:
        """Pre-LN FFN with its residual connection."""
        h = self.activation_fn(self.fc1(self.final_layer_norm(x)))
        if self.training:
            h = self.activation_dropout(h)
        if self.ffn_layernorm is not None:
            h = self.ffn_layernorm(h)
        residual = x if self.w_resid is None else x * self.w_resid
        return self.residual(self.fc2(h), residual)


def _norm_if(norm: Optional[nn.LayerNorm], x: Tensor) -> Tensor:
    return x if norm is None else norm(x)


class OFAEncoderLayer(_LayerBase):
    """Pre-LN self-attention + FFN encoder layer."""

    def __init__(self, opts: LayerOptions, drop_path_rate: float = 0.0):
        super().__init__(opts, drop_path_rate)
        self.self_attn = OFAAttention(
            opts.embed_dim,
            opts.num_heads,
            dropout=opts.attention_dropout,
            scale_factor=opts.attn_scale_factor,
            scale_heads=opts.scale_heads,
        )
        self.self_attn_layer_norm = nn.LayerNorm(opts.embed_dim)
        self.attn_ln = _optional_norm(opts.scale_attn, opts.embed_dim)

    def forward(self, x: Tensor, attn_bias: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
        """``x [B, T, D]``, ``attn_bias [1|B, H, T, T]``, ``padding_mask [B, T]`` -> ``[B, T, D]``."""
        h = self.self_attn_layer_norm(x)
        k, v = self.self_attn.project_kv(h)
        heads = self.self_attn.attend(self.self_attn.q_proj(h), k, v, attn_bias, padding_mask)
        x = self.residual(_norm_if(self.attn_ln, self.self_attn.project_out(heads)), x)
        return self.feed_forward_block(x)


class OFADecoderLayer(_LayerBase):
    """Pre-LN self-attention + cross-attention + FFN decoder layer."""

    def __init__(self, opts: LayerOptions, drop_path_rate: float = 0.0):
        super().__init__(opts, drop_path_rate)
        attn_kwargs = dict(
            dropout=opts.attention_dropout, scale_factor=opts.attn_scale_factor, scale_heads=opts.scale_heads
        )
        self.self_attn = OFAAttention(opts.embed_dim, opts.num_heads, **attn_kwargs)
        self.self_attn_ln = _optional_norm(opts.scale_attn, opts.embed_dim)
        self.self_attn_layer_norm = nn.LayerNorm(opts.embed_dim)
        self.encoder_attn = OFAAttention(opts.embed_dim, opts.num_heads, **attn_kwargs)
        self.cross_attn_ln = _optional_norm(opts.scale_attn, opts.embed_dim)
        self.encoder_attn_layer_norm = nn.LayerNorm(opts.embed_dim)

    def self_key_value(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """This layer's self-attention keys/values ``[B, H, T, d]`` for tokens whose input is ``x``."""
        return self.self_attn.project_kv(self.self_attn_layer_norm(x))

    def cross_key_value(self, encoder_out: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention keys/values ``[B, H, S, d]`` of the encoder output."""
        return self.encoder_attn.project_kv(encoder_out)

    def forward(
        self,
        x: Tensor,
        *,
        self_attn_bias: Tensor,
        cross_key_value: tuple[Tensor, Tensor],
        cross_attn_bias: Tensor,
        cross_padding_mask: Optional[Tensor],
        self_padding_mask: Optional[Tensor] = None,
        past_key_value: Optional[tuple[Tensor, Tensor]] = None,
        active: Optional[Tensor] = None,
        return_key_value: bool = True,
    ) -> tuple[Tensor, Optional[tuple[Tensor, Tensor]]]:
        """Run the layer on ``x [B, T, D]``.

        ``self_attn_bias [1|B, H, T, P+T]`` covers ``P`` cached positions (``past_key_value``,
        ``[B, H, P, d]`` each) and the ``T`` new ones, causal masking included.
        ``active [B, T]`` (bool) selects the tokens that run the layer; the others pass
        through unchanged, and rows without an active token are left out of the computation.
        Tokens of rows with several positions are packed, so exited tokens skip queries and
        the feed-forward block. Returns the new hidden states and the keys/values of the
        ``T`` new positions of every token, for the caller's cache (``None`` with
        ``return_key_value=False``, when there is no cache to fill).
        """
        rows = None if active is None else active.any(dim=1).nonzero().squeeze(1)
        pick = _RowPicker(rows, x.size(0))
        if return_key_value:  # every row's keys/values, for the caller's cache
            h = self.self_attn_layer_norm(x)
            key, value = self.self_attn.project_kv(h)
            new_key_value: Optional[tuple[Tensor, Tensor]] = (key, value)
            if past_key_value is not None:
                key = torch.cat([past_key_value[0], key], dim=2)
                value = torch.cat([past_key_value[1], value], dim=2)
            h, key, value = pick(h), pick(key), pick(value)
        else:  # no cache to fill: only the rows that run the layer need keys and values
            h = self.self_attn_layer_norm(pick(x))
            key, value = self.self_attn.project_kv(h)
            new_key_value = None
            if past_key_value is not None:
                key = torch.cat([pick(past_key_value[0]), key], dim=2)
                value = torch.cat([pick(past_key_value[1]), value], dim=2)

        y = pick(x)
        cross_key, cross_value = cross_key_value
        attention = (key, value, pick(self_attn_bias), pick(self_padding_mask), pick(cross_key), pick(cross_value),
                     pick(cross_attn_bias), pick(cross_padding_mask))
        tokens = None if active is None else pick(active)
        if tokens is not None and x.size(1) > 1 and not bool(tokens.all()):
            # several positions per row (teacher forcing, a prompt): only the running tokens
            y = self._run_tokens(y, h, tokens, *attention)
            return x.index_copy(0, rows, y), new_key_value
        y = self._run_dense(y, h, *attention)
        if active is None:
            return y, new_key_value
        y = torch.where(tokens.unsqueeze(-1), y, pick(x))
        return x.index_copy(0, rows, y), new_key_value

    def _run_dense(self, y: Tensor, h: Tensor, key: Tensor, value: Tensor, self_bias: Tensor,
                   self_padding: Optional[Tensor], cross_key: Tensor, cross_value: Tensor, cross_bias: Tensor,
                   cross_padding: Optional[Tensor]) -> Tensor:
        """Queries, attention and feed-forward for every token of ``y [R, T, D]``."""
        heads = self.self_attn.attend(self.self_attn.q_proj(h), key, value, self_bias, self_padding)
        y = self.residual(_norm_if(self.self_attn_ln, self.self_attn.project_out(heads)), y)
        heads = self.encoder_attn.attend(
            self.encoder_attn.q_proj(self.encoder_attn_layer_norm(y)), cross_key, cross_value, cross_bias, cross_padding
        )
        y = self.residual(_norm_if(self.cross_attn_ln, self.encoder_attn.project_out(heads)), y)
        return self.feed_forward_block(y)

    def _run_tokens(self, x: Tensor, h: Tensor, tokens: Tensor, key: Tensor, value: Tensor, self_bias: Tensor,
                    self_padding: Optional[Tensor], cross_key: Tensor, cross_value: Tensor, cross_bias: Tensor,
                    cross_padding: Optional[Tensor]) -> Tensor:
        """The same for the tokens ``tokens [R, T]`` of ``x [R, T, D]`` only, packed to ``[N, D]``;
        the others keep their states. Attention runs on the rows' full query grids (zero
        queries where a token does not run); every other step on the packed tokens."""
        grid = TokenGrid(tokens)
        heads = self.self_attn.attend(grid.spread(self.self_attn.q_proj(grid.pack(h))), key, value, self_bias,
                                      self_padding)
        y = self.residual(_norm_if(self.self_attn_ln, self.self_attn.project_out(grid.pack(heads))), grid.pack(x))
        query = grid.spread(self.encoder_attn.q_proj(self.encoder_attn_layer_norm(y)))
        heads = self.encoder_attn.attend(query, cross_key, cross_value, cross_bias, cross_padding)
        y = self.residual(_norm_if(self.cross_attn_ln, self.encoder_attn.project_out(grid.pack(heads))), y)
        return grid.spread(self.feed_forward_block(y), into=x)


class TokenGrid:
    """The running tokens ``[R, T]`` (bool) of a grid of per-token values ``[R, T, ...]``,
    packed by one set of flat indices (``index``, the running tokens' flat ids, found once,
    so each packing is one ``index_select``)."""

    def __init__(self, tokens: Tensor):
        self.shape = tokens.shape
        self.index = tokens.flatten().nonzero().squeeze(1)

    def pack(self, grid: Tensor) -> Tensor:
        """``[R, T, ...]`` -> the running tokens' ``[N, ...]``."""
        return grid.flatten(0, 1).index_select(0, self.index)

    def spread(self, packed: Tensor, into: Optional[Tensor] = None) -> Tensor:
        """``[N, D]`` -> ``[R, T, D]``: onto ``into`` (a copy), or onto zeros."""
        base = packed.new_zeros(self.shape.numel(), packed.size(-1)) if into is None else into.flatten(0, 1)
        return base.index_copy(0, self.index, packed).view(*self.shape, packed.size(-1))


def select_rows(t: Optional[Tensor], rows: Tensor, batch: int) -> Optional[Tensor]:
    """Rows ``rows`` of a per-row tensor of a ``batch``; broadcast tensors (a scalar, or leading
    dim 1 in a larger batch) and None pass through."""
    if t is None or t.dim() == 0 or (t.size(0) == 1 and batch != 1):
        return t
    return t.index_select(0, rows)


class _RowPicker:
    """:func:`select_rows` of the running rows; passes everything through when all rows run."""

    def __init__(self, rows: Optional[Tensor], batch: int):
        self.rows = rows if rows is not None and rows.numel() < batch else None
        self.batch = batch

    def __call__(self, t: Optional[Tensor]) -> Optional[Tensor]:
        return t if self.rows is None else select_rows(t, self.rows, self.batch)
