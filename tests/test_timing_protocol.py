"""The timing protocol (:mod:`ofa_mue.timing`) and the sweep's use of it, on a fake evaluation whose
seconds come from an injected clock: no wall-clock time is asserted."""
from __future__ import annotations

import functools
import gc
import itertools
from types import SimpleNamespace

import pytest
import torch

from ofa_mue import sweep, timing
from ofa_mue.errors import ConfigError


def test_repetitions_are_zero_or_at_least_five():
    timing.check_repetitions(0, "--timing-repetitions")  # no timing
    timing.check_repetitions(5, "--timing-repetitions")
    for repetitions in (1, 4):
        with pytest.raises(ConfigError, match="--timing-repetitions must be 0 .* or at least 5"):
            timing.check_repetitions(repetitions, "--timing-repetitions")


def test_spread_is_the_range_over_the_median():
    stats = timing.time_stats([2.0, 1.0, 4.0, 3.0, 10.0])
    assert (stats["median_s"], stats["min_s"], stats["max_s"], stats["n"]) == (3.0, 1.0, 10.0, 5)
    assert stats["spread"] == pytest.approx(3.0)  # (10 - 1) / 3


def test_a_time_budget_still_leaves_three_repetitions(monkeypatch):
    """A budget already spent stops the timing after the third repetition, not before."""
    ticks = itertools.count(step=10.0)
    monkeypatch.setattr(timing, "gc", SimpleNamespace(collect=lambda: None, freeze=lambda: None, unfreeze=lambda: None))
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    arms = {"a": lambda: None, "b": lambda: None}
    times = timing.interleaved_times(arms, repetitions=7, warmup=1, device=torch.device("cpu"), budget_s=0.0,
                                     clock=lambda: 0.0)
    assert {name: len(values) for name, values in times.items()} == {"a": 3, "b": 3}


class FakeEvaluation:
    """An evaluation setup whose rows each cost the arm's ``seconds_per_row`` on a fake clock, and
    100 s more on an arm's first (cold) batch, which the warm-up must absorb."""

    def __init__(self, rows: int = 5):
        self.now, self.options, self.calls = 0.0, {}, {}
        dataset = type("Dataset", (), {"__len__": lambda _: rows, "__getitem__": lambda _, i: i,
                                       "collater": lambda _, items: {"id": list(items)}})()
        self.task = SimpleNamespace(dataset=lambda split: dataset, evaluation_records=self.records)
        self.use_cuda, self.split, self.batch_size, self.models = False, "test", 2, [None]
        self.cfg = SimpleNamespace(generation=None)

    def set_exit_options(self, **options):
        self.options = options

    def records(self, models, sample, generation):
        name = self.options["name"]
        self.now += (0.0 if name in self.calls else 100.0) + self.options["seconds_per_row"] * len(sample["id"])
        self.calls[name] = self.calls.get(name, 0) + 1


def _row(curve, setting, seconds_per_row):
    return {"curve": curve, "setting": setting, "timed": curve != "static",
            "options": {"name": f"{curve}: {setting}", "seconds_per_row": seconds_per_row}}


@pytest.fixture
def fake(monkeypatch):
    setup = FakeEvaluation()
    monkeypatch.setattr(timing, "gc", SimpleNamespace(collect=lambda: None, freeze=lambda: None, unfreeze=lambda: None))  # a full collection per run is slow
    timed = functools.partial(timing.interleaved_times, clock=lambda: setup.now)
    monkeypatch.setattr(timing, "interleaved_times", timed)
    return setup



def test_each_run_starts_with_the_garbage_of_the_runs_before_collected():
    """Garbage is collected before every timed run (the warm-up's too), and what was alive
    before the timing is set aside for its duration only: nothing stays frozen after it."""
    collected: list = []

    class Cycle:  # garbage that only a collection frees
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            collected.append(1)

    seen: list = []

    def arm() -> None:
        seen.append(len(collected))
        Cycle()

    frozen = gc.get_freeze_count()
    timing.interleaved_times({"a": arm, "b": arm}, repetitions=3, warmup=1, device=torch.device("cpu"))
    assert seen[2:] == [2, 3, 4, 5, 6, 7]  # after the two warm-up runs, each run finds all earlier cycles freed
    assert gc.get_freeze_count() == frozen


def test_sweep_times_each_timed_row_against_the_full_model(fake):
    """Seconds per row: full 1.0, MuE 0.5, entropy 0.8 (the last timed row); reductions are against the
    full model: 0%, 50%, 20%. The static row is not timed."""
    rows = [_row("full", "-", 1.0), _row("mue", "threshold 0.9", 0.5), _row("entropy", "entropy 0.5", 0.8),
            _row("static", "image 1 / text 1 / decoder 1", 0.1)]
    result = sweep.time_rows(fake, rows, 6, None)
    fields = [sweep.measured_fields(row, result) for row in rows]
    assert [f["measured_reduction"] for f in fields[:3]] == pytest.approx([0.0, 0.5, 0.2])
    assert [f["seconds_median"] for f in fields[:3]] == pytest.approx([5.0, 2.5, 4.0])  # 5 rows each
    assert [f["seconds_spread"] for f in fields[:3]] == pytest.approx([0.0, 0.0, 0.0])  # the cold run untimed
    assert fields[3] == {}
    # 3 batches per run, 1 warm-up and 6 timed runs per timed arm; the static row never runs
    assert fake.calls == {"full: -": 21, "mue: threshold 0.9": 21, "entropy: entropy 0.5": 21}
    assert (result["repetitions"], result["warmup"], result["rows"]) == (6, 1, 5)
    assert {arm["ratio"]["n"] for arm in result["arms"].values()} == {6}


def test_sweep_timing_takes_its_rows_and_zero_repetitions_times_nothing(fake):
    rows = [_row("full", "-", 1.0), _row("mue", "threshold 0.9", 0.5)]
    assert sweep.time_rows(fake, rows, 0, None) is None and fake.calls == {}
    result = sweep.time_rows(fake, rows, 5, 3)
    assert result["rows"] == 3
    assert sweep.measured_fields(rows[1], result)["seconds_median"] == pytest.approx(1.5)  # 3 rows of 0.5 s
