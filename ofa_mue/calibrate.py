"""Calibrate MuE's exit thresholds on a split, with a finite-sample guarantee by default.

    python -m ofa_mue.calibrate DATA --path CHECKPOINT --task snli_ve --gen-subset valid \\
        --batch-size 16 --risk-epsilon 0.05 --risk-delta 0.1 --profile-path results/snli_ve_profile.json

Every configuration of a grid of image, text and decoder thresholds (each knob at each of
``--candidates`` or off; the decoder's decay from ``--decoder-exit-beta``/``--decoder-exit-tau``)
is evaluated once on the calibration split, and its per-example losses and time shares are
kept in a calibration table (:mod:`ofa_mue.calibration_table`, ``--table-path``; reused by a
later run with the same checkpoint and options). Then one of two methods chooses:

- ``--method ltt`` (default, certified): Learn-then-Test (:mod:`ofa_mue.core.risk_control`).
  With probability at least ``1 - D`` over the draw of the calibration rows, the chosen
  thresholds' expected per-example loss (``--loss``, :mod:`ofa_mue.calibration_losses`) on
  new data from the same distribution is at most ``E`` (``--risk-epsilon E --risk-delta D``).
  Among the configurations that pass, the one with the most expected time reduction is
  chosen; if none passes, every exit stays off and the profile says so.
- ``--method retention`` (uncertified): the configuration with the most expected time
  reduction whose metric on the split keeps ``--retention`` of the full model's (accuracy;
  corpus CIDEr-D). It makes no promise about other data.

The exit profile (:mod:`ofa_mue.core.exit_profile`) records the thresholds, the exit
granularity they were calibrated with (``--exit-granularity``, ``--exit-step-quantile``), how
they were chosen and, for ``ltt``, the guarantee; ``--exit-profile`` loads it and runs that
granularity.

Over several processes or machines: ``--num-shards K --shard-id I`` evaluates every
configuration on shard I of the split and writes its per-row records to
``{profile stem}.shard{I}-of-{K}.json`` beside ``--profile-path``; ``python -m ofa_mue.merge``
then builds the calibration table from the K shard files (per-example scores over the whole
split) and makes the choice, writing the table and the profile an unsharded run writes (run
every shard with the same ``--batch-size``).
"""
from __future__ import annotations

import argparse
import logging
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from fairseq.tasks import TASK_REGISTRY
from tqdm import tqdm

from .calibration_losses import BINARY_LOSSES, DEFAULT_ROUGE_CUTOFF, LOSSES, default_loss, describe_loss
from .calibration_table import (
    FULL_MODEL,
    KNOBS,
    CalibrationTable,
    add_configuration,
    check_table_task,
    evaluate_grid,
    evaluation_key,
    threshold_grid,
)
from .core.exit_profile import granularity_options, guarantee_statement, save_exit_profile, weights_record
from .core.flops import ModelShape
from .core.risk_control import PROCEDURES, certify, most_reduction
from .evaluate import (build_parser, help_with_task_options, load_evaluation, records_from_shard, shard_records,
                       split_result)
from .provenance import checkpoint_fingerprint
from .sharding import Shard, merge_records, write_shard_file

logger = logging.getLogger("ofa_mue.calibrate")

CANDIDATES = "0.99,0.95,0.9,0.8,0.6"
"""Threshold values tried for each knob (beside off) unless given."""

MAIN_METRIC = {"snli_ve": "accuracy", "caption": "cider"}
METHODS = ("ltt", "retention")
LTT_OPTIONS = ("risk_epsilon", "risk_delta", "loss", "rouge_cutoff", "multiple_testing", "learn_fraction")


def parse_candidates(text: str, option: str) -> List[float]:
    """Comma-separated thresholds in (0, 1] (ValueError naming ``option`` otherwise)."""
    try:
        values = [float(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated numbers, got {text!r}") from None
    if not values or any(not 0.0 < value <= 1.0 for value in values):
        raise ValueError(f"{option} must be thresholds in (0, 1], got {text!r}")
    return values


def choose_certified(table: CalibrationTable, configurations: Sequence, loss: str, epsilon: float, delta: float,
                     procedure: str, learn_fraction: float, seed: int, **loss_options: Any) -> Dict[str, Any]:
    """Learn-then-Test on the table: the chosen thresholds (None: exits off) and the guarantee."""
    losses = table.losses(loss, configurations, **loss_options)
    certification = certify(losses, table.reductions(configurations), epsilon, delta, loss in BINARY_LOSSES,
                            procedure, learn_fraction, np.random.default_rng(seed))
    chosen = None if certification.chosen is None else configurations[certification.chosen]
    guarantee = {
        "certified": chosen is not None,
        "epsilon": epsilon,
        "delta": delta,
        "loss": loss,
        "loss_definition": describe_loss(table.task, loss, **loss_options),
        "calibration_rows": len(table.rows),
        "learn_rows": certification.learn_rows,
        "test_rows": certification.test_rows,
        "multiple_testing": procedure,
        "configurations": len(configurations),
        "configurations_tested": len(certification.p_values),
        "configurations_certified": len(certification.certified),
        "test_level": certification.level,
        "p_value_kind": "binomial" if loss in BINARY_LOSSES else "hoeffding-bentkus",
        "p_value": certification.chosen_p_value,
        "calibration_loss": None if chosen is None else float(losses[certification.chosen].mean()),
        "split_seed": seed if procedure == "fixed-sequence" else None,
    }
    guarantee["statement"] = guarantee_statement(guarantee)
    return {"thresholds": chosen, "guarantee": guarantee}


def choose_by_retention(table: CalibrationTable, configurations: Sequence, retention: float) -> Optional[tuple]:
    """The uncertified choice: most mean time reduction whose mean metric keeps ``retention`` of the full model's."""
    metric = table.example_metric(configurations).mean(axis=1)
    full = table.example_metric([FULL_MODEL]).mean()
    index = most_reduction(metric >= retention * full, table.reductions(configurations).mean(axis=1))
    return None if index is None else configurations[index]


def build_calibration_parser() -> argparse.ArgumentParser:
    """The evaluation options plus the calibration's."""
    parser = build_parser()
    group = parser.add_argument_group("calibration")
    group.add_argument("--profile-path", required=True, help="where to write the exit profile (JSON)")
    group.add_argument("--table-path", default=None,
                       help="calibration table (per-example results of every configuration; reused when it "
                            "exists; default: beside the profile, PROFILE.table.json.gz)")
    group.add_argument("--method", choices=METHODS, default="ltt",
                       help="ltt: certified Learn-then-Test (default); retention: uncertified, keep --retention "
                            "of the full model's metric on this split")
    group.add_argument("--candidates", default=CANDIDATES,
                       help="threshold values tried for each knob, beside off (default: %(default)s)")
    for knob in ("image", "text", "decoder"):
        group.add_argument(f"--{knob}-candidates", default=None, help=f"values for the {knob} threshold "
                                                                      "(default: --candidates)")
    certified = parser.add_argument_group("certified calibration (--method ltt)")
    certified.add_argument("--risk-epsilon", type=float, default=None,
                           help="E: bound on the expected per-example loss (default 0.05)")
    certified.add_argument("--risk-delta", type=float, default=None,
                           help="D: the bound may fail with probability at most D over the calibration "
                                "rows (default 0.1)")
    certified.add_argument("--loss", default=None,
                           help="per-example loss: snli_ve consistency (default) or label; caption cider "
                                "(default) or rouge (see ofa_mue/calibration_losses.py)")
    certified.add_argument("--rouge-cutoff", type=float, default=None,
                           help=f"caption --loss rouge: a caption is lost below this ROUGE-L against the full "
                                f"model's, in (0, 1] (default {DEFAULT_ROUGE_CUTOFF})")
    certified.add_argument("--multiple-testing", choices=PROCEDURES, default=None,
                           help="fixed-sequence (default): order on --learn-fraction of the rows, test along the "
                                "order on the rest; bonferroni: test every configuration on all rows at D/K")
    certified.add_argument("--learn-fraction", type=float, default=None,
                           help="fixed-sequence: share of the rows that only orders the configurations "
                                "(default 0.3; the split is drawn with --seed)")
    uncertified = parser.add_argument_group("uncertified calibration (--method retention)")
    uncertified.add_argument("--retention", type=float, default=None,
                             help="share of the full model's main metric to keep on this split (default 0.99)")
    return parser


def check_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse options the chosen method cannot honour; fill in the defaults of the others."""
    given = [name for name in LTT_OPTIONS if getattr(args, name) is not None]
    if args.method == "retention":
        if given:
            parser.error(f"--{given[0].replace('_', '-')} is an option of the certified calibration "
                         f"(--method ltt), not of --method retention")
        args.retention = 0.99 if args.retention is None else args.retention
        if not 0.0 < args.retention <= 1.0:
            parser.error(f"--retention must be in (0, 1], got {args.retention}")
        return
    if args.retention is not None:
        parser.error("--retention is the uncertified calibration: add --method retention (the default method, "
                     "ltt, takes --risk-epsilon and --risk-delta)")
    defaults = {"risk_epsilon": 0.05, "risk_delta": 0.1, "loss": default_loss(args.task),
                "multiple_testing": "fixed-sequence"}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.loss not in LOSSES[args.task]:
        parser.error(f"--loss for {args.task} must be one of {', '.join(LOSSES[args.task])}, got {args.loss!r}")
    if args.rouge_cutoff is not None and args.loss != "rouge":
        parser.error("--rouge-cutoff applies to --loss rouge only")
    if args.learn_fraction is not None and args.multiple_testing != "fixed-sequence":
        parser.error("--learn-fraction applies to --multiple-testing fixed-sequence only")
    args.learn_fraction = 0.3 if args.learn_fraction is None else args.learn_fraction
    for name in ("risk_epsilon", "risk_delta", "learn_fraction"):
        if not 0.0 < getattr(args, name) < 1.0:
            parser.error(f"--{name.replace('_', '-')} must be in (0, 1), got {getattr(args, name)}")
    if args.loss == "rouge" and args.rouge_cutoff is None:
        args.rouge_cutoff = DEFAULT_ROUGE_CUTOFF
    if args.loss == "rouge" and not 0.0 < args.rouge_cutoff <= 1.0:  # 0: no caption is ever lost
        parser.error(f"--rouge-cutoff must be in (0, 1], got {args.rouge_cutoff}")


def method_options(args: argparse.Namespace) -> Dict[str, Any]:
    """What the chosen method (after :func:`check_arguments`) needs to choose from a table."""
    if args.method == "retention":
        return {"method": "retention", "retention": args.retention}
    return {"method": "ltt", **{name: getattr(args, name) for name in LTT_OPTIONS}, "seed": args.seed}


def choose_profile(table: CalibrationTable, grid: Sequence, options: Dict[str, Any],
                   context: Dict[str, Any]) -> Dict[str, Any]:
    """The exit profile the method of ``options`` (:func:`method_options`) chooses from ``table``
    among ``grid``; ``context``: task, checkpoint and its fingerprint (and ``weights`` "ema" under
    ``--ema-eval``), split, table path and the decoder's decay."""
    configurations = [c for c in grid if c != FULL_MODEL]
    profile: Dict[str, Any] = {"task": context["task"], "checkpoint": context["checkpoint"],
                               "checkpoint_fingerprint": context.get("checkpoint_fingerprint"),  # None: old shards
                               **weights_record(context.get("weights") == "ema"),
                               "split": context["split"], "method": options["method"], "table": context["table"],
                               "settings_evaluated": len(grid)}
    if options["method"] == "ltt":
        loss_options = {"rouge_cutoff": options["rouge_cutoff"]} if options["loss"] == "rouge" else {}
        decision = choose_certified(table, configurations, options["loss"], options["risk_epsilon"],
                                    options["risk_delta"], options["multiple_testing"], options["learn_fraction"],
                                    options["seed"], **loss_options)
        chosen, profile["guarantee"] = decision["thresholds"], decision["guarantee"]
    else:
        chosen = choose_by_retention(table, configurations, options["retention"])
        profile["target_retention"], profile["guarantee"] = options["retention"], None
    chosen = chosen or FULL_MODEL
    metric = table.example_metric([FULL_MODEL, chosen]).mean(axis=1)
    profile.update({
        "metric_name": MAIN_METRIC[context["task"]],
        "full_metric": float(metric[0]),
        "metric": float(metric[1]),
        "expected_time_reduction": float(table.reductions([chosen]).mean()),
        "options": {**dict(zip(KNOBS, chosen)), "decoder_exit_beta": context["decoder_exit_beta"],
                    "decoder_exit_tau": context["decoder_exit_tau"], **table_granularity(table)},
    })
    if "batch_size" in table.evaluation:  # under step, what the profile measured holds at this batch size
        profile["calibration_batch_size"] = table.evaluation["batch_size"]
    return profile


def table_granularity(table: CalibrationTable) -> Dict[str, Any]:
    """The exit granularity ``table`` was evaluated with, as a profile records it (a table made
    before the key held it was evaluated per token)."""
    task_options = table.evaluation["task_options"]
    return granularity_options(task_options.get("exit_granularity") or "token",
                               task_options.get("exit_step_quantile") or 1.0)


def write_profile(path: str, profile: Dict[str, Any]) -> None:
    """Save ``profile`` at ``path`` and log it with its guarantee."""
    save_exit_profile(path, profile)
    logger.info("exit profile written to %s: %s", path, profile)
    if profile["guarantee"]:
        logger.info(profile["guarantee"]["statement"])


def default_table_path(profile_path: str) -> str:
    """Where the calibration table goes without ``--table-path``: beside the profile."""
    return f"{os.path.splitext(profile_path)[0]}.table.json.gz"


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point: returns the profile it writes (for a shard: what its file holds)."""
    parser = build_calibration_parser()
    help_with_task_options(parser, argv)
    args, _ = parser.parse_known_args(argv)  # checked before the checkpoint is loaded (task options come later)
    check_arguments(args, parser)
    try:
        candidates = {knob: parse_candidates(getattr(args, f"{knob}_candidates") or args.candidates,
                                             f"--{knob}-candidates" if getattr(args, f"{knob}_candidates")
                                             else "--candidates")
                      for knob in ("image", "text", "decoder")}
    except ValueError as error:
        parser.error(str(error))
    table_path = args.table_path or default_table_path(args.profile_path)

    def check_shard(_: argparse.Namespace, shard: Shard) -> None:
        if shard.is_part and os.path.exists(table_path):
            parser.error(f"--num-shards: each shard evaluates the whole grid on its rows, so the existing table "
                         f"{table_path} cannot be reused: give another --table-path (the merge writes the table)")

    setup, _ = load_evaluation(parser, argv, check_shard, trades_off_exits="calibrate")
    given = setup.task.cfg  # the command line's options, and those --model-overrides set
    if given.exit_policy != "mue" or given.exit_profile or any(getattr(given, knob) <= 1.0 for knob in KNOBS):
        parser.error("calibrate chooses MuE's thresholds itself: drop --exit-policy, --exit-profile and "
                     "--*-exit-threshold, on the command line or in --model-overrides (--*-candidates set the "
                     "values it tries)")
    if not setup.models[0].encoder.decompose_modalities:
        logger.info("the encoder is not modality-decomposed: encoder exits stay off (decoder thresholds only)")
        candidates["image"] = candidates["text"] = []
    grid = threshold_grid(candidates["image"], candidates["text"], candidates["decoder"])
    cfg = setup.task.cfg
    context = {"task": cfg._name, "checkpoint": setup.cfg.common_eval.path,
               "checkpoint_fingerprint": checkpoint_fingerprint(setup.cfg.common_eval.path), "split": setup.split,
               "table": table_path, "decoder_exit_beta": cfg.decoder_exit_beta,
               "decoder_exit_tau": cfg.decoder_exit_tau, **weights_record(setup.ema)}
    if setup.shard.is_part:
        return write_calibration_shard(setup, grid, method_options(args), context, args.profile_path)
    profile = choose_profile(evaluate_grid(setup, grid, table_path), grid, method_options(args), context)
    write_profile(args.profile_path, profile)
    return profile


def write_calibration_shard(setup, grid: Sequence, options: Dict[str, Any], context: Dict[str, Any],
                            profile_path: str) -> Dict[str, Any]:
    """Score the setup's shard at every configuration of ``grid`` and write its shard file beside
    ``profile_path``: per configuration, the seconds and per-row records (see :mod:`ofa_mue.sharding`).
    The per-example scores of the table need the whole split (CIDEr-D's document frequencies):
    :func:`merge_calibration` computes them."""
    check_table_task(context["task"])
    description = {**setup.shard_description(), "grid": [list(c) for c in grid], "calibration": options,
                   "context": {**context, "profile": os.path.basename(profile_path),
                               "table": os.path.basename(context["table"])}}
    scored = []
    for thresholds in tqdm(dict.fromkeys([FULL_MODEL, *grid]), desc=f"calibration shard {setup.shard.index}",
                           unit="configuration"):
        setup.set_exit_options(exit_policy="mue", exit_profile=None, **dict(zip(KNOBS, thresholds)))
        records, seconds = setup.score()
        scored.append({"thresholds": list(thresholds), "seconds": seconds, "records": shard_records(records)})
    stem = os.path.splitext(profile_path)[0]
    path = os.path.join(os.path.dirname(stem), setup.shard.file_name(os.path.basename(stem)))
    write_shard_file(path, "calibration", setup.shard, description, len(setup.task.dataset(setup.split)),
                     evaluation_key=evaluation_key(setup), configurations=scored)
    logger.info("shard %d of %d: %d configurations on %d rows of %s, written to %s", setup.shard.index,
                setup.shard.count, len(scored), len(scored[0]["records"]), setup.split, path)
    return {"shard": path, "configurations": len(scored)}


def merge_calibration(shards: Sequence[Dict[str, Any]], output_dir: str) -> Dict[str, Any]:
    """From the shards of a calibration (:func:`write_calibration_shard`), write the calibration
    table and the exit profile an unsharded run writes into ``output_dir``: each configuration's
    per-example results recomputed from its merged records. Returns the profile."""
    description = shards[0]["description"]
    task_name = description["task"]
    task, shape = TASK_REGISTRY[task_name], ModelShape(**description["model_shape"])
    table = None
    for index, configuration in enumerate(shards[0]["configurations"]):
        records = records_from_shard(merge_records(shards, lambda shard: shard["configurations"][index]["records"]))
        result = split_result(task, records, sum(s["configurations"][index]["seconds"] for s in shards), shape,
                              quick_metrics=True)
        table = add_configuration(table, task_name, shards[0]["evaluation_key"], tuple(configuration["thresholds"]),
                                  result["records"], result["seconds"], shards[0]["path"])
    context = description["context"]
    table_path = os.path.join(output_dir, context["table"])
    table.save(table_path)
    profile = choose_profile(table, [tuple(c) for c in description["grid"]], description["calibration"],
                             {**context, "table": table_path})
    write_profile(os.path.join(output_dir, context["profile"]), profile)
    return profile


def cli_main() -> None:
    """Console entry point with one-line errors for bad input."""
    from .evaluate import run_cli

    run_cli(main)


if __name__ == "__main__":
    cli_main()
