"""The MuE paper's tables and figures from one command, for any checkpoint and data.

    python -m ofa_mue.reproduce DATA --path CHECKPOINT --task snli_ve --gen-subset test \\
        --batch-size 16 --results-dir results/reproduce/snli_ve \\
        [--exit-profile PROFILE] [--no-decomposition-checkpoint CKPT] [--no-layerwise-checkpoint CKPT]

Evaluation options (data, ``--bpe-dir``, ``--batch-size``, beam options, ``--decoder-exit-beta``/
``--decoder-exit-tau``, ``--model-overrides``, ``--cpu`` ...) are those of ``python -m ofa_mue.evaluate``;
the command sets every exit option itself. MuE's operating point comes from an exit profile
calibrated on the validation split: ``--exit-profile``, or, without one, ``python -m ofa_mue.calibrate``
is run on ``--calibration-subset`` (default ``valid``) with ``--calibrate-args``. The evaluated
split (``--gen-subset``, default ``test``) is swept, never tuned on (calibrating on it is
refused). One loaded model serves every setting; every row of the split is scored in each. Written to ``--results-dir``, each as markdown
+ CSV + PNG with the commit, machine and date:

- ``table1_main_results``: full model, calibrated MuE, MuE's decoder-only form, DeeBERT and
  PABEE (decoder only, and with MuE's encoder exits) and static truncation, with quality,
  expected time reduction and measured time reduction (:mod:`ofa_mue.timing`'s protocol);
- ``table2_encoder_depths``: image vs text encoder depth combinations (static, full decoder);
- ``table3_thresholds``: MuE at each threshold;
- ``table4_ablation``: the model without modality decomposition and without the layer-wise
  loss (``--no-decomposition-checkpoint``, ``--no-layerwise-checkpoint``; their profiles by
  ``--no-decomposition-profile``/``--no-layerwise-profile`` or calibrated the same way);
- ``figure3_layer_similarity``: each layer's input-output cosine similarity (image, text, decoder);
- ``mue_vs_static``: MuE against static truncation's envelope at each level of MuE's sweep (with
  ``--static-chosen-on valid``, also against static truncation chosen on that split and scored on
  the evaluated one: the static grid is evaluated there too); each difference with its 95% paired
  bootstrap interval over the examples (:mod:`ofa_mue.significance`);
- ``adaptivity_bound``: the per-example oracle exit among the static depth combinations (what any
  input-adaptive exit over them could reach: :mod:`ofa_mue.adaptivity_bound`) beside MuE and
  static truncation's envelope at each level of MuE's sweep;
- ``sweep/``: every setting (``sweep.csv``/``.md``/``.json``) and the trade-off curves (``tradeoff.png``);
- ``reproduce.md`` (all tables on one page) and ``reproduce.json`` (everything, for machines).
"""
from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import shlex
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from . import paper_tables
from .adaptivity_bound import adaptivity_bound, adaptivity_markdown, plot_adaptivity
from .atomic_files import write_atomically
from .calibrate import MAIN_METRIC
from .errors import ConfigError
from .evaluate import (EvaluationSetup, build_parser, help_with_task_options, load_evaluation, refuse_exit_verify,
                       refuse_unused_options, run_cli)
from .provenance import provenance
from .report import TASK_METRICS
from .core.exit_policy import NEVER, TokenSimilarityExit
from .core.exit_profile import load_exit_profile
from .saturation import layer_similarity, plot_similarity, similarity_markdown
from .sweep import (
    ExampleScores,
    SweepPoint,
    add_grid_options,
    add_timing_options,
    arm_name,
    evaluate_points,
    exit_options,
    grid_points,
    write_sweep,
)
from .timing import check_repetitions, time_evaluation_arms

logger = logging.getLogger("ofa_mue.reproduce")

DECOMPOSED = {"decompose_modalities": True}


def add_reproduce_options(parser: argparse.ArgumentParser) -> None:
    """The reproduce command's own options (beside the evaluation's)."""
    group = parser.add_argument_group("reproduce")
    group.add_argument("--results-dir", required=True, help="folder for the tables, figures and sweep")
    group.add_argument("--calibration-subset", default="valid",
                       help="split to calibrate MuE's thresholds on when no profile is given (default valid)")
    group.add_argument("--calibrate-args", default="",
                       help="extra options for python -m ofa_mue.calibrate, as one string (e.g. "
                            "\"--risk-epsilon 0.1\" or \"--method retention --retention 0.96\"); the Table 4 variants "
                            "use them too, but keep their calibration tables beside their profiles")
    group.add_argument("--static-chosen-on", default=None, metavar="SPLIT",
                       help="also compare MuE with static truncation chosen on SPLIT (e.g. valid: the full model "
                            "and the static depth grid are evaluated on it too) and scored on the evaluated split "
                            "(default: only the envelope of the evaluated split itself)")
    group.add_argument("--no-decomposition-checkpoint", default=None,
                       help="Table 4: the same fine-tuning without --decompose-modalities")
    group.add_argument("--no-decomposition-profile", default=None, help="its exit profile (default: calibrate)")
    group.add_argument("--no-layerwise-checkpoint", default=None,
                       help="Table 4: the same fine-tuning with the final-layer loss only")
    group.add_argument("--no-layerwise-profile", default=None, help="its exit profile (default: calibrate)")


def build_reproduce_parser() -> argparse.ArgumentParser:
    """Every option of the command (for ``--help``)."""
    parser = build_parser()
    add_reproduce_options(parser)
    add_grid_options(parser)
    add_timing_options(parser)
    return parser


def split_argv(argv: Sequence[str]) -> Tuple[argparse.Namespace, List[str], Optional[str]]:
    """The command's own options, the evaluation options (passed on to every model load and
    calibration) and the ``--exit-profile`` given, if any."""
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_reproduce_options(own)
    add_grid_options(own)
    add_timing_options(own)
    own.add_argument("--exit-profile", default=None)
    args, rest = own.parse_known_args(argv)
    return args, rest, args.exit_profile


def refuse_exit_options(args: argparse.Namespace) -> None:
    """The command chooses every exit setting itself: exit options given for evaluation are refused,
    and so are --exit-verify and --num-shards."""
    refuse_exit_verify(args, "reproduce")
    if args.num_shards > 1:
        raise ConfigError("--num-shards: reproduce runs on one machine (it times the settings it compares); "
                          "python -m ofa_mue.evaluate, sweep and calibrate take --num-shards, merged by "
                          "python -m ofa_mue.merge")
    given = [flag for flag, value in (("--image-exit-threshold", args.image_exit_threshold),
                                      ("--text-exit-threshold", args.text_exit_threshold),
                                      ("--decoder-exit-threshold", args.decoder_exit_threshold)) if value <= 1.0]
    given += [flag for flag, value in (("--static-image-layers", args.static_image_layers),
                                       ("--static-text-layers", args.static_text_layers),
                                       ("--static-decoder-layers", args.static_decoder_layers)) if value]
    if args.exit_policy != "mue":
        given.append("--exit-policy")
    if given:
        raise ConfigError(f"{', '.join(given)}: reproduce sets every exit option itself (MuE's operating point "
                          "comes from --exit-profile or its calibration; the sweep from --thresholds, --entropies, "
                          "--patiences and --depths)")


def load_evaluation_args(rest: Sequence[str]) -> argparse.Namespace:
    """The evaluation options of ``rest`` as fairseq parses them (no model is loaded)."""
    from fairseq import options

    parser = build_parser()
    args = options.parse_args_and_arch(parser, input_args=list(rest))
    refuse_unused_options(parser, args, list(rest))
    if not args.path:
        raise ConfigError("--path CHECKPOINT is required")
    return args


def profile_thresholds(profile: str) -> Dict[str, Tuple[float, float]]:
    """The thresholds an exit profile applies, for Figure 3: per part (image, text, decoder),
    the threshold at the first and at the last decoder position (the same for the encoder
    streams, and for a decoder threshold that does not decay)."""
    options = load_exit_profile(profile)
    image, text = (options.get(f"{part}_exit_threshold", NEVER) for part in ("image", "text"))
    rule = TokenSimilarityExit(options.get("decoder_exit_threshold", NEVER), options.get("decoder_exit_beta", 1.0),
                               options.get("decoder_exit_tau", 0.0), horizon=1)
    decoder = (rule.theta, rule.theta) if rule.beta == 1.0 else tuple(rule.threshold(torch.tensor([0, 1])).tolist())
    return {"image": (image, image), "text": (text, text), "decoder": decoder}


def with_overrides(given: str, extra: Dict[str, Any]) -> str:
    """``--model-overrides`` as given, with ``extra`` added."""
    return repr({**ast.literal_eval(given or "{}"), **extra})


def refuse_calibrating_on_the_evaluated_split(args: argparse.Namespace, evaluated: str) -> None:
    """A :class:`ConfigError` when the calibration would choose the thresholds on the split the
    tables report (``--calibration-subset``, or a ``--gen-subset`` in ``--calibrate-args``)."""
    if any(option.split("=")[0] == "--gen-subset" for option in shlex.split(args.calibrate_args)):
        raise ConfigError("--calibrate-args: give the calibration split with --calibration-subset, not --gen-subset")
    if args.calibration_subset == evaluated:
        raise ConfigError(f"--calibration-subset {evaluated} is the evaluated split (--gen-subset): the thresholds "
                          "would be tuned on the split the tables report; calibrate on another split (e.g. valid)")


def calibrated_profile(rest: Sequence[str], checkpoint: str, path: str, args: argparse.Namespace,
                       overrides: Optional[str], own_table: bool = False) -> str:
    """Run ``python -m ofa_mue.calibrate`` on the calibration split; returns the profile's path.
    ``own_table``: the calibration table goes beside the profile whatever ``--calibrate-args``'
    ``--table-path`` says (that table is the main model's; another checkpoint's is refused there)."""
    from . import calibrate

    argv = [*rest, "--path", checkpoint, "--gen-subset", args.calibration_subset, *shlex.split(args.calibrate_args),
            "--profile-path", path]
    if own_table:
        argv += ["--table-path", calibrate.default_table_path(path)]
    if overrides is not None:
        argv += ["--model-overrides", overrides]
    logger.info("calibrating %s on %s: %s", checkpoint, args.calibration_subset, path)
    calibrate.main(argv)
    return path


def load(rest: Sequence[str], checkpoint: str, profile: Optional[str] = None,
         overrides: Optional[str] = None) -> EvaluationSetup:
    """``checkpoint`` loaded for evaluation of the evaluated split."""
    argv = [*rest, "--path", checkpoint]
    if profile is not None:
        argv += ["--exit-profile", profile]
    if overrides is not None:
        argv += ["--model-overrides", overrides]
    setup, _ = load_evaluation(build_parser(), argv)
    return setup


def static_rows_on(split: Optional[str], rest: Sequence[str], checkpoint: str,
                   points: Sequence[SweepPoint]) -> Optional[List[Dict[str, Any]]]:
    """The full model and the static grid of ``points`` evaluated on ``split`` (``--static-chosen-on``),
    to choose static depths on; ``None`` when no split is given."""
    if split is None:
        return None
    setup = load([*rest, "--gen-subset", split], checkpoint)
    return evaluate_points(setup, [p for p in points if p.curve in ("full", "static")], desc=f"static grid on {split}")


def evaluate_with(setup: EvaluationSetup, **options: Any) -> Dict[str, Any]:
    """Main metric and layers of the split with every exit option off but ``options``."""
    setup.set_exit_options(**exit_options(**options))
    result = setup.evaluate(quick_metrics=True)
    return {"metric": result["metrics"][MAIN_METRIC[setup.task.cfg._name]], "examples": result["examples"],
            **result["layers"]}


def ablation_rows(rows: Sequence[Dict[str, Any]], args: argparse.Namespace, rest: Sequence[str], checkpoint: str,
                  profile: str, model_overrides: str) -> List[Dict[str, Any]]:
    """Table 4: the main model, then each variant given (else a row saying it was not run)."""
    full, mue = paper_tables.curve_rows(rows, "full")[0], paper_tables.curve_rows(rows, "mue_given")[0]
    table = [_ablation_entry("MuE (modality decomposition + layer-wise loss)", "mue", checkpoint, profile,
                             "decomposed encoder, every decoder layer trained", full["metric"], mue)]
    variants = (
        ("without modality decomposition", "no_modality_decomposition", args.no_decomposition_checkpoint,
         args.no_decomposition_profile, DECOMPOSED),
        ("without the layer-wise loss", "no_layerwise_loss", args.no_layerwise_checkpoint, args.no_layerwise_profile,
         {}),
    )
    for name, stem, variant, variant_profile, extra in variants:
        if variant is None:
            table.append({"variant": name, "key": stem, "inference": "not run (no checkpoint given)"})
            continue
        overrides = with_overrides(model_overrides, extra) if extra else None
        if variant_profile is None:
            variant_profile = calibrated_profile(rest, variant, os.path.join(args.results_dir, "profiles",
                                                                             f"{stem}.json"), args, overrides,
                                                 own_table=True)
        as_trained = load(rest, variant)
        full_metric = evaluate_with(as_trained)["metric"]
        setup = load(rest, variant, variant_profile, overrides) if extra else as_trained
        inference = "as trained"
        if extra:
            decomposed = evaluate_with(setup)["metric"]
            inference = (f"trained joint; MuE's encoder exits need the streams apart, so MuE runs it decomposed "
                         f"(without exits, decomposed: {decomposed:.4f})")
        result = evaluate_with(setup, exit_profile=variant_profile)
        table.append(_ablation_entry(name, stem, variant, variant_profile, inference, full_metric, result))
    return table


def _ablation_entry(variant: str, key: str, checkpoint: str, profile: str, inference: str, full_metric: float,
                    result: Dict[str, Any]) -> Dict[str, Any]:
    return {"variant": variant, "key": key, "checkpoint": checkpoint, "profile": profile, "inference": inference,
            "full_metric": full_metric, "metric": result["metric"],
            "retention": result["metric"] / full_metric if full_metric else None,
            "expected_time_reduction": result["expected_time_reduction"], "examples": result["examples"],
            **{name: result[name] for name in paper_tables.LAYER_COLUMNS}}


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point: returns what ``reproduce.json`` holds."""
    argv = list(sys.argv[1:] if argv is None else argv)
    help_with_task_options(build_reproduce_parser(), argv)
    args, rest, profile = split_argv(argv)
    check_repetitions(args.timing_repetitions, "--timing-repetitions")
    out = args.results_dir
    given_args = load_evaluation_args(rest)
    refuse_exit_options(given_args)
    if args.static_chosen_on is not None and args.static_chosen_on == given_args.gen_subset:
        raise ConfigError(f"--static-chosen-on {args.static_chosen_on} is the evaluated split (--gen-subset): "
                          "static truncation chosen on it is the envelope the comparison already shows; "
                          "choose on another split (e.g. valid)")
    if profile is None:
        refuse_calibrating_on_the_evaluated_split(args, given_args.gen_subset)
    checkpoint = given_args.path
    if profile is None:
        profile = calibrated_profile(rest, checkpoint, os.path.join(out, "profiles", "main.json"), args, None)
    setup = load(rest, checkpoint, profile)
    task, metric_name = setup.task.cfg._name, MAIN_METRIC[setup.task.cfg._name]
    device = torch.device("cuda" if setup.use_cuda else "cpu")
    record = provenance(device)
    model = setup.models[0]
    encoder_layers, decoder_layers = model.encoder.num_layers, model.decoder.num_layers

    points = grid_points(setup, args)  # before any evaluation changes the loaded exit options
    similarity = layer_similarity(setup)
    rows = evaluate_points(setup, points)
    examples = rows[0]["examples"]
    where = f"{task}, {setup.split} split, {examples} examples"
    pages = []

    write_sweep(rows, os.path.join(out, "sweep"), metric_name, f"Trade-off curves ({where})", record, None)

    chosen = paper_tables.table1_points(rows)
    timing = None
    if args.timing_repetitions:
        arms = {arm_name(row): row["options"] for row, _ in chosen}
        timing = time_evaluation_arms(setup, arms, arm_name(chosen[0][0]), args.timing_repetitions,
                                      rows=args.timing_rows)
    names = TASK_METRICS[task]
    table1 = paper_tables.table1(chosen, names, lambda row: setup.task.evaluation_metrics(row["records"]), timing)
    pages.append(paper_tables.write_result(
        out, "table1_main_results", f"Table 1: full model, MuE and the baselines ({where})",
        paper_tables.table1_markdown(table1, names, metric_name, timing),
        ["method", "exits", "setting", "chosen", *names, "retention", "expected_time_reduction", "measured_reduction",
         "measured_reduction_q1", "measured_reduction_q3", "seconds_median", "seconds_spread",
         *paper_tables.LAYER_COLUMNS, "examples"],
        table1, record, lambda path: paper_tables.plot_table1(table1, metric_name, path, record)))

    table2 = paper_tables.table2(rows, encoder_layers, decoder_layers)
    pages.append(paper_tables.write_result(
        out, "table2_encoder_depths", f"Table 2: image and text encoder depths ({where})",
        paper_tables.table2_markdown(table2, metric_name),
        ["image_layers", "text_layers", "metric", "expected_time_reduction"], table2, record,
        lambda path: paper_tables.plot_table2(table2, metric_name, path, record)))

    table3 = paper_tables.table3(rows)
    pages.append(paper_tables.write_result(
        out, "table3_thresholds", f"Table 3: MuE at several thresholds ({where})",
        paper_tables.table3_markdown(table3, metric_name),
        ["form", "setting", "threshold", "metric", "retention", "expected_time_reduction",
         *paper_tables.LAYER_COLUMNS], table3, record,
        lambda path: paper_tables.plot_table3(table3, metric_name, path, record)))

    table4 = ablation_rows(rows, args, rest, checkpoint, profile, given_args.model_overrides)
    pages.append(paper_tables.write_result(
        out, "table4_ablation", f"Table 4: ablation, each variant calibrated on its validation split ({where})",
        paper_tables.table4_markdown(table4, metric_name), paper_tables.TABLE4_COLUMNS, table4, record,
        lambda path: paper_tables.plot_table4(table4, metric_name, path, record)))

    pages.append(paper_tables.write_result(
        out, "figure3_layer_similarity", f"Figure 3: cosine similarity of each layer's output and input ({where})",
        similarity_markdown(similarity["rows"]),
        ["part", "layer", "count", "mean", "std", "p10", "median", "p90"], similarity["rows"], record,
        lambda path: plot_similarity(similarity["rows"], f"Layer input-output similarity ({where})", path, record,
                                     profile_thresholds(profile))))

    chosen_rows = static_rows_on(args.static_chosen_on, rest, checkpoint, points)
    example_scores = ExampleScores(task, rows)
    frontier, verdict = paper_tables.mue_vs_static(rows, chosen_rows, args.static_chosen_on, example_scores,
                                                   (encoder_layers, decoder_layers))
    held_out_columns = (["static_chosen", "static_chosen_reduction", "difference_chosen", "difference_chosen_low",
                         "difference_chosen_high", "verdict_chosen", "significance_chosen", "chosen_between"]
                        if chosen_rows is not None else [])
    pages.append(paper_tables.write_result(
        out, "mue_vs_static", f"MuE against a fixed depth ({where})",
        paper_tables.mue_vs_static_markdown(frontier, verdict, metric_name),
        ["setting", "level", "expected_time_reduction", "mue_metric", "static_envelope", "difference",
         "difference_low", "difference_high", "verdict", "significance", "between", *held_out_columns], frontier, record,
        lambda path: paper_tables.plot_mue_vs_static(rows, frontier, metric_name, path, record,
                                                     args.static_chosen_on)))

    bound_table, bound = adaptivity_bound(rows, example_scores)
    pages.append(paper_tables.write_result(
        out, "adaptivity_bound", f"The per-example oracle exit: what input-adaptive exits could reach ({where})",
        adaptivity_markdown(bound_table, bound, metric_name),
        ["setting", "level", "expected_time_reduction", "mue_capped", "static_envelope_capped", "oracle",
         "mue_minus_static", "oracle_minus_static"],
        bound_table, record, lambda path: plot_adaptivity(bound_table, bound, metric_name, path, record)))

    summary = {"provenance": record, "task": task, "split": setup.split, "examples": examples,
               "checkpoint": checkpoint, "exit_profile": profile, "metric": metric_name,
               "table1": table1, "table2": table2, "table3": table3, "table4": table4,
               "figure3": similarity["rows"], "mue_vs_static": {"levels": frontier, "summary": verdict},
               "adaptivity_bound": {"levels": bound_table, "summary": bound},
               "static_chosen_on": None if chosen_rows is None else {
                   "split": args.static_chosen_on,
                   "rows": [{key: row[key] for key in ("curve", "setting", "metric", "expected_time_reduction",
                                                       "examples")} for row in chosen_rows]},
               "timing": timing}
    write_atomically(os.path.join(out, "reproduce.json"), json.dumps(summary, indent=2) + "\n")
    write_atomically(os.path.join(out, "reproduce.md"), "\n".join(pages))
    print("\n".join(pages))
    return summary


def cli_main() -> None:
    """Console entry point with one-line errors for bad input."""
    run_cli(main)


if __name__ == "__main__":
    cli_main()
