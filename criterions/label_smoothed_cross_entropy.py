"""OFA's fine-tuning loss: label-smoothed cross-entropy, optionally restricted to allowed answers.

Registered under OFA's name ``adjust_label_smoothed_cross_entropy``. Target positions that
hold padding (the decoder prompt, batch padding) are not scored. When a batch carries
``constraint_masks`` ``[B, T, V]`` (SNLI-VE's answer trie), tokens outside the allowed set
get no probability. Label smoothing is OFA's: the gold token keeps ``1 - eps`` and ``eps`` is
spread evenly over the other allowed tokens (at SNLI-VE's answer position: ``eps / 2`` on each
of the two other answers).

OFA's ``--drop-worst-ratio R --drop-worst-after K``: once training is past update ``K``, each
batch leaves out the share ``R`` of its scored target tokens with the highest loss (the
gradient is averaged over the tokens kept); validation scores every token. fairseq's
``--sentence-avg`` averages the gradient over the batch's sentences instead, as in OFA.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from fairseq import metrics, utils
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass
from omegaconf import II
from torch import Tensor

from ofa_mue.errors import ConfigError


@dataclass
class LabelSmoothedCrossEntropyConfig(FairseqDataclass):
    label_smoothing: float = field(default=0.0, metadata={"help": "label smoothing epsilon, 0 = none"})
    report_accuracy: bool = field(default=False, metadata={"help": "log token accuracy"})
    drop_worst_ratio: float = field(
        default=0.0, metadata={"help": "OFA: in training past --drop-worst-after updates, leave out this share of "
                                       "each batch's target tokens with the highest loss (0 = none)"})
    drop_worst_after: int = field(default=0, metadata={"help": "OFA: updates before --drop-worst-ratio applies"})
    sentence_avg: bool = II("optimization.sentence_avg")


def constrained_log_probs(logits: Tensor, constraint_masks: Optional[Tensor]) -> Tensor:
    """Log-probabilities ``[N, V]`` (float32), with disallowed tokens at -inf where a mask is given."""
    logits = logits.float()
    if constraint_masks is not None:
        logits = logits.masked_fill(~constraint_masks, float("-inf"))
    return F.log_softmax(logits, dim=-1)


def token_losses(
    lprobs: Tensor, target: Tensor, epsilon: float, constraint_masks: Optional[Tensor] = None
) -> tuple[Tensor, Tensor]:
    """Label-smoothed loss and NLL ``[N]`` of each token of ``target [N]`` under ``lprobs [N, V]``.

    As OFA (and fairseq) smooth: the cross-entropy against a target distribution that keeps
    ``1 - epsilon`` on the gold token and spreads ``epsilon`` evenly over the other allowed
    tokens (the other ``V - 1`` without a mask; none where the gold token is the only one allowed).
    """
    nll = -lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    if epsilon == 0.0:
        return nll, nll
    if constraint_masks is None:
        smooth = -lprobs.sum(dim=-1)
        allowed = torch.full_like(nll, lprobs.size(-1))
    else:
        smooth = -lprobs.masked_fill(~constraint_masks, 0.0).sum(-1)
        allowed = constraint_masks.sum(-1).to(nll.dtype)
    each_other = torch.where(allowed > 1, epsilon / (allowed - 1).clamp(min=1), torch.zeros_like(allowed))
    return (1.0 - epsilon - each_other) * nll + each_other * smooth, nll


def drop_worst(loss: Tensor, nll: Tensor, ratio: float) -> tuple[Tensor, Tensor]:
    """The per-token ``loss`` and ``nll`` without the share ``ratio`` of tokens with the highest
    loss (OFA's ``--drop-worst-ratio``: ``int(N * (1 - ratio))`` tokens are kept)."""
    kept, index = torch.topk(loss, k=int(loss.numel() * (1 - ratio)), largest=False)
    return kept, nll[index]


@register_criterion("adjust_label_smoothed_cross_entropy", dataclass=LabelSmoothedCrossEntropyConfig)
class LabelSmoothedCrossEntropy(FairseqCriterion):
    """Label-smoothed cross-entropy of the decoder's final layer over non-padding targets."""

    def __init__(self, task, label_smoothing: float = 0.0, report_accuracy: bool = False,
                 drop_worst_ratio: float = 0.0, drop_worst_after: int = 0, sentence_avg: bool = False):
        super().__init__(task)
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"--label-smoothing must be in [0, 1), got {label_smoothing}")
        if not 0.0 <= drop_worst_ratio < 1.0:
            raise ConfigError(f"--drop-worst-ratio must be in [0, 1), got {drop_worst_ratio}")
        self.epsilon = label_smoothing
        self.report_accuracy = report_accuracy
        self.drop_worst_ratio = drop_worst_ratio
        self.drop_worst_after = drop_worst_after
        self.sentence_avg = sentence_avg
        self.num_updates = 0

    def set_num_updates(self, num_updates: int) -> None:
        """The update being trained (the task passes it before each training step)."""
        self.num_updates = num_updates

    def dropping_worst(self) -> bool:
        """Whether this step leaves out the worst tokens (training, past ``--drop-worst-after``)."""
        return self.training and self.drop_worst_ratio > 0 and self.num_updates > self.drop_worst_after

    def forward(self, model, sample: Dict[str, Any], reduce: bool = True):
        logits, _ = model(**sample["net_input"])
        loss, nll, correct, sample_size = self.score_logits(logits, sample)
        return loss, sample_size, self.logging_output(sample, loss, nll, correct, sample_size)

    def score_logits(self, logits: Tensor, sample: Dict[str, Any]) -> tuple[Tensor, Tensor, Tensor, int]:
        """Summed loss, summed NLL, number of correct argmax predictions over the scored
        positions, and the gradient's denominator (:meth:`gradient_denominator`)."""
        target = sample["target"]
        scored = target.ne(self.padding_idx)
        masks = sample.get("constraint_masks")
        masks = None if masks is None else masks[scored]
        lprobs = constrained_log_probs(logits[scored], masks)
        loss, nll = self.summed_losses(lprobs, target[scored], masks)
        correct = lprobs.argmax(-1).eq(target[scored]).sum()
        return loss, nll, correct, self.gradient_denominator(sample)

    def summed_losses(self, lprobs: Tensor, target: Tensor, masks: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        """Summed loss and NLL of the tokens this step keeps (all, or all but the worst)."""
        loss, nll = token_losses(lprobs, target, self.epsilon, masks)
        if self.dropping_worst():
            loss, nll = drop_worst(loss, nll, self.drop_worst_ratio)
        return loss.sum(), nll.sum()

    def gradient_denominator(self, sample: Dict[str, Any]) -> int:
        """The gradient's denominator (``sample_size``): the tokens the loss of one layer sums
        over, or with ``--sentence-avg`` the batch's sentences (as OFA)."""
        if self.sentence_avg:
            return sample["nsentences"]
        ntokens = sample["ntokens"]
        return int(ntokens * (1 - self.drop_worst_ratio)) if self.dropping_worst() else ntokens

    def logging_output(self, sample: Dict[str, Any], loss: Tensor, nll: Tensor, correct: Tensor,
                       sample_size: int) -> Dict[str, Any]:
        output = {
            "loss": loss.detach(),
            "nll_loss": nll.detach(),
            "ntokens": sample["ntokens"],
            "nsentences": sample["nsentences"],
            "sample_size": sample_size,
        }
        if self.report_accuracy:
            output["n_correct"] = correct.detach()
        return output

    @classmethod
    def reduce_metrics(cls, logging_outputs: List[Dict[str, Any]]) -> None:
        ntokens = sum(log.get("ntokens", 0) for log in logging_outputs)
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)  # tokens kept, or sentences
        loss = sum(log.get("loss", 0) for log in logging_outputs)
        nll = sum(log.get("nll_loss", 0) for log in logging_outputs)
        # as OFA's criterion logs them (fairseq's own criteria log bits): nats per unit of the
        # gradient's denominator, nll_loss weighted by the batch's tokens, ppl fairseq's 2 ** nll_loss
        metrics.log_scalar("loss", loss / max(sample_size, 1), sample_size, round=3)
        metrics.log_scalar("nll_loss", nll / max(sample_size, 1), ntokens, round=3)
        metrics.log_derived("ppl", lambda meters: utils.get_perplexity(meters["nll_loss"].avg))
        if any("n_correct" in log for log in logging_outputs):
            correct = sum(log.get("n_correct", 0) for log in logging_outputs)
            metrics.log_scalar("accuracy", 100.0 * correct / max(ntokens, 1), ntokens, round=2)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
