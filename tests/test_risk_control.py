"""Learn-then-Test on synthetic per-example losses with known true risks: the p-values are valid,
the certified choice breaks the target at most delta of the time (and would not, were it the
uncorrected choice), and the numbers the README quotes follow from the formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ofa_mue.calibration_losses import example_losses
from ofa_mue.core.risk_control import (
    binomial_p_value,
    certify,
    hoeffding_bentkus_p_value,
    most_reduction,
    p_value,
    pareto_path,
    rows_needed,
)

EPSILON, DELTA = 0.05, 0.1
REPEATS = 400
# A violation rate above this is not binomial noise around delta (3 standard errors over REPEATS draws).
NOISE_BOUND = DELTA + 3 * math.sqrt(DELTA * (1 - DELTA) / REPEATS)

# Five safe configurations (risk below EPSILON) and forty unsafe ones just above it that save more time:
# the unsafe ones are where an invalid procedure goes wrong.
TRUE_RISKS = np.array([0.0, 0.01, 0.02, 0.03, 0.04] + [0.06] * 40)
REDUCTIONS = np.linspace(0.05, 0.9, TRUE_RISKS.size)
ROWS = 400


def draw_losses(rng: np.random.Generator) -> np.ndarray:
    """``[K, ROWS]`` 0/1 losses, each configuration at its true risk."""
    return (rng.random((TRUE_RISKS.size, ROWS)) < TRUE_RISKS[:, None]).astype(float)


def violation_and_success(select) -> tuple:
    """Share of draws whose chosen configuration's TRUE risk exceeds EPSILON, and share that choose
    a configuration that saves time (``select(losses, reductions)`` -> index or None)."""
    rng = np.random.default_rng(2024)
    violations = successes = 0
    reductions = np.repeat(REDUCTIONS[:, None], ROWS, axis=1)
    for _ in range(REPEATS):
        chosen = select(draw_losses(rng), reductions)
        violations += chosen is not None and TRUE_RISKS[chosen] > EPSILON
        successes += chosen is not None
    return violations / REPEATS, successes / REPEATS


@pytest.mark.parametrize("procedure", ["fixed-sequence", "bonferroni"])
def test_certified_choice_breaks_the_target_at_most_delta_of_the_time(procedure):
    rng = np.random.default_rng(7)
    rate, chose = violation_and_success(
        lambda losses, reductions: certify(losses, reductions, EPSILON, DELTA, True, procedure, rng=rng).chosen)
    assert rate <= NOISE_BOUND, f"{procedure}: violation rate {rate:.3f}"
    assert chose >= 0.9, f"{procedure} certified a configuration in only {chose:.0%} of draws"


def test_uncorrected_choices_break_the_target_far_more_often():
    """The synthetic check discriminates: picking the best configuration on the calibration rows
    (mean loss within EPSILON, or each tested at level DELTA without correction) is invalid."""
    best_on_calibration, _ = violation_and_success(
        lambda losses, reductions: most_reduction(losses.mean(axis=1) <= EPSILON, reductions.mean(axis=1)))
    uncorrected_tests, _ = violation_and_success(
        lambda losses, reductions: most_reduction([p_value(row, EPSILON, True) <= DELTA for row in losses],
                                                  reductions.mean(axis=1)))
    assert best_on_calibration > 3 * NOISE_BOUND
    assert uncorrected_tests > 3 * NOISE_BOUND


def test_fixed_sequence_ordered_on_the_testing_rows_is_invalid():
    """The learning rows must not test: ordering by the same rows' losses makes the first test a
    minimum over every configuration."""

    def same_rows(losses, reductions):
        path = pareto_path(losses.mean(axis=1), reductions.mean(axis=1))
        passed = []
        for k in path:
            if p_value(losses[k], EPSILON, True) > DELTA:
                break
            passed.append(k)
        allowed = np.isin(np.arange(len(losses)), passed)
        return most_reduction(allowed, reductions.mean(axis=1))

    rate, _ = violation_and_success(same_rows)
    assert rate > 3 * NOISE_BOUND


@pytest.mark.parametrize("kind", ["binary", "bounded"])
def test_p_values_are_valid_at_the_boundary(kind):
    """With the true risk exactly EPSILON, P(p <= a) <= a (up to noise) for both p-values."""
    rng = np.random.default_rng(11)
    draws, n = 3000, 200
    if kind == "binary":
        samples = (rng.random((draws, n)) < EPSILON).astype(float)
    else:  # losses in [0, 1] with mean EPSILON: Beta(0.5, 9.5)
        samples = rng.beta(0.5, 0.5 * (1 - EPSILON) / EPSILON, size=(draws, n))
    p_values = np.array([p_value(row, EPSILON, kind == "binary") for row in samples])
    for level in (0.05, 0.1, 0.2):
        assert np.mean(p_values <= level) <= level + 3 * math.sqrt(level * (1 - level) / draws)


def test_p_value_formulas():
    zeros = np.zeros(230)
    assert binomial_p_value(zeros, 0.01) == pytest.approx(0.99 ** 230)
    # Hoeffding-Bentkus at mean 0: the Hoeffding term, (1 - epsilon)^n
    assert hoeffding_bentkus_p_value(np.zeros(50), 0.05) == pytest.approx(0.95 ** 50)
    half = np.full(100, 0.5)
    assert p_value(half, 0.05, False) == 1.0  # mean above epsilon: no evidence
    assert p_value(np.array([0.0, 1.0, 0.0]), 0.5, True) == pytest.approx(0.5)  # P(Bin(3, .5) <= 1)
    # the p-value follows the loss's definition, not the values seen: a bounded loss that happens to be
    # 0/1 gets Hoeffding-Bentkus, and a binary loss with other values is an error
    assert p_value(np.array([0.0, 1.0, 0.0]), 0.5, False) > 0.5
    with pytest.raises(ValueError, match="binary loss"):
        p_value(half, 0.05, True)


def test_hoeffding_bentkus_takes_the_smaller_of_its_two_bounds_rounding_losses_up():
    """p = min(exp(-n KL(mean || epsilon)), e * P(Binomial(n, epsilon) <= ceil(n * mean))), each
    computed here by hand; the Bentkus term rounds the loss sum UP (down would be anti-conservative)."""
    def hoeffding(n, mean, epsilon):
        return math.exp(-n * (mean * math.log(mean / epsilon) + (1 - mean) * math.log((1 - mean) / (1 - epsilon))))

    def bentkus(n, losses, epsilon):
        return math.e * sum(math.comb(n, j) * epsilon ** j * (1 - epsilon) ** (n - j) for j in range(losses + 1))

    # 1000 rows, losses summing to 20.5: the Bentkus term (with 21 losses) is the smaller
    losses = np.zeros(1000)
    losses[:41] = 0.5
    assert bentkus(1000, 21, 0.05) < hoeffding(1000, 0.0205, 0.05)
    assert hoeffding_bentkus_p_value(losses, 0.05) == pytest.approx(bentkus(1000, 21, 0.05))
    # 100 rows, losses summing to 0.5: the Bentkus term with 1 loss is above Hoeffding's (with 0 it would not be)
    losses = np.zeros(100)
    losses[0] = 0.5
    assert bentkus(100, 0, 0.05) < hoeffding(100, 0.005, 0.05) < bentkus(100, 1, 0.05)
    assert hoeffding_bentkus_p_value(losses, 0.05) == pytest.approx(hoeffding(100, 0.005, 0.05))

def test_rows_needed_matches_the_closed_form_without_losses():
    """With no loss at all, n rows certify EPSILON at level DELTA once (1 - EPSILON)^n <= DELTA."""
    for epsilon in (0.01, 0.05, 0.1):
        assert rows_needed(epsilon, DELTA) == math.ceil(math.log(DELTA) / math.log(1 - epsilon))
    assert rows_needed(0.01, 0.1) == 230
    # a Bonferroni correction over 216 configurations needs more rows; bounded losses more than 0/1
    assert rows_needed(0.05, 0.1, 0.025, tests=216) > rows_needed(0.05, 0.1, 0.025)
    assert rows_needed(0.05, 0.1, 0.025, binary=False) > rows_needed(0.05, 0.1, 0.025)


def test_pareto_path_and_fixed_sequence_stop():
    assert pareto_path([0.0, 0.02, 0.01, 0.03, 0.05], [0.0, 0.3, 0.4, 0.35, 0.6]) == [0, 2, 4]
    learn = np.random.default_rng(0).permutation(100)[:50]  # the learning rows certify() draws with seed 0
    losses = np.zeros((3, 100))
    losses[1, ::10] = 1.0  # risk 0.1 everywhere: fails
    losses[2, learn[:15]] = 1.0  # looks worse on the learning rows, would pass on the testing rows
    reductions = np.repeat(np.array([[0.1], [0.2], [0.3]]), 100, axis=1)
    result = certify(losses, reductions, EPSILON, DELTA, True, "fixed-sequence", learn_fraction=0.5,
                     rng=np.random.default_rng(0))
    # the sequence stops at configuration 1: configuration 2 is never tested
    assert list(result.p_values) == [0, 1] and result.certified == [0] and result.chosen == 0
    assert certify(losses, reductions, EPSILON, DELTA, True, "bonferroni").certified == [0]


def test_nothing_passes_on_too_few_rows():
    losses, reductions = np.zeros((4, 40)), np.full((4, 40), 0.5)
    result = certify(losses, reductions, 0.01, DELTA, True)  # (1 - 0.01)^28 > 0.1
    assert result.chosen is None and result.certified == [] and result.chosen_p_value is None


def test_example_losses_per_task():
    full, mue = ["yes", "no", "maybe", "yes"], ["yes", "maybe", "maybe", "no"]
    full_correct, mue_correct = {"correct": [1, 0, 1, 1]}, {"correct": [1, 1, 1, 0]}
    assert example_losses("snli_ve", "consistency", mue, mue_correct, full, full_correct).tolist() == [0, 1, 0, 1]
    assert example_losses("snli_ve", "label", mue, mue_correct, full, full_correct).tolist() == [0, 0, 0, 1]
    mue_scores = {"cider": [1.0, 0.5, 2.0, 0.3], "rouge_l_full": [1.0, 0.79, 0.8, 0.0]}
    full_scores = {"cider": [1.0, 1.0, 1.0, 0.0], "rouge_l_full": [1.0] * 4}
    assert example_losses("caption", "cider", [""] * 4, mue_scores, [""] * 4, full_scores).tolist() == \
        [0.0, 0.5, 0.0, 0.0]
    assert example_losses("caption", "rouge", [""] * 4, mue_scores, [""] * 4, full_scores).tolist() == \
        [0, 1, 0, 1]
    with pytest.raises(ValueError, match="unknown loss"):
        example_losses("caption", "consistency", [], {}, [], {})


def test_pareto_path_drops_configurations_tied_with_a_better_one():
    """A configuration is on the path only when it saves strictly more time than every configuration
    of lower or equal loss: of two with the same loss only the faster is tested, and one as fast as a
    configuration of lower loss is not tested at all (each would be a wasted test that can stop the
    sequence)."""
    # losses 0.0, 0.01, 0.01, 0.02; reductions 0.1, 0.2, 0.4, 0.4: 1 ties 2 in loss and is slower,
    # 3 ties 2 in reduction and loses more
    assert pareto_path([0.0, 0.01, 0.01, 0.02], [0.1, 0.2, 0.4, 0.4]) == [0, 2]


@pytest.mark.parametrize("seed", [None, 5])
def test_fixed_sequence_tests_on_exactly_the_rows_it_did_not_learn_from(seed):
    """The fixed sequence's p-values use the testing rows only: a random draw of the rows (seed 0 by
    default) learns, the others test, and none is both. Every learning row has a loss and no testing
    row has one, so the p-value is P(Binomial(70, 0.05) = 0) = 0.95^70 exactly; a learning row
    among the testing rows, or the file's first rows taken as the learning rows, changes it."""
    learn = np.random.default_rng(0 if seed is None else seed).permutation(100)[:30]
    losses = np.zeros((1, 100))
    losses[0, learn] = 1.0
    rng = None if seed is None else np.random.default_rng(seed)
    result = certify(losses, np.full((1, 100), 0.5), EPSILON, DELTA, True, "fixed-sequence", learn_fraction=0.3,
                     rng=rng)
    assert (result.learn_rows, result.test_rows) == (30, 70)
    assert result.p_values == {0: pytest.approx(0.95 ** 70)}
    assert result.certified == [0] and result.chosen == 0


def test_bonferroni_tests_each_configuration_at_delta_over_the_configurations():
    """Bonferroni over K = 2 configurations tests each at delta / 2 = 0.05, no lower and no higher:
    with 59 loss-free rows, p = 0.95^59 = 0.0485 passes; with 45, p = 0.95^45 = 0.0994 passes
    delta but not delta / 2."""
    passing = certify(np.zeros((2, 59)), np.full((2, 59), 0.5), EPSILON, DELTA, True, "bonferroni")
    assert passing.level == pytest.approx(DELTA / 2)
    assert passing.p_values == {0: pytest.approx(0.95 ** 59), 1: pytest.approx(0.95 ** 59)}
    assert passing.certified == [0, 1]
    failing = certify(np.zeros((2, 45)), np.full((2, 45), 0.5), EPSILON, DELTA, True, "bonferroni")
    assert failing.p_values[0] == pytest.approx(0.95 ** 45) and failing.certified == [] and failing.chosen is None


@pytest.mark.parametrize("procedure", ["fixed-sequence", "bonferroni"])
def test_a_p_value_equal_to_the_level_rejects(procedure):
    """A valid p-value has P(p <= a) <= a, so the null is rejected when p <= level, equality included:
    two loss-free testing rows at epsilon 0.5 give p = 0.5^2 = 0.25, exactly the level (delta 0.25
    for one fixed-sequence test, 0.5 / 2 for Bonferroni over two configurations)."""
    if procedure == "fixed-sequence":  # 4 rows, half of them learn
        result = certify(np.zeros((1, 4)), np.full((1, 4), 0.5), 0.5, 0.25, True, procedure, learn_fraction=0.5)
        expected = [0]
    else:
        result = certify(np.zeros((2, 2)), np.full((2, 2), 0.5), 0.5, 0.5, True, procedure)
        expected = [0, 1]
    assert result.level == 0.25 and all(p == 0.25 for p in result.p_values.values())
    assert result.certified == expected


def test_rows_needed_with_losses_counts_the_observed_share_rounded_down():
    """With 0/1 losses at an observed risk of 2.5%, n rows hold floor(0.025 n) losses; the answer is
    the smallest n from which on every n passes (the exact binomial p-value is not monotone in n),
    found here by scanning n with scipy's binomial."""
    n = np.arange(1, 3001)
    p_values = stats.binom.cdf(np.floor(n * 0.025), n, EPSILON)
    assert p_values[-500:].max() < DELTA / 100  # far past the answer: nothing fails beyond the scan
    expected = int(n[np.flatnonzero(p_values > DELTA)[-1]]) + 1
    assert n[np.argmax(p_values <= DELTA)] < expected  # a smaller n already passes once
    assert rows_needed(EPSILON, DELTA, 0.025) == expected == 132


def test_the_learning_rows_order_the_tests_and_every_row_weighs_the_choice():
    """Loss-free configurations. Fixed sequence: configuration 0 saves 0.9 on the learning rows
    (seed 0's first 30 of 100) and 0.1 on the others, 1 saves 0.5 everywhere: the learning rows
    alone put 0 first (on every row 1 saves more), so only 0 is tested. Bonferroni (every row
    tests): 0 saves 0.9 on the first row only, so of the two certified, 1 saves most on average."""
    learn = np.random.default_rng(0).permutation(100)[:30]
    reductions = np.full((2, 100), 0.5)
    reductions[0] = 0.1
    reductions[0, learn] = 0.9
    fixed = certify(np.zeros((2, 100)), reductions, EPSILON, DELTA, True, "fixed-sequence", learn_fraction=0.3)
    assert list(fixed.p_values) == [0] and fixed.chosen == 0
    reductions[0] = 0.1
    reductions[0, 0] = 0.9
    bonferroni = certify(np.zeros((2, 100)), reductions, EPSILON, DELTA, True, "bonferroni")
    assert bonferroni.certified == [0, 1] and bonferroni.chosen == 1
    assert (bonferroni.learn_rows, bonferroni.test_rows) == (0, 100)


def test_certify_refuses_what_the_guarantee_does_not_cover():
    """Levels outside (0, 1), losses outside [0, 1], no rows, reductions of another shape, an
    unknown procedure and a learn fraction that leaves no learning (or no testing) row are refused;
    the learning rows are the learn fraction of the rows rounded to the nearest (0.9 of a row: 1)."""
    zeros = np.zeros((2, 10))
    for name, epsilon, delta in (("epsilon", 0.0, 0.1), ("epsilon", 1.0, 0.1),
                                 ("delta", 0.1, 0.0), ("delta", 0.1, 1.0)):
        with pytest.raises(ValueError, match=f"{name} must be in \\(0, 1\\)"):
            certify(zeros, zeros, epsilon, delta, True)
    with pytest.raises(ValueError, match="must both be \\[configurations, rows\\]"):
        certify(zeros, np.zeros((2, 9)), EPSILON, DELTA, True)
    with pytest.raises(ValueError, match="unknown multiple-testing procedure 'holm'"):
        certify(zeros, zeros, EPSILON, DELTA, True, "holm")
    with pytest.raises(ValueError, match="10 calibration rows cannot be split"):
        certify(zeros, zeros, EPSILON, DELTA, True, learn_fraction=0.01)
    assert certify(np.zeros((1, 3)), np.zeros((1, 3)), EPSILON, DELTA, True, learn_fraction=0.3).learn_rows == 1
    for losses in ([0.5, 1.5], [-0.1, 0.5], [0.5, np.nan]):
        with pytest.raises(ValueError, match="losses must lie in \\[0, 1\\]"):
            p_value(np.array(losses), EPSILON, False)
    with pytest.raises(ValueError, match="a p-value needs at least one calibration row"):
        p_value(np.array([]), EPSILON, False)


def test_rows_needed_counts_a_p_value_equal_to_the_level_as_passing():
    """As certify rejects at p <= level: at epsilon 0.5 two loss-free rows give p = 0.25, exactly
    delta 0.25 (and delta 0.5 over Bonferroni's two tests), so two rows are enough."""
    assert rows_needed(0.5, 0.25) == 2
    assert rows_needed(0.5, 0.5, tests=2) == 2
