"""Does MuE's exit signal tell settled answers from unsettled ones? SNLI-VE, the demo's runs.

    python benchmarks/exit_signal.py [--seeds 1,2,3] [--checkpoints checkpoints/demo] [--data demo_data]
        [--demo-results docs/results/demo]

MuE stops a decoder token after the first layer whose output has a cosine similarity to its
input above a threshold. That pays where a high similarity marks the examples whose answer
will not change any more. SNLI-VE's answer is decided at one decoder position, the last of the
decoder prompt, whose output scores " yes", " no" and " maybe" (the eos after the answer is the
only token allowed there). For every example of the test split and every decoder layer ``d``, with
the encoder in full and every decoder position run through every layer (under MuE the prompt's
positions exit too, which changes the states the answer position attends to: this measures the
signal itself), this benchmark takes at that position:

- the **similarity** MuE tests after layer ``d`` (layer ``d``'s input against its output);
- the **answer of the model cut at** ``d`` (the three answers' distribution projected from
  layer ``d``'s output through the shared final layer norm and output projection, as static
  truncation and the exits score it), and that distribution's **entropy** (DeeBERT's signal);
- whether the answer has **settled** at ``d``: the answers after ``d`` and every deeper layer
  are the full model's (the stable oracle's notion, :mod:`ofa_mue.adaptivity_bound`).

Per layer it reports the share of settled examples and the area under the ROC curve (AUROC)
with which each signal ranks settled above unsettled examples (a high similarity, a low
entropy): 0.5 is chance, 1.0 a threshold that stops exactly the settled ones. The accuracy of
the model cut at ``d`` must equal the committed sweep's static truncation at decoder depth
``d`` (image and text in full) wherever the sweep has it, and the full model's the sweep's
full-model row: same checkpoint, same scoring, or the benchmark stops.

Writes ``benchmarks/results/exit_signal.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Dict, List

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from measurement import Provenance, write_results
from runners import load_task_and_model
from ofa_mue.data.snli_ve_dataset import ANSWERS
from ofa_mue.timing import collated_batches

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 100


def layer_signals(task, model, split: str) -> Dict[str, torch.Tensor]:
    """Per example and decoder layer ``[N, L]``: ``similarity``, ``entropy`` and ``answer`` (index
    into :data:`ANSWERS`) at the answer position, with the encoder in full; ``gold`` ``[N]``: the
    row's answer."""
    decoder = model.decoder
    captured: List[tuple] = []
    hooks = [layer.register_forward_hook(lambda module, args, output: captured.append((args[0], output[0])))
             for layer in decoder.layers]
    answer_ids = torch.tensor([int(tokens[0]) for tokens in task.candidates])
    signals: Dict[str, List[torch.Tensor]] = {"similarity": [], "entropy": [], "answer": [], "gold": []}
    try:
        with torch.no_grad():
            for sample in collated_batches(task, split, BATCH, None, torch.device("cpu")):
                net_input = sample["net_input"]
                encoder_out = model.encoder(net_input["src_tokens"], net_input["src_lengths"],
                                            patch_images=net_input["patch_images"],
                                            patch_masks=net_input["patch_masks"])
                inputs = task.candidate_inputs(sample)
                rows = torch.arange(0, inputs["target"].size(0), len(task.candidates))  # one candidate per example
                target = inputs["target"][rows]
                position = target.ne(task.vocab.dictionary.pad()).int().argmax(1)  # first scored: the answer
                captured.clear()
                decoder(inputs["prev_output_tokens"][rows], encoder_out=encoder_out)
                at = torch.arange(len(rows))
                x_in = torch.stack([x[at, position] for x, _ in captured], 1).float()
                x_out = torch.stack([y[at, position] for _, y in captured], 1).float()
                logits = decoder.hidden_to_logits(x_out)[..., answer_ids]
                log_probs = logits.log_softmax(-1)
                signals["similarity"].append(F.cosine_similarity(x_in, x_out, dim=-1))
                signals["entropy"].append(-(log_probs.exp() * log_probs).sum(-1))
                signals["answer"].append(logits.argmax(-1))
                signals["gold"].append(torch.tensor([ANSWERS.index(answer) for answer in sample["answers"]]))
    finally:
        for hook in hooks:
            hook.remove()
    return {name: torch.cat(values) for name, values in signals.items()}


def settled(answers: torch.Tensor) -> torch.Tensor:
    """``[N, L]`` bool: the answer at this layer and at every deeper one is the last layer's."""
    same = answers.eq(answers[:, -1:])
    return same.flip(1).int().cumprod(1).flip(1).bool()


def auroc(positive: torch.Tensor, score: torch.Tensor) -> float | None:
    """Area under the ROC curve of ``score`` for ``positive``; ``None`` when one class is empty."""
    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive.numpy(), score.numpy()))


def seed_report(args: argparse.Namespace, seed: int) -> Dict[str, Any]:
    """The per-layer table of one seed, checked against its committed sweep."""
    checkpoint = os.path.join(args.checkpoints, f"seed{seed}", "snli_ve", "checkpoint_last.pt")
    task, model = load_task_and_model("snli_ve", Path(checkpoint), Path(args.data), {}, torch.device("cpu"))
    signals = layer_signals(task, model, "test")
    answers = signals["answer"]
    accuracy = answers.eq(signals["gold"].unsqueeze(1)).double().mean(0).tolist()
    checked = check_against_sweep(args, seed, accuracy, model.encoder.num_layers)
    stable = settled(answers)
    layers = []
    for d in range(answers.size(1) - 1):  # the last layer is settled by definition
        positive = stable[:, d]
        layers.append({
            "layer": d + 1, "examples": int(positive.numel()), "settled": float(positive.double().mean()),
            "accuracy": accuracy[d],
            "similarity_auroc": auroc(positive, signals["similarity"][:, d]),
            "entropy_auroc": auroc(positive, -signals["entropy"][:, d]),
            "similarity_settled_mean": float(signals["similarity"][positive, d].mean()) if positive.any() else None,
            "similarity_unsettled_mean": float(signals["similarity"][~positive, d].mean()) if (~positive).any() else None,
        })
    return {"seed": seed, "checkpoint": checkpoint, "split": "test", "full_accuracy": accuracy[-1],
            "depths_checked_against_sweep": checked, "layers": layers}


def check_against_sweep(args: argparse.Namespace, seed: int, accuracy: List[float], encoder_layers: int) -> List[int]:
    """Stop unless the accuracy cut at each decoder depth equals the committed sweep's static
    truncation there (image and text in full) and the last layer's the full model's; returns the
    depths compared."""
    path = os.path.join(args.demo_results, f"seed{seed}", "snli_ve", "reproduce", "sweep", "sweep.json")
    with open(path, encoding="utf-8") as handle:
        rows = json.load(handle)["rows"]
    expected = {}
    for row in rows:
        options = row["options"]
        if row["policy"] == "full":
            expected[len(accuracy)] = row["metric"]
        elif (row["policy"] == "static" and options["static_image_layers"] in (0, encoder_layers)
              and options["static_text_layers"] in (0, encoder_layers) and options["static_decoder_layers"]):
            expected[options["static_decoder_layers"]] = row["metric"]
    for depth, metric in sorted(expected.items()):
        if abs(accuracy[depth - 1] - metric) > 1e-9:
            raise SystemExit(f"error: seed {seed}: accuracy cut at decoder layer {depth} is {accuracy[depth - 1]:.4f}, "
                             f"the committed sweep ({path}) has {metric:.4f}: not the same checkpoint or scoring")
    return sorted(expected)


def markdown(reports: List[Dict[str, Any]]) -> str:
    """One table over seeds and layers."""
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = ["| seed | decoder layer | settled | accuracy cut here | similarity AUROC | entropy AUROC | "
             "mean similarity settled / unsettled |", "|---|---|---|---|---|---|---|"]
    for report in reports:
        for row in report["layers"]:
            lines.append(f"| {report['seed']} | {row['layer']} | {row['settled']:.1%} | {row['accuracy']:.1%} | "
                         f"{cell(row['similarity_auroc'])} | {cell(row['entropy_auroc'])} | "
                         f"{cell(row['similarity_settled_mean'])} / {cell(row['similarity_unsettled_mean'])} |")
    return ("# Does MuE's exit signal find the settled answers? (SNLI-VE, decoder)\n\n"
            "Per test example, at the answer position, with the encoder in full: settled = the answer after "
            "this layer and every deeper one is the full model's. AUROC: how well a high similarity (MuE) or a "
            "low entropy of the three answers (DeeBERT) ranks settled above unsettled examples (0.5: chance). "
            "`python benchmarks/exit_signal.py`.\n\n" + "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="demo seeds [1,2,3]")
    parser.add_argument("--demo-results", default="docs/results/demo", help="the demo run's committed results")
    parser.add_argument("--checkpoints", default="checkpoints/demo", help="that run's checkpoints (DEMO_CHECKPOINTS)")
    parser.add_argument("--data", default="demo_data", help="that run's data (DEMO_DATA)")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="results folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    provenance = Provenance(torch.device("cpu"))
    reports = [seed_report(args, int(seed)) for seed in args.seeds.split(",")]
    report = {**provenance.finish(), "arguments": vars(args), "results": reports}
    write_results(args.out, "exit_signal", report, provenance.header() + markdown(reports))


if __name__ == "__main__":
    main()
