"""benchmarks/calibration_rows.py writes the table the README quotes ("Calibration rows needed"):
run with its defaults it reproduces the committed results file, whose cells mean what their
headers say."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import calibration_rows  # noqa: E402

COMMITTED = REPO / "benchmarks" / "results" / "calibration_rows.md"


def test_the_default_run_reproduces_the_committed_table_the_readme_quotes(tmp_path, capsys):
    calibration_rows.main(["--results-dir", str(tmp_path)])
    text = (tmp_path / "calibration_rows.md").read_text()
    assert text == COMMITTED.read_text()
    for line in text.splitlines()[4:]:  # the README quotes the rows as they are
        assert line in (REPO / "README.md").read_text()
    report = json.loads((tmp_path / "calibration_rows.json").read_text())
    assert (report["delta"], report["configurations"], report["learn_fraction"]) == (0.1, 216, 0.3)
    rows = {row["epsilon"]: row for row in report["rows"]}
    assert list(rows) == [0.01, 0.02, 0.05, 0.1]
    for epsilon, row in rows.items():
        # no loss at all: n rows pass once (1 - epsilon)^n <= delta
        assert row["no_loss"] == math.ceil(math.log(0.1) / math.log(1 - epsilon))
        # a mean loss of epsilon / 2 needs more rows, more with losses in [0, 1], more again under Bonferroni
        assert row["no_loss"] < row["binary_half"] < row["bounded_half"] < row["bounded_half_bonferroni"]
        assert row["binary_half"] < row["binary_half_bonferroni"] < row["bounded_half_bonferroni"]
        # in brackets: the calibration rows whose 70% (after fixed-sequence's learning share) test
        assert f"| {row['no_loss']} ({math.ceil(row['no_loss'] / 0.7)}) |" in text
    assert "| 0.05 | 45 (65) | 132 (189) | 288 (412) | 727 | 928 |" in text
