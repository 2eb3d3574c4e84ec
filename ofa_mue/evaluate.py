"""Evaluate a fine-tuned OFA checkpoint on a whole split and write the task metrics.

    python -m ofa_mue.evaluate DATA --path CHECKPOINT --task snli_ve --gen-subset test \\
        --batch-size 16 --results-path results/snli_ve

``DATA`` is the task's data folder (``{split}.tsv``) or OFA's file list; task options given
on the command line (``--bpe-dir``, ``--patch-image-size``, ...) replace the checkpoint's.
MuE exits are set with the task options ``--image-exit-threshold``, ``--text-exit-threshold``,
``--decoder-exit-threshold``, ``--decoder-exit-beta`` and ``--decoder-exit-tau`` (encoder exits
need a modality-decomposed model: ``--model-overrides "{'decompose_modalities': True}"`` for
a checkpoint trained without). Every row of the split is scored exactly once (a mismatch is
an error). Metrics, the mean layers used per stream, the expected time reduction rate and
the measured seconds are printed and written to ``RESULTS_PATH/{split}_metrics.json``;
per-example predictions with the layers each used to ``RESULTS_PATH/{split}_predictions.jsonl``.
Both files are written atomically. Captions are
generated with OFA's defaults (beam 5, ``--max-len-b 16``, ``--no-repeat-ngram-size 3``)
unless given.
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
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from fairseq import checkpoint_utils, options, utils
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.logging import progress_bar
from omegaconf import open_dict

import ofa_mue  # noqa: F401  (registers tasks and model, installs checkpoint loading)
from ofa_mue.atomic_files import write_atomically
from ofa_mue.errors import CheckpointError, OFAMuEError
from ofa_mue.replaced_images import MODES, replace_images
from ofa_mue.core.time_reduction import summarize

logger = logging.getLogger("ofa_mue.evaluate")

CAPTION_GENERATION_DEFAULTS = {"beam": 5, "max_len_b": 16, "no_repeat_ngram_size": 3}


def build_parser() -> argparse.ArgumentParser:
    """fairseq's generation parser (``--path``, ``--gen-subset``, ``--batch-size``, beam options, ...)
    and ``--replace-images``."""
    parser = options.get_generation_parser(default_task="snli_ve")
    parser.set_defaults(user_dir=os.path.dirname(os.path.abspath(ofa_mue.__file__)), **CAPTION_GENERATION_DEFAULTS)
    parser.add_argument("--replace-images", choices=MODES, default="none",
                        help="score each row with another row's image ('other') or a blank one ('blank'), "
                             "to measure how much the model relies on the image (default: none)")
    return parser


def task_overrides(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Dict[str, Any]:
    """Task options the user set on the command line (they replace the checkpoint's)."""
    from fairseq.tasks import TASK_DATACLASS_REGISTRY

    defaults = TASK_DATACLASS_REGISTRY[args.task]()
    overrides = {}
    for name in defaults.__dataclass_fields__:
        value = getattr(args, name, None)
        if value is not None and value != getattr(defaults, name):
            overrides[name] = value
    return overrides


def evaluate_split(task, models: List[torch.nn.Module], split: str, batch_size: int, generation_cfg,
                   use_cuda: bool = False, quick_metrics: bool = False) -> Dict[str, Any]:
    """Score every row of ``split`` with the task's exit options.

    Returns ``{"examples", "seconds", "metrics", "layers", "records"}``: ``layers`` holds the
    mean image, text and decoder layers used and the expected time reduction rate; each
    record its prediction and the layers it used. ``quick_metrics``: only the task's main
    metrics (for sweeps).
    """
    dataset = task.dataset(split)
    iterator = task.get_batch_iterator(
        dataset=dataset, max_sentences=batch_size, max_positions=None, ignore_invalid_inputs=False,
        num_workers=0,
    ).next_epoch_itr(shuffle=False)
    records: List[Dict[str, Any]] = []
    started = time.perf_counter()
    with torch.no_grad():
        for sample in progress_bar.progress_bar(iterator, log_format="tqdm", prefix=f"evaluate {split}"):
            if use_cuda:
                sample = utils.move_to_cuda(sample)
            batch_records = task.evaluation_records(models, sample, generation_cfg)
            for index, record in zip(sample["id"].tolist(), batch_records, strict=True):
                records.append({"row": index + 1, **record})
    seconds = time.perf_counter() - started
    rows = sorted(record["row"] for record in records)
    if rows != list(range(1, len(dataset) + 1)):
        raise RuntimeError(f"scored {len(records)} rows of {split} ({len(set(rows))} distinct), which has "
                           f"{len(dataset)}: evaluation incomplete")
    usage = summarize([record.pop("layers") for record in records], models[0].encoder.num_layers,
                      models[0].decoder.num_layers)
    for record, layers in zip(records, usage.per_example):
        record["layers"] = layers
    return {"examples": len(records), "seconds": seconds, "metrics": task.evaluation_metrics(records, quick_metrics),
            "layers": usage.as_dict(), "records": records}


@dataclass
class EvaluationSetup:
    """A loaded checkpoint, its task (with the command line's options) and the split to score."""

    task: Any
    models: List[torch.nn.Module]
    cfg: Any
    split: str
    batch_size: int
    use_cuda: bool
    images: str = "none"

    def evaluate(self, quick_metrics: bool = False) -> Dict[str, Any]:
        """:func:`evaluate_split` with the task's current exit options."""
        return evaluate_split(self.task, self.models, self.split, self.batch_size, self.cfg.generation,
                              self.use_cuda, quick_metrics)

    def set_exit_options(self, **options: Any) -> None:
        """Change the task's exit options (``exit_policy``, ``image_exit_threshold``, ...) in place."""
        with open_dict(self.task.cfg):
            for name, value in options.items():
                self.task.cfg[name] = value

    def summary(self, result: Dict[str, Any]) -> Dict[str, Any]:
        """What the metrics file holds for one evaluation."""
        return {
            "task": self.task.cfg._name,
            "split": self.split,
            "checkpoint": self.cfg.common_eval.path,
            "examples": result["examples"],
            "images": self.images,
            "seconds": round(result["seconds"], 3),
            "metrics": result["metrics"],
            "exit_policy": {"name": self.task.cfg.exit_policy, **asdict(self.task.exit_policy())},
            "layers": result["layers"],
        }


def load_evaluation(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None):
    """Parse ``argv`` with ``parser`` and load the checkpoint, task and split it names.

    Returns the :class:`EvaluationSetup` and the parsed arguments.
    """
    args = options.parse_args_and_arch(parser, input_args=argv)
    cfg = convert_namespace_to_omegaconf(args)
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO,
                        stream=sys.stdout, force=True)
    if not cfg.common_eval.path:
        parser.error("--path CHECKPOINT is required")
    use_cuda = torch.cuda.is_available() and not cfg.common.cpu
    task_options = task_overrides(args, parser)
    overrides = {**ast.literal_eval(cfg.common_eval.model_overrides), **task_options}
    try:
        models, _, task = checkpoint_utils.load_model_ensemble_and_task(
            utils.split_paths(cfg.common_eval.path), arg_overrides=overrides
        )
    except CheckpointError as error:  # e.g. weights of another architecture: name the file
        if cfg.common_eval.path in str(error):
            raise
        raise CheckpointError(f"{cfg.common_eval.path}: {error}") from None
    setup = EvaluationSetup(task, models, cfg, cfg.dataset.gen_subset, cfg.dataset.batch_size or 16, use_cuda,
                            args.replace_images)
    setup.set_exit_options(**task_options)  # fairseq overrides only the options a checkpoint has
    task.exit_policy()  # validate the exit options before any work
    for model in models:
        model.eval()
        if use_cuda:
            model.cuda()
    task.load_dataset(setup.split)
    task.datasets[setup.split] = replace_images(task.dataset(setup.split), setup.images)
    return setup, args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point; returns the metrics summary that it writes."""
    setup, _ = load_evaluation(build_parser(), argv)
    result = setup.evaluate()
    summary = setup.summary(result)
    print(json.dumps(summary, indent=2))
    out = setup.cfg.common_eval.results_path
    if out:
        write_atomically(os.path.join(out, f"{setup.split}_predictions.jsonl"),
                         "".join(json.dumps(r) + "\n" for r in result["records"]))
        write_atomically(os.path.join(out, f"{setup.split}_metrics.json"), json.dumps(summary, indent=2) + "\n")
    return summary


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
