"""Wall-clock timing that can be trusted on a shared machine.

The protocol (used by ``benchmarks/speed.py``, ``python -m ofa_mue.sweep`` and
``python -m ofa_mue.reproduce``): every arm (a configuration to time) runs untimed first
(warm-up: caches, allocator, lazy initialisation), then the arms run **interleaved**, one
repetition of each after the other in rotating order, so that a slow phase of the machine
hits every arm alike; each arm is repeated (at least :data:`MIN_REPETITIONS` times for a
median). A reduction against a reference arm is the median of the per-repetition ratios
(paired: same repetition, close in time), reported with its quartiles and range.
"""
from __future__ import annotations

import gc
import logging
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from .errors import ConfigError
from .provenance import load_average, usable_cores

logger = logging.getLogger(__name__)

MIN_REPETITIONS = 5
WARMUP_ROUNDS = 1


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rotated_order(names: Sequence[str], round_index: int) -> List[str]:
    """The order of round ``round_index`` of interleaved runs: ``names`` rotated by that many places,
    so that over the rounds each arm runs first, second, ... alike."""
    shift = round_index % len(names)
    return list(names[shift:]) + list(names[:shift])


def interleaved_times(configs: Dict[str, Callable[[], Any]], repetitions: int, warmup: int,
                      device: torch.device, budget_s: Optional[float] = None,
                      clock: Callable[[], float] = time.perf_counter) -> Dict[str, List[float]]:
    """Seconds of each repetition of each configuration, run interleaved in rotating order.

    ``warmup`` untimed rounds of every configuration first. Garbage is collected before each
    run, the objects alive before the first one set aside (``gc.freeze``) so that a collection
    costs what the runs left, not the size of the process. With ``budget_s``, stops after the
    repetition that passes it (at least 3 repetitions), so a slow machine still finishes in time.
    ``clock``: what a repetition's seconds are read from (wall clock by default; e.g.
    ``time.thread_time`` for the timing thread's CPU time).
    """
    names = list(configs)
    for _ in range(warmup):
        for name in names:
            configs[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    started = time.perf_counter()
    gc.collect()
    gc.freeze()  # what lives now stays: the collection before each run walks only what the runs made
    try:
        for repetition in range(repetitions):
            for name in rotated_order(names, repetition):
                gc.collect()
                synchronize(device)
                begin = clock()
                configs[name]()
                synchronize(device)
                times[name].append(clock() - begin)
            if budget_s is not None and repetition >= 2 and time.perf_counter() - started > budget_s:
                break
    finally:
        gc.unfreeze()
    return times


def ratio_stats(numerator: Sequence[float], denominator: Sequence[float]) -> Dict[str, float]:
    """Median and spread of the per-repetition ratios (paired: same repetition, adjacent in time)."""
    ratios = sorted(n / d for n, d in zip(numerator, denominator))
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
    return {"median": statistics.median(ratios), "q1": quartiles[0], "q3": quartiles[2],
            "min": ratios[0], "max": ratios[-1], "n": len(ratios)}


def time_stats(values: Sequence[float]) -> Dict[str, float]:
    """Median, range and relative spread ``(max - min) / median`` of repeated timings."""
    median = statistics.median(values)
    return {"median_s": median, "min_s": min(values), "max_s": max(values),
            "spread": (max(values) - min(values)) / median if median else 0.0, "n": len(values)}


def check_repetitions(repetitions: int, flag: str) -> None:
    """A :class:`ConfigError` unless ``repetitions`` is 0 (no timing) or enough for a median."""
    if repetitions != 0 and repetitions < MIN_REPETITIONS:
        raise ConfigError(f"{flag} must be 0 (no timing) or at least {MIN_REPETITIONS} (a median of repeated, "
                          f"interleaved runs), got {repetitions}")


def collated_batches(task, split: str, batch_size: int, rows: Optional[int], device: torch.device) -> List[Dict]:
    """The first ``rows`` rows of ``split`` (all when ``None``) in batches of ``batch_size``,
    collated up front so that reading and decoding images is not timed."""
    from fairseq import utils

    dataset = task.dataset(split)
    count = len(dataset) if rows is None else min(rows, len(dataset))
    batches = []
    for start in range(0, count, batch_size):
        sample = dataset.collater([dataset[i] for i in range(start, min(start + batch_size, count))])
        batches.append(utils.move_to_cuda(sample, device=device) if device.type == "cuda" else sample)
    return batches


def time_evaluation_arms(setup, arms: Dict[str, Dict[str, Any]], reference: str, repetitions: int = MIN_REPETITIONS,
                         warmup: int = WARMUP_ROUNDS, rows: Optional[int] = None) -> Dict[str, Any]:
    """Time the task's evaluation path on ``setup``'s split under each arm's exit options.

    ``setup``: an :class:`~ofa_mue.evaluate.EvaluationSetup`; ``arms``: name -> exit options
    (as for ``setup.set_exit_options``); ``reference``: the arm the reductions are measured
    against (the full model). Each arm runs ``task.evaluation_records`` over the collated
    batches of the first ``rows`` rows, with the protocol of this module. Returns
    ``{"arms": {name: {"seconds": time_stats, "ratio": ratio_stats against the reference}},
    "rows", "repetitions", "warmup", "load_average_before", "load_average_after"}``.
    """
    device = torch.device("cuda" if setup.use_cuda else "cpu")
    batches = collated_batches(setup.task, setup.split, setup.batch_size, rows, device)

    def arm(options: Dict[str, Any]) -> Callable[[], None]:
        def run() -> None:
            setup.set_exit_options(**options)
            with torch.no_grad():
                for sample in batches:
                    setup.task.evaluation_records(setup.models, sample, setup.cfg.generation)
        return run

    before = load_average()
    cores = usable_cores()
    if before is not None and before[0] > cores:
        logger.warning("timing on a busy machine (load average %.1f on %d usable cores): other jobs share the "
                       "cores, so measured times are unreliable", before[0], cores)
    times = interleaved_times({name: arm(options) for name, options in arms.items()}, repetitions, warmup, device)
    return {
        "arms": {name: {"seconds": time_stats(times[name]), "ratio": ratio_stats(times[name], times[reference])}
                 for name in arms},
        "reference": reference,
        "rows": sum(len(sample["id"]) for sample in batches),
        "repetitions": repetitions,
        "warmup": warmup,
        "load_average_before": before,
        "load_average_after": load_average(),
        "usable_cores": cores,
    }

