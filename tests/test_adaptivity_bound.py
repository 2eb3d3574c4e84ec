"""The per-example oracle exit (ofa_mue.adaptivity_bound) on hand-computed cases: it keeps the
full model's score per example at the cheapest depth that does, gets no credit for lucky
shallow depths, trades quality for time as the penalty grows, and the largest reduction that
keeps a quality is read off a hull where it crosses it."""
from __future__ import annotations

import numpy as np
import pytest

from ofa_mue.adaptivity_bound import largest_reduction_keeping, oracle_point, stable_oracle_reduction

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
