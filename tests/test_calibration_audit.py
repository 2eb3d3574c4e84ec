"""Audit of the certified calibration's arithmetic (:mod:`ofa_mue.core.risk_control`): cases the
other tests leave out."""
from __future__ import annotations

import math

import pytest

from ofa_mue import calibrate
from ofa_mue.core.risk_control import rows_needed


def test_rows_needed_answers_within_a_limit_below_its_search_block():
    """``limit`` only bounds the search: 45 rows certify epsilon 0.05 at delta 0.1 without losses
    ((0.95)^45 <= 0.1), so any limit of 45 or more finds them, and a smaller one finds nothing."""
    expected = math.ceil(math.log(0.1) / math.log(0.95))
    assert rows_needed(0.05, 0.1) == expected == 45
    assert rows_needed(0.05, 0.1, limit=1000) == expected
    assert rows_needed(0.05, 0.1, limit=45) == expected
    assert rows_needed(0.05, 0.1, limit=44) is None


@pytest.mark.parametrize("cutoff", ["0", "-0.5", "1.5", "nan"])
def test_a_rouge_cutoff_outside_zero_one_is_refused(tmp_path, cutoff, capsys):
    """A cut-off of 0 loses no caption (every setting certified, the most aggressive chosen); one
    above 1 loses every caption (nothing certified): both are refused before any work."""
    with pytest.raises(SystemExit):
        calibrate.main([str(tmp_path), "--path", str(tmp_path / "none.pt"), "--task", "caption", "--gen-subset",
                        "valid", "--profile-path", str(tmp_path / "p.json"), "--loss", "rouge", "--rouge-cutoff", cutoff])
    assert f"error: --rouge-cutoff must be in (0, 1], got {float(cutoff)}" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
