"""fairseq task ``snli_ve``: visual entailment as OFA fine-tunes and evaluates it.

Training is teacher-forced on the gold answer (" yes" / " no" / " maybe"), with the answer
trie's constraint masks. Evaluation scores all three candidates with the decoder,
teacher-forced and constrained, and predicts the best: accuracy is the metric.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
from fairseq import metrics
from fairseq.tasks import register_task
from torch import Tensor

from ofa_mue.criterions.label_smoothed_cross_entropy import constrained_log_probs
from ofa_mue.core.early_exit import ExitSession
from ofa_mue.data.snli_ve_dataset import (
    ANSWERS,
    PROMPT_TYPES,
    SnliVeDataset,
    answer_candidates,
    answer_trie,
    candidate_answer_masks,
    candidate_inputs,
)
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.errors import ConfigError

from .ofa_task import OFAConfig, OFATask


@dataclass
class SnliVeConfig(OFAConfig):
    add_caption: bool = field(default=True, metadata={"help": "put the premise (caption) into the prompt"})
    prompt_type: str = field(
        default="prev_output",
        metadata={"help": f"decoder prompt before the answer: one of {', '.join(PROMPT_TYPES)}"},
    )


@register_task("snli_ve", dataclass=SnliVeConfig)
class SnliVeTask(OFATask):
    """SNLI-VE: premise + hypothesis + image -> yes / no / maybe."""

    cfg: SnliVeConfig

    def __init__(self, cfg: SnliVeConfig, vocab: OFAVocabulary):
        super().__init__(cfg, vocab)
        self.candidates = [tokens for _, tokens in answer_candidates(vocab)]
        self.answer_masks = candidate_answer_masks(answer_trie(vocab), self.candidates, len(vocab.dictionary))

    def build_dataset(self, split: str, path: str) -> SnliVeDataset:
        return SnliVeDataset(
            split,
            path,
            self.vocab,
            selected_cols=self.cfg.selected_cols,
            patch_image_size=self.cfg.patch_image_size,
            max_src_length=self.cfg.max_src_length,
            add_caption=self.cfg.add_caption,
            prompt_type=self.cfg.prompt_type,
        )

    def check_exit_verify(self) -> None:
        """``--exit-verify`` verifies generated tokens; SNLI-VE generates none."""
        if self.cfg.exit_verify:
            raise ConfigError("--exit-verify applies to generation (caption): snli_ve scores its three answers in "
                              "one teacher-forced pass, where there is nothing to draft")
        super().check_exit_verify()

    def candidate_scores(self, model, sample: Dict[str, Any], exit_session: Optional[ExitSession] = None) -> Tensor:
        """Log-probability ``[B, 3]`` of each answer in :data:`ANSWERS` order, teacher-forced.

        The encoder runs once per sample; the three candidates share its output. With an
        ``exit_session`` the encoder streams and the decoder tokens exit by its rules.
        """
        net_input = sample["net_input"]
        encoder_out = model.encoder(
            net_input["src_tokens"],
            net_input["src_lengths"],
            patch_images=net_input["patch_images"],
            patch_masks=net_input["patch_masks"],
            exit_session=exit_session,
        )
        candidates = self.candidates
        inputs = self.candidate_inputs(sample)
        batch = net_input["src_tokens"].size(0)
        device = net_input["src_tokens"].device
        order = torch.arange(batch, device=device).repeat_interleave(len(candidates))
        encoder_out = model.encoder.reorder_encoder_out(encoder_out, order)
        logits, _ = model.decoder(inputs["prev_output_tokens"].to(device), encoder_out=encoder_out)
        target = inputs["target"].to(device)
        scored = target.ne(self.vocab.dictionary.pad())
        lprobs = constrained_log_probs(logits[scored], inputs["constraint_masks"].to(device))
        token_scores = torch.zeros_like(target, dtype=lprobs.dtype)
        token_scores[scored] = lprobs.gather(-1, target[scored].unsqueeze(-1)).squeeze(-1)
        return token_scores.sum(-1).view(batch, len(candidates))

    def candidate_inputs(self, sample: Dict[str, Any]) -> Dict[str, Tensor]:
        """Teacher-forced decoder inputs scoring every candidate after each sample's decoder prompt."""
        dictionary = self.vocab.dictionary
        return candidate_inputs(sample["decoder_prompts"], self.candidates, self.answer_masks, dictionary.pad(),
                                dictionary.eos())

    def predict(self, model, sample: Dict[str, Any], exit_session: Optional[ExitSession] = None) -> List[str]:
        """The best-scoring answer of each sample."""
        best = self.candidate_scores(model, sample, exit_session).argmax(-1).tolist()
        return [ANSWERS[i] for i in best]

    def evaluation_records(self, models, sample: Dict[str, Any], generation_cfg=None) -> List[Dict[str, Any]]:
        horizon = max(len(prompt) for prompt in sample["decoder_prompts"]) + max(len(c) for c in self.candidates)
        session = self.exit_policy().session(horizon, models[0].decoder.hidden_to_logits)
        predictions = self.predict(models[0], sample, session)
        return [
            {"uniq_id": uniq_id, "prediction": prediction, "answer": answer, "layers": layers}
            for uniq_id, prediction, answer, layers in zip(
                sample["uniq_ids"], predictions, sample["answers"], session.example_layers()
            )
        ]

    def evaluation_metrics(self, records: List[Dict[str, Any]], quick: bool = False) -> Dict[str, float]:
        correct = sum(record["prediction"] == record["answer"] for record in records)
        return {"accuracy": correct / len(records)}

    def valid_step(self, sample, model, criterion):
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        with torch.no_grad():
            predictions = self.predict(model, sample)
        logging_output["_snli_correct"] = sum(p == a for p, a in zip(predictions, sample["answers"]))
        logging_output["_snli_total"] = len(predictions)
        return loss, sample_size, logging_output

    def reduce_metrics(self, logging_outputs, criterion) -> None:
        super().reduce_metrics(logging_outputs, criterion)
        total = sum(log.get("_snli_total", 0) for log in logging_outputs)
        if total:
            correct = sum(log.get("_snli_correct", 0) for log in logging_outputs)
            metrics.log_scalar("snli_accuracy", 100.0 * correct / total, total, round=2)
