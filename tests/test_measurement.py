"""benchmarks/measurement.py, what benchmarks/speed.py's reports rest on besides ofa_mue.timing:
the instrumented passes (:func:`time_splits`) give each runner's per-part *median* over its
passes, the runners interleaved, each part in its own bucket and the rest as ``other``; a
results file warns when the machine was busy at the start. Runners on an injected clock: no
wall-clock time is asserted."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import measurement  # noqa: E402


class FakeClock:
    """A clock that moves only when a test moves it (``now``)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_time_splits_are_per_part_medians_of_interleaved_passes_with_the_rest_as_other():
    clock, calls = FakeClock(), []

    def spend(seconds):
        def part(*args, **kwargs):
            clock.now += seconds
        return part

    layer = SimpleNamespace(forward=spend(0.5))
    model = SimpleNamespace(encoder=SimpleNamespace(layers=[layer], embed_image=spend(0.25)),
                            decoder=SimpleNamespace(layers=[]))
    costs = {"a": [1.0, 100.0, 2.0], "b": [5.0, 5.0, 50.0]}  # each pass's seconds outside the timed parts

    def runner(name):
        def run():
            calls.append(name)
            model.encoder.embed_image()
            model.encoder.layers[0].forward()
            model.encoder.layers[0].forward()
            clock.now += costs[name][calls.count(name) - 1]
        return run

    original_forward, original_embed = layer.forward, model.encoder.embed_image
    splits = measurement.time_splits({"a": runner("a"), "b": runner("b")}, model, measurement.torch.device("cpu"),
                                     passes=3, clock=clock)
    assert calls == ["a", "b", "b", "a", "a", "b"], "the runners' passes interleaved in rotating order"
    assert layer.forward is original_forward and model.encoder.embed_image is original_embed, "wrappers removed"
    assert splits["a"] == pytest.approx({"encoder_layers": 1.0, "decoder_layers": 0.0, "image_embedding": 0.25,
                                         "exit_tests": 0.0, "other": 2.0, "total": 3.25})
    assert splits["b"] == pytest.approx({"encoder_layers": 1.0, "decoder_layers": 0.0, "image_embedding": 0.25,
                                         "exit_tests": 0.0, "other": 5.0, "total": 6.25})


def machine(load, cores=2, device="cpu"):
    return {"machine": {"device": device, "cpu_cores_usable": cores, "load_average_at_start": load}}


def test_a_results_file_is_provisional_when_the_load_at_start_passes_half_the_usable_cores():
    assert measurement.busy_note(machine([1.5, 1.0, 1.0])).startswith("**Provisional**: the machine was shared "
                                                                      "(load average 1.5 on 2 cores at start)")
    assert measurement.busy_note(machine([1.01, 3.0, 3.0])) != ""  # the 1-minute load decides
    assert measurement.busy_note(machine([1.0, 3.0, 3.0])) == ""
    assert measurement.busy_note(machine([0.2, 0.0, 0.0], cores=None)) == ""  # one core assumed
    assert measurement.busy_note(machine([0.6, 0.0, 0.0], cores=None)) != ""
    assert measurement.busy_note(machine([8.0, 8.0, 8.0], device="cuda")) == ""  # the GPU's timing is not shared
    assert measurement.busy_note(machine(None)) == ""


class ClockedRunner:
    """An arm of benchmarks/checkpoint_speed.py: its n-th call costs ``costs[n]`` seconds on the clock."""

    def __init__(self, clock, costs, layers, policy=None):
        self.clock, self.costs, self.calls, self.layers = clock, costs, 0, layers
        self.predictions, self.policy = ["a cat"], policy

    def __call__(self):
        self.clock.now += self.costs[self.calls]
        self.calls += 1

    def example_layers(self):
        return [self.layers]

    def work_units(self):
        return {}


def test_checkpoint_speed_warms_up_then_reports_medians_of_paired_ratios_against_the_full_model():
    """Two warm-up rounds of cost 100 (a cold start) must not be timed; the full model then takes
    10 s a repetition but 20 s in the third (a slow phase, which MuE and static truncation share),
    MuE 5, 6, 14, 8, 9 s (ratios 0.5, 0.6, 0.7, 0.8, 0.9), static truncation 6, 6, 12, 6, 6 s
    (0.6 every time); then three instrumented passes."""
    from ofa_mue.core.exit_policy import StaticDepths
    from ofa_mue.core.time_reduction import ExampleLayers
    from ofa_mue.models.builders import build_model, numbered_dictionary
    import checkpoint_speed

    model = build_model("ofa_demo", numbered_dictionary(50), encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                        encoder_attention_heads=2, decoder_attention_heads=2, decompose_modalities=True).eval()
    clock = FakeClock()
    full = ExampleLayers(image_layers=6, image_tokens=16, text_layers=6, text_tokens=4, decoder_layer_sum=6 * 5,
                         decoder_tokens=5)
    early = ExampleLayers(image_layers=3, image_tokens=16, text_layers=6, text_tokens=4, decoder_layer_sum=2 + 3 + 4,
                          decoder_tokens=3)
    warm, passes = [100.0, 100.0], [1.0, 1.0, 1.0]
    runners = {"off": ClockedRunner(clock, warm + [10.0, 10.0, 20.0, 10.0, 10.0] + passes, full),
               "never": ClockedRunner(clock, warm + [11.0, 11.0, 22.0, 11.0, 11.0] + passes, full),
               "mue": ClockedRunner(clock, warm + [5.0, 6.0, 14.0, 8.0, 9.0] + passes, early),
               "static": ClockedRunner(clock, warm + [6.0, 6.0, 12.0, 6.0, 6.0] + passes, early, StaticDepths(3, 6, 3))}
    row = checkpoint_speed.measure(runners, model, measurement.torch.device("cpu"), repetitions=5, warmup=2,
                                   budget_s=1e9, split_passes=3, image_size=32, batch_size=1, clock=clock)
    assert all(runner.calls == 10 for runner in runners.values())
    assert row["repetitions"] == 5
    arms = row["arms"]
    assert arms["off"]["measured_reduction"] == pytest.approx(0.0)
    assert arms["never"]["measured_reduction"] == pytest.approx(-0.1)
    assert arms["mue"]["measured_reduction"] == pytest.approx(0.3)  # 1 - the median ratio 0.7
    assert arms["mue"]["measured_reduction_q1_q3"] == pytest.approx([0.15, 0.45])  # 1 - the ratio's q3, 1 - its q1
    assert arms["static"]["measured_reduction"] == pytest.approx(0.4)
    assert arms["mue"]["times"]["median_s"] == 8.0 and arms["off"]["times"]["median_s"] == 10.0
    assert arms["mue"]["expected_time_reduction"] == pytest.approx(0.45)
    static_ratio = row["targets"]["static_ratio"]
    assert static_ratio["value"] == pytest.approx(0.75) and not static_ratio["met"]  # 0.3 of static's 0.4
