"""benchmarks/fixed_depth_chosen_on_valid.py evaluates a demo run as demo.sh did: captions are
generated up to the run's own caption length, which follows the data's longest reference
(demo.sh's DEMO_CAPTION_WORDS), so the committed sweep's rows can be matched exactly. With the evaluations stood in for, it
chooses the static depths on the validation split, scores that choice (and its paired
intervals) on the test rows, stops when a row evaluated again differs from the committed one,
and its tables keep the envelope's and the valid choice's figures apart."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from ofa_mue.demo.generate import ARGUMENTS_FILE, generate_demo_data
from ofa_mue.significance import mean_difference_interval, mixed_scores

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from fixed_depth_chosen_on_valid import evaluation_args  # noqa: E402


def _length(args: list) -> list:
    return [args[i + 1] for i, flag in enumerate(args) if flag == "--max-len-b"]


def test_caption_length_follows_the_datas_longest_reference(tmp_path):
    data = tmp_path / "data"
    generate_demo_data(data, seed=0, train=20, valid=3, test=3, caption_objects=(4, 5), caption_words=22)
    run = argparse.Namespace(data=str(data), checkpoints=str(tmp_path / "checkpoints"))
    assert _length(evaluation_args(run, 1, "caption")) == ["23"]  # 22 words, then </s>
    assert _length(evaluation_args(run, 1, "snli_ve")) == []
    (data / ARGUMENTS_FILE).unlink()  # data from before the generator recorded its arguments
    assert _length(evaluation_args(run, 1, "caption")) == ["16"]  # the generator's default then: 15 words


def test_a_runs_profile_is_found_under_the_committed_results_whatever_its_results_folder():
    from fixed_depth_chosen_on_valid import committed_file

    for recorded in ("results/demo/seed2/caption/reproduce/profiles/main.json",
                     "/scratch/results_capx/seed2/caption/reproduce/profiles/main.json",
                     "/home/seed7/results/demo/seed2/caption/reproduce/profiles/main.json"):  # the run's seed: the last
        assert committed_file(recorded, "docs/results/demo") == \
            "docs/results/demo/seed2/caption/reproduce/profiles/main.json"


# A committed SNLI-VE run in miniature: 4 test rows (answers below), the full model, two static
# settings at the same expected reduction whose order differs between the splits, one static
# setting below both envelopes, MuE's thresholds and its calibrated profile.
ANSWERS = ["yes", "no", "maybe", "yes"]
FULL_OPTIONS = {"exit_policy": "mue", "exit_profile": None, "image_exit_threshold": 2.0, "text_exit_threshold": 2.0,
                "decoder_exit_threshold": 2.0, "static_image_layers": 0, "static_text_layers": 0,
                "static_decoder_layers": 0}
SHALLOW, DEEPER, POOR = "image 1 / text 1 / decoder 1", "image 2 / text 2 / decoder 2", "image 1 / text 2 / decoder 1"


def _static(setting, image, text, decoder, reduction, metric, right=None):
    return {"curve": "static", "setting": setting, "metric": metric, "expected_time_reduction": reduction,
            "examples": 4, "right": right,
            "options": {**FULL_OPTIONS, "exit_policy": "static", "static_image_layers": image,
                        "static_text_layers": text, "static_decoder_layers": decoder}}


def _mue(curve, setting, reduction, right, threshold=2.0, profile=None):
    return {"curve": curve, "setting": setting, "metric": sum(right) / 4, "expected_time_reduction": reduction,
            "examples": 4, "right": right,
            "options": {**FULL_OPTIONS, "exit_profile": profile, "image_exit_threshold": threshold,
                        "text_exit_threshold": threshold, "decoder_exit_threshold": threshold}}


def _test_rows():
    return [{"curve": "full", "setting": "-", "metric": 1.0, "expected_time_reduction": 0.0, "examples": 4,
             "right": [1, 1, 1, 1], "options": dict(FULL_OPTIONS)},
            _static(SHALLOW, 1, 1, 1, 0.5, 0.5, [1, 1, 0, 0]),
            _static(DEEPER, 2, 2, 2, 0.5, 0.75, [1, 1, 0, 1]),   # the better one on test
            _static(POOR, 1, 2, 1, 0.6, 0.25, [1, 0, 0, 0]),
            _mue("mue", "threshold 0.999", 0.0, [1, 1, 1, 1], 0.999),   # saves nothing: no level
            _mue("mue", "threshold 0.9", 0.5, [1, 1, 1, 0], 0.9),
            _mue("mue_given", "profile main.json", 0.25, [1, 1, 1, 1],
                 profile="results/demo/seed1/snli_ve/reproduce/profiles/main.json")]


def _valid_rows():
    return [{"curve": "full", "setting": "-", "metric": 0.9, "expected_time_reduction": 0.0, "examples": 5,
             "options": dict(FULL_OPTIONS)},
            _static(SHALLOW, 1, 1, 1, 0.5, 0.8),   # the better one on valid
            _static(DEEPER, 2, 2, 2, 0.5, 0.6),
            _static(POOR, 1, 2, 1, 0.6, 0.3)]


def _flags(row, demo_results):
    """The evaluation flags each miniature row is run with, written out by hand."""
    options = row["options"]
    if row["curve"] == "static":
        return ["--exit-policy", "static"] + [flag for part in ("image", "text", "decoder")
                                              for flag in (f"--static-{part}-layers", str(options[f"static_{part}_layers"]))]
    if row["curve"] == "mue_given":
        return ["--exit-profile", f"{demo_results}/seed1/snli_ve/reproduce/profiles/main.json"]
    if row["curve"] == "mue":
        return [flag for part in ("image", "text", "decoder")
                for flag in (f"--{part}-exit-threshold", str(options[f"{part}_exit_threshold"]))]
    return []


class _FakeRuns:
    """Stands for the evaluation commands: ``ofa_mue.sweep`` writes the static grid of the split it is
    asked for, ``ofa_mue.evaluate`` the test split's metrics and per-row records of the committed row its
    flags name (with ``drift``: a result that differs from the committed one)."""

    def __init__(self, demo_results, drift=None):
        self.demo_results, self.drift, self.calls = demo_results, drift or {}, []
        self.splits = {"test": [row for row in _test_rows() if row["curve"] in ("full", "static")],
                       "valid": _valid_rows()}

    def __call__(self, log, module, *argv):
        argv = list(argv)
        split = argv[argv.index("--gen-subset") + 1]
        self.calls.append((module, split, argv))
        if module == "ofa_mue.sweep":
            out = argv[argv.index("--sweep-dir") + 1]
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "sweep.json"), "w") as handle:
                json.dump({"rows": self.splits[split]}, handle)
            return
        assert module == "ofa_mue.evaluate" and split == "test"
        out = argv[argv.index("--results-path") + 1]
        flags = argv[argv.index("--results-path") + 2:]
        (row,) = [row for row in _test_rows() if _flags(row, self.demo_results) == flags]
        metric, reduction = self.drift.get(row["setting"], (row["metric"], row["expected_time_reduction"]))
        with open(os.path.join(out, "test_metrics.json"), "w") as handle:
            json.dump({"metrics": {"accuracy": metric}, "layers": {"expected_time_reduction": reduction}}, handle)
        with open(os.path.join(out, "test_predictions.jsonl"), "w") as handle:
            for index, (answer, right) in enumerate(zip(ANSWERS, row["right"])):
                wrong = "no" if answer != "no" else "yes"
                handle.write(json.dumps({"row": index, "answer": answer, "prediction": answer if right else wrong}) + "\n")


def _committed(tmp_path):
    folder = tmp_path / "results" / "seed1" / "snli_ve" / "reproduce" / "sweep"
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"provenance": {"commit": "0123456789abcdef"}, "rows": _test_rows()}))
    return argparse.Namespace(demo_results=str(tmp_path / "results"), work_dir=str(tmp_path / "work"),
                              data=str(tmp_path / "data"), checkpoints=str(tmp_path / "checkpoints"))


def test_depths_are_chosen_on_the_validation_split_and_scored_on_the_test_rows(tmp_path, monkeypatch):
    """The two static settings at MuE's level swap places between the splits: the envelope (built
    on test) takes the deeper one, the choice on valid the shallow one, whose *test* quality is
    what MuE is compared with; at the calibrated point valid's mix of the full model and the
    shallow setting is scored with their test qualities."""
    import fixed_depth_chosen_on_valid as benchmark

    args = _committed(tmp_path)
    runs = _FakeRuns(args.demo_results)
    monkeypatch.setattr(benchmark, "run", runs)
    result = benchmark.job(args, 1, "snli_ve")
    assert [(module, split) for module, split, _ in runs.calls if module == "ofa_mue.sweep"] == [("ofa_mue.sweep", "valid")]
    (level, calibrated) = result["levels"]  # threshold 0.999 saves nothing
    assert (level["setting"], level["level"], calibrated["level"]) == ("threshold 0.9", True, False)
    assert level["static_envelope"] == pytest.approx(0.75)          # DEEPER on test
    assert level["chosen_between"] == SHALLOW
    assert level["static_chosen"] == pytest.approx(0.5)              # SHALLOW, scored on test
    assert level["static_chosen_reduction"] == pytest.approx(0.5)
    assert level["difference_chosen"] == pytest.approx(0.25) and level["verdict_chosen"] == "above"
    # the intervals pair each test row's MuE score with that row's score under the static side compared
    mue, shallow, deeper, full = (np.array(right, dtype=float) for right in
                                  ([1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 1], [1, 1, 1, 1]))
    chosen_interval = mean_difference_interval(mue - shallow)
    assert (level["difference_chosen_low"], level["difference_chosen_high"]) == (chosen_interval.low,
                                                                                 chosen_interval.high)
    assert chosen_interval.low <= 0.25 <= chosen_interval.high
    envelope_interval = mean_difference_interval(mue - deeper)
    assert (level["difference_low"], level["difference_high"]) == (envelope_interval.low, envelope_interval.high)
    mix = mean_difference_interval(full - mixed_scores(full, shallow, 0.5))  # the calibrated point against it
    assert (calibrated["difference_chosen_low"], calibrated["difference_chosen_high"]) == (mix.low, mix.high)
    assert calibrated["chosen_between"] == f"full model and {SHALLOW}"
    assert calibrated["static_chosen"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    assert calibrated["static_envelope"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.75)
    chosen = result["summary"]["chosen_on"]
    assert (chosen["split"], chosen["levels"], chosen["strictly_above"]) == ("valid", 1, 1)
    assert (result["valid_examples"], result["test_examples"]) == (5, 4)
    # every row a comparison needs is evaluated again on test, and only those
    assert sorted(result["reproduced_on_test"]) == sorted(
        ["full: -", f"static: {SHALLOW}", f"static: {DEEPER}", "mue: threshold 0.999", "mue: threshold 0.9",
         "mue_given: profile main.json"])


@pytest.mark.parametrize("drift", [(0.5, 0.5), (0.75, 0.51)], ids=["metric", "expected_reduction"])
def test_a_row_that_evaluates_differently_now_stops_the_benchmark(tmp_path, monkeypatch, drift):
    import fixed_depth_chosen_on_valid as benchmark

    args = _committed(tmp_path)
    monkeypatch.setattr(benchmark, "run", _FakeRuns(args.demo_results, {DEEPER: drift}))
    with pytest.raises(SystemExit, match=f"static {DEEPER} gives"):
        benchmark.job(args, 1, "snli_ve")


def test_the_tables_put_the_envelope_and_the_valid_choice_in_their_own_columns():
    from fixed_depth_chosen_on_valid import markdown

    level = {"setting": "threshold 0.9", "level": True, "expected_time_reduction": 0.25, "mue_metric": 0.61,
             "static_envelope": 0.62, "difference_low": -0.05, "difference_high": 0.03, "static_chosen": 0.6,
             "static_chosen_reduction": 0.3, "verdict_chosen": "above", "difference_chosen": 0.01,
             "difference_chosen_low": -0.02, "difference_chosen_high": 0.04, "chosen_between": "A and B"}
    summary = {"at_or_above": 1, "significantly_above": 2, "significantly_below": 3,
               "chosen_on": {"levels": 8, "at_or_above": 4, "strictly_above": 5, "mue_beats_fixed_depth": True,
                             "significantly_above": 6, "significantly_below": 7}}
    calibrated = {**level, "setting": "profile main.json", "level": False}
    result = {"task": "snli_ve", "seed": 1, "summary": summary, "levels": [level, calibrated], "test_examples": 300,
              "valid_examples": 500, "committed_sweep_commit": "0123456789abcdef"}
    not_beaten = {**result, "seed": 2, "summary": {**summary, "chosen_on": {**summary["chosen_on"],
                                                                            "mue_beats_fixed_depth": False}}}
    lines = markdown([result, not_beaten]).splitlines()
    assert "| snli_ve | 1 | 8 | 1 | 2 / 3 | 4 | 5 | yes | 6 / 7 |" in lines
    assert "| snli_ve | 2 | 8 | 1 | 2 / 3 | 4 | 5 | no | 6 / 7 |" in lines
    assert ("| profile main.json (calibrated, not a level) | 25.0% | 0.6100 | 0.6200 | [-0.0500, +0.0300] | 0.6000 | "
            "30.0% | above (+0.0100) | [-0.0200, +0.0400] | A and B |") in lines
    assert ("| threshold 0.9 | 25.0% | 0.6100 | 0.6200 | [-0.0500, +0.0300] | 0.6000 | 30.0% | above (+0.0100) | "
            "[-0.0200, +0.0400] | A and B |") in lines
