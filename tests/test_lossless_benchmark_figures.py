"""benchmarks/lossless.py's figures (README, "Lossless mode"): the measured reduction is
``1 - t_verify / t_full`` as the median of the paired per-repetition ratios (warm-up rounds
untimed; processor time alike), and one instrumented pass splits each arm's seconds and
operators into the encoder, the full model's decoder steps, draft calls and verification calls,
from which the per-call costs against a full decoder step and the decoder side against the full
model's are taken. Arms of a stand-in model on injected clocks: no real time is asserted."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ofa_mue import timing
from ofa_mue.core.verified_generator import VerificationRounds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import lossless  # noqa: E402
from test_measurement import FakeClock as Clock  # noqa: E402

OUTPUT = (torch.zeros(1, 1, 3), {})


class Part:
    """A stand-in encoder or decoder: each call costs ``cost`` seconds on ``clock`` and launches
    ``ops`` operators (the runners set a decoder call's cost and operators before it)."""

    def __init__(self, clock: Clock, cost: float, ops: int):
        self.clock, self.cost, self.ops = clock, cost, ops

    def forward(self, *args, **kwargs):
        self.clock.now += self.cost
        for _ in range(self.ops):
            torch.ones(1)
        return OUTPUT

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def cached_positions(self, state) -> int:
        return 0


def rounds(decoder: Part, drafting: bool) -> SimpleNamespace:
    """What VerificationRounds._decode reads: a drafting session has a decoder rule, verification none."""
    return SimpleNamespace(decoder=decoder, tokens=torch.zeros(1, 4, dtype=torch.long), state={}, encoder_out={},
                           session=SimpleNamespace(decoder_rule=object() if drafting else None))


NEW_TOKEN = torch.zeros(1, 1, dtype=torch.long)


class Arm:
    """One pass: the encoder (2 s, 3 operators), then either 6 full decoder steps (1 s, 4 operators
    each) or ``verification_rounds`` rounds of one operator of its own, ``draft`` draft calls (0.25 s,
    2 operators) and one verification call (0.5 s, 5 operators); its n-th pass also spends
    ``other[n]`` s elsewhere and ``cpu_costs[n]`` processor seconds."""

    def __init__(self, wall: Clock, cpu: Clock, model, other, cpu_costs, predictions, draft: int = 0,
                 verification_rounds: int = 0, stats=None):
        self.wall, self.cpu, self.model, self.other, self.cpu_costs = wall, cpu, model, other, cpu_costs
        self.predictions, self.stats, self.calls = predictions, stats or [], 0
        self.draft, self.verification_rounds = draft, verification_rounds
        self.generator = SimpleNamespace(draft_tokens=draft)
        self.decoder_layers = 0.0
        self.rounds = {drafting: rounds(model.decoder, drafting) for drafting in (True, False)}

    def __call__(self) -> None:
        n, self.calls = self.calls, self.calls + 1
        self.wall.now += self.other[n]
        self.cpu.now += self.cpu_costs[n] if n < len(self.cpu_costs) else 0.0
        encoder, decoder = self.model.encoder, self.model.decoder
        encoder(NEW_TOKEN)
        if not self.draft:
            decoder.cost, decoder.ops = 1.0, 4
            for _ in range(6):
                decoder(NEW_TOKEN)
            return
        for _ in range(self.verification_rounds):
            torch.ones(1)  # the search's own work, outside every part
            decoder.cost, decoder.ops = 0.25, 2
            for _ in range(self.draft):
                VerificationRounds._decode(self.rounds[True], NEW_TOKEN, log_probs=False)
            decoder.cost, decoder.ops = 0.5, 5
            VerificationRounds._decode(self.rounds[False], NEW_TOKEN, log_probs=False)


def decode_operators() -> int:
    """The operators VerificationRounds._decode launches itself (around a decoder that launches none)."""
    bare = rounds(Part(Clock(), 0.0, 0), True)
    with torch.profiler.profile() as profile:
        VerificationRounds._decode(bare, NEW_TOKEN, log_probs=False)
    return sum(1 for e in profile.events() if e.name.startswith("aten::")
               and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")))


@pytest.fixture(scope="module")
def measured():
    """Warm-up passes cost 100 s (untimed). Timed: the full model 10, 10, 20, 10, 10 s (a slow phase
    in the third); 'static:1' (K=2, two rounds) 5, 6, 14, 8, 14 s (ratios 0.5, 0.6, 0.7, 0.8, 1.4:
    median 0.7, mean 0.8, median of times 8/10); 'profile' (K=3, two rounds) 0.9 of the full model every
    time. Processor seconds: full 4 each, static:1 1..5 (ratios 0.25..1.25), profile 2 each.
    Then the instrumented pass (other: 0.5, 1 and 0 s) and the profiled one."""
    wall, cpu = Clock(), Clock()
    model = SimpleNamespace(encoder=Part(wall, 2.0, 3), decoder=Part(wall, 1.0, 4))
    caption = [[5, 6, 2]]
    runners = {
        "full": Arm(wall, cpu, model, [100, 2, 2, 12, 2, 2, 0.5, 0.5], [100, 4, 4, 4, 4, 4], caption),
        "verify static:1 K=2": Arm(wall, cpu, model, [100, 1, 2, 10, 4, 10, 1.0, 1.0], [100, 1, 2, 3, 4, 5], caption,
                                   draft=2, verification_rounds=2,
                                   stats=[{"verifications": 2, "drafted": 4, "accepted": 3, "generated": 6}]),
        "verify profile K=3": Arm(wall, cpu, model, [100, 4.5, 4.5, 13.5, 4.5, 4.5, 0, 0], [100, 2, 2, 2, 2, 2],
                                  [[5, 7, 2]], draft=3, verification_rounds=2,
                                  stats=[{"verifications": 2, "drafted": 6, "accepted": 4, "generated": 6}]),
    }
    patch = pytest.MonkeyPatch()
    patch.setattr(lossless, "interleaved_times", functools.partial(timing.interleaved_times, clock=wall))
    patch.setattr(lossless, "time", SimpleNamespace(perf_counter=wall, process_time=cpu))
    try:
        args = SimpleNamespace(repetitions=5, warmup=1, budget_s=1e9)
        result = lossless.measure(runners, model, torch.device("cpu"), args, batch_size=1)
    finally:
        patch.undo()
    assert all(runner.calls == 8 for runner in runners.values()), "1 warm-up, 5 timed, 2 instrumented passes"
    return result, decode_operators()


def test_lossless_reduction_is_one_minus_the_median_paired_ratio_to_the_full_model_warm_up_untimed(measured):
    result, _ = measured
    assert result["repetitions"] == 5 and result["times"]["full"]["median_s"] == pytest.approx(10.0)
    rows = {row["config"]: row for row in result["rows"]}
    assert list(rows) == ["verify static:1 K=2", "verify profile K=3"]
    static, profile = rows["verify static:1 K=2"], rows["verify profile K=3"]
    assert static["measured_reduction"] == pytest.approx(0.3)
    assert static["measured_reduction_q1_q3"] == pytest.approx([-0.1, 0.45]), "[1 - q3, 1 - q1] of the ratios"
    assert profile["measured_reduction"] == pytest.approx(0.1)
    assert static["cpu_time_reduction"] == pytest.approx(0.25), "processor time, the warm-up left out"
    assert static["cpu_time_reduction_q1_q3"] == pytest.approx([-0.125, 0.625])
    assert profile["cpu_time_reduction"] == pytest.approx(0.5)
    assert (static["identical_outputs"], profile["identical_outputs"]) == (True, False)
    assert (static["drafter"], static["draft_tokens"], profile["drafter"]) == ("static:1", 2, "profile")
    assert static["verification"]["acceptance_rate"] == pytest.approx(0.75)
    assert result["samples"] == 1 and result["generated_tokens"] == 3


def test_lossless_time_split_costs_draft_and_verification_calls_against_one_full_decoder_step(measured):
    result, overhead = measured
    full = result["full_split"]
    assert full["seconds"] == pytest.approx({"encoder": 2.0, "full_steps": 6.0, "other": 0.5, "total": 8.5})
    assert full["calls"] == {"encoder": 1, "full_steps": 6}
    assert full["per_call_ms"] == pytest.approx({"encoder": 2000.0, "full_steps": 1000.0})
    assert full["operators"] == {"encoder": 3, "full_steps": 24}
    assert result["encoder_share_of_full"] == pytest.approx(2.0 / 8.5)
    rows = {row["config"]: row for row in result["rows"]}
    static, profile = rows["verify static:1 K=2"], rows["verify profile K=3"]
    split = static["time_split"]
    assert split["seconds"] == pytest.approx({"encoder": 2.0, "draft_calls": 1.0, "verify_calls": 1.0, "other": 1.0,
                                              "total": 5.0}), "decoder calls inside rounds are no full steps"
    assert split["calls"] == {"encoder": 1, "draft_calls": 4, "verify_calls": 2}
    assert split["operators"] == {"encoder": 3, "draft_calls": 4 * (2 + overhead), "verify_calls": 2 * (5 + overhead),
                                  "other": 2}
    assert static["verifications_per_full_step"] == pytest.approx(2 / 6)
    assert static["drafts_per_verification"] == pytest.approx(2.0) and profile["drafts_per_verification"] == 3.0
    assert static["draft_call_cost"] == pytest.approx({"time": 0.25, "operators": (2 + overhead) / 4})
    assert static["verify_call_cost"] == pytest.approx({"time": 0.5, "operators": (5 + overhead) / 4})
    assert static["decoder_side_ratio"] == pytest.approx(
        {"time": 3.0 / 6.5, "operators": (4 * (2 + overhead) + 2 * (5 + overhead) + 2) / 24})
    assert profile["decoder_side_ratio"]["time"] == pytest.approx(2.5 / 6.5)


def test_lossless_markdown_row_puts_each_figure_in_its_column(measured):
    result, overhead = measured
    report = {"generation": lossless.GENERATION, "checkpoint": "caption.pt", "drafters": {"static:1": "StaticDepths"},
              "replay": None, "results": [result]}
    text = lossless.markdown(report)
    assert ("full model 10.00 s per pass, encoder 24% of it; one full-model decoder step 1000.0 ms, 4 operators"
            in text)
    ops = f"{(2 + overhead) / 4:.2f}", f"{(5 + overhead) / 4:.2f}", f"{(20 + 6 * overhead) / 24:.2f}"
    assert (f"| verify static:1 K=2 | yes | +30.0% (-10.0%..+45.0%) | +25.0% (-12.5%..+62.5%) | 0.75 | 1.50 | 3.00 "
            f"| 0.33 | 0.25 ({ops[0]}) | 0.50 ({ops[1]}) | 0.46 ({ops[2]}) |") in text.splitlines()
    assert "| verify profile K=3 | NO | +10.0% (+10.0%..+10.0%) | +50.0% (+50.0%..+50.0%) |" in text
