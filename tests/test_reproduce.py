"""The paper's tables and figures (``python -m ofa_mue.reproduce``) and what they rest on, each
checked against an independent computation: the static envelope against brute force over
mixes of two depths, the layer-similarity probe against direct forward passes, the timing
protocol's order of runs, and the reproduce command's tables against ``python -m ofa_mue.evaluate``."""
from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ofa_mue.core.exit_policy import NEVER, stream_similarity
from ofa_mue.envelope import EnvelopeValue, envelope_at, envelope_vertices, held_out_choice, upper_hull
from ofa_mue.errors import ConfigError
from ofa_mue.paper_tables import mue_vs_static, table1, table1_points, table3
from ofa_mue.saturation import LayerSimilarityProbe
from ofa_mue.sweep import measured_fields, policy_points
from ofa_mue.timing import interleaved_times, ratio_stats, time_stats
from tiny_ofa import tiny_dictionary, tiny_model

TEST_ROWS = 7


# ---- the static envelope ----------------------------------------------------------------
def brute_force_envelope(points, x):
    """The best quality of any random mix of two settings whose expected reduction is at least x."""
    best = None
    for xa, ya in points:
        for xb, yb in points:
            # lam * xa + (1 - lam) * xb >= x over lam in [0, 1]: an interval; the value is linear in lam
            if xa == xb:
                interval = (0.0, 1.0) if xa >= x else None
            else:
                bound = (x - xb) / (xa - xb)
                interval = (max(bound, 0.0), 1.0) if xa > xb else (0.0, min(bound, 1.0))
                interval = interval if interval[0] <= interval[1] else None
            if interval is not None:
                for lam in interval:
                    value = lam * ya + (1 - lam) * yb
                    best = value if best is None else max(best, value)
    return best


def test_envelope_is_the_best_mix_of_two_fixed_depths():
    hull = upper_hull([(0.0, 1.0), (0.25, 0.85), (0.5, 0.8), (0.8, 0.3)])
    assert hull == [(0.0, 1.0), (0.5, 0.8), (0.8, 0.3)]
    assert envelope_at(hull, 0.25).quality == pytest.approx(0.9)  # half of each neighbour beats (0.25, 0.85)
    assert envelope_at(hull, 0.9) is None
    generator = random.Random(0)
    for _ in range(20):
        points = [(generator.random(), generator.random()) for _ in range(8)]
        hull = upper_hull(points)
        for x in [generator.uniform(min(p[0] for p in points), max(p[0] for p in points)) for _ in range(10)]:
            assert envelope_at(hull, x).quality == pytest.approx(brute_force_envelope(points, x))


def test_plotted_envelope_line_is_the_envelope():
    """The line the sweep and paper figures draw: flat at the best quality up to the vertex that
    reaches it, then the hull; at every reduction it equals :func:`envelope_at`."""
    hull = upper_hull([(0.0, 0.5), (0.3, 0.9), (0.8, 0.2)])
    assert envelope_vertices(hull) == [(0.0, 0.9), (0.3, 0.9), (0.8, 0.2)]
    assert envelope_vertices(upper_hull([(0.0, 1.0), (0.5, 0.8)])) == [(0.0, 1.0), (0.5, 0.8)]
    assert envelope_vertices([]) == []
    generator = random.Random(1)
    for _ in range(20):
        hull = upper_hull([(generator.random(), generator.random()) for _ in range(8)])
        line = envelope_vertices(hull)
        for (xa, ya), (xb, yb) in zip(line, line[1:]):
            for share in (0.0, 0.3, 1.0):
                x = xa + share * (xb - xa)
                assert ya + share * (yb - ya) == pytest.approx(envelope_at(hull, x).quality)

def _row(curve, reduction, metric, setting=""):
    return {"curve": curve, "expected_time_reduction": reduction, "metric": metric, "setting": setting or curve,
            "exits": "image+text+decoder", "options": {}, "examples": 10}


def test_mue_against_a_fixed_depth_counts_levels_above_and_below():
    rows = [_row("full", 0.0, 0.9), _row("static", 0.5, 0.7, "a"), _row("static", 0.8, 0.4, "b"),
            _row("static", 0.5, 0.7, "a twin"),  # another depth combination with the same reduction and quality
            _row("mue", 0.0, 0.9, "t1"),  # saves nothing: not a level
            _row("mue", 0.25, 0.81, "t2"),  # envelope 0.8: above
            _row("mue", 0.5, 0.7, "t3"),  # equal
            _row("mue", 0.65, 0.56, "t4"),  # envelope 0.55: above
            _row("mue", 0.7, 0.4, "t5"),  # envelope 0.5: below
            _row("mue_given", 0.6, 0.7, "calibrated")]
    table, summary = mue_vs_static(rows)
    assert [e["setting"] for e in table] == ["t2", "t3", "t4", "t5", "calibrated"]
    assert [e["verdict"] for e in table] == ["above", "equal", "above", "below", "above"]
    assert table[0]["static_envelope"] == pytest.approx(0.8) and table[0]["between"] == "full model and a"
    assert summary == {"levels": 4, "strictly_above": 2, "equal": 1, "below": 1, "at_or_above": 3,
                       "mue_beats_fixed_depth": True, "static_settings": 4}
    rows[7]["metric"] = 0.5  # t4 below: only 2 levels at or above
    assert not mue_vs_static(rows)[1]["mue_beats_fixed_depth"]


def test_static_truncation_chosen_on_one_split_is_scored_on_the_other():
    """The depths come from the choosing split's envelope; the scoring split's luckiest setting
    ("c" here) is not chosen unless it is on the choosing split's envelope."""
    chosen = {"full model": (0.0, 1.0), "a": (0.5, 0.8), "b": (0.8, 0.3), "c": (0.25, 0.85)}
    scored = {"full model": (0.0, 0.9), "a": (0.5, 0.6), "b": (0.8, 0.5), "c": (0.25, 0.95)}
    half = held_out_choice(chosen, scored, 0.25)  # half full model, half "a" on the choosing split
    assert (half.left, half.right) == ("full model", "a")
    assert (half.quality, half.reduction) == (pytest.approx(0.75), pytest.approx(0.25))
    assert envelope_at(upper_hull(list(scored.values())), 0.25).quality == pytest.approx(0.95)  # the oracle
    late = held_out_choice(chosen, scored, 0.65)
    assert (late.left, late.right, late.quality) == ("a", "b", pytest.approx(0.55))
    assert held_out_choice(chosen, scored, 0.9) is None
    generator = random.Random(2)
    for _ in range(20):  # scored = chosen + a constant: the choice is the envelope, shifted
        chosen = {f"s{i}": (generator.random(), generator.random()) for i in range(8)}
        scored = {name: (x, y + 0.1) for name, (x, y) in chosen.items()}
        xs = [x for x, _ in chosen.values()]
        for x in [generator.uniform(min(xs), max(xs)) for _ in range(10)]:
            choice = held_out_choice(chosen, scored, x)
            assert choice.quality == pytest.approx(brute_force_envelope(list(chosen.values()), x) + 0.1)
            assert choice.reduction >= x - 1e-9


def test_mue_against_static_truncation_chosen_on_another_split():
    rows = [_row("full", 0.0, 0.9), _row("static", 0.5, 0.6, "a"), _row("static", 0.8, 0.5, "b"),
            _row("static", 0.25, 0.95, "c"),  # lucky on this split; poor where the depths are chosen
            _row("mue", 0.25, 0.8, "t1"), _row("mue", 0.5, 0.7, "t2"), _row("mue", 0.65, 0.55, "t3"),
            _row("mue_given", 0.6, 0.5, "calibrated")]
    valid = [_row("full", 0.0, 1.0), _row("static", 0.5, 0.8, "a"), _row("static", 0.8, 0.3, "b"),
             _row("static", 0.25, 0.85, "c")]
    table, summary = mue_vs_static(rows, valid, "valid")
    assert [e["verdict"] for e in table] == ["below", "below", "below", "below"]  # the oracle envelope
    assert [e["verdict_chosen"] for e in table] == ["above", "above", "equal", "below"]
    assert [e["static_chosen"] for e in table] == pytest.approx([0.75, 0.6, 0.55, 0.5 + 2 / 3 * 0.1])
    assert [e["difference_chosen"] for e in table] == pytest.approx([0.05, 0.1, 0.0, -2 / 3 * 0.1])  # MuE - chosen
    assert table[0]["chosen_between"] == "full model and a" and table[1]["chosen_between"] == "a"
    assert summary["chosen_on"] == {"split": "valid", "levels": 3, "strictly_above": 2, "equal": 1, "below": 0,
                                    "at_or_above": 3, "mue_beats_fixed_depth": True}
    assert summary["mue_beats_fixed_depth"] is False
    assert "chosen_on" not in mue_vs_static(rows)[1]
    # the choice's reduction is its settings' reductions on the scored split, in the chosen shares,
    # not MuE's reduction it was chosen at (here the scored split's static settings save 80% as much)
    scored = [{**row, "expected_time_reduction": 0.8 * row["expected_time_reduction"]}
              if row["curve"] == "static" else row for row in rows]
    table = mue_vs_static(scored, valid, "valid")[0]
    assert [e["expected_time_reduction"] for e in table] == pytest.approx([0.25, 0.5, 0.65, 0.6])
    assert [e["static_chosen_reduction"] for e in table] == pytest.approx([0.2, 0.4, 0.52, 0.48])


def test_table1_takes_each_baselines_best_setting_that_saves_as_much_as_mue():
    rows = [_row("full", 0.0, 0.9), _row("mue_given", 0.5, 0.88),
            _row("entropy", 0.3, 0.89, "h1"), _row("entropy", 0.4, 0.85, "h2"),  # never reaches 0.5
            _row("static", 0.45, 0.89, "s1"), _row("static", 0.5, 0.8, "s2"), _row("static", 0.7, 0.86, "s3")]
    chosen = [(row["setting"], how.split(" ")[0]) for row, how in table1_points(rows)]
    assert chosen == [("full", "-"), ("mue_given", "calibrated"), ("h2", "its"), ("s3", "best")]
    # a setting that saves exactly MuE's expected time (up to rounding) saves as much as MuE
    rows += [_row("patience", 0.5 - 1e-12, 0.87, "p1"), _row("patience", 0.6, 0.8, "p2")]
    assert ("p1", "best") in [(row["setting"], how.split(" ")[0]) for row, how in table1_points(rows)]


def _layered(row, layers=(2.0, 2.0, 2.0)):
    """``row`` with the mean layers of each part that the tables report."""
    return {**row, **dict(zip(("image_layers", "text_layers", "decoder_layers"), layers))}


def test_table1_gives_each_method_its_own_metrics_and_retention_against_the_full_model():
    rows = [_layered(_row("full", 0.0, 0.8)), _layered(_row("mue_given", 0.5, 0.6)),
            _layered(_row("static", 0.6, 0.4, "s"))]
    table = table1(table1_points(rows), ["accuracy"], lambda row: {"accuracy": row["metric"]})
    assert [(entry["curve"], entry["accuracy"]) for entry in table] == [("full", 0.8), ("mue_given", 0.6),
                                                                        ("static", 0.4)]
    assert [entry["retention"] for entry in table] == pytest.approx([1.0, 0.75, 0.5])


def test_table3_gives_each_threshold_and_the_calibrated_point():
    """Table 3's rows are MuE's sweep (all parts, then decoder only, from the sweep's own points)
    and the calibrated operating point; each threshold row names the threshold it ran."""
    points = policy_points([0.99, 0.9])
    rows = [_layered({**_row(point.curve, 0.1 * index, 0.9 - 0.01 * index, point.setting), "options": point.options})
            for index, point in enumerate(points)]
    rows.append(_layered(_row("mue_given", 0.3, 0.86, "profile main.json"), (1.0, 2.0, 1.5)))
    table = table3(rows)
    assert [(entry["curve"], entry["threshold"]) for entry in table] == [
        ("mue", 0.99), ("mue", 0.9), ("mue_decoder", 0.99), ("mue_decoder", 0.9), ("mue_given", None)]
    assert table[-1]["retention"] == pytest.approx(0.86 / 0.9)
    assert (table[-1]["image_layers"], table[-1]["text_layers"], table[-1]["decoder_layers"]) == (1.0, 2.0, 1.5)


def test_figure3_draws_each_streams_threshold_from_the_profile(tmp_path):
    from ofa_mue.core.exit_profile import save_exit_profile
    from ofa_mue.reproduce import profile_thresholds

    profile = tmp_path / "profile.json"
    save_exit_profile(str(profile), {"options": {"image_exit_threshold": 0.8, "text_exit_threshold": 0.9,
                                                 "decoder_exit_threshold": 0.95}})
    assert profile_thresholds(str(profile)) == {"image": (0.8, 0.8), "text": (0.9, 0.9), "decoder": (0.95, 0.95)}
    save_exit_profile(str(profile), {"options": {"decoder_exit_threshold": 0.95}})
    assert profile_thresholds(str(profile)) == {"image": (NEVER, NEVER), "text": (NEVER, NEVER),
                                                "decoder": (0.95, 0.95)}
    # the demo's caption profile: beta 0.95, tau 1 give 0.95 * 0.9 + 0.05 at the first token and
    # 0.95 * 0.9 + 0.05 / e at the last, not theta
    save_exit_profile(str(profile), {"options": {"decoder_exit_threshold": 0.9, "decoder_exit_beta": 0.95,
                                                 "decoder_exit_tau": 1.0}})
    first, last = profile_thresholds(str(profile))["decoder"]
    assert (first, last) == (pytest.approx(0.905), pytest.approx(0.855 + 0.05 * math.exp(-1)))


# ---- Figure 3: the layer-similarity probe -------------------------------------------------------
def test_probe_measures_each_layer_as_a_direct_forward_pass_does():
    dictionary = tiny_dictionary()
    net = tiny_model(dictionary, decompose_modalities=True).eval()
    generator = torch.Generator().manual_seed(2)
    pad = dictionary.pad()
    src = torch.randint(4, 40, (3, 6), generator=generator)
    src[1, -2:] = pad
    images = torch.randn(3, 3, 64, 64, generator=generator)
    net_input = {"src_tokens": src, "src_lengths": src.ne(pad).sum(1), "patch_images": images,
                 "patch_masks": torch.ones(3, dtype=torch.bool)}
    prev = torch.randint(4, 40, (3, 5), generator=generator)
    prev[2, -2:] = pad
    with torch.no_grad():
        with LayerSimilarityProbe(net) as probe:
            encoder_out = net.encoder(**net_input)
            net.decoder(prev, encoder_out=encoder_out)
        expected = _direct_encoder_similarities(net, src, images)
        states = net.decoder(prev, encoder_out=encoder_out, return_layer_states=True)[1]["layer_states"]
        first = _first_decoder_layer(net, encoder_out, prev)
    for stream in ("image", "text"):
        for layer, values in enumerate(expected[stream]):
            assert torch.allclose(torch.cat(probe.values[stream][layer]), values, atol=1e-6), (stream, layer)
    keep = prev.ne(pad)
    inputs = [first] + states[:-1]
    for layer, (x_in, x_out) in enumerate(zip(inputs, states)):
        direct = F.cosine_similarity(x_in, x_out, dim=-1)[keep]
        assert torch.allclose(torch.cat(probe.values["decoder"][layer]), direct, atol=1e-6), layer


def _direct_encoder_similarities(net, src, images):
    """Each stream through the encoder layers by hand (as the decomposed encoder runs them)."""
    encoder = net.encoder
    text, text_positions = encoder.embed_text(src)
    padding = src.eq(encoder.padding_idx)
    text = text.masked_fill(padding.unsqueeze(-1), 0.0)
    image, image_positions, ids = encoder.embed_image(images)
    streams = {"image": (image, None, encoder._stream_bias_fn("image", encoder.image_pos_ln(image_positions),
                                                              image.size(1), ids)),
               "text": (text, padding, encoder._stream_bias_fn("text", encoder.pos_ln(text_positions), text.size(1),
                                                               None))}
    out = {}
    for name, (x, pad, bias) in streams.items():
        out[name] = []
        for index, layer in enumerate(encoder.layers):
            y = layer(x, bias(index), pad)
            out[name].append(stream_similarity(x, y, pad))
            x = y
    return out


def _first_decoder_layer(net, encoder_out, prev):
    """The first decoder layer's input, caught by an exit rule that never fires (the exit machinery's view)."""
    from ofa_mue.core.early_exit import ExitSession

    seen = []

    class Record:
        def should_exit(self, layer, x_in, x_out, positions, tokens):
            if layer == 0:
                seen.append(x_in)
            return torch.zeros(x_in.shape[:-1], dtype=torch.bool)

    session = ExitSession({}, Record())
    net.decoder(prev, encoder_out={**encoder_out, "exit_session": [session]})
    return seen[0]


def test_probe_counts_every_token_beam_search_processes():
    from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
    from ofa_mue.core.exit_policy import MuEThresholds

    dictionary = tiny_dictionary()
    net = tiny_model(dictionary, decompose_modalities=True).eval()
    generator = torch.Generator().manual_seed(3)
    src = torch.randint(4, 40, (2, 5), generator=generator)
    sample = {"id": torch.arange(2), "net_input": {
        "src_tokens": src, "src_lengths": torch.full((2,), 5), "patch_masks": torch.ones(2, dtype=torch.bool),
        "patch_images": torch.randn(2, 3, 64, 64, generator=generator)}}
    search = EarlyExitSequenceGenerator([net], dictionary, beam_size=3, max_len_b=6, policy=MuEThresholds())
    with LayerSimilarityProbe(net) as probe:
        search.generate([net], sample)
    processed = sum(example.decoder_tokens for example in search.last_example_layers)
    assert processed > 2 * 3
    for layer_values in probe.values["decoder"]:
        assert sum(v.numel() for v in layer_values) == processed
    assert [sum(v.numel() for v in values) for values in probe.values["image"]] == [2] * len(net.encoder.layers)


# ---- timing protocol ---------------------------------------------------------------------
def test_timing_warms_every_arm_then_interleaves_in_rotating_order():
    calls = []
    arms = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = interleaved_times(arms, repetitions=5, warmup=1, device=torch.device("cpu"))
    assert calls[:3] == ["a", "b", "c"]  # the warm-up round, untimed
    rounds = [calls[3 + 3 * r: 6 + 3 * r] for r in range(5)]
    assert rounds == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"], ["b", "c", "a"]]
    assert {name: len(values) for name, values in times.items()} == {"a": 5, "b": 5, "c": 5}


def test_a_reduction_is_the_median_of_paired_ratios():
    """Each repetition's time is divided by the reference's in the same repetition (they ran next
    to each other), so a slow phase of the machine that hits both cancels out; the median of those
    ratios is the figure, not the ratio of the two arms' median times."""
    reference = [1.0, 4.0, 2.0, 8.0, 3.0]  # the machine's speed varies from repetition to repetition
    arm = [0.5, 2.0, 1.8, 4.0, 1.5]  # half the reference's time, but once
    stats = ratio_stats(arm, reference)
    assert stats["median"] == pytest.approx(0.5) and (stats["min"], stats["max"], stats["n"]) == (0.5, 0.9, 5)
    assert time_stats(arm)["median_s"] == 1.8


def test_a_sweep_rows_measured_reduction_has_its_quartiles_in_order():
    """A measured reduction is 1 - the time ratio, so its lower quartile comes from the ratio's upper one."""
    seconds = {"full: -": [2.0] * 5, "mue: threshold 0.9": [1.0, 1.2, 1.4, 1.6, 1.8]}
    timing = {"arms": {name: {"seconds": time_stats(values), "ratio": ratio_stats(values, seconds["full: -"])}
                       for name, values in seconds.items()}}
    fields = measured_fields({"curve": "mue", "setting": "threshold 0.9"}, timing)
    assert fields["measured_reduction"] == pytest.approx(0.3) and fields["seconds_median"] == 1.4
    assert (fields["measured_reduction_q1"], fields["measured_reduction_q3"]) == pytest.approx((0.15, 0.45))
    assert measured_fields({"curve": "static", "setting": "image 1 / text 1 / decoder 1"}, timing) == {}


# ---- the reproduce command on small real checkpoints ---------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny SNLI-VE data and three 2-layer checkpoints: MuE's fine-tuning, and its two ablations."""
    from demo_training import train_in_process
    from ofa_mue.demo.generate import generate_demo_data

    out = tmp_path_factory.mktemp("reproduce")
    generate_demo_data(out / "data", seed=6, train=24, valid=6, test=TEST_ROWS, image_size=64)
    common = ["--user-dir", "ofa_mue", "--task", "snli_ve", "--arch", "ofa_demo", "--encoder-layers", "2",
              "--decoder-layers", "2", "--bpe-dir", str(out / "data" / "bpe"), "--patch-image-size", "64",
              "--code-dict-size", "0", "--num-bins", "0", "--label-smoothing", "0.1", "--optimizer", "adam",
              "--lr", "1e-3", "--max-update", "2", "--batch-size", "8", "--no-epoch-checkpoints",
              "--disable-validation", "--num-workers", "0", "--cpu", "--seed", "3", "--log-format", "simple"]
    variants = {"main": ["--decompose-modalities", "--criterion", "layerwise_label_smoothed_cross_entropy"],
                "joint": ["--criterion", "layerwise_label_smoothed_cross_entropy"],
                "plain": ["--decompose-modalities", "--criterion", "adjust_label_smoothed_cross_entropy"]}
    for name, flags in variants.items():
        train_in_process([str(out / "data" / "snli_ve"), *common, *flags, "--save-dir", str(out / name)])
    return out, {name: str(out / name / "checkpoint_last.pt") for name in variants}


def _evaluation_args(out: Path):
    return [str(out / "data" / "snli_ve"), "--task", "snli_ve", "--bpe-dir", str(out / "data" / "bpe"),
            "--batch-size", "3", "--cpu"]


@pytest.fixture(scope="module")
def reproduced(trained):
    from ofa_mue import reproduce

    out, checkpoints = trained
    results = out / "results"
    summary = reproduce.main([*_evaluation_args(out), "--path", checkpoints["main"], "--results-dir", str(results),
                              "--thresholds", "0.99,0.9", "--entropies", "0.5", "--patiences", "1",
                              "--calibrate-args", "--candidates 0.9,0.1 --method retention --retention 0.8 "
                              f"--table-path {results / 'calibration_table.json.gz'}",
                              "--no-decomposition-checkpoint", checkpoints["joint"],
                              "--no-layerwise-checkpoint", checkpoints["plain"], "--static-chosen-on", "valid"])
    return out, checkpoints, results, summary


def _evaluate(out, checkpoint, *flags):
    from ofa_mue import evaluate

    return evaluate.main([*_evaluation_args(out), "--path", checkpoint, "--gen-subset", "test", *flags])


def test_reproduce_writes_every_table_and_figure_with_provenance(reproduced):
    _, _, results, summary = reproduced
    commit = summary["provenance"]["commit"]
    assert len(commit.split("+")[0]) == 40
    for stem in ("table1_main_results", "table2_encoder_depths", "table3_thresholds", "table4_ablation",
                 "figure3_layer_similarity", "mue_vs_static", "adaptivity_bound"):
        assert f"commit {commit}" in (results / f"{stem}.md").read_text()
        assert (results / f"{stem}.csv").read_text().startswith(f"# commit {commit}")
        assert (results / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (results / "sweep" / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --calibrate-args' --table-path holds the main model's calibration; each variant keeps its own
    from ofa_mue.calibration_table import CalibrationTable

    for table in ("calibration_table.json.gz", "profiles/no_modality_decomposition.table.json.gz",
                  "profiles/no_layerwise_loss.table.json.gz"):
        assert CalibrationTable.load(str(results / table)).entries
    sweep = [row for row in csv.DictReader(line for line in (results / "sweep" / "sweep.csv").open()
                                           if not line.startswith("#"))]
    assert {row["examples"] for row in sweep} == {str(TEST_ROWS)}
    static = [row for row in sweep if row["curve"] == "static"]
    assert len(static) == 2 * 2 * 2 - 1  # every image/text/decoder depth combination but the full model
    curves = {row["curve"]: row["exits"] for row in sweep}
    assert curves["entropy"] == curves["patience"] == curves["mue_decoder"] == "decoder"
    # the baselines' "+ MuE encoder exits" form exits in the encoder as MuE's operating point does
    operating_encoder = curves["mue_given"].removesuffix("+decoder")
    assert operating_encoder in ("image", "text", "image+text"), curves
    assert curves["entropy_encoder"] == curves["patience_encoder"] == f"{operating_encoder}+decoder", curves


def test_reproduce_tables_equal_the_evaluation_of_each_setting(reproduced):
    out, checkpoints, results, summary = reproduced
    profile = str(results / "profiles" / "main.json")
    full, mue = summary["table1"][0], summary["table1"][1]
    assert full["accuracy"] == _evaluate(out, checkpoints["main"])["metrics"]["accuracy"]
    calibrated = _evaluate(out, checkpoints["main"], "--exit-profile", profile)
    assert (mue["accuracy"], mue["expected_time_reduction"]) == (
        calibrated["metrics"]["accuracy"], calibrated["layers"]["expected_time_reduction"])
    assert summary["timing"]["repetitions"] == 5
    assert set(summary["timing"]["arms"]) == {f"{e['curve']}: {e['setting']}" for e in summary["table1"]}
    assert all(entry["measured_reduction"] is not None for entry in summary["table1"])
    assert full["measured_reduction"] == 0.0  # the reductions are measured against the full model

    cell = next(c for c in summary["table2"] if (c["image_layers"], c["text_layers"]) == (1, 2))
    static = _evaluate(out, checkpoints["main"], "--exit-policy", "static", "--static-image-layers", "1")
    assert (cell["metric"], cell["expected_time_reduction"]) == (
        static["metrics"]["accuracy"], static["layers"]["expected_time_reduction"])

    row = next(r for r in summary["table3"] if r["setting"] == "decoder threshold 0.9")
    decoder_only = _evaluate(out, checkpoints["main"], "--decoder-exit-threshold", "0.9")
    assert (row["metric"], row["expected_time_reduction"]) == (
        decoder_only["metrics"]["accuracy"], decoder_only["layers"]["expected_time_reduction"])

    main = summary["table4"][0]  # Table 4's first row is the calibrated operating point of Table 1
    assert (main["full_metric"], main["metric"], main["expected_time_reduction"]) == (
        full["accuracy"], calibrated["metrics"]["accuracy"], calibrated["layers"]["expected_time_reduction"])
    plain = summary["table4"][2]
    assert plain["variant"] == "without the layer-wise loss"
    variant = _evaluate(out, checkpoints["plain"], "--exit-profile", str(results / "profiles" / "no_layerwise_loss.json"))
    assert (plain["metric"], plain["full_metric"]) == (variant["metrics"]["accuracy"],
                                                      _evaluate(out, checkpoints["plain"])["metrics"]["accuracy"])
    joint = summary["table4"][1]
    decomposed = _evaluate(out, checkpoints["joint"], "--exit-profile",
                           str(results / "profiles" / "no_modality_decomposition.json"),
                           "--model-overrides", "{'decompose_modalities': True}")
    assert joint["metric"] == decomposed["metrics"]["accuracy"]
    assert joint["expected_time_reduction"] == decomposed["layers"]["expected_time_reduction"]
    assert joint["inference"].startswith("trained joint; MuE's encoder exits need the streams apart")
    assert joint["full_metric"] == _evaluate(out, checkpoints["joint"])["metrics"]["accuracy"]  # as trained
    for entry in summary["table4"]:  # what each variant's MuE keeps of its own full model
        assert entry["retention"] == pytest.approx(entry["metric"] / entry["full_metric"])

    layers = {(r["part"], r["layer"]): r["count"] for r in summary["figure3"]}
    assert layers[("image", 1)] == layers[("text", 2)] == TEST_ROWS and layers[("decoder", 1)] > TEST_ROWS


def test_reproduce_compares_mue_with_the_envelope_of_every_static_setting(reproduced):
    _, _, results, summary = reproduced
    sweep = json.loads((results / "sweep" / "sweep.json").read_text())["rows"]
    points = [(r["expected_time_reduction"], r["metric"]) for r in sweep if r["curve"] in ("full", "static")]
    levels = summary["mue_vs_static"]["levels"]
    assert levels
    for level in levels:
        assert level["static_envelope"] == pytest.approx(brute_force_envelope(points, level["expected_time_reduction"]))
        # the paired bootstrap interval (tests/test_significance.py) brackets the difference on these rows
        assert level["difference_low"] - 1e-9 <= level["difference"] <= level["difference_high"] + 1e-9
        assert level["significance"] == ("above" if level["difference_low"] > 0 else
                                         "below" if level["difference_high"] < 0 else "indistinguishable")
    assert "95% interval" in (results / "mue_vs_static.md").read_text()


def test_reproduce_bounds_adaptive_exits_by_the_per_example_oracle(reproduced, tmp_path):
    """The lossless oracle equals a brute force over every depth combination evaluated anew:
    per example, the cheapest time share among those that score as the full model does."""
    out, checkpoints, _, summary = reproduced
    shares, right, answers = [], [], []
    for image in (1, 2):
        for text in (1, 2):
            for decoder in (1, 2):
                folder = tmp_path / f"{image}{text}{decoder}"
                _evaluate(out, checkpoints["main"], "--exit-policy", "static", "--static-image-layers", str(image),
                          "--static-text-layers", str(text), "--static-decoder-layers", str(decoder),
                          "--results-path", str(folder))
                records = [json.loads(line) for line in (folder / "test_predictions.jsonl").read_text().splitlines()]
                shares.append([r["layers"]["time_share"] for r in records])
                right.append([r["prediction"] == r["answer"] for r in records])
                answers.append([r["prediction"] for r in records])
    full = right[-1]  # 2 / 2 / 2: the full model
    cheapest = [min(s[i] for s, r in zip(shares, right) if r[i] >= full[i]) for i in range(TEST_ROWS)]
    bound = summary["adaptivity_bound"]["summary"]
    assert bound["combinations"] == 8 and bound["full_metric"] == pytest.approx(sum(full) / TEST_ROWS)
    lossless = bound["largest_reduction_keeping"][1.0]
    assert lossless["oracle"] == pytest.approx(1 - sum(cheapest) / TEST_ROWS)
    # no fixed depth that keeps every answer the full model gets right saves more than the oracle
    keeping = [1 - sum(s) / TEST_ROWS for s, r in zip(shares, right) if all(r[i] >= full[i] for i in range(TEST_ROWS))]
    assert lossless["static_envelope"] == pytest.approx(max(keeping))
    assert max(keeping) <= lossless["oracle"] + 1e-9
    combos = [(image, text, decoder) for image in (1, 2) for text in (1, 2) for decoder in (1, 2)]
    stable = [min(s[i] for c, s in zip(combos, shares)
                  if all(a[i] == answers[-1][i] for d, a in zip(combos, answers) if all(map(int.__ge__, d, c))))
              for i in range(TEST_ROWS)]
    assert bound["stable_oracle_reduction"] == pytest.approx(1 - sum(stable) / TEST_ROWS)
    assert bound["stable_oracle_reduction"] <= lossless["oracle"] + 1e-9
    for level in summary["adaptivity_bound"]["levels"]:  # capped, the oracle is never below the envelope
        assert level["oracle_minus_static"] >= -1e-9
    assert {level["setting"] for level in summary["adaptivity_bound"]["levels"]} <= {
        level["setting"] for level in summary["mue_vs_static"]["levels"]}


def test_reproduce_scores_static_depths_chosen_on_the_validation_split(reproduced):
    out, checkpoints, results, summary = reproduced
    chosen = summary["static_chosen_on"]
    assert chosen["split"] == "valid" and len(chosen["rows"]) == 2 * 2 * 2  # the full model and 7 static settings
    assert {row["examples"] for row in chosen["rows"]} == {6}  # every validation row
    for row in chosen["rows"][:3]:  # each is python -m ofa_mue.evaluate on the validation split
        flags = []
        if row["curve"] == "static":  # "image I / text T / decoder D"; a part at full depth (2) is not cut
            flags = ["--exit-policy", "static"]
            for part in row["setting"].split(" / "):
                name, depth = part.split()
                flags += [f"--static-{name}-layers", depth] if int(depth) < 2 else []
        evaluated = _evaluate(out, checkpoints["main"], "--gen-subset", "valid", *flags)
        assert (row["metric"], row["expected_time_reduction"]) == (
            evaluated["metrics"]["accuracy"], evaluated["layers"]["expected_time_reduction"])
    sweep = json.loads((results / "sweep" / "sweep.json").read_text())["rows"]
    name = lambda row: "full model" if row["curve"] == "full" else row["setting"]
    valid = {name(r): (r["expected_time_reduction"], r["metric"]) for r in chosen["rows"]}
    test = {name(r): (r["expected_time_reduction"], r["metric"]) for r in sweep if r["curve"] in ("full", "static")}
    levels = summary["mue_vs_static"]["levels"]
    for level in levels:
        expected = held_out_choice(valid, test, level["expected_time_reduction"])
        assert level["static_chosen"] == pytest.approx(expected.quality)
        assert level["verdict_chosen"] in ("above", "equal", "below")
    assert summary["mue_vs_static"]["summary"]["chosen_on"]["levels"] == sum(e["level"] for e in levels)
    assert "chosen on valid" in (results / "mue_vs_static.md").read_text()
    header = next(line for line in (results / "mue_vs_static.csv").read_text().splitlines() if not line.startswith("#"))
    assert {"static_chosen", "static_chosen_reduction", "difference_chosen", "verdict_chosen",
            "chosen_between"} <= set(header.split(","))  # the held-out choice's columns in the CSV too


def test_reproduce_refuses_what_it_cannot_honour(reproduced, tmp_path):
    from ofa_mue import reproduce

    out, checkpoints, results, _ = reproduced
    base = [*_evaluation_args(out), "--path", checkpoints["main"], "--results-dir", str(tmp_path),
            "--exit-profile", str(results / "profiles" / "main.json")]
    with pytest.raises(ConfigError, match="--image-exit-threshold: reproduce sets every exit option itself"):
        reproduce.main([*base, "--image-exit-threshold", "0.9"])
    with pytest.raises(ConfigError, match="--decoder-exit-threshold: reproduce sets"):  # 1.0 exits too
        reproduce.main([*base, "--decoder-exit-threshold", "1.0"])
    with pytest.raises(ConfigError, match="--timing-repetitions must be 0"):
        reproduce.main([*base, "--timing-repetitions", "3"])
    with pytest.raises(ConfigError, match=r"--depths 3 is deeper than the model's encoder \(2 layers\) and decoder"):
        reproduce.main([*base, "--depths", "3"])
    with pytest.raises(ConfigError, match="--static-chosen-on test is the evaluated split"):
        reproduce.main([*base, "--static-chosen-on", "test"])
    # without a profile reproduce calibrates: never on the split its tables report
    calibrating = [*_evaluation_args(out), "--path", checkpoints["main"], "--results-dir", str(tmp_path)]
    with pytest.raises(ConfigError, match="--calibration-subset test is the evaluated split"):
        reproduce.main([*calibrating, "--calibration-subset", "test"])
    with pytest.raises(ConfigError, match="give the calibration split with --calibration-subset, not --gen-subset"):
        reproduce.main([*calibrating, "--calibrate-args", "--method retention --gen-subset test"])
    assert not any(tmp_path.iterdir())


def test_sweep_keeps_a_profiles_operating_point_even_with_every_exit_off(ofa_vocab, tmp_path):
    """A calibration that finds no safe exit writes a profile with every exit off: that is MuE's
    operating point (the full model), still a row of the tables."""
    from argparse import Namespace
    from types import SimpleNamespace

    from ofa_mue.core.exit_profile import save_exit_profile
    from ofa_mue.sweep import grid_points
    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

    profile = tmp_path / "off.json"
    save_exit_profile(str(profile), {"options": {"image_exit_threshold": 2.0, "text_exit_threshold": 2.0,
                                                 "decoder_exit_threshold": 2.0}})
    task = SnliVeTask(SnliVeConfig(exit_profile=str(profile)), ofa_vocab)
    model = SimpleNamespace(encoder=SimpleNamespace(num_layers=2), decoder=SimpleNamespace(num_layers=2))
    args = Namespace(thresholds="0.9", entropies="0.5", patiences="1", depths="1")
    points = grid_points(SimpleNamespace(task=task, models=[model]), args)
    given = [point for point in points if point.curve == "mue_given"]
    assert [point.setting for point in given] == ["profile off.json: image off / text off / decoder off"]
    assert not any(point.curve.endswith("_encoder") for point in points)  # no encoder exits to share
    assert sum(point.curve == "static" for point in points) == 7


def test_demo_summary_reads_each_seeds_reproduce_run_replaced_images_and_certified_run(reproduced, tmp_path):
    """python -m ofa_mue.demo.summary: the figures are those of the reproduce run and of
    evaluate --replace-images / --replace-text, and each check's verdict follows its figure."""
    from ofa_mue.demo import summary as demo_summary

    out, checkpoints, results, reproduced_summary = reproduced
    seed = tmp_path / "seed1" / "snli_ve"
    seed.mkdir(parents=True)
    (seed / "reproduce").symlink_to(results, target_is_directory=True)
    blank = _evaluate(out, checkpoints["main"], "--gen-subset", "test", "--replace-images", "blank",
                      "--results-path", str(seed / "images_blank"))
    other_text = _evaluate(out, checkpoints["main"], "--gen-subset", "test", "--replace-text", "other",
                           "--results-path", str(seed / "text_other"))
    one_layer = _evaluate(out, checkpoints["main"], "--exit-policy", "static", "--static-image-layers", "1",
                          "--static-text-layers", "1", "--static-decoder-layers", "1")
    from ofa_mue import calibrate

    certified_profile = seed / "certified" / "profile.json"
    calibrate.main([*_evaluation_args(out), "--path", checkpoints["main"], "--gen-subset", "valid",
                    "--candidates", "0.9,0.1", "--risk-epsilon", "0.5", "--risk-delta", "0.2",
                    "--profile-path", str(certified_profile)])
    certified = _evaluate(out, checkpoints["main"], "--exit-profile", str(certified_profile),
                          "--results-path", str(seed / "certified"))
    guarantee = json.loads(certified_profile.read_text())["guarantee"]
    written = demo_summary.main(["--results-dir", str(tmp_path), "--seeds", "1"])
    assert written == json.loads((tmp_path / "summary.json").read_text())
    figures = {name: entry["per_seed"]["1"] for name, entry in written["figures"].items()}
    full, mue = reproduced_summary["table1"][0]["accuracy"], reproduced_summary["table1"][1]
    assert figures["snli_ve.full_accuracy"] == full and figures["snli_ve.examples"] == TEST_ROWS
    assert figures["snli_ve.mue_expected_time_reduction"] == mue["expected_time_reduction"]
    assert figures["snli_ve.images_blank_accuracy"] == blank["metrics"]["accuracy"]
    assert figures["snli_ve.text_other_accuracy"] == other_text["metrics"]["accuracy"]
    assert figures["snli_ve.static_1_gap"] == pytest.approx(full - one_layer["metrics"]["accuracy"])
    assert figures["snli_ve.static_1_expected_time_reduction"] == one_layer["layers"]["expected_time_reduction"]
    versus = reproduced_summary["mue_vs_static"]["summary"]
    assert figures["snli_ve.mue_vs_static_levels"] == versus["levels"]
    assert figures["snli_ve.mue_vs_static_significantly_below"] == versus["significantly_below"]
    assert figures["snli_ve.certified_accuracy"] == certified["metrics"]["accuracy"]
    assert figures["snli_ve.certified_expected_time_reduction"] == certified["layers"]["expected_time_reduction"]
    share = (certified["layers"]["expected_time_reduction"] / mue["expected_time_reduction"]
             if mue["expected_time_reduction"] else 0.0)
    assert figures["snli_ve.certified_share_of_mue_reduction"] == pytest.approx(share)
    assert figures["snli_ve.certified_passed"] == float(guarantee["certified"])
    assert (figures["snli_ve.certified_epsilon"], figures["snli_ve.certified_delta"]) == (0.5, 0.2)
    # Table 4's variants (demo.sh --ablations): each one's full model and its calibrated MuE
    plain = _evaluate(out, checkpoints["plain"], "--exit-profile", str(results / "profiles" / "no_layerwise_loss.json"))
    assert figures["snli_ve.ablation_no_layerwise_loss_mue_accuracy"] == plain["metrics"]["accuracy"]
    assert figures["snli_ve.ablation_no_layerwise_loss_mue_expected_time_reduction"] == \
        plain["layers"]["expected_time_reduction"]
    assert figures["snli_ve.ablation_no_layerwise_loss_full_accuracy"] == \
        _evaluate(out, checkpoints["plain"])["metrics"]["accuracy"]
    assert "snli_ve.ablation_no_modality_decomposition_mue_retention" in figures
    checks = {check["check"]: check for check in written["checks"]}
    assert checks["SNLI-VE full-model accuracy >= 0.80"]["per_seed"]["1"] == (full >= 0.80)
    assert checks["SNLI-VE accuracy with blank images <= 0.50"]["passed"] == (blank["metrics"]["accuracy"] <= 0.50)
    assert checks["SNLI-VE accuracy with other test images <= 0.50"]["passed"] is None  # not run here
    assert "captions: static truncation at 1 layer keeps at most 85% of the full model's CIDEr" in checks


def test_static_settings_with_the_same_reduction_count_at_their_best_quality():
    """Two depth combinations with the same expected reduction: the envelope takes the better one
    (the worse one is never worth running), as the brute force over mixes does."""
    for points in ([(0.0, 1.0), (0.5, 0.6), (0.5, 0.8), (0.8, 0.3)], [(0.0, 1.0), (0.5, 0.8), (0.5, 0.6), (0.8, 0.3)]):
        hull = upper_hull(points)
        assert hull == [(0.0, 1.0), (0.5, 0.8), (0.8, 0.3)]
        assert envelope_at(hull, 0.5).quality == pytest.approx(0.8) == brute_force_envelope(points, 0.5)


def test_static_choice_reports_the_reduction_measured_on_the_scored_split():
    """The held-out static choice's reduction is its settings' reductions on the scored split, mixed
    in the chosen shares, not the reduction it was chosen at: half full model (0.02 there) and half
    "a" (0.4 there) reduce time by 0.21; at exactly "b"'s reduction the choice is "b" alone."""
    chosen = {"full model": (0.0, 1.0), "a": (0.5, 0.8), "b": (0.8, 0.3)}
    scored = {"full model": (0.02, 0.9), "a": (0.4, 0.6), "b": (0.7, 0.5)}
    half = held_out_choice(chosen, scored, 0.25)
    assert (half.left, half.right, half.share) == ("full model", "a", pytest.approx(0.5))
    assert (half.quality, half.reduction) == (pytest.approx(0.75), pytest.approx(0.21))
    whole = held_out_choice(chosen, scored, 0.8)
    assert (whole.left, whole.right) == ("b", "b")
    assert (whole.quality, whole.reduction) == (pytest.approx(0.5), pytest.approx(0.7))


def test_a_reduction_at_the_ends_of_the_static_range_up_to_rounding_is_inside_it():
    """0.1 + 0.2 is the largest static reduction 0.3 up to float rounding (and -1e-12 the full
    model's 0): the envelope there is that setting's quality, not "outside the range"; a reduction
    really beyond either end is."""
    hull = upper_hull([(0.0, 1.0), (0.1, 0.9), (0.3, 0.5)])
    assert envelope_at(hull, 0.1 + 0.2).quality == pytest.approx(0.5)
    assert envelope_at(hull, -1e-12).quality == pytest.approx(1.0)
    assert envelope_at(hull, 0.3 + 1e-6) is None and envelope_at(hull, -1e-6) is None


def test_a_setting_on_the_segment_between_two_others_is_no_vertex_of_the_hull():
    """(0.5, 0.75) lies on the segment from (0, 1) to (1, 0.5): the hull's vertices are the segment's
    ends, and the envelope at 0.5 is the half-and-half mix of them."""
    hull = upper_hull([(0.0, 1.0), (0.5, 0.75), (1.0, 0.5)])
    assert hull == [(0.0, 1.0), (1.0, 0.5)]
    middle = envelope_at(hull, 0.5)
    assert (middle.quality, middle.left, middle.right, middle.share) == (0.75, (0.0, 1.0), (1.0, 0.5), 0.5)


def test_the_envelope_at_a_vertex_is_that_fixed_depth_alone():
    """At a reduction exactly a hull vertex's, static truncation runs that depth combination alone:
    the envelope names it once (share 0), not a mix with the vertex before it, and MuE's table
    says it is between that setting alone."""
    hull = upper_hull([(0.0, 1.0), (0.5, 0.8), (0.8, 0.3)])
    for x, vertex in ((0.5, (0.5, 0.8)), (0.0, (0.0, 1.0)), (0.8, (0.8, 0.3))):
        assert envelope_at(hull, x) == EnvelopeValue(vertex[1], vertex, vertex, 0.0)
    rows = [_row("full", 0.0, 1.0), _row("static", 0.5, 0.8, "a"), _row("static", 0.8, 0.3, "b"),
            _row("mue", 0.5, 0.85, "t1")]
    (entry,), _ = mue_vs_static(rows)
    assert (entry["between"], entry["static_envelope"]) == ("a", 0.8)
