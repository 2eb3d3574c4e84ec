"""What every benchmark shares: where a result came from, and how time is taken.

- :func:`provenance`: the commit (and whether the tree had uncommitted changes), date,
  machine, and the load average when the run started and ended; every results file holds it;
- :func:`interleaved_times`, :func:`ratio_stats`, :func:`time_stats`: configurations timed in
  rotating order, compared through paired per-repetition ratios, on a :data:`CLOCKS` clock;
- :class:`TimeSplit`, :func:`time_splits`: the time of a pass split into the model's parts.
"""
from __future__ import annotations

import datetime
import gc
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

REPO = Path(__file__).resolve().parents[1]

CLOCKS: Dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
"""``wall``: elapsed time. ``cpu``: the CPU time of the timing thread, which a busy machine's
other processes do not add to while they hold the cores (they still share caches and memory
bandwidth); only meaningful on the CPU with one torch thread."""


def load_average() -> Optional[List[float]]:
    """The 1, 5 and 15 minute load averages, where the system has them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def commit() -> Dict[str, Any]:
    """The repository's commit and whether tracked files differ from it (``dirty``)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown (not a git checkout)", "dirty": None}


def machine_info(device: torch.device) -> Dict[str, Any]:
    """What the numbers were measured on."""
    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu_model": cpu_model,
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


class Provenance:
    """Taken when a run starts (the constructor) and finished when it ends (:meth:`finish`)."""

    def __init__(self, device: torch.device):
        self.started = time.time()
        self.record: Dict[str, Any] = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            **commit(),
            "machine": {**machine_info(device), "load_average_at_start": load_average()},
        }

    def finish(self) -> Dict[str, Any]:
        """The record, with the load average at the end and the run's wall-clock seconds."""
        self.record["machine"]["load_average_at_end"] = load_average()
        self.record["wall_s"] = round(time.time() - self.started, 1)
        return self.record

    def header(self) -> str:
        """One markdown line: date, commit, machine, load at start and end."""
        r, m = self.record, self.record["machine"]
        at_start, at_end = m.get("load_average_at_start"), m.get("load_average_at_end")
        load = "" if not at_start else f"; load average {at_start[0]:.1f} at start" + (
            f", {at_end[0]:.1f} at end" if at_end else "")
        dirty = " with uncommitted changes" if r["dirty"] else ""
        return (f"Measured {r['date']} at commit {r['commit'][:12]}{dirty} on {m['cpu_model']} ({m['cpu_cores']} "
                f"cores, torch {m['torch']}, {m['torch_threads']} threads{', ' + m['gpu'] if 'gpu' in m else ''}"
                f"{load}).\n\n")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_times(configs: Dict[str, Callable[[], Any]], repetitions: int, warmup: int,
                      device: torch.device, budget_s: Optional[float] = None,
                      clock: Callable[[], float] = time.perf_counter) -> Dict[str, List[float]]:
    """Seconds of each repetition of each configuration, run interleaved in rotating order.

    ``warmup`` untimed rounds first. With ``budget_s``, stops after the repetition that
    passes it (at least 3 repetitions), so a slow machine still finishes in time.
    """
    names = list(configs)
    for _ in range(warmup):
        for name in names:
            configs[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    started = time.perf_counter()
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            synchronize(device)
            begin = clock()
            configs[name]()
            synchronize(device)
            times[name].append(clock() - begin)
        if budget_s is not None and repetition >= 2 and time.perf_counter() - started > budget_s:
            break
    return times


def ratio_stats(numerator: Sequence[float], denominator: Sequence[float]) -> Dict[str, float]:
    """Median and spread of the per-repetition ratios (paired: same repetition, adjacent in time)."""
    ratios = sorted(n / d for n, d in zip(numerator, denominator))
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
    return {"median": statistics.median(ratios), "q1": quartiles[0], "q3": quartiles[2],
            "min": ratios[0], "max": ratios[-1], "n": len(ratios)}


def time_stats(values: Sequence[float]) -> Dict[str, float]:
    median = statistics.median(values)
    return {"median_s": median, "min_s": min(values), "max_s": max(values),
            "spread": (max(values) - min(values)) / median if median else 0.0, "n": len(values)}


PARTS = ("encoder_layers", "decoder_layers", "image_embedding", "exit_tests")
"""The parts :class:`TimeSplit` times; the rest of a pass is ``other``."""


class TimeSplit:
    """Wall-clock seconds inside the model's parts during one untimed pass.

    Wraps (for the duration of a ``with`` block) the encoder and decoder layers' ``forward``
    and the decoder layers' key/value projections (which exited tokens still run), the image
    embedding, and the exit tests (the decoder's per-layer tests with their bookkeeping, at
    every granularity; the encoder streams' rules); everything else is "other" (embeddings,
    position biases, output projection, beam search).
    """

    def __init__(self, model, device: torch.device, clock: Callable[[], float] = time.perf_counter):
        self.model, self.device, self.clock = model, device, clock
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self._saved: List[tuple] = []

    def _wrap(self, obj, name: str, bucket: str) -> None:
        original = getattr(obj, name)

        def timed(*args, **kwargs):
            synchronize(self.device)
            begin = self.clock()
            out = original(*args, **kwargs)
            synchronize(self.device)
            self.seconds[bucket] += self.clock() - begin
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
        from ofa_mue.core import exit_granularity, exit_policy
        from ofa_mue.models import decoder

        for name in ("_apply_exit_rule", "_apply_dense_exit_rule"):
            self._wrap(decoder, name, "exit_tests")
        self._wrap(exit_granularity.StepExits, "after_layer", "exit_tests")
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
                passes: int = 1, clock: Callable[[], float] = time.perf_counter) -> Dict[str, Dict[str, float]]:
    """Seconds of one pass of each runner by part (see :class:`TimeSplit`), with the total;
    per-part medians over ``passes`` passes, the runners interleaved as in the timed runs."""
    samples: Dict[str, List[Dict[str, float]]] = {name: [] for name in runners}
    for _ in range(passes):
        for name, runner in runners.items():
            with TimeSplit(model, device, clock) as split:
                synchronize(device)
                begin = clock()
                runner()
                synchronize(device)
                total = clock() - begin
            parts = dict(split.seconds)
            parts["other"] = total - sum(parts.values())
            parts["total"] = total
            samples[name].append(parts)
    return {name: {part: statistics.median(sample[part] for sample in runs) for part in runs[0]}
            for name, runs in samples.items()}
