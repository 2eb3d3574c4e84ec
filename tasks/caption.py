"""fairseq task ``caption``: image captioning as OFA fine-tunes and evaluates it.

Training is teacher-forced cross-entropy on one reference. Captions are generated with
fairseq's beam search (OFA's defaults: beam 5, ``max_len_b`` 16, no repeated 3-grams) and
scored against all references with the COCO caption metrics: against the references as the
TSV writes them (PTB-tokenised), as OFA's ``coco_eval.py`` scores its reported test figures.
``--eval-cider`` logs validation CIDEr-D as OFA's validation does: against the references
without punctuation, case kept, with document frequencies from all references of the validation split
(OFA's ``--eval-cider-cached-tokens`` file holds them), so it does not depend on the batch size.
With ``--scst`` the task also builds the generator of self-critical training's sampled
captions (``--scst-args``), which ``scst_reward_criterion`` uses.
"""

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch
from fairseq import metrics
from fairseq.tasks import register_task

from ofa_mue.caption_metrics import caption_metrics, require_java
from ofa_mue.core.verified_generator import VerifiedEarlyExitGenerator
from ofa_mue.criterions.cider_reward import CiderD
from ofa_mue.data.caption_dataset import CaptionDataset
from ofa_mue.data.text import strip_punctuation
from ofa_mue.data.vocabulary import OFAVocabulary

from .generation_options import (
    generation_namespace,
    refuse_batch_dependent_horizon,
    refuse_generation_options,
    refuse_unreachable_min_len,
)
from .ofa_task import OFAConfig, OFATask

DEFAULT_GENERATION = {"beam": 5, "max_len_b": 16, "no_repeat_ngram_size": 3}
PREFIX_SIZE_REFUSAL = ("is not supported for captions: it forces each caption to start with the row's target tokens, "
                       "here its first reference (OFA's caption data force the start of all its references joined "
                       "by '&&'), so the captions would differ from OFA's")


@dataclass
class CaptionConfig(OFAConfig):
    max_tgt_length: Optional[int] = field(
        default=None, metadata={"help": "maximum words of a training caption (default: the checkpoint's when "
                                        "evaluating, else 30, as OFA)"})
    eval_cider: bool = field(
        default=False, metadata={"help": "generate captions and log their CIDEr-D during validation, against the "
                                         "references without punctuation, case kept, document frequencies from all the "
                                         "validation split's references (as OFA's cached tokens)"})
    eval_args: str = field(
        default=json.dumps(DEFAULT_GENERATION),
        metadata={"help": "generation options for validation, as JSON (fairseq generation option names); as in OFA, "
                          "options the JSON does not set take fairseq's defaults (max_len_b 200, no n-gram "
                          "blocking); default: the values of OFA's recipes"},
    )
    scst: bool = field(default=False, metadata={"help": "self-critical training: keep training captions whole"})
    scst_args: str = field(
        default=json.dumps(DEFAULT_GENERATION),
        metadata={"help": "with --scst: generation options of the sampled captions, as JSON (fairseq generation "
                          "option names; every beam or sample is one sampled caption); as for --eval-args, options "
                          "it does not set take fairseq's defaults; default: the values of OFA's recipe"},
    )


@register_task("caption", dataclass=CaptionConfig)
class CaptionTask(OFATask):
    """Image -> caption."""

    cfg: CaptionConfig
    OFA_PREDICTION_KEYS = ("image_id", "caption")  # what OFA's coco_eval.py reads

    def __init__(self, cfg: CaptionConfig, vocab: OFAVocabulary):
        super().__init__(cfg, vocab)
        self._evaluation_generator = None  # (mode, generator): built on first use, with the models being evaluated
        self._validation_cider: Dict[str, CiderD] = {}  # per split: built when --eval-cider first scores it

    def build_dataset(self, split: str, path: str) -> CaptionDataset:
        return CaptionDataset(
            split,
            path,
            self.vocab,
            selected_cols=self.cfg.selected_cols,
            patch_image_size=self.cfg.patch_image_size,
            imagenet_default_mean_and_std=self.cfg.imagenet_default_mean_and_std,
            max_tgt_length=self.cfg.max_tgt_length,
            scst=self.cfg.scst,
        )

    def build_model(self, cfg, from_checkpoint: bool = False):
        model = super().build_model(cfg, from_checkpoint)
        if self.cfg.eval_cider:
            self.validation_generator = self._generator_from_json(model, "--eval-args", self.cfg.eval_args)
        if self.cfg.scst:
            self.scst_generator = self._generator_from_json(model, "--scst-args", self.cfg.scst_args)
        return model

    def _generator_from_json(self, model, flag: str, options_json: str):
        """A generator for ``model`` with the JSON generation options of ``flag``, as OFA builds it:
        what the JSON does not set takes fairseq's generation defaults (``max_len_b`` 200, no
        n-gram blocking); a key its generator cannot honour is refused (:func:`generation_namespace`)."""
        return self.build_generator([model], generation_namespace(flag, options_json))

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs: Any):
        """The task's generator (:meth:`OFATask.build_generator`); a ``--min-len`` no caption can reach is
        refused (:func:`refuse_unreachable_min_len`), and so is ``--prefix-size`` (below)."""
        refuse_generation_options(args, {"prefix_size": ("--prefix-size", 0)}, PREFIX_SIZE_REFUSAL)
        refuse_unreachable_min_len(args)
        return super().build_generator(models, args, seq_gen_cls, extra_gen_cls_kwargs, **kwargs)

    def caption_text(self, tokens: torch.Tensor) -> str:
        """A generated caption as OFA's caption evaluation writes and scores it: decoded, without
        ASCII punctuation (as OFA's training targets and references are), single spaces."""
        return strip_punctuation(self.vocab.decode(tokens))

    def captions(self, generator, models, sample: Dict[str, Any], **kwargs: Any) -> List[str]:
        """The best hypothesis of each sample, as :meth:`caption_text`."""
        hypotheses = generator.generate(models, sample, **kwargs)
        return [self.caption_text(hypos[0]["tokens"]) for hypos in hypotheses]

    def check_evaluation_options(self, generation_cfg: Any) -> None:
        """The evaluation scores each row's best caption, generated from no forced prefix, with a
        ``--min-len`` a caption can reach and a decoder threshold whose decay's horizon is the
        longest caption, with the metrics' Java programs at hand (refused before any caption is
        generated, not after)."""
        require_java()
        refuse_generation_options(generation_cfg, {"nbest": ("--nbest", 1)},
                                  "cannot apply to the evaluation: it scores each row's best caption (fairseq-generate "
                                  "prints the --nbest best)")
        refuse_generation_options(generation_cfg, {"prefix_size": ("--prefix-size", 0)}, PREFIX_SIZE_REFUSAL)
        refuse_unreachable_min_len(generation_cfg)
        refuse_batch_dependent_horizon(generation_cfg, self.exit_policy())

    def evaluation_records(self, models, sample: Dict[str, Any], generation_cfg) -> List[Dict[str, Any]]:
        mode = (self.cfg.exit_verify, self.cfg.exit_verify_draft)  # which generator the options ask for
        if self._evaluation_generator is None or self._evaluation_generator[0] != mode:
            self._evaluation_generator = (mode, self.build_generator(models, generation_cfg))
        generator = self._evaluation_generator[1]
        generator.policy = self.exit_policy(models[0])  # the options may change between evaluations (sweeps)
        predictions = self.captions(generator, models, sample)
        records = [
            {"uniq_id": uniq_id, "prediction": prediction, "references": references, "layers": layers}
            for uniq_id, prediction, references, layers in zip(
                sample["uniq_ids"], predictions, sample["raw_references"], generator.last_example_layers
            )
        ]
        if isinstance(generator, VerifiedEarlyExitGenerator):
            for record, stats in zip(records, generator.last_verification, strict=True):
                record["verification"] = asdict(stats)
        return records

    @classmethod
    def evaluation_metrics(cls, records: List[Dict[str, Any]], quick: bool = False) -> Dict[str, float]:
        return caption_metrics([r["prediction"] for r in records], [r["references"] for r in records], quick)

    def valid_step(self, sample, model, criterion):
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        if self.cfg.eval_cider:
            with torch.no_grad():
                predictions = self.captions(self.validation_generator, [model], sample)
            scores = self.validation_cider(sample["split"], predictions, sample["references"])
            logging_output["_cider_sum"] = float(sum(scores))
            logging_output["_cider_count"] = len(scores)
        return loss, sample_size, logging_output

    def validation_cider(self, split: str, predictions: Sequence[str],
                         references: Sequence[Sequence[str]]) -> List[float]:
        """CIDEr-D of each prediction against its references, with the document frequencies of
        all (punctuation-free) references of ``split``, read once per split."""
        if split not in self._validation_cider:
            self._validation_cider[split] = CiderD.from_references(self.dataset(split).all_references())
        return self._validation_cider[split].scores(predictions, references)

    def reduce_metrics(self, logging_outputs, criterion) -> None:
        super().reduce_metrics(logging_outputs, criterion)
        count = sum(log.get("_cider_count", 0) for log in logging_outputs)
        if count:
            total = sum(log.get("_cider_sum", 0.0) for log in logging_outputs)
            metrics.log_scalar("cider", total / count, count, round=3)
