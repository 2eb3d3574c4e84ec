"""Merge the shards of an evaluation, a sweep or a calibration run on several processes or machines.

    python -m ofa_mue.merge results/snli_ve/shards --output-dir results/snli_ve

Reads the shard files that ``python -m ofa_mue.evaluate``, ``sweep`` or ``calibrate`` ``...
--num-shards K --shard-id I`` wrote (files, or folders holding them), refuses a set that
misses or repeats a shard or a row or mixes evaluations, and writes what the unsharded
command writes (metrics files; sweep tables and figure; calibration table and exit
profile), recomputed from the merged per-example records: the corpus metrics (CIDEr with
document frequencies over the whole split, BLEU, METEOR, ROUGE-L, accuracy), the mean layers,
the expected time reduction rate and the FLOPs per example. They equal an unsharded run's
with the same ``--batch-size``; ``seconds`` is the shards' total. A sharded sweep is not
timed (its measured reductions would compare machines, not settings).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Dict, List, Optional, Sequence

from fairseq.tasks import TASK_REGISTRY

import ofa_mue  # noqa: F401  (registers the tasks)
from .calibrate import merge_calibration
from .core.flops import ModelShape
from .evaluate import (evaluation_summary, log_exit_profile, records_from_shard, run_cli, split_result,
                       write_result_files)
from .errors import ShardError
from .sharding import merge_records, read_shards
from .sweep import merge_sweep

logger = logging.getLogger("ofa_mue.merge")


def merge_evaluation(shards: List[Dict[str, Any]], output_dir: str) -> Dict[str, Any]:
    """Write the result files of the merged shards (:func:`~ofa_mue.evaluate.write_result_files`);
    return the summary."""
    description = shards[0]["description"]
    records = records_from_shard(merge_records(shards))
    task_class = TASK_REGISTRY[description["task"]]
    result = split_result(task_class, records, sum(s["seconds"] for s in shards),
                          ModelShape(**description["model_shape"]))
    summary = evaluation_summary(description, result)
    write_result_files(output_dir, description["split"], task_class, result["records"], summary)
    print(json.dumps(summary, indent=2))
    log_exit_profile(summary)
    return summary


MERGERS = {"evaluation": merge_evaluation, "sweep": merge_sweep, "calibration": merge_calibration}


def build_parser() -> argparse.ArgumentParser:
    """``SHARDS... --output-dir DIR``."""
    parser = argparse.ArgumentParser(prog="python -m ofa_mue.merge", description=__doc__.split("\n\n")[0])
    parser.add_argument("shards", nargs="+", help="shard files (*.shardI-of-K.json), or folders holding them")
    parser.add_argument("--output-dir", required=True,
                        help="folder for the merged files (those the unsharded command writes)")
    return parser


def main(argv: Optional[Sequence[str]] = None):
    """Command-line entry point: returns what the merge wrote (an evaluation summary or sweep rows)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO,
                        stream=sys.stdout, force=True)
    shards = read_shards(args.shards)
    if shards[0]["kind"] not in MERGERS:
        raise ShardError(f"{shards[0]['path']}: shards of a {shards[0]['kind']!r}, which cannot be merged "
                         f"(only {', '.join(MERGERS)})")
    logger.info("merging %d %s shards of %d rows", len(shards), shards[0]["kind"], shards[0]["split_rows"])
    return MERGERS[shards[0]["kind"]](shards, args.output_dir)


def cli_main() -> None:
    """Console entry point with one-line errors for bad input."""
    run_cli(main)


if __name__ == "__main__":
    cli_main()
