"""The demo summary's target checks (``ofa_mue.demo.summary``): each verdict at its documented
boundary, both conditions of a two-figure target, and a conclusion only when every seed holds it."""
from __future__ import annotations

import json

import pytest

from ofa_mue.demo.summary import ablation_figures, aggregate, evaluate_checks, markdown, seed_figures

# every target exactly met (the module docstring's bounds are inclusive)
AT_THE_BOUNDS = {
    "snli_ve.full_accuracy": 0.80,
    "snli_ve.images_other_accuracy": 0.50,
    "snli_ve.images_blank_accuracy": 0.50,
    "snli_ve.static_1_gap": 0.10,
    "caption.static_1_share": 0.85,
    "snli_ve.mue_expected_time_reduction": 0.45,
    "snli_ve.mue_retention": 0.99,
    "caption.mue_expected_time_reduction": 0.40,
    "caption.mue_retention": 0.96,
    "snli_ve.mue_vs_static_mue_beats_fixed_depth": 1.0,
    "caption.mue_vs_static_mue_beats_fixed_depth": 1.0,
    "demo.minutes": 30.0,
    "demo.cores": 2,
}
# each figure moved just past its bound
PAST_THE_BOUND = {
    "snli_ve.full_accuracy": 0.79,
    "snli_ve.images_other_accuracy": 0.51,
    "snli_ve.images_blank_accuracy": 0.51,
    "snli_ve.static_1_gap": 0.09,
    "caption.static_1_share": 0.86,
    "snli_ve.mue_expected_time_reduction": 0.44,
    "snli_ve.mue_retention": 0.98,
    "caption.mue_expected_time_reduction": 0.39,
    "caption.mue_retention": 0.95,
    "snli_ve.mue_vs_static_mue_beats_fixed_depth": 0.0,
    "caption.mue_vs_static_mue_beats_fixed_depth": 0.0,
    "demo.minutes": 30.1,
    "demo.cores": 3,
}


def test_every_target_holds_at_its_bound():
    checks = evaluate_checks({"1": dict(AT_THE_BOUNDS), "2": dict(AT_THE_BOUNDS)})
    assert len(checks) == 10
    assert {figure for check in checks for figure in check["figures"]} == set(AT_THE_BOUNDS)
    assert all(check["passed"] is True for check in checks), [c["check"] for c in checks if not c["passed"]]


@pytest.mark.parametrize("figure", sorted(PAST_THE_BOUND))
def test_one_figure_past_its_bound_in_one_seed_breaks_exactly_its_check(figure):
    """Seed 2 misses one target: that check fails for seed 2 and overall (a conclusion needs every
    seed); every other check still holds."""
    checks = evaluate_checks({"1": dict(AT_THE_BOUNDS), "2": {**AT_THE_BOUNDS, figure: PAST_THE_BOUND[figure]}})
    for check in checks:
        if figure in check["figures"]:
            assert check["per_seed"] == {"1": True, "2": False} and check["passed"] is False, check["check"]
        else:
            assert check["passed"] is True, check["check"]


def test_a_figure_missing_in_one_seed_is_not_measured():
    seed_2 = {name: value for name, value in AT_THE_BOUNDS.items() if name != "snli_ve.images_other_accuracy"}
    (check,) = [c for c in evaluate_checks({"1": dict(AT_THE_BOUNDS), "2": seed_2})
                if c["figures"] == ["snli_ve.images_other_accuracy"]]
    assert check["per_seed"] == {"1": True, "2": None} and check["passed"] is None


def test_figures_made_of_counts_meet_a_bound_they_equal():
    """182/300 - 152/300 is exactly 10 points on a 300-row split, 0.09999999999999998 in floating
    point: it meets "at least 10 points"; CIDEr 0.51 of 0.6 is 85%, 0.8500000000000001 in floating
    point: it meets "at most 85%", as every bound a figure made of counts can equal."""
    counted = {**AT_THE_BOUNDS, "snli_ve.static_1_gap": 182 / 300 - 152 / 300, "caption.static_1_share": 0.51 / 0.6}
    assert counted["snli_ve.static_1_gap"] < 0.10 and counted["caption.static_1_share"] > 0.85
    checks = evaluate_checks({"1": counted})
    assert all(check["passed"] is True for check in checks), [c["check"] for c in checks if not c["passed"]]


def test_a_variant_whose_full_model_scores_zero_has_zero_retention_and_aggregates():
    """A barely trained Table 4 variant (CIDEr 0: reproduce leaves its retention empty) gets the
    same retention as the main model in that case, 0.0, and the summary over seeds still adds up."""
    variant = {"key": "no_layerwise_loss", "full_metric": 0.0, "metric": 0.12, "retention": None,
               "expected_time_reduction": 0.3}
    figures = ablation_figures([variant], "cider")
    assert figures["ablation_no_layerwise_loss_mue_retention"] == 0.0
    assert aggregate({"1": figures, "2": figures})["ablation_no_layerwise_loss_mue_retention"]["mean"] == 0.0


def test_the_run_time_counts_the_data_generation_with_each_seed(tmp_path):
    """demo.sh's ``run_time.json``: a seed's minutes are its own seconds plus the data generation's
    (what a one-seed run spends), with the cores it ran on."""
    import json

    from ofa_mue.demo.summary import run_time_figures

    assert run_time_figures(str(tmp_path)) == {}  # a run from before demo.sh wrote it
    (tmp_path / "run_time.json").write_text(json.dumps({"seed_seconds": 1500, "data_seconds": 120, "cores": 2}))
    assert run_time_figures(str(tmp_path)) == {"demo.minutes": 27.0, "demo.cores": 2}


def _write(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _snli_ve_seed(seed_dir):
    """One seed's SNLI-VE runs as run_scripts/demo.sh leaves them, every figure a distinct number."""
    task = seed_dir / "snli_ve"
    _write(task / "reproduce" / "reproduce.json", {
        "examples": 10,
        "table1": [{"curve": "full", "accuracy": 0.9, "expected_time_reduction": 0.0, "image_layers": 6.0,
                    "text_layers": 6.0, "decoder_layers": 6.0},
                   {"curve": "mue_given", "accuracy": 0.87, "expected_time_reduction": 0.5, "image_layers": 2.5,
                    "text_layers": 3.5, "decoder_layers": 4.5}],
        "mue_vs_static": {"summary": {"levels": 7, "strictly_above": 2, "equal": 1, "at_or_above": 3, "below": 4,
                                      "mue_beats_fixed_depth": True, "significantly_above": 1,
                                      "significantly_below": 3}},
        "table4": [{"key": "mue", "full_metric": 0.9, "metric": 0.87, "expected_time_reduction": 0.5},
                   {"key": "no_layerwise_loss", "full_metric": 0.8, "metric": 0.6, "retention": 0.75,
                    "expected_time_reduction": 0.3},
                   {"key": "no_modality_decomposition", "inference": "not run (no checkpoint given)"}]})
    _write(task / "reproduce" / "sweep" / "sweep.json", {"rows": [
        {"curve": "static", "image_layers": 2, "text_layers": 1, "decoder_layers": 1, "metric": 0.7,
         "expected_time_reduction": 0.6},
        {"curve": "static", "image_layers": 1, "text_layers": 1, "decoder_layers": 1, "metric": 0.6,
         "expected_time_reduction": 0.8}]})
    for run, accuracy in (("images_other", 0.41), ("images_blank", 0.33), ("text_other", 0.52)):
        _write(task / run / "test_metrics.json", {"examples": 10, "metrics": {"accuracy": accuracy}})
    _write(task / "certified" / "test_metrics.json",
           {"examples": 10, "metrics": {"accuracy": 0.88}, "layers": {"expected_time_reduction": 0.2}})
    _write(task / "certified" / "profile.json",
           {"guarantee": {"certified": True, "epsilon": 0.05, "delta": 0.1, "calibration_rows": 40}})
    _write(seed_dir / "questions.json", {"held_out_accuracy": {"layer1/where": 0.7}})
    _write(seed_dir / "run_time.json", {"seed_seconds": 1500, "data_seconds": 120, "cores": 2})


def test_a_seeds_figures_are_read_from_each_of_its_runs(tmp_path):
    """Every figure of a seed comes from its own run and field: the full model and calibrated MuE
    (reproduce's Table 1), one layer of each part (the sweep), MuE against the envelope, each
    replaced-input run, the certified run beside MuE, Table 4's variants that ran, the question
    stage and the run time."""
    _snli_ve_seed(tmp_path)
    assert seed_figures(str(tmp_path)) == pytest.approx({
        "snli_ve.examples": 10, "snli_ve.full_accuracy": 0.9, "snli_ve.mue_accuracy": 0.87,
        "snli_ve.mue_retention": 0.87 / 0.9, "snli_ve.mue_expected_time_reduction": 0.5,
        "snli_ve.mue_image_layers": 2.5, "snli_ve.mue_text_layers": 3.5, "snli_ve.mue_decoder_layers": 4.5,
        "snli_ve.static_1_accuracy": 0.6, "snli_ve.static_1_gap": 0.3,
        "snli_ve.static_1_expected_time_reduction": 0.8, "snli_ve.static_1_share": 0.6 / 0.9,
        "snli_ve.mue_vs_static_levels": 7.0, "snli_ve.mue_vs_static_strictly_above": 2.0,
        "snli_ve.mue_vs_static_at_or_above": 3.0, "snli_ve.mue_vs_static_below": 4.0,
        "snli_ve.mue_vs_static_mue_beats_fixed_depth": 1.0, "snli_ve.mue_vs_static_significantly_above": 1.0,
        "snli_ve.mue_vs_static_significantly_below": 3.0,
        "snli_ve.images_other_accuracy": 0.41, "snli_ve.images_blank_accuracy": 0.33,
        "snli_ve.text_other_accuracy": 0.52,
        "snli_ve.certified_accuracy": 0.88, "snli_ve.certified_retention": 0.88 / 0.9,
        "snli_ve.certified_expected_time_reduction": 0.2, "snli_ve.certified_share_of_mue_reduction": 0.4,
        "snli_ve.certified_passed": 1.0, "snli_ve.certified_epsilon": 0.05, "snli_ve.certified_delta": 0.1,
        "snli_ve.certified_calibration_rows": 40,
        "snli_ve.ablation_no_layerwise_loss_full_accuracy": 0.8, "snli_ve.ablation_no_layerwise_loss_mue_accuracy": 0.6,
        "snli_ve.ablation_no_layerwise_loss_mue_retention": 0.75,
        "snli_ve.ablation_no_layerwise_loss_mue_expected_time_reduction": 0.3,
        "questions.layer1_where_accuracy": 0.7, "demo.minutes": 27.0, "demo.cores": 2})
    _write(tmp_path / "snli_ve" / "certified" / "profile.json", {"guarantee": {"certified": False}})
    assert seed_figures(str(tmp_path))["snli_ve.certified_passed"] == 0.0
    _write(tmp_path / "bare" / "run_time.json", {"seed_seconds": 60, "data_seconds": 60, "cores": 2})
    assert seed_figures(str(tmp_path / "bare")) == {}  # nothing reproduced: no figures at all


def test_each_figure_aggregates_to_its_mean_sample_spread_and_range():
    """Over the seeds that measured it: the mean, the sample standard deviation (n - 1) and the
    range; one seed has spread 0."""
    figures = aggregate({"1": {"a": 0.8, "b": 0.5}, "2": {"a": 0.97}, "3": {"a": 0.9}})
    assert figures["a"]["per_seed"] == {"1": 0.8, "2": 0.97, "3": 0.9}
    assert {key: figures["a"][key] for key in ("mean", "std", "min", "max")} == pytest.approx(
        {"mean": 0.89, "std": 0.0854400374531753, "min": 0.8, "max": 0.97})
    assert figures["b"] == {"per_seed": {"1": 0.5}, "mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5}


def test_the_markdown_gives_each_seeds_verdict_and_shares_as_percentages():
    """summary.md: a check's verdict per seed and over all seeds; shares (SNLI-VE's gap included)
    as percentages, CIDEr and counts as numbers, then mean, std and range in that order."""
    provenance = {"commit": "abc", "date": "today", "machine": {"gpu": None, "cpu_model": "cpu", "cpu_cores": 2,
                                                               "torch": "2", "torch_threads": 1}}
    summary = {"provenance": provenance, "seeds": ["1", "2"],
               "checks": [{"check": "c", "figures": [], "per_seed": {"1": True, "2": False}, "passed": False}],
               "figures": aggregate({"1": {"snli_ve.static_1_gap": 0.1, "caption.static_1_gap": 0.2,
                                           "caption.static_1_share": 0.8, "demo.cores": 2},
                                     "2": {"snli_ve.static_1_gap": 0.3, "caption.static_1_gap": 0.4,
                                           "caption.static_1_share": 0.6, "demo.cores": 2}})}
    lines = markdown(summary).splitlines()
    assert "| c | yes | **no** | **no** |" in lines
    assert "| snli_ve.static_1_gap | 10.0% | 30.0% | 20.0% | 14.1% | 10.0%-30.0% |" in lines
    assert "| caption.static_1_gap | 0.2 | 0.4 | 0.3 | 0.1414 | 0.2-0.4 |" in lines
    assert "| caption.static_1_share | 80.0% | 60.0% | 70.0% | 14.1% | 60.0%-80.0% |" in lines
    assert "| demo.cores | 2 | 2 | 2 | 0 | 2-2 |" in lines
