"""Does a grounding stage make the demo's SNLI-VE model look at the picture? A measured probe.

    python benchmarks/grounding_stage.py [--data demo_data]
        [--caption-checkpoint checkpoints/demo/seed1/caption/checkpoint_last.pt]
        [--demo-snli-checkpoint checkpoints/demo/seed1/snli_ve/checkpoint_last.pt]
        [--grounding-rows 12000] [--grounding-updates 2000] [--snli-updates 700]

``run_scripts/demo.sh`` fine-tunes SNLI-VE from its caption model, and that model answers
from the hypothesis' wording (README, Demo results). OFA fine-tunes every task from a model
pretrained, with the encoder fused, on image-text matching among other tasks. This probe
adds such a stage between the two: from the demo's caption model, ``ofa_demo`` trains with
the encoder fused on image-text matching statements ("there is a <colour> shape", true or
false, on scenes of their own: ``python -m ofa_mue.demo.generate --grounding``), once with
OFA's plain loss and once with MuE's layer-wise loss, at a constant learning rate (the two
arms run side by side, one thread each); then SNLI-VE is fine-tuned from each exactly as
demo.sh does it (decomposed encoder, layer-wise loss, same updates, learning rate and
seed). Measured: each grounding model on held-out statements (with the right images, other
ones and blank ones), and each
SNLI-VE model on the test split with the right images, other test images and blank ones,
beside the demo's own SNLI-VE model (``--demo-snli-checkpoint``).

Writes ``benchmarks/results/grounding_stage.{json,md}``; models and logs go to ``--work-dir``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Sequence

import torch

from measurement import Provenance, run_module as run, write_results
from ofa_mue.data.tsv import TSVReader

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERIA = {"plain": "adjust_label_smoothed_cross_entropy", "layerwise": "layerwise_label_smoothed_cross_entropy"}
IMAGE_SIZE = 48
HELD_OUT = 300
REPLACEMENTS = ("none", "other", "blank")


def snli_words(path: str) -> set:
    """The words of the hypotheses and premises of an SNLI-VE format TSV file."""
    rows = TSVReader(path, ("hypothesis", "premise"), selected_cols=[3, 4])
    return {w for row in rows for text in row.values() for w in text.split()}


def grounding_data(data: str, rows: int, work: str) -> str:
    """``{work}/grounding/{train,test}.tsv``: ``rows`` statements to train on and
    :data:`HELD_OUT` more to test on, in the SNLI-VE format, encoded with ``data``'s BPE
    (refused if a word is missing from the demo data's SNLI-VE text, which that BPE covers)."""
    folder = os.path.join(work, "grounding")
    if not os.path.isfile(os.path.join(folder, "test.tsv")):
        generated = os.path.join(work, "generated")
        run(os.path.join(work, "generate.log"), "ofa_mue.demo.generate", "--out", generated, "--train", "0",
            "--valid", "0", "--test", "0", "--grounding", str(rows + HELD_OUT), "--image-size", str(IMAGE_SIZE),
            "--no-progress")
        with open(os.path.join(generated, "grounding", "train.tsv"), encoding="utf-8") as handle:
            lines = handle.readlines()
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "train.tsv"), "w", encoding="utf-8") as handle:
            handle.writelines(lines[:rows])
        with open(os.path.join(folder, "test.tsv"), "w", encoding="utf-8") as handle:
            handle.writelines(lines[rows:])
    unknown = snli_words(os.path.join(folder, "train.tsv")) - snli_words(os.path.join(data, "snli_ve", "train.tsv"))
    if unknown:
        raise SystemExit(f"grounding statements use words the BPE of {data} never saw: {sorted(unknown)}")
    return folder


def train(log: str, data_folder: str, bpe: str, init: str, save_dir: str, updates: int, lr: float,
          criterion: str, decompose: bool, constant_lr: bool, seed: int = 1, label_smoothing: float = 0.1) -> str:
    """fairseq-train as demo.sh's train() (``constant_lr``: the learning rate stays at ``lr``
    after the warm-up instead of decaying to 0); returns the checkpoint."""
    schedule = ["fixed"] if constant_lr else ["polynomial_decay", "--total-num-update", str(updates)]
    checkpoint = os.path.join(save_dir, "checkpoint_last.pt")
    if not os.path.isfile(checkpoint):
        run(log, "fairseq_cli.train", data_folder, "--user-dir", "ofa_mue", "--task", "snli_ve", "--arch", "ofa_demo",
            "--bpe-dir", bpe, "--code-dict-size", "0", "--num-bins", "0", "--patch-image-size", str(IMAGE_SIZE),
            *(["--decompose-modalities"] if decompose else []), "--finetune-from-model", init,
            "--criterion", criterion, "--label-smoothing", str(label_smoothing), "--optimizer", "adam",
            "--adam-betas", "(0.9,0.999)", "--adam-eps", "1e-8", "--clip-norm", "1.0",
            "--lr-scheduler", *schedule, "--lr", str(lr), "--warmup-updates", "50",
            "--max-update", str(updates), "--batch-size", "32",
            "--save-dir", save_dir, "--no-epoch-checkpoints", "--disable-validation", "--num-workers", "0", "--cpu",
            "--seed", str(seed), "--log-format", "simple", "--log-interval", "100")
    return checkpoint


def last_training_accuracy(log: str) -> Dict[str, float]:
    """The last logged training token accuracy per decoder layer (layer-wise loss only)."""
    found: Dict[str, float] = {}
    with open(log) as handle:
        for line in handle:
            if "train_inner" in line:
                found = {k: float(v) for k, v in re.findall(r"(acc_layer\d)=([\d.]+)", line)}
    return found


def score(folder: str, data_folder: str, bpe: str, checkpoint: str, split: str = "test",
          options: Sequence[str] = ()) -> Dict[str, Any]:
    """``python -m ofa_mue.evaluate`` of ``checkpoint`` on ``split`` of an SNLI-VE format folder
    with evaluate's extra ``options`` (results and log in ``folder``): accuracy and rows scored."""
    os.makedirs(folder, exist_ok=True)
    run(os.path.join(folder, "evaluate.log"), "ofa_mue.evaluate", data_folder, "--path", checkpoint, "--task", "snli_ve",
        "--bpe-dir", bpe, "--code-dict-size", "0", "--num-bins", "0", "--batch-size", "100", "--cpu",
        "--gen-subset", split, *options, "--results-path", folder)
    with open(os.path.join(folder, f"{split}_metrics.json")) as handle:
        metrics = json.load(handle)
    return {"accuracy": metrics["metrics"]["accuracy"], "examples": metrics["examples"]}


def accuracies(out: str, data_folder: str, bpe: str, checkpoint: str) -> Dict[str, Any]:
    """Test accuracy and examples scored with the right images and each replacement (results
    and logs under ``out``)."""
    return {images: score(os.path.join(out, f"images_{images}"), data_folder, bpe, checkpoint,
                          options=("--replace-images", images)) for images in REPLACEMENTS}


def arm(loss: str, args: argparse.Namespace, grounding: str) -> Dict[str, Any]:
    """Grounding stage with ``loss`` (encoder fused), then SNLI-VE as demo.sh fine-tunes it."""
    work = os.path.join(args.work_dir, loss)
    os.makedirs(work, exist_ok=True)
    bpe = os.path.join(args.data, "bpe")
    grounded = train(os.path.join(work, "train_grounding.log"), grounding, bpe, args.caption_checkpoint,
                     os.path.join(work, "grounding"), args.grounding_updates, args.grounding_lr, CRITERIA[loss],
                     decompose=False, constant_lr=True)
    snli = train(os.path.join(work, "train_snli_ve.log"), os.path.join(args.data, "snli_ve"), bpe, grounded,
                 os.path.join(work, "snli_ve"), args.snli_updates, 5e-4, CRITERIA["layerwise"], decompose=True,
                 constant_lr=False)
    return {
        "grounding": accuracies(os.path.join(work, "eval_grounding"), grounding, bpe, grounded),
        "grounding_training_accuracy": last_training_accuracy(os.path.join(work, "train_grounding.log")),
        "snli_ve": accuracies(os.path.join(work, "eval_snli_ve"), os.path.join(args.data, "snli_ve"), bpe, snli),
        "snli_ve_training_accuracy": last_training_accuracy(os.path.join(work, "train_snli_ve.log")),
    }


def markdown(report: Dict[str, Any]) -> str:
    a = report["arguments"]
    lines = [f"From the caption model `{a['caption_checkpoint']}`: a grounding stage of {a['grounding_updates']} "
             f"updates (encoder fused, constant lr {a['grounding_lr']} after 50 warm-up updates, "
             f"{a['grounding_rows']} statements \"there is a <colour> shape\", true or false), then SNLI-VE fine-tuned as demo.sh does ({a['snli_updates']} updates, "
             "decomposed encoder, layer-wise loss, lr 5e-4, seed 1). Accuracy with the right images / other test "
             "images / blank images (chance: 50% on the statements, 33.3% on SNLI-VE).", "",
             "| model | held-out statements | SNLI-VE test | SNLI-VE, other images | SNLI-VE, blank images |",
             "|---|---|---|---|---|"]

    def cells(result: Dict[str, Any], separator: str) -> str:
        return separator.join(f"{100 * result[r]['accuracy']:.1f}%" for r in REPLACEMENTS)

    for loss, result in report["arms"].items():
        lines.append(f"| grounding stage with the {loss} loss, then SNLI-VE | {cells(result['grounding'], ' / ')} | "
                     f"{cells(result['snli_ve'], ' | ')} |")
    demo = report["demo_snli_ve"]
    lines.append(f"| demo.sh's SNLI-VE model (from the caption model, no grounding stage) | - | {cells(demo, ' | ')} |")
    examples = {r["snli_ve"]["none"]["examples"] for r in report["arms"].values()} | {demo["none"]["examples"]}
    lines += ["", f"Examples scored: {', '.join(map(str, sorted(examples)))} SNLI-VE test rows per model, "
              f"{HELD_OUT} held-out statements per grounding model. Last logged training token accuracy "
              "(answer and end-of-sequence tokens) per decoder layer:", ""]
    for loss, result in report["arms"].items():
        for stage in ("grounding", "snli_ve"):
            accuracy = result[f"{stage}_training_accuracy"]
            plain = loss == "plain" and stage == "grounding"
            shown = ", ".join(f"{k[-1]}: {v:.1f}%" for k, v in accuracy.items()) or (
                "not logged (the plain loss logs no accuracy)" if plain else "none logged")
            lines.append(f"- {loss} arm, {stage}: {shown}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="demo_data", help="the demo data (run_scripts/demo.sh) [demo_data]")
    parser.add_argument("--caption-checkpoint", default="checkpoints/demo/seed1/caption/checkpoint_last.pt")
    parser.add_argument("--demo-snli-checkpoint", default="checkpoints/demo/seed1/snli_ve/checkpoint_last.pt",
                        help="demo.sh's SNLI-VE model, measured beside the arms")
    parser.add_argument("--grounding-rows", type=int, default=12000)
    parser.add_argument("--grounding-updates", type=int, default=2000)
    parser.add_argument("--grounding-lr", type=float, default=3e-4)
    parser.add_argument("--snli-updates", type=int, default=700, help="as demo.sh's DEMO_SNLI_UPDATES [700]")
    parser.add_argument("--work-dir", default="checkpoints/grounding_stage", help="models and logs go here")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="results folder")
    args = parser.parse_args()
    for path in (args.caption_checkpoint, args.demo_snli_checkpoint, os.path.join(args.data, "snli_ve", "test.tsv")):
        if not os.path.isfile(path):
            parser.error(f"{path} not found (run bash run_scripts/demo.sh first, or pass the paths)")
    if min(args.grounding_rows, args.grounding_updates, args.snli_updates) <= 0 or args.grounding_lr <= 0:
        parser.error("--grounding-rows, --grounding-updates, --snli-updates and --grounding-lr must be positive")
    provenance = Provenance(torch.device("cpu"))
    os.makedirs(args.work_dir, exist_ok=True)
    grounding = grounding_data(args.data, args.grounding_rows, args.work_dir)
    with ThreadPoolExecutor(max_workers=len(CRITERIA)) as pool:
        futures = {loss: pool.submit(arm, loss, args, grounding) for loss in CRITERIA}
        arms = {loss: future.result() for loss, future in futures.items()}
    demo = accuracies(os.path.join(args.work_dir, "eval_demo_snli_ve"), os.path.join(args.data, "snli_ve"),
                      os.path.join(args.data, "bpe"), args.demo_snli_checkpoint)
    report = {**provenance.finish(), "arguments": vars(args), "arms": arms, "demo_snli_ve": demo}
    write_results(args.out, "grounding_stage", report, provenance.header() + markdown(report))


if __name__ == "__main__":
    main()
