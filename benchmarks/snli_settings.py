"""Which learning rate and label smoothing should the demo fine-tune SNLI-VE with? A measured probe per seed.

    python benchmarks/snli_settings.py [--data demo_data] [--checkpoints checkpoints/demo]
        [--seeds 1,2,3] [--arms 5e-4:0.1,2.5e-4:0.0] [--snli-updates 700]
        [--work-dir checkpoints/snli_settings] [--out benchmarks/results/snli_settings]

``run_scripts/demo.sh`` fine-tunes SNLI-VE at learning rate 5e-4 with label smoothing 0.1
(``DEMO_SNLI_LR``, ``DEMO_SNLI_LABEL_SMOOTHING``); OFA's own SNLI-VE recipe smooths with 0.0.
For each seed this probe starts from the question-stage model of a demo.sh run
(``{checkpoints}/seed{S}/questions.pt``), fine-tunes SNLI-VE from it once per arm
(``LR:LABEL_SMOOTHING``) exactly as demo.sh does otherwise (decomposed encoder, layer-wise
loss, ``--snli-updates`` updates, seed S), and scores every model on the validation split,
where a setting is chosen, and, for the record, on the test split in full and with one layer
of each part. Arms run two at a time, one thread each.

Writes ``{out}/snli_settings.{json,md}``; models, logs and predictions go to ``--work-dir``.
"""
from __future__ import annotations

import argparse
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple

import torch

from grounding_stage import CRITERIA, score, train
from measurement import Provenance, write_results
from question_updates import add_demo_run_arguments, demo_run_seeds

# name: (split, evaluate's extra options)
EVALUATIONS = {
    "valid": ("valid", []),
    "test": ("test", []),
    "one_layer": ("test", ["--exit-policy", "static", "--static-image-layers", "1", "--static-text-layers", "1",
                           "--static-decoder-layers", "1"]),
}
SEED_FILES = ("questions.pt",)  # what each seed's folder of a demo.sh run must hold
ARM = re.compile(r"(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?):(\d+(?:\.\d*)?)")


def parse_arms(text: str) -> List[Tuple[float, float]]:
    """``"5e-4:0.1,2.5e-4:0.0"`` -> ``[(5e-4, 0.1), (2.5e-4, 0.0)]``; a ValueError for a learning rate
    <= 0, a label smoothing outside [0, 1) or an arm named twice."""
    arms = []
    for item in text.split(","):
        match = ARM.fullmatch(item)
        if not match:
            raise ValueError(f"an arm is LR:LABEL_SMOOTHING (e.g. 2.5e-4:0.0), got {item!r}")
        lr, smoothing = float(match.group(1)), float(match.group(2))
        if lr <= 0 or smoothing >= 1:
            raise ValueError(f"arm {item!r}: the learning rate must be > 0 and the label smoothing below 1")
        if (lr, smoothing) in arms:
            raise ValueError(f"arm {item!r} is named twice")
        arms.append((lr, smoothing))
    return arms


def arm_name(lr: float, smoothing: float) -> str:
    return f"lr{lr:g}_ls{smoothing:g}"


def check_reused_model(checkpoint: str, init: str, lr: float, smoothing: float, updates: int, seed: int) -> None:
    """Refuse an arm's model left in the work dir by a run with other settings than this one's."""
    cfg = torch.load(checkpoint, map_location="cpu", weights_only=False)["cfg"]
    found = {"init": os.path.realpath(cfg["checkpoint"]["finetune_from_model"] or ""), "lr": list(cfg["optimization"]["lr"]),
             "label smoothing": cfg["criterion"]["label_smoothing"], "updates": cfg["optimization"]["max_update"],
             "seed": cfg["common"]["seed"]}
    wanted = {"init": os.path.realpath(init), "lr": [lr], "label smoothing": smoothing, "updates": updates, "seed": seed}
    differ = [f"{k} {found[k]!r}, this run {wanted[k]!r}" for k in wanted if found[k] != wanted[k]]
    if differ:
        raise SystemExit(f"{checkpoint}: the model in the work dir was trained with other settings "
                         f"({'; '.join(differ)}); remove it or pass another --work-dir")


def run_arm(seed: int, lr: float, smoothing: float, args: argparse.Namespace) -> Dict[str, Any]:
    """SNLI-VE fine-tuned from ``seed``'s question-stage model at ``lr`` and ``smoothing``, scored in
    every :data:`EVALUATIONS` setting (a model already in the work dir is reused if it was trained
    with these settings, and refused otherwise)."""
    work = os.path.join(args.work_dir, f"seed{seed}", arm_name(lr, smoothing))
    os.makedirs(work, exist_ok=True)
    init = os.path.join(args.checkpoints, f"seed{seed}", "questions.pt")
    left = os.path.join(work, "snli_ve", "checkpoint_last.pt")
    if os.path.isfile(left):
        check_reused_model(left, init, lr, smoothing, args.snli_updates, seed)
    snli = train(os.path.join(work, "train_snli_ve.log"), os.path.join(args.data, "snli_ve"),
                 os.path.join(args.data, "bpe"), init, os.path.join(work, "snli_ve"), args.snli_updates, lr,
                 CRITERIA["layerwise"], decompose=True, constant_lr=False, seed=seed, label_smoothing=smoothing)
    return {name: score(os.path.join(work, "eval", name), os.path.join(args.data, "snli_ve"),
                        os.path.join(args.data, "bpe"), snli, split, options)
            for name, (split, options) in EVALUATIONS.items()}


def markdown(report: Dict[str, Any]) -> str:
    a = report["arguments"]
    lines = [f"SNLI-VE fine-tuned from each seed's question-stage model of the demo run in `{a['checkpoints']}` "
             f"({a['snli_updates']} updates, decomposed encoder, layer-wise loss, the seed's own seed), once per "
             "learning rate and label smoothing. Valid: where a setting is chosen; test: for the record.", "",
             "| seed | learning rate | label smoothing | valid | test | 1 + 1 + 1 layers (gap) |",
             "|---|---|---|---|---|---|"]
    for seed, arms in report["seeds"].items():
        for r in arms:
            e = r["evaluations"]
            gap = e["test"]["accuracy"] - e["one_layer"]["accuracy"]
            lines.append(f"| {seed} | {r['lr']:g} | {r['label_smoothing']:g} | {100 * e['valid']['accuracy']:.1f}% | "
                         f"{100 * e['test']['accuracy']:.1f}% | {100 * e['one_layer']['accuracy']:.1f}% ({100 * gap:+.1f}) |")
    lines += ["", "Mean over the seeds:", "", "| learning rate | label smoothing | valid | test | 1 + 1 + 1 layers |",
              "|---|---|---|---|---|"]
    for index, arm in enumerate(next(iter(report["seeds"].values()))):  # every seed runs the arms in one order
        cells = [sum(arms[index]["evaluations"][name]["accuracy"] for arms in report["seeds"].values())
                 / len(report["seeds"]) for name in EVALUATIONS]
        lines.append(f"| {arm['lr']:g} | {arm['label_smoothing']:g} | " + " | ".join(f"{100 * c:.1f}%" for c in cells) + " |")
    examples = sorted({e["examples"] for arms in report["seeds"].values() for r in arms
                       for e in r["evaluations"].values()})
    lines += ["", f"Rows scored per evaluation: {', '.join(map(str, examples))} (valid and test)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_demo_run_arguments(parser, SEED_FILES)
    parser.add_argument("--arms", default="5e-4:0.1,2.5e-4:0.0",
                        help="comma-separated LR:LABEL_SMOOTHING pairs [5e-4:0.1 (demo.sh's),2.5e-4:0.0]")
    parser.add_argument("--snli-updates", type=int, default=700, help="as demo.sh's DEMO_SNLI_UPDATES [700]")
    parser.add_argument("--work-dir", default="checkpoints/snli_settings", help="models and logs go here")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                      "snli_settings"),
                        help="results folder [benchmarks/results/snli_settings]")
    args = parser.parse_args()
    seeds = demo_run_seeds(parser, args, SEED_FILES)
    try:
        arms = parse_arms(args.arms)
    except ValueError as error:
        parser.error(f"--arms: {error}")
    if args.snli_updates <= 0:
        parser.error("--snli-updates must be positive")
    provenance = Provenance(torch.device("cpu"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {(seed, arm): pool.submit(run_arm, seed, *arm, args) for seed in seeds for arm in arms}
        results = {str(seed): [{"lr": arm[0], "label_smoothing": arm[1], "evaluations": futures[seed, arm].result()}
                               for arm in arms] for seed in seeds}
    report = {**provenance.finish(), "arguments": vars(args), "seeds": results}
    write_results(args.out, "snli_settings", report, provenance.header() + markdown(report))


if __name__ == "__main__":
    main()
