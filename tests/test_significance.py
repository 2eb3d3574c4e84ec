"""Paired bootstrap intervals for MuE against static truncation (:mod:`ofa_mue.significance`),
the per-example scores they rest on (:func:`ofa_mue.sweep.example_scores`), and their place in
:func:`ofa_mue.paper_tables.mue_vs_static`."""
from __future__ import annotations

import numpy as np
import pytest

from ofa_mue.caption_metrics import caption_metrics
from ofa_mue.paper_tables import mue_vs_static, mue_vs_static_markdown
from ofa_mue.significance import Interval, mean_difference_interval, mixed_scores
from ofa_mue.sweep import ExampleScores


def test_interval_brackets_the_mean_and_excludes_zero_only_for_a_clear_difference():
    generator = np.random.default_rng(3)
    clear = generator.normal(0.2, 0.5, 400)
    interval = mean_difference_interval(clear)
    assert interval.low < clear.mean() < interval.high and interval.verdict == "above"
    assert mean_difference_interval(-clear).verdict == "below"
    noise = generator.normal(0.0, 0.5, 400)
    noise -= noise.mean()  # mean exactly 0
    assert mean_difference_interval(noise).verdict == "indistinguishable"
    assert mean_difference_interval(clear) == interval  # a fixed seed: the same interval again
    # an interval that reaches 0 contains it: no difference is ruled out
    assert Interval(0.0, 0.3).verdict == Interval(-0.3, 0.0).verdict == "indistinguishable"


def test_interval_covers_the_true_mean_about_as_often_as_it_says():
    generator = np.random.default_rng(5)
    hits = 0
    for _ in range(120):  # right-or-wrong differences with true mean 0.3 - 0.2 = 0.1
        interval = mean_difference_interval(generator.choice([-1.0, 0.0, 1.0], 150, p=[0.2, 0.5, 0.3]),
                                            resamples=500)
        hits += interval.low <= 0.1 <= interval.high
    assert 0.87 <= hits / 120 <= 1.0


def test_interval_is_as_wide_as_its_stated_confidence():
    """A 95% interval of a mean over 400 normal differences is about the normal theory's
    mean +- 1.96 standard errors wide; a 90% interval (1.645 standard errors, 16% narrower)
    reported as 95% would make noise read as a significant difference."""
    generator = np.random.default_rng(13)
    differences = generator.normal(0.1, 0.5, 400)
    standard_error = differences.std(ddof=1) / np.sqrt(differences.size)
    interval = mean_difference_interval(differences)
    assert (interval.high - interval.low) / (2 * 1.96 * standard_error) == pytest.approx(1.0, abs=0.07)
    wider = mean_difference_interval(differences, confidence=0.99)
    assert (wider.high - wider.low) / (2 * 2.576 * standard_error) == pytest.approx(1.0, abs=0.07)


def resampled_means(values: np.ndarray, resamples: int) -> np.ndarray:
    """The means of ``resamples`` bootstrap resamples of ``values`` (a seeded draw of its own)."""
    return values[np.random.default_rng(11).integers(0, values.size, (resamples, values.size))].mean(1)


def bca_interval_by_hand(values: np.ndarray, means: np.ndarray, confidence: float) -> tuple[float, float]:
    """Efron's bias-corrected and accelerated bootstrap interval of the mean, written out: the
    percentiles of the resampled ``means`` moved by the bias correction z0 (the share of resampled
    means below the sample's) and the acceleration a (the jackknife means' skewness)."""
    from scipy.stats import norm

    z0 = norm.ppf((means < values.mean()).mean())
    jackknife = (values.sum() - values) / (values.size - 1)
    spread = jackknife.mean() - jackknife
    a = (spread ** 3).sum() / (6 * (spread ** 2).sum() ** 1.5)
    z = norm.ppf([(1 - confidence) / 2, (1 + confidence) / 2])
    low, high = np.quantile(means, norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    return low, high


def test_interval_of_skewed_differences_is_the_bias_corrected_and_accelerated_one():
    """The module's interval is BCa, as it says: on skewed differences (few large CIDEr-D gains,
    many small ones) BCa's interval reaches much further up than the plain percentile interval
    (by a third of its width here), and the module's matches BCa computed by hand."""
    differences = np.random.default_rng(0).exponential(size=40) ** 3
    interval = mean_difference_interval(differences, resamples=20000)
    means = resampled_means(differences, 20000)
    low, high = bca_interval_by_hand(differences, means, 0.95)
    width = high - low
    assert interval.low == pytest.approx(low, abs=0.03 * width)
    assert interval.high == pytest.approx(high, abs=0.03 * width)
    assert high - np.quantile(means, 0.975) > 0.2 * width  # the percentile interval's end: the check tells them apart


def test_constant_differences_give_a_point_and_bad_input_is_refused():
    assert mean_difference_interval([0.0, 0.0, 0.0]) == Interval(0.0, 0.0)
    assert mean_difference_interval([0.5] * 4).verdict == "above"
    scores = np.linspace(0, 1, 100)  # each example 0.02 above, up to rounding: BCa alone gives NaN
    interval = mean_difference_interval((scores + 0.02) - scores)
    assert (interval.low, interval.high, interval.verdict) == (pytest.approx(0.02), pytest.approx(0.02), "above")
    with pytest.raises(ValueError, match="non-empty"):
        mean_difference_interval([])
    with pytest.raises(ValueError, match="different lengths"):
        mixed_scores([1.0, 0.0], [1.0], 0.5)
    assert mixed_scores([1.0, 0.0], [0.0, 0.0], 0.25).tolist() == [0.75, 0.0]


def _row(curve, reduction, scores, setting=""):
    return {"curve": curve, "expected_time_reduction": reduction, "metric": float(np.mean(scores)),
            "setting": setting or curve, "exits": "image+text+decoder", "options": {}, "examples": len(scores)}


def test_mue_against_static_pairs_each_example_with_its_static_score():
    """MuE is better than static truncation by a small margin on every example, while examples
    differ wildly: only a paired interval sees it. Unpaired (resampling each side on its own),
    the spread of the examples would swamp the margin."""
    generator = np.random.default_rng(7)
    base = generator.uniform(0, 1, 300)
    full = np.clip(base + 0.3, 0, None)
    a, b = base, base - 0.2  # static depths: reduction 0.5 and 0.8
    mue = base + 0.02 + generator.normal(0, 0.01, 300)  # reduction 0.5: 0.02 above "a"
    scores = {("full", "full"): full, ("static", "a"): a, ("static", "b"): b, ("mue", "t1"): mue,
              ("mue", "t2"): b - 0.05}
    rows = [_row("full", 0.0, full), _row("static", 0.5, a, "a"), _row("static", 0.8, b, "b"),
            _row("mue", 0.5, mue, "t1"), _row("mue", 0.8, b - 0.05, "t2")]
    table, summary = mue_vs_static(rows, example_scores=scores)
    first, second = table
    assert first["difference"] == pytest.approx(0.02, abs=0.003)
    assert 0 < first["difference_low"] < first["difference"] < first["difference_high"] < 0.03
    assert first["significance"] == "above"
    assert second["significance"] == "below" and second["difference_high"] == pytest.approx(-0.05)
    assert (summary["significantly_above"], summary["significantly_below"], summary["confidence"]) == (1, 1, 0.95)
    unpaired = [np.mean(generator.choice(mue, 300)) - np.mean(generator.choice(a, 300)) for _ in range(400)]
    assert np.quantile(unpaired, 0.025) < 0  # what an unpaired interval would have said
    markdown = mue_vs_static_markdown(table, summary, "accuracy")
    assert "95% interval" in markdown and "1 significantly above, 1 significantly below" in markdown


def test_levels_significantly_above_below_and_indistinguishable_are_counted_apart():
    """Two levels significantly above static truncation, one below and one indistinguishable from
    it (differences of +-0.1 that average 0): each counted under its own verdict only."""
    a, jitter = np.linspace(0, 1, 100), np.resize([0.001, -0.001], 100)
    scores = {("full", "full"): a + 0.3, ("static", "a"): a, ("mue", "t1"): a + 0.02 + jitter,
              ("mue", "t2"): a + 0.05 + jitter, ("mue", "t3"): a - 0.04 + jitter, ("mue", "t4"): a + 100 * jitter}
    rows = [_row("full", 0.0, a + 0.3), _row("static", 0.5, a, "a"),
            *(_row("mue", 0.5, scores[("mue", name)], name) for name in ("t1", "t2", "t3", "t4"))]
    table, summary = mue_vs_static(rows, example_scores=scores)
    assert [entry["significance"] for entry in table] == ["above", "above", "below", "indistinguishable"]
    assert (summary["significantly_above"], summary["significantly_below"]) == (2, 1)


def test_intervals_of_a_mix_of_two_depths_and_of_the_held_out_choice():
    generator = np.random.default_rng(11)
    full, a = generator.uniform(0.5, 1, 200), generator.uniform(0, 0.5, 200)
    mue = (full + a) / 2 + generator.normal(0, 0.05, 200)
    scores = {("full", "full"): full, ("static", "a"): a, ("mue", "t"): mue}
    rows = [_row("full", 0.0, full), _row("static", 0.5, a, "a"), _row("mue", 0.25, mue, "t")]
    valid = [_row("full", 0.0, [1.0]), _row("static", 0.5, [0.5], "a")]
    (entry,), summary = mue_vs_static(rows, valid, "valid", example_scores=scores)
    expected = mean_difference_interval(mue - mixed_scores(full, a, 0.5))  # half full model, half "a"
    assert (entry["difference_low"], entry["difference_high"]) == (expected.low, expected.high)
    assert (entry["difference_chosen_low"], entry["difference_chosen_high"]) == (expected.low, expected.high)
    assert entry["difference"] == pytest.approx(np.mean(mue - mixed_scores(full, a, 0.5)))
    assert "significantly_above" in summary["chosen_on"]
    assert "difference_low" not in mue_vs_static(rows)[0][0]  # no scores, no intervals


def test_example_scores_average_to_the_split_metric():
    references = [["a red circle", "a red circle on a white background"], ["two blue stars", "a blue star and a blue star"],
                  ["a green square", "a picture of a green square"]]
    records = lambda captions: [{"row": i + 1, "prediction": c, "references": r}
                                for i, (c, r) in enumerate(zip(captions, references))]
    full = ["a red circle", "two blue stars", "a green circle"]
    cut = ["a red square", "a blue star", "a green square"]
    rows = [{"curve": "full", "setting": "full", "records": records(full)},
            {"curve": "static", "setting": "decoder 1", "records": records(cut)}]
    scores = ExampleScores("caption", rows)
    for row, captions in zip(rows, (full, cut)):
        corpus = caption_metrics(captions, references, quick=True)["cider"]
        assert scores[(row["curve"], row["setting"])].mean() == pytest.approx(corpus)
    snli = [{"curve": "full", "setting": "full",
             "records": [{"row": 1, "prediction": "yes", "answer": "yes"}, {"row": 2, "prediction": "no", "answer": "maybe"}]}]
    assert ExampleScores("snli_ve", snli)[("full", "full")].tolist() == [1.0, 0.0]
    rows[1]["records"] = rows[1]["records"][::-1]
    with pytest.raises(ValueError, match="other rows"):
        ExampleScores("caption", rows)
