"""Evaluations (``evaluate``, ``sweep``, ``calibrate``) split across machines: which rows a
shard scores, its file, and the checks that a set of shard files is one evaluation of a
whole split.

A shard (``--num-shards K --shard-id I``) scores batches ``I, I+K, I+2K, ...`` of the split:
fairseq's own batch sharding (as in ``fairseq-generate``), so each batch, and the
computation of each row in it, is the one an unsharded run with the same ``--batch-size``
makes, and merged results equal the unsharded ones exactly. A shard writes one JSON file
(``{name}.shard{I}-of-{K}.json``): what was evaluated (``description``, the same for every
shard), the size of the split, and per-row records with global row numbers;
``python -m ofa_mue.merge`` reads them all and recomputes what needs the whole split.
"""
from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable, Dict, Iterable, List, Sequence

from .atomic_files import write_atomically
from .errors import ConfigError, ShardError

SHARD_FILE = re.compile(r"\.shard(\d+)-of-(\d+)\.json$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``Shard()``: the whole split)."""

    count: int = 1
    index: int = 0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"--num-shards must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ConfigError(f"--shard-id must be in [0, {self.count - 1}] with --num-shards {self.count}, "
                              f"got {self.index}")

    @property
    def is_part(self) -> bool:
        """Whether this is a part of the split rather than all of it."""
        return self.count > 1

    def file_name(self, name: str) -> str:
        """The shard file's name for output ``name`` (e.g. ``test``, ``sweep``)."""
        return f"{name}.shard{self.index}-of-{self.count}.json"

    def rows(self, batches: Sequence[Sequence[int]]) -> List[int]:
        """The 1-based rows of this shard's batches among ``batches`` (0-based dataset indices)."""
        return sorted(index + 1 for batch in batches[self.index::self.count] for index in batch)


def write_shard_file(path: str, kind: str, shard: Shard, description: Dict[str, Any], split_rows: int,
                     **payload: Any) -> None:
    """Write one shard's output (atomically)."""
    content = {"kind": kind, "num_shards": shard.count, "shard_id": shard.index, "split_rows": split_rows,
               "description": description, **payload}
    write_atomically(path, json.dumps(content) + "\n")


def shard_paths(sources: Iterable[str]) -> List[str]:
    """The shard files among ``sources``: files as given, folders for the shard files they hold."""
    paths: List[str] = []
    for source in sources:
        if os.path.isdir(source):
            found = sorted(p for p in glob.glob(os.path.join(source, "*.json")) if SHARD_FILE.search(p))
            if not found:
                raise ShardError(f"{source}: no shard files (*.shardI-of-K.json) in this folder")
            paths.extend(found)
        elif os.path.isfile(source):
            paths.append(source)
        else:
            raise ShardError(f"{source}: no such file or folder")
    return paths


def read_shards(sources: Iterable[str]) -> List[Dict[str, Any]]:
    """Read the shard files of ``sources`` and check that they are all the shards of one
    evaluation (same kind, description, split size and shard count; each shard id once).
    Each shard dict gets its ``path``; they come back in shard order."""
    shards = []
    for path in shard_paths(sources):
        try:
            with open(path, encoding="utf-8") as handle:
                shard = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            raise ShardError(f"{path}: not a readable shard file: {error}") from None
        if not isinstance(shard, dict) or not {"kind", "num_shards", "shard_id", "split_rows",
                                                "description"} <= set(shard):
            raise ShardError(f"{path}: not a shard file written by ofa_mue (no kind, shard or description)")
        shards.append({**shard, "path": path})
    first = shards[0]
    for shard in shards[1:]:
        for key in ("kind", "num_shards", "split_rows"):
            if shard[key] != first[key]:
                raise ShardError(f"{shard['path']} has {key} {shard[key]!r} but {first['path']} has {first[key]!r}: "
                                 "shards of different evaluations")
        differing = [k for k in sorted(set(first["description"]) | set(shard["description"]))
                     if first["description"].get(k) != shard["description"].get(k)]
        if differing:
            key = differing[0]
            raise ShardError(f"{shard['path']} and {first['path']} evaluated different things ({key}: "
                             f"{shard['description'].get(key)!r} vs {first['description'].get(key)!r}): "
                             "every shard must run the same command but for --shard-id")
    by_id: Dict[int, str] = {}
    for shard in shards:
        if not isinstance(shard["shard_id"], int) or not 0 <= shard["shard_id"] < first["num_shards"]:
            raise ShardError(f"{shard['path']}: shard id {shard['shard_id']!r} is not in "
                             f"[0, {first['num_shards'] - 1}] for {first['num_shards']} shards")
        if shard["shard_id"] in by_id:
            raise ShardError(f"shard {shard['shard_id']} of {first['num_shards']} given twice: "
                             f"{by_id[shard['shard_id']]} and {shard['path']}")
        by_id[shard["shard_id"]] = shard["path"]
    missing = [i for i in range(first["num_shards"]) if i not in by_id]
    if missing:
        raise ShardError(f"shards {_listing(missing)} of {first['num_shards']} missing (got {', '.join(by_id.values())})")
    return sorted(shards, key=lambda s: s["shard_id"])


def merge_records(shards: Sequence[Dict[str, Any]],
                  records_of: Callable[[Dict[str, Any]], List[Dict[str, Any]]] = itemgetter("records"),
                  ) -> List[Dict[str, Any]]:
    """The records of all ``shards`` in row order, after checking that they hold every row of
    the split exactly once (``records_of(shard)``: a shard's records, each with its ``row``)."""
    split_rows = shards[0]["split_rows"]
    owner: Dict[int, str] = {}
    merged = []
    for shard in shards:
        for record in records_of(shard):
            row = record["row"]
            if row in owner:
                raise ShardError(f"row {row} is in {owner[row]} and in {shard['path']}: shards overlap "
                                 "(run every shard with the same --batch-size)")
            if not 1 <= row <= split_rows:
                raise ShardError(f"{shard['path']}: row {row} is outside the split's rows 1..{split_rows}")
            owner[row] = shard["path"]
            merged.append(record)
    missing = [row for row in range(1, split_rows + 1) if row not in owner]
    if missing:
        raise ShardError(f"rows {_listing(missing)} of {split_rows} are in no shard: the shards do not cover the "
                         "split (run every shard with the same --batch-size)")
    return sorted(merged, key=lambda record: record["row"])


def _listing(numbers: List[int], shown: int = 5) -> str:
    text = ", ".join(map(str, numbers[:shown]))
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")
