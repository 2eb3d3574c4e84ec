"""Sharding's bookkeeping without a model (fast): which rows each shard scores, and the
refusals of :func:`~ofa_mue.sharding.read_shards` and :func:`~ofa_mue.sharding.merge_records`
on hand-made shard files. The end-to-end runs are in tests/test_sharded_evaluation.py."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from ofa_mue.errors import ConfigError, ShardError
from ofa_mue.sharding import Shard, merge_records, read_shards

# 10 rows in batches of 3 (0-based dataset indices): 4 batches, the last one holding 1 row
BATCHES = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_shards_take_every_kth_batch_with_1_based_rows_and_cover_the_split_once():
    # 2 shards: batches 0, 2 and 1, 3 (1-based rows)
    assert Shard(2, 0).rows(BATCHES) == [1, 2, 3, 7, 8, 9]
    assert Shard(2, 1).rows(BATCHES) == [4, 5, 6, 10]
    # 3 shards: 4 batches do not divide; shard 0 takes the first and the last (partial) batch
    assert Shard(3, 0).rows(BATCHES) == [1, 2, 3, 10]
    assert Shard(3, 1).rows(BATCHES) == [4, 5, 6]
    assert Shard(3, 2).rows(BATCHES) == [7, 8, 9]
    # more shards than batches: the last shard has nothing to score
    assert [Shard(5, i).rows(BATCHES) for i in range(5)] == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10], []]
    assert Shard().rows(BATCHES) == list(range(1, 11))


def test_shard_numbers_out_of_range_are_refused():
    with pytest.raises(ConfigError, match=r"--shard-id must be in \[0, 2\] with --num-shards 3, got 3"):
        Shard(3, 3)
    with pytest.raises(ConfigError, match=r"--shard-id must be in \[0, 2\] with --num-shards 3, got -1"):
        Shard(3, -1)
    with pytest.raises(ConfigError, match=r"--num-shards must be at least 1, got 0"):
        Shard(0, 0)
    assert Shard(3, 2).file_name("test") == "test.shard2-of-3.json"
    assert not Shard().is_part and Shard(2, 1).is_part


def write_shard(folder: Path, index: int, count: int, rows: List[int], split_rows: int = 10,
                **changes: Any) -> Path:
    """A shard file holding ``rows`` (each record's ``prediction`` names its row)."""
    content: Dict[str, Any] = {"kind": "evaluation", "num_shards": count, "shard_id": index, "split_rows": split_rows,
                               "description": {"task": "snli_ve", "exit_policy": {"image": 0.9}},
                               "records": [{"row": row, "prediction": f"p{row}"} for row in rows], **changes}
    path = folder / f"test.shard{index}-of-{count}.json"
    path.write_text(json.dumps(content))
    return path


def test_merged_records_are_in_row_order_whatever_the_shard_order(tmp_path):
    second = write_shard(tmp_path, 1, 2, [4, 5, 6, 10])
    first = write_shard(tmp_path, 0, 2, [1, 2, 3, 7, 8, 9])
    shards = read_shards([str(second), str(first)])  # given in reverse
    assert [s["shard_id"] for s in shards] == [0, 1]
    assert [r["row"] for r in merge_records(shards)] == list(range(1, 11))
    assert [r["prediction"] for r in merge_records(shards)] == [f"p{row}" for row in range(1, 11)]


@pytest.mark.parametrize("rows, message", [
    pytest.param([[1, 2, 3, 7, 8, 9], [4, 5, 6]], r"rows 10 of 10 are in no shard", id="last_row_missing"),
    pytest.param([[2, 3, 7, 8, 9], [4, 5, 6, 10]], r"rows 1 of 10 are in no shard", id="first_row_missing"),
    pytest.param([[1, 2, 3, 7, 8, 9], [4, 5, 6, 10, 11]], r"row 11 is outside the split's rows 1\.\.10",
                 id="row_after_the_split"),
    pytest.param([[0, 1, 2, 3, 7, 8, 9], [4, 5, 6, 10]], r"row 0 is outside the split's rows 1\.\.10",
                 id="row_0"),
    pytest.param([[1, 2, 3, 7, 8, 9], [4, 5, 6, 9, 10]], r"row 9 is in .*shard0-of-2.json and in .*shard1-of-2.json",
                 id="row_in_two_shards"),
])
def test_rows_missing_repeated_or_outside_the_split_are_refused(tmp_path, rows, message):
    paths = [str(write_shard(tmp_path, index, 2, shard_rows)) for index, shard_rows in enumerate(rows)]
    with pytest.raises(ShardError, match=message):
        merge_records(read_shards(paths))


@pytest.mark.parametrize("shard_id", [2, -1, "1"])
def test_a_shard_id_outside_the_shard_count_is_refused(tmp_path, shard_id):
    # an empty third "shard" of two would otherwise pass, as every row is in shards 0 and 1
    first = write_shard(tmp_path, 0, 2, [1, 2, 3, 7, 8, 9])
    second = write_shard(tmp_path, 1, 2, [4, 5, 6, 10])
    (tmp_path / "stray").mkdir()
    stray = write_shard(tmp_path / "stray", 0, 2, [], shard_id=shard_id)
    with pytest.raises(ShardError, match=rf"stray.*: shard id {shard_id!r} is not in \[0, 1\] for 2 shards"):
        read_shards([str(first), str(second), str(stray)])


def test_a_missing_first_shard_is_refused(tmp_path):
    with pytest.raises(ShardError, match=r"shards 0 of 2 missing"):
        read_shards([str(write_shard(tmp_path, 1, 2, [4, 5, 6, 10]))])
    with pytest.raises(ShardError, match=r"shards 0, 2 of 3 missing"):
        read_shards([str(write_shard(tmp_path, 1, 3, [4, 5, 6]))])


@pytest.mark.parametrize("changes, message", [
    pytest.param({"num_shards": 3}, r"has num_shards 3 but .* has 2: shards of different evaluations",
                 id="num_shards"),
    pytest.param({"kind": "sweep"}, r"has kind 'sweep' but .* has 'evaluation'", id="kind"),
    pytest.param({"split_rows": 11}, r"has split_rows 11 but .* has 10", id="split_rows"),
    pytest.param({"description": {"task": "snli_ve", "exit_policy": {"image": 0.8}}},
                 r"evaluated different things \(exit_policy: ", id="exit_policy"),
    pytest.param({"description": {"task": "snli_ve", "exit_policy": {"image": 0.9}, "checkpoint": "other.pt"}},
                 r"evaluated different things \(checkpoint: 'other.pt' vs None\)", id="extra_description_key"),
])
def test_shards_of_different_evaluations_are_refused(tmp_path, changes, message):
    # shard 1's file claims to be 1 of 2 but differs in one respect (its name says -of-2 either way)
    first = write_shard(tmp_path, 0, 2, [1, 2, 3, 7, 8, 9])
    second = write_shard(tmp_path, 1, 2, [4, 5, 6, 10], **changes)
    with pytest.raises(ShardError, match=message):
        read_shards([str(first), str(second)])


def test_merge_refuses_shards_of_a_kind_it_cannot_merge(tmp_path):
    from ofa_mue import merge

    path = write_shard(tmp_path, 0, 1, list(range(1, 11)), kind="table")
    with pytest.raises(ShardError, match=r"shards of a 'table', which cannot be merged \(only evaluation, sweep, "
                                         r"calibration\)"):
        merge.main([str(path), "--output-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
