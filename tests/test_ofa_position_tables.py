"""OFA's relative-position bucket tables and position biases, from their definitions.

OFA (models/ofa/unify_transformer.py of OFA-Sys/OFA) looks its learned relative biases up
through two tables that checkpoints carry but this model rebuilds from the options:

- text (``make_token_bucket_position``): the bucket of query i and key j depends on
  d = i - j only; with mid = bucket_size // 2, a distance |d| <= mid keeps its own bucket d, a
  larger one shares sign(d) * (mid + ceil(log(|d| / mid) / log((max_position - 1) / mid) * (mid - 1)));
  the table holds that plus bucket_size - 1, so ids run from 0 (d = -(max_position - 1)) to
  2 * bucket_size - 2 (the table's last row);
- image (``make_image_bucket_position``): patches p, q of a bucket_size-wide grid (row-major)
  take (row_p - row_q + B - 1) * (2B - 1) + (col_p - col_q + B - 1) at [1 + p, 1 + q]; row 0
  (from position 0) takes n - 3, column 0 n - 2, [0, 0] n - 1, of n = (2B - 1)^2 + 3 buckets.

The bias of a layer at [h, i, j] is its table's row bucket[i, j], column h; the absolute bias is
(q_linear(pos_i) * s) . k_linear(pos_j) per head, s = (D / H * attn_scale_factor) ** -0.5. A
bucket off by one, a table transposed (queries and keys swapped) or an unscaled bias would
pass every test that compares the model with itself; an OFA checkpoint would silently read
other biases than those it was trained with.
"""
from __future__ import annotations

import math

import torch

from ofa_mue.models.position_bias import (
    absolute_bias,
    code_position_index,
    image_bucket_table,
    relative_bias,
    token_bucket_table,
)


def _token_bucket(d: int, bucket_size: int, max_position: int) -> int:
    mid = bucket_size // 2
    if abs(d) <= mid:
        return d + bucket_size - 1
    log_bucket = mid + math.ceil(math.log(abs(d) / mid) / math.log((max_position - 1) / mid) * (mid - 1))
    return int(math.copysign(log_bucket, d)) + bucket_size - 1


def test_text_buckets_follow_ofas_definition():
    table = token_bucket_table(256)  # OFA's bucket size, over its 1024 positions
    assert table.shape == (1024, 1024)
    offsets = torch.arange(1024)[:, None] - torch.arange(1024)[None, :]
    by_offset = torch.tensor([_token_bucket(d, 256, 1024) for d in range(-1023, 1024)])
    assert torch.equal(table, by_offset[offsets + 1023])
    assert (table[0, 0], table[1, 0], table[0, 1], table[128, 0], table[129, 0]) == (255, 256, 254, 383, 384)
    assert (table.min(), table.max()) == (0, 2 * 256 - 2)  # every row of the 511-row table, no more
    small = token_bucket_table(16, 64)
    assert [int(small[d, 0]) for d in range(64)] == [_token_bucket(d, 16, 64) for d in range(64)]
    assert [int(small[0, d]) for d in range(64)] == [_token_bucket(-d, 16, 64) for d in range(64)]


def test_image_buckets_follow_ofas_definition():
    size = 4
    span, count = 2 * size - 1, (2 * size - 1) ** 2 + 3
    table = image_bucket_table(size)
    assert table.shape == (size * size + 1, size * size + 1)
    for p in range(size * size):
        for q in range(size * size):
            (row_p, col_p), (row_q, col_q) = divmod(p, size), divmod(q, size)
            assert table[1 + p, 1 + q] == (row_p - row_q + size - 1) * span + (col_p - col_q + size - 1), (p, q)
    assert torch.all(table[0, 1:] == count - 3) and torch.all(table[1:, 0] == count - 2) and table[0, 0] == count - 1
    ofa = image_bucket_table(42)  # OFA's grid: patch (0, 1) against (1, 0), and the far corners
    assert ofa[1 + 1, 1 + 42] == (0 - 1 + 41) * 83 + (1 - 0 + 41)
    assert (ofa[1, 1764], ofa[1764, 1]) == (0, 83 * 83 - 1)


def test_relative_bias_reads_row_bucket_i_j_for_query_i_and_key_j():
    table = torch.nn.Embedding(10, 3)
    buckets = torch.tensor([[0, 1, 2], [3, 4, 5]])  # 2 queries, 3 keys
    bias = relative_bias(table, buckets)
    assert bias.shape == (1, 3, 2, 3)
    for h in range(3):
        for i in range(2):
            for j in range(3):
                assert bias[0, h, i, j] == table.weight[buckets[i, j], h]


def test_absolute_bias_is_the_scaled_query_position_times_the_key_position_per_head():
    torch.manual_seed(0)
    q_linear, k_linear = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)
    query_pos, key_pos = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    scaling = (8 / 2 * 2.0) ** -0.5
    with torch.no_grad():
        bias = absolute_bias(q_linear, k_linear, query_pos, key_pos, 2, scaling)
        q, k = q_linear(query_pos[0]), k_linear(key_pos[0])
    assert bias.shape == (1, 2, 3, 5)
    for h in range(2):
        cols = slice(4 * h, 4 * h + 4)
        for i in range(3):
            for j in range(5):
                assert math.isclose(float(bias[0, h, i, j]), float(q[i, cols] @ k[j, cols]) * scaling,
                                    rel_tol=1e-5, abs_tol=1e-6)


def test_code_position_index_follows_ofas_definition():
    """OFA's decoder ``image_position_idx`` (models/ofa/unify_transformer.py): ``[0]``, the
    ``code_image_size // 8`` window's ids ``1 + row * bucket + col``, then 769 entries of 1024."""
    code_image_size, bucket = 128, 42
    window = code_image_size // 8
    grid = torch.arange(window).unsqueeze(0).expand(window, window) + torch.arange(window).unsqueeze(1) * bucket + 1
    expected = torch.cat([torch.tensor([0]), grid.reshape(-1), torch.tensor([1024] * 769)])
    assert torch.equal(code_position_index(code_image_size, bucket), expected)
