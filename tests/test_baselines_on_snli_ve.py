"""The prediction-based baselines on SNLI-VE judge an answer as the task scores it: DeeBERT's
entropy at the answer position is the entropy of the three answers' distribution (the answer
trie's constraint, under which the model was trained and is scored), not of logits over the
whole vocabulary that training never shaped; the eos after an answer, the only token the trie
allows there, is certain."""
from __future__ import annotations

import math

import torch

from ofa_mue.core.exit_policy import EntropyPolicy
from test_ofa_eval_habits import OFA_ANSWERS, snli_ve_batch
from tiny_ofa import DECODER_LAYERS, tiny_model


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the softmax of ``logits [..., V]`` -> ``[...]``."""
    log_probabilities = torch.log_softmax(logits.double(), -1)
    return -(log_probabilities.exp() * log_probabilities).sum(-1)


def test_entropy_exit_judges_the_answer_by_the_three_answers_distribution(tmp_path, image_b64):
    rows = [["u0", "i0", image_b64(9, 7), "two dogs play", "dogs in a park", "entailment"],
            ["u1", "i1", image_b64(5, 6, (20, 90, 200)), "a cat sleeps on a red sofa", "a cat", "neutral"],
            ["u2", "i2", image_b64(8, 8, (200, 30, 30)), "a red ball", "a toy", "contradiction"]]
    task, sample = snli_ve_batch(tmp_path, rows)
    model = tiny_model(task.vocab.dictionary).eval()
    net = sample["net_input"]
    inputs = task.candidate_inputs(sample)
    pad = task.vocab.dictionary.pad()
    scored = inputs["target"].ne(pad)
    prompt = inputs["prev_output_tokens"].ne(pad) & ~scored
    answer_position = scored.int().argmax(-1)  # each candidate row's first scored position: its answer
    with torch.no_grad():
        encoder_out = model.encoder(net["src_tokens"], net["src_lengths"], patch_images=net["patch_images"],
                                    patch_masks=net["patch_masks"])
        order = torch.arange(len(rows)).repeat_interleave(3)
        _, full = model.decoder(inputs["prev_output_tokens"], encoder_out=model.encoder.reorder_encoder_out(
            encoder_out, order), return_layer_states=True)
        # the entropy, layer by layer, of " no" / " yes" / " maybe" alone at each row's answer position
        answers = list(OFA_ANSWERS.values())
        among_three = torch.stack([entropy(model.decoder.hidden_to_logits(state[torch.arange(len(order)),
                                                                                answer_position])[:, answers])
                                   for state in full["layer_states"]], dim=1)  # [rows, layers]
        prompt_entropy = min(float(entropy(model.decoder.hidden_to_logits(state[prompt])).min())
                             for state in full["layer_states"])
    # every threshold below 2 nats leaves the prompt's tokens (whole vocabulary) running every layer
    assert float(among_three.max()) <= math.log(3) + 1e-9 < 2.0 < prompt_entropy
    # a threshold among the three-answer entropies: some answers stop early, others later
    values = sorted(set(among_three.flatten().tolist()))
    threshold = next((a + b) / 2 for a, b in zip(values, values[1:])
                     if len({_first_below(e, (a + b) / 2) for e in among_three.tolist()}) > 1)
    expected = [_first_below(e, threshold) for e in among_three.tolist()]

    with torch.no_grad():
        _, _, exit_layers = task.score_tokens(model, sample, task.exit_session(model, sample, EntropyPolicy(threshold)))
    exit_layers = exit_layers.flatten(0, 1)
    assert exit_layers[torch.arange(len(order)), answer_position].tolist() == expected
    eos_position = answer_position + 1  # one-token answers: the eos follows
    assert exit_layers[torch.arange(len(order)), eos_position].tolist() == [1] * len(order)
    assert (exit_layers[prompt] == DECODER_LAYERS).all()


def _first_below(entropies, threshold: float) -> int:
    """The layer (1-based) a token stops at: the first whose entropy is below ``threshold``, else the last."""
    return next((layer + 1 for layer, value in enumerate(entropies) if value < threshold), len(entropies))
