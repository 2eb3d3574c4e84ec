"""OFA's fine-tuning loss as OFA defines it (criterions/label_smoothed_cross_entropy.py of
OFA-Sys/OFA): the label-smoothed target distribution, with and without SNLI-VE's answer
constraints, and fairseq's --sentence-avg."""
from __future__ import annotations

import pytest
import torch
from fairseq import criterions, options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

from ofa_mue.criterions.label_smoothed_cross_entropy import constrained_log_probs, token_losses
from ofa_mue.data.snli_ve_dataset import answer_candidates, answer_trie
from tiny_ofa import tiny_batch, tiny_dictionary, tiny_model, tiny_task

EPSILON = 0.1


def cross_entropy(smoothed_target: torch.Tensor, lprobs: torch.Tensor) -> torch.Tensor:
    """``-sum_v q_v log p_v`` per row, with 0 where ``q`` is 0 (disallowed tokens have -inf log-probabilities)."""
    return -torch.where(smoothed_target > 0, smoothed_target * lprobs, torch.zeros_like(lprobs)).sum(-1)


def test_unconstrained_smoothing_keeps_one_minus_epsilon_on_the_target_and_spreads_epsilon_over_the_rest():
    """OFA (as fairseq): the smoothed target gives the gold token 1 - eps and each of the other
    V - 1 tokens eps / (V - 1)."""
    generator = torch.Generator().manual_seed(0)
    vocab = 7
    lprobs = torch.log_softmax(torch.randn(5, vocab, generator=generator), -1)
    target = torch.randint(0, vocab, (5,), generator=generator)
    smoothed = torch.full((5, vocab), EPSILON / (vocab - 1))
    smoothed[torch.arange(5), target] = 1 - EPSILON

    loss, nll = token_losses(lprobs, target, EPSILON)

    torch.testing.assert_close(loss, cross_entropy(smoothed, lprobs))
    torch.testing.assert_close(nll, -lprobs[torch.arange(5), target])


def test_snli_ve_answer_smoothing_gives_each_other_answer_half_of_epsilon(ofa_vocab):
    """With SNLI-VE's answer trie, the answer position allows the three answers: the gold one
    keeps 1 - eps and the two others get eps / 2 each; at eos, the only allowed token, the loss is 0."""
    dictionary = ofa_vocab.dictionary
    trie = answer_trie(ofa_vocab)
    answers = dict(answer_candidates(ofa_vocab))
    gold = torch.cat([answers["maybe"], torch.tensor([dictionary.eos()])])
    masks = trie.constraint_mask(gold, 0, len(dictionary))
    assert masks.sum(-1).tolist() == [3, 1]
    logits = torch.randn(2, len(dictionary), generator=torch.Generator().manual_seed(1))
    lprobs = constrained_log_probs(logits, masks)

    smoothed = torch.zeros(2, len(dictionary))
    for answer in ("no", "yes"):
        smoothed[0, answers[answer][0]] = EPSILON / 2
    smoothed[0, gold[0]] = 1 - EPSILON
    smoothed[1, gold[1]] = 1.0

    loss, _ = token_losses(lprobs, gold, EPSILON, masks)

    torch.testing.assert_close(loss, cross_entropy(smoothed, lprobs))
    assert loss[1].item() == 0.0


def criterion_from_command_line(name: str, *flags: str):
    """The criterion fairseq-train builds from ``--criterion name flags`` (built for the tiny model's dictionary)."""
    args = options.parse_args_and_arch(options.get_training_parser(), [
        "data", "--user-dir", "ofa_mue", "--task", "caption", "--arch", "ofa_tiny", "--criterion", name, *flags])
    return criterions.build_criterion(convert_namespace_to_omegaconf(args).criterion, tiny_task(tiny_dictionary()))


@pytest.mark.parametrize("name", ["adjust_label_smoothed_cross_entropy", "layerwise_label_smoothed_cross_entropy"])
def test_sentence_avg_divides_the_gradient_by_the_sentences_as_in_ofa(name):
    """fairseq's --sentence-avg (which OFA's criterion honours): the summed loss is divided by the
    batch's sentences instead of its target tokens."""
    model, batch = tiny_model(tiny_dictionary()), tiny_batch(tiny_dictionary())
    per_token = criterion_from_command_line(name, "--label-smoothing", "0.1")
    per_sentence = criterion_from_command_line(name, "--label-smoothing", "0.1", "--sentence-avg")
    loss, sample_size, log = per_sentence(model, batch)
    assert sample_size == log["sample_size"] == batch["nsentences"] != batch["ntokens"]
    assert per_token(model, batch)[1] == batch["ntokens"]
    torch.testing.assert_close(loss, per_token(model, batch)[0])


def test_drop_worst_ranks_tokens_by_the_smoothed_loss_not_the_nll():
    """OFA's label_smoothed_nll_loss drops with ``torch.topk(loss, k=int(N * (1 - ratio)), largest=False)``
    on the smoothed loss. Token A (gold 0.2, others 0.4, 0.4) has the higher NLL, token B (gold 0.3,
    others 0.69, 0.01) the higher smoothed loss at eps 0.5 over V = 3 (eps / 2 on each other token):
    0.25 * (nll + smooth) = 0.25 * (2 * 1.609 + 2 * 0.916) = 1.263 for A, 0.25 * (2 * 1.204 + 0.371 + 4.605)
    = 1.846 for B. Dropping half of them keeps A."""
    from ofa_mue.criterions.label_smoothed_cross_entropy import drop_worst

    lprobs = torch.tensor([[0.2, 0.4, 0.4], [0.3, 0.69, 0.01]]).log()
    target = torch.tensor([0, 0])
    loss, nll = token_losses(lprobs, target, 0.5)
    torch.testing.assert_close(loss, torch.tensor([1.2629, 1.8460]), atol=1e-4, rtol=0)
    assert nll[0] > nll[1]
    kept_loss, kept_nll = drop_worst(loss, nll, 0.5)
    torch.testing.assert_close(kept_loss, loss[:1])
    torch.testing.assert_close(kept_nll, nll[:1])


@pytest.mark.parametrize("name", ["adjust_label_smoothed_cross_entropy", "layerwise_label_smoothed_cross_entropy"])
def test_logged_accuracy_is_the_share_of_target_tokens_predicted_also_with_sentence_avg(name):
    """OFA logs accuracy = n_correct / total * 100, total being the batch's non-padding target
    tokens, whatever --sentence-avg makes the gradient's denominator."""
    from fairseq import metrics

    model, batch = tiny_model(tiny_dictionary()), tiny_batch(tiny_dictionary())
    criterion = criterion_from_command_line(name, "--report-accuracy", "--sentence-avg")
    with torch.no_grad():
        logits, _ = model(**batch["net_input"])
        _, _, log = criterion(model, batch)
    scored = batch["target"].ne(tiny_dictionary().pad())
    assert log["n_correct"] == logits.argmax(-1)[scored].eq(batch["target"][scored]).sum().item()
    assert log["sample_size"] == batch["nsentences"] and log["ntokens"] == scored.sum().item()
    logs = [{**log, "n_correct": 7, "ntokens": 10, "nsentences": 2, "sample_size": 2}, {**log, "n_correct": 1,
            "ntokens": 6, "nsentences": 1, "sample_size": 1}]
    with metrics.aggregate() as aggregated:
        criterion.reduce_metrics(logs)
    assert aggregated.get_smoothed_values()["accuracy"] == 50.0  # (7 + 1) / (10 + 6) target tokens


@pytest.mark.parametrize("name", ["adjust_label_smoothed_cross_entropy", "layerwise_label_smoothed_cross_entropy"])
@pytest.mark.parametrize("flags", [["--ignore-eos"], ["--ignore-prefix-size", "1"], ["--constraint-range", "4,100"],
                                   ["--use-rdrop"], ["--reg-alpha", "1.0"], ["--sample-patch-num", "196"]])
def test_ofa_criterion_options_this_project_does_not_implement_are_refused(name, flags, capsys):
    """OFA's criterion options with no implementation here stop fairseq-train instead of being ignored."""
    with pytest.raises(SystemExit):
        criterion_from_command_line(name, *flags)
    assert f"unrecognized arguments: {' '.join(flags)}" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["adjust_label_smoothed_cross_entropy", "layerwise_label_smoothed_cross_entropy"])
def test_logged_losses_are_ofas_nats_nll_weighted_by_tokens_and_ppl_two_to_the_nll(name):
    """OFA's reduce_metrics logs ``loss = loss_sum / sample_size`` and ``nll_loss = nll_loss_sum /
    sample_size`` in nats (no division by ln 2, which fairseq's own criteria apply), the nll meter
    weighted by ``ntokens`` and the loss meter by ``sample_size``, and ``ppl =
    utils.get_perplexity(nll_loss) = 2 ** nll_loss``. Two reductions into one aggregate (two log
    intervals) whose token and sample counts differ tell the weights apart."""
    from fairseq import metrics

    criterion = criterion_from_command_line(name)
    first = {"loss": 6.0, "nll_loss": 4.0, "ntokens": 4, "nsentences": 1, "sample_size": 2,
             "loss_layer1": 6.0}
    second = {"loss": 3.0, "nll_loss": 3.0, "ntokens": 1, "nsentences": 1, "sample_size": 3,
              "loss_layer1": 3.0}
    with metrics.aggregate() as aggregated:
        criterion.reduce_metrics([first])
        criterion.reduce_metrics([second])
    values = aggregated.get_smoothed_values()
    assert values["loss"] == pytest.approx((2 * 3.0 + 3 * 1.0) / 5, abs=1e-3)  # 3.0 and 1.0 nats, weights 2, 3
    assert values["nll_loss"] == pytest.approx((4 * 2.0 + 1 * 1.0) / 5, abs=1e-3)  # 2.0 and 1.0, weights 4, 1
    assert values["ppl"] == pytest.approx(2 ** values["nll_loss"], abs=0.01)
    if name == "layerwise_label_smoothed_cross_entropy":  # each layer's loss in the same unit as "loss"
        assert values["loss_layer1"] == pytest.approx(values["loss"], abs=1e-3)


def test_the_plain_criterion_restricts_its_loss_and_accuracy_to_the_batchs_constraint_masks():
    """A batch's ``constraint_masks`` (SNLI-VE's answer trie): OFA's criterion fills the disallowed
    logits with -inf before the log-softmax, smooths over the other allowed tokens only, and counts
    a token correct when the argmax among the allowed tokens is the target. The masks here allow
    the target and every token the model ranks below it, so each constrained argmax is right while
    the unconstrained one rarely is."""
    import torch.nn.functional as F

    from ofa_mue.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropy

    dictionary = tiny_dictionary()
    model, batch = tiny_model(dictionary).eval(), tiny_batch(dictionary)
    target = batch["target"]
    with torch.no_grad():
        logits = model(**batch["net_input"])[0].float()
    masks = logits.le(logits.gather(-1, target.unsqueeze(-1)))
    batch["constraint_masks"] = masks
    criterion = LabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, report_accuracy=True)
    with torch.no_grad():
        loss, _, log = criterion(model, batch)

    scored = target.ne(dictionary.pad())
    gold, allowed = target[scored], masks[scored]
    lprobs = F.log_softmax(logits.masked_fill(~masks, float("-inf")), -1)[scored]
    others = allowed.clone()
    others[torch.arange(len(gold)), gold] = False
    smoothed = EPSILON * others / others.sum(-1, keepdim=True)
    smoothed[torch.arange(len(gold)), gold] = 1 - EPSILON
    torch.testing.assert_close(loss, cross_entropy(smoothed, lprobs).sum())
    assert log["n_correct"].item() == scored.sum().item() > logits[scored].argmax(-1).eq(gold).sum().item()


def test_log_probabilities_are_float32_when_the_logits_are_half_precision():
    """--fp16 training: the loss takes float32 log-probabilities of the half-precision logits, as
    OFA's criterion gets them (fairseq's get_normalized_probs softmaxes in float32); a float16
    log-softmax keeps about three significant digits."""
    import torch.nn.functional as F

    logits = (8 * torch.randn(4, 50, generator=torch.Generator().manual_seed(2))).half()
    masks = torch.ones(4, 50, dtype=torch.bool)
    masks[:, :10] = False
    for constraint_masks in (None, masks):
        lprobs = constrained_log_probs(logits, constraint_masks)
        assert lprobs.dtype == torch.float32
        expected = logits.float() if constraint_masks is None else logits.float().masked_fill(~masks, float("-inf"))
        torch.testing.assert_close(lprobs, F.log_softmax(expected, -1), rtol=1e-6, atol=1e-6)


def test_drop_worst_keeps_the_rounded_down_share_and_divides_the_gradient_by_it():
    """OFA keeps ``int(N * (1 - ratio))`` tokens (rounded down) and its sample_size is the number
    kept: 7 target tokens at --drop-worst-ratio 0.3 keep 4 (7 * 0.7 = 4.9), not 5."""
    from ofa_mue.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropy, drop_worst

    loss = torch.tensor([6.0, 0.0, 5.0, 1.0, 4.0, 2.0, 3.0])
    kept_loss, kept_nll = drop_worst(loss, 2 * loss, 0.3)
    assert sorted(kept_loss.tolist()) == [0.0, 1.0, 2.0, 3.0]
    assert sorted(kept_nll.tolist()) == [0.0, 2.0, 4.0, 6.0]
    criterion = LabelSmoothedCrossEntropy(tiny_task(tiny_dictionary()), drop_worst_ratio=0.3)
    criterion.train()
    criterion.set_num_updates(1)
    assert criterion.gradient_denominator({"ntokens": 7, "nsentences": 2}) == 4
