"""The calibration's choice (python -m ofa_mue.calibrate --method retention, and --method ltt) on
tables whose configurations trade quality for time, so the retention target (or epsilon) decides it."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from ofa_mue.calibrate import choose_by_retention, choose_certified, choose_profile
from ofa_mue.calibration_table import FULL_MODEL, CalibrationTable, add_configuration, threshold_grid
from ofa_mue.core.exit_policy import NEVER
from ofa_mue.core.risk_control import certify, hoeffding_bentkus_p_value
from ofa_mue.errors import DataError

FAST, MIDDLE, SLOW = (0.5, 0.5, 0.5), (0.9, 0.9, 0.9), (0.99, 0.99, 0.99)


def _table() -> CalibrationTable:
    """Four SNLI-VE rows: the full model right on all, SLOW on all (10% faster), MIDDLE on three
    (40% faster), FAST on one (70% faster)."""
    def entry(correct, time_share):
        return {"predictions": ["yes"] * 4, "time_share": [time_share] * 4, "scores": {"correct": correct}}

    entries = {FULL_MODEL: entry([1, 1, 1, 1], 1.0), SLOW: entry([1, 1, 1, 1], 0.9),
               MIDDLE: entry([1, 1, 1, 0], 0.6), FAST: entry([1, 0, 0, 0], 0.3)}
    return CalibrationTable("snli_ve", {"task_options": {}}, [1, 2, 3, 4], ["yes"] * 4, entries)


def test_the_fastest_configuration_that_keeps_the_retention_is_chosen():
    table, configurations = _table(), [SLOW, MIDDLE, FAST]
    assert choose_by_retention(table, configurations, 1.0) == SLOW
    assert choose_by_retention(table, configurations, 0.75) == MIDDLE
    assert choose_by_retention(table, configurations, 0.76) == SLOW
    assert choose_by_retention(table, configurations, 0.25) == FAST
    assert choose_by_retention(table, [MIDDLE, FAST], 1.0) is None  # none keeps it: the caller runs the full model


def _disagreeing_table(rows: int = 400) -> CalibrationTable:
    """SNLI-VE rows where SLOW always answers as the full model (10% faster), MIDDLE differs on 2%
    of the rows (40% faster) and FAST on 30% (70% faster)."""
    def entry(differs_every, time_share):
        answers = ["no" if differs_every and i % differs_every == 0 else "yes" for i in range(rows)]
        return {"predictions": answers, "time_share": [time_share] * rows,
                "scores": {"correct": [float(a == "yes") for a in answers]}}

    entries = {FULL_MODEL: entry(0, 1.0), SLOW: entry(0, 0.9), MIDDLE: entry(50, 0.6), FAST: entry(3, 0.3)}
    return CalibrationTable("snli_ve", {}, list(range(rows)), ["yes"] * rows, entries)


def test_the_certified_choice_is_the_fastest_configuration_that_passes_at_epsilon():
    """python -m ofa_mue.calibrate --method ltt: epsilon decides, and the guarantee describes the choice."""
    table, configurations = _disagreeing_table(), [SLOW, MIDDLE, FAST]

    def choose(epsilon, procedure="bonferroni"):
        return choose_certified(table, configurations, "consistency", epsilon, 0.1, procedure, 0.3, 0)

    loose = choose(0.1)
    assert loose["thresholds"] == MIDDLE and choose(0.1, "fixed-sequence")["thresholds"] == MIDDLE
    guarantee = loose["guarantee"]
    assert guarantee["certified"] and guarantee["configurations_certified"] == 2
    assert guarantee["calibration_loss"] == 8 / 400  # MIDDLE's share of changed answers
    assert guarantee["p_value"] == pytest.approx(stats.binom.cdf(8, 400, 0.1))  # exact binomial, 0/1 loss
    assert choose(0.01)["thresholds"] == SLOW  # (0.99)^400 <= 0.1 / 3; MIDDLE's 2% is above 1%
    nothing = choose(0.001)
    assert nothing["thresholds"] is None and not nothing["guarantee"]["certified"]


def test_the_guarantee_records_the_test_that_the_seed_learn_fraction_and_procedure_ran():
    """On 100 rows, fixed-sequence testing learning its order on half the rows draws that split
    with the given seed (seed 4 certifies MIDDLE after testing all three, seed 1 nothing after one:
    the split decides); Bonferroni tests all three on every row at delta / 3. The guarantee records
    what Learn-then-Test run with that seed, learn fraction and procedure decided."""
    table, configurations = _disagreeing_table(100), [SLOW, MIDDLE, FAST]
    losses, reductions = table.losses("consistency", configurations), table.reductions(configurations)
    decided = {}
    for procedure, seed in (("fixed-sequence", 4), ("fixed-sequence", 1), ("bonferroni", 4)):
        decision = choose_certified(table, configurations, "consistency", 0.1, 0.1, procedure, 0.5, seed)
        ran = certify(losses, reductions, 0.1, 0.1, True, procedure, 0.5, np.random.default_rng(seed))
        guarantee = decided[procedure, seed] = decision["guarantee"]
        assert decision["thresholds"] == (None if ran.chosen is None else configurations[ran.chosen])
        assert (guarantee["multiple_testing"], guarantee["calibration_rows"], guarantee["configurations"],
                guarantee["p_value_kind"]) == (procedure, 100, 3, "binomial")
        assert (guarantee["learn_rows"], guarantee["test_rows"], guarantee["test_level"]) == \
            (ran.learn_rows, ran.test_rows, ran.level)
        assert (guarantee["configurations_tested"], guarantee["p_value"]) == (len(ran.p_values), ran.chosen_p_value)
    assert [decided["fixed-sequence", seed]["configurations_tested"] for seed in (4, 1)] == [3, 1]
    assert (decided["fixed-sequence", 4]["learn_rows"], decided["fixed-sequence", 4]["test_rows"]) == (50, 50)
    assert decided["fixed-sequence", 1]["certified"] is False and decided["fixed-sequence", 4]["certified"]
    assert decided["bonferroni", 4]["test_level"] == pytest.approx(0.1 / 3)


def _context(task: str = "snli_ve", **given) -> dict:
    """What the calibration tells ``choose_profile`` beside the table: the task, checkpoint, split,
    table file and the decoder's decay (none by default), with ``given`` in their place."""
    return {"task": task, "checkpoint": "c.pt", "split": "valid", "table": "t.json.gz",
            "decoder_exit_beta": 1.0, "decoder_exit_tau": 0.0, **given}


def _caption_table(rows: int = 200) -> CalibrationTable:
    """Caption rows where SLOW keeps 99% of the full model's CIDEr-D on every row and ROUGE-L 0.6
    against its captions (10% faster), FAST keeps 50% (70% faster)."""
    def entry(cider, rouge, time_share):
        return {"predictions": ["a caption"] * rows, "time_share": [time_share] * rows,
                "scores": {"cider": [cider] * rows, "rouge_l_full": [rouge] * rows}}

    entries = {FULL_MODEL: entry(1.0, 1.0, 1.0), SLOW: entry(0.99, 0.6, 0.9), FAST: entry(0.5, 0.3, 0.3)}
    return CalibrationTable("caption", {"task_options": {}}, list(range(rows)), [["a caption"]] * rows, entries)


def test_a_loss_in_zero_one_gets_hoeffding_bentkus_and_a_rouge_cut_off_is_honoured():
    """--loss cider (in [0, 1], not 0/1) is tested with the Hoeffding-Bentkus p-value (SLOW's 200
    losses of 1 - 0.99, 2 in all up to float rounding, counted as 2, not 3); --loss rouge
    --rouge-cutoff C loses a caption below ROUGE-L C: SLOW's 0.6 passes at C = 0.5 and is lost on
    every row at the default 0.8, where nothing is certified."""
    table = _caption_table()
    cider = choose_certified(table, [SLOW, FAST], "cider", 0.05, 0.1, "bonferroni", 0.3, 0)
    assert cider["thresholds"] == SLOW and cider["guarantee"]["p_value_kind"] == "hoeffding-bentkus"
    assert cider["guarantee"]["p_value"] == pytest.approx(hoeffding_bentkus_p_value(np.full(200, 0.01), 0.05))
    context = _context("caption")
    options = {"method": "ltt", "risk_epsilon": 0.05, "risk_delta": 0.1, "loss": "rouge",
               "multiple_testing": "bonferroni", "learn_fraction": 0.3, "seed": 0}
    lenient = choose_profile(table, [FULL_MODEL, SLOW, FAST], {**options, "rouge_cutoff": 0.5}, context)
    assert lenient["guarantee"]["certified"] and lenient["metric"] == pytest.approx(0.99)
    assert lenient["metric_name"] == "cider"
    assert lenient["guarantee"]["loss_definition"].endswith("is below 0.5")
    strict = choose_profile(table, [FULL_MODEL, SLOW, FAST], {**options, "rouge_cutoff": 0.8}, context)
    assert not strict["guarantee"]["certified"] and strict["metric"] == strict["full_metric"] == 1.0


def test_a_saved_table_reads_back_each_configuration_under_its_own_thresholds(tmp_path):
    """A calibration given an existing table reuses its entries: each must come back under the
    (image, text, decoder) thresholds it was evaluated with, or the choice (and the profile's
    options) would name another configuration than the one measured."""
    answers = ["yes", "no", "maybe", "yes"]
    grid = threshold_grid([0.9], [0.8], [0.7])[1:]  # every knob on or off, each knob with its own value
    table = None
    for number, thresholds in enumerate([FULL_MODEL, *grid]):
        records = [{"row": row, "answer": answer, "prediction": answer if row > number % 4 else "no",
                    "layers": {"time_share": 1.0 - number / 10, "image_layers": number, "text_layers": row,
                               "decoder_layers": 1}}
                   for row, answer in enumerate(answers, start=1)]
        table = add_configuration(table, "snli_ve", {"split": "valid"}, thresholds, records, 1.0, "valid")
    path = str(tmp_path / "table.json.gz")
    table.save(path)
    loaded = CalibrationTable.load(path)
    assert loaded.configurations == table.configurations
    for thresholds in table.configurations:
        assert loaded.entries[thresholds] == table.entries[thresholds], thresholds
    assert choose_by_retention(loaded, grid, 0.5) == choose_by_retention(table, grid, 0.5)


def test_the_grid_is_the_full_model_then_every_combination_with_each_knob_also_off():
    """--image/--text/--decoder candidates give the full model first, then every combination in
    which each knob takes one of its candidates or stays off, each once (a configuration with one
    stream's exits off is a configuration of its own; the full model is not repeated)."""
    grid = threshold_grid([0.9], [0.8], [0.7])
    assert grid[0] == FULL_MODEL == (NEVER, NEVER, NEVER) and len(grid) == len(set(grid)) == 8
    assert set(grid) == {(image, text, decoder) for image in (NEVER, 0.9) for text in (NEVER, 0.8)
                         for decoder in (NEVER, 0.7)}
    assert threshold_grid([0.9, 0.9, NEVER], [], []) == [FULL_MODEL, (0.9, NEVER, NEVER)]


def _records(answers, predictions, rows=None):
    rows = rows or list(range(1, len(answers) + 1))
    return [{"row": row, "answer": answer, "prediction": prediction,
             "layers": {"time_share": 0.5, "image_layers": 1, "text_layers": 1, "decoder_layers": 1}}
            for row, answer, prediction in zip(rows, answers, predictions)]


def test_records_in_any_order_are_stored_by_row_and_other_targets_are_refused():
    """A split's records (from shards, in any order) are stored in row order, each value with its
    own row; records of the same rows with other targets (another split) are refused."""
    shuffled = _records(["maybe", "yes", "no", "yes"], ["maybe", "no", "no", "yes"], rows=[3, 1, 4, 2])
    table = add_configuration(None, "snli_ve", {}, FULL_MODEL, shuffled, 1.0, "valid")
    assert (table.rows, table.targets) == ([1, 2, 3, 4], ["yes", "yes", "maybe", "no"])
    assert table.entries[FULL_MODEL]["predictions"] == ["no", "yes", "maybe", "no"]
    assert table.entries[FULL_MODEL]["scores"]["correct"] == [0.0, 1.0, 1.0, 1.0]
    other_split = _records(["yes", "yes", "maybe", "yes"], ["yes"] * 4)
    with pytest.raises(DataError, match="rows of the split differ"):
        add_configuration(table, "snli_ve", {}, SLOW, other_split, 1.0, "valid")


def test_the_full_model_is_the_first_configuration_wherever_its_entry_is():
    """A table whose entries list the full model after another configuration (a merged or
    hand-assembled file) still gives the full model first."""
    entry = {"predictions": ["yes"], "time_share": [1.0], "scores": {"correct": [1.0]}}
    table = CalibrationTable("snli_ve", {}, [1], ["yes"], {SLOW: entry, FULL_MODEL: entry, FAST: entry})
    assert table.configurations == [FULL_MODEL, SLOW, FAST]


def test_a_read_back_table_scores_new_captions_against_its_full_models_captions(tmp_path):
    """A configuration added to a table read back from its file gets the same scores as when the
    table was never saved: ROUGE-L against the full model's captions stored in the table (1 where
    the caption is the full model's), not against the new configuration's own captions."""
    references = [["a red circle", "a red circle on a white background"],
                  ["two blue stars", "a blue star and a blue star"]]

    def records(captions):
        return [{"row": row, "references": refs, "prediction": caption,
                 "layers": {"time_share": 0.5, "image_layers": 1, "text_layers": 1, "decoder_layers": 1}}
                for row, (caption, refs) in enumerate(zip(captions, references), start=1)]

    table = add_configuration(None, "caption", {}, FULL_MODEL, records(["a red circle", "two blue stars"]), 1.0, "valid")
    path = str(tmp_path / "table.json.gz")
    table.save(path)
    cut = records(["a red square", "two blue stars"])
    kept = add_configuration(table, "caption", {}, FAST, cut, 1.0, "valid").entries[FAST]["scores"]
    read_back = add_configuration(CalibrationTable.load(path), "caption", {}, FAST, cut, 1.0, "valid")
    assert read_back.entries[FAST]["scores"] == kept
    rouge = read_back.entries[FAST]["scores"]["rouge_l_full"]
    assert rouge[0] < 1.0 and rouge[1] == 1.0


def test_a_saved_configuration_without_one_value_per_row_is_refused(tmp_path):
    """A table file whose configuration lacks a row's value (a truncated or hand-merged file) is a
    DataError naming the configuration, not a table whose values sit against the wrong rows."""
    import gzip
    import json

    table = add_configuration(None, "snli_ve", {}, FULL_MODEL, _records(["yes", "no"], ["yes", "yes"]), 1.0, "valid")
    add_configuration(table, "snli_ve", {}, SLOW, _records(["yes", "no"], ["no", "no"]), 1.0, "valid")
    path = str(tmp_path / "table.json.gz")
    table.save(path)
    assert CalibrationTable.load(path).entries == table.entries
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    data["configurations"][1]["time_share"].pop()
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(data, handle)
    with pytest.raises(DataError, match="configuration 2 does not have one value per row"):
        CalibrationTable.load(path)


class _GridSetup:
    """An evaluation setup stand-in: a row is answered "yes" when the decoder threshold in effect is
    at least 0.9 (an exit profile, when one is set, overrides the thresholds, as the task does)."""

    def __init__(self, profile_threshold=None):
        self.split = "valid"
        self.task = SimpleNamespace(cfg=SimpleNamespace(_name="snli_ve"))
        self.options = {"exit_profile": "profile.json" if profile_threshold is not None else None}
        self.profile_threshold, self.evaluated = profile_threshold, []

    def set_exit_options(self, **options):
        self.options.update(options)

    def evaluate(self, quick_metrics=False):
        threshold = (self.profile_threshold if self.options["exit_profile"]
                     else self.options["decoder_exit_threshold"])
        self.evaluated.append(threshold)
        prediction = "yes" if threshold >= 0.9 else "no"
        return {"seconds": 1.0, "records": _records(["yes", "yes"], [prediction, prediction])}


def test_the_grid_evaluates_each_missing_configuration_once_with_its_own_thresholds(tmp_path, monkeypatch):
    """evaluate_grid runs the full model first, each configuration with its own thresholds (an exit
    profile of the setup set aside), and given its saved table only the configurations it lacks."""
    from ofa_mue import calibration_table

    monkeypatch.setattr(calibration_table, "evaluation_key", lambda setup: {"split": setup.split})
    path = str(tmp_path / "table.json.gz")
    fast, slow = (NEVER, NEVER, 0.5), (NEVER, NEVER, 0.95)
    setup = _GridSetup(profile_threshold=0.95)
    table = calibration_table.evaluate_grid(setup, [fast], path)
    assert setup.evaluated == [NEVER, 0.5] and setup.options["exit_profile"] is None
    assert table.entries[fast]["predictions"] == ["no", "no"]
    again = _GridSetup()
    table = calibration_table.evaluate_grid(again, [fast, slow], path)
    assert again.evaluated == [0.95], "the full model and 0.5 come from the saved table"
    assert table.configurations == [FULL_MODEL, fast, slow]
    assert CalibrationTable.load(path).entries == table.entries
