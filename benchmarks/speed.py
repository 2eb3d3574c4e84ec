"""Wall-clock speed of MuE early exits: does the expected time reduction turn into real time?

Two modes, each one run of well under five minutes on two CPU cores with the defaults:

``checkpoints``
    Fine-tuned checkpoints (default: the demo checkpoints that ``run_scripts/demo.sh``
    writes) on their test split, through the tasks' own code paths: SNLI-VE scores its
    three answers with ``SnliVeTask.predict`` and an ``ExitSession`` from
    ``policy.session(horizon)``; captioning generates with ``task.build_generator`` and the
    policy. Per task and batch size it times, interleaved (one repetition of every
    configuration after the other, in rotating order; medians of per-repetition ratios):

    - ``off``: exits off (no rules installed): the full model;
    - ``never``: every rule installed with threshold exactly 1.0, so it never fires
      (the cost of the exit test itself);
    - ``mue``: the MuE thresholds given on the command line.

    It reports the expected time reduction rate of the ``mue`` run, the measured wall-clock
    reduction ``1 - t_mue / t_off``, their ratio (the realized share), the exit test's
    overhead ``t_never / t_off - 1`` and the throughput.

``depths``
    Random-init models of OFA's real sizes (``ofa_base``, ``ofa_large``; small dictionary)
    with fixed depths (:class:`~ofa_mue.core.exit_policy.StaticDepths`: all layers, 3/4, 1/2, 1/4
    of every stream and the decoder) on synthetic inputs, generating a fixed number of
    tokens with the early-exit generator, to show wall-clock time tracking the layer count.
    A least-squares fit ``t = fixed + per_layer_share * share`` separates the cost that no
    exit removes (image backbone, embeddings, output projection, search bookkeeping).

Results: ``benchmarks/results/{mode}.json`` (with machine information) and a markdown table,
printed and written to ``benchmarks/results/{mode}.md``. Runs on the GPU when one is
available (``--cpu`` to stay on the CPU). See ``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import math
import statistics
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere: the checkout's ofa_mue
from ofa_mue.provenance import code_commit, load_average, machine_info  # noqa: E402
from ofa_mue.timing import (  # noqa: E402
    collated_batches,
    interleaved_times,
    ratio_stats,
    synchronize,
    time_stats,
)

RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_DATA = REPO / "demo_data"
DEFAULT_CHECKPOINTS = {task: REPO / "checkpoints" / "demo" / task / "checkpoint_last.pt" for task in ("snli_ve", "caption")}
DEFAULT_PROFILES = REPO / "results" / "demo"  # {task}/profile.json, written by run_scripts/demo.sh's calibration
DECODER_DECAY = {"snli_ve": (1.0, 0.0), "caption": (0.95, 1.0)}  # (beta, tau) unless given: demo.sh's choice
GENERATION = {"beam": 5, "max_len_b": 16, "no_repeat_ngram_size": 3}  # OFA's caption defaults


# ---- mode 1: fine-tuned checkpoints ---------------------------------------------------------
def load_task_and_model(task_name: str, checkpoint: Path, data: Path, overrides: Dict[str, Any],
                        device: torch.device):
    """Load like ``ofa_mue.evaluate`` does: the checkpoint's task with ``data`` as its data folder."""
    from fairseq import checkpoint_utils
    from omegaconf import open_dict

    if not checkpoint.is_file():
        sys.exit(f"error: checkpoint {checkpoint} not found (run run_scripts/demo.sh, or pass --{task_name.replace('_', '-')}-checkpoint)")
    task_dir = data / task_name
    if not (task_dir / "test.tsv").is_file():
        sys.exit(f"error: {task_dir / 'test.tsv'} not found (pass --data, the demo data folder)")
    task_overrides = {"data": str(task_dir)}
    if (data / "bpe").is_dir():
        task_overrides["bpe_dir"] = str(data / "bpe")
    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={**overrides, **task_overrides})
    with open_dict(task.cfg):
        for name, value in task_overrides.items():
            task.cfg[name] = value
    if task.cfg._name != task_name:
        sys.exit(f"error: {checkpoint} is a '{task.cfg._name}' checkpoint, expected '{task_name}'")
    model = models[0].eval().to(device)
    task.load_dataset("test")
    return task, model


def batches(task, batch_size: int, samples: int, device: torch.device) -> List[Dict[str, Any]]:
    """The first ``samples`` rows of the test split in batches of ``batch_size``, collated up front
    (image decoding is not timed)."""
    return collated_batches(task, "test", batch_size, samples, device)


class SnliVeRunner:
    """One pass over the batches with ``SnliVeTask.predict`` and a session of ``policy``."""

    def __init__(self, task, model, batch_list, policy):
        self.task, self.model, self.batch_list, self.policy = task, model, batch_list, policy
        self.sessions: List[Any] = []
        self.predictions: List[str] = []

    def __call__(self) -> None:
        sessions, predictions = [], []
        with torch.no_grad():
            for sample in self.batch_list:
                session = self.task.exit_session(self.model, sample, self.policy)  # as evaluation_records
                predictions.extend(self.task.predict(self.model, sample, session))
                sessions.append(session)
        self.sessions, self.predictions = sessions, predictions

    def example_layers(self):
        return [layers for session in self.sessions for layers in session.example_layers()]

    def work_units(self) -> Dict[str, int]:
        return {"samples": len(self.predictions)}


class CaptionRunner:
    """One pass over the batches with the task's generator for ``policy``."""

    def __init__(self, task, model, batch_list, policy, generation: Dict[str, Any]):
        self.model, self.batch_list, self.policy = model, batch_list, policy
        self.generator = task.build_generator([model], Namespace(**generation),
                                              extra_gen_cls_kwargs={"policy": policy})
        self.layers: List[Any] = []
        self.predictions: List[List[int]] = []
        self.processed_tokens = 0

    def __call__(self) -> None:
        layers, predictions = [], []
        for sample in self.batch_list:
            hypotheses = self.generator.generate([self.model], sample)
            predictions.extend(h[0]["tokens"].tolist() for h in hypotheses)
            layers.extend(self.generator.last_example_layers)
        self.layers, self.predictions = layers, predictions

    def example_layers(self):
        return self.layers

    def work_units(self) -> Dict[str, int]:
        return {"samples": len(self.predictions),
                "generated_tokens": sum(len(p) for p in self.predictions),
                "decoder_tokens": sum(e.decoder_tokens for e in self.layers)}


class TimeSplit:
    """Wall-clock seconds inside the transformer layers, split by side, during one untimed pass.

    Wraps (for the duration of a ``with`` block) the encoder and decoder layers' ``forward``
    and the decoder layers' key/value projections (which exited tokens still run), the image
    embedding, and the exit tests (the decoder's per-layer test and its bookkeeping; the
    encoder streams' rules); everything else is "other" (embeddings, position biases, output
    projection, beam search).
    """

    def __init__(self, model, device: torch.device):
        self.model, self.device = model, device
        self.seconds = {"encoder_layers": 0.0, "decoder_layers": 0.0, "image_embedding": 0.0, "exit_tests": 0.0}
        self._saved: List[tuple] = []

    def _wrap(self, obj, name: str, bucket: str) -> None:
        original = getattr(obj, name)

        def timed(*args, **kwargs):
            synchronize(self.device)
            begin = time.perf_counter()
            out = original(*args, **kwargs)
            synchronize(self.device)
            self.seconds[bucket] += time.perf_counter() - begin
            return out

        self._saved.append((obj, name, obj.__dict__.get(name)))
        setattr(obj, name, timed)

    def __enter__(self) -> "TimeSplit":
        for layer in self.model.encoder.layers:
            self._wrap(layer, "forward", "encoder_layers")
        for layer in self.model.decoder.layers:
            for name in ("forward", "self_key_value", "cross_key_value"):
                self._wrap(layer, name, "decoder_layers")
        self._wrap(self.model.encoder, "embed_image", "image_embedding")
        from ofa_mue.core import exit_policy
        from ofa_mue.models import decoder

        self._wrap(decoder, "_apply_exit_rule", "exit_tests")
        for rule in (exit_policy.StreamSimilarityExit, exit_policy.FixedDepth):
            self._wrap(rule, "should_exit", "exit_tests")
        return self

    def __exit__(self, *exc) -> None:
        for obj, name, previous in reversed(self._saved):
            if previous is None:
                delattr(obj, name)
            else:
                setattr(obj, name, previous)
        self._saved.clear()


def time_splits(runners: Dict[str, Callable[[], Any]], model, device: torch.device,
                passes: int = 1) -> Dict[str, Dict[str, float]]:
    """Seconds of one pass of each runner by part (see :class:`TimeSplit`), with the total;
    per-part medians over ``passes`` passes, the runners interleaved as in the timed runs."""
    samples: Dict[str, List[Dict[str, float]]] = {name: [] for name in runners}
    for _ in range(passes):
        for name, runner in runners.items():
            with TimeSplit(model, device) as split:
                synchronize(device)
                begin = time.perf_counter()
                runner()
                synchronize(device)
                total = time.perf_counter() - begin
            parts = dict(split.seconds)
            parts["other"] = total - sum(parts.values())
            parts["total"] = total
            samples[name].append(parts)
    return {name: {part: statistics.median(sample[part] for sample in runs) for part in runs[0]}
            for name, runs in samples.items()}


def stream_reductions(examples, encoder_depth: int, decoder_depth: int) -> Dict[str, float]:
    """Expected reduction of the encoder and of the decoder term separately (each 1 - mean share)."""
    n = len(examples)
    encoder = sum(e.encoder_layers() / encoder_depth for e in examples) / n
    decoded = [e for e in examples if e.decoder_tokens]
    decoder = sum(e.decoder_layers() / decoder_depth for e in decoded) / len(decoded) if decoded else 1.0
    return {"encoder": 1.0 - encoder, "decoder": 1.0 - decoder}


def same_mean_depths(mue_runner, model):
    """Static truncation at MuE's mean depths (rounded) on these batches: about the same expected
    rate, with every sample and token of a stream stopping together (after one MuE pass)."""
    from ofa_mue.core.exit_policy import StaticDepths
    from ofa_mue.core.time_reduction import summarize

    mue_runner()
    usage = summarize(mue_runner.example_layers(), model.encoder.num_layers, model.decoder.num_layers)
    depth = lambda mean: max(1, round(mean))  # noqa: E731
    return StaticDepths(depth(usage.image_layers), depth(usage.text_layers), depth(usage.decoder_layers))


def layer_realized_share(splits: Dict[str, Dict[str, float]], expected_by_side: Dict[str, float]) -> Optional[float]:
    """The realized share inside the transformer layers alone: the layer time MuE removed over
    the layer time its layer counts promise (each side's expected reduction times that side's
    time in the full model). The end-to-end share is at most the layers' share of the time."""
    full, mue = splits["off"], splits["mue"]
    promised = sum(expected_by_side[side] * full[f"{side}_layers"] for side in ("encoder", "decoder"))
    removed = sum(full[f"{side}_layers"] - mue[f"{side}_layers"] for side in ("encoder", "decoder"))
    return removed / promised if promised > 0 else None


def run_checkpoints(args: argparse.Namespace, device: torch.device) -> Dict[str, Any]:
    from ofa_mue.core.exit_policy import MuEThresholds
    from ofa_mue.core.time_reduction import summarize

    overrides = eval_literal(args.model_overrides)
    checkpoints = {"snli_ve": Path(args.snli_ve_checkpoint), "caption": Path(args.caption_checkpoint)}
    results = []
    thresholds = {}
    for task_name in args.tasks:
        mue, source = mue_thresholds(args, task_name)
        thresholds[task_name] = {**mue.__dict__, "source": source}
        policies = {"off": MuEThresholds(), "never": MuEThresholds(1.0, 1.0, 1.0), "mue": mue}
        task, model = load_task_and_model(task_name, checkpoints[task_name], Path(args.data), overrides, device)
        for batch_size in args.batch_sizes:
            samples = args.samples_b1 if batch_size == 1 else args.samples
            batch_list = batches(task, batch_size, samples, device)
            if task_name == "snli_ve":
                make_runner = lambda p: SnliVeRunner(task, model, batch_list, p)  # noqa: E731
            else:
                make_runner = lambda p: CaptionRunner(task, model, batch_list, p, GENERATION)  # noqa: E731
            runners = {name: make_runner(p) for name, p in policies.items()}
            runners["static"] = make_runner(same_mean_depths(runners["mue"], model))
            times = interleaved_times(runners, args.repetitions, args.warmup, device, args.budget_s)
            usage = {name: summarize(runner.example_layers(), model.encoder.num_layers, model.decoder.num_layers)
                     for name, runner in runners.items()}
            expected = usage["mue"].expected_time_reduction
            mue_ratio = ratio_stats(times["mue"], times["off"])
            never_ratio = ratio_stats(times["never"], times["off"])
            measured = 1.0 - mue_ratio["median"]
            units = {name: runner.work_units() for name, runner in runners.items()}
            splits = time_splits({name: runners[name] for name in ("off", "never", "mue")}, model, device, passes=5)
            split_reduction = {part: 1.0 - splits["mue"][part] / splits["off"][part]
                               for part in splits["off"] if splits["off"][part] > 0}
            by_side = stream_reductions(runners["mue"].example_layers(), model.encoder.num_layers,
                                        model.decoder.num_layers)
            row = {
                "task": task_name,
                "checkpoint": str(checkpoints[task_name]),
                "batch_size": batch_size,
                "samples": units["off"]["samples"],
                "repetitions": len(times["off"]),
                "times": {name: time_stats(values) for name, values in times.items()},
                "layers": {name: u.as_dict() for name, u in usage.items()},
                "expected_time_reduction": expected,
                "expected_reduction_by_side": by_side,
                "layer_realized_share": layer_realized_share(splits, by_side),
                "time_split": splits,
                "time_split_reduction": split_reduction,
                "measured_reduction": measured,
                "measured_reduction_q1_q3": [1.0 - mue_ratio["q3"], 1.0 - mue_ratio["q1"]],
                "realized_share": measured / expected if expected > 0 else None,
                "overhead": never_ratio["median"] - 1.0,
                "overhead_q1_q3": [never_ratio["q1"] - 1.0, never_ratio["q3"] - 1.0],
                "exit_test_share": splits["never"]["exit_tests"] / splits["never"]["total"],
                "static": {"depths": runners["static"].policy.__dict__,
                           "expected_time_reduction": usage["static"].expected_time_reduction,
                           "measured_reduction": 1.0 - ratio_stats(times["static"], times["off"])["median"]},
                "never_equals_off": runners["never"].predictions == runners["off"].predictions,
                "mue_same_predictions": sum(a == b for a, b in zip(runners["mue"].predictions, runners["off"].predictions))
                / max(1, len(runners["off"].predictions)),
                "work": units,
                "throughput": {name: {unit: count / statistics.median(times[name]) for unit, count in units[name].items()}
                               for name in runners},
            }
            if "decoder_tokens" in units["off"]:  # captions: MuE can change the length of what is generated
                per_token = [(m / units["mue"]["decoder_tokens"]) / (o / units["off"]["decoder_tokens"])
                             for m, o in zip(times["mue"], times["off"])]
                row["measured_reduction_per_decoder_token"] = 1.0 - statistics.median(per_token)
            results.append(row)
            print(f"  {task_name} batch {batch_size}: expected {expected:.3f} measured {measured:.3f} "
                  f"overhead {row['overhead']:+.3%} ({row['repetitions']} reps)", file=sys.stderr, flush=True)
        del task, model
        gc.collect()
    return {"mode": "checkpoints", "thresholds": thresholds, "model_overrides": overrides,
            "generation": GENERATION, "results": results}


def mue_thresholds(args: argparse.Namespace, task_name: str):
    """The task's calibrated exit profile when there is one (and no --no-profile), else the flags."""
    from ofa_mue.core.exit_policy import MuEThresholds
    from ofa_mue.core.exit_profile import load_exit_profile

    beta, tau = DECODER_DECAY[task_name]
    options = {"image_exit_threshold": args.image_exit_threshold, "text_exit_threshold": args.text_exit_threshold,
               "decoder_exit_threshold": args.decoder_exit_threshold,
               "decoder_exit_beta": beta if args.decoder_exit_beta is None else args.decoder_exit_beta,
               "decoder_exit_tau": tau if args.decoder_exit_tau is None else args.decoder_exit_tau}
    profile = Path(args.profile_dir) / task_name / "profile.json"
    source = "command line"
    if not args.no_profile and profile.is_file():
        options.update(load_exit_profile(str(profile)))
        source = str(profile)
    return MuEThresholds(options["image_exit_threshold"], options["text_exit_threshold"],
                         options["decoder_exit_threshold"], options["decoder_exit_beta"],
                         options["decoder_exit_tau"]), source


def _format_share(share: Optional[float]) -> str:
    return "n/a" if share is None else f"{share:.2f}"


def checkpoints_markdown(report: Dict[str, Any]) -> str:
    lines = []
    checkpoints = {r["task"]: r["checkpoint"] for r in report["results"]}
    for task_name, t in report["thresholds"].items():
        lines.append(f"- {task_name} checkpoint: {checkpoints.get(task_name, '?')}")
        lines.append(f"- {task_name} MuE thresholds: image {t['image']:g}, text {t['text']:g}, decoder "
                     f"{t['decoder']:g} (beta {t['decoder_beta']:g}, tau {t['decoder_tau']:g}; from {t['source']})")
    lines += [
        "",
        f"Captions: beam {GENERATION['beam']}, max_len_b {GENERATION['max_len_b']}. Reduction and overhead: "
        "medians of per-repetition ratios (interleaved runs), [q1, q3] in brackets.",
        "",
        "| task | batch | expected reduction | measured reduction | realized share | exit-test overhead "
        "| full: samples/s | MuE: samples/s | full: ms/sample (spread) | reps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        share = _format_share(r["realized_share"])
        low, high = r["measured_reduction_q1_q3"]
        o_low, o_high = r["overhead_q1_q3"]
        full = r["times"]["off"]
        extra = ""
        if r["task"] == "caption":
            extra = (f" ({r['throughput']['off']['generated_tokens']:.0f} / "
                     f"{r['throughput']['mue']['generated_tokens']:.0f} tok/s)")
        lines.append(
            f"| {r['task']} | {r['batch_size']} | {r['expected_time_reduction']:.1%} | {r['measured_reduction']:.1%} "
            f"[{low:.1%}, {high:.1%}] | {share} | {r['overhead']:+.1%} [{o_low:+.1%}, {o_high:+.1%}] "
            f"| {r['throughput']['off']['samples']:.1f} | {r['throughput']['mue']['samples']:.1f}{extra} "
            f"| {1000 * full['median_s'] / r['samples']:.1f} (±{full['spread'] / 2:.0%}) | {r['repetitions']} |"
        )
    lines += ["", "| task | batch | MuE layers: image / text / decoder (of enc/dec depth) | same predictions as full "
              "| decoder tokens: full / MuE | measured reduction per decoder token |",
              "|---|---|---|---|---|---|"]
    for r in report["results"]:
        u = r["layers"]["mue"]
        tokens, per_token = "n/a", "n/a"
        if "measured_reduction_per_decoder_token" in r:
            tokens = f"{r['work']['off']['decoder_tokens']} / {r['work']['mue']['decoder_tokens']}"
            per_token = f"{r['measured_reduction_per_decoder_token']:.1%}"
        lines.append(f"| {r['task']} | {r['batch_size']} | {u['image_layers']:.2f} / {u['text_layers']:.2f} / "
                     f"{u['decoder_layers']:.2f} (of {u['encoder_depth']}/{u['decoder_depth']}) "
                     f"| {r['mue_same_predictions']:.0%} | {tokens} | {per_token} |")
    lines += ["", "Per-token exits against whole-layer exits: static truncation at MuE's mean depths (rounded), "
              "every sample and token of a stream stopping together, timed in the same interleaved runs:", "",
              "| task | batch | MuE: expected / measured reduction | static depths image / text / decoder "
              "| static: expected / measured reduction |", "|---|---|---|---|---|"]
    for r in report["results"]:
        st = r["static"]
        d = st["depths"]
        lines.append(f"| {r['task']} | {r['batch_size']} | {r['expected_time_reduction']:.1%} / "
                     f"{r['measured_reduction']:.1%} | {d['image']} / {d['text']} / {d['decoder']} "
                     f"| {st['expected_time_reduction']:.1%} / {st['measured_reduction']:.1%} |")
    lines += ["", "Where the time goes (instrumented passes interleaved as above, medians of 5; share of the full model's time, and how much "
              "MuE removed of each part; expected: the layer counts' reduction):", "",
              "| task | batch | encoder layers | decoder layers | image embedding | other | "
              "encoder layers: expected / measured reduction | decoder layers: expected / measured reduction "
              "| other: measured reduction | realized share inside the layers | exit tests: share of the time (never) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        full, red, exp = r["time_split"]["off"], r["time_split_reduction"], r["expected_reduction_by_side"]
        share = {part: full[part] / full["total"] for part in full}
        lines.append(f"| {r['task']} | {r['batch_size']} | {share['encoder_layers']:.0%} | {share['decoder_layers']:.0%} "
                     f"| {share['image_embedding']:.0%} | {share['other']:.0%} "
                     f"| {exp['encoder']:.0%} / {red['encoder_layers']:.0%} | {exp['decoder']:.0%} / "
                     f"{red['decoder_layers']:.0%} | {red['other']:.0%} | {_format_share(r['layer_realized_share'])} "
                     f"| {r['exit_test_share']:.1%} |")
    return "\n".join(lines) + "\n"


# ---- mode 2: fixed depths on full-size random models ------------------------------------------
def depth_settings(encoder_layers: int, decoder_layers: int, fractions: Sequence[float]):
    """``StaticDepths`` for each fraction of every stream's depth (at least one layer)."""
    from ofa_mue.core.exit_policy import StaticDepths

    settings = []
    for fraction in fractions:
        enc = max(1, math.ceil(fraction * encoder_layers))
        dec = max(1, math.ceil(fraction * decoder_layers))
        settings.append((fraction, StaticDepths(enc, enc, dec)))
    return settings


def run_depths(args: argparse.Namespace, device: torch.device) -> Dict[str, Any]:
    from ofa_mue.models.builders import build_model, numbered_dictionary

    from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
    from ofa_mue.core.exit_policy import MuEThresholds
    from ofa_mue.core.time_reduction import summarize

    dictionary = numbered_dictionary(args.vocab_size)
    results = []
    for arch in args.archs:
        torch.manual_seed(0)
        model = build_model(arch, dictionary, decompose_modalities=True).eval().to(device)
        generator = torch.Generator().manual_seed(1)
        batch = args.depth_batch_size
        src = torch.randint(dictionary.nspecial, len(dictionary), (batch, args.text_length), generator=generator)
        src[:, 0], src[:, -1] = dictionary.bos(), dictionary.eos()
        sample = {"id": torch.arange(batch), "net_input": {
            "src_tokens": src.to(device), "src_lengths": torch.full((batch,), args.text_length, device=device),
            "patch_images": torch.randn(batch, 3, args.image_size, args.image_size, generator=generator).to(device),
            "patch_masks": torch.ones(batch, dtype=torch.bool, device=device)}}
        # "off": no exit rules (the full model); "never": MuE rules with thresholds 1.0, which test
        # after every layer but never fire (the exit test's cost); then the fixed depths.
        policies = {"off": MuEThresholds(), "never": MuEThresholds(1.0, 1.0, 1.0)}
        settings = depth_settings(model.encoder.num_layers, model.decoder.num_layers, args.fractions)
        policies.update({f"{fraction:g}": policy for fraction, policy in settings})
        generators = {
            # min_len = max_len: every configuration generates exactly the same number of tokens
            name: EarlyExitSequenceGenerator([model], dictionary, policy=policy, beam_size=args.depth_beam,
                                             max_len_a=0, max_len_b=args.generate_tokens,
                                             min_len=args.generate_tokens)
            for name, policy in policies.items()
        }
        runners = {name: (lambda g=g: g.generate([model], sample)) for name, g in generators.items()}
        times = interleaved_times(runners, args.repetitions, 1, device, args.budget_s)
        splits = time_splits(runners, model, device)
        rows = []
        for name, policy in policies.items():
            usage = summarize(generators[name].last_example_layers, model.encoder.num_layers,
                              model.decoder.num_layers)
            rows.append({"config": name, "image_layers": round(usage.image_layers, 2),
                         "text_layers": round(usage.text_layers, 2), "decoder_layers": round(usage.decoder_layers, 2),
                         "expected_share": 1.0 - usage.expected_time_reduction,
                         "measured_share": ratio_stats(times[name], times["off"]),
                         "times": time_stats(times[name]), "time_split": splits[name]})
        static = [r for r in rows if r["config"] not in ("off", "never")]
        fit = linear_fit([r["expected_share"] for r in static], [r["measured_share"]["median"] for r in static])
        results.append({"arch": arch, "encoder_layers": model.encoder.num_layers,
                        "decoder_layers": model.decoder.num_layers, "embed_dim": model.encoder.embed_tokens.embedding_dim,
                        "parameters": sum(p.numel() for p in model.parameters()), "rows": rows, "fit": fit,
                        "overhead": rows[1]["measured_share"]["median"] - 1.0})
        print(f"  {arch}: " + ", ".join(f"{r['config']} {r['expected_share']:.2f}->{r['measured_share']['median']:.2f}"
                                        for r in rows), file=sys.stderr, flush=True)
        del model, generators, runners
        gc.collect()
    return {"mode": "depths", "vocab_size": args.vocab_size, "batch_size": args.depth_batch_size,
            "image_size": args.image_size, "text_length": args.text_length, "beam": args.depth_beam,
            "generated_tokens": args.generate_tokens, "results": results}


def linear_fit(x: Sequence[float], y: Sequence[float]) -> Dict[str, float]:
    """Least squares ``y = fixed + slope * x`` and its R^2."""
    n = len(x)
    mean_x, mean_y = sum(x) / n, sum(y) / n
    sxx = sum((a - mean_x) ** 2 for a in x)
    if n < 2 or sxx == 0:
        return {"fixed": float("nan"), "slope": float("nan"), "r2": float("nan")}
    slope = sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y)) / sxx
    fixed = mean_y - slope * mean_x
    total = sum((b - mean_y) ** 2 for b in y)
    residual = sum((b - fixed - slope * a) ** 2 for a, b in zip(x, y))
    return {"fixed": fixed, "slope": slope, "r2": 1.0 - residual / total if total else 1.0}


def depths_markdown(report: Dict[str, Any]) -> str:
    lines = [
        f"Random-init models, dictionary of {report['vocab_size']} symbols, batch {report['batch_size']}, "
        f"{report['image_size']}px image, {report['text_length']} text tokens, beam {report['beam']}, exactly "
        f"{report['generated_tokens']} generated tokens. off: no exit rules; never: MuE rules with thresholds 1.0 "
        "(tested after every layer, never firing); fractions: fixed depths (StaticDepths). Measured share: median "
        "of per-repetition t/t_off (interleaved), [min, max] in brackets. Time split: one instrumented pass.",
        "",
        "| arch | config | layers image / text / decoder | expected share | measured share | s/batch "
        "| split: encoder layers / decoder layers / image embedding / other (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in report["results"]:
        for r in result["rows"]:
            m, t = r["measured_share"], r["time_split"]
            lines.append(f"| {result['arch']} | {r['config']} | {r['image_layers']:g} / {r['text_layers']:g} / "
                         f"{r['decoder_layers']:g} | {r['expected_share']:.2f} | {m['median']:.3f} "
                         f"[{m['min']:.3f}, {m['max']:.3f}] | {r['times']['median_s']:.2f} | {t['encoder_layers']:.2f} / "
                         f"{t['decoder_layers']:.2f} / {t['image_embedding']:.2f} / {t['other']:.2f} |")
    lines += ["", "Fit over the fixed depths, measured = fixed + slope x expected (fixed: the share no exit "
              "removes), and the exit test's overhead (never / off - 1):", "",
              "| arch | parameters | fixed | slope | R^2 | exit-test overhead |", "|---|---|---|---|---|---|"]
    for result in report["results"]:
        f = result["fit"]
        lines.append(f"| {result['arch']} | {result['parameters'] / 1e6:.0f}M | {f['fixed']:.2f} | {f['slope']:.2f} "
                     f"| {f['r2']:.3f} | {result['overhead']:+.1%} |")
    return "\n".join(lines) + "\n"


# ---- command line ---------------------------------------------------------------------------
def eval_literal(text: str) -> Dict[str, Any]:
    import ast

    value = ast.literal_eval(text) if text else {}
    if not isinstance(value, dict):
        sys.exit(f"error: --model-overrides must be a dict literal, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("mode", choices=("checkpoints", "depths"))
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even if a GPU is available")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (0: torch's default). 1 gives stable timings on a shared "
                             "machine: with more threads than free cores, small operators stall on thread barriers")
    parser.add_argument("--repetitions", type=int, default=7, help="timed repetitions per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--budget-s", type=float, default=60.0,
                        help="per measurement, stop repeating once this many seconds passed (at least 3 reps)")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    g = parser.add_argument_group("checkpoints mode")
    g.add_argument("--data", default=str(DEFAULT_DATA), help="demo data folder ({task}/test.tsv, bpe/)")
    g.add_argument("--snli-ve-checkpoint", default=str(DEFAULT_CHECKPOINTS["snli_ve"]))
    g.add_argument("--caption-checkpoint", default=str(DEFAULT_CHECKPOINTS["caption"]))
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
    g.add_argument("--profile-dir", default=str(DEFAULT_PROFILES),
                   help="use {dir}/{task}/profile.json (calibrated thresholds) when it exists")
    g.add_argument("--no-profile", action="store_true", help="use the threshold flags even if a profile exists")
    g = parser.add_argument_group("depths mode")
    g.add_argument("--archs", nargs="+", default=["ofa_base", "ofa_large"])
    g.add_argument("--fractions", nargs="+", type=float, default=[1.0, 0.75, 0.5, 0.25])
    g.add_argument("--vocab-size", type=int, default=1000)
    g.add_argument("--depth-batch-size", type=int, default=1)
    g.add_argument("--image-size", type=int, default=256, help="square image side (16 px per patch)")
    g.add_argument("--text-length", type=int, default=32)
    g.add_argument("--depth-beam", type=int, default=2)
    g.add_argument("--generate-tokens", type=int, default=8)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    import ofa_mue  # noqa: F401  (registers the model and tasks)

    logging.basicConfig(level=logging.WARNING, force=True)  # the timed loops log nothing

    started = time.time()
    load_at_start = load_average()
    if args.mode == "checkpoints":
        report = run_checkpoints(args, device)
        markdown = checkpoints_markdown(report)
    else:
        report = run_depths(args, device)
        markdown = depths_markdown(report)
    info = machine_info(device)
    info["load_average_at_start"], info["load_average_at_end"] = load_at_start, load_average()
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": code_commit(), "machine": info,
              "wall_s": round(time.time() - started, 1), **report}
    header = (f"Measured {report['date']} (commit {report['commit']}) on {info['cpu_model']} ({info['cpu_cores']} cores, torch "
              f"{info['torch']}, {info['torch_threads']} threads{', ' + info['gpu'] if 'gpu' in info else ''}; "
              f"load average {info['load_average_at_start'][0]:.1f} at start).\n\n")
    markdown = header + markdown
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.mode + (f"_{args.tag}" if args.tag else "")
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"written: {out / (stem + '.json')}, {out / (stem + '.md')} ({report['wall_s']} s)", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
