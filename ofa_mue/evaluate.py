"""Evaluate a fine-tuned OFA checkpoint on a whole split and write the task metrics.

    python -m ofa_mue.evaluate DATA --path CHECKPOINT --task snli_ve --gen-subset test \\
        --batch-size 16 --results-path results/snli_ve

``DATA`` is the task's data folder (``{split}.tsv``) or OFA's file list. The task's settings
(image size, text lengths, prompt, columns, vocabulary) are the checkpoint's unless given on
the command line (or in ``--model-overrides``, as OFA's scripts pass them): a setting given
is used as given, even when it equals the default; one given both ways with different values
is refused (see :mod:`ofa_mue.tasks.settings`).
MuE exits are set with the task options ``--image-exit-threshold``, ``--text-exit-threshold``,
``--decoder-exit-threshold``, ``--decoder-exit-beta`` and ``--decoder-exit-tau`` (encoder exits
need a modality-decomposed model: ``--model-overrides "{'decompose_modalities': True}"`` for
a checkpoint trained without). Every row of the split is scored exactly once (a mismatch is
an error). Metrics, the mean layers used per stream, the expected time reduction rate and
the measured seconds are printed and written to ``RESULTS_PATH/{split}_metrics.json``;
per-example predictions with the layers each used to ``RESULTS_PATH/{split}_predictions.jsonl``,
and the predictions alone as OFA's ``evaluate.py`` writes them to ``RESULTS_PATH/{split}_predict.json``
(captions: ``image_id`` and ``caption``, which OFA's ``coco_eval.py`` reads; SNLI-VE:
``uniq_id`` and ``answer``).
With ``--exit-verify --beam 1`` (lossless mode, captions) the exits only draft and the output
is the full model's; the metrics file then also reports the drafts' acceptance rate and mean
accepted length. All three files are written atomically. Captions are
generated with the flags OFA's ``evaluate_caption*.sh`` pass (beam 5, ``--max-len-b 16``,
``--no-repeat-ngram-size 3``) unless given (OFA's ``evaluate.py`` without them: fairseq's
``max_len_b`` 200, no n-gram blocking). ``--num-workers N`` loads the data in N processes
(default 0: in this one).

Over several processes or machines: ``--num-shards K --shard-id I`` scores shard I only
(fairseq's batch sharding, see :mod:`ofa_mue.sharding`) and writes its rows to
``RESULTS_PATH/{split}.shard{I}-of-{K}.json``; ``python -m ofa_mue.merge`` then writes the
three files above from the K shard files, equal to one run's (run every shard with the same
``--batch-size``). fairseq's ``--distributed-*`` options are refused, and so are, here and in
``calibrate``, ``sweep`` and ``reproduce``, which run inference only, its training options
(``--optimizer``, ``--lr``, ``--criterion``, ``--save-dir``, ...) and the others they cannot honour
(``--max-tokens``: rows are batched by ``--batch-size``, as OFA's tasks batch them; ``--bf16``,
``--tpu``, ``--tokenizer``, ``--scoring``, ``--quiet``, ...: :data:`REFUSED_OPTIONS`).
``--skip-invalid-size-inputs-valid-test`` is accepted and skips nothing, as in OFA: a row too long
for the model ends the run with an error naming it. ``--fp16`` (which OFA's
evaluation scripts pass) runs the model in float16, as OFA's evaluation does. ``--seed``
(fairseq's default 1) seeds numpy and torch before the split is scored, as OFA's ``evaluate.py``
does before its run, so ``--sampling`` gives the same captions run after run (the commands that
score many exit settings seed again before each: :meth:`EvaluationSetup.seed_random_streams`);
``--lm-path`` and ``--retain-dropout``, which OFA's ``evaluate.py`` honours, are refused (the
latter by every task's generator, in ``fairseq-generate`` too). The two options OFA's
``evaluate.py`` adds are honoured here and in ``calibrate``, ``sweep`` and ``reproduce``:
``--ema-eval`` evaluates the EMA weights the checkpoint holds (:func:`load_ema_weights`), and
``--zero-shot`` (SNLI-VE only) scores the answers as without it, with no task settings taken from
the checkpoint (:func:`zero_shot_task`).
"""
from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from fairseq import checkpoint_utils, options, tasks, utils
from fairseq.dataclass.configs import CheckpointConfig, DistributedTrainingConfig, GenerationConfig, OptimizationConfig
from fairseq.dataclass.utils import convert_namespace_to_omegaconf, gen_parser_from_dataclass
from fairseq.logging import progress_bar
from fairseq.registry import REGISTRIES
from omegaconf import OmegaConf, open_dict

import ofa_mue  # noqa: F401  (registers tasks and model, installs checkpoint loading)
from ofa_mue.atomic_files import write_atomically
from ofa_mue.calibration_table import KNOBS
from ofa_mue.errors import CheckpointError, ConfigError, DataError, OFAMuEError
from ofa_mue.core.exit_profile import (
    CAVEATS, guarantee_statement, profile_caveats, read_exit_profile, weights_record,
)
from ofa_mue.core.flops import ModelShape, flops_summary
from ofa_mue.replaced_images import MODES, replace_images
from ofa_mue.replaced_text import MODES as TEXT_MODES, replace_text
from ofa_mue.core.time_reduction import ExampleLayers, summarize
from ofa_mue.core.verified_generator import verification_summary
from ofa_mue.provenance import checkpoint_fingerprint, code_commit
from ofa_mue.sharding import Shard, write_shard_file
from ofa_mue.tasks.generation_options import (
    UNIMPLEMENTED_GENERATION_OPTIONS, refuse_generation_options, refuse_options_without_their_switch,
    refuse_other_searches,
)

logger = logging.getLogger("ofa_mue.evaluate")

CAPTION_GENERATION_DEFAULTS = {"beam": 5, "max_len_b": 16, "no_repeat_ngram_size": 3}

OTHER_GENERATORS_OPTIONS = {
    **UNIMPLEMENTED_GENERATION_OPTIONS, "replace_unk": ("--replace-unk", None), "sacrebleu": ("--sacrebleu", False),
    "lm_weight": ("--lm-weight", 0.0), "constraints": ("--constraints", None),
}
"""fairseq generation options for other generators (speech, iterative refinement, constrained
translation, convolutional models: :data:`~ofa_mue.tasks.generation_options.UNIMPLEMENTED_GENERATION_OPTIONS`)
or for fairseq-generate's own printout, each with the value that changes nothing: this evaluation
has no use for them, so they are refused rather than ignored (``--diverse-beam-strength`` without
``--diverse-beam-groups`` and ``--sampling-topk``/``--sampling-topp`` without ``--sampling`` too:
:func:`~ofa_mue.tasks.generation_options.refuse_options_without_their_switch`; and options that choose
different searches, such as ``--sampling`` with ``--diverse-beam-groups``:
:func:`~ofa_mue.tasks.generation_options.refuse_other_searches`)."""

_TRAINING = "an option of fairseq-train's optimization, criterion, validation, logging or checkpoints"

REFUSED_OPTIONS: Dict[str, Tuple[Tuple[str, ...], str]] = {
    "optimization": (tuple(name for name in OptimizationConfig.__dataclass_fields__ if name != "_name"), _TRAINING),
    "checkpoint": (tuple(name for name, field in CheckpointConfig.__dataclass_fields__.items()
                         if name != "_name" and not str(field.default).startswith("${")), _TRAINING),
    "training": (("fp16_no_flatten_grads", "fp16_init_scale", "fp16_scale_window", "fp16_scale_tolerance",
                  "on_cpu_convert_precision", "min_loss_scale", "threshold_loss_scale", "amp", "amp_batch_retries",
                  "amp_init_scale", "amp_scale_window", "empty_cache_freq", "all_gather_list_size",
                  "quantization_config_path", "profile", "tensorboard_logdir", "wandb_project", "aim_repo",
                  "aim_run_hash", "azureml_logging",
                  "train_subset", "valid_subset", "combine_valid_subsets", "ignore_unused_valid_subsets",
                  "validate_interval", "validate_interval_updates", "validate_after_updates", "fixed_validation_seed",
                  "disable_validation", "max_tokens_valid", "batch_size_valid", "max_valid_steps", "curriculum",
                  "grouped_shuffling", "update_epoch_batch_itr", "update_ordered_indices_seed",
                  "criterion", "optimizer", "lr_scheduler"), _TRAINING),
    "batching": (("max_tokens", "required_batch_size_multiple", "required_seq_len_multiple", "dataset_impl",
                  "data_buffer_size"),
                 "the split is read from its TSV file in runs of --batch-size rows, default 16, as OFA's tasks "
                 "batch it: no token budget, size multiple or prefetch buffer"),
    "precision": (("bf16", "memory_efficient_bf16"), "the model runs in float32, or in float16 with --fp16"),
    "devices": (("tpu", "model_parallel_size"),
                "the whole model runs on one GPU or the CPU, and --num-shards splits the rows over processes"),
    "text": (("tokenizer", "scoring"),
             "text is encoded with the task's GPT-2 BPE and the predictions are scored with the task's metrics"),
    "printout": (("quiet",), "an option of fairseq-generate's printout, and this command prints its summary only"),
    "hydra": (("suppress_crashes", "reset_logging"), "an option of fairseq's Hydra entry points"),
    "plasma": (("use_plasma_view", "plasma_path"), "an option of fairseq's plasma store of training data"),
}
"""fairseq's options that the inference commands' parser accepts but that they cannot honour, by
group: ``{group: (option names, why each changes nothing here)}``; each is refused when given,
even at its default (:func:`refuse_unused_options`). An option naming one of fairseq's registries
(``--criterion``, ``--optimizer``, ``--lr-scheduler``, ``--tokenizer``, ``--scoring``) brings every
option the chosen one adds (``--label-smoothing``, ``--adam-betas``, ``--warmup-updates``, and the
``--pad``/``--eos``/``--unk`` of the default ``--scoring bleu``, ...).

Training: every option of the optimization (``--lr``, ``--max-update``, ``--update-freq``,
``--clip-norm``, ...) and checkpoint settings (``--save-dir``, ``--restore-file``,
``--reset-optimizer``, ``--no-save``, ``--patience``, ``--finetune-from-model``, ...; also
``--checkpoint-suffix`` and ``--checkpoint-shard-count``: the checkpoint is the file ``--path``
names), the loss scaling, AMP, profiling and metric trackers of the common settings, the training
and validation ones of the dataset settings, and the criterion, optimizer and schedule: inference
builds none of them and saves no checkpoint.

Batching: the task's datasets batch consecutive runs of ``--batch-size`` rows without measuring
them (:meth:`~ofa_mue.data.ofa_dataset.OFATSVDataset.batch_by_size`), as OFA's tasks do: OFA's
``get_batch_iterator`` never reads ``--max-tokens`` (its ``evaluate.py`` passes it, to no effect),
so ``--max-tokens`` is refused rather than honoured with batches OFA would not make. Also
``--required-batch-size-multiple``, ``--required-seq-len-multiple``, ``--dataset-impl`` and
``--data-buffer-size`` (no prefetch buffer). ``--bf16``, ``--memory-efficient-bf16`` (the model runs
in float32 or, with ``--fp16`` or ``--memory-efficient-fp16``, in float16), ``--tpu``,
``--model-parallel-size``; ``--tokenizer`` and ``--scoring`` (the task's BPE and metrics);
``--quiet``, ``--suppress-crashes``, ``--reset-logging``, ``--use-plasma-view``, ``--plasma-path``.

Not here: what inference honours (``--seed``, ``--cpu``, ``--fp16``, ``--user-dir``,
``--batch-size``, ``--num-workers``, ``--gen-subset``, ``--num-shards``/``--shard-id``, ...);
``--skip-invalid-size-inputs-valid-test``, accepted because it skips nothing, here as in OFA's
``evaluate.py`` (whose tasks' batch iterator never reads it): the tasks keep every row (their
datasets cut texts to ``--max-src-length`` words, as OFA's do), and a row still too long for the
model ends the run with an error naming it (:func:`score_rows`); and fairseq's logging options
(``--log-format``, ``--log-interval``, which OFA's evaluation scripts pass; the progress bar is
tqdm's whatever they say)."""

_NOT_GIVEN = object()


def build_parser() -> argparse.ArgumentParser:
    """fairseq's generation parser (``--path``, ``--gen-subset``, ``--batch-size``, beam options, ...)
    and ``--replace-images`` / ``--replace-text``."""
    parser = options.get_generation_parser(default_task="snli_ve")
    for action in options.add_optimization_args(parser)._group_actions:  # to refuse them by name (REFUSED_OPTIONS)
        action.help = argparse.SUPPRESS
    parser.set_defaults(user_dir=os.path.dirname(os.path.abspath(ofa_mue.__file__)), num_workers=0,
                        **CAPTION_GENERATION_DEFAULTS)
    parser.add_argument("--replace-images", choices=MODES, default="none",
                        help="score each row with another row's image ('other') or a blank one ('blank'), "
                             "to measure how much the model relies on the image (default: none)")
    parser.add_argument("--replace-text", choices=TEXT_MODES, default="none",
                        help="SNLI-VE: score each row with another row's hypothesis ('other'), keeping its image "
                             "and label, to measure how much the model answers from the image alone (default: none)")
    parser.add_argument("--ema-eval", action="store_true",
                        help="evaluate the EMA weights the checkpoint holds (its extra_state['ema'], which OFA's "
                             "fairseq-train --store-ema saves) instead of its model weights, as OFA's evaluate.py "
                             "does; a checkpoint without them is refused")
    parser.add_argument("--zero-shot", action="store_true",
                        help="OFA's zero-shot evaluation (--task snli_ve only), e.g. of a pretrained checkpoint: "
                             "the answers are scored as without it, and the task settings not given on the command "
                             "line or in --model-overrides are OFA's defaults, not the checkpoint's")
    return parser


ZERO_SHOT_TASKS = ("snli_ve",)
SHARD_FREE_TASK_OPTIONS = (*KNOBS, "exit_policy", "exit_profile", "bpe_dir", "inference_checkpoint",
                           "inference_overrides")
"""Task settings a shard file's description leaves out: the exit options (its ``exit_policy``
entry holds them), the vocabulary folder (a path that may differ between machines) and the
copies of ``--path`` and ``--model-overrides`` (held beside)."""
"""The tasks of ``--zero-shot``. OFA's ``zero_shot_step`` scores SNLI-VE's answers with the same
function body as its fine-tuned evaluation (and VQA's and RefCOCO's, tasks this project does not
have); for every other task it raises NotImplementedError."""


def zero_shot_task(task_cfg: Any) -> None:
    """``--zero-shot``, as OFA's ``evaluate.py``: the task is set up from the command line, not from
    the checkpoint's task settings (a pretrained checkpoint's are another task's), so a setting not
    given (on the command line or in ``--model-overrides``) takes OFA's default
    (:mod:`ofa_mue.tasks.settings`). A :class:`ConfigError` for a task other than SNLI-VE."""
    if task_cfg._name not in ZERO_SHOT_TASKS:
        raise ConfigError(f"--zero-shot evaluates --task snli_ve only: OFA's zero-shot evaluation has none for "
                          f"--task {task_cfg._name} (its evaluate.py raises NotImplementedError); evaluate it "
                          f"without --zero-shot")
    with open_dict(task_cfg):
        task_cfg.inference_checkpoint = None  # no settings from the checkpoint


def load_ema_weights(models: List[torch.nn.Module], path: str) -> None:
    """``--ema-eval``, as OFA's ``evaluate.py``: each model of ``path`` (``--path``, files split as
    fairseq splits them) takes the EMA weights its checkpoint holds, read with fairseq's
    ``load_ema_from_checkpoint`` (through :mod:`ofa_mue.checkpoint_loading`'s allow-list). A
    :class:`CheckpointError` naming the file when it holds none or they do not fit the model."""
    for model, file in zip(models, utils.split_paths(path), strict=True):
        try:
            weights = checkpoint_utils.load_ema_from_checkpoint(file)["model"]
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError):  # no extra_state, or no or empty "ema" in it
            raise CheckpointError(f"{file}: --ema-eval evaluates the EMA weights of a checkpoint trained with "
                                  f"--store-ema (its extra_state['ema']), and this one holds none: evaluate it "
                                  f"without --ema-eval") from None
        try:
            model.load_state_dict(weights)
        except CheckpointError as error:
            raise CheckpointError(f"{file}: its EMA weights: {error}") from None
        logger.info("evaluating the EMA weights of %s", file)


def score_rows(task, models: List[torch.nn.Module], split: str, batch_size: int, generation_cfg,
               use_cuda: bool = False, shard: Shard = Shard(), num_workers: int = 0) -> Tuple[List[Dict[str, Any]], float]:
    """Score the rows of ``split`` that ``shard`` holds (every row by default) with the task's
    exit options; ``num_workers`` data-loading processes.

    Returns the records in row order, each with its 1-based ``row``, the task's fields and
    ``layers`` (the :class:`~ofa_mue.core.time_reduction.ExampleLayers` it used), and the
    seconds the scoring took. Every row of the shard is scored exactly once (else an error): no
    row is skipped, and a row whose input is longer than the model's positions (which fairseq's
    ``--skip-invalid-size-inputs-valid-test`` would skip) ends the scoring with a :class:`DataError`
    naming it (the task's ``evaluation_input_lengths``).
    """
    dataset = task.dataset(split)
    positions = dict(zip(("source", "decoder"), map(min, zip(*(model.max_positions() for model in models)))))
    batches = task.get_batch_iterator(
        dataset=dataset, max_sentences=batch_size, max_positions=None, ignore_invalid_inputs=False,
        num_workers=num_workers, num_shards=shard.count, shard_id=shard.index,
    )
    if Shard().rows(batches.frozen_batches) != list(range(1, len(dataset) + 1)):
        raise RuntimeError(f"the batches of {split} do not hold each of its {len(dataset)} rows once")
    expected = shard.rows(batches.frozen_batches)
    records: List[Dict[str, Any]] = []
    started = time.perf_counter()
    with torch.no_grad():
        for sample in progress_bar.progress_bar(batches.next_epoch_itr(shuffle=False), log_format="tqdm",
                                                prefix=f"evaluate {split}"):
            if not sample:  # fairseq's filler, when this shard has one batch fewer than the first ones
                continue
            if use_cuda:
                sample = utils.move_to_cuda(sample)
            for part, lengths in task.evaluation_input_lengths(sample).items():
                too_long = lengths > positions[part]
                if too_long.any():
                    raise row_too_long(dataset, sample, int(too_long.nonzero()[0, 0]), part, lengths, positions[part])
            batch_records = task.evaluation_records(models, sample, generation_cfg)
            for index, record in zip(sample["id"].tolist(), batch_records, strict=True):
                records.append({"row": index + 1, **record})
    seconds = time.perf_counter() - started
    rows = [record["row"] for record in records]
    if sorted(rows) != expected:
        part = f" in shard {shard.index} of {shard.count}" if shard.is_part else ""
        raise RuntimeError(f"scored {len(records)} rows of {split}{part} ({len(set(rows))} distinct), which has "
                           f"{len(expected)}: evaluation incomplete")
    return sorted(records, key=lambda record: record["row"]), seconds


def row_too_long(dataset, sample: Dict[str, Any], position: int, part: str, lengths: torch.Tensor,
                 limit: int) -> DataError:
    """The :class:`DataError` of the row at ``position`` in ``sample``, whose ``part`` ("source"
    or "decoder") input of ``lengths[position]`` tokens is longer than the model's ``limit`` positions."""
    while not hasattr(dataset, "reader") and hasattr(dataset, "dataset"):  # through --replace-* wrappers
        dataset = dataset.dataset
    what = {"source": "source text", "decoder": "decoder input (prompt and answer)"}[part]
    return DataError(dataset.reader.path, f"(uniq-id {sample['uniq_ids'][position]}) its {what} is "
                     f"{int(lengths[position])} tokens, longer than the model's {limit} {part} positions, so it "
                     f"cannot be scored, and no row is skipped (--skip-invalid-size-inputs-valid-test neither): "
                     f"shorten its text or lower --max-src-length (the words kept of each text)",
                     row=int(sample["id"][position]) + 1)


def split_result(task, records: List[Dict[str, Any]], seconds: float, shape: ModelShape,
                 quick_metrics: bool = False) -> Dict[str, Any]:
    """What a whole split's records (from :func:`score_rows`) amount to on a model of ``shape``.

    Returns ``{"examples", "seconds", "metrics", "layers", "flops", "records"}``: ``metrics``
    the task's corpus metrics (``quick_metrics``: only the main ones, for sweeps), ``layers``
    the mean image, text and decoder layers and the expected time reduction rate, ``flops``
    the FLOPs per example and their reduction against full depth
    (:func:`~ofa_mue.core.flops.flops_summary`); each record's ``layers`` becomes the layers
    it used and its time share. In the lossless mode (``--exit-verify``) each record also
    holds its drafting counts, and ``verification`` their totals, acceptance rate and mean
    accepted length.
    """
    examples = [record["layers"] for record in records]
    usage = summarize(examples, shape.encoder_layers, shape.decoder_layers)
    records = [{**record, "layers": layers} for record, layers in zip(records, usage.per_example, strict=True)]
    flops = flops_summary(shape, examples)
    result = {"examples": len(records), "seconds": seconds, "metrics": task.evaluation_metrics(records, quick_metrics),
              "layers": usage.as_dict(), "flops": flops, "records": records}
    if records and "verification" in records[0]:
        result["verification"] = verification_summary([record["verification"] for record in records])
    return result


def evaluate_split(task, models: List[torch.nn.Module], split: str, batch_size: int, generation_cfg,
                   use_cuda: bool = False, quick_metrics: bool = False, num_workers: int = 0) -> Dict[str, Any]:
    """Score every row of ``split`` with the task's exit options: :func:`split_result` of :func:`score_rows`."""
    records, seconds = score_rows(task, models, split, batch_size, generation_cfg, use_cuda, num_workers=num_workers)
    return split_result(task, records, seconds, ModelShape.of(models[0], task.cfg.patch_image_size), quick_metrics)


def shard_records(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """:func:`score_rows` records as a shard file holds them (layer counts as a dict)."""
    return [{**record, "layers": asdict(record["layers"])} for record in records]


def records_from_shard(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """A shard file's records as :func:`score_rows` returned them."""
    return [{**record, "layers": ExampleLayers(**record["layers"])} for record in records]


def evaluation_summary(description: Dict[str, Any], result: Dict[str, Any]) -> Dict[str, Any]:
    """What the metrics file holds: ``description`` (task, split, checkpoint, replaced inputs, exit policy) and
    the :func:`split_result`, with the exit profile and its guarantee when the description has
    one, and the lossless mode's drafting figures when it was on."""
    summary = {
        "task": description["task"],
        "split": description["split"],
        "checkpoint": description["checkpoint"],
        **({"weights": description["weights"]} if "weights" in description else {}),  # "ema": --ema-eval
        "images": description["images"],  # "none", or how --replace-images replaced them
        "text": description["text"],  # "none", or how --replace-text replaced the hypotheses
        "examples": result["examples"],
        "seconds": round(result["seconds"], 3),
        "metrics": result["metrics"],
        "exit_policy": description["exit_policy"],
        "layers": result["layers"],
        "flops": result["flops"],
    }
    if "exit_profile" in description:
        summary["exit_profile"] = description["exit_profile"]
    if "verification" in result:
        summary["verification"] = {**description["exit_verify"], **result["verification"]}
    return summary


@dataclass
class EvaluationSetup:
    """A loaded checkpoint, its task (with the command line's options), the split to score and
    the shard of it this process scores."""

    task: Any
    models: List[torch.nn.Module]
    cfg: Any
    split: str
    batch_size: int
    use_cuda: bool
    shard: Shard = Shard()
    num_workers: int = 0
    images: str = "none"
    text: str = "none"
    ema: bool = False  # the checkpoint's EMA weights (--ema-eval)

    def score(self) -> Tuple[List[Dict[str, Any]], float]:
        """:func:`score_rows` of this setup's shard with the task's current exit options, the
        random streams seeded first (:meth:`seed_random_streams`)."""
        self.seed_random_streams()
        return score_rows(self.task, self.models, self.split, self.batch_size, self.cfg.generation, self.use_cuda,
                          self.shard, self.num_workers)

    def seed_random_streams(self) -> None:
        """Seed numpy's and torch's random numbers with ``--seed`` (unless none was given), as
        OFA's evaluate.py does before its one run: every scoring of this setup then samples
        (``--sampling``) as one ``evaluate`` run does, so each setting calibrate, sweep or
        reproduce compares, or a calibration table holds from an earlier run, draws the same
        random numbers as that setting alone."""
        if self.cfg.common.seed is not None and not self.cfg.generation.no_seed_provided:
            np.random.seed(self.cfg.common.seed)
            utils.set_torch_seed(self.cfg.common.seed)

    def evaluate(self, quick_metrics: bool = False) -> Dict[str, Any]:
        """:func:`split_result` of the whole split with the task's current exit options."""
        if self.shard.is_part:
            raise ConfigError("the metrics of a split need all of it: score the shards, then merge them with "
                              "python -m ofa_mue.merge")
        records, seconds = self.score()
        return split_result(self.task, records, seconds, self.model_shape(), quick_metrics)

    def model_shape(self) -> ModelShape:
        """The model's widths, depths and image backbone cost (what the time and FLOPs counts need)."""
        return ModelShape.of(self.models[0], self.task.cfg.patch_image_size)

    def set_exit_options(self, **options: Any) -> None:
        """Change the task's exit options (``exit_policy``, ``image_exit_threshold``, ...) in place."""
        with open_dict(self.task.cfg):
            for name, value in options.items():
                self.task.cfg[name] = value

    def description(self) -> Dict[str, Any]:
        """What is evaluated: task, split, checkpoint (``weights`` "ema" with ``--ema-eval``), the
        current exit policy and, when its thresholds come from an exit profile, that profile's guarantee."""
        description = {
            "task": self.task.cfg._name,
            "split": self.split,
            "checkpoint": self.cfg.common_eval.path,
            **weights_record(self.ema),
            "images": self.images,
            "text": self.text,
            "exit_policy": {"name": self.task.cfg.exit_policy, **asdict(self.task.exit_policy())},
        }
        if self.task.cfg.exit_verify:
            description["exit_verify"] = {"draft_tokens": self.task.cfg.exit_verify_draft}
        if self.task.cfg.exit_policy == "mue" and self.task.cfg.exit_profile:
            description["exit_profile"] = self.exit_profile_description()
        return description

    def exit_profile_description(self) -> Dict[str, Any]:
        """The exit profile's entry of :meth:`description`: its guarantee and every caveat of
        :func:`profile_caveats` for this run (``batch_size_caveat`` and ``split_caveat`` always,
        null when none; the others where they apply), also leading its statement."""
        path = self.task.cfg.exit_profile
        profile = read_exit_profile(path)
        statement = guarantee_statement(profile.get("guarantee"))
        caveats = profile_caveats(profile, self.cfg.common_eval.path, self.batch_size, self.ema, self.split)
        if caveats:
            statement = f"not for this run: {'; '.join(caveats.values())}; calibrated: {statement}"
        return {"path": path, "method": profile.get("method"), "guarantee": profile.get("guarantee"),
                "calibration_batch_size": profile.get("calibration_batch_size"),
                "batch_size_caveat": None, "split_caveat": None, **caveats, "statement": statement}

    def shard_description(self) -> Dict[str, Any]:
        """:meth:`description` plus what every shard must share for their rows to be computed as
        in one run: the batch size, the generation options, the task's settings (less the exit
        options, which :meth:`description` holds, and the vocabulary folder's path),
        ``--model-overrides`` and ``--fp16``, the checkpoint's and the split file's fingerprints
        (so a file changed under the same path is seen), the code's commit and the model's shape."""
        task_options = OmegaConf.to_container(self.task.cfg, resolve=True)
        for name in SHARD_FREE_TASK_OPTIONS:
            task_options.pop(name, None)
        return {**self.description(), "batch_size": self.batch_size,
                "generation": OmegaConf.to_container(self.cfg.generation, resolve=True),
                "task_options": task_options, "model_overrides": self.cfg.common_eval.model_overrides,
                "fp16": bool(self.cfg.common.fp16),
                "checkpoint_fingerprint": checkpoint_fingerprint(self.cfg.common_eval.path),
                "data_fingerprint": checkpoint_fingerprint(self.task.split_path(self.split)),
                "code": code_commit(), "model_shape": asdict(self.model_shape())}

    def summary(self, result: Dict[str, Any]) -> Dict[str, Any]:
        """What the metrics file holds for one evaluation."""
        return evaluation_summary(self.description(), result)


def help_with_task_options(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None) -> None:
    """With ``-h``/``--help`` in ``argv``: print the help with the options of ``--task`` (default
    snli_ve) and exit. fairseq prints the help before it adds the task's options (the exit options,
    ``--bpe-dir``, ``--patch-image-size``, ...), so without this ``--help`` would not list them."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "-h" not in args and "--help" not in args:
        return
    name = task_name(parser, args)
    if name in tasks.TASK_REGISTRY:
        tasks.TASK_REGISTRY[name].add_args(parser.add_argument_group(f"task options (--task {name})"))
    parser.parse_args(["--help"])


def task_name(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str:
    """The ``--task`` that ``argv`` names (``parser``'s default without one), before fairseq parses it."""
    task_option = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    task_option.add_argument("--task", default=parser.get_default("task"))
    return task_option.parse_known_args(list(argv))[0].task


def set_task_generation_defaults(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """:data:`CAPTION_GENERATION_DEFAULTS` are the caption evaluation's: for another ``--task`` in
    ``argv`` (SNLI-VE, which generates nothing and refuses ``--no-repeat-ngram-size``) ``parser``
    takes fairseq's defaults instead, as OFA's ``evaluate.py`` does."""
    if task_name(parser, argv) != "caption":
        parser.set_defaults(**{name: GenerationConfig.__dataclass_fields__[name].default
                               for name in CAPTION_GENERATION_DEFAULTS})


def refuse_distributed_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """fairseq's distributed options, which the parser accepts, are refused: one process scores
    one shard (``--num-shards``/``--shard-id``), and ``python -m ofa_mue.merge`` joins them.
    The distributed configuration's mirrors of common options (``--fp16``, ...) are not among them."""
    given = [name for name, field in DistributedTrainingConfig.__dataclass_fields__.items()
             if hasattr(args, name) and getattr(args, name) != parser.get_default(name)
             and not str(field.default).startswith("${common.")]
    if given:
        parser.error(f"--{given[0].replace('_', '-')} is not used here: split the work over processes or machines "
                     f"with --num-shards K --shard-id I and merge the shards with python -m ofa_mue.merge")


def refused_option_names(args: argparse.Namespace) -> Dict[str, str]:
    """The names (``dest``) of :data:`REFUSED_OPTIONS`, each with its group, and every option that
    the registry entries chosen in ``args`` (criterion, optimizer, learning-rate schedule,
    tokenizer, scorer) add, as fairseq adds them to the parser, in the group of the option that chose it."""
    names: Dict[str, str] = {}
    for group, (group_names, _) in REFUSED_OPTIONS.items():
        for name in group_names:
            names[name] = group
            chosen = REGISTRIES[name]["registry"].get(getattr(args, name, None)) if name in REGISTRIES else None
            if chosen is None:
                continue
            own = argparse.ArgumentParser(add_help=False)
            if hasattr(chosen, "add_args"):
                chosen.add_args(own)
            elif hasattr(chosen, "__dataclass"):
                gen_parser_from_dataclass(own, chosen.__dataclass())
            names.update((action.dest, group) for action in own._actions)
    return names


def refuse_unused_options(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]) -> None:
    """A :class:`ConfigError`, in one line, naming every option of :data:`REFUSED_OPTIONS` that
    ``argv`` gives and why it changes nothing here (``args``: ``argv`` as ``parser`` parsed it,
    which then knows the options of the chosen criterion, optimizer, schedule, tokenizer and
    scorer); an option given at its default value counts. Defaults fairseq sets are not given:
    ``argv`` is parsed again with each of these options preset to a mark that only an option on
    the command line replaces."""
    groups = {name: group for name, group in refused_option_names(args).items()
              if name in {action.dest for action in parser._actions}}
    given = parser.parse_args(list(argv), namespace=argparse.Namespace(**{name: _NOT_GIVEN for name in groups}))
    flags: Dict[str, Tuple[int, str]] = {}
    for action in parser._actions:
        if action.dest in groups and getattr(given, action.dest) is not _NOT_GIVEN:
            used = [(index, flag) for index, token in enumerate(argv) for flag in action.option_strings
                    if token == flag or token.startswith(flag + "=")]
            flags[action.dest] = min(used) if used else (len(argv), action.option_strings[0])
    if not flags:
        return
    order = sorted(flags, key=lambda name: flags[name])
    reasons: Dict[str, List[str]] = {}
    for name in order:
        reasons.setdefault(REFUSED_OPTIONS[groups[name]][1], []).append(flags[name][1])
    why = "; ".join(f"{', '.join(named)}: {reason}" for reason, named in reasons.items())
    raise ConfigError(f"{', '.join(flags[name][1] for name in order)} changes nothing here: this command runs "
                      f"inference only, on the checkpoint --path names ({why})")


def refuse_exit_verify(args: argparse.Namespace, command: str) -> None:
    """A :class:`ConfigError` when ``command``, which compares exit settings by their quality,
    is given ``--exit-verify`` (the full model's output at every setting)."""
    if getattr(args, "exit_verify", False):
        raise ConfigError(f"--exit-verify gives the full model's outputs at every exit setting: {command} "
                          "has no trade-off to measure with it (run it without --exit-verify)")


def load_evaluation(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None,
                    check_shard: Optional[Callable[[argparse.Namespace, Shard], None]] = None,
                    trades_off_exits: Optional[str] = None):
    """Parse ``argv`` with ``parser`` and load the checkpoint, task and split it names;
    ``check_shard(args, shard)`` may refuse the command's shard options before any loading.

    ``trades_off_exits``: the name of a command that compares exit settings by their
    quality, which ``--exit-verify`` (the full model's output at every setting) is refused for.
    Returns the :class:`EvaluationSetup` and the parsed arguments.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    set_task_generation_defaults(parser, argv)
    args = options.parse_args_and_arch(parser, input_args=argv)
    refuse_distributed_options(parser, args)
    refuse_unused_options(parser, args, argv)
    if trades_off_exits:
        refuse_exit_verify(args, trades_off_exits)
    cfg = convert_namespace_to_omegaconf(args)
    if args.zero_shot:
        zero_shot_task(cfg.task)
    shard = Shard(cfg.dataset.num_shards, cfg.dataset.shard_id)
    if shard.is_part and cfg.generation.sampling:
        raise ConfigError("--sampling with --num-shards: the samples are drawn from one random stream over the "
                          "batches a process runs, so shards would draw other captions than one run does (each "
                          "starting from the same --seed); sample in one process")
    if check_shard:
        check_shard(args, shard)
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO,
                        stream=sys.stdout, force=True)
    if not cfg.common_eval.path:
        parser.error("--path CHECKPOINT is required")
    if cfg.generation.lm_path:  # OFA's evaluate.py fuses this language model into the generation
        raise ConfigError("--lm-path is not supported by this evaluation: no language model is fused into the "
                          "generation")
    refuse_generation_options(cfg.generation, OTHER_GENERATORS_OPTIONS,
                              "changes nothing here: an option of fairseq's other generators or of fairseq-generate's "
                              "printout, which this evaluation does not use")
    refuse_options_without_their_switch(cfg.generation)
    refuse_other_searches(cfg.generation)
    if cfg.common_eval.post_process is not None:
        raise ConfigError("--post-process changes nothing here: the evaluation decodes with the task's GPT-2 BPE")
    use_cuda = torch.cuda.is_available() and not cfg.common.cpu
    # as fairseq-generate does: the task from the command line, its unset settings from the checkpoint
    task = tasks.setup_task(cfg.task)
    task.exit_policy()  # validate the exit options before any work
    task.check_evaluation_options(cfg.generation)
    try:
        models, _ = checkpoint_utils.load_model_ensemble(
            utils.split_paths(cfg.common_eval.path), arg_overrides=ast.literal_eval(cfg.common_eval.model_overrides),
            task=task,
        )
    except CheckpointError as error:  # e.g. weights of another architecture: name the file
        if cfg.common_eval.path in str(error):
            raise
        raise CheckpointError(f"{cfg.common_eval.path}: {error}") from None
    if args.ema_eval:
        load_ema_weights(models, cfg.common_eval.path)
    task.exit_policy(models[0])  # and the depths they ask of this model
    setup = EvaluationSetup(task, models, cfg, cfg.dataset.gen_subset, cfg.dataset.batch_size or 16, use_cuda, shard,
                            cfg.dataset.num_workers, args.replace_images, args.replace_text, args.ema_eval)
    for model in models:
        model.eval()
        if cfg.common.fp16:  # as OFA's evaluate.py and fairseq-generate: the model in float16
            model.half()
        if use_cuda:
            model.cuda()
    task.load_dataset(setup.split)
    task.datasets[setup.split] = replace_images(replace_text(task.dataset(setup.split), setup.text), setup.images)
    return setup, args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point; returns the metrics summary that it writes (for a shard: what
    its file holds)."""
    parser = build_parser()
    help_with_task_options(parser, argv)

    def check_shard(args: argparse.Namespace, shard: Shard) -> None:
        if shard.is_part and not args.results_path:
            parser.error("--num-shards needs --results-path: each shard writes its rows there for python -m ofa_mue.merge")

    setup, _ = load_evaluation(parser, argv, check_shard)
    out = setup.cfg.common_eval.results_path
    if setup.shard.is_part:
        return write_evaluation_shard(setup, out)
    result = setup.evaluate()
    summary = setup.summary(result)
    print(json.dumps(summary, indent=2))
    log_exit_profile(summary)
    if out:
        write_result_files(out, setup.split, type(setup.task), result["records"], summary)
    return summary


def log_exit_profile(summary: Dict[str, Any]) -> None:
    """Log the exit profile's statement of an evaluation summary: a warning when a caveat says the
    calibrated guarantee is not for this run, else at info level; nothing without a profile."""
    if "exit_profile" in summary:
        caveated = any(summary["exit_profile"].get(name) for name in CAVEATS)
        log = logger.warning if caveated else logger.info
        log("exit profile %s: %s", summary["exit_profile"]["path"], summary["exit_profile"]["statement"])


def write_result_files(out: str, split: str, task_class, records: List[Dict[str, Any]],
                       summary: Dict[str, Any]) -> None:
    """Write ``{split}_predictions.jsonl``, in the format of OFA's ``evaluate.py`` ``{split}_predict.json``
    (:meth:`~ofa_mue.tasks.ofa_task.OFATask.ofa_predictions`), and last ``{split}_metrics.json``."""
    write_atomically(os.path.join(out, f"{split}_predictions.jsonl"), "".join(json.dumps(r) + "\n" for r in records))
    write_atomically(os.path.join(out, f"{split}_predict.json"), json.dumps(task_class.ofa_predictions(records)))
    write_atomically(os.path.join(out, f"{split}_metrics.json"), json.dumps(summary, indent=2) + "\n")


def write_evaluation_shard(setup: EvaluationSetup, out: str) -> Dict[str, Any]:
    """Score the setup's shard and write its file into ``out`` (see :mod:`ofa_mue.sharding`)."""
    records, seconds = setup.score()
    path = os.path.join(out, setup.shard.file_name(setup.split))
    write_shard_file(path, "evaluation", setup.shard, setup.shard_description(), len(setup.task.dataset(setup.split)),
                     seconds=seconds, records=shard_records(records))
    logger.info("shard %d of %d: %d rows of %s scored in %.1f s, written to %s", setup.shard.index, setup.shard.count,
                len(records), setup.split, seconds, path)
    return {"shard": path, "examples": len(records), "seconds": seconds}


def run_cli(entry_point: Callable[[], Any]) -> None:
    """Run a command-line ``entry_point``; bad input ends in one clear line, not a traceback."""
    try:
        entry_point()
    except OFAMuEError as error:
        sys.exit(f"error: {error}")


def cli_main() -> None:
    """Console entry point of the evaluation."""
    run_cli(main)


if __name__ == "__main__":
    cli_main()
