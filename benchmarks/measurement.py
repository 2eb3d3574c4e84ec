"""What the speed benchmarks share beyond :mod:`ofa_mue.timing`'s protocol (warm-up,
interleaved repetitions, paired ratios) and :mod:`ofa_mue.provenance`:

- :class:`Provenance`: the commit (and whether the tree had uncommitted changes), date,
  machine, and the load average when the run started and ended; every results file holds it
  (:func:`write_results`);
- :func:`busy_note`: the warning a results file carries when the machine was busy;
- :data:`CLOCKS`: the clocks a timing can read (wall or the timing thread's CPU time);
- :class:`TimeSplit`, :func:`time_splits`: the time of a pass split into the model's parts;
- :func:`run_module`: one of the project's commands as a process of its own, logged.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere: the checkout's ofa_mue
from ofa_mue.provenance import load_average, provenance  # noqa: E402
from ofa_mue.timing import rotated_order, synchronize  # noqa: E402


PYTHON = sys.executable
"""The interpreter :func:`run_module` starts (the tests give it their fork server's stand-in)."""


def run_module(log: str, *args: str) -> None:
    """Run ``python -m ARGS`` from the repository root on one thread, its output in ``log``;
    on failure, stop with the log's end."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as handle:
        done = subprocess.run([PYTHON, "-m", *args], cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, env=env)
    if done.returncode:
        with open(log) as handle:
            raise SystemExit(f"{' '.join(args[:2])} failed (log {log}):\n{handle.read()[-3000:]}")


BUSY = 0.5
"""A load average above this share of the usable cores at start marks the figures provisional."""

CLOCKS: Dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
"""``wall``: elapsed time. ``cpu``: the CPU time of the timing thread, which a busy machine's
other processes do not add to while they hold the cores (they still share caches and memory
bandwidth); only meaningful on the CPU with one torch thread."""


class Provenance:
    """Taken when a run starts (the constructor) and finished when it ends (:meth:`finish`)."""

    def __init__(self, device: torch.device):
        self.started = time.time()
        record = provenance(device)
        commit, _, dirty = record["commit"].partition("+")
        self.record: Dict[str, Any] = {
            "date": record["date"], "commit": commit, "dirty": bool(dirty) if commit != "unknown" else None,
            "machine": {**record["machine"], "load_average_at_start": load_average()},
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


def write_results(results_dir: str, stem: str, report: Dict[str, Any], markdown: str) -> None:
    """Write ``{results_dir}/{stem}.json`` and ``.md``, print the markdown and where both went."""
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"written: {out / (stem + '.json')}, {out / (stem + '.md')} ({report['wall_s']} s)", file=sys.stderr)


def busy_note(record: Dict[str, Any]) -> str:
    """A warning line when the machine was busy when the run started."""
    machine = record["machine"]
    load = machine.get("load_average_at_start")
    cores = machine.get("cpu_cores_usable") or 1
    if machine["device"] != "cpu" or not load or load[0] <= BUSY * cores:
        return ""
    return (f"**Provisional**: the machine was shared (load average {load[0]:.1f} on {cores} cores at start); "
            "rerun on a quiet machine for figures to quote.\n\n")


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
    per-part medians over ``passes`` passes, the runners interleaved in rotating order as in the
    timed runs."""
    samples: Dict[str, List[Dict[str, float]]] = {name: [] for name in runners}
    for index in range(passes):
        for name in rotated_order(list(runners), index):
            runner = runners[name]
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
