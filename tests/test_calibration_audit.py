"""Audit of the certified calibration's arithmetic (:mod:`ofa_mue.core.risk_control`): cases the
other tests leave out."""
from __future__ import annotations

import math

from ofa_mue.core.risk_control import rows_needed


def test_rows_needed_answers_within_a_limit_below_its_search_block():
    """``limit`` only bounds the search: 45 rows certify epsilon 0.05 at delta 0.1 without losses
    ((0.95)^45 <= 0.1), so any limit of 45 or more finds them, and a smaller one finds nothing."""
    expected = math.ceil(math.log(0.1) / math.log(0.95))
    assert rows_needed(0.05, 0.1) == expected == 45
    assert rows_needed(0.05, 0.1, limit=1000) == expected
    assert rows_needed(0.05, 0.1, limit=45) == expected
    assert rows_needed(0.05, 0.1, limit=44) is None
