"""fairseq task ``snli_ve``: visual entailment as OFA fine-tunes and evaluates it.

Training is teacher-forced on the gold answer (" yes" / " no" / " maybe"), with the answer
trie's constraint masks. Evaluation scores all three candidates with the decoder,
teacher-forced and constrained, and predicts the best: accuracy is the metric (logged as
OFA's ``snli_score`` in validation). ``fairseq-generate --task snli_ve`` gives the same
constrained answer for every row and logs the split's accuracy once every row is scored.

With a decaying decoder exit threshold, the decay's horizon ``N`` is each example's own
decoder length (its prompt plus the longest answer), so an example exits the same way in
any batch.
"""

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch
from fairseq import metrics
from fairseq.tasks import register_task
from torch import Tensor

from ofa_mue.criterions.label_smoothed_cross_entropy import constrained_log_probs
from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.exit_policy import ExitPolicy, Projection
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

from .generation_options import refuse_generation_options
from .ofa_task import OFAConfig, OFATask

logger = logging.getLogger(__name__)


@dataclass
class SnliVeConfig(OFAConfig):
    add_caption: Optional[bool] = field(
        default=None,
        metadata={"help": "put the premise (caption) into the prompt, as OFA's --add-caption (default: the "
                          "checkpoint's when evaluating, else off)"})
    prompt_type: Optional[str] = field(
        default=None,
        metadata={"help": f"decoder prompt before the answer: one of {', '.join(PROMPT_TYPES)} (default: the "
                          f"checkpoint's when evaluating, else prev_output)"},
    )


def answer_projection(hidden_to_logits: Callable[[Tensor], Tensor], target: Tensor, constraint_masks: Tensor,
                      pad: int) -> Projection:
    """The exit rules' :data:`~ofa_mue.core.exit_policy.Projection` for the teacher-forced
    candidate rows (``target [R, T]``, ``constraint_masks [N, V]`` for its N non-padding
    positions in row-major order, as :meth:`SnliVeTask.candidate_inputs` gives them): at an
    answer position or its eos only the tokens the answer trie allows there (the three answers'
    distribution they are scored with), at the prompt's positions the whole vocabulary."""
    scored = target.flatten().ne(pad)
    mask_row = torch.full(scored.shape, -1, dtype=torch.long, device=target.device)
    mask_row[scored] = torch.arange(int(scored.sum()), device=target.device)

    def project(hidden: Tensor, tokens: Tensor) -> Tensor:
        logits = hidden_to_logits(hidden)
        rows = mask_row[tokens]
        constrained = rows >= 0
        logits[constrained] = logits[constrained].masked_fill(~constraint_masks[rows[constrained]], float("-inf"))
        return logits
    return project


UNSCORED_GENERATION_OPTIONS = {
    "nbest": ("--nbest", 1), "sampling": ("--sampling", False), "sampling_topk": ("--sampling-topk", -1),
    "sampling_topp": ("--sampling-topp", -1.0), "temperature": ("--temperature", 1.0),
    "diverse_beam_groups": ("--diverse-beam-groups", -1), "diversity_rate": ("--diversity-rate", -1.0),
    "lenpen": ("--lenpen", 1), "unnormalized": ("--unnormalized", False), "prefix_size": ("--prefix-size", 0),
    "match_source_len": ("--match-source-len", False), "constraints": ("--constraints", None),
    "retain_dropout": ("--retain-dropout", False), "unkpen": ("--unkpen", 0), "no_repeat_ngram_size":
    ("--no-repeat-ngram-size", 0), "lm_path": ("--lm-path", None), "lm_weight": ("--lm-weight", 0.0),
}
"""fairseq generation options that would change which answers, or how many, a generator
returns, or how it scores them (``--unkpen``, n-gram blocking, a fused language model), each with
its flag and the value that changes nothing. SNLI-VE scores its three answers teacher-forced (as
OFA evaluates it), so it cannot honour them."""


def the_one_model(models: List[Any]) -> Any:
    """The model SNLI-VE scores with; an ensemble (``--path a.pt:b.pt``) is a :class:`ConfigError`:
    OFA's ``eval_snli_ve`` scores with the first model and ignores the others, which a results
    file naming them all would hide."""
    if len(models) != 1:
        raise ConfigError(f"SNLI-VE is scored with one model, got an ensemble of {len(models)} (--path a.pt:b.pt; "
                          f"OFA's evaluation would use the first and ignore the rest): give --path one checkpoint")
    return models[0]


@register_task("snli_ve", dataclass=SnliVeConfig)
class SnliVeTask(OFATask):
    """SNLI-VE: premise + hypothesis + image -> yes / no / maybe."""

    cfg: SnliVeConfig
    SETTING_DEFAULTS = {**OFATask.SETTING_DEFAULTS, "add_caption": False, "prompt_type": "prev_output"}

    def __init__(self, cfg: SnliVeConfig, vocab: OFAVocabulary):
        if cfg.prompt_type is not None and cfg.prompt_type not in PROMPT_TYPES:  # None: not resolved yet
            raise ConfigError(f"--prompt-type must be one of {', '.join(PROMPT_TYPES)} (OFA's), got {cfg.prompt_type!r}")
        super().__init__(cfg, vocab)
        self.candidates = [tokens for _, tokens in answer_candidates(vocab)]
        self.answer_masks = candidate_answer_masks(answer_trie(vocab), self.candidates, len(vocab.dictionary))
        self._generation_tally: Dict[str, List[int]] = {}  # split -> [correct, scored] of fairseq-generate

    def build_dataset(self, split: str, path: str) -> SnliVeDataset:
        return SnliVeDataset(
            split,
            path,
            self.vocab,
            selected_cols=self.cfg.selected_cols,
            patch_image_size=self.cfg.patch_image_size,
            imagenet_default_mean_and_std=self.cfg.imagenet_default_mean_and_std,
            max_src_length=self.cfg.max_src_length,
            add_caption=self.cfg.add_caption,
            prompt_type=self.cfg.prompt_type,
        )

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs: Any):
        """The generator ``fairseq-generate`` passes to :meth:`inference_step`; generation options
        the scoring cannot honour are refused (:data:`UNSCORED_GENERATION_OPTIONS`)."""
        self.check_evaluation_options(args)
        return super().build_generator(models, args, seq_gen_cls, extra_gen_cls_kwargs, **kwargs)

    def check_evaluation_options(self, generation_cfg: Any) -> None:
        """The three answers are scored: :data:`UNSCORED_GENERATION_OPTIONS` are refused."""
        refuse_generation_options(generation_cfg, UNSCORED_GENERATION_OPTIONS,
                                  "cannot apply to snli_ve: it scores its three answers (yes / no / maybe) "
                                  "teacher-forced, as OFA evaluates it, and returns the best one")

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
        token_scores, _, _ = self.score_tokens(model, sample, exit_session)
        return token_scores.sum(-1)

    def score_tokens(self, model, sample: Dict[str, Any], exit_session: Optional[ExitSession] = None):
        """Per-position log-probabilities ``[B, 3, T]`` of the candidates (0 where not scored),
        the scored positions ``[B, 3, T]`` (bool), and the decoder layers each position ran
        (``[B, 3, T]``; ``None`` without an exit session)."""
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
        logits, extra = model.decoder(inputs["prev_output_tokens"].to(device), encoder_out=encoder_out)
        target = inputs["target"].to(device)
        scored = target.ne(self.vocab.dictionary.pad())
        lprobs = constrained_log_probs(logits[scored], inputs["constraint_masks"].to(device))
        token_scores = torch.zeros_like(target, dtype=lprobs.dtype)
        token_scores[scored] = lprobs.gather(-1, target[scored].unsqueeze(-1)).squeeze(-1)
        grid = (batch, len(candidates), target.size(1))
        exit_layers = extra.get("exit_layers")
        return token_scores.view(grid), scored.view(grid), None if exit_layers is None else exit_layers.view(grid)

    def decoder_lengths(self, sample: Dict[str, Any]) -> Tensor:
        """Each sample's decoder length when its candidates are scored: its prompt plus the longest candidate."""
        longest = max(len(c) for c in self.candidates)
        return torch.tensor([len(prompt) + longest for prompt in sample["decoder_prompts"]])

    def evaluation_input_lengths(self, sample: Dict[str, Any]) -> Dict[str, Tensor]:
        """The source's length and the decoder's (:meth:`decoder_lengths`)."""
        return {**super().evaluation_input_lengths(sample), "decoder": self.decoder_lengths(sample)}

    def candidate_inputs(self, sample: Dict[str, Any]) -> Dict[str, Tensor]:
        """Teacher-forced decoder inputs scoring every candidate after each sample's decoder prompt,
        built once per batch (kept in ``sample``: the exit session's answer projection, the scoring
        and ``predict`` all read them)."""
        if "candidate_inputs" not in sample:
            dictionary = self.vocab.dictionary
            sample["candidate_inputs"] = candidate_inputs(sample["decoder_prompts"], self.candidates,
                                                          self.answer_masks, dictionary.pad(), dictionary.eos())
        return sample["candidate_inputs"]

    def exit_session(self, model, sample: Dict[str, Any], policy: Optional[ExitPolicy] = None) -> ExitSession:
        """A session of ``policy`` (default: the task's options) for scoring ``sample``.

        The decay's horizon of each candidate row is its example's decoder length: the
        example's prompt plus the longest candidate, whatever else is in the batch. The
        prediction-based policies judge the answer positions by the distribution the answers
        are scored with (:func:`answer_projection`).
        """
        policy = self.exit_policy(model) if policy is None else policy
        lengths = self.decoder_lengths(sample)
        width = int(lengths.max())  # the candidate rows' padded length
        horizons = lengths.repeat_interleave(len(self.candidates)).unsqueeze(1).expand(-1, width).flatten()
        device = sample["net_input"]["src_tokens"].device
        inputs = self.candidate_inputs(sample)
        project = answer_projection(model.decoder.hidden_to_logits, inputs["target"].to(device),
                                    inputs["constraint_masks"].to(device), self.vocab.dictionary.pad())
        return policy.session(horizons.to(device), project)

    def predict(self, model, sample: Dict[str, Any], exit_session: Optional[ExitSession] = None) -> List[str]:
        """The best-scoring answer of each sample."""
        best = self.candidate_scores(model, sample, exit_session).argmax(-1).tolist()
        return [ANSWERS[i] for i in best]

    def evaluation_records(self, models, sample: Dict[str, Any], generation_cfg=None) -> List[Dict[str, Any]]:
        model = the_one_model(models)
        session = self.exit_session(model, sample)
        token_scores, scored, exit_layers = self.score_tokens(model, sample, session)
        predictions = [ANSWERS[i] for i in token_scores.sum(-1).argmax(-1).tolist()]
        layers = session.example_layers()
        if exit_layers is not None:  # the scored-positions variant of the decoder's layer counts
            sums = (exit_layers * scored).flatten(1).sum(-1).tolist()
            counts = scored.flatten(1).sum(-1).tolist()
            for example, layer_sum, count in zip(layers, sums, counts):
                example.decoder_scored_layer_sum, example.decoder_scored_tokens = int(layer_sum), int(count)
        return [
            {"uniq_id": uniq_id, "prediction": prediction, "answer": answer, "layers": example}
            for uniq_id, prediction, answer, example in zip(sample["uniq_ids"], predictions, sample["answers"], layers)
        ]

    def inference_step(self, generator, models, sample, prefix_tokens=None, constraints=None):
        """fairseq-generate's step: the best of the three constrained answers for every sample, as
        one hypothesis (answer tokens and eos, their log-probabilities), with the task's exit
        options; logs the split's accuracy once every row of it has been scored."""
        with torch.no_grad():
            model = the_one_model(models)
            token_scores, scored, _ = self.score_tokens(model, sample, self.exit_session(model, sample))
        best = token_scores.sum(-1).argmax(-1)
        hypotheses = []
        eos = torch.tensor([self.vocab.dictionary.eos()])
        for index, choice in enumerate(best.tolist()):
            positional = token_scores[index, choice][scored[index, choice]]
            hypotheses.append([{"tokens": torch.cat([self.candidates[choice], eos]).to(positional.device),
                                "score": float(positional.sum()), "positional_scores": positional,
                                "alignment": None, "attention": None}])
        self._tally_generation(sample, [ANSWERS[i] for i in best.tolist()])
        return hypotheses

    def _tally_generation(self, sample: Dict[str, Any], predictions: List[str]) -> None:
        split = sample["split"]
        tally = self._generation_tally.setdefault(split, [0, 0])
        tally[0] += sum(p == a for p, a in zip(predictions, sample["answers"]))
        tally[1] += len(predictions)
        rows = len(self.datasets[split]) if split in self.datasets else None
        if tally[1] == rows:
            logger.info("snli_ve %s: accuracy %.4f (%d of %d rows correct; the task's metric: fairseq's BLEU "
                        "line does not apply to SNLI-VE)", split, tally[0] / rows, tally[0], rows)
            del self._generation_tally[split]

    @classmethod
    def evaluation_metrics(cls, records: List[Dict[str, Any]], quick: bool = False) -> Dict[str, float]:
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
        """Logs OFA's ``snli_score``: validation accuracy as a fraction (``--best-checkpoint-metric snli_score``)."""
        super().reduce_metrics(logging_outputs, criterion)
        total = sum(log.get("_snli_total", 0) for log in logging_outputs)
        if total:
            correct = sum(log.get("_snli_correct", 0) for log in logging_outputs)
            metrics.log_scalar("snli_score", correct / total, total, round=4)
