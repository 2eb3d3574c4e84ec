"""benchmarks/exit_signal.py: an answer is settled only when every deeper layer gives the full
model's answer, and the answer it reads off each decoder layer is the one static truncation at
that depth scores (what its check against the committed sweep relies on), with MuE's measure
taken at the position that scores the answer. Its per-layer table (seed_report, on given signals)
has each layer's own settled share, accuracy and means, with a high similarity and a low
entropy ranking settled examples up, and each figure lands in its own column."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ofa_mue.criterions.layerwise import decoder_layer_states
from ofa_mue.core.exit_policy import StaticDepths
from ofa_mue.data.snli_ve_dataset import ANSWERS
from ofa_mue.timing import collated_batches

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from exit_signal import check_against_sweep, layer_signals, settled  # noqa: E402
from runners import load_task_and_model  # noqa: E402


def test_settled_needs_every_deeper_layer_to_give_the_last_layers_answer():
    answers = torch.tensor([[0, 1, 0, 0],    # right at layer 1 by luck, settled from layer 3
                            [2, 2, 2, 2],    # settled from layer 1
                            [1, 1, 1, 0]])   # changes at the last layer: settled only there
    assert settled(answers).tolist() == [[False, False, True, True],
                                         [True, True, True, True],
                                         [False, False, False, True]]


def test_each_layers_answer_is_static_truncations_at_that_depth(demo_data, demo_checkpoints):
    task, model = load_task_and_model("snli_ve", demo_checkpoints["snli_ve"].path, demo_data, {},
                                      torch.device("cpu"))
    signals = layer_signals(task, model, "test")
    layers = model.decoder.num_layers
    assert signals["answer"].shape == signals["similarity"].shape == (len(task.dataset("test")), layers)
    assert signals["similarity"].le(1 + 1e-6).all() and signals["entropy"].ge(0).all()
    expected, entropies, gold, similarities = [], [], [], []
    with torch.no_grad():
        for sample in collated_batches(task, "test", 100, None, torch.device("cpu")):
            per_depth, entropy = [], []
            for depth in range(1, layers + 1):
                session = task.exit_session(model, sample, StaticDepths(decoder=depth))
                log_probs = task.candidate_scores(model, sample, session)  # [B, 3], the eos after each certain
                per_depth.append(log_probs.argmax(-1))
                entropy.append(-(log_probs.exp() * log_probs).sum(-1))
            expected.append(torch.stack(per_depth, 1))
            entropies.append(torch.stack(entropy, 1))
            gold.append(torch.tensor([ANSWERS.index(a) for a in sample["answers"]]))
            # MuE's measure after layers 2..L: the cosine of consecutive layer outputs at the answer position
            inputs = task.candidate_inputs(sample)
            first = torch.arange(0, inputs["target"].size(0), len(task.candidates))
            _, states = decoder_layer_states(model, sample["net_input"], inputs["prev_output_tokens"][first])
            position = inputs["target"][first].ne(task.vocab.dictionary.pad()).int().argmax(1)
            at = torch.arange(len(first))
            similarities.append(torch.stack([F.cosine_similarity(states[d - 1][at, position].float(),
                                                                 states[d][at, position].float(), dim=-1)
                                             for d in range(1, layers)], 1))
    torch.testing.assert_close(signals["similarity"][:, 1:], torch.cat(similarities))
    assert torch.equal(signals["answer"], torch.cat(expected))
    torch.testing.assert_close(signals["entropy"], torch.cat(entropies))
    assert torch.equal(signals["gold"], torch.cat(gold))


def test_the_check_against_the_committed_sweep_compares_every_decoder_depth_it_has(tmp_path):
    def row(policy, image=0, text=0, decoder=0, metric=0.5):
        return {"policy": policy, "metric": metric, "options": {
            "static_image_layers": image, "static_text_layers": text, "static_decoder_layers": decoder}}

    sweep = tmp_path / "seed1" / "snli_ve" / "reproduce" / "sweep"
    sweep.mkdir(parents=True)
    rows = [row("full", metric=0.6), row("static", decoder=1, metric=0.4), row("static", 6, 6, 2, metric=0.5),
            row("static", 1, 6, 1, metric=0.9), row("mue", metric=0.1)]  # encoder cut or not static: not compared
    (sweep / "sweep.json").write_text(json.dumps({"rows": rows}), encoding="utf-8")
    args = argparse.Namespace(demo_results=str(tmp_path))
    assert check_against_sweep(args, 1, [0.4, 0.5, 0.55, 0.6], 6) == [1, 2, 4]
    with pytest.raises(SystemExit, match="decoder layer 2 is 0.5100"):
        check_against_sweep(args, 1, [0.4, 0.51, 0.55, 0.6], 6)


def _sweep(tmp_path, seed, metrics_by_decoder_depth, full_metric, encoder_layers):
    """A committed sweep with the full model and static truncation of the decoder alone."""
    def row(policy, decoder, metric):
        return {"policy": policy, "metric": metric, "options": {
            "static_image_layers": 0, "static_text_layers": encoder_layers, "static_decoder_layers": decoder}}

    folder = tmp_path / f"seed{seed}" / "snli_ve" / "reproduce" / "sweep"
    folder.mkdir(parents=True)
    rows = [row("full", 0, full_metric)] + [row("static", d, m) for d, m in metrics_by_decoder_depth.items()]
    (folder / "sweep.json").write_text(json.dumps({"rows": rows}), encoding="utf-8")


def test_each_layers_row_has_its_own_shares_means_and_signals_oriented_towards_settled(tmp_path, monkeypatch):
    """seed_report's table on hand-computed signals (the model and its per-layer signals given):
    row ``layer d`` (from 1, the last layer left out) has the share of examples settled at d, the
    accuracy cut at d, the AUROC of a *high* similarity and of a *low* entropy for settled against
    unsettled examples, and the mean similarity of each group."""
    import exit_signal

    answers = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 1], [2, 1, 1], [1, 1, 2], [2, 2, 2]])
    gold = torch.tensor([0, 0, 1, 1, 2, 0])  # right cut at layer 1 / 2 / 3: 1 / 4 / 5 of 6
    # settled at layer 1: examples 0 and 5; at layer 2: all but example 4
    similarity = torch.tensor([[0.9, 0.2, 1.0], [0.1, 0.4, 1.0], [0.5, 0.6, 1.0],
                               [0.3, 0.8, 1.0], [0.95, 0.5, 1.0], [0.8, 0.9, 1.0]])
    entropy = torch.tensor([[0.1, 0.3, 0.0], [0.9, 0.6, 0.0], [0.2, 0.1, 0.0],
                            [0.8, 0.9, 0.0], [0.7, 0.5, 0.0], [0.5, 0.7, 0.0]])
    signals = {"answer": answers, "gold": gold, "similarity": similarity, "entropy": entropy}
    model = argparse.Namespace(encoder=argparse.Namespace(num_layers=6))
    monkeypatch.setattr(exit_signal, "load_task_and_model", lambda *args, **kwargs: (None, model))
    monkeypatch.setattr(exit_signal, "layer_signals", lambda task, model, split: signals if split == "test" else None)
    _sweep(tmp_path, 2, {1: 1 / 6, 2: 4 / 6}, 5 / 6, 6)
    args = argparse.Namespace(checkpoints=str(tmp_path / "checkpoints"), data=str(tmp_path / "data"),
                              demo_results=str(tmp_path))
    report = exit_signal.seed_report(args, 2)
    assert report["split"] == "test" and report["full_accuracy"] == pytest.approx(5 / 6)
    assert report["depths_checked_against_sweep"] == [1, 2, 3]
    first, second = report["layers"]  # the last layer, settled by definition, has no row
    assert (first["layer"], second["layer"]) == (1, 2)
    assert first["examples"] == second["examples"] == 6
    assert (first["settled"], second["settled"]) == (pytest.approx(2 / 6), pytest.approx(5 / 6))
    assert (first["accuracy"], second["accuracy"]) == (pytest.approx(1 / 6), pytest.approx(4 / 6))
    # layer 1: settled 0.9, 0.8 against 0.1, 0.5, 0.3, 0.95: 6 of 8 pairs ranked right
    assert first["similarity_auroc"] == pytest.approx(6 / 8)
    # layer 2: settled 0.2, 0.4, 0.6, 0.8, 0.9 against 0.5: 3 of 5
    assert second["similarity_auroc"] == pytest.approx(3 / 5)
    # a low entropy ranks high. Layer 1: settled 0.1, 0.5 against 0.9, 0.2, 0.8, 0.7: 4 + 3 of 8
    assert first["entropy_auroc"] == pytest.approx(7 / 8)
    # layer 2: settled 0.3, 0.6, 0.1, 0.9, 0.7 against 0.5: 2 of 5
    assert second["entropy_auroc"] == pytest.approx(2 / 5)
    assert first["similarity_settled_mean"] == pytest.approx(0.85)
    assert first["similarity_unsettled_mean"] == pytest.approx(0.4625)
    assert second["similarity_settled_mean"] == pytest.approx(0.58)
    assert second["similarity_unsettled_mean"] == pytest.approx(0.5)


def test_auroc_is_none_without_both_classes_and_counts_ties_as_half():
    from exit_signal import auroc

    assert auroc(torch.tensor([True, True]), torch.tensor([0.1, 0.2])) is None
    assert auroc(torch.tensor([False, False]), torch.tensor([0.1, 0.2])) is None
    assert auroc(torch.tensor([True, False]), torch.tensor([0.9, 0.1])) == 1.0  # a high score marks a positive
    assert auroc(torch.tensor([True, False, False]), torch.tensor([0.5, 0.5, 0.1])) == pytest.approx(0.75)


def test_the_table_puts_each_figure_in_its_column():
    from exit_signal import markdown

    row = {"layer": 2, "examples": 300, "settled": 0.68, "accuracy": 0.55, "similarity_auroc": 0.415,
           "entropy_auroc": 0.853, "similarity_settled_mean": 0.91, "similarity_unsettled_mean": None}
    lines = markdown([{"seed": 3, "layers": [row]}]).splitlines()
    header = next(line for line in lines if line.startswith("| seed"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "seed", "decoder layer", "settled", "accuracy cut here", "similarity AUROC", "entropy AUROC",
        "mean similarity settled / unsettled"]
    assert "| 3 | 2 | 68.0% | 55.0% | 0.415 | 0.853 | 0.910 / - |" in lines
