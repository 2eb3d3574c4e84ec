"""Self-critical sequence training (SCST) with a CIDEr-D reward: OFA's caption stage 2.

Registered as ``scst_reward_criterion`` (OFA's name); needs ``--task caption --scst``.
For each image the task's SCST generator (``--scst-args``; OFA's stage-2 settings by
default: beam 5, ``max_len_b`` 16, no repeated 3-gram, every finished beam one caption;
``{"sampling": true, "max_len_b": 16}`` samples ``beam`` captions instead: as in OFA, what
the JSON leaves out takes fairseq's generation defaults) gives K captions, without
gradients and in eval mode. Each caption's reward is its CIDEr-D against the image's
references (:mod:`.cider_reward`), the caption and each reference ended with a word ``<eos>``
as in OFA's reward; document frequencies from the training split's references (so ended),
one document per TSV row, read once at the first step, or with
``--scst-cider-df batch`` from the references in the batch. Its baseline is the mean
reward of the image's other K-1 captions, as in OFA. The loss is

    - sum over captions c of (reward_c - baseline_c) * sum_t log p(y_c,t | y_c,<t, image)

with the captions re-scored teacher-forced, with gradients, in the model's own mode (the
encoder runs once per image). ``--layerwise-loss`` applies the same loss to every decoder
layer's log-probabilities (shared final layer norm and tied projection) and averages them
with ``--layer-weights`` (equal by default), as MuE's layer-wise loss does.

Logged: ``loss`` (per sampled token, or per caption with ``--sentence-avg``),
``score`` (OFA's name: mean CIDEr-D of the sampled captions, pycocoevalcap scale: 1.0 = 100)
and, with ``--layerwise-loss``, ``loss_layer{i}``.
"""

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.data.data_utils import collate_tokens
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from omegaconf import II
from torch import Tensor

from ofa_mue.errors import ConfigError

from .cider_reward import CiderD
from .label_smoothed_cross_entropy import constrained_log_probs
from .layerwise import decoder_layer_states, log_layer_metric, normalised_layer_weights, parse_layer_weights

logger = logging.getLogger(__name__)

CIDER_DF_CHOICES = ChoiceEnum(["train", "batch"])
# OFA's scst_loss ends every sampled caption and reference with this word before scoring (and its
# cached training-split document frequencies were counted so): a caption's last word counts.
END_WORD = "<eos>"


@dataclass
class ScstRewardConfig(FairseqDataclass):
    scst_cider_df: CIDER_DF_CHOICES = field(
        default="train",
        metadata={"help": "CIDEr-D document frequencies: 'train' (the training split's references) "
                          "or 'batch' (the references in each batch)"},
    )
    layerwise_loss: bool = field(
        default=False, metadata={"help": "MuE: apply the loss to every decoder layer and average"}
    )
    layer_weights: Optional[str] = field(
        default=None,
        metadata={"help": "with --layerwise-loss: comma-separated weight of each decoder layer, "
                          "first layer first (default: equal)"},
    )
    sentence_avg: bool = II("optimization.sentence_avg")


def leave_one_out_advantage(rewards: Tensor) -> Tensor:
    """``rewards [K]`` of one image's captions minus the mean reward of the other K-1 (0 when K = 1)."""
    count = rewards.numel()
    if count < 2:
        return torch.zeros_like(rewards)
    return rewards - (rewards.sum() - rewards) / (count - 1)


def training_references(task) -> Iterator[List[str]]:
    """The reference list of every row of the task's training split."""
    dataset = task.datasets.get("train")
    if dataset is None:
        raise ConfigError("--scst-cider-df train needs the training split loaded; use --scst-cider-df batch")
    yield from dataset.all_references()


@register_criterion("scst_reward_criterion", dataclass=ScstRewardConfig)
class ScstRewardCriterion(FairseqCriterion):
    """Self-critical policy gradient with a CIDEr-D reward (see the module docstring)."""

    def __init__(
        self,
        task,
        scst_cider_df: str = "train",
        layerwise_loss: bool = False,
        layer_weights: Optional[str] = None,
        sentence_avg: bool = False,
    ):
        super().__init__(task)
        if not getattr(getattr(task, "cfg", None), "scst", False):
            raise ConfigError("scst_reward_criterion samples captions with the caption task's SCST generator: "
                              "use --task caption --scst")
        if layer_weights is not None and not layerwise_loss:
            raise ConfigError("--layer-weights needs --layerwise-loss")
        self.cider_df = str(scst_cider_df)
        self.layerwise_loss = layerwise_loss
        self.layer_weights = parse_layer_weights(layer_weights)
        self.sentence_avg = sentence_avg
        self._train_cider: Optional[CiderD] = None

    def forward(self, model, sample: Dict[str, Any], reduce: bool = True):
        captions = self.sample_captions(model, sample)
        rewards = self.rewards(captions, sample)
        device = sample["net_input"]["src_tokens"].device
        advantage = torch.cat([leave_one_out_advantage(torch.tensor(r, device=device)) for r in rewards])
        loss, layer_losses, ntokens = self.policy_loss(model, sample, captions, advantage)

        num_captions = advantage.numel()
        sample_size = num_captions if self.sentence_avg else ntokens
        logging_output = {
            "loss": loss.detach(),
            "ntokens": ntokens,
            "nsentences": num_captions,
            "sample_size": sample_size,
            "cider_sum": sum(sum(r) for r in rewards),
            "num_captions": num_captions,
        }
        if self.layerwise_loss:
            logging_output.update({f"loss_layer{i}": value for i, value in enumerate(layer_losses, start=1)})
        return loss, sample_size, logging_output

    def sample_captions(self, model, sample: Dict[str, Any]) -> List[List[Tensor]]:
        """The generator's captions (token ids ending with eos) of each image, made in eval mode."""
        training = model.training
        model.eval()
        with torch.no_grad():
            outputs = self.task.scst_generator.generate([model], sample)
        model.train(training)
        return [[hypo["tokens"] for hypo in hypos] for hypos in outputs]

    def rewards(self, captions: List[List[Tensor]], sample: Dict[str, Any]) -> List[List[float]]:
        """CIDEr-D of each caption of each image against the image's references."""
        texts = [self.task.vocab.decode(tokens) for image in captions for tokens in image]
        references = [refs for refs, image in zip(sample["references"], captions) for _ in image]
        scores = iter(self.cider_scorer(sample["references"]).scores(texts, references))
        return [[next(scores) for _ in image] for image in captions]

    def cider_scorer(self, batch_references: Sequence[Sequence[str]]) -> CiderD:
        """The CIDEr-D scorer of ``--scst-cider-df``."""
        if self.cider_df == "batch":
            return CiderD.from_references(batch_references, END_WORD)
        if self._train_cider is None:
            self._train_cider = CiderD.from_references(training_references(self.task), END_WORD)
            logger.info("CIDEr-D document frequencies from the training split's references")
        return self._train_cider

    def policy_loss(
        self, model, sample: Dict[str, Any], captions: List[List[Tensor]], advantage: Tensor
    ) -> tuple[Tensor, List[Tensor], int]:
        """The weighted policy-gradient loss, each used layer's loss, and the number of scored tokens."""
        dictionary = self.task.target_dictionary
        device = advantage.device
        flat = [tokens.to(device) for image in captions for tokens in image]
        bos = torch.tensor([dictionary.bos()], device=device)
        target = collate_tokens(flat, self.padding_idx)
        prev_output_tokens = collate_tokens([torch.cat([bos, tokens[:-1]]) for tokens in flat], self.padding_idx)
        counts = torch.tensor([len(image) for image in captions], device=device)
        sample_of_row = torch.repeat_interleave(torch.arange(len(captions), device=device), counts)
        decoder, states = decoder_layer_states(model, sample["net_input"], prev_output_tokens, sample_of_row)

        if self.layerwise_loss:
            weights = normalised_layer_weights(self.layer_weights, len(states))
        else:
            weights, states = [1.0], states[-1:]
        scored = target.ne(self.padding_idx)
        tokens = target[scored]
        token_advantage = advantage[:, None].expand_as(target)[scored]
        loss, layer_losses = 0.0, []
        for weight, state in zip(weights, states):
            with torch.set_grad_enabled(torch.is_grad_enabled() and weight > 0):
                lprobs = constrained_log_probs(decoder.hidden_to_logits(state[scored]), None)
                layer_loss = -(token_advantage * lprobs.gather(-1, tokens[:, None]).squeeze(-1)).sum()
            loss = loss + weight * layer_loss
            layer_losses.append(layer_loss.detach())
        return loss, layer_losses, int(scored.sum())

    @classmethod
    def reduce_metrics(cls, logging_outputs: List[Dict[str, Any]]) -> None:
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
        num_captions = sum(log.get("num_captions", 0) for log in logging_outputs)
        loss = sum(log.get("loss", 0) for log in logging_outputs)
        cider = sum(log.get("cider_sum", 0.0) for log in logging_outputs)
        metrics.log_scalar("loss", loss / max(sample_size, 1), sample_size, round=3)
        metrics.log_scalar("score", cider / max(num_captions, 1), num_captions, round=3)
        log_layer_metric(logging_outputs, "loss_layer", "loss_layer", sample_size)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
