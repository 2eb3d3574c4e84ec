"""Wall-clock speed of the lossless mode (``--exit-verify``): decoder exits draft, the full model verifies.

    python benchmarks/lossless.py [--data demo_data] \\
        [--caption-checkpoint checkpoints/demo/seed1/caption/checkpoint_last.pt] \\
        [--profile results/demo/seed1/caption/reproduce/profiles/main.json] [--drafters profile static:2 static:1] \\
        [--drafts 2 4 | --configs static:2@4 profile@4 ...] [--batch-sizes 1 8] [--samples-b1 24] [--samples 64] \\
        [--replay-arch ofa_base]

On the first rows of the caption test split, greedy decoding (beam 1, ``max_len_b`` 16, no
repeated 3-grams; image decoding is not timed), interleaved (one repetition of every
configuration after the other, in rotating order; medians of per-repetition ratios):

- ``full``: fairseq's beam search with beam 1 and no exit session at all (no exit
  bookkeeping in the decoder);
- ``verify <drafter> K=<k>``: :class:`~ofa_mue.core.verified_generator.VerifiedEarlyExitGenerator`
  with that drafter's decoder exits and ``k`` drafted tokens per verification.

Drafters: ``profile`` (the decoder thresholds of a calibrated exit profile, at the exit
granularity they were calibrated with; its encoder thresholds are not used: the lossless
mode runs the full encoder), ``mue:THETA`` (MuE's
decoder threshold with ``--decoder-exit-beta``/``--decoder-exit-tau``), ``static:N`` (every
draft token stops after ``N`` decoder layers).

Per configuration: the measured reduction ``1 - t_verify / t_full``, whether every output
equals the full model's, the acceptance rate, the mean accepted length (accepted drafts per
verification) and tokens gained per verification; and, from one instrumented pass of each
configuration, the time in the encoder, in draft calls and in verification calls, and what
one draft call and one verification call cost against one full-model decoder step: what
limits the gain. Results: ``benchmarks/results/lossless{_tag}.json`` and ``.md`` (commit,
machine, date and load inside).

``--replay-arch ofa_base`` times the same at OFA's size instead: the checkpoint's lossless
decisions of each configuration (per sample and round, the drafted tokens and how many the
full model accepted; MuE's draft exit layers) are recorded on the same rows and batches and
replayed by a random-init ``ofa_base`` (``--replay-vocab-size``, ``--replay-image-size``), whose
loop then drafts, verifies ``K + 1`` positions and trims its cache exactly as the checkpoint's
did (:mod:`lossless_replay`); its full arm is fairseq's greedy search forced through the
recorded captions. Results: ``lossless_ofa_base{_tag}``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from argparse import Namespace
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch

from measurement import REPO, Provenance, busy_note, write_results  # first: puts the checkout's ofa_mue on the path
from lossless_replay import (  # noqa: E402
    RecordingVerifiedGenerator, ReplayedVerifiedGenerator, ReplayError, caption_prefixes, record)
from runners import batches, load_task_and_model, replay_model  # noqa: E402
from ofa_mue.timing import interleaved_times, ratio_stats, synchronize, time_stats  # noqa: E402

RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_DATA = REPO / "demo_data"
DEFAULT_CHECKPOINT = REPO / "checkpoints" / "demo" / "seed1" / "caption" / "checkpoint_last.pt"
DEFAULT_PROFILE = REPO / "results" / "demo" / "seed1" / "caption" / "reproduce" / "profiles" / "main.json"
GENERATION = {"beam": 1, "max_len_b": 16, "no_repeat_ngram_size": 3}
DEFAULT_DRAFTERS = ("profile", "static:2", "static:1")
DEFAULT_DRAFTS = (2, 4)


def drafter_policy(spec: str, args: argparse.Namespace):
    """The exit policy a drafter name stands for (see the module docstring)."""
    from ofa_mue.core.exit_granularity import ExitGranularity
    from ofa_mue.core.exit_policy import MuEThresholds, StaticDepths
    from ofa_mue.core.exit_profile import load_exit_profile

    kind, _, value = spec.partition(":")
    if kind == "profile":
        options = load_exit_profile(args.profile)
        return MuEThresholds(decoder=options["decoder_exit_threshold"], decoder_beta=options["decoder_exit_beta"],
                             decoder_tau=options["decoder_exit_tau"],
                             granularity=ExitGranularity(options["exit_granularity"], options["exit_step_quantile"]))
    if kind == "mue" and value:
        return MuEThresholds(decoder=float(value), decoder_beta=args.decoder_exit_beta,
                             decoder_tau=args.decoder_exit_tau)
    if kind == "static" and value:
        return StaticDepths(decoder=int(value))
    sys.exit(f"error: unknown drafter {spec!r} (profile, mue:THETA or static:N)")


class FullGreedy:
    """One pass of fairseq's greedy search over the batches, without any exit session;
    with ``prefixes`` (one ``[B, L]`` per batch), forced through those tokens step by step."""

    def __init__(self, task, model, batch_list, prefixes: Optional[List[torch.Tensor]] = None):
        from fairseq.sequence_generator import SequenceGenerator

        self.model, self.batch_list = model, batch_list
        self.prefixes = prefixes or [None] * len(batch_list)
        # the project's generator for its CPU n-gram blocking; fairseq's own generate() skips its session
        self.generator = task.build_generator([model], Namespace(**GENERATION))
        self._generate = SequenceGenerator.generate
        self.predictions: List[List[int]] = []

    def __call__(self) -> None:
        bos = self.generator.tgt_dict.bos()
        self.predictions = [h[0]["tokens"].tolist() for sample, prefix in zip(self.batch_list, self.prefixes)
                            for h in self._generate(self.generator, [self.model], sample, bos_token=bos,
                                                    prefix_tokens=prefix)]


def verified_generator(task, model, generator_cls, **kwargs: Any):
    """The task's generator as ``generator_cls`` (a lossless-mode generator) with ``kwargs``."""
    return task.build_generator([model], Namespace(**GENERATION), seq_gen_cls=generator_cls,
                                extra_gen_cls_kwargs=kwargs)


class VerifiedGreedy:
    """One pass of the lossless mode over the batches, keeping each sample's drafting counts
    (``generator``: a :func:`verified_generator`)."""

    def __init__(self, model, batch_list, generator):
        self.model, self.batch_list, self.generator = model, batch_list, generator
        self.predictions: List[List[int]] = []
        self.stats: List[Dict[str, int]] = []
        self.decoder_layers = 0.0

    def __call__(self) -> None:
        predictions, stats, layers = [], [], []
        for sample in self.batch_list:
            predictions.extend(h[0]["tokens"].tolist() for h in self.generator.generate([self.model], sample))
            stats.extend(asdict(s) for s in self.generator.last_verification)
            layers.extend(self.generator.last_example_layers)
        self.predictions, self.stats = predictions, stats
        self.decoder_layers = sum(e.decoder_layer_sum for e in layers) / max(1, sum(e.decoder_tokens for e in layers))


class CpuTimed:
    """A runner that also keeps the processor seconds of each call (``time.process_time``): on a
    shared machine they leave out the time the process waited for a core, which wall-clock
    time counts."""

    def __init__(self, runner):
        self.runner = runner
        self.seconds: List[float] = []

    def __call__(self) -> None:
        begin = time.process_time()
        self.runner()
        self.seconds.append(time.process_time() - begin)


class CallTimes:
    """Seconds and calls of the encoder, the full model's decoder steps, draft calls and
    verification calls during one untimed pass (methods wrapped for a ``with`` block)."""

    def __init__(self, model, device: torch.device):
        self.model, self.device = model, device
        self.seconds: Dict[str, float] = {}
        self.calls: Dict[str, int] = {}

    def _add(self, part: str, seconds: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + seconds
        self.calls[part] = self.calls.get(part, 0) + 1

    def _timed(self, original: Callable, part: Callable[..., Optional[str]]) -> Callable:
        def timed(*args, **kwargs):
            name = part(*args)
            if name is None:
                return original(*args, **kwargs)
            synchronize(self.device)
            begin = time.perf_counter()
            with torch.profiler.record_function(name):  # labels the operators of a profiled pass
                out = original(*args, **kwargs)
            synchronize(self.device)
            self._add(name, time.perf_counter() - begin)
            return out
        return timed

    @contextmanager
    def recording(self) -> Iterator["CallTimes"]:
        from ofa_mue.core.verified_generator import VerificationRounds

        encoder, decoder = self.model.encoder, self.model.decoder
        decode = VerificationRounds._decode
        inside_rounds = []  # a verified pass's decoder calls are counted by _decode, not as full steps

        def round_part(rounds, *_):
            return "verify_calls" if rounds.session.decoder_rule is None else "draft_calls"

        def tracked_decode(rounds, *args, **kwargs):
            inside_rounds.append(True)
            try:
                return timed_decode(rounds, *args, **kwargs)
            finally:
                inside_rounds.pop()

        timed_decode = self._timed(decode, round_part)
        encoder.forward = self._timed(encoder.forward, lambda *_: "encoder")
        decoder.forward = self._timed(decoder.forward, lambda *_: None if inside_rounds else "full_steps")
        VerificationRounds._decode = tracked_decode
        try:
            yield self
        finally:
            del encoder.forward, decoder.forward
            VerificationRounds._decode = decode


PARTS = ("encoder", "full_steps", "draft_calls", "verify_calls")


def operator_counts(profile) -> Dict[str, int]:
    """Operators (outermost ``aten::`` calls) a profiled pass launched, by the part they ran in."""
    counts: Dict[str, int] = {}
    for event in profile.events():
        parent = event.cpu_parent
        if not event.name.startswith("aten::") or (parent is not None and parent.name.startswith("aten::")):
            continue
        while parent is not None and parent.name not in PARTS:
            parent = parent.cpu_parent
        part = "other" if parent is None else parent.name
        counts[part] = counts.get(part, 0) + 1
    return counts


def instrumented(runner, model, device: torch.device) -> Dict[str, Any]:
    """Seconds by part of one pass of ``runner`` (see :class:`CallTimes`), calls, seconds per call,
    and the operators each part launched in a second, profiled pass (what costs time when
    operators are too small to keep a core busy)."""
    with CallTimes(model, device).recording() as record:
        synchronize(device)
        begin = time.perf_counter()
        runner()
        synchronize(device)
        total = time.perf_counter() - begin
    parts = dict(record.seconds)
    parts["other"] = total - sum(parts.values())
    parts["total"] = total
    with CallTimes(model, device).recording(), torch.profiler.profile() as profile:
        runner()
    operators = operator_counts(profile)
    return {"seconds": parts, "calls": dict(record.calls),
            "per_call_ms": {name: 1000 * record.seconds[name] / count for name, count in record.calls.items()},
            "operators": operators,
            "operators_per_call": {name: operators.get(name, 0) / count for name, count in record.calls.items()}}


def configurations(args: argparse.Namespace) -> List[tuple]:
    """``(name, drafter policy, K)`` of every configuration timed: ``--configs`` when given,
    else every drafter of ``--drafters`` with every ``K`` of ``--drafts``."""
    drafters, drafts = getattr(args, "drafters", None), getattr(args, "drafts", None)
    if args.configs and (drafters or drafts):
        sys.exit("error: --configs replaces --drafters and --drafts: pass one or the other")
    specs = args.configs or [f"{spec}@{draft}" for spec in drafters or DEFAULT_DRAFTERS
                             for draft in drafts or DEFAULT_DRAFTS]
    out = []
    for config in specs:
        spec, at, draft = config.rpartition("@")
        if not at or not draft.isdigit() or int(draft) < 1:
            sys.exit(f"error: --configs {config!r}: expected DRAFTER@K (e.g. static:2@4)")
        out.append((f"verify {spec} K={draft}", drafter_policy(spec, args), int(draft)))
    return out


def demo_runners(task, model, batch_list, configs) -> Dict[str, Any]:
    """The full model and the lossless mode of each configuration on the checkpoint itself."""
    from ofa_mue.core.verified_generator import VerifiedEarlyExitGenerator

    runners: Dict[str, Any] = {"full": FullGreedy(task, model, batch_list)}
    for name, policy, draft in configs:
        generator = verified_generator(task, model, VerifiedEarlyExitGenerator, policy=policy, draft_tokens=draft)
        runners[name] = VerifiedGreedy(model, batch_list, generator)
    return runners


def replay_runners(task, model, batch_list, big_task, big, big_batches, configs) -> Dict[str, Any]:
    """The checkpoint's lossless decisions of each configuration recorded on ``batch_list``
    and replayed by ``big`` on the same rows (``big_batches``); the full arm is ``big``'s
    greedy search forced through the recorded captions (:mod:`lossless_replay`)."""
    ids = [sample["id"].tolist() for sample in batch_list]
    if ids != [sample["id"].tolist() for sample in big_batches]:
        sys.exit("error: the replay's batches hold other rows than the recorded ones")
    full = FullGreedy(task, model, batch_list)
    full()
    runners: Dict[str, Any] = {}
    for name, policy, draft in configs:
        recorder = verified_generator(task, model, RecordingVerifiedGenerator, policy=policy, draft_tokens=draft)
        recording = record(recorder, model, batch_list)
        if [c for batch in ids for c in recording.captions(batch)] != full.predictions:
            sys.exit(f"error: {name} did not give the full model's captions on {task.cfg.data}: nothing to replay")
        generator = verified_generator(big_task, big, ReplayedVerifiedGenerator, recording=recording)
        runners[name] = VerifiedGreedy(big, big_batches, generator)
    prefixes = caption_prefixes(recording, big_batches, big_task.target_dictionary.pad())
    return {"full": FullGreedy(big_task, big, big_batches, prefixes), **runners}


def measure(runners: Dict[str, Any], model, device: torch.device, args: argparse.Namespace,
            batch_size: int) -> Dict[str, Any]:
    """Time the runners interleaved, split one instrumented pass of each, and summarise."""
    from ofa_mue.core.verified_generator import verification_summary

    cpu = {name: CpuTimed(runner) for name, runner in runners.items()}
    times = interleaved_times(cpu, args.repetitions, args.warmup, device, args.budget_s)
    cpu_times = {name: timed.seconds[args.warmup:] for name, timed in cpu.items()}  # the timed repetitions
    splits = {name: instrumented(runner, model, device) for name, runner in runners.items()}
    full = splits["full"]
    full_decoder_s = full["seconds"]["total"] - full["seconds"]["encoder"]
    rows = []
    for name, runner in runners.items():
        if name == "full":
            continue
        ratio = ratio_stats(times[name], times["full"])
        cpu_ratio = ratio_stats(cpu_times[name], cpu_times["full"])
        split = splits[name]
        rows.append({
            "config": name,
            "drafter": name.split()[1],
            "draft_tokens": runner.generator.draft_tokens,
            "identical_outputs": runner.predictions == runners["full"].predictions,
            "measured_reduction": 1.0 - ratio["median"],
            "measured_reduction_q1_q3": [1.0 - ratio["q3"], 1.0 - ratio["q1"]],
            "cpu_time_reduction": 1.0 - cpu_ratio["median"],
            "cpu_time_reduction_q1_q3": [1.0 - cpu_ratio["q3"], 1.0 - cpu_ratio["q1"]],
            "verification": verification_summary(runner.stats),
            "decoder_layers_per_processed_token": runner.decoder_layers,
            "time_split": split,
            "verifications_per_full_step": split["calls"]["verify_calls"] / full["calls"]["full_steps"],
            "drafts_per_verification": split["calls"].get("draft_calls", 0) / split["calls"]["verify_calls"],
            # one draft call, one verification pass: against one full-model decoder step
            "draft_call_cost": {"time": split["per_call_ms"].get("draft_calls", 0.0)
                                / full["per_call_ms"]["full_steps"],
                                "operators": split["operators_per_call"].get("draft_calls", 0.0)
                                / full["operators_per_call"]["full_steps"]},
            "verify_call_cost": {"time": split["per_call_ms"]["verify_calls"] / full["per_call_ms"]["full_steps"],
                                 "operators": split["operators_per_call"]["verify_calls"]
                                 / full["operators_per_call"]["full_steps"]},
            "decoder_side_ratio": {"time": (split["seconds"]["total"] - split["seconds"]["encoder"])
                                   / full_decoder_s,
                                   "operators": (sum(split["operators"].values()) - split["operators"]["encoder"])
                                   / (sum(full["operators"].values()) - full["operators"]["encoder"])},
        })
    result = {
        "batch_size": batch_size,
        "samples": len(runners["full"].predictions),
        "generated_tokens": sum(len(p) for p in runners["full"].predictions),
        "repetitions": len(times["full"]),
        "times": {name: time_stats(values) for name, values in times.items()},
        "cpu_times": {name: time_stats(values) for name, values in cpu_times.items()},
        "full_split": full,
        "encoder_share_of_full": full["seconds"]["encoder"] / full["seconds"]["total"],
        "rows": rows,
    }
    best = max(result["rows"], key=lambda r: r["measured_reduction"])
    print(f"  batch {batch_size}: best {best['config']} {best['measured_reduction']:+.1%} "
          f"({len(times['full'])} reps)", file=sys.stderr, flush=True)
    return result


def run(args: argparse.Namespace, device: torch.device) -> Dict[str, Any]:
    configs = configurations(args)
    task, model = load_task_and_model("caption", Path(args.caption_checkpoint), Path(args.data), {}, device)
    replay = None
    if args.replay_arch != "none":
        replay = replay_model(task, args.replay_arch, args.replay_vocab_size, args.replay_image_size, device)
    results = []
    for batch_size in args.batch_sizes:
        samples = args.samples_b1 if batch_size == 1 else args.samples
        batch_list = batches(task, batch_size, samples, device)
        if replay is None:
            results.append(measure(demo_runners(task, model, batch_list, configs), model, device, args, batch_size))
        else:
            big_task, big = replay
            runners = replay_runners(task, model, batch_list, big_task, big,
                                     batches(big_task, batch_size, samples, device), configs)
            results.append(measure(runners, big, device, args, batch_size))
    drafters = {name.split()[1]: policy for name, policy, _ in configs}
    return {"checkpoint": args.caption_checkpoint, "data": args.data, "generation": GENERATION,
            "drafters": {spec: {"policy": type(p).__name__, **asdict(p)} for spec, p in drafters.items()},
            "replay": None if replay is None else {"arch": args.replay_arch, "image_size": args.replay_image_size,
                                                   "vocab_size": args.replay_vocab_size},
            "results": results}


def _spread(row: Dict[str, Any], key: str) -> str:
    return "{:+.1%} ({:+.1%}..{:+.1%})".format(row[key], *row[key + "_q1_q3"])


def _cost(row: Dict[str, Any], key: str) -> str:
    return f"{row[key]['time']:.2f} ({row[key]['operators']:.2f})"


def markdown(report: Dict[str, Any]) -> str:
    """The results as markdown (without the provenance line, :meth:`Provenance.header`)."""
    lines = [f"Greedy captions ({report['generation']}) of `{report['checkpoint']}`; drafters: "
             + ", ".join(f"`{spec}` = {d}" for spec, d in report["drafters"].items()) + ".", ""]
    replay = report["replay"]
    if replay:
        lines += [f"**Replayed at `{replay['arch']}` size**: a random-init `{replay['arch']}` (vocabulary "
                  f"{replay['vocab_size']}, {replay['image_size']} px images) decodes the same rows in the same batches "
                  "with the checkpoint's lossless decisions, recorded at each configuration: every draft step and "
                  "verification pass runs at that size, the drafted tokens and verified choices are the recorded ones "
                  "(so each round accepts what the checkpoint accepted and trims the cache alike; MuE's drafts also "
                  "stop at the recorded layers, its similarity test still running). The full model is fairseq's greedy "
                  "search forced through the same captions (prefix tokens), one decoder step per token.", ""]
    for result in report["results"]:
        full = result["full_split"]
        lines += [f"**batch {result['batch_size']}** ({result['samples']} captions, {result['generated_tokens']} "
                  f"tokens, {result['repetitions']} repetitions; full model {result['times']['full']['median_s']:.2f} "
                  f"s per pass, encoder {result['encoder_share_of_full']:.0%} of it; one full-model decoder step "
                  f"{full['per_call_ms']['full_steps']:.1f} ms, {full['operators_per_call']['full_steps']:.0f} "
                  "operators)", "",
                  "| config | identical outputs | measured reduction: wall clock (q1..q3) | processor time (q1..q3) "
                  "| acceptance rate | mean accepted length | tokens per verification | verifications per full step "
                  "| draft call / full step: time (operators) | verification / full step: time (operators) | "
                  "decoder side vs full: time (operators) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in result["rows"]:
            v = row["verification"]
            lines.append(f"| {row['config']} | {'yes' if row['identical_outputs'] else 'NO'} | "
                         f"{_spread(row, 'measured_reduction')} | {_spread(row, 'cpu_time_reduction')} | "
                         f"{v['acceptance_rate']:.2f} | {v['mean_accepted_length']:.2f} | "
                         f"{v['tokens_per_verification']:.2f} | {row['verifications_per_full_step']:.2f} | "
                         f"{_cost(row, 'draft_call_cost')} | {_cost(row, 'verify_call_cost')} | "
                         f"{_cost(row, 'decoder_side_ratio')} |")
        lines.append("")
    lines += ["Measured reduction: 1 - t_verify / t_full, median of the paired per-repetition ratios, in wall-clock "
              "time and in processor time of the process (which leaves out waiting for a core on a shared machine). "
              "Decoder side = everything but the encoder (which runs in full in both). Its time against the full "
              "model's is about verifications per full step x (drafts per verification x draft call cost + "
              "verification cost), plus the search's own work; operators are counted in a profiled pass (load "
              "independent: what a step costs when each operator is too small to keep a core busy)."]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="demo data folder (caption/test.tsv, bpe/)")
    parser.add_argument("--caption-checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--profile", default=str(DEFAULT_PROFILE), help="exit profile of the 'profile' drafter")
    parser.add_argument("--drafters", nargs="+", default=argparse.SUPPRESS, help="profile, mue:THETA or static:N (default: "
                        + " ".join(DEFAULT_DRAFTERS) + ")")
    parser.add_argument("--decoder-exit-beta", type=float, default=0.95, help="of the mue:THETA drafters")
    parser.add_argument("--decoder-exit-tau", type=float, default=1.0, help="of the mue:THETA drafters")
    parser.add_argument("--drafts", nargs="+", type=int, default=argparse.SUPPRESS,
                        help="tokens drafted per verification (default: " + " ".join(map(str, DEFAULT_DRAFTS)) + ")")
    parser.add_argument("--configs", nargs="+", metavar="DRAFTER@K",
                        help="configurations to time instead of every --drafters with every --drafts "
                             "(e.g. static:2@2 static:2@4 static:1@4 profile@4)")
    parser.add_argument("--replay-arch", default="none",
                        help="replay the checkpoint's lossless decisions on a random-init model of this architecture "
                             "(e.g. ofa_base; results lossless_{arch}[_{tag}]) instead of timing the checkpoint")
    parser.add_argument("--replay-image-size", type=int, default=256, help="square image side of the replay (OFA: 480)")
    parser.add_argument("--replay-vocab-size", type=int, default=59457, help="vocabulary of the replay model (OFA's)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--samples-b1", type=int, default=24, help="test rows timed at batch size 1")
    parser.add_argument("--samples", type=int, default=64, help="test rows timed at larger batch sizes")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even if a GPU is available")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--repetitions", type=int, default=7, help="timed repetitions per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--budget-s", type=float, default=150.0,
                        help="per batch size, stop repeating once this many seconds passed (at least 3 reps)")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    import ofa_mue  # noqa: F401  (registers the model and tasks)

    logging.basicConfig(level=logging.WARNING, force=True)
    provenance = Provenance(device)  # before the run: the code it imports, the load as it starts
    try:
        report = run(args, device)
    except ReplayError as error:
        sys.exit(f"error: {error}")
    record = provenance.finish()
    report = {**record, **report}
    stem = "lossless" + (f"_{args.replay_arch}" if args.replay_arch != "none" else "") + (
        f"_{args.tag}" if args.tag else "")
    write_results(args.results_dir, stem, report, provenance.header() + busy_note(record) + markdown(report))
    return report


if __name__ == "__main__":
    main()
