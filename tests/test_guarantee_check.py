"""benchmarks/guarantee_check.py computes the figures of the README's "Does it hold?" as its
docstring says: each calibration is scored on rows it did not see (split mode) or on the whole
pool (resample mode), a violation is a loss *above* epsilon counted over every calibration,
a calibration that turns every exit off saves and loses nothing, and the bound quoted beside a
rate is the one-sided 95% Clopper-Pearson upper bound. Small synthetic calibration tables whose
outcomes follow from arithmetic alone: no model runs."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scipy import stats

from ofa_mue.calibration_table import FULL_MODEL, CalibrationTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from guarantee_check import check_table, upper_95  # noqa: E402

EARLY, EARLIER = (0.9, 0.9, 0.9), (0.5, 0.5, 0.5)


def snli_table(rows: int, wrong: int, time_share: float) -> CalibrationTable:
    """The full model right on every row; one exit configuration wrong on ``wrong`` of them
    (its ``label`` loss: 1 there, 0 elsewhere), at ``time_share`` of the full model's time."""
    correct = [0.0 if row < wrong else 1.0 for row in range(rows)]
    entries = {
        FULL_MODEL: {"predictions": ["yes"] * rows, "time_share": [1.0] * rows, "scores": {"correct": [1.0] * rows}},
        EARLY: {"predictions": ["yes" if c else "no" for c in correct], "time_share": [time_share] * rows,
                "scores": {"correct": correct}},
    }
    return CalibrationTable("snli_ve", {"checkpoints": []}, list(range(1, rows + 1)), ["yes"] * rows, entries)


def caption_table(rows: int, ciders: dict) -> CalibrationTable:
    """The full model's CIDEr-D 2.0 on every row; each configuration ``thresholds -> (cider,
    time share)`` the same on every row (its ``cider`` loss: 1 - cider / 2.0 on every row)."""
    entries = {FULL_MODEL: {"predictions": ["a"] * rows, "time_share": [1.0] * rows, "scores": {"cider": [2.0] * rows}}}
    for thresholds, (cider, share) in ciders.items():
        entries[thresholds] = {"predictions": ["b"] * rows, "time_share": [share] * rows,
                               "scores": {"cider": [cider] * rows}}
    return CalibrationTable("caption", {"checkpoints": []}, list(range(1, rows + 1)), [["a"]] * rows, entries)


def test_each_calibration_is_scored_on_rows_it_did_not_calibrate_on_and_counted_over_every_calibration():
    """One configuration wrong on 22 of 200 rows (loss 0.11, accuracy 0.89) at epsilon 0.1 and a
    retention target of 0.9. Calibrating on 100 rows, the uncorrected methods choose it exactly
    when at most 10 of the 100 are wrong; the other 100 then hold at least 12 wrong rows (test
    loss >= 0.12, accuracy <= 0.88), and the pool's 22 give a true risk of 0.11: every choice is a
    violation and misses the target, in both modes, while a calibration that chose nothing counts
    as neither, saving nothing. Scoring the calibration rows themselves would show no violation."""
    table = snli_table(200, 22, time_share=0.4)
    check = check_table(table, "label", epsilon=0.1, delta=0.1, splits=60, calibration_fraction=0.5, retention=0.9,
                        learn_fraction=0.3, seed=0)
    assert (check["pool_rows"], check["calibration_rows"], check["configurations"]) == (200, 100, 1)
    for mode in ("split", "resample"):
        for method in ("best-within-epsilon", "retention"):
            result = check["results"][mode][method]
            chosen = 1.0 - result["exits_off_rate"]
            assert 0.2 < chosen < 0.8, (mode, method, result)  # the test needs both outcomes
            assert result["splits"] == 60
            assert result["violation_rate"] == pytest.approx(chosen), (mode, method, result)
            assert result["below_retention_rate"] == pytest.approx(chosen), (mode, method, result)
            assert result["mean_reduction"] == pytest.approx(0.6 * chosen), (mode, method, result)
            if mode == "resample":  # the true risk of the one configuration, or nothing
                assert result["mean_loss"] == pytest.approx(0.11 * chosen), (mode, method, result)
            else:
                assert result["mean_loss"] >= 0.12 * chosen - 1e-12, (mode, method, result)


def test_a_loss_of_exactly_epsilon_is_allowed_and_no_violation():
    """Every row loses exactly 0.25 with one configuration (CIDEr-D 1.5 of the full model's 2.0)
    and 0.5 with a faster one: at epsilon 0.25 and retention 0.75, the uncorrected methods choose
    the first every time, and a loss of epsilon (a retention at the target) is no violation (no miss)."""
    table = caption_table(40, {EARLY: (1.5, 0.7), EARLIER: (1.0, 0.5)})
    check = check_table(table, "cider", epsilon=0.25, delta=0.1, splits=5, calibration_fraction=0.5, retention=0.75,
                        learn_fraction=0.3, seed=0)
    for mode in ("split", "resample"):
        for method in ("best-within-epsilon", "retention"):
            result = check["results"][mode][method]
            assert result["exits_off_rate"] == 0.0, (mode, method, result)
            assert result["mean_loss"] == 0.25 and result["mean_reduction"] == pytest.approx(0.3), (mode, method)
            assert result["violation_rate"] == 0.0 and result["below_retention_rate"] == 0.0, (mode, method, result)


@pytest.mark.parametrize("count, total", [(0, 500), (9, 500), (34, 200), (3, 5)])
def test_the_quoted_bound_is_the_one_sided_95_percent_clopper_pearson_upper_bound(count, total):
    """The bound u of a rate seen ``count`` times in ``total``: the rate at which seeing at most
    ``count`` has probability 5%."""
    bound = upper_95(count, total)
    assert count / total < bound < 1.0
    assert stats.binom.cdf(count, total, bound) == pytest.approx(0.05, rel=1e-6)


def test_the_bound_of_no_violation_in_500_calibrations_is_the_readmes_0_6_percent():
    assert upper_95(0, 500) == pytest.approx(1 - 0.05 ** (1 / 500))
    assert f"{100 * upper_95(0, 500):.1f}%" == "0.6%"
    assert upper_95(7, 7) == 1.0


def test_resample_mode_draws_the_calibration_rows_with_replacement():
    """3 wrong rows in a pool of 20, 19 calibration rows: without replacement at least 2 of the 19
    are wrong (a loss above epsilon 0.1); drawn with replacement, at most 1 is in about a fifth of
    the draws, and only then is the configuration chosen without correction."""
    table = snli_table(20, 3, time_share=0.5)
    check = check_table(table, "label", epsilon=0.1, delta=0.1, splits=40, calibration_fraction=0.95, retention=0.9,
                        learn_fraction=0.3, seed=0)
    assert check["calibration_rows"] == 19
    assert check["results"]["split"]["best-within-epsilon"]["exits_off_rate"] == 1.0
    assert check["results"]["resample"]["best-within-epsilon"]["exits_off_rate"] < 0.95


def test_each_ltt_method_tests_as_it_is_named():
    """Ten configurations that never lose, 40 calibration rows, epsilon = delta = 0.1: the fixed
    sequence tests each on its 28 testing rows at level delta (exact binomial p-value 0.9^28 =
    0.052: certified); Bonferroni tests on all 40 at level delta / 10 (0.9^40 = 0.015: not)."""
    rows = 80
    entries = {FULL_MODEL: {"predictions": ["yes"] * rows, "time_share": [1.0] * rows,
                            "scores": {"correct": [1.0] * rows}}}
    for k in range(10):
        entries[(0.5, 0.5, 0.1 * k)] = {"predictions": ["yes"] * rows, "time_share": [0.5 + 0.01 * k] * rows,
                                        "scores": {"correct": [1.0] * rows}}
    table = CalibrationTable("snli_ve", {"checkpoints": []}, list(range(1, rows + 1)), ["yes"] * rows, entries)
    check = check_table(table, "label", epsilon=0.1, delta=0.1, splits=3, calibration_fraction=0.5, retention=0.9,
                        learn_fraction=0.3, seed=0)
    for mode in ("split", "resample"):
        fixed, bonferroni = (check["results"][mode][m] for m in ("ltt fixed-sequence", "ltt bonferroni"))
        assert fixed["exits_off_rate"] == 0.0 and bonferroni["exits_off_rate"] == 1.0, mode
        assert fixed["mean_reduction"] == pytest.approx(0.5), mode  # the most reduction of the certified ones


def test_zero_one_losses_are_tested_with_the_exact_binomial_p_value():
    """One configuration wrong on 2 of 80 rows, 40 calibration rows, Bonferroni over it alone at
    epsilon = delta = 0.1: with at most 1 of the 40 wrong, the exact binomial p-value passes
    (0.08), the bound for losses in [0, 1] does not (0.18); with none wrong, both pass. At most 1
    is wrong in three calibrations out of four (split and resample alike), none in one of four."""
    table = snli_table(80, 2, time_share=0.5)
    check = check_table(table, "label", epsilon=0.1, delta=0.1, splits=40, calibration_fraction=0.5, retention=0.9,
                        learn_fraction=0.3, seed=0)
    for mode in ("split", "resample"):
        assert check["results"][mode]["ltt bonferroni"]["exits_off_rate"] < 0.45, mode
