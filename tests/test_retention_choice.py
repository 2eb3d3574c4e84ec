"""The uncertified calibration's choice (python -m ofa_mue.calibrate --method retention) on a
table whose configurations trade quality for time, so the retention target decides the choice."""
from ofa_mue.calibrate import choose_by_retention
from ofa_mue.calibration_table import FULL_MODEL, CalibrationTable

FAST, MIDDLE, SLOW = (0.5, 0.5, 0.5), (0.9, 0.9, 0.9), (0.99, 0.99, 0.99)


def _table() -> CalibrationTable:
    """Four SNLI-VE rows: the full model right on all, SLOW on all (10% faster), MIDDLE on three
    (40% faster), FAST on one (70% faster)."""
    def entry(correct, time_share):
        return {"predictions": ["yes"] * 4, "time_share": [time_share] * 4, "scores": {"correct": correct}}

    entries = {FULL_MODEL: entry([1, 1, 1, 1], 1.0), SLOW: entry([1, 1, 1, 1], 0.9),
               MIDDLE: entry([1, 1, 1, 0], 0.6), FAST: entry([1, 0, 0, 0], 0.3)}
    return CalibrationTable("snli_ve", {}, [1, 2, 3, 4], ["yes"] * 4, entries)


def test_the_fastest_configuration_that_keeps_the_retention_is_chosen():
    table, configurations = _table(), [SLOW, MIDDLE, FAST]
    assert choose_by_retention(table, configurations, 1.0) == SLOW
    assert choose_by_retention(table, configurations, 0.75) == MIDDLE
    assert choose_by_retention(table, configurations, 0.76) == SLOW
    assert choose_by_retention(table, configurations, 0.25) == FAST
    assert choose_by_retention(table, [MIDDLE, FAST], 1.0) is None  # none keeps it: the caller runs the full model
