"""SnliVeTask's scoring of the three answers, unit by unit (no training, no checkpoint): a batch
scores each row against its own image and text, as that row alone; fairseq-generate's hypothesis
is the chosen answer and its eos with one log-probability per token; the decaying threshold's
horizon is each example's whole decoder input; fairseq-train's step tells the criterion the
update first (OFA's ``--drop-worst-after``)."""
from __future__ import annotations

import logging
from unittest import mock

import pytest
import torch

from conftest import _image_b64
from test_ofa_validation_metrics import write_rows
from tiny_ofa import tiny_model

LABELS = ["entailment", "contradiction", "neutral", "entailment"]


@pytest.fixture(scope="module")
def task_and_model(tmp_path_factory):
    task = write_rows(tmp_path_factory.mktemp("snli"), _image_b64, LABELS)
    return task, tiny_model(task.vocab.dictionary).eval()


def batch(task, rows):
    dataset = task.dataset("valid")
    return dataset.collater([dataset[i] for i in rows])


def test_a_batch_scores_each_row_against_its_own_image_and_text_as_alone(task_and_model):
    """Row b * 3 + c of the candidate inputs pairs sample b's prompt with answer c, so the encoder
    output is repeated per sample (0, 0, 0, 1, 1, 1, ...), not per candidate: every row of a batch
    of four scores its answers as a batch of that row alone does."""
    task, model = task_and_model
    with torch.no_grad():
        together = task.candidate_scores(model, batch(task, [0, 1, 2, 3]))
        alone = torch.cat([task.candidate_scores(model, batch(task, [i])) for i in range(4)])
    assert together.shape == (4, 3)
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(alone[0], alone[1], atol=1e-4)  # the rows differ, so a swap would show


def test_fairseq_generate_hypothesis_is_the_best_answer_and_eos_with_a_score_per_token(task_and_model, caplog):
    """``inference_step`` returns, per row, the best of the three answers' tokens followed by eos,
    ``positional_scores`` one per token (the prompt's positions are not the hypothesis's) and their
    sum as the score; the split's accuracy, counted over its batches, is logged once every row is
    scored, and a second pass over the split counts afresh."""
    task, model = task_and_model
    dictionary = task.vocab.dictionary
    with torch.no_grad():
        scores = task.candidate_scores(model, batch(task, [0, 1, 2, 3]))
    best = scores.argmax(-1).tolist()
    predicted = [["no", "yes", "maybe"][b] for b in best]
    # the gold answers: the first batch both right, the second one right and one wrong
    gold = predicted[:3] + [next(a for a in ("no", "yes", "maybe") if a != predicted[3])]

    def labelled(rows):
        sample = batch(task, rows)
        sample["answers"] = [gold[i] for i in rows]
        return sample

    logged = "snli_ve valid: accuracy 0.7500 (3 of 4 rows correct"
    for _ in range(2):  # fairseq-generate's batches of two rows, and the split scored again
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="ofa_mue.tasks.snli_ve"):
            hypotheses = task.inference_step(None, [model], labelled([0, 1]))
            assert "accuracy" not in caplog.text
            hypotheses += task.inference_step(None, [model], labelled([2, 3]))
        assert caplog.text.count(logged) == 1, caplog.text
        assert len(hypotheses) == 4
        for row, (hypothesis,) in enumerate(hypotheses):
            expected = torch.cat([task.candidates[best[row]], torch.tensor([dictionary.eos()])])
            assert hypothesis["tokens"].tolist() == expected.tolist()
            assert hypothesis["positional_scores"].shape == hypothesis["tokens"].shape
            assert hypothesis["score"] == pytest.approx(scores[row, best[row]].item(), abs=1e-5)


def test_decoder_length_is_the_prompt_and_the_longest_answer(task_and_model):
    """The horizon N of a decaying decoder threshold (and the decoder length checked against the
    model's positions) is the length of the example's longest decoder input: its prompt and the
    longest candidate answer, as the candidate rows are built."""
    task, _ = task_and_model
    sample = batch(task, [0, 1, 2, 3])
    inputs = task.candidate_inputs(sample)
    pad = task.vocab.dictionary.pad()
    longest_rows = inputs["prev_output_tokens"].ne(pad).sum(-1).view(4, 3).max(-1).values
    assert task.decoder_lengths(sample).tolist() == longest_rows.tolist()
    assert task.evaluation_input_lengths(sample)["decoder"].tolist() == longest_rows.tolist()


def test_train_step_tells_the_criterion_the_update_before_its_loss(task_and_model):
    """OFA's criteria learn the update number before computing the loss (``--drop-worst-after``
    counts updates); fairseq's own train_step never tells them."""
    task, _ = task_and_model
    seen = []

    class Criterion:
        def set_num_updates(self, update):
            seen.append(("update", update))

        def __call__(self, model, sample):
            seen.append(("loss",))
            return torch.zeros((), requires_grad=True), 1, {}

    task.train_step({}, mock.MagicMock(), Criterion(), mock.MagicMock(), update_num=7)
    assert seen == [("update", 7), ("loss",)]


def test_exit_session_gives_each_candidate_row_its_examples_horizon_and_the_answers_distribution(task_and_model):
    """The exit policy's session gets, for every position of candidate row b * 3 + c, example b's
    decoder length as the decay's horizon, and a projection that leaves the prompt's positions the
    whole vocabulary and allows at each answer position only the three answers, at its eos only eos."""
    task, model = task_and_model
    sample = batch(task, [0, 1, 2, 3])
    lengths = task.decoder_lengths(sample)
    assert len(set(lengths.tolist())) > 1  # examples of different lengths, so rows cannot be swapped unseen
    policy = mock.MagicMock()
    task.exit_session(model, sample, policy)
    horizons, project = policy.session.call_args.args
    target = task.candidate_inputs(sample)["target"]
    assert horizons.tolist() == lengths.repeat_interleave(3).unsqueeze(1).expand(target.shape).flatten().tolist()

    dictionary = task.vocab.dictionary
    hidden = torch.randn(target.numel(), model.decoder.embed_tokens.embedding_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        allowed = project(hidden, torch.arange(target.numel())).isfinite().view(*target.shape, -1)
    answers = sorted(int(tokens[0]) for tokens in task.candidates)
    for row in range(target.size(0)):
        scored = target[row].ne(dictionary.pad()).nonzero().flatten().tolist()
        answer_at, eos_at = scored
        assert allowed[row, :answer_at].all()
        assert allowed[row, answer_at].nonzero().flatten().tolist() == answers
        assert allowed[row, eos_at].nonzero().flatten().tolist() == [dictionary.eos()]


def test_evaluation_records_count_the_decoder_layers_of_the_scored_positions_apart(task_and_model, monkeypatch):
    """Each example's record counts, besides every decoder position its three candidate rows ran, the
    scored ones apart (per candidate the last prompt position and the answer's: 6), with the layers
    they ran: with a decoder threshold of 0 every position stops after the first layer."""
    task, model = task_and_model
    monkeypatch.setattr(task.cfg, "decoder_exit_threshold", 0.0)
    sample = batch(task, [0, 1, 2, 3])
    with torch.no_grad():
        records = task.evaluation_records([model], sample)
    assert [record["uniq_id"] for record in records] == ["u0", "u1", "u2", "u3"]
    for record in records:
        layers = record["layers"]
        assert layers.decoder_tokens > 6 and layers.decoder_layer_sum == layers.decoder_tokens
        assert (layers.decoder_scored_layer_sum, layers.decoder_scored_tokens) == (6, 6)
