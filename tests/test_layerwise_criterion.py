"""MuE's layer-wise task loss: value, gradients, one projection per layer, weights, logging."""
from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F
from fairseq import metrics

from ofa_mue.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropy
from ofa_mue.criterions.layerwise import normalised_layer_weights, parse_layer_weights
from ofa_mue.criterions.layerwise_cross_entropy import LayerwiseLabelSmoothedCrossEntropy
from ofa_mue.errors import ConfigError
from tiny_ofa import DECODER_LAYERS, answer_constraints, tiny_batch, tiny_dictionary, tiny_model, tiny_task

EPSILON = 0.1


@pytest.fixture(scope="module")
def dictionary():
    return tiny_dictionary()


@pytest.fixture
def model(dictionary):
    return tiny_model(dictionary)


def smoothed_loss(lprobs, target, epsilon: float, allowed=None):
    """Per-token cross-entropy against OFA's smoothed target: 1 - epsilon on the gold token,
    epsilon spread evenly over the other allowed tokens (all others without ``allowed``)."""
    allowed = torch.ones_like(lprobs, dtype=torch.bool) if allowed is None else allowed
    others = allowed.clone()
    others[torch.arange(len(target)), target] = False
    smoothed = epsilon * others / others.sum(-1, keepdim=True)
    smoothed[torch.arange(len(target)), target] = 1 - epsilon
    return -torch.where(smoothed > 0, smoothed * lprobs, torch.zeros_like(lprobs)).sum(-1)


def reference_layer_losses(model, batch, epsilon: float, masks=None) -> list:
    """Each layer's summed label-smoothed loss, computed from scratch on the full logits."""
    with torch.no_grad():
        _, extra = model(**batch["net_input"], return_layer_states=True)
    target = batch["target"]
    scored = target.ne(model.decoder.padding_idx)
    losses = []
    for state in extra["layer_states"]:
        logits = model.decoder.hidden_to_logits(state).float()
        if masks is not None:
            logits = logits.masked_fill(~masks, float("-inf"))
        lprobs = F.log_softmax(logits, dim=-1)[scored]
        losses.append(smoothed_loss(lprobs, target[scored], epsilon, None if masks is None else masks[scored]).sum())
    return losses


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("weights", [None, "1,2,3", "0,0,1"])
def test_value_is_weighted_mean_of_independent_layer_losses(model, dictionary, constrained, weights):
    batch = tiny_batch(dictionary)
    masks = answer_constraints(batch) if constrained else None
    if constrained:
        batch["constraint_masks"] = masks
    criterion = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, layer_weights=weights)
    loss, sample_size, log = criterion(model, batch)

    expected_layers = reference_layer_losses(model, batch, EPSILON, masks)
    raw = [1.0] * DECODER_LAYERS if weights is None else [float(w) for w in weights.split(",")]
    expected = sum(w * l for w, l in zip(raw, expected_layers)) / sum(raw)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert sample_size == batch["ntokens"]
    for layer, value in enumerate(expected_layers, start=1):
        assert log[f"loss_layer{layer}"].item() == pytest.approx(value.item(), rel=1e-5)


def test_gradients_reach_every_decoder_layer_and_last_term_equals_plain_loss(model, dictionary):
    batch = tiny_batch(dictionary)
    loss, _, log = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON)(model, batch)
    loss.backward()
    for layer in model.decoder.layers:
        assert layer.fc1.weight.grad is not None and layer.fc1.weight.grad.abs().sum() > 0

    plain_loss, _, _ = LabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON)(model, batch)
    assert log[f"loss_layer{DECODER_LAYERS}"].item() == pytest.approx(plain_loss.item(), rel=1e-5)


def test_last_layer_only_weights_give_the_plain_gradient(dictionary):
    batch = tiny_batch(dictionary)
    grads = []
    for criterion in (LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, layer_weights="0,0,1"),
                      LabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON)):
        model = tiny_model(dictionary)
        criterion(model, batch)[0].backward()
        grads.append(model.decoder.layers[0].fc1.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_vocabulary_projection_runs_once_per_layer_on_scored_rows_only(model, dictionary):
    batch = tiny_batch(dictionary)
    calls = []
    handle = model.decoder.output_projection.register_forward_hook(lambda m, inputs, out: calls.append(inputs[0].shape))
    try:
        LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON)(model, batch)
    finally:
        handle.remove()
    assert len(calls) == DECODER_LAYERS
    assert all(shape[0] == batch["ntokens"] for shape in calls)


def test_per_layer_losses_and_accuracies_are_logged(model, dictionary):
    batch = tiny_batch(dictionary)
    _, _, log = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON)(model, batch)
    with metrics.aggregate() as aggregated:
        LayerwiseLabelSmoothedCrossEntropy.reduce_metrics([log, log])
        values = aggregated.get_smoothed_values()
    for layer in range(1, DECODER_LAYERS + 1):
        expected = log[f"loss_layer{layer}"].item() / batch["ntokens"]
        assert values[f"loss_layer{layer}"] == pytest.approx(expected, abs=1e-3)
        assert 0 <= values[f"acc_layer{layer}"] <= 100
    assert f"loss_layer{DECODER_LAYERS + 1}" not in values


@pytest.mark.parametrize(
    "spec, message",
    [("1,x,1", "comma-separated numbers"), ("1,-1,1", "non-negative"), ("0,0,0", "positive"), ("1,inf,1", "finite")],
)
def test_bad_layer_weights_are_refused_when_the_criterion_is_built(dictionary, spec, message):
    with pytest.raises(ConfigError, match=message):
        LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, layer_weights=spec)


def test_layer_weight_count_must_match_the_decoder(model, dictionary):
    criterion = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, layer_weights="1,1,1,1,1,2")
    with pytest.raises(ConfigError, match=f"6 values but the decoder has {DECODER_LAYERS} layers"):
        criterion(model, tiny_batch(dictionary))


def test_fewer_layer_weights_than_decoder_layers_are_refused(model, dictionary):
    """Two weights for three layers would train the first two and silently leave out the last."""
    criterion = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, layer_weights="1,2")
    with pytest.raises(ConfigError, match=f"2 values but the decoder has {DECODER_LAYERS} layers"):
        criterion(model, tiny_batch(dictionary))


def test_layer_weights_are_normalised():
    assert normalised_layer_weights(parse_layer_weights("1,1,2"), 3) == [0.25, 0.25, 0.5]
    assert normalised_layer_weights(None, 4) == [0.25] * 4


def test_drop_worst_leaves_out_each_layers_worst_tokens_in_training_only(model, dictionary):
    """OFA's --drop-worst-ratio/--drop-worst-after, per layer as MuE's code applies it."""
    batch = tiny_batch(dictionary)
    model.eval()  # no dropout: the reference and the criterion see the same outputs
    ntokens = batch["ntokens"]
    kept = int(ntokens * (1 - 0.5))
    criterion = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, drop_worst_ratio=0.5,
                                                   drop_worst_after=3)
    scored = batch["target"].ne(model.decoder.padding_idx)
    with torch.no_grad():
        _, extra = model(**batch["net_input"], return_layer_states=True)
    expected = 0.0
    for state in extra["layer_states"]:
        lprobs = F.log_softmax(model.decoder.hidden_to_logits(state).float(), dim=-1)[scored]
        target = batch["target"][scored]
        expected += smoothed_loss(lprobs, target, EPSILON).sort().values[:kept].sum() / DECODER_LAYERS
    criterion.train()
    criterion.set_num_updates(4)  # past --drop-worst-after
    loss, sample_size, _ = criterion(model, batch)
    assert sample_size == kept
    torch.testing.assert_close(loss, expected)
    criterion.set_num_updates(3)  # not yet
    assert criterion(model, batch)[1] == ntokens
    criterion.set_num_updates(4)
    criterion.eval()  # validation scores every token, as OFA's
    assert criterion(model, batch)[1] == ntokens


def test_logged_layer_accuracies_and_losses_have_their_own_denominators(model, dictionary):
    """``acc_layer{i}``: layer i's share of target tokens predicted right (%), from its own
    logits; ``loss_layer{i}``: per sentence with --sentence-avg, per kept token when
    --drop-worst-ratio leaves tokens out (the denominators of OFA's ``loss``)."""
    batch = tiny_batch(dictionary)
    model.eval()
    scored = batch["target"].ne(model.decoder.padding_idx)
    with torch.no_grad():
        _, extra = model(**batch["net_input"], return_layer_states=True)
    # targets the first layer predicts (the untrained model's layers would all score 0%)
    first_layer = model.decoder.hidden_to_logits(extra["layer_states"][0]).argmax(-1)
    batch["target"] = batch["target"].masked_scatter(scored, first_layer[scored])
    accuracies = [100.0 * model.decoder.hidden_to_logits(state)[scored].argmax(-1).eq(batch["target"][scored])
                  .float().mean().item() for state in extra["layer_states"]]
    assert len(set(accuracies)) > 1  # the layers differ, so a layer's value cannot stand in for another's

    def logged(criterion):
        _, _, log = criterion(model, batch)
        with metrics.aggregate() as aggregated:
            LayerwiseLabelSmoothedCrossEntropy.reduce_metrics([log, log])
            return log, aggregated.get_smoothed_values()

    log, values = logged(LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, sentence_avg=True))
    for layer in range(1, DECODER_LAYERS + 1):
        assert values[f"acc_layer{layer}"] == pytest.approx(accuracies[layer - 1], abs=0.01)
        per_sentence = log[f"loss_layer{layer}"].item() / batch["nsentences"]
        assert values[f"loss_layer{layer}"] == pytest.approx(per_sentence, abs=1e-3)

    dropping = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, drop_worst_ratio=0.5)
    dropping.train()
    dropping.set_num_updates(1)
    log, values = logged(dropping)
    kept = int(batch["ntokens"] * 0.5)
    assert log["sample_size"] == kept < batch["ntokens"]
    for layer in range(1, DECODER_LAYERS + 1):
        per_kept_token = log[f"loss_layer{layer}"].item() / kept
        assert values[f"loss_layer{layer}"] == pytest.approx(per_kept_token, abs=1e-3)
        assert values[f"acc_layer{layer}"] == pytest.approx(accuracies[layer - 1], abs=0.01)  # every token


def test_layer_states_come_through_fairseqs_two_wrappers(model, dictionary):
    """fairseq-train wraps a data-parallel model twice (``ModuleProxyWrapper`` around torch's
    ``DistributedDataParallel``, each holding the next as ``.module``): the criterion projects with
    the model's own decoder, found through both, and gets the same layer outputs as unwrapped."""
    from fairseq.distributed import ModuleProxyWrapper

    from ofa_mue.criterions.layerwise import decoder_layer_states

    class Holder(torch.nn.Module):  # DistributedDataParallel's layout: the model as .module, forward through it
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

    model.eval()
    net_input = tiny_batch(dictionary)["net_input"]
    decoder, states = decoder_layer_states(ModuleProxyWrapper(Holder(model)), net_input)
    assert decoder is model.decoder
    _, bare = decoder_layer_states(model, net_input)
    assert len(states) == DECODER_LAYERS
    for wrapped_state, bare_state in zip(states, bare):
        torch.testing.assert_close(wrapped_state, bare_state)


def test_logged_nll_is_the_weighted_mean_of_the_layers_and_accuracy_the_last_layers_among_allowed_tokens(
        model, dictionary):
    """``nll_loss`` is, as ``loss``, the --layer-weights mean of the layers' summed NLLs; with
    ``constraint_masks`` the logged ``n_correct`` counts the last layer's argmax among the allowed
    tokens (as OFA's criterion counts it). The masks allow the target and every token the last
    layer ranks below it: each constrained argmax is right, the unconstrained one rarely."""
    batch = tiny_batch(dictionary)
    model.eval()
    target = batch["target"]
    scored = target.ne(model.decoder.padding_idx)
    with torch.no_grad():
        _, extra = model(**batch["net_input"], return_layer_states=True)
        last = model.decoder.hidden_to_logits(extra["layer_states"][-1]).float()
        masks = last.le(last.gather(-1, target.unsqueeze(-1)))
        batch["constraint_masks"] = masks
        weights = list(range(1, DECODER_LAYERS + 1))
        criterion = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), EPSILON, report_accuracy=True,
                                                       layer_weights=",".join(map(str, weights)))
        _, _, log = criterion(model, batch)
        nlls = []
        for state in extra["layer_states"]:
            logits = model.decoder.hidden_to_logits(state).float().masked_fill(~masks, float("-inf"))
            lprobs = F.log_softmax(logits, dim=-1)[scored]
            nlls.append(-lprobs.gather(-1, target[scored].unsqueeze(-1)).sum())
    expected = sum(w * nll for w, nll in zip(weights, nlls)) / sum(weights)
    assert log["nll_loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert log["n_correct"].item() == scored.sum().item() > last[scored].argmax(-1).eq(target[scored]).sum().item()
