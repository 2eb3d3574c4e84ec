"""SNLI-VE accuracy of an evaluation's predictions per hypothesis family and label of the demo data.

    python -m ofa_mue.demo.families --data demo_data --split test \\
        --predictions results/demo/seed1/snli_ve/certified/test_predictions.jsonl [--out DIR]

joins ``python -m ofa_mue.evaluate``'s per-row predictions (``--results-path DIR`` writes
``{split}_predictions.jsonl``) with the generator's ``meta/snli_ve_{split}.jsonl`` by ``uniq_id``
and reports, per family (existence, absence, counts, regions, relations, "all"), per
difficulty, per label, per family and label, per number of visible objects and per number of
hidden cells, how many rows and how many answered right: which kinds of hypothesis a model
has learnt, and which cues it answers from (e.g. a model that says "maybe" when a cell is
hidden and "no" otherwise is right on existence contradictions and neutrals, wrong on
entailments). Every row of the split must have exactly one prediction, whose answer is that row's
label (predictions of other demo data, whose uniq_ids are the same, are refused).
``--out`` writes ``families.json`` and ``families.md`` there, with the commit, machine and date.
"""
from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence

from ofa_mue.atomic_files import write_atomically
from ofa_mue.data.snli_ve_dataset import LABEL_TO_ANSWER
from ofa_mue.errors import DataError
from ofa_mue.provenance import describe, provenance

GROUPS: Dict[str, Callable[[Dict[str, Any]], Any]] = {
    "family": lambda row: row["family"],
    "difficulty": lambda row: row["difficulty"],
    "label": lambda row: row["label"],
    "family and label": lambda row: f"{row['family']} {row['label']}",
    "visible objects": lambda row: row["n_objects"],
    "hidden cells": lambda row: row["hidden_cells"],
}
"""Each group's value of a meta row."""


def _read_jsonl(path: str) -> List[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DataError(path, f"not valid JSON ({error})", row=number) from None
    return rows


def family_accuracy(predictions_path: str, meta_path: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{group: {value: {"rows", "correct", "accuracy"}}}`` for the groups of :data:`GROUPS` and
    ``"all"``; a :class:`DataError` names the file and row of a prediction without a meta row,
    a duplicate, a prediction whose answer is not its meta row's label (predictions of other
    data: the demo's uniq_ids repeat across seeds and options), or a meta row without a prediction."""
    meta = {str(row["uniq_id"]): row for row in _read_jsonl(meta_path)}
    counts: Dict[str, Dict[str, List[int]]] = {group: defaultdict(lambda: [0, 0]) for group in (*GROUPS, "all")}
    seen = set()
    for number, prediction in enumerate(_read_jsonl(predictions_path), 1):
        uniq_id = str(prediction.get("uniq_id"))
        if uniq_id not in meta:
            raise DataError(predictions_path, f"uniq_id {uniq_id} is not in {meta_path}", row=number, field="uniq_id")
        if uniq_id in seen:
            raise DataError(predictions_path, f"a second prediction for uniq_id {uniq_id}", row=number,
                            field="uniq_id")
        seen.add(uniq_id)
        expected = LABEL_TO_ANSWER[meta[uniq_id]["label"]]
        if prediction.get("answer") != expected:
            raise DataError(predictions_path, f"answer {prediction.get('answer')!r} of uniq_id {uniq_id} is not the "
                            f"{meta[uniq_id]['label']} ({expected!r}) of {meta_path}: predictions of other data?",
                            row=number, field="answer")
        right = int(prediction["prediction"] == prediction["answer"])
        for group, value in (*((group, of(meta[uniq_id])) for group, of in GROUPS.items()), ("all", "all")):
            tally = counts[group][str(value)]
            tally[0] += 1
            tally[1] += right
    missing = sorted(set(meta) - seen)
    if missing:
        raise DataError(predictions_path, f"{len(missing)} row(s) of {meta_path} have no prediction "
                                          f"(first uniq_id {missing[0]})")
    return {group: {value: {"rows": n, "correct": c, "accuracy": c / n} for value, (n, c) in sorted(values.items())}
            for group, values in counts.items()}


def families_markdown(table: Dict[str, Dict[str, Dict[str, float]]], title: str, record: Dict[str, Any]) -> str:
    """The table as markdown: one line per group and value."""
    lines = [f"# {title}", "", f"_{describe(record)}_", "", "| group | value | rows | accuracy |",
             "|---|---|---|---|"]
    for group, values in table.items():
        for value, v in values.items():
            lines.append(f"| {group} | {value} | {v['rows']} | {v['accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point: prints the table, writes it under ``--out`` when given."""
    parser = argparse.ArgumentParser(prog="python -m ofa_mue.demo.families", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="demo_data", help="the demo data folder (meta/snli_ve_{split}.jsonl)")
    parser.add_argument("--split", default="test", help="the split the predictions are of")
    parser.add_argument("--predictions", required=True, help="an evaluation's {split}_predictions.jsonl")
    parser.add_argument("--out", default=None, help="folder for families.json and families.md")
    args = parser.parse_args(argv)
    meta_path = os.path.join(args.data, "meta", f"snli_ve_{args.split}.jsonl")
    table = family_accuracy(args.predictions, meta_path)
    record = {**provenance(), "predictions": args.predictions, "meta": meta_path}
    markdown = families_markdown(table, f"SNLI-VE accuracy per hypothesis family ({args.split} split, "
                                        f"{table['all']['all']['rows']} rows)", record)
    print(markdown)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        write_atomically(os.path.join(args.out, "families.json"),
                         json.dumps({**record, "accuracy": table}, indent=2) + "\n")
        write_atomically(os.path.join(args.out, "families.md"), markdown)
    return table


if __name__ == "__main__":
    from ofa_mue.evaluate import run_cli  # bad input ends in one line naming the file and row

    run_cli(main)
