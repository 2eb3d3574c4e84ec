"""OFA's position machinery: relative-position bucket tables and absolute-position attention bias.

OFA adds positions to attention scores, not to token embeddings:

- an absolute bias ``(q_lin(LN(pos)) * s) @ k_lin(LN(pos))^T`` per head, with
  ``s = (D / H * attn_scale_factor) ** -0.5``;
- a learned relative bias per layer, looked up through bucket tables: 1-D log buckets for
  text tokens, 2-D (row, column) offsets for image patches.

The bucket tables are registered as buffers (``token_rp_bucket``, ``image_rp_bucket``) so
that checkpoints carry them; the functions here build the same tables for new models.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


# OFA builds its text bucket tables for 1024 positions whatever ``max_source_positions`` /
# ``max_target_positions`` say, so checkpoints always carry ``[1024, 1024]`` tables.
BUCKET_TABLE_POSITIONS = 1024
# OFA's decoder code-position index: position 0, the code grid, then this many entries of
# this value, whatever the model's sizes (the buffer is 1026 long for 128 px code images).
CODE_INDEX_FILL_COUNT = 769
CODE_INDEX_FILL_VALUE = 1024


def token_bucket_table(bucket_size: int, max_position: int = BUCKET_TABLE_POSITIONS) -> Tensor:
    """Relative-position buckets for text, ``[max_position, max_position]`` of ids in ``[0, 2*bucket_size-1)``.

    Offsets ``d = i - j`` with ``|d| <= bucket_size // 2`` keep their own bucket; larger
    offsets share logarithmically spaced buckets up to ``max_position``.
    """
    half = bucket_size // 2
    offset = torch.arange(max_position)[:, None] - torch.arange(max_position)[None, :]
    distance = offset.abs()
    # Distances inside the exact range are clamped only to keep the log finite; they are not
    # used. float32 arithmetic, as in OFA, so bucket boundaries fall where its checkpoints expect.
    far = distance.clamp(min=half - 1).to(torch.float32)
    log_bucket = torch.ceil(torch.log(far / half) / math.log((max_position - 1) / half) * (half - 1)) + half
    bucket = torch.where(distance <= half, offset, log_bucket.long() * offset.sign())
    return bucket + bucket_size - 1


def image_bucket_table(bucket_size: int) -> Tensor:
    """Relative-position buckets for a ``bucket_size x bucket_size`` patch grid.

    Returns ``[bucket_size**2 + 1, bucket_size**2 + 1]``: entry ``[1 + p, 1 + q]`` indexes the
    2-D offset between patches ``p`` and ``q`` (row-major); row 0 and column 0 belong to a
    special position 0 and use the last three of the ``(2*bucket_size-1)**2 + 3`` buckets.
    """
    span = 2 * bucket_size - 1
    num_buckets = span * span + 3
    rows, cols = torch.meshgrid(torch.arange(bucket_size), torch.arange(bucket_size), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    d_row = rows[:, None] - rows[None, :] + bucket_size - 1
    d_col = cols[:, None] - cols[None, :] + bucket_size - 1
    table = torch.empty(bucket_size**2 + 1, bucket_size**2 + 1, dtype=torch.long)
    table[1:, 1:] = d_row * span + d_col
    table[0, :] = num_buckets - 3
    table[:, 0] = num_buckets - 2
    table[0, 0] = num_buckets - 1
    return table


def num_token_buckets(bucket_size: int) -> int:
    """Rows of a text relative-position table."""
    return 2 * bucket_size - 1


def num_image_buckets(bucket_size: int) -> int:
    """Rows of an image relative-position table."""
    return (2 * bucket_size - 1) ** 2 + 3


def image_position_ids(height: int, width: int, bucket_size: int, device: torch.device | None = None) -> Tensor:
    """Position ids ``1 + row * bucket_size + col`` of a ``height x width`` patch grid, row-major."""
    rows = torch.arange(height, device=device)[:, None]
    cols = torch.arange(width, device=device)[None, :]
    return (1 + rows * bucket_size + cols).flatten()


def code_position_index(code_image_size: int, bucket_size: int) -> Tensor:
    """The decoder's ``image_position_idx`` buffer: image-position ids of generated image codes.

    ``[0]``, then the ids of a ``code_image_size // 8`` square grid (row-major), then
    :data:`CODE_INDEX_FILL_COUNT` copies of :data:`CODE_INDEX_FILL_VALUE`, as in OFA's checkpoints.
    """
    window = code_image_size // 8
    return torch.cat([
        torch.zeros(1, dtype=torch.long),
        image_position_ids(window, window, bucket_size),
        torch.full((CODE_INDEX_FILL_COUNT,), CODE_INDEX_FILL_VALUE, dtype=torch.long),
    ])


def relative_bias(table: nn.Embedding, buckets: Tensor) -> Tensor:
    """Look up a relative bias ``[1, H, Tq, Tk]`` from a per-layer table and a bucket matrix ``[Tq, Tk]``."""
    return table(buckets).permute(2, 0, 1).unsqueeze(0)


def absolute_bias(
    q_linear: nn.Linear, k_linear: nn.Linear, query_pos: Tensor, key_pos: Tensor, num_heads: int, scaling: float
) -> Tensor:
    """Attention bias ``[b, H, Tq, Tk]`` from layer-normalised position embeddings ``[b, Tq, D]``, ``[b, Tk, D]``."""
    q = _split_heads(q_linear(query_pos), num_heads) * scaling
    k = _split_heads(k_linear(key_pos), num_heads)
    return q @ k.transpose(-1, -2)


def _split_heads(x: Tensor, num_heads: int) -> Tensor:
    batch, length, dim = x.shape
    return x.view(batch, length, num_heads, dim // num_heads).transpose(1, 2)
