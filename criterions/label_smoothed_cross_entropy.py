"""OFA's fine-tuning loss: label-smoothed cross-entropy, optionally restricted to allowed answers.

Registered under OFA's name ``adjust_label_smoothed_cross_entropy``. Target positions that
hold padding (the decoder prompt, batch padding) are not scored. When a batch carries
``constraint_masks`` ``[B, T, V]`` (SNLI-VE's answer trie), tokens outside the allowed set
get no probability and the smoothing mass is spread over the allowed tokens only.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass
from torch import Tensor


@dataclass
class LabelSmoothedCrossEntropyConfig(FairseqDataclass):
    label_smoothing: float = field(default=0.0, metadata={"help": "label smoothing epsilon, 0 = none"})
    report_accuracy: bool = field(default=False, metadata={"help": "log token accuracy"})


def constrained_log_probs(logits: Tensor, constraint_masks: Optional[Tensor]) -> Tensor:
    """Log-probabilities ``[N, V]`` (float32), with disallowed tokens at -inf where a mask is given."""
    logits = logits.float()
    if constraint_masks is not None:
        logits = logits.masked_fill(~constraint_masks, float("-inf"))
    return F.log_softmax(logits, dim=-1)


def label_smoothed_nll(
    lprobs: Tensor, target: Tensor, epsilon: float, constraint_masks: Optional[Tensor] = None
) -> tuple[Tensor, Tensor]:
    """Summed label-smoothed loss and summed NLL of ``target [N]`` under ``lprobs [N, V]``.

    The smoothing term is the mean negative log-probability over the allowed tokens (all
    tokens without a mask).
    """
    nll = -lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    if epsilon == 0.0:
        return nll.sum(), nll.sum()
    if constraint_masks is None:
        smooth = -lprobs.mean(dim=-1)
    else:
        allowed = constraint_masks.sum(-1).clamp(min=1)
        smooth = -lprobs.masked_fill(~constraint_masks, 0.0).sum(-1) / allowed
    loss = (1.0 - epsilon) * nll + epsilon * smooth
    return loss.sum(), nll.sum()


@register_criterion("adjust_label_smoothed_cross_entropy", dataclass=LabelSmoothedCrossEntropyConfig)
class LabelSmoothedCrossEntropy(FairseqCriterion):
    """Label-smoothed cross-entropy of the decoder's final layer over non-padding targets."""

    def __init__(self, task, label_smoothing: float = 0.0, report_accuracy: bool = False):
        super().__init__(task)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"--label-smoothing must be in [0, 1), got {label_smoothing}")
        self.epsilon = label_smoothing
        self.report_accuracy = report_accuracy

    def forward(self, model, sample: Dict[str, Any], reduce: bool = True):
        logits, _ = model(**sample["net_input"])
        loss, nll, correct = self.score_logits(logits, sample)
        return loss, sample["ntokens"], self.logging_output(sample, loss, nll, correct)

    def score_logits(self, logits: Tensor, sample: Dict[str, Any]) -> tuple[Tensor, Tensor, Tensor]:
        """Summed loss, summed NLL and number of correct argmax predictions over the scored positions."""
        target = sample["target"]
        scored = target.ne(self.padding_idx)
        masks = sample.get("constraint_masks")
        masks = None if masks is None else masks[scored]
        lprobs = constrained_log_probs(logits[scored], masks)
        loss, nll = label_smoothed_nll(lprobs, target[scored], self.epsilon, masks)
        correct = lprobs.argmax(-1).eq(target[scored]).sum()
        return loss, nll, correct

    def logging_output(self, sample: Dict[str, Any], loss: Tensor, nll: Tensor, correct: Tensor) -> Dict[str, Any]:
        output = {
            "loss": loss.detach(),
            "nll_loss": nll.detach(),
            "ntokens": sample["ntokens"],
            "nsentences": sample["nsentences"],
            "sample_size": sample["ntokens"],
        }
        if self.report_accuracy:
            output["n_correct"] = correct.detach()
        return output

    @classmethod
    def reduce_metrics(cls, logging_outputs: List[Dict[str, Any]]) -> None:
        ntokens = sum(log.get("ntokens", 0) for log in logging_outputs)
        loss = sum(log.get("loss", 0) for log in logging_outputs)
        nll = sum(log.get("nll_loss", 0) for log in logging_outputs)
        metrics.log_scalar("loss", loss / max(ntokens, 1) / math.log(2), ntokens, round=3)
        metrics.log_scalar("nll_loss", nll / max(ntokens, 1) / math.log(2), ntokens, round=3)
        metrics.log_derived("ppl", lambda meters: 2 ** meters["nll_loss"].avg)
        if any("n_correct" in log for log in logging_outputs):
            correct = sum(log.get("n_correct", 0) for log in logging_outputs)
            metrics.log_scalar("accuracy", 100.0 * correct / max(ntokens, 1), ntokens, round=2)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
