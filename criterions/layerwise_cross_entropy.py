"""MuE's layer-wise task loss: OFA's label-smoothed cross-entropy on every decoder layer.

Registered as ``layerwise_label_smoothed_cross_entropy``. Each decoder layer's output goes
through the shared final layer norm and the tied output projection
(``decoder.hidden_to_logits``); the per-layer losses are averaged with ``--layer-weights``
(equal by default), as the paper says (MuE's published code sums them: see the README's
"Kept different from OFA on purpose"). Only target positions that are not padding are projected, once per
layer, the last layer included. SNLI-VE's ``constraint_masks`` apply to every layer, and so
does OFA's ``--drop-worst-ratio``: each layer leaves out its own worst tokens, as MuE's code does.

Logged besides OFA's ``loss``/``nll_loss`` (the weighted averages): ``loss_layer{i}``
(label-smoothed loss of layer ``i`` in nats, as ``loss``, per token; per sentence with
``--sentence-avg``) and ``acc_layer{i}`` (its token accuracy, %); ``accuracy`` with
``--report-accuracy`` is the last layer's.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
from fairseq.criterions import register_criterion

from .label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropy,
    LabelSmoothedCrossEntropyConfig,
    constrained_log_probs,
)
from .layerwise import decoder_layer_states, log_layer_metric, normalised_layer_weights, parse_layer_weights


@dataclass
class LayerwiseCrossEntropyConfig(LabelSmoothedCrossEntropyConfig):
    layer_weights: Optional[str] = field(
        default=None,
        metadata={"help": "comma-separated weight of each decoder layer's loss, first layer first "
                          "(default: equal), e.g. 1,1,1,1,1,2"},
    )


@register_criterion("layerwise_label_smoothed_cross_entropy", dataclass=LayerwiseCrossEntropyConfig)
class LayerwiseLabelSmoothedCrossEntropy(LabelSmoothedCrossEntropy):
    """Weighted average over decoder layers of the label-smoothed cross-entropy."""

    def __init__(
        self, task, label_smoothing: float = 0.0, report_accuracy: bool = False, layer_weights: Optional[str] = None,
        drop_worst_ratio: float = 0.0, drop_worst_after: int = 0, sentence_avg: bool = False,
    ):
        super().__init__(task, label_smoothing, report_accuracy, drop_worst_ratio, drop_worst_after, sentence_avg)
        self.layer_weights = parse_layer_weights(layer_weights)

    def forward(self, model, sample: Dict[str, Any], reduce: bool = True):
        decoder, states = decoder_layer_states(model, sample["net_input"])
        weights = normalised_layer_weights(self.layer_weights, len(states))
        scored = sample["target"].ne(self.padding_idx)
        target = sample["target"][scored]
        masks = sample.get("constraint_masks")
        masks = None if masks is None else masks[scored]

        loss, nll = 0.0, 0.0
        per_layer: Dict[str, Any] = {}
        for layer, (weight, state) in enumerate(zip(weights, states), start=1):
            # a layer with weight 0 is only measured, not trained
            with torch.set_grad_enabled(torch.is_grad_enabled() and weight > 0):
                lprobs = constrained_log_probs(decoder.hidden_to_logits(state[scored]), masks)
                layer_loss, layer_nll = self.summed_losses(lprobs, target, masks)
            correct = lprobs.argmax(-1).eq(target).sum()
            loss = loss + weight * layer_loss
            nll = nll + weight * layer_nll
            per_layer[f"loss_layer{layer}"] = layer_loss.detach()
            per_layer[f"n_correct_layer{layer}"] = correct.detach()
        sample_size = self.gradient_denominator(sample)
        logging_output = {**self.logging_output(sample, loss, nll, correct, sample_size), **per_layer}
        return loss, sample_size, logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs: List[Dict[str, Any]]) -> None:
        super().reduce_metrics(logging_outputs)
        ntokens = sum(log.get("ntokens", 0) for log in logging_outputs)
        kept = sum(log.get("sample_size", 0) for log in logging_outputs)
        log_layer_metric(logging_outputs, "loss_layer", "loss_layer", kept)  # nats, as "loss"
        log_layer_metric(logging_outputs, "n_correct_layer", "acc_layer", ntokens, scale=100.0, round=2)
