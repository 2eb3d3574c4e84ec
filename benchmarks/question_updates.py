"""Does a longer grounding-question stage lift the demo's SNLI-VE? A measured probe per seed.

    python benchmarks/question_updates.py [--data demo_data] [--checkpoints checkpoints/demo]
        [--seeds 1,2,3] [--question-updates 4000] [--question-kinds where,what,exists,region,count,relation]
        [--snli-updates 700] [--work-dir checkpoints/question_updates]

``run_scripts/demo.sh`` trains ``DEMO_QUESTION_UPDATES`` (2,000) updates of grounding questions
(``python -m ofa_mue.demo.question_stage``) between its caption model and SNLI-VE. For each
seed this probe starts from that run's caption model (``{checkpoints}/seed{S}/caption``),
trains the question stage with ``--question-updates`` and ``--question-kinds``, then fine-tunes
SNLI-VE from it exactly as demo.sh does (decomposed encoder, layer-wise loss, 700 updates,
seed S), and scores the result beside demo.sh's own SNLI-VE model of that seed
(``{checkpoints}/seed{S}/snli_ve``): accuracy on the validation split and on the test split
with the right images, other test images, blank images and other rows' hypotheses, static
truncation at one layer of each part, and the test accuracy per hypothesis family and label.
Seeds run two at a time, one thread each.

A question stage already in the work dir (``seed{S}/questions.pt``) is reused when its
``questions.json`` records this run's caption model, updates, kinds and seed, and refused otherwise.

Writes ``{out}/question_updates.{json,md}`` (default ``benchmarks/results``); models, logs and
predictions go to ``--work-dir``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Sequence

import torch

from grounding_stage import CRITERIA, score, train
from measurement import Provenance, run_module as run, write_results
from ofa_mue.demo.families import family_accuracy
from ofa_mue.demo.questions import KINDS

# name: (split, evaluate's extra options)
EVALUATIONS = {
    "valid": ("valid", []),
    "test": ("test", []),
    "other_images": ("test", ["--replace-images", "other"]),
    "blank_images": ("test", ["--replace-images", "blank"]),
    "other_hypotheses": ("test", ["--replace-text", "other"]),
    "one_layer": ("test", ["--exit-policy", "static", "--static-image-layers", "1", "--static-text-layers", "1", "--static-decoder-layers", "1"]),
}
FAMILY_GROUPS = ("family", "label")


def evaluate(out: str, data: str, checkpoint: str) -> Dict[str, Any]:
    """Accuracy and rows scored of ``checkpoint`` in every :data:`EVALUATIONS` setting, and the
    test accuracy per hypothesis family and label (results and logs under ``out``)."""
    result: Dict[str, Any] = {name: score(os.path.join(out, name), os.path.join(data, "snli_ve"),
                                          os.path.join(data, "bpe"), checkpoint, split, options)
                              for name, (split, options) in EVALUATIONS.items()}
    table = family_accuracy(os.path.join(out, "test", "test_predictions.jsonl"),
                            os.path.join(data, "meta", "snli_ve_test.jsonl"))
    result["families"] = {f"{group}/{value}": cell["accuracy"] for group in FAMILY_GROUPS
                          for value, cell in table[group].items()}
    return result


def held_out_questions(path: str) -> Dict[str, float]:
    """The question stage's held-out accuracies (``questions.json`` beside its checkpoint)."""
    with open(path) as handle:
        return json.load(handle)["held_out_accuracy"]


def _stage_settings(init: str, updates: Any, seed: Any, kinds: List[str]) -> Dict[str, Any]:
    return {"init": os.path.realpath(init), "updates": updates, "seed": seed, "kinds": sorted(kinds)}


def check_reused_stage(path: str, init: str, seed: int, args: argparse.Namespace) -> None:
    """Refuse a question stage left in the work dir by a run with other settings than this one's."""
    with open(path) as handle:
        record = json.load(handle)
    found = _stage_settings(record.get("init", ""), record.get("updates"), record.get("seed"), record.get("kinds") or [])
    wanted = _stage_settings(init, args.question_updates, seed, args.question_kinds.split(","))
    differ = [f"{k} {found[k]!r}, this run {wanted[k]!r}" for k in wanted if found[k] != wanted[k]]
    if differ:
        raise SystemExit(f"{path}: the question stage in the work dir was trained with other settings "
                         f"({'; '.join(differ)}); remove it or pass another --work-dir")


def seed_arm(seed: int, args: argparse.Namespace) -> Dict[str, Any]:
    """The question stage and SNLI-VE for ``seed``, scored beside demo.sh's SNLI-VE model of that seed."""
    work = os.path.join(args.work_dir, f"seed{seed}")
    os.makedirs(work, exist_ok=True)
    seed_checkpoints = os.path.join(args.checkpoints, f"seed{seed}")
    questions = os.path.join(work, "questions.pt")
    init = os.path.join(seed_checkpoints, "caption", "checkpoint_last.pt")
    if os.path.isfile(questions):
        check_reused_stage(os.path.join(work, "questions.json"), init, seed, args)
    else:
        run(os.path.join(work, "question_stage.log"), "ofa_mue.demo.question_stage", "--data", args.data,
            "--init", init, "--out", questions,
            "--updates", str(args.question_updates), "--kinds", args.question_kinds, "--seed", str(seed),
            "--image-size", "48", "--no-progress")
    snli = train(os.path.join(work, "train_snli_ve.log"), os.path.join(args.data, "snli_ve"),
                 os.path.join(args.data, "bpe"), questions, os.path.join(work, "snli_ve"), args.snli_updates, 5e-4,
                 CRITERIA["layerwise"], decompose=True, constant_lr=False, seed=seed)
    return {
        "questions": held_out_questions(os.path.join(work, "questions.json")),
        "snli_ve": evaluate(os.path.join(work, "eval"), args.data, snli),
        "demo_questions": held_out_questions(os.path.join(seed_checkpoints, "questions.json")),
        "demo_snli_ve": evaluate(os.path.join(work, "eval_demo"), args.data,
                                 os.path.join(seed_checkpoints, "snli_ve", "checkpoint_last.pt")),
    }


QUESTION_UPDATES_SEED_FILES = ("caption/checkpoint_last.pt", "snli_ve/checkpoint_last.pt", "questions.json")


def add_demo_run_arguments(parser: argparse.ArgumentParser, seed_files: Sequence[str]) -> None:
    """``--data``, ``--checkpoints`` (a demo.sh run's, whose seed folders hold ``seed_files``) and
    ``--seeds``: what :func:`demo_run_seeds` checks."""
    parser.add_argument("--data", default="demo_data", help="the demo data (run_scripts/demo.sh) [demo_data]")
    held = ", ".join(f"seed{{S}}/{name}" for name in seed_files)
    parser.add_argument("--checkpoints", default="checkpoints/demo",
                        help=f"a demo.sh run's checkpoints ({held}) [checkpoints/demo]")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds [1,2,3]")


def demo_run_seeds(parser: argparse.ArgumentParser, args: argparse.Namespace, seed_files: Sequence[str]) -> List[int]:
    """The seeds of ``args.seeds``; the parser stops with one line on a malformed list, on a file of
    ``seed_files`` missing from a seed's folder of ``args.checkpoints`` (a demo.sh run's), and on demo
    data without an SNLI-VE test split in ``args.data``."""
    if not re.fullmatch(r"[1-9]\d*(,[1-9]\d*)*", args.seeds):
        parser.error(f"--seeds must be positive integers separated by commas, got {args.seeds!r}")
    seeds = [int(s) for s in args.seeds.split(",")]
    for seed in seeds:
        for name in seed_files:
            path = os.path.join(args.checkpoints, f"seed{seed}", name)
            if not os.path.isfile(path):
                parser.error(f"{path} not found (run bash run_scripts/demo.sh for these seeds first, or pass "
                             "--checkpoints)")
    if not os.path.isfile(os.path.join(args.data, "snli_ve", "test.tsv")):
        parser.error(f"{args.data}/snli_ve/test.tsv not found (pass --data, the demo data folder)")
    return seeds


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _before_after(report: Dict[str, Any], title: str, before: Callable[[Dict[str, Any]], Dict[str, float]],
                  after: Callable[[Dict[str, Any]], Dict[str, float]]) -> List[str]:
    """A markdown table of the figures ``before`` and ``after`` read off each seed's arm, one
    column per figure either has ("-" where one lacks it)."""
    arms = report["seeds"]
    names = sorted({k for arm in arms.values() for k in (*before(arm), *after(arm))})
    lines = ["", f"{title}, demo.sh's stage -> this one:", "",
             "| seed | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for seed, arm in arms.items():
        cells = [" -> ".join(_percent(side[k]) if k in side else "-" for side in (before(arm), after(arm)))
                 for k in names]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return lines


def markdown(report: Dict[str, Any]) -> str:
    a = report["arguments"]
    lines = [f"From each seed's caption model of the demo run in `{a['checkpoints']}`: {a['question_updates']} updates "
             f"of grounding questions (kinds {a['question_kinds']}), then SNLI-VE fine-tuned as demo.sh does "
             f"({a['snli_updates']} updates, decomposed encoder, layer-wise loss, the seed's own seed), beside that "
             "run's SNLI-VE model (demo.sh's question stage). Accuracy on the validation split and on the test "
             "split; with other test images, blank images, other rows' hypotheses; one layer of each part.", "",
             "| seed | question stage | valid | test | other images | blank images | other hypotheses | "
             "1 + 1 + 1 layers (gap) |", "|---|---|---|---|---|---|---|---|"]
    for seed, arm in report["seeds"].items():
        for label, key in (("demo.sh's", "demo_snli_ve"), (f"{a['question_updates']} updates", "snli_ve")):
            r = arm[key]
            gap = r["test"]["accuracy"] - r["one_layer"]["accuracy"]
            lines.append(f"| {seed} | {label} | {_percent(r['valid']['accuracy'])} | {_percent(r['test']['accuracy'])} | "
                         f"{_percent(r['other_images']['accuracy'])} | {_percent(r['blank_images']['accuracy'])} | "
                         f"{_percent(r['other_hypotheses']['accuracy'])} | {_percent(r['one_layer']['accuracy'])} "
                         f"({100 * gap:+.1f}) |")
    lines += _before_after(report, "Test accuracy per hypothesis family and label",
                           lambda arm: arm["demo_snli_ve"]["families"], lambda arm: arm["snli_ve"]["families"])
    lines += _before_after(report, "The question stage's held-out accuracy",
                           lambda arm: arm["demo_questions"], lambda arm: arm["questions"])
    examples = sorted({r["examples"] for arm in report["seeds"].values() for key in ("snli_ve", "demo_snli_ve")
                       for name, r in arm[key].items() if name != "families"})
    lines += ["", f"Rows scored per evaluation: {', '.join(map(str, examples))} (valid and test)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_demo_run_arguments(parser, QUESTION_UPDATES_SEED_FILES)
    parser.add_argument("--question-updates", type=int, default=4000)
    parser.add_argument("--question-kinds", default=",".join(KINDS), help="as question_stage's --kinds [all]")
    parser.add_argument("--snli-updates", type=int, default=700, help="as demo.sh's DEMO_SNLI_UPDATES [700]")
    parser.add_argument("--work-dir", default="checkpoints/question_updates", help="models and logs go here")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="results folder [benchmarks/results]")
    args = parser.parse_args()
    seeds = demo_run_seeds(parser, args, QUESTION_UPDATES_SEED_FILES)
    if min(args.question_updates, args.snli_updates) <= 0:
        parser.error("--question-updates and --snli-updates must be positive")
    unknown = set(args.question_kinds.split(",")) - set(KINDS)
    if unknown:
        parser.error(f"--question-kinds: unknown kind(s) {sorted(unknown)}, known: {', '.join(KINDS)}")
    provenance = Provenance(torch.device("cpu"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {seed: pool.submit(seed_arm, seed, args) for seed in seeds}
        arms = {str(seed): future.result() for seed, future in futures.items()}
    report = {**provenance.finish(), "arguments": vars(args), "seeds": arms}
    write_results(args.out, "question_updates", report, provenance.header() + markdown(report))


if __name__ == "__main__":
    main()
