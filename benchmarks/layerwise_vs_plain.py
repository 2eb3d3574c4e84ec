"""Does the layer-wise loss make early decoder layers usable? A measured comparison.

    python benchmarks/layerwise_vs_plain.py --data demo_data --updates 400

Fine-tunes ``ofa_demo`` twice per task with identical settings (decomposed encoder, same
seed, data and number of updates), once with OFA's plain loss on the last decoder layer
and once with MuE's layer-wise loss, then measures every decoder depth on the validation
split:

- SNLI-VE: answer accuracy when the decoder is cut after layer k (static truncation,
  candidates scored as in evaluation);
- captioning: teacher-forced NLL of layer k's output (the layer-wise criterion measures
  every layer of any checkpoint).

Writes ``benchmarks/results/layerwise_vs_plain.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from typing import Dict, List

import torch

from measurement import Provenance

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERIA = {"plain": "adjust_label_smoothed_cross_entropy", "layerwise": "layerwise_label_smoothed_cross_entropy"}
DEPTH = 6


def run(*args: str) -> str:
    """Run a Python module from the repository root; its output, or an error with the tail."""
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout + done.stderr


def vocabulary_args(data: str, image_size: int) -> List[str]:
    return ["--bpe-dir", f"{data}/bpe", "--code-dict-size", "0", "--num-bins", "0",
            "--patch-image-size", str(image_size)]


def train(data: str, task: str, loss: str, updates: int, save_dir: str, image_size: int) -> str:
    """Fine-tune with one of :data:`CRITERIA`; returns the checkpoint."""
    checkpoint = os.path.join(save_dir, "checkpoint_last.pt")
    if not os.path.isfile(checkpoint):
        run("fairseq_cli.train", f"{data}/{task}", "--user-dir", "ofa_mue", "--task", task, "--arch", "ofa_demo",
            *vocabulary_args(data, image_size), "--decompose-modalities", "--criterion", CRITERIA[loss],
            "--label-smoothing", "0.1", "--optimizer", "adam", "--lr", "1e-3", "--clip-norm", "1.0",
            "--lr-scheduler", "polynomial_decay", "--warmup-updates", str(updates // 16),
            "--total-num-update", str(updates), "--max-update", str(updates), "--batch-size", "32",
            "--save-dir", save_dir, "--no-epoch-checkpoints", "--disable-validation", "--num-workers", "0",
            "--cpu", "--seed", "1", "--log-format", "simple", "--log-interval", "100")
    return checkpoint


def snli_accuracy_by_depth(data: str, checkpoint: str, image_size: int) -> List[float]:
    """Validation accuracy with the decoder cut after each layer."""
    accuracies = []
    for depth in range(1, DEPTH + 1):
        output = run("ofa_mue.evaluate", f"{data}/snli_ve", "--path", checkpoint, "--task", "snli_ve",
                     *vocabulary_args(data, image_size), "--gen-subset", "valid", "--batch-size", "64", "--cpu",
                     "--exit-policy", "static", "--static-decoder-layers", str(depth))
        accuracies.append(json.loads(output[output.index("\n{") + 1: output.rindex("}") + 1])["metrics"]["accuracy"])
    return accuracies


def caption_loss_by_layer(data: str, checkpoint: str, image_size: int) -> List[float]:
    """Teacher-forced validation NLL (base 2, per token) of every decoder layer's output."""
    import torch
    from fairseq import checkpoint_utils

    from ofa_mue.criterions.layerwise_cross_entropy import LayerwiseLabelSmoothedCrossEntropy

    overrides = {"data": f"{data}/caption", "bpe_dir": f"{data}/bpe", "patch_image_size": image_size}
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], arg_overrides=overrides)
    model = models[0].eval()
    task.load_dataset("valid")
    criterion = LayerwiseLabelSmoothedCrossEntropy(task, label_smoothing=0.0)
    batches = task.get_batch_iterator(dataset=task.dataset("valid"), max_sentences=64).next_epoch_itr(shuffle=False)
    sums, tokens = [0.0] * DEPTH, 0
    with torch.no_grad():
        for sample in batches:
            _, ntokens, log = criterion(model, sample)
            tokens += ntokens
            sums = [total + float(log[f"loss_layer{k}"]) for k, total in enumerate(sums, start=1)]
    return [total / tokens / math.log(2) for total in sums]


def markdown(results: Dict[str, Dict[str, List[float]]], updates: int) -> str:
    header = "| loss | " + " | ".join(f"layer {k}" for k in range(1, DEPTH + 1)) + " |"
    rule = "|---|" + "---|" * DEPTH
    lines = [f"Equal training: {updates} updates each, same seed and data (ofa_demo, demo data).", "",
             "SNLI-VE validation accuracy with the decoder cut after layer k:", "", header, rule]
    lines += [f"| {loss} | " + " | ".join(f"{100 * a:.1f}%" for a in results["snli_ve"][loss]) + " |"
              for loss in CRITERIA]
    lines += ["", "Caption validation loss (base 2, per token) of layer k's output:", "", header, rule]
    lines += [f"| {loss} | " + " | ".join(f"{v:.3f}" for v in results["caption"][loss]) + " |" for loss in CRITERIA]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="demo_data", help="demo data folder (python -m ofa_mue.demo.generate)")
    parser.add_argument("--updates", type=int, default=400, help="training updates per model")
    parser.add_argument("--image-size", type=int, default=64, help="--patch-image-size")
    parser.add_argument("--work-dir", default="checkpoints/layerwise_vs_plain", help="checkpoints go here")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="results folder")
    args = parser.parse_args()
    provenance = Provenance(torch.device("cpu"))
    results: Dict[str, Dict[str, List[float]]] = {"snli_ve": {}, "caption": {}}
    for loss in CRITERIA:
        snli = train(args.data, "snli_ve", loss, args.updates, f"{args.work_dir}/snli_ve_{loss}", args.image_size)
        results["snli_ve"][loss] = snli_accuracy_by_depth(args.data, snli, args.image_size)
        caption = train(args.data, "caption", loss, args.updates, f"{args.work_dir}/caption_{loss}", args.image_size)
        results["caption"][loss] = caption_loss_by_layer(args.data, caption, args.image_size)
        print(loss, json.dumps({task: r[loss] for task, r in results.items()}), flush=True)
    os.makedirs(args.out, exist_ok=True)
    record = provenance.finish()
    with open(os.path.join(args.out, "layerwise_vs_plain.json"), "w") as handle:
        json.dump({**record, "updates": args.updates, "data": args.data, **results}, handle, indent=2)
    table = provenance.header() + markdown(results, args.updates)
    with open(os.path.join(args.out, "layerwise_vs_plain.md"), "w") as handle:
        handle.write(table)
    print(table)


if __name__ == "__main__":
    main()
