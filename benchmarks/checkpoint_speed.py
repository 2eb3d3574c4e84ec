"""``speed.py checkpoints``: MuE on fine-tuned checkpoints against the real bound, and the same
exits replayed on a model of OFA's real size, in one run.

Per task and batch size, on the first test rows (collated up front), these arms run
interleaved (one repetition of each after the other, rotating; medians of paired ratios):

- ``off``: the full model, no exit session at all;
- ``never``: MuE's rules with thresholds that cannot fire (same rules, same decay): the
  exit tests' cost;
- ``mue``: the calibrated thresholds, per-token exits (the paper's);
- ``static``: static truncation at MuE's mean depths (rounded): whole-layer exits with no
  exit test, the bound no exit code can beat at the same depths;
- one arm per other granularity (``step``, ``step@q``, ``auto``), with the thresholds
  calibrated for it when its profile exists, else the per-token profile.

Then the demo's per-token exits (each sample's stream depths, each decoder call's tokens)
are replayed on a random-init model of ``--replay-arch`` (default ``ofa_base``) with OFA's
vocabulary size and ``--replay-image-size`` images, for the same rows and the same numbers
of decoder steps (:mod:`exit_arms`), with the same arms.

Per setting it reports the expected time reduction, the FLOPs reduction, each arm's
measured reduction, MuE's against static truncation's (target >= 0.97), and the exit tests'
share of the never-firing run (target <= 3% at batch 1, <= 2% at larger batches); where a
target is missed, the part of the time responsible (instrumented passes: MuE's time by part
against static truncation's). The quality of each granularity on the whole test split
comes from ``ofa_mue.evaluate``'s own evaluation.
"""
from __future__ import annotations

import argparse
import gc
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from measurement import PARTS, REPO, time_splits  # first: puts the checkout's ofa_mue on the path
from exit_arms import NeverFiring, RecordingPolicy, ReplayPolicy
from runners import CaptionRunner, SnliVeRunner, batches, load_task_and_model, replay_model
from ofa_mue.timing import interleaved_times, ratio_stats, time_stats

DECODER_DECAY = {"snli_ve": (1.0, 0.0), "caption": (0.95, 1.0)}  # (beta, tau) unless given: demo.sh's choice
GENERATION = {"beam": 5, "max_len_b": 16, "no_repeat_ngram_size": 3}  # OFA's caption defaults
MAIN_METRIC = {"snli_ve": "accuracy", "caption": "cider"}
STATIC_RATIO_TARGET = 0.97
EXIT_TEST_SHARE_TARGET = {1: 0.03, "larger": 0.02}
SPLIT_ARMS = ("off", "never", "mue", "static")


def exit_test_share_target(batch_size: int) -> float:
    return EXIT_TEST_SHARE_TARGET[1] if batch_size == 1 else EXIT_TEST_SHARE_TARGET["larger"]


def granularity_arms(specs: List[str]):
    """``{arm name: ExitGranularity}`` for ``--granularities`` (``step``, ``step:Q``, ``auto``)."""
    from ofa_mue.core.exit_granularity import ExitGranularity
    from ofa_mue.errors import ConfigError

    arms = {}
    for spec in specs:
        mode, _, quantile = spec.partition(":")
        try:
            granularity = ExitGranularity(mode, float(quantile) if quantile else 1.0)
        except (ValueError, ConfigError) as error:
            sys.exit(f"error: --granularities {spec!r}: {error}")
        arms[mode if not quantile else f"{mode}@{float(quantile):g}"] = granularity
    return arms


def thresholds_for(args: argparse.Namespace, task_name: str, arm: str, granularity):
    """The arm's thresholds: ``{profile-dir}/{task}/profile_{arm}.json`` when present (``step@0.5``:
    ``profile_step0.5.json``; it must record the arm's granularity), else the per-token
    ``profile.json``, else the per-token profile a demo run calibrated
    (``reproduce/profiles/main.json``), else the flags. Returns the policy and where its
    thresholds came from (with the granularity they were calibrated for when it is not the arm's)."""
    from ofa_mue.core.exit_policy import MuEThresholds
    from ofa_mue.core.exit_profile import granularity_with_profile, load_exit_profile
    from ofa_mue.errors import ConfigError

    beta, tau = DECODER_DECAY[task_name]
    options = {"image_exit_threshold": args.image_exit_threshold, "text_exit_threshold": args.text_exit_threshold,
               "decoder_exit_threshold": args.decoder_exit_threshold,
               "decoder_exit_beta": beta if args.decoder_exit_beta is None else args.decoder_exit_beta,
               "decoder_exit_tau": tau if args.decoder_exit_tau is None else args.decoder_exit_tau}
    source = "command line"
    if not args.no_profile:
        folder = Path(args.profile_dir) / task_name
        own = folder / f"profile_{arm.replace('@', '')}.json"
        for candidate in (own, folder / "profile.json", folder / "reproduce" / "profiles" / "main.json"):
            if candidate.is_file():
                profile = load_exit_profile(str(candidate))
                options.update(profile)
                source = str(candidate)
                try:
                    granularity_with_profile(source, profile, granularity.mode, granularity.quantile)
                except ConfigError as error:
                    if candidate == own:
                        sys.exit(f"error: {error}")
                    source += f" (calibrated for {profile['exit_granularity']}"
                    source += f"@{profile['exit_step_quantile']:g})" if profile["exit_granularity"] == "step" else ")"
                break
    policy = MuEThresholds(options["image_exit_threshold"], options["text_exit_threshold"],
                           options["decoder_exit_threshold"], options["decoder_exit_beta"],
                           options["decoder_exit_tau"], granularity)
    return policy, source


def same_mean_depths(examples, model):
    """Static truncation at the mean depths of ``examples`` (rounded, at least one layer)."""
    from ofa_mue.core.exit_policy import StaticDepths
    from ofa_mue.core.time_reduction import summarize

    usage = summarize(examples, model.encoder.num_layers, model.decoder.num_layers)
    depth = lambda mean: max(1, round(mean))  # noqa: E731
    return StaticDepths(depth(usage.image_layers), depth(usage.text_layers), depth(usage.decoder_layers))


def stream_reductions(examples, encoder_depth: int, decoder_depth: int) -> Dict[str, float]:
    """Expected reduction of the encoder and of the decoder term separately (each 1 - mean share)."""
    n = len(examples)
    encoder = sum(e.encoder_layers() / encoder_depth for e in examples) / n
    decoded = [e for e in examples if e.decoder_tokens]
    decoder = sum(e.decoder_layers() / decoder_depth for e in decoded) / len(decoded) if decoded else 1.0
    return {"encoder": 1.0 - encoder, "decoder": 1.0 - decoder}


def layer_realized_share(splits: Dict[str, Dict[str, float]], expected_by_side: Dict[str, float]) -> Optional[float]:
    """The layer time MuE removed over the layer time its layer counts promise (each side's
    expected reduction times that side's time in the full model)."""
    full, mue = splits["off"], splits["mue"]
    promised = sum(expected_by_side[side] * full[f"{side}_layers"] for side in ("encoder", "decoder"))
    removed = sum(full[f"{side}_layers"] - mue[f"{side}_layers"] for side in ("encoder", "decoder"))
    return removed / promised if promised > 0 else None


def what_holds_back(splits: Dict[str, Dict[str, float]]) -> Dict[str, Any]:
    """MuE's time by part minus static truncation's, as shares of the full model's time: the
    parts where MuE spends more than the bound (the largest is ``responsible``)."""
    full = splits["off"]["total"]
    gap = {part: (splits["mue"][part] - splits["static"][part]) / full for part in (*PARTS, "other")}
    return {"gap_by_part": gap, "responsible": max(gap, key=gap.get)}


def measure(runners: Dict[str, Callable[[], Any]], model, device: torch.device, repetitions: int, warmup: int,
            budget_s: float, split_passes: int, image_size: int, batch_size: int,
            clock: Callable[[], float]) -> Dict[str, Any]:
    """Time the arms and summarise one setting (see the module docstring)."""
    from ofa_mue.core.flops import ModelShape, flops_summary
    from ofa_mue.core.time_reduction import summarize

    times = interleaved_times(runners, repetitions, warmup, device, budget_s, clock)
    splits = time_splits({name: runners[name] for name in SPLIT_ARMS}, model, device, split_passes, clock)
    shape = ModelShape.of(model, image_size)
    depths = (model.encoder.num_layers, model.decoder.num_layers)
    full_predictions = runners["off"].predictions
    arms = {}
    for name, runner in runners.items():
        examples = runner.example_layers()
        usage = summarize(examples, *depths)
        ratio = ratio_stats(times[name], times["off"])
        arms[name] = {
            "layers": usage.as_dict(),
            "expected_time_reduction": usage.expected_time_reduction,
            "flops": flops_summary(shape, examples),
            "measured_reduction": 1.0 - ratio["median"],
            "measured_reduction_q1_q3": [1.0 - ratio["q3"], 1.0 - ratio["q1"]],
            "times": time_stats(times[name]),
            "same_predictions": sum(a == b for a, b in zip(runner.predictions, full_predictions))
            / max(1, len(full_predictions)),
            "work": runner.work_units(),
        }
    mue, static = arms["mue"], arms["static"]
    static_ratio = mue["measured_reduction"] / static["measured_reduction"] if static["measured_reduction"] > 0 else None
    share = splits["never"]["exit_tests"] / splits["never"]["total"]
    by_side = stream_reductions(runners["mue"].example_layers(), *depths)
    targets = {
        "static_ratio": {"value": static_ratio, "target": STATIC_RATIO_TARGET,
                         "met": static_ratio is not None and static_ratio >= STATIC_RATIO_TARGET},
        "exit_test_share": {"value": share, "target": exit_test_share_target(batch_size),
                            "met": share <= exit_test_share_target(batch_size)},
    }
    return {
        "batch_size": batch_size,
        "samples": len(full_predictions),
        "repetitions": len(times["off"]),
        "arms": arms,
        "static_depths": runners["static"].policy.__dict__,
        "never_equals_off": runners["never"].predictions == full_predictions,
        "time_split": splits,
        "expected_reduction_by_side": by_side,
        "layer_realized_share": layer_realized_share(splits, by_side),
        "exit_test_share_in_mue": splits["mue"]["exit_tests"] / splits["mue"]["total"],
        "targets": targets,
        "holds_back": what_holds_back(splits),
    }


def eval_literal(text: str) -> Dict[str, Any]:
    import ast

    value = ast.literal_eval(text) if text else {}
    if not isinstance(value, dict):
        sys.exit(f"error: --model-overrides must be a dict literal, got {text!r}")
    return value


def make_runner_factory(task_name: str, task, model, batch_list, steps: Optional[List[int]] = None):
    if task_name == "snli_ve":
        return lambda policy: SnliVeRunner(task, model, batch_list, policy)
    return lambda policy: CaptionRunner(task, model, batch_list, policy, GENERATION, steps)


def demo_runners(task_name: str, task, model, batch_list, policies: Dict[str, Any]):
    """The arms on the fine-tuned model, and the per-token exits recorded for a replay."""
    factory = make_runner_factory(task_name, task, model, batch_list)
    recording = RecordingPolicy(policies["mue"])
    recorder = factory(recording)
    recorder()
    runners = {"off": factory(None), "never": factory(NeverFiring(policies["mue"]))}
    runners.update({name: factory(policy) for name, policy in policies.items()})
    runners["static"] = factory(same_mean_depths(recorder.example_layers(), model))
    return runners, recording.recorded()


def replay_runners(task_name: str, task, model, batch_list, policies: Dict[str, Any], recorded):
    """The arms on a random-init model, each replaying the recorded per-token exits at its
    granularity; captions decode exactly the recorded number of steps per batch."""
    steps = [exits.steps for exits in recorded] if task_name == "caption" else None
    factory = make_runner_factory(task_name, task, model, batch_list, steps)
    mue = policies["mue"]
    runners = {"off": factory(None), "never": factory(NeverFiring(mue))}
    runners.update({name: factory(ReplayPolicy(recorded, mue, policy.granularity))
                    for name, policy in policies.items()})
    probe = factory(ReplayPolicy(recorded, mue))
    probe()
    runners["static"] = factory(same_mean_depths(probe.example_layers(), model))
    return runners


def granularity_quality(task, model, policies: Dict[str, Any], batch_size: int) -> Dict[str, Any]:
    """Each arm's quality on the whole test split, through ``ofa_mue.evaluate``'s evaluation."""
    from omegaconf import open_dict

    from ofa_mue.evaluate import evaluate_split

    metric = MAIN_METRIC[task.cfg._name]
    results = {}
    for name, policy in {"off": None, **policies}.items():
        options = {"exit_policy": "mue", "exit_profile": None, "image_exit_threshold": 2.0,
                   "text_exit_threshold": 2.0, "decoder_exit_threshold": 2.0, "exit_granularity": "token",
                   "exit_step_quantile": 1.0, "exit_launch_flops": None}
        if policy is not None:
            options.update(image_exit_threshold=policy.image, text_exit_threshold=policy.text,
                           decoder_exit_threshold=policy.decoder, decoder_exit_beta=policy.decoder_beta,
                           decoder_exit_tau=policy.decoder_tau, exit_granularity=policy.granularity.mode,
                           exit_step_quantile=policy.granularity.quantile)
        with open_dict(task.cfg):
            for option, value in options.items():
                task.cfg[option] = value
        result = evaluate_split(task, [model], "test", batch_size, Namespace(**GENERATION),
                                use_cuda=next(model.parameters()).is_cuda, quick_metrics=True)
        results[name] = {"metric": result["metrics"][metric], "examples": result["examples"],
                         "expected_time_reduction": result["layers"]["expected_time_reduction"],
                         "flops_reduction": result["flops"]["flops_reduction"]}
    for values in results.values():
        values["retention"] = values["metric"] / results["off"]["metric"] if results["off"]["metric"] else None
    return {"metric": metric, "arms": results}


def run_checkpoints(args: argparse.Namespace, device: torch.device) -> Dict[str, Any]:
    from ofa_mue.core.exit_granularity import TOKEN_EXITS

    overrides = eval_literal(args.model_overrides)
    checkpoints = {"snli_ve": Path(args.snli_ve_checkpoint), "caption": Path(args.caption_checkpoint)}
    arms = {"mue": TOKEN_EXITS, **granularity_arms(args.granularities)}
    results, quality, thresholds = [], {}, {}
    for task_name in args.tasks:
        policies, sources = {}, {}
        for name, granularity in arms.items():
            policies[name], sources[name] = thresholds_for(args, task_name, name, granularity)
        thresholds[task_name] = {name: {**{k: v for k, v in policies[name].__dict__.items() if k != "granularity"},
                                        "granularity": policies[name].granularity.__dict__, "source": sources[name]}
                                 for name in policies}
        task, model = load_task_and_model(task_name, checkpoints[task_name], Path(args.data), overrides, device)
        image_size = task.cfg.patch_image_size
        if args.quality:
            quality[task_name] = granularity_quality(task, model, policies, args.quality_batch_size)
        big = big_task = None
        if args.replay_arch != "none":
            big_task, big = replay_model(task, args.replay_arch, args.replay_vocab_size, args.replay_image_size,
                                         device)
        for batch_size in args.batch_sizes:
            samples = args.samples_b1 if batch_size == 1 else args.samples
            runners, recorded = demo_runners(task_name, task, model, batches(task, batch_size, samples, device),
                                             policies)
            row = measure(runners, model, device, args.repetitions, args.warmup, args.budget_s, args.split_passes,
                          image_size, batch_size, args.clock_fn)
            results.append({"task": task_name, "size": "demo", "checkpoint": str(checkpoints[task_name]), **row})
            report_progress(results[-1])
            if big is None:
                continue
            replay_samples = args.replay_samples_b1 if batch_size == 1 else args.replay_samples
            recorded = recorded[: -(-replay_samples // batch_size)]
            big_runners = replay_runners(task_name, big_task, big,
                                         batches(big_task, batch_size, replay_samples, device), policies, recorded)
            row = measure(big_runners, big, device, args.replay_repetitions, args.warmup, args.budget_s,
                          args.replay_split_passes, args.replay_image_size, batch_size, args.clock_fn)
            results.append({"task": task_name, "size": args.replay_arch, "checkpoint": "random init, exits replayed",
                            **row})
            report_progress(results[-1])
            del big_runners
            gc.collect()
        del task, model, big, big_task
        gc.collect()
    return {"mode": "checkpoints", "thresholds": thresholds, "model_overrides": overrides, "generation": GENERATION,
            "replay": {"arch": args.replay_arch, "image_size": args.replay_image_size,
                       "vocab_size": args.replay_vocab_size},
            "quality": quality, "results": results}


def report_progress(row: Dict[str, Any]) -> None:
    arms = row["arms"]
    print(f"  {row['task']} {row['size']} batch {row['batch_size']}: expected "
          f"{arms['mue']['expected_time_reduction']:.3f}, measured mue {arms['mue']['measured_reduction']:.3f} "
          f"static {arms['static']['measured_reduction']:.3f}, exit tests {row['targets']['exit_test_share']['value']:.1%}"
          f" ({row['repetitions']} reps)", file=sys.stderr, flush=True)


# ---- markdown ----------------------------------------------------------------------------------
def _pct(value: Optional[float], digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}%}"


def _ratio(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def checkpoints_markdown(report: Dict[str, Any]) -> str:
    replay = report["replay"]
    lines = []
    for task_name, arms in report["thresholds"].items():
        for name, t in arms.items():
            lines.append(f"- {task_name}, {name}: image {t['image']:g}, text {t['text']:g}, decoder {t['decoder']:g} "
                         f"(beta {t['decoder_beta']:g}, tau {t['decoder_tau']:g}); from {t['source']}")
    lines += [
        "",
        f"Sizes: `demo` is the fine-tuned checkpoint; `{replay['arch']}` a random-init model of that size "
        f"(vocabulary {replay['vocab_size']}, {replay['image_size']} px images) replaying the demo's per-token exits "
        f"on the same rows (captions: the same number of decoder steps per batch). Captions: beam "
        f"{GENERATION['beam']}, max_len_b {GENERATION['max_len_b']}. Reductions: medians of per-repetition ratios "
        "against the full model (no exit session), interleaved runs.",
        "",
        "### Targets: MuE (per token) against the bound",
        "",
        f"MuE's measured reduction over static truncation's at MuE's mean depths (target >= {STATIC_RATIO_TARGET}); "
        "the exit tests' share of the never-firing run's time (target <= 3% at batch 1, <= 2% above). Where a target is "
        "missed, `holds back` names the part where MuE's time exceeds static truncation's most (share of the full "
        "model's time).",
        "",
        "| task | size | batch | expected reduction | FLOPs reduction | static: depths, expected / measured "
        "| MuE measured [q1, q3] | MuE / static | exit tests' share | targets | holds back |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        mue, static, t = r["arms"]["mue"], r["arms"]["static"], r["targets"]
        d = r["static_depths"]
        low, high = mue["measured_reduction_q1_q3"]
        met = "met" if t["static_ratio"]["met"] and t["exit_test_share"]["met"] else (
            "missed: " + ", ".join(name.replace("_", " ") for name, v in t.items() if not v["met"]))
        gap = r["holds_back"]
        held = "-" if t["static_ratio"]["met"] else (
            f"{gap['responsible'].replace('_', ' ')} ({gap['gap_by_part'][gap['responsible']]:+.1%})")
        lines.append(
            f"| {r['task']} | {r['size']} | {r['batch_size']} | {_pct(mue['expected_time_reduction'])} "
            f"| {_pct(mue['flops']['flops_reduction'])} | {d['image']}/{d['text']}/{d['decoder']}, "
            f"{_pct(static['expected_time_reduction'])} / {_pct(static['measured_reduction'])} "
            f"| {_pct(mue['measured_reduction'])} [{_pct(low)}, {_pct(high)}] | {_ratio(t['static_ratio']['value'])} "
            f"| {_pct(t['exit_test_share']['value'])} | {met} | {held} |")
    lines += ["", "### Exit granularity", "",
              "Each granularity's measured reduction in the same interleaved runs (demo: its own calibrated thresholds "
              "where a profile for it exists, see above; replays: the demo's per-token choices combined at that "
              "granularity).", "",
              "| task | size | batch | granularity | expected reduction | FLOPs reduction | measured reduction "
              "| against static | same output as full |", "|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        static = r["arms"]["static"]["measured_reduction"]
        for name, arm in r["arms"].items():
            if name in ("off", "never", "static"):
                continue
            against = arm["measured_reduction"] / static if static > 0 else None
            lines.append(f"| {r['task']} | {r['size']} | {r['batch_size']} | {_arm_label(name)} "
                         f"| {_pct(arm['expected_time_reduction'])} | {_pct(arm['flops']['flops_reduction'])} "
                         f"| {_pct(arm['measured_reduction'])} | {_ratio(against)} | {arm['same_predictions']:.0%} |")
    if report["quality"]:
        lines += ["", "Quality of each granularity on the whole demo test split (`ofa_mue.evaluate`):", "",
                  "| task | granularity | metric | retention | expected reduction | FLOPs reduction |",
                  "|---|---|---|---|---|---|"]
        for task_name, q in report["quality"].items():
            for name, v in q["arms"].items():
                lines.append(f"| {task_name} | {_arm_label(name)} | {q['metric']} {v['metric']:.3f} "
                             f"| {_pct(v['retention'])} | {_pct(v['expected_time_reduction'])} "
                             f"| {_pct(v['flops_reduction'])} |")
    lines += ["", "### Where the time goes", "",
              "Instrumented passes (interleaved, medians): each part's share of the full model's time, how much MuE "
              "removed of it next to what its layer counts promise, and MuE's time by part minus static truncation's.",
              "", "| task | size | batch | encoder layers / decoder layers / image embedding / other "
              "| encoder layers: expected / removed | decoder layers: expected / removed | realized inside the layers "
              "| MuE minus static: encoder / decoder / exit tests / other |", "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        full, mue, exp = r["time_split"]["off"], r["time_split"]["mue"], r["expected_reduction_by_side"]
        share = {part: full[part] / full["total"] for part in full}
        removed = {part: 1.0 - mue[part] / full[part] if full[part] > 0 else 0.0 for part in full}
        gap = r["holds_back"]["gap_by_part"]
        lines.append(f"| {r['task']} | {r['size']} | {r['batch_size']} | {share['encoder_layers']:.0%} / "
                     f"{share['decoder_layers']:.0%} / {share['image_embedding']:.0%} / {share['other']:.0%} "
                     f"| {exp['encoder']:.0%} / {removed['encoder_layers']:.0%} "
                     f"| {exp['decoder']:.0%} / {removed['decoder_layers']:.0%} | {_ratio(r['layer_realized_share'])} "
                     f"| {gap['encoder_layers']:+.1%} / {gap['decoder_layers']:+.1%} / {gap['exit_tests']:+.1%} / "
                     f"{gap['other'] + gap['image_embedding']:+.1%} |")
    return "\n".join(lines) + "\n"


def _arm_label(name: str) -> str:
    return {"mue": "token (MuE)", "off": "full model"}.get(name, name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the ``checkpoints`` mode."""
    g = parser.add_argument_group("checkpoints mode")
    g.add_argument("--data", default=str(REPO / "demo_data"), help="demo data folder ({task}/test.tsv, bpe/)")
    g.add_argument("--snli-ve-checkpoint", default=str(REPO / "checkpoints/demo/seed1/snli_ve/checkpoint_last.pt"))
    g.add_argument("--caption-checkpoint", default=str(REPO / "checkpoints/demo/seed1/caption/checkpoint_last.pt"))
    g.add_argument("--tasks", nargs="+", default=["snli_ve", "caption"], choices=["snli_ve", "caption"])
    g.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    g.add_argument("--samples-b1", type=int, default=16, help="test rows timed at batch size 1")
    g.add_argument("--samples", type=int, default=64, help="test rows timed at larger batch sizes")
    g.add_argument("--model-overrides", default="{'decompose_modalities': True}")
    g.add_argument("--image-exit-threshold", type=float, default=0.97)
    g.add_argument("--text-exit-threshold", type=float, default=0.97)
    g.add_argument("--decoder-exit-threshold", type=float, default=0.97)
    g.add_argument("--decoder-exit-beta", type=float, default=None, help="default: 1 (snli_ve), 0.95 (caption)")
    g.add_argument("--decoder-exit-tau", type=float, default=None, help="default: 0 (snli_ve), 1 (caption)")
    g.add_argument("--profile-dir", default=str(REPO / "results" / "demo" / "seed1"),
                   help="calibrated thresholds: {dir}/{task}/profile.json (per token; else a demo run's "
                        "reproduce/profiles/main.json), profile_{granularity}.json for another granularity "
                        "(e.g. profile_step.json, profile_step0.5.json: calibrated with that granularity, "
                        "which the profile records)")
    g.add_argument("--no-profile", action="store_true", help="use the threshold flags even if a profile exists")
    g.add_argument("--granularities", nargs="*", default=["step", "step:0.5", "auto"],
                   help="granularities timed beside per-token exits: step, step:QUANTILE, auto")
    g.add_argument("--split-passes", type=int, default=5, help="instrumented passes per arm (medians)")
    g.add_argument("--no-quality", dest="quality", action="store_false",
                   help="skip each granularity's quality on the whole test split (default: measured; "
                        "quality=%(default)s)")
    g.add_argument("--quality-batch-size", type=int, default=50)
    g = parser.add_argument_group("checkpoints mode: replay at OFA's size")
    g.add_argument("--replay-arch", default="ofa_base", help="random-init architecture for the replay ('none': skip)")
    g.add_argument("--replay-image-size", type=int, default=256, help="square image side of the replay (OFA: 480)")
    g.add_argument("--replay-vocab-size", type=int, default=59457, help="vocabulary of the replay model (OFA's size)")
    g.add_argument("--replay-samples-b1", type=int, default=4, help="test rows replayed at batch size 1")
    g.add_argument("--replay-samples", type=int, default=16, help="test rows replayed at larger batch sizes")
    g.add_argument("--replay-repetitions", type=int, default=5,
                   help="timed repetitions of each replay arm (below 5, the reported quartiles are the range)")
    g.add_argument("--replay-split-passes", type=int, default=1)

