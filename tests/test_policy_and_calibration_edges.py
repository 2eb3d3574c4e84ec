"""Edges of the exit rules, the calibration's profile and the demo summary's figures that the
larger tests pass through without pinning: the documented range of a similarity threshold,
DeeBERT's strict "entropy below the threshold", the decay's per-token horizon, the figures an
exit profile records for its choice, and the shares the demo summary's caption checks read."""
from __future__ import annotations

import json
import math

import pytest
import torch

from ofa_mue.calibrate import (
    build_calibration_parser, check_arguments, choose_certified, choose_profile, default_table_path, method_options,
    parse_candidates,
)
from ofa_mue.calibration_table import FULL_MODEL, CalibrationTable
from ofa_mue.core.exit_policy import (
    EntropyExit, EntropyPolicy, MuEThresholds, PatienceExit, TokenSimilarityExit, check_threshold,
)
from ofa_mue.demo.summary import evaluate_checks, task_figures, test_evaluation as replaced_run
from ofa_mue.errors import ConfigError
from test_retention_choice import FAST, MIDDLE, SLOW, _context, _disagreeing_table, _table


def test_a_threshold_of_minus_one_is_accepted_and_below_it_refused():
    """The module's rule: thresholds must be finite and at least -1 (-1 itself is in range)."""
    assert MuEThresholds(image=-1.0, text=-1.0, decoder=-1.0).exiting_parts == ("image", "text", "decoder")
    assert check_threshold("--image-exit-threshold", -1) == -1.0
    with pytest.raises(ConfigError, match="--image-exit-threshold"):
        check_threshold("--image-exit-threshold", -1.0001)


def _fixed_logits(logits):
    """A projection giving every token the logits ``logits [V]``."""
    row = torch.tensor(logits)
    return lambda hidden, tokens: row.expand(*hidden.shape[:-1], len(logits))


def test_entropy_exit_needs_the_entropy_strictly_below_its_threshold():
    """DeeBERT stops a token once its prediction's entropy is below the threshold: a certain
    prediction (entropy 0, e.g. the eos after an SNLI-VE answer) does not stop at threshold 0,
    and stops at any threshold above 0; a uniform one over 4 tokens (log 4 nats) stops only above log 4."""
    x = torch.zeros(2, 3, 8)
    tokens = torch.arange(6).view(2, 3)
    positions = torch.zeros(2, 3, dtype=torch.long)
    certain = _fixed_logits([0.0, -math.inf, -math.inf, -math.inf])
    assert not EntropyExit(0.0, certain).should_exit(0, x, x, positions, tokens).any()
    assert EntropyExit(1e-6, certain).should_exit(0, x, x, positions, tokens).all()
    uniform = _fixed_logits([0.0] * 4)
    assert not EntropyExit(math.log(4) - 1e-4, uniform).should_exit(0, x, x, positions, tokens).any()
    assert EntropyExit(math.log(4) + 1e-4, uniform).should_exit(0, x, x, positions, tokens).all()


def test_entropy_exit_judges_the_layers_output_and_takes_a_threshold_of_zero():
    """DeeBERT's entropy is that of the layer's own prediction (its output), not of its input; a
    threshold of 0 nats is in range (it never fires), below 0 refused."""
    x_in = torch.zeros(1, 4)  # as logits: uniform, log 4 nats
    x_out = torch.tensor([[30.0, 0.0, 0.0, 0.0]])  # as logits: certain, ~0 nats
    identity = lambda hidden, tokens: hidden  # noqa: E731
    positions, tokens = torch.zeros(1, dtype=torch.long), torch.arange(1)
    assert EntropyExit(0.1, identity).should_exit(0, x_in, x_out, positions, tokens).tolist() == [True]
    assert EntropyExit(0.1, identity).should_exit(0, x_out, x_in, positions, tokens).tolist() == [False]
    assert EntropyPolicy(0.0).decoder == 0.0
    with pytest.raises(ConfigError, match="--entropy-exit-threshold"):
        EntropyPolicy(-0.1)


def test_patience_counts_consecutive_layers_and_starts_afresh_at_each_decoder_call():
    """PABEE stops a token once its prediction stayed the same for ``patience`` consecutive layers: a
    changed prediction starts the count again, and so does the next decoder call (the next generation
    step, whose tokens have the same indices) at its first layer."""
    project = lambda hidden, tokens: hidden  # noqa: E731 (the states are the logits)
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])  # predicting token 0, token 1
    positions, tokens = torch.zeros(1, dtype=torch.long), torch.arange(1)
    twice = PatienceExit(2, project)
    assert [twice.should_exit(layer, x, x, positions, tokens).item()
            for layer, x in enumerate((a, a, b, b, b))] == [False, False, False, False, True]
    once = PatienceExit(1, project)
    assert [once.should_exit(layer, a, a, positions, tokens).item() for layer in range(3)] == [False, True, True]
    assert [once.should_exit(layer, a, a, positions, tokens).item() for layer in range(2)] == [False, True]


def test_each_token_decays_over_its_own_horizon():
    """With one horizon per token (SNLI-VE: each example's decoder length), a token's threshold is
    Theta(t) = beta theta + (1 - beta) exp(-tau t / N) with its own N, not another token's."""
    rule = TokenSimilarityExit(theta=0.9, beta=0.5, tau=2.0, horizon=torch.tensor([4, 16, 4]))
    positions, tokens = torch.tensor([2, 2, 4]), torch.tensor([0, 1, 2])
    expected = [0.45 + 0.5 * math.exp(-2.0 * t / n) for t, n in ((2, 4), (2, 16), (4, 4))]
    assert rule.threshold(positions, tokens).tolist() == pytest.approx(expected)
    # cosine 0.8: above the short horizon's threshold at t = 2 (0.634), below the long one's (0.839)
    x_in = torch.tensor([[1.0, 0.0]] * 3)
    x_out = torch.tensor([[0.8, 0.6]] * 3)
    assert rule.should_exit(0, x_in, x_out, positions, tokens).tolist() == [True, False, True]


def test_candidate_thresholds_are_in_zero_one():
    assert parse_candidates("0.5,1", "--candidates") == [0.5, 1.0]
    for text in ("0,0.5", "0.5,1.01", "-0.1"):
        with pytest.raises(ValueError, match="--candidates must be thresholds in \\(0, 1\\]"):
            parse_candidates(text, "--candidates")


def test_empty_candidate_items_are_skipped_and_an_empty_list_is_refused():
    assert parse_candidates("0.9, 0.5,", "--decoder-candidates") == [0.9, 0.5]
    for text in ("", ",", " , "):
        with pytest.raises(ValueError, match="--decoder-candidates must be thresholds in \\(0, 1\\]"):
            parse_candidates(text, "--decoder-candidates")


def test_a_profile_records_the_full_models_metric_and_its_choices_metric_and_reduction():
    """Four SNLI-VE rows: the full model right on all, MIDDLE (40% faster) on three. At retention
    0.75 MIDDLE is chosen: the profile gives the full model's accuracy 1.0, MIDDLE's 0.75 and
    MIDDLE's reduction 0.4, with MIDDLE's thresholds as its options."""
    table = _table()
    context = _context()
    profile = choose_profile(table, [FULL_MODEL, SLOW, MIDDLE, FAST], {"method": "retention", "retention": 0.75},
                             context)
    assert (profile["full_metric"], profile["metric"]) == (1.0, 0.75)
    assert profile["expected_time_reduction"] == pytest.approx(0.4)
    assert [profile["options"][f"{knob}_exit_threshold"] for knob in ("image", "text", "decoder")] == list(MIDDLE)


@pytest.mark.parametrize("procedure", ["fixed-sequence", "bonferroni"], ids=["fixed_sequence", "bonferroni"])
def test_a_certified_profile_records_what_it_was_chosen_with(procedure):
    """--method ltt on the full model and three configurations (the full model never tested): the
    profile's guarantee is the one the options given choose (epsilon, delta, procedure, learn
    fraction, seed), and the profile holds the split, the grid's size, the decoder's decay, and the
    table's granularity (step, 1 where no quantile was given) and batch size."""
    rows = _disagreeing_table(100)
    table = CalibrationTable("snli_ve", {"task_options": {"exit_granularity": "step", "exit_step_quantile": None},
                                         "batch_size": 8}, rows.rows, rows.targets, rows.entries)
    options = {"method": "ltt", "risk_epsilon": 0.1, "risk_delta": 0.2, "loss": "consistency", "rouge_cutoff": None,
               "multiple_testing": procedure, "learn_fraction": 0.5, "seed": 4}
    context = _context(split="test", decoder_exit_beta=0.9, decoder_exit_tau=2.0)
    profile = choose_profile(table, [FULL_MODEL, SLOW, MIDDLE, FAST], options, context)
    chosen = choose_certified(table, [SLOW, MIDDLE, FAST], "consistency", 0.1, 0.2, procedure, 0.5, 4)
    assert profile["guarantee"] == chosen["guarantee"]
    guarantee = profile["guarantee"]
    assert (guarantee["epsilon"], guarantee["delta"], guarantee["multiple_testing"], guarantee["configurations"]) == \
        (0.1, 0.2, procedure, 3)
    fixed = procedure == "fixed-sequence"
    assert (guarantee["split_seed"], guarantee["learn_rows"]) == ((4, 50) if fixed else (None, 0))
    assert tuple(profile["options"][f"{knob}_exit_threshold"] for knob in ("image", "text", "decoder")) == \
        chosen["thresholds"]
    assert (profile["split"], profile["settings_evaluated"], profile["metric_name"]) == ("test", 4, "accuracy")
    assert {name: profile["options"][name] for name in ("decoder_exit_beta", "decoder_exit_tau", "exit_granularity",
                                                        "exit_step_quantile")} == \
        {"decoder_exit_beta": 0.9, "decoder_exit_tau": 2.0, "exit_granularity": "step", "exit_step_quantile": 1.0}
    assert profile["calibration_batch_size"] == 8


def test_a_retention_profile_records_its_target_and_a_token_granularity_by_default():
    context = _context()
    profile = choose_profile(_table(), [FULL_MODEL, SLOW, MIDDLE, FAST], {"method": "retention", "retention": 0.75},
                             context)
    assert (profile["method"], profile["target_retention"], profile["guarantee"]) == ("retention", 0.75, None)
    assert profile["options"]["exit_granularity"] == "token" and "exit_step_quantile" not in profile["options"]
    assert "calibration_batch_size" not in profile
    assert default_table_path("results/snli_ve_profile.json") == "results/snli_ve_profile.table.json.gz"


def _caption_run(task_dir, full, mue, static_rows):
    """What reproduce writes for a caption seed, as far as the demo summary reads it."""
    (task_dir / "reproduce" / "sweep").mkdir(parents=True)
    layers = {"expected_time_reduction": 0.5, "image_layers": 3, "text_layers": 3, "decoder_layers": 3}
    (task_dir / "reproduce" / "reproduce.json").write_text(json.dumps({
        "examples": 10, "mue_vs_static": {"summary": {}},
        "table1": [{"curve": "full", "cider": full, **layers}, {"curve": "mue_given", "cider": mue, **layers}]}))
    rows = [{"curve": "static", "image_layers": i, "text_layers": t, "decoder_layers": d, "metric": metric,
             "expected_time_reduction": 0.1} for (i, t, d), metric in static_rows]
    (task_dir / "reproduce" / "sweep" / "sweep.json").write_text(json.dumps({"rows": rows}))


def test_the_caption_figures_are_shares_of_the_full_models_cider(tmp_path):
    """CIDEr 1.0 for the full model, 0.97 for MuE, 0.8 for static truncation at one image, one text
    and one decoder layer (the sweep's rows with one of them deeper come first): MuE keeps 97%
    (>= 96% holds), one layer keeps 80% (<= 85% holds)."""
    _caption_run(tmp_path, 1.0, 0.97, [((2, 1, 1), 0.95), ((1, 2, 1), 0.9), ((1, 1, 2), 0.85), ((1, 1, 1), 0.8)])
    figures = task_figures(str(tmp_path), "caption")
    assert figures["caption.mue_retention"] == pytest.approx(0.97)
    assert figures["caption.static_1_share"] == pytest.approx(0.8)
    assert figures["caption.static_1_gap"] == pytest.approx(0.2)
    checks = {c["check"]: c["passed"] for c in evaluate_checks({"1": figures})}
    assert checks["captions: static truncation at 1 layer keeps at most 85% of the full model's CIDEr"] is True
    assert checks["captions calibrated MuE: >= 40% expected time reduction at >= 96% CIDEr retention"] is True


def test_the_guarantee_names_the_split_seed_only_where_a_split_was_drawn():
    """Fixed-sequence testing draws its learn/test split with the seed (recorded, so the split can
    be drawn again); Bonferroni tests every configuration on all rows (no split, no seed)."""
    from ofa_mue.calibrate import choose_certified
    from test_retention_choice import _disagreeing_table

    table = _disagreeing_table(100)
    fixed = choose_certified(table, [SLOW, MIDDLE, FAST], "consistency", 0.1, 0.1, "fixed-sequence", 0.3, 7)
    bonferroni = choose_certified(table, [SLOW, MIDDLE, FAST], "consistency", 0.1, 0.1, "bonferroni", 0.3, 7)
    assert fixed["guarantee"]["split_seed"] == 7 and (fixed["guarantee"]["learn_rows"], fixed["guarantee"]["test_rows"]) == (30, 70)
    assert bonferroni["guarantee"]["split_seed"] is None
    assert bonferroni["guarantee"]["configurations_tested"] == 3


def test_a_replaced_run_of_another_number_of_rows_is_refused(tmp_path):
    """A replaced-images (or certified) run that scored other rows than the reproduce run is no
    figure of the same test split: refused, naming its file."""
    (tmp_path / "test_metrics.json").write_text(json.dumps({"examples": 9, "metrics": {"accuracy": 0.4}}))
    assert replaced_run(str(tmp_path), 9)["metrics"] == {"accuracy": 0.4}
    with pytest.raises(ValueError, match="test_metrics.json: 9 examples scored, the reproduce run scored 10"):
        replaced_run(str(tmp_path), 10)


@pytest.mark.parametrize("retention, accepted", [("1.0", True), ("0.5", True), ("1.01", False), ("0", False)])
def test_the_retention_target_is_in_zero_one(retention, accepted):
    """--method retention --retention R: R in (0, 1]; keeping all of the full model's metric (1) is a target."""
    options = ("--task", "snli_ve", "--method", "retention", "--retention", retention)
    if accepted:
        assert _checked(*options).retention == float(retention)
    else:
        with pytest.raises(SystemExit):
            _checked(*options)


def _checked(*options: str):
    """The calibration's arguments for ``options`` after check_arguments (SystemExit if refused)."""
    parser = build_calibration_parser()
    args, _ = parser.parse_known_args(["DATA", "--path", "c.pt", "--profile-path", "p.json", *options])
    check_arguments(args, parser)
    return args


@pytest.mark.parametrize("task, loss", [("snli_ve", "consistency"), ("caption", "cider")], ids=["snli_ve", "caption"])
def test_unset_calibration_options_take_their_documented_defaults(task, loss):
    """--method ltt (the default): epsilon 0.05, delta 0.1, the task's default loss, fixed-sequence
    testing learning on 0.3 of the rows, split with --seed; --method retention: 0.99 of the metric."""
    args = _checked("--task", task, "--seed", "5")
    assert method_options(args) == {"method": "ltt", "risk_epsilon": 0.05, "risk_delta": 0.1, "loss": loss,
                                    "rouge_cutoff": None, "multiple_testing": "fixed-sequence",
                                    "learn_fraction": 0.3, "seed": 5}
    assert method_options(_checked("--task", task, "--method", "retention")) == {"method": "retention",
                                                                                "retention": 0.99}
    assert method_options(_checked("--task", task, "--method", "retention", "--retention", "0.9"))["retention"] == 0.9


def test_a_rouge_cut_off_defaults_to_0_8_takes_1_and_is_refused_for_another_loss():
    assert _checked("--task", "caption", "--loss", "rouge").rouge_cutoff == 0.8
    assert _checked("--task", "caption", "--loss", "rouge", "--rouge-cutoff", "1").rouge_cutoff == 1.0
    with pytest.raises(SystemExit):
        _checked("--task", "caption", "--loss", "cider", "--rouge-cutoff", "0.5")


@pytest.mark.parametrize("option", ["--risk-epsilon", "--risk-delta", "--learn-fraction"],
                         ids=["epsilon", "delta", "learn_fraction"])
@pytest.mark.parametrize("value", ["0", "1"], ids=["zero", "one"])
def test_a_level_or_learn_fraction_of_0_or_1_is_refused_before_any_work(option, value, capsys):
    """Learn-then-Test needs epsilon, delta and the learn fraction strictly inside (0, 1): 1 is
    refused with the arguments, not after the whole grid is evaluated."""
    with pytest.raises(SystemExit):
        _checked("--task", "snli_ve", option, value)
    assert f"error: {option} must be in (0, 1), got {float(value)}" in capsys.readouterr().err
