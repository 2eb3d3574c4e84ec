"""The sweep's grid, curves and tables, the paper's tables, Figure 3 and the FLOPs count on
controlled inputs (no model, no training): every setting of the grid is there once, each
figure sits under its own column or legend, each curve is labelled by the parts that exit in
it, and the full-depth reference runs every layer of the decoder for every token."""
from __future__ import annotations

from argparse import ArgumentParser, Namespace
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from ofa_mue import paper_tables, reproduce, saturation, sweep
from ofa_mue.core.exit_policy import NEVER, MuEThresholds
from ofa_mue.core.flops import ModelShape, at_full_depth, example_flops
from ofa_mue.core.time_reduction import ExampleLayers
from ofa_mue.errors import ConfigError
from test_reporting_audit import _cells

ALL = "image+text+decoder"


def _markdown_rows(text: str) -> list:
    """The rows of the first markdown table in ``text`` as {header: cell} dicts."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = _cells(lines[0])
    return [dict(zip(header, _cells(line))) for line in lines[2:]]


def _capture(monkeypatch, module) -> list:
    """The figures ``module`` saves, kept open instead of written."""
    figures = []
    monkeypatch.setattr(module, "save_figure", lambda figure, path, record: figures.append(figure))
    return figures


# ---- the sweep's grid ---------------------------------------------------------------------
def test_static_grid_is_every_depth_combination_but_the_full_models():
    """Depths 1 and 2 of a 2-layer encoder and decoder: 8 combinations, the full model's left out
    (evaluated as the full model), each part at full depth run in full (0); the default depths are
    each part's every depth; a depth equal to the deepest part's is not 'deeper than the model'."""
    points = sweep.static_grid(([1, 2], [1, 2], [1, 2]), encoder_layers=2, decoder_layers=2)
    depths = [(p.options["static_image_layers"], p.options["static_text_layers"],
               p.options["static_decoder_layers"]) for p in points]
    assert depths == [(1, 1, 1), (1, 1, 0), (1, 0, 1), (1, 0, 0), (0, 1, 1), (0, 1, 0), (0, 0, 1)]
    assert [points[3].setting, points[-1].setting] == ["image 1 / text 2 / decoder 2", "image 2 / text 2 / decoder 1"]
    assert all(p.curve == "static" and p.options["exit_policy"] == "static" and not p.timed for p in points)
    assert sweep.parse_depths(None, 3, 2) == ([1, 2, 3], [1, 2, 3], [1, 2])
    assert sweep.parse_depths("24", 24, 12) == ([24], [24], [12])
    assert sweep.parse_depths("12", 6, 12) == ([6], [6], [12])
    with pytest.raises(ConfigError):
        sweep.parse_depths("13", 6, 12)


def test_a_depth_below_one_is_refused():
    """A static depth of 0 is the static policy's 'off' (run in full): ``--depths 0`` would add rows
    named depth 0 that ran the whole part; it is refused, as a negative depth is."""
    for depths in ("0,2", "-1"):
        with pytest.raises(ConfigError, match="at least 1"):
            sweep.parse_depths(depths, 6, 6)


def _setup(given: MuEThresholds, encoder_layers=2, decoder_layers=4):
    cfg = SimpleNamespace(exit_policy="mue", exit_profile=None, image_exit_threshold=given.image,
                          text_exit_threshold=given.text, decoder_exit_threshold=given.decoder)
    task = SimpleNamespace(cfg=cfg, exit_policy=lambda *model: given)
    model = SimpleNamespace(encoder=SimpleNamespace(num_layers=encoder_layers),
                            decoder=SimpleNamespace(num_layers=decoder_layers))
    return SimpleNamespace(task=task, models=[model])


def test_grid_points_take_every_patience_below_the_decoder_depth_and_name_the_given_point():
    """Default patiences 1 .. decoder depth - 1 (a patience of the whole depth never exits), in both
    forms; the given operating point's setting names each threshold, a threshold of 1 included
    (it exits), and 'off' for one above 1."""
    setup = _setup(MuEThresholds(image=0.8, text=NEVER, decoder=1.0))
    args = Namespace(thresholds="0.9", entropies="", patiences=None, depths="1")
    points = sweep.grid_points(setup, args)
    for curve in ("patience", "patience_encoder"):
        assert [p.options["patience_exit_layers"] for p in points if p.curve == curve] == [1, 2, 3], curve
    (given,) = [p for p in points if p.curve == "mue_given"]
    assert given.setting == "given: image 0.8 / text off / decoder 1"
    assert (given.options["image_exit_threshold"], given.options["decoder_exit_threshold"]) == (0.8, 1.0)
    assert sum(p.curve == "static" for p in points) == 2 * 2 * 2 - 1  # depths 1 and each part's full depth


def test_policy_points_give_each_curve_its_own_exit_options():
    """MuE's curve sets the image, text and decoder thresholds alike; the entropy and patience
    baselines' encoder forms carry MuE's given (image, text) encoder thresholds, their
    decoder-only forms none."""
    points = sweep.policy_points([0.9], entropies=[0.1], patiences=[2], encoder=(0.8, 0.7))
    options = {p.curve: p.options for p in points}
    assert [options["mue"][f"{part}_exit_threshold"] for part in ("image", "text", "decoder")] == [0.9] * 3
    for curve, encoder in (("entropy", (NEVER, NEVER)), ("patience", (NEVER, NEVER)),
                           ("entropy_encoder", (0.8, 0.7)), ("patience_encoder", (0.8, 0.7))):
        assert (options[curve]["image_exit_threshold"], options[curve]["text_exit_threshold"]) == encoder, curve
    assert (options["entropy_encoder"]["entropy_exit_threshold"], options["patience_encoder"]["patience_exit_layers"],
            options["patience_encoder"]["exit_policy"]) == (0.1, 2, "patience")


def test_baselines_get_encoder_forms_only_when_mues_encoder_exits_are_given():
    """Given MuE thresholds that exit in the decoder only, the entropy and patience baselines run in
    their decoder-only form only: no curve labelled '+ MuE encoder exits' without encoder exits."""
    args = Namespace(thresholds="0.9", entropies="0.1", patiences="2", depths="1")
    curves = {p.curve for p in sweep.grid_points(_setup(MuEThresholds(image=NEVER, text=NEVER, decoder=0.9)), args)}
    assert {"entropy", "patience"} <= curves and not curves & {"entropy_encoder", "patience_encoder"}
    curves = {p.curve for p in sweep.grid_points(_setup(MuEThresholds(image=0.8, text=NEVER, decoder=0.9)), args)}
    assert {"entropy_encoder", "patience_encoder"} <= curves


def test_the_given_operating_point_keeps_each_parts_threshold():
    """MuE's given operating point is evaluated at the image, text and decoder thresholds given,
    each its own (the setting's name and its options agree)."""
    setup = _setup(MuEThresholds(image=0.8, text=0.7, decoder=0.9))
    (given,) = [p for p in sweep.grid_points(setup, Namespace(thresholds="", entropies="", patiences="", depths="1"))
                if p.curve == "mue_given"]
    assert given.setting == "given: image 0.8 / text 0.7 / decoder 0.9"
    assert [given.options[f"{part}_exit_threshold"] for part in ("image", "text", "decoder")] == [0.8, 0.7, 0.9]


def test_grid_points_refuse_an_exit_policy_other_than_mues():
    """The sweep runs the entropy, patience and static policies itself: a command line that picks
    one of them as --exit-policy is refused instead of sweeping MuE's thresholds under its name."""
    setup = _setup(MuEThresholds(image=0.8, text=NEVER, decoder=1.0))
    setup.task.cfg.exit_policy = "entropy"
    with pytest.raises(ConfigError, match="--exit-policy entropy"):
        sweep.grid_points(setup, Namespace(thresholds="0.9", entropies="", patiences=None, depths="1"))


# ---- the sweep's table, labels and figure ------------------------------------------------
def _sweep_row(curve, setting, reduction, metric, exits, layers=(1.5, 2.5, 3.5)):
    return {"curve": curve, "setting": setting, "exits": exits, "metric": metric,
            "expected_time_reduction": reduction, "examples": 5,
            **dict(zip(paper_tables.LAYER_COLUMNS, layers))}


def _sweep_rows():
    return [_sweep_row("full", "-", 0.0, 0.9, "none"),
            _sweep_row("mue", "threshold 0.8", 0.5, 0.8, ALL),
            _sweep_row("mue", "threshold 0.9", 0.3, 0.85, ALL),
            _sweep_row("mue_decoder", "decoder threshold 0.9", 0.2, 0.87, "decoder"),
            _sweep_row("entropy", "entropy 0.1", 0.25, 0.8, "decoder"),
            _sweep_row("static", "image 1 / text 2 / decoder 2", 0.4, 0.6, "image"),
            _sweep_row("static", "image 2 / text 2 / decoder 1", 0.6, 0.3, "decoder")]


def test_curve_labels_name_the_parts_that_exit_in_that_curve_only():
    rows = _sweep_rows()
    assert sweep.curve_label(rows, "mue") == f"MuE (exits: {ALL})"
    assert sweep.curve_label(rows, "mue_decoder") == "MuE (exits: decoder)"
    assert sweep.curve_label(rows, "entropy") == "DeeBERT (entropy) (exits: decoder)"
    # a curve whose points exit different parts lists them shortest first, ties alphabetically (one
    # legend whatever the process's string hashing)
    mixed = [{"curve": "mue", "exits": parts} for parts in ("text", "image+text", "none", "decoder")]
    assert sweep.curve_label(mixed, "mue") == "MuE (exits: none, text, decoder, image+text)"


def test_tradeoff_figure_builds_the_static_envelope_from_the_full_model_and_the_grid(monkeypatch):
    """The static grid's envelope starts at the full model (no saving, full quality); each policy
    curve is drawn in order of its expected reduction under its own label."""
    figures = _capture(monkeypatch, sweep)
    sweep.plot_tradeoff(_sweep_rows(), "accuracy", "title", "unused.png", {})
    (figure,) = figures
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    envelope = lines[sweep.STATIC_ENVELOPE_LABEL]
    assert (list(envelope.get_xdata())[0], list(envelope.get_ydata())[0]) == (0.0, 0.9)
    mue = lines[f"MuE (exits: {ALL})"]
    assert list(mue.get_xdata()) == [30.0, 50.0] and list(mue.get_ydata()) == [0.85, 0.8]
    assert list(lines["MuE (exits: decoder)"].get_xdata()) == [20.0]
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert "static truncation: image/text/decoder depth grid (2 settings)" in labels
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_sweep_markdown_puts_each_figure_under_its_column_and_flags_a_busy_machine():
    row = {**_sweep_row("mue", "threshold 0.9", 0.3, 0.85, ALL), "measured_reduction": 0.2,
           "measured_reduction_q1": 0.1, "measured_reduction_q3": 0.3}
    (cells,) = _markdown_rows(sweep.sweep_markdown([row], "accuracy", None))
    assert cells == {"policy": "MuE", "exits in": ALL, "setting": "threshold 0.9", "accuracy": "0.8500",
                     "expected time reduction": "30.0%", "measured reduction [q1, q3]": "20.0% [10.0%, 30.0%]",
                     "image layers": "1.50", "text layers": "2.50", "decoder layers": "3.50"}
    timing = {"load_average_before": [3.0, 2.0, 1.0], "load_average_after": [1.0, 1.0, 1.0], "usable_cores": 2,
              "repetitions": 5, "warmup": 1, "rows": 10}
    assert "The machine was busy while timing" in sweep.timing_note(timing)
    quiet = {**timing, "load_average_before": [1.0, 3.0, 3.0], "load_average_after": [3.0, 3.0, 3.0]}
    assert "busy" not in sweep.timing_note(quiet)


# ---- the paper's tables -------------------------------------------------------------------
def _static(image, text, decoder, metric, reduction):
    """A static row on a 2-layer encoder and decoder (full depth given as 0)."""
    return {"curve": "static", "setting": f"{image}/{text}/{decoder}", "metric": metric,
            "expected_time_reduction": reduction,
            "options": {"static_image_layers": image % 2, "static_text_layers": text % 2,
                        "static_decoder_layers": decoder % 2}}


def test_table2_crosses_image_rows_with_text_columns_with_the_decoder_in_full():
    rows = [{"curve": "full", "setting": "-", "metric": 0.9, "expected_time_reduction": 0.0, "options": {}},
            _static(1, 2, 2, 0.6, 0.2), _static(2, 1, 2, 0.7, 0.1), _static(1, 1, 2, 0.5, 0.3),
            _static(1, 1, 1, 0.1, 0.6)]  # the decoder cut: not in Table 2
    table = paper_tables.table2(rows, encoder_layers=2, decoder_layers=2)
    assert [(e["image_layers"], e["text_layers"], e["metric"]) for e in table] == [
        (1, 1, 0.5), (1, 2, 0.6), (2, 1, 0.7), (2, 2, 0.9)]
    cells = {row[""]: row for row in _markdown_rows(paper_tables.table2_markdown(table, "accuracy"))}
    assert cells["image 1"] == {"": "image 1", "text 1": "0.5000 (30.0%)", "text 2": "0.6000 (20.0%)"}
    assert cells["image 2"] == {"": "image 2", "text 1": "0.7000 (10.0%)", "text 2": "0.9000 (0.0%)"}


def _table_row(curve, setting, reduction, metric, exits=ALL):
    return {**_sweep_row(curve, setting, reduction, metric, exits, (1.0, 2.0, 3.0)), "options": {}}


def test_table1_breaks_a_quality_tie_by_the_larger_saving_and_puts_figures_under_their_columns():
    rows = [_table_row("full", "-", 0.0, 0.8, "none"), _table_row("mue_given", "profile", 0.5, 0.6),
            _table_row("entropy", "entropy 0.4", 0.6, 0.7, "decoder"),
            _table_row("entropy", "entropy 0.8", 0.7, 0.7, "decoder")]
    points = paper_tables.table1_points(rows)
    assert [row["setting"] for row, _ in points] == ["-", "profile", "entropy 0.8"]
    table = paper_tables.table1(points, ["accuracy"], lambda row: {"accuracy": row["metric"]})
    text = paper_tables.table1_markdown(table, ["accuracy"], "accuracy", None)
    mue = next(row for row in _markdown_rows(text) if row["setting"] == "profile")
    assert mue == {"method": "MuE, operating point", "exits in": ALL, "setting": "profile", "accuracy": "0.6000",
                   "accuracy kept": "75.0%", "expected time reduction": "50.0%", "measured reduction [q1, q3]": "-",
                   "layers image / text / decoder": "1.00 / 2.00 / 3.00",
                   "operating point": "calibrated on the validation split (exit profile)"}


def test_table4_gives_the_full_models_and_mues_metric_each_in_its_column():
    entries = [{"variant": "MuE", "full_metric": 0.9, "metric": 0.8, "retention": 0.8 / 0.9,
                "expected_time_reduction": 0.4, "image_layers": 1.0, "text_layers": 2.0, "decoder_layers": 3.0,
                "inference": "as trained"},
               {"variant": "without the layer-wise loss", "inference": "not run (no checkpoint given)"}]
    done, skipped = _markdown_rows(paper_tables.table4_markdown(entries, "accuracy"))
    assert done == {"variant": "MuE", "full model accuracy": "0.9000", "MuE accuracy": "0.8000", "kept": "88.9%",
                    "expected time reduction": "40.0%", "layers image / text / decoder": "1.00 / 2.00 / 3.00",
                    "how it runs": "as trained"}
    assert skipped["how it runs"] == "not run (no checkpoint given)" and skipped["MuE accuracy"] == "-"


def test_table1_has_each_swept_baseline_with_its_own_saving_and_layers():
    """One row per baseline that was swept, in Table 1's order, each with the expected reduction
    and mean layers of its own setting; a metric the evaluation did not give is '-'."""
    curves = ["mue_decoder", "entropy", "entropy_encoder", "patience", "patience_encoder", "static"]
    rows = [_table_row("full", "-", 0.0, 0.8, "none"), _table_row("mue_given", "profile", 0.5, 0.6),
            *({**_table_row(curve, curve, 0.5 + 0.05 * index, 0.5), "image_layers": float(index)}
              for index, curve in enumerate(curves))]
    table = paper_tables.table1(paper_tables.table1_points(rows), ["accuracy", "bleu"],
                                lambda row: {"accuracy": row["metric"]})
    assert [entry["curve"] for entry in table] == ["full", "mue_given", *curves]
    assert [entry["expected_time_reduction"] for entry in table[2:]] == pytest.approx(
        [0.5 + 0.05 * index for index in range(len(curves))])
    assert [entry["image_layers"] for entry in table[2:]] == [float(index) for index in range(len(curves))]
    cells = _markdown_rows(paper_tables.table1_markdown(table, ["accuracy", "bleu"], "accuracy", None))[-1]
    assert (cells["setting"], cells["accuracy"], cells["bleu"], cells["accuracy kept"]) == (
        "static", "0.5000", "-", "62.5%")
    assert (cells["expected time reduction"], cells["layers image / text / decoder"]) == ("75.0%", "5.00 / 2.00 / 3.00")


def test_table3_puts_each_figure_under_its_column():
    """Table 3's markdown: the parts that exit, the setting, the metric, the share of the full
    model's metric kept and the expected time reduction, each under its own header."""
    rows = [_table_row("full", "-", 0.0, 0.8, "none"),
            {**_table_row("mue_decoder", "decoder threshold 0.9", 0.3, 0.6, "decoder"),
             "options": {"decoder_exit_threshold": 0.9}}]
    (cells,) = _markdown_rows(paper_tables.table3_markdown(paper_tables.table3(rows), "accuracy"))
    assert cells == {"exits in": "decoder", "setting": "decoder threshold 0.9", "accuracy": "0.6000",
                     "accuracy kept": "75.0%", "expected time reduction": "30.0%",
                     "layers image / text / decoder": "1.00 / 2.00 / 3.00"}


# ---- reproduce's own steps ------------------------------------------------------------------
def test_reproduce_adds_its_overrides_to_the_given_ones_and_refuses_any_form_of_gen_subset():
    assert eval(reproduce.with_overrides("{'decompose_modalities': False, 'beam': 3}", reproduce.DECOMPOSED)) == {
        "decompose_modalities": True, "beam": 3}
    assert eval(reproduce.with_overrides("", {"a": 1})) == {"a": 1}
    for calibrate_args in ("--gen-subset test", "--gen-subset=test"):
        with pytest.raises(ConfigError, match="--calibration-subset, not --gen-subset"):
            reproduce.refuse_calibrating_on_the_evaluated_split(
                Namespace(calibrate_args=calibrate_args, calibration_subset="valid"), "test")


EXITS_OFF = {"exit_verify": False, "num_shards": 1, "image_exit_threshold": NEVER, "text_exit_threshold": NEVER,
             "decoder_exit_threshold": NEVER, "static_image_layers": 0, "static_text_layers": 0,
             "static_decoder_layers": 0, "exit_policy": "mue"}


@pytest.mark.parametrize("given, refused", [
    pytest.param({"num_shards": 2}, "--num-shards: reproduce runs on one machine", id="num_shards"),
    pytest.param({"static_image_layers": 1}, "--static-image-layers: reproduce sets", id="static_image_layers"),
    pytest.param({"static_text_layers": 1}, "--static-text-layers: reproduce sets", id="static_text_layers"),
    pytest.param({"static_decoder_layers": 1}, "--static-decoder-layers: reproduce sets", id="static_decoder_layers"),
    pytest.param({"exit_policy": "static"}, "--exit-policy: reproduce sets", id="exit_policy"),
])
def test_reproduce_refuses_each_exit_option_it_would_not_honour(given, refused):
    """reproduce sets every exit option of every setting itself (and times them on one machine):
    each one given for evaluation is refused, not silently overridden."""
    reproduce.refuse_exit_options(Namespace(**EXITS_OFF))  # none given
    with pytest.raises(ConfigError, match=refused):
        reproduce.refuse_exit_options(Namespace(**{**EXITS_OFF, **given}))


def test_reproduce_calibrates_on_the_calibration_split_as_the_variant_is_evaluated(monkeypatch):
    """The calibration is run on --calibration-subset even where the evaluation options name the
    evaluated split (argparse keeps an option's last value), with the variant's model overrides
    and with its table beside its profile."""
    from ofa_mue import calibrate

    called = []
    monkeypatch.setattr(calibrate, "main", called.append)
    rest = ["data", "--task", "snli_ve", "--gen-subset", "test"]
    args = Namespace(calibration_subset="valid", calibrate_args="--method retention")
    assert reproduce.calibrated_profile(rest, "joint.pt", "out/joint.json", args, "{'decompose_modalities': True}",
                                        own_table=True) == "out/joint.json"
    last_wins = ArgumentParser()
    for option in ("--gen-subset", "--path", "--model-overrides", "--profile-path", "--table-path", "--method"):
        last_wins.add_argument(option)
    (argv,) = called
    parsed, _ = last_wins.parse_known_args(argv)
    assert (parsed.gen_subset, parsed.path, parsed.model_overrides, parsed.profile_path, parsed.table_path,
            parsed.method) == ("valid", "joint.pt", "{'decompose_modalities': True}", "out/joint.json",
                               calibrate.default_table_path("out/joint.json"), "retention")


def test_static_grid_on_another_split_keeps_the_full_model(monkeypatch):
    """--static-chosen-on evaluates the full model and every static point there (the held-out
    envelope starts at the full model, as the evaluated split's does), and no policy point."""
    loaded = []
    monkeypatch.setattr(reproduce, "load", lambda rest, checkpoint: loaded.append((rest, checkpoint)) or "setup")
    monkeypatch.setattr(reproduce, "evaluate_points", lambda setup, points, desc: [p.curve for p in points])
    points = [*sweep.policy_points([0.9], [0.1], [1]),
              *sweep.static_grid(([1, 2], [2], [2]), encoder_layers=2, decoder_layers=2)]
    assert reproduce.static_rows_on(None, [], "a.pt", points) is None
    assert reproduce.static_rows_on("valid", ["data"], "a.pt", points) == ["full", "static"]
    assert loaded == [(["data", "--gen-subset", "valid"], "a.pt")]


# ---- Figure 3 ------------------------------------------------------------------------------
def _probe(encoder_layers=1, decoder_layers=2):
    return saturation.LayerSimilarityProbe(SimpleNamespace(
        encoder=SimpleNamespace(num_layers=encoder_layers), decoder=SimpleNamespace(num_layers=decoder_layers)))


def test_decoder_step_is_measured_with_its_own_positions_padding():
    """An incremental step's token is the last position of the self-attention padding mask, and a
    teacher-forced pass's tokens are all of them; a layer that ran on a subset is refused."""
    probe = _probe()
    generator = torch.Generator().manual_seed(5)
    x_in, x_out = torch.randn(3, 1, 4, generator=generator), torch.randn(3, 1, 4, generator=generator)
    padding = torch.tensor([[True, False, False], [False, False, True], [False, True, False]])
    probe._decoder_hook(1)(None, (x_in,), {"self_padding_mask": padding}, (x_out,))
    (values,) = probe.values["decoder"][1]
    assert torch.allclose(values, F.cosine_similarity(x_in, x_out, dim=-1)[[0, 2], 0])
    full_in, full_out = torch.randn(3, 3, 4, generator=generator), torch.randn(3, 3, 4, generator=generator)
    probe._decoder_hook(0)(None, (full_in,), {"self_padding_mask": padding}, (full_out,))
    assert torch.allclose(probe.values["decoder"][0][0], F.cosine_similarity(full_in, full_out, dim=-1)[~padding])
    with pytest.raises(RuntimeError, match="exits off"):
        probe._decoder_hook(0)(None, (full_in,), {"active": torch.ones(3, 3, dtype=torch.bool)}, (full_out,))


def test_figure3_draws_each_parts_band_and_every_threshold_that_can_exit(monkeypatch):
    """A threshold of 1 exits (only above 1 is off) and is drawn; the band spans the 10th to the
    90th percentile of each layer; the decoder's panel counts tokens, the encoder's samples."""
    figures = _capture(monkeypatch, saturation)

    def row(part, layer, base):
        return {"part": part, "layer": layer, "count": 7, "mean": base, "std": 0.01, "p10": base - 0.05,
                "median": base, "p90": base + 0.04}

    rows = [row("image", 1, 0.5), row("image", 2, 0.7), row("text", 1, 0.6), row("decoder", 1, 0.8)]
    saturation.plot_similarity(rows, "title", "unused.png", {},
                               {"image": (0.9, 0.9), "text": (NEVER, NEVER), "decoder": (1.0, 1.0)})
    saturation.plot_similarity(rows, "title", "unused.png", {},
                               {"image": (NEVER, NEVER), "text": (0.8, 0.8), "decoder": (0.905, 0.873)})
    figure, decaying = figures
    image, text, decoder = figure.axes[:3]
    dashed = {axis.get_title().split(" ")[0]: [list(line.get_ydata()) for line in axis.get_lines()
                                               if line.get_linestyle() == "--"] for axis in (image, text, decoder)}
    assert dashed == {"image": [[0.9, 0.9]], "text": [], "decoder": [[1.0, 1.0]]}
    # a decaying decoder threshold: a band from its last to its first value, named as decaying
    spans = [patch for patch in decaying.axes[2].patches if "decaying" in patch.get_label()]
    assert len(spans) == 1 and not [line for line in decaying.axes[2].get_lines() if line.get_linestyle() == "--"]
    heights = spans[0].get_path().transformed(spans[0].get_patch_transform()).vertices[:, 1]
    assert (min(heights), max(heights)) == (pytest.approx(0.873), pytest.approx(0.905))
    assert spans[0].get_label() == "MuE threshold, decaying: 0.905 (first token) to 0.873 (last)"
    assert decoder.get_title() == "decoder (7 tokens per layer)" and image.get_title() == "image (7 samples per layer)"
    band = image.collections[0].get_paths()[0].vertices[:, 1]
    assert min(band) == pytest.approx(0.45) and max(band) == pytest.approx(0.74)
    import matplotlib.pyplot as plt

    plt.close(figure)
    plt.close(decaying)


# ---- FLOPs -------------------------------------------------------------------------------------
SHAPE = ModelShape(dim=4, ffn=8, encoder_layers=2, decoder_layers=3, vocab=10, image_channels=5, decomposed=True,
                   backbone_flops=100)


def test_each_streams_exit_tests_are_counted_over_its_own_tokens():
    """16 image tokens tested twice, 7 text tokens never; 3 decoder tests, one of them a projection to
    the vocabulary (entropy or patience rule)."""
    example = ExampleLayers(image_layers=2, image_tokens=16, text_layers=2, text_tokens=7, image_tests=2,
                            text_tests=0, decoder_tests=3, decoder_prediction_tests=1)
    assert example_flops(SHAPE, example)["exit_tests"] == 6 * 4 * 16 * 2 + 6 * 4 * 2 + 2 * 4 * 10


def test_full_depth_runs_every_decoder_layer_for_every_token_and_row():
    """An example whose tokens (no cache) ran 1 and 2 of 3 layers: at full depth each of its 2 tokens
    runs and projects keys/values at all 3 layers, and its rows' encoder keys/values reach layer 3."""
    example = ExampleLayers(image_layers=1, image_tokens=16, text_layers=2, text_tokens=7, decoder_layer_sum=3,
                            decoder_tokens=2, decoder_key_sum=3, decoder_key_layer_sum=1 * 1 + 2 * 2,
                            decoder_kv_layer_sum=3, decoder_rows=2, decoder_deepest=2, image_tests=1,
                            text_tests=1, decoder_tests=1)
    assert at_full_depth(SHAPE, example) == ExampleLayers(
        image_layers=2, image_tokens=16, text_layers=2, text_tokens=7, decoder_layer_sum=6, decoder_tokens=2,
        decoder_key_sum=3, decoder_key_layer_sum=9, decoder_kv_layer_sum=6, decoder_rows=2, decoder_deepest=3)
    d, source = 4, 16 + 7
    run = 8 * d * d + 4 * d * 8
    assert example_flops(SHAPE, at_full_depth(SHAPE, example))["decoder_layers"] == (
        6 * (run + 4 * d * source) + 4 * d * 9 + 4 * d * d * 6 + 2 * 3 * source * 4 * d * d)
