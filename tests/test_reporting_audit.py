"""What the reports state about the comparisons they make: MuE's levels against static
truncation counted once per distinct level, the envelope's depth grid named as it was swept,
and the report's one-run wall-clock ratio not called a measured reduction."""
from __future__ import annotations

from itertools import product

import pytest

from ofa_mue import report, sweep
from ofa_mue.paper_tables import mue_vs_static, mue_vs_static_markdown


def _row(curve, reduction, metric, setting="", depths=(0, 0, 0)):
    image, text, decoder = depths
    return {"curve": curve, "expected_time_reduction": reduction, "metric": metric, "setting": setting or curve,
            "exits": "image+text+decoder", "examples": 10,
            "options": {"static_image_layers": image, "static_text_layers": text, "static_decoder_layers": decoder}}


def test_thresholds_with_the_same_exits_are_one_level():
    """Three thresholds that stop at the same layers give one (reduction, quality) point: one level
    above the envelope, which is not "at least 3 levels at or above"."""
    rows = [_row("full", 0.0, 0.9), _row("static", 0.5, 0.7, "a"), _row("static", 0.8, 0.4, "b")]
    rows += [_row("mue", 0.6, 0.7, f"threshold {t}") for t in (0.9, 0.85, 0.8)]
    table, summary = mue_vs_static(rows)
    assert (summary["levels"], summary["strictly_above"]) == (1, 1)
    assert summary["mue_beats_fixed_depth"] is False
    assert [entry["same_as"] for entry in table] == [None, "threshold 0.9", "threshold 0.9"]
    text = mue_vs_static_markdown(table, summary, "accuracy")
    assert "threshold 0.85 (the level of threshold 0.9)" in text
    rows[-1]["metric"] = 0.69  # another quality: another level
    assert mue_vs_static(rows)[1]["levels"] == 2


def test_levels_only_equal_to_the_envelope_do_not_beat_a_fixed_depth():
    """Three levels on the envelope (one of them 1e-12 below it: floating-point rounding, equal)
    and none strictly above: at or above at 3 levels, but the claim needs one strictly above."""
    rows = [_row("full", 0.0, 0.9), _row("static", 0.5, 0.7, "a"), _row("static", 0.8, 0.4, "b"),
            _row("mue", 0.25, 0.8, "t1"), _row("mue", 0.5, 0.7 - 1e-12, "t2"), _row("mue", 0.8, 0.4, "t3")]
    table, summary = mue_vs_static(rows)
    assert [entry["verdict"] for entry in table] == ["equal", "equal", "equal"]
    assert (summary["at_or_above"], summary["strictly_above"], summary["below"]) == (3, 0, 0)
    assert summary["mue_beats_fixed_depth"] is False
    assert "**MuE beats a fixed depth: no** (3 levels" in mue_vs_static_markdown(table, summary, "accuracy")


def test_mue_against_static_markdown_counts_and_cells():
    """The headlines count above, equal and below apart (against the envelope and against the
    depths chosen on valid); each row gives MuE minus the envelope; the calibrated point is no level."""
    rows = [_row("full", 0.0, 0.9), _row("static", 0.5, 0.7, "a"), _row("mue", 0.5, 0.75, "t1"),
            _row("mue", 0.5, 0.7, "t2"), _row("mue_given", 0.5, 0.65, "calibrated")]
    table, summary = mue_vs_static(rows, [_row("full", 0.0, 1.0), _row("static", 0.5, 0.8, "a")], "valid")
    text = mue_vs_static_markdown(table, summary, "accuracy")
    assert "(2 levels of MuE's sweep with a non-zero expected reduction: 1 above static truncation's envelope, " \
           "1 equal, 0 below;" in text
    assert "**Against static truncation chosen on valid: MuE beats a fixed depth: no** (2 levels: 1 above, " \
           "1 equal, 0 below)." in text
    envelope_row, held_out_row = [_cells(line) for line in text.splitlines() if line.startswith("| t1 ")]
    assert envelope_row[1:6] == ["50.0%", "0.7500", "0.7000", "+0.0500", "above"]
    assert held_out_row[1:7] == ["50.0%", "0.7500", "0.7000", "50.0%", "+0.0500", "above"]
    assert "| calibrated (not a level) |" in text


def _grid_rows(depths, encoder_layers, decoder_layers):
    rows = [_row("full", 0.0, 0.9)]
    for image, text, decoder in product(*depths):
        if (image, text, decoder) != (encoder_layers, encoder_layers, decoder_layers):
            cut = (image % encoder_layers, text % encoder_layers, decoder % decoder_layers)  # full depth: 0
            rows.append(_row("static", 0.1 * (image + text + decoder), 0.5, f"{image}/{text}/{decoder}", cut))
    return rows + [_row("mue", 0.3, 0.6, "threshold 0.9")]


def test_the_envelope_names_the_depth_grid_it_was_built_from():
    """A grid of depths 1 and 3 on a 3-layer model is 8 of the 27 combinations: not "all 8"."""
    rows = _grid_rows(([1, 3], [1, 3], [1, 3]), 3, 3)
    table, summary = mue_vs_static(rows, model_depths=(3, 3))
    assert summary["static_settings"] == 8 and summary["every_depth"] is False
    assert summary["static_depths"] == {"image": [1, 3], "text": [1, 3], "decoder": [1, 3]}
    text = mue_vs_static_markdown(table, summary, "accuracy")
    assert "all 8" not in text and "image 1, 3; text 1, 3; decoder 1, 3: not every depth of the model" in text
    assert "all 8" not in mue_vs_static_markdown(*mue_vs_static(rows), "accuracy")  # depths unknown: no claim

    # every depth of each part, but cut one part at a time: 4 of the 8 combinations, not all of them
    one_at_a_time = [_row("full", 0.0, 0.9), _row("static", 0.2, 0.5, "image 1", (1, 0, 0)),
                     _row("static", 0.4, 0.5, "text 1", (0, 1, 0)), _row("static", 0.6, 0.5, "decoder 1", (0, 0, 1)),
                     _row("mue", 0.3, 0.6, "threshold 0.9")]
    table, summary = mue_vs_static(one_at_a_time, model_depths=(2, 2))
    assert summary["static_depths"] == {"image": [1, 2], "text": [1, 2], "decoder": [1, 2]}
    assert summary["every_depth"] is False and "all 4" not in mue_vs_static_markdown(table, summary, "accuracy")

    rows = _grid_rows(([1, 2], [1, 2], [1]), 2, 1)
    table, summary = mue_vs_static(rows, model_depths=(2, 1))
    assert summary["every_depth"] is True
    assert "all 4 image/text/decoder depth combinations (every depth of each part)" in mue_vs_static_markdown(
        table, summary, "accuracy")


def test_report_does_not_call_one_run_each_a_measured_reduction():
    """The report's ratio of two evaluation runs' seconds (one each, data loading included, no
    warm-up) is labelled as such, not as the timing protocol's measured reduction."""
    layers = {"expected_time_reduction": 0.5, "image_layers": 2.0, "text_layers": 1.0, "decoder_layers": 3.0}
    full = {"metrics": {"accuracy": 0.8}, "seconds": 10.0, "examples": 4}
    mue = {"metrics": {"accuracy": 0.79}, "seconds": 6.0, "examples": 4, "layers": layers,
           "exit_policy": {"image": 0.9, "text": 0.95, "decoder": 0.95}}
    text = report.table({"snli_ve": report.task_summary("snli_ve", full, mue=mue)})
    assert "measured time reduction" not in text
    assert "| wall-clock reduction (one run each) |" in text and "| 50.0% | 40.0% |" in text
    assert "not a measured reduction" in text


def _cells(line: str) -> list:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_report_table_puts_each_figure_under_its_own_column():
    """The MuE row's figures sit under their headers: the layer column reads image / text /
    decoder in that order (a stream that exits early is not credited to the other)."""
    layers = {"expected_time_reduction": 0.5, "image_layers": 2.0, "text_layers": 1.0, "decoder_layers": 3.0}
    full = {"metrics": {"accuracy": 0.8}, "seconds": 10.0, "examples": 4}
    mue = {"metrics": {"accuracy": 0.79}, "seconds": 6.0, "examples": 4, "layers": layers,
           "exit_policy": {"image": 0.9, "text": 0.95, "decoder": 0.95}}
    lines = report.table({"snli_ve": report.task_summary("snli_ve", full, mue=mue)}).splitlines()
    header = _cells(next(line for line in lines if line.startswith("| model |")))
    row = _cells(next(line for line in lines if line.startswith("| MuE |")))
    assert dict(zip(header, row)) == {"model": "MuE", "accuracy": "0.7900", "expected time reduction": "50.0%",
                                      "wall-clock reduction (one run each)": "40.0%",
                                      "image / text / decoder layers": "2.00 / 1.00 / 3.00"}


def test_report_caption_retention_is_cider_and_each_run_has_its_own_thresholds_and_guarantee():
    """Captions keep CIDEr (0.9 / 1.2 = 75%, not BLEU-4's 90%); a threshold of 1.0 is a threshold and
    one above 1 is "off"; each MuE run's line states its own guarantee."""
    layers = {"expected_time_reduction": 0.5, "image_layers": 2.0, "text_layers": 1.0, "decoder_layers": 3.0}
    full = {"metrics": {"bleu4": 0.4, "meteor": 0.3, "rouge_l": 0.5, "cider": 1.2}, "seconds": 10.0, "examples": 4}
    failed = {"certified": False, "calibration_rows": 9, "delta": 0.1, "loss": "cider", "epsilon": 0.05}
    mue = {"metrics": {"bleu4": 0.36, "meteor": 0.3, "rouge_l": 0.5, "cider": 0.9}, "seconds": 6.0, "examples": 4,
           "layers": layers, "exit_policy": {"image": 0.9, "text": 1.0, "decoder": 2.0},
           "exit_profile": {"guarantee": failed}}
    uncertified = {**mue, "exit_policy": {"image": 0.8, "text": 0.95, "decoder": 0.9}, "exit_profile": {}}
    text = report.table({"caption": report.task_summary("caption", full, mue=mue, mue_retention=uncertified)})
    assert "MuE keeps 75.0% of the full model's cider." in text
    assert ("MuE thresholds image 0.9 / text 1 / decoder off: no configuration passed: none is certified to keep "
            "the expected cider loss at most 0.05 with probability 90% from 9 calibration rows, so every exit is "
            "off.") in text
    assert ("MuE (uncertified) thresholds image 0.8 / text 0.95 / decoder 0.9: no guarantee (the thresholds do not "
            "come from a certified calibration).") in text


def test_report_refuses_runs_scored_on_different_rows():
    full = {"metrics": {"accuracy": 0.8}, "seconds": 10.0, "examples": 4}
    mue = {"metrics": {"accuracy": 0.9}, "seconds": 6.0, "examples": 3}
    with pytest.raises(ValueError, match="snli_ve: the full model scored 4 examples but mue 3"):
        report.task_summary("snli_ve", full, mue=mue)


def test_depths_apply_to_each_part_that_has_them():
    """``--depths`` on a model whose encoder is deeper than its decoder (``ofa_huge``: 24 and 12):
    the encoder takes depths the decoder does not have; a depth no part has is refused."""
    from ofa_mue.errors import ConfigError
    from ofa_mue.sweep import parse_depths

    image, text, decoder = parse_depths("6,12,18", 24, 12)
    assert image == text == [6, 12, 18, 24] and decoder == [6, 12]
    assert parse_depths("2,4", 6, 6) == ([2, 4, 6], [2, 4, 6], [2, 4, 6])
    with pytest.raises(ConfigError, match=r"--depths 25 is deeper than the model's encoder \(24 layers\) and decoder"):
        parse_depths("6,25", 24, 12)


def test_sweep_points_set_the_exits_each_curve_names():
    """MuE's decoder-only form exits in the decoder only; the baselines' encoder exits are MuE's image and
    text thresholds, each on its own stream; a static point runs each part it does not cut in full (0)."""
    from types import SimpleNamespace

    from ofa_mue.core.exit_policy import NEVER, MuEThresholds
    from ofa_mue.sweep import given_encoder_thresholds, policy_points, static_grid

    setup = SimpleNamespace(task=SimpleNamespace(exit_policy=lambda: MuEThresholds(image=0.8, text=0.9)))
    assert given_encoder_thresholds(setup) == (0.8, 0.9)
    points = {(p.curve, p.setting): p.options for p in policy_points([0.95], [0.1], [1], (0.8, 0.9))}
    decoder_only = points[("mue_decoder", "decoder threshold 0.95")]
    assert (decoder_only["image_exit_threshold"], decoder_only["text_exit_threshold"]) == (NEVER, NEVER)
    assert decoder_only["decoder_exit_threshold"] == 0.95
    entropy = points[("entropy_encoder", "entropy 0.1")]
    assert (entropy["image_exit_threshold"], entropy["text_exit_threshold"]) == (0.8, 0.9)
    (point,) = static_grid(([2], [6], [6]), encoder_layers=6, decoder_layers=6)
    assert (point.options["static_image_layers"], point.options["static_text_layers"],
            point.options["static_decoder_layers"]) == (2, 0, 0)


def test_sweep_refuses_another_exit_policy_than_mues(ofa_vocab):
    """The sweep runs entropy, patience and static itself; ``--exit-policy entropy`` (with MuE's encoder
    thresholds) was dropped without a word, and its encoder thresholds with it."""
    from argparse import Namespace
    from types import SimpleNamespace

    from ofa_mue.errors import ConfigError
    from ofa_mue.sweep import grid_points
    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

    task = SnliVeTask(SnliVeConfig(exit_policy="entropy", image_exit_threshold=0.9), ofa_vocab)
    model = SimpleNamespace(encoder=SimpleNamespace(num_layers=2), decoder=SimpleNamespace(num_layers=2))
    args = Namespace(thresholds="0.9", entropies="0.5", patiences="1", depths="1")
    with pytest.raises(ConfigError, match="--exit-policy entropy: the sweep runs the entropy, patience and static"):
        grid_points(SimpleNamespace(task=task, models=[model]), args)


def test_a_sweep_row_keeps_each_parts_layers_and_its_own_metric():
    """A sweep row (one setting evaluated on the whole split) carries the split's image, text and
    decoder layers each under its own name, the expected time reduction and the task's main metric:
    a stream's depth credited to another would move the setting on every plot and table."""
    layers = {"expected_time_reduction": 0.4, "image_layers": 5.0, "text_layers": 2.0, "decoder_layers": 3.5}
    result = {"metrics": {"accuracy": 0.7, "bleu4": 0.1}, "layers": layers, "examples": 9, "records": []}
    row = sweep.point_row({"curve": "mue", "setting": "threshold 0.9"}, result, "accuracy")
    assert (row["image_layers"], row["text_layers"], row["decoder_layers"]) == (5.0, 2.0, 3.5)
    assert (row["metric"], row["expected_time_reduction"], row["examples"]) == (0.7, 0.4, 9)
    assert row["curve"] == "mue" and row["metrics"] == result["metrics"]
