"""benchmarks/exit_signal.py: an answer is settled only when every deeper layer gives the full
model's answer, and the answer it reads off each decoder layer is the one static truncation at
that depth scores (what its check against the committed sweep relies on), with MuE's measure
taken at the position that scores the answer."""
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
