"""The per-example oracle exit (ofa_mue.adaptivity_bound) on hand-computed cases: it keeps the
full model's score per example at the cheapest depth that does, gets no credit for lucky
shallow depths, trades quality for time as the penalty grows, and the largest reduction that
keeps a quality is read off a hull where it crosses it. On a miniature sweep, the whole bound
(MuE, the envelope and the oracle, all capped, at each level) by hand; and
benchmarks/adaptivity_bound.py stops unless the rows it evaluated again are the committed
sweep's, and its summary row reads each kept share and averages over levels only."""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from ofa_mue.adaptivity_bound import (adaptivity_bound, adaptivity_markdown, largest_reduction_keeping, oracle_point,
                                      stable_oracle_reduction)
from ofa_mue.sweep import ExampleScores

# rows: the full model, then two static depths; columns: four examples
SCORES = np.array([[1.0, 1.0, 0.0, 1.0],
                   [1.0, 0.0, 1.0, 1.0],    # right by luck on example 3, where the full model is wrong
                   [0.0, 1.0, 0.0, 1.0]])
SHARES = np.array([[1.0] * 4, [0.5] * 4, [0.25] * 4])


def test_without_penalty_the_oracle_keeps_the_full_models_score_at_the_cheapest_depth():
    reduction, quality = oracle_point(SCORES, SHARES, 0.0)
    # example 1: only depth 1 keeps it (0.5); 2 and 4: depth 2 does (0.25); 3: nothing to keep (0.25)
    assert reduction == pytest.approx(1 - (0.5 + 0.25 + 0.25 + 0.25) / 4)
    assert quality == pytest.approx(0.75)  # the full model's, not the 1.0 a lucky pick would give


def test_a_large_penalty_makes_the_oracle_take_the_cheapest_depth_everywhere():
    reduction, quality = oracle_point(SCORES, SHARES, 1e3)
    assert (reduction, quality) == (pytest.approx(0.75), pytest.approx(0.5))
    # example 1 keeps its point at depth 1 while 1 - 0.5 lam > -0.25 lam, i.e. lam < 4
    assert oracle_point(SCORES, SHARES, 3.0) == oracle_point(SCORES, SHARES, 0.0)
    assert oracle_point(SCORES, SHARES, 5.0) == oracle_point(SCORES, SHARES, 1e3)


def test_largest_reduction_keeping_a_quality_interpolates_where_the_hull_crosses_it():
    hull = [(0.0, 0.8), (0.5, 0.8), (0.75, 0.6)]
    assert largest_reduction_keeping(hull, 0.7) == pytest.approx(0.625)
    assert largest_reduction_keeping(hull, 0.8) == pytest.approx(0.5)
    assert largest_reduction_keeping(hull, 0.5) == pytest.approx(0.75)
    assert largest_reduction_keeping(hull, 0.9) is None
    # a hull that ends at the quality kept (or is one point) keeps it up to its last point
    assert largest_reduction_keeping([(0.0, 0.8), (0.5, 0.8)], 0.8) == 0.5
    assert largest_reduction_keeping([(0.0, 0.75)], 0.75) == 0.0


def test_the_stable_oracle_needs_every_deeper_depth_to_give_the_full_models_answer():
    agrees = np.array([[True, True, True],     # the full model
                       [True, True, True],     # depth 1: agrees on example 1 by luck (depth 2 does not)
                       [False, True, True]])   # depth 2
    shares = np.array([[1.0] * 3, [0.25] * 3, [0.5] * 3])
    depths = np.array([[10, 10, 10], [1, 1, 1], [2, 2, 2]])
    # example 1: only the full model is stable; examples 2 and 3: depth 1
    assert stable_oracle_reduction(agrees, shares, depths) == pytest.approx(1 - (1.0 + 0.25 + 0.25) / 3)
    # only deeper combinations bind: as (2, 2, 2) and (1, 2, 1), the one that disagrees is not deeper
    assert stable_oracle_reduction(agrees, shares, np.array([[10, 10, 10], [2, 2, 2], [1, 2, 1]])) == pytest.approx(0.75)


def test_the_oracles_quality_is_capped_also_where_its_cheapest_depth_is_right_by_luck():
    """The oracle's reported quality is its choices' capped scores: on example 2 the full model is
    wrong, so every depth's capped score is 0 and the cheapest one (share 0.25, right by luck)
    is picked but credited 0, not 1."""
    scores = np.array([[1.0, 0.0],    # the full model
                       [1.0, 1.0],    # share 0.5
                       [0.0, 1.0]])   # share 0.25: right by luck on example 2
    shares = np.array([[1.0] * 2, [0.5] * 2, [0.25] * 2])
    # example 1: share 0.5 keeps the full model's point; example 2: nothing to keep, the cheapest
    assert oracle_point(scores, shares, 0.0) == (pytest.approx(1 - (0.5 + 0.25) / 2), pytest.approx(0.5))
    # every example at the cheapest depth: capped scores 0 and 0
    assert oracle_point(scores, shares, 1e3) == (pytest.approx(0.75), pytest.approx(0.0))


# A sweep in miniature with per-row records: four SNLI-VE rows whose answer is "yes"; the full
# model is wrong on row 3; each row's records give its predictions and time shares.
def _row(curve, setting, right, share, reduction, depths=(0, 0, 0)):
    predictions = ["yes" if ok else "no" for ok in right]
    return {"curve": curve, "setting": setting, "metric": sum(right) / 4, "expected_time_reduction": reduction,
            "examples": 4,
            "options": {"exit_policy": "static" if curve == "static" else "mue", "exit_profile": None,
                        "image_exit_threshold": 2.0, "text_exit_threshold": 2.0, "decoder_exit_threshold": 2.0,
                        **dict(zip(("static_image_layers", "static_text_layers", "static_decoder_layers"), depths))},
            "records": [{"row": index, "answer": "yes", "prediction": prediction, "layers": {"time_share": share}}
                        for index, prediction in enumerate(predictions)]}


def miniature_sweep():
    return [_row("full", "-", [1, 1, 0, 1], 1.0, 0.0),
            _row("static", "image 1 / text 1 / decoder 1", [1, 0, 1, 1], 0.25, 0.75, (1, 1, 1)),  # lucky on row 3
            _row("static", "image 2 / text 2 / decoder 2", [1, 1, 0, 0], 0.5, 0.5, (2, 2, 2)),
            _row("mue", "threshold 0.999", [1, 1, 1, 1], 1.0, 0.0),        # saves nothing: no level
            _row("mue", "threshold 0.9", [1, 1, 1, 0], 0.5, 0.5),           # lucky on row 3
            _row("mue_given", "profile main.json", [1, 0, 1, 1], 0.4, 0.6)]  # lucky on row 3


def test_the_bound_compares_capped_mue_static_and_oracle_at_each_level():
    """adaptivity_bound on the miniature sweep, by hand. Capped, the static points are (0, 0.75),
    (0.5, 0.5) and (0.75, 0.5): the envelope is the segment from the first to the last. The oracle
    keeps 0.75 at shares 0.25 / 0.5 / 0.25 / 0.25 (reduction 0.6875), else takes the cheapest
    depth everywhere (0.75, 0.5). MuE's levels are credited nothing for row 3."""
    from ofa_mue.adaptivity_bound import adaptivity_bound
    from ofa_mue.sweep import ExampleScores

    rows = miniature_sweep()
    table, summary = adaptivity_bound(rows, ExampleScores("snli_ve", rows))
    assert [(entry["setting"], entry["level"]) for entry in table] == [("threshold 0.9", True),
                                                                        ("profile main.json", False)]
    level, calibrated = table
    static_at = lambda x: 0.75 - 0.25 * x / 0.75  # noqa: E731
    assert level["mue_capped"] == pytest.approx(0.5) and calibrated["mue_capped"] == pytest.approx(0.5)
    assert level["static_envelope_capped"] == pytest.approx(static_at(0.5))
    assert calibrated["static_envelope_capped"] == pytest.approx(static_at(0.6))
    assert level["oracle"] == pytest.approx(0.75) and calibrated["oracle"] == pytest.approx(0.75)
    assert level["mue_minus_static"] == pytest.approx(0.5 - static_at(0.5))
    assert level["oracle_minus_static"] == pytest.approx(0.75 - static_at(0.5))
    assert calibrated["oracle_minus_static"] == pytest.approx(0.75 - static_at(0.6))
    assert (summary["full_metric"], summary["examples"], summary["combinations"]) == (0.75, 4, 3)
    assert [(p["expected_time_reduction"], p["metric"]) for p in summary["oracle_points"]] == [
        (0.0, 0.75), (pytest.approx(0.6875), pytest.approx(0.75)), (pytest.approx(0.75), pytest.approx(0.5))]
    kept = summary["largest_reduction_keeping"]
    assert kept[1.0] == {"oracle": pytest.approx(0.6875), "static_envelope": 0.0, "mue": 0.0}
    # 99%: 0.7425, reached on the way down from (0.6875, 0.75), (0, 0.75) and MuE's (0, 0.75)
    assert kept[0.99] == {"oracle": pytest.approx(0.6875 + 0.0625 * 0.0075 / 0.25),
                          "static_envelope": pytest.approx(0.75 * 0.0075 / 0.25),
                          "mue": pytest.approx(0.5 * 0.0075 / 0.25)}
    # the full model's answers from a depth where every deeper one gives them: rows 1-4 at
    # depth 1, depth 2, depth 2 (both wrong like the full model) and the full model
    assert summary["stable_oracle_reduction"] == pytest.approx(1 - (0.25 + 0.5 + 0.5 + 1.0) / 4)


def test_a_calibrated_point_that_saves_nothing_is_still_compared():
    """Only MuE's sweep levels that save nothing are left out: a calibration that finds no safe
    exit (the full model, reduction 0) is still the calibrated point's row, as in mue_vs_static."""
    rows = miniature_sweep()
    rows[-1] = _row("mue_given", "profile main.json", [1, 1, 0, 1], 1.0, 0.0)
    table, _ = adaptivity_bound(rows, ExampleScores("snli_ve", rows))
    assert [(entry["setting"], entry["level"]) for entry in table] == [("threshold 0.9", True),
                                                                        ("profile main.json", False)]
    calibrated = table[1]
    assert (calibrated["expected_time_reduction"], calibrated["mue_capped"], calibrated["static_envelope_capped"],
            calibrated["oracle"], calibrated["mue_minus_static"]) == (0.0, 0.75, 0.75, 0.75, 0.0)


def test_the_lossless_oracle_keeps_every_score_exactly_also_where_a_cheaper_depth_loses_a_little():
    """Caption-like scores: the shallow depth keeps example 1's score and loses 0.0001 on example 2.
    The lossless oracle (penalty 0) runs example 1 shallow and example 2 in full; any positive
    penalty would trade example 2's 0.0001 for half of its time."""
    shallow = "image 1 / text 1 / decoder 1"
    rows = [_row("full", "-", [1, 1], 1.0, 0.0), _row("static", shallow, [1, 1], 0.5, 0.5, (1, 1, 1))]
    scores = {("full", "-"): np.array([1.0, 1.0]), ("static", shallow): np.array([1.0, 0.9999])}
    _, summary = adaptivity_bound(rows, scores)
    assert summary["largest_reduction_keeping"][1.0]["oracle"] == pytest.approx(0.25)


def test_the_bounds_figure_draws_mues_levels_only(monkeypatch):
    import matplotlib.pyplot as plt

    from ofa_mue import adaptivity_bound as module

    figures = []
    monkeypatch.setattr(module, "save_figure", lambda figure, path, record: figures.append(figure))
    rows = miniature_sweep()
    table, summary = adaptivity_bound(rows, ExampleScores("snli_ve", rows))
    module.plot_adaptivity(table, summary, "accuracy", "unused.png", {})
    (figure,) = figures
    (mue,) = [line for line in figure.axes[0].get_lines() if line.get_label() == "MuE (image+text+decoder)"]
    assert list(mue.get_xdata()) == [50.0]  # threshold 0.9; the calibrated point (60%) is no level
    plt.close(figure)


def test_the_bounds_markdown_puts_each_figure_under_its_own_column():
    kept = {1.0: {"oracle": 0.7, "static_envelope": 0.0, "mue": 0.1},
            0.99: {"oracle": 0.72, "static_envelope": 0.3, "mue": 0.2}}
    summary = {"largest_reduction_keeping": kept, "full_metric": 0.75, "examples": 4, "combinations": 3,
               "stable_oracle_reduction": 0.6}
    table = [{"setting": "threshold 0.9", "level": True, "expected_time_reduction": 0.5, "mue_capped": 0.5,
              "static_envelope_capped": 0.6, "oracle": 0.75, "mue_minus_static": -0.1, "oracle_minus_static": 0.15},
             {"setting": "profile main.json", "level": False, "expected_time_reduction": 0.4, "mue_capped": 0.7,
              "static_envelope_capped": 0.65, "oracle": 0.8, "mue_minus_static": 0.05, "oracle_minus_static": 0.15}]
    lines = adaptivity_markdown(table, summary, "accuracy").splitlines()
    assert "| 100% of the full model's accuracy | 70.0% | 0.0% | 10.0% |" in lines
    assert "| 99% of the full model's accuracy | 72.0% | 30.0% | 20.0% |" in lines
    assert ("| the full model's answers, from a depth where every deeper combination gives them (stable oracle) | "
            "60.0% | - | - |") in lines
    assert "| threshold 0.9 | 50.0% | 0.5000 | 0.6000 | 0.7500 | -0.1000 | +0.1500 |" in lines
    assert "| profile main.json (calibrated) | 40.0% | 0.7000 | 0.6500 | 0.8000 | +0.0500 | +0.1500 |" in lines


def _benchmark():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import adaptivity_bound as benchmark  # benchmarks/adaptivity_bound.py

    assert Path(benchmark.__file__).parent.name == "benchmarks"
    return benchmark


def _committed_run(tmp_path, rows):
    folder = tmp_path / "results" / "seed1" / "snli_ve" / "reproduce" / "sweep"
    folder.mkdir(parents=True)
    committed = [{k: v for k, v in row.items() if k != "records"} for row in rows]
    (folder / "sweep.json").write_text(json.dumps({"provenance": {"commit": "0123456789abcdef"}, "rows": committed}))
    return argparse.Namespace(demo_results=str(tmp_path / "results"), out=str(tmp_path / "out"))


def _scored_again(benchmark, monkeypatch, rows):
    """The benchmark's test-split sweep, merged from its shards, gives ``rows``."""
    monkeypatch.setattr(benchmark, "read_shards", lambda paths: list(paths))
    monkeypatch.setattr(benchmark, "merge_sweep", lambda shards, out: copy.deepcopy(rows))


def test_the_benchmark_computes_the_bound_from_the_rows_it_evaluated_again(tmp_path, monkeypatch):
    benchmark = _benchmark()
    rows = miniature_sweep()
    args = _committed_run(tmp_path, rows)
    os.makedirs(args.out)
    _scored_again(benchmark, monkeypatch, rows)
    result = benchmark.bound(args, 1, "snli_ve", [str(tmp_path / "work" / "sweep.shard0-of-2.json")] * 2)
    assert result["committed_sweep_commit"] == "0123456789abcdef"
    assert [entry["setting"] for entry in result["levels"]] == ["threshold 0.9", "profile main.json"]
    assert result["summary"]["largest_reduction_keeping"][1.0]["oracle"] == pytest.approx(0.6875)
    assert (tmp_path / "out" / "adaptivity_bound_snli_ve_seed1.png").is_file()


@pytest.mark.parametrize("change", ["metric", "expected_time_reduction", "missing"])
def test_the_benchmark_stops_unless_every_setting_reproduces_the_committed_sweep(tmp_path, monkeypatch, change):
    benchmark = _benchmark()
    rows = miniature_sweep()
    args = _committed_run(tmp_path, rows)
    os.makedirs(args.out)
    again = copy.deepcopy(rows)
    if change == "missing":
        del again[2]  # a static setting of the committed sweep not evaluated again
        message = "settings not evaluated again"
    else:
        again[2][change] += 0.01
        message = "static image 2 / text 2 / decoder 2 gives"
    _scored_again(benchmark, monkeypatch, again)
    with pytest.raises(SystemExit, match=message):
        benchmark.bound(args, 1, "snli_ve", [str(tmp_path / "work" / "sweep.shard0-of-2.json")] * 2)


def test_the_benchmarks_summary_row_reads_each_kept_share_and_averages_over_levels_only():
    benchmark = _benchmark()
    kept = {1.0: {"oracle": 0.8, "static_envelope": 0.0, "mue": 0.05},
            0.99: {"oracle": 0.82, "static_envelope": 0.3, "mue": 0.2}}
    levels = [{"setting": "threshold 0.9", "level": True, "expected_time_reduction": 0.5, "mue_capped": 0.5,
               "static_envelope_capped": 0.6, "oracle": 0.7, "mue_minus_static": -0.1, "oracle_minus_static": 0.1},
              {"setting": "threshold 0.8", "level": True, "expected_time_reduction": 0.6, "mue_capped": 0.5,
               "static_envelope_capped": 0.52, "oracle": 0.7, "mue_minus_static": -0.02, "oracle_minus_static": 0.18},
              {"setting": "profile", "level": False, "expected_time_reduction": 0.4, "mue_capped": 0.9,
               "static_envelope_capped": 0.5, "oracle": 0.9, "mue_minus_static": 0.4, "oracle_minus_static": 0.4}]
    summary = {"largest_reduction_keeping": kept, "full_metric": 0.75, "examples": 4, "combinations": 3,
               "stable_oracle_reduction": 0.6}
    text = benchmark.markdown([{"task": "snli_ve", "seed": 1, "summary": summary, "levels": levels,
                                "committed_sweep_commit": "0123456789abcdef"}])
    # the calibrated point is not a level: the means are over the two levels
    assert "| snli_ve | 1 | 0.7500 | 80.0% (82.0%) | 0.0% (30.0%) | 5.0% (20.0%) | -0.0600 | +0.1400 |" in text


def test_the_full_model_is_mues_point_at_no_reduction_also_without_a_threshold_that_saves_nothing():
    from ofa_mue.adaptivity_bound import adaptivity_bound
    from ofa_mue.sweep import ExampleScores

    rows = [row for row in miniature_sweep() if row["setting"] != "threshold 0.999"]
    _, summary = adaptivity_bound(rows, ExampleScores("snli_ve", rows))
    assert summary["mue_points_capped"] == [{"expected_time_reduction": 0.0, "metric": 0.75},
                                            {"expected_time_reduction": 0.5, "metric": 0.5}]
    kept = summary["largest_reduction_keeping"]
    assert (kept[1.0]["mue"], kept[0.99]["mue"]) == (0.0, pytest.approx(0.5 * 0.0075 / 0.25))
