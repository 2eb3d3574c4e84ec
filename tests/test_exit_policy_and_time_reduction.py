"""MuE's exit rules (per sample, per token, decaying threshold, validation) and the
expected time reduction rate."""
from __future__ import annotations

import math

import pytest
import torch

from ofa_mue.errors import ConfigError
from ofa_mue.core.exit_granularity import TOKEN_EXITS, ExitGranularity
from ofa_mue.core.exit_policy import (
    EntropyPolicy,
    MuEThresholds,
    PatiencePolicy,
    StaticDepths,
    StreamSimilarityExit,
    TokenSimilarityExit,
    similarity_exceeds,
    stream_similarity,
)
from ofa_mue.core.time_reduction import ExampleLayers, expected_time_reduction, summarize, time_share


def test_stream_similarity_is_per_sample_and_ignores_padding():
    torch.manual_seed(0)
    x_in = torch.randn(2, 4, 8)
    x_out = x_in.clone()
    x_out[1] = torch.randn(4, 8)
    padding = torch.tensor([[False, False, True, True], [False, False, False, False]])
    x_out[0, 2:] = torch.randn(2, 8)  # padding positions differ, but do not count
    similarity = stream_similarity(x_in, x_out, padding)
    assert similarity[0] == pytest.approx(1.0, abs=1e-6)
    assert similarity[1] < 0.9
    stop = StreamSimilarityExit(0.99).should_exit(0, x_in, x_out, padding)
    assert stop.tolist() == [True, False]


def test_similarity_test_decides_as_the_cosine_similarity_does():
    generator = torch.Generator().manual_seed(0)
    x_in = torch.randn(4, 7, 16, generator=generator)
    x_out = x_in + torch.randn(4, 7, 16, generator=generator) * torch.rand(4, 7, 1, generator=generator)
    similarity = torch.nn.functional.cosine_similarity(x_in, x_out, dim=-1)
    for threshold in (-0.5, 0.0, 0.5, 0.9, 0.99):
        clear = (similarity - threshold).abs() > 1e-5  # no borderline rounding
        decided = similarity_exceeds(x_in, x_out, threshold)
        assert torch.equal(decided[clear], (similarity > threshold)[clear])
    per_token = torch.full((4, 7), 0.9)
    assert torch.equal(similarity_exceeds(x_in, x_out, per_token), similarity_exceeds(x_in, x_out, 0.9))
    zero = torch.zeros(2, 16)
    assert not similarity_exceeds(zero, zero, -1.0).any()


def test_token_rule_decides_per_token_with_decaying_threshold():
    rule = TokenSimilarityExit(theta=0.99, beta=0.95, tau=1.0, horizon=16)
    positions = torch.tensor([0, 8, 16])
    expected = [0.95 * 0.99 + 0.05 * math.exp(-t / 16) for t in (0, 8, 16)]
    assert rule.threshold(positions).tolist() == pytest.approx(expected)
    assert rule.threshold(positions)[0] > rule.threshold(positions)[-1], "first tokens are protected"
    x_in = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    x_out = torch.tensor([[1.0, 0.14], [1.0, 0.14]])  # cosine 0.9904
    stop = rule.should_exit(0, x_in, x_out, torch.tensor([0, 16]), torch.arange(2))
    assert stop.tolist() == [False, True]


def test_decaying_threshold_follows_the_positions_of_each_decoder_call():
    """Incremental decoding calls the decoder once per step, with that step's positions: the
    threshold the layers of one call share is computed again for the next call's positions, or
    every later token would be judged at the first token's (highest) threshold."""
    rule = TokenSimilarityExit(theta=0.99, beta=0.95, tau=1.0, horizon=16)
    x_in, x_out = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.14]])  # cosine 0.9904
    first = torch.tensor([[0]])  # Theta(0) = 0.9905: the first token goes on
    assert [rule.should_exit(layer, x_in, x_out, first, torch.arange(1)).item() for layer in range(3)] == [False] * 3
    last = torch.tensor([[16]])  # Theta(16) = 0.9589: the same states stop
    assert [rule.should_exit(layer, x_in, x_out, last, torch.arange(1)).item() for layer in range(3)] == [True] * 3
    assert not rule.should_exit(0, x_in, x_out, torch.tensor([[0]]), torch.arange(1)).item()


def test_thresholds_above_one_never_exit():
    x = torch.randn(3, 5, 4)
    assert not StreamSimilarityExit(MuEThresholds().image).should_exit(0, x, x, None).any()
    assert not MuEThresholds().encoder_exits
    # a decoder threshold above 1 disables the exit whatever the decay: no rule, no cost, even where
    # beta * theta + (1 - beta) * exp(-tau t / N) would fall below 1 (theta 2, beta 0.3: 0.6 at the end)
    for beta, tau in ((0.95, 1.0), (0.3, 1.0), (0.0, 3.0)):
        thresholds = MuEThresholds(decoder_beta=beta, decoder_tau=tau)
        assert thresholds.session(horizon=16).decoder_rule is None and thresholds.exiting_parts == ()
    assert MuEThresholds(decoder=1.03, decoder_beta=0.95, decoder_tau=1.0).session(horizon=16).decoder_rule is None
    assert MuEThresholds(decoder=0.99, decoder_beta=0.95, decoder_tau=1.0).session(horizon=16).decoder_rule


@pytest.mark.parametrize("field, value, flag", [
    ("image", float("nan"), "--image-exit-threshold"),
    ("text", -3.0, "--text-exit-threshold"),
    ("decoder", float("inf"), "--decoder-exit-threshold"),
    ("decoder_beta", 1.5, "--decoder-exit-beta"),
    ("decoder_tau", -1.0, "--decoder-exit-tau"),
    ("decoder_tau", float("inf"), "--decoder-exit-tau"),
])
def test_out_of_range_options_are_clear_errors(field, value, flag):
    with pytest.raises(ConfigError, match=flag):
        MuEThresholds(**{field: value})


def test_a_threshold_of_one_is_an_exit_and_either_stream_alone_makes_the_encoder_exit():
    """Only a threshold above 1 disables an exit: at exactly 1 the part gets its rule and is named among
    the exiting parts. Either stream's threshold alone makes the encoder exit (the sweep hands MuE's
    encoder thresholds to the baselines on that property)."""
    at_one = MuEThresholds(image=1.0, text=1.0, decoder=1.0)
    assert at_one.exiting_parts == ("image", "text", "decoder")
    session = at_one.session(horizon=16)
    assert set(session.encoder_rules) == {"image", "text"} and session.decoder_rule is not None
    assert MuEThresholds(image=0.9).encoder_exits and MuEThresholds(image=0.9).exiting_parts == ("image",)
    assert MuEThresholds(text=0.9).encoder_exits and MuEThresholds(text=0.9).exiting_parts == ("text",)
    assert MuEThresholds(image=1.0).encoder_exits and not MuEThresholds(decoder=0.9).encoder_exits


def test_the_session_decodes_at_the_policys_granularity():
    """``--exit-granularity`` reaches the decoder: each policy's session carries its granularity, the
    default being per token."""
    step = ExitGranularity("step", quantile=0.5)
    assert MuEThresholds(decoder=0.9, granularity=step).session(horizon=4).decoder_granularity == step
    assert MuEThresholds(decoder=0.9).session(horizon=4).decoder_granularity == TOKEN_EXITS
    project = lambda hidden, tokens: hidden  # noqa: E731 (never called here)
    assert EntropyPolicy(0.5, granularity=step).session(4, project).decoder_granularity == step
    assert PatiencePolicy(2, granularity=step).session(4, project).decoder_granularity == step


def test_the_baselines_refuse_out_of_range_encoder_thresholds():
    """The entropy and patience baselines take MuE's encoder thresholds under MuE's range check."""
    for policy in (lambda **image: EntropyPolicy(0.5, **image), lambda **image: PatiencePolicy(2, **image)):
        with pytest.raises(ConfigError, match="--image-exit-threshold"):
            policy(image=float("nan"))
        assert policy(image=-1.0).exiting_parts == ("image", "decoder")


def test_static_depths_are_whole_numbers_within_their_own_parts_depth():
    """A depth of 0 leaves its part in full (no rule). Each depth is checked against its own part: the
    streams against the encoder's layers, the decoder against the decoder's (unequal here, as in
    ofa_huge's 24 and 12)."""
    with pytest.raises(ConfigError, match="--static-text-layers must be a whole number"):
        StaticDepths(text=2.5)
    assert StaticDepths(image=2, text=0, decoder=3).exiting_parts == ("image", "decoder")
    session = StaticDepths(image=2).session(horizon=5)  # a depth of 0 runs the part in full: no rule
    assert set(session.encoder_rules) == {"image"} and session.decoder_rule is None
    StaticDepths(image=6, text=6, decoder=12).check_depths(encoder_layers=6, decoder_layers=12)
    for depths, flag in (({"image": 7}, "--static-image-layers 7"), ({"text": 7}, "--static-text-layers 7"),
                         ({"decoder": 13}, "--static-decoder-layers 13")):
        with pytest.raises(ConfigError, match=flag):
            StaticDepths(**depths).check_depths(encoder_layers=6, decoder_layers=12)


def test_a_decay_factor_without_a_decay_rate_is_refused():
    """--decoder-exit-beta below 1 with --decoder-exit-tau left at 0 gives no decay, only the constant
    beta * theta + (1 - beta) (0.9905 for theta 0.99, beta 0.95): refused in one line, not run as a
    threshold the user did not ask for."""
    with pytest.raises(ConfigError, match=r"^--decoder-exit-beta 0.95 with --decoder-exit-tau 0 .* does not decay"):
        MuEThresholds(decoder=0.99, decoder_beta=0.95)
    assert MuEThresholds(decoder=0.99, decoder_beta=0.95, decoder_tau=1.0).decoder_tau == 1.0
    assert MuEThresholds(decoder=0.99, decoder_beta=1.0).decoder_beta == 1.0


def test_expected_time_reduction_follows_the_paper():
    full = ExampleLayers(image_layers=6, image_tokens=16, text_layers=6, text_tokens=4,
                         decoder_layer_sum=6 * 5, decoder_tokens=5)
    assert time_share(full, 6, 6) == pytest.approx(1.0)
    assert expected_time_reduction([full], 6, 6) == pytest.approx(0.0)
    # image stream 3 of 6 layers (16 tokens), text 6 of 6 (4 tokens): encoder 0.6;
    # decoder tokens used 2, 3 and 4 of 6 layers: 0.5; share (0.6 + 0.5) / 2 = 0.55.
    early = ExampleLayers(image_layers=3, image_tokens=16, text_layers=6, text_tokens=4,
                          decoder_layer_sum=2 + 3 + 4, decoder_tokens=3)
    assert time_share(early, 6, 6) == pytest.approx(0.55)
    assert expected_time_reduction([full, early], 6, 6) == pytest.approx(1 - (1.0 + 0.55) / 2)
    summary = summarize([full, early], 6, 6)
    assert summary.image_layers == pytest.approx(4.5)
    assert summary.decoder_layers == pytest.approx((6 + 3) / 2)
    assert summary.examples == 2


def test_encoder_and_decoder_terms_are_each_over_their_own_depth():
    """ofa_huge has 24 encoder and 12 decoder layers: each term counts its part's layers over that
    part's depth (every depth test above has equal depths, where swapped depths go unseen). The
    full model's share is 1.0, not (24/12 + 12/24) / 2 = 1.25."""
    half_encoder = ExampleLayers(image_layers=12, image_tokens=900, text_layers=12, text_tokens=20,
                                 decoder_layer_sum=12 * 4, decoder_tokens=4)
    half_decoder = ExampleLayers(image_layers=24, image_tokens=900, text_layers=24, text_tokens=20,
                                 decoder_layer_sum=6 * 4, decoder_tokens=4)
    assert time_share(half_encoder, 24, 12) == pytest.approx((0.5 + 1.0) / 2)
    assert time_share(half_decoder, 24, 12) == pytest.approx((1.0 + 0.5) / 2)
    deep_encoder = ExampleLayers(image_layers=24, image_tokens=900, text_layers=24, text_tokens=20,
                                 decoder_layer_sum=12 * 4, decoder_tokens=4)
    assert time_share(deep_encoder, 24, 12) == pytest.approx(1.0)
    summary = summarize([half_encoder, deep_encoder], 24, 12)
    assert summary.expected_time_reduction == pytest.approx(1 - (0.75 + 1.0) / 2)
    assert summary.expected_time_reduction_scored_positions == pytest.approx(summary.expected_time_reduction)


def test_scored_positions_variant_counts_only_the_scored_decoder_positions():
    # teacher-forced scoring: 4 positions processed (prompt 2, answer 2) with 6, 6, 2, 2 layers; the
    # scored ones are the last prompt position and the answer (6, 2, 2). Encoder at full depth: 1.0.
    scored = ExampleLayers(image_layers=6, image_tokens=16, text_layers=6, text_tokens=4,
                           decoder_layer_sum=6 + 6 + 2 + 2, decoder_tokens=4,
                           decoder_scored_layer_sum=6 + 2 + 2, decoder_scored_tokens=3)
    assert time_share(scored, 6, 6) == pytest.approx((1.0 + 16 / 24) / 2)
    assert time_share(scored, 6, 6, scored_positions=True) == pytest.approx((1.0 + 10 / 18) / 2)
    # in generation every processed position is scored: both figures agree
    generated = ExampleLayers(image_layers=6, image_tokens=16, text_layers=6, text_tokens=4,
                              decoder_layer_sum=9, decoder_tokens=3)
    assert time_share(generated, 6, 6, scored_positions=True) == time_share(generated, 6, 6)
    summary = summarize([scored, generated], 6, 6)
    assert summary.decoder_layers == pytest.approx((4 + 3) / 2)
    assert summary.decoder_layers_scored_positions == pytest.approx((10 / 3 + 3) / 2)
    assert summary.expected_time_reduction_scored_positions == pytest.approx(
        1 - (time_share(scored, 6, 6, True) + time_share(generated, 6, 6)) / 2)
    assert summary.expected_time_reduction_scored_positions != pytest.approx(summary.expected_time_reduction)


def test_an_example_without_counted_decoder_positions_claims_no_decoder_saving():
    # encoder: image 3 of 6 layers (16 tokens), text 6 of 6 (4 tokens): 0.6; no decoder position recorded,
    # so the decoder term is the full model's 1.0 (not 0.0, which would claim the whole decoder saved)
    encoder_only = ExampleLayers(image_layers=3, image_tokens=16, text_layers=6, text_tokens=4)
    assert time_share(encoder_only, 6, 6) == pytest.approx((0.6 + 1.0) / 2)
    assert encoder_only.decoder_layers() == 0.0
    # the scored-positions variant with no scored position, beside 4 processed ones of 3 layers
    unscored = ExampleLayers(image_layers=6, image_tokens=16, text_layers=6, text_tokens=4,
                             decoder_layer_sum=12, decoder_tokens=4, decoder_scored_layer_sum=0,
                             decoder_scored_tokens=0)
    assert time_share(unscored, 6, 6) == pytest.approx((1.0 + 0.5) / 2)
    assert time_share(unscored, 6, 6, scored_positions=True) == pytest.approx(1.0)
    # the split's mean decoder depth leaves out examples without decoder positions; the reduction counts them
    early = ExampleLayers(image_layers=6, image_tokens=16, text_layers=6, text_tokens=4,
                          decoder_layer_sum=2 * 3, decoder_tokens=2)
    summary = summarize([encoder_only, early], 6, 6)
    assert summary.decoder_layers == pytest.approx(3.0)
    assert summary.expected_time_reduction == pytest.approx(1 - ((0.6 + 1.0) / 2 + (1.0 + 0.5) / 2) / 2)


@pytest.mark.parametrize("options, message", [
    ({"exit_policy": "static", "static_decoder_layers": 2, "image_exit_threshold": 0.9},
     "--image-exit-threshold cannot apply with --exit-policy static"),
    ({"exit_policy": "entropy", "decoder_exit_threshold": 0.9},
     "--decoder-exit-threshold cannot apply with --exit-policy entropy"),
    ({"exit_policy": "patience", "exit_profile": "profile.json"}, "--exit-profile holds MuE's thresholds"),
    ({"exit_policy": "mue", "static_text_layers": 3}, "--static-text-layers sets a static depth"),
    ({"entropy_exit_threshold": 0.3}, "--entropy-exit-threshold 0.3 needs --exit-policy entropy \\(got mue\\)"),
    ({"exit_policy": "entropy", "patience_exit_layers": 3}, "--patience-exit-layers 3 needs --exit-policy patience"),
    ({"exit_policy": "static", "static_decoder_layers": 4}, "--static-decoder-layers 4 is deeper than the model's decoder"),
    pytest.param({"exit_policy": "patience", "decoder_exit_threshold": 0.9},
                 "--decoder-exit-threshold cannot apply with --exit-policy patience", id="patience-decoder-threshold"),
    pytest.param({"exit_policy": "static", "static_decoder_layers": 2, "text_exit_threshold": 1.0},
                 "--text-exit-threshold cannot apply with --exit-policy static", id="static-threshold-of-one"),
])
def test_task_refuses_exit_options_it_cannot_honour(ofa_vocab, options, message):
    from types import SimpleNamespace

    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

    task = SnliVeTask(SnliVeConfig(**options), ofa_vocab)
    model = SimpleNamespace(encoder=SimpleNamespace(num_layers=6), decoder=SimpleNamespace(num_layers=3))
    with pytest.raises(ConfigError, match=message):
        task.exit_policy(model)


def test_task_builds_baselines_with_mues_encoder_exits(ofa_vocab):
    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask
    from ofa_mue.core.exit_policy import EntropyPolicy, PatiencePolicy

    entropy = SnliVeTask(SnliVeConfig(exit_policy="entropy", entropy_exit_threshold=0.3, image_exit_threshold=0.9,
                                      text_exit_threshold=0.95), ofa_vocab).exit_policy()
    assert entropy == EntropyPolicy(0.3, image=0.9, text=0.95)
    patience = SnliVeTask(SnliVeConfig(exit_policy="patience", patience_exit_layers=2), ofa_vocab).exit_policy()
    assert patience == PatiencePolicy(2) and patience.exiting_parts == ("decoder",)


def test_task_builds_each_policy_with_its_own_depths_and_the_granularity_given(ofa_vocab):
    """--static-image/text/decoder-layers cut their own part, and --exit-granularity (with its
    --exit-step-quantile / --exit-launch-flops) reaches the entropy and patience policies too."""
    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

    static = SnliVeTask(SnliVeConfig(exit_policy="static", static_image_layers=2, static_text_layers=3,
                                     static_decoder_layers=1), ofa_vocab).exit_policy()
    assert static == StaticDepths(image=2, text=3, decoder=1)
    entropy = SnliVeTask(SnliVeConfig(exit_policy="entropy", entropy_exit_threshold=0.3, exit_granularity="auto",
                                      exit_launch_flops=5e6), ofa_vocab).exit_policy()
    assert entropy == EntropyPolicy(0.3, ExitGranularity("auto", launch_flops=5e6))
    patience = SnliVeTask(SnliVeConfig(exit_policy="patience", patience_exit_layers=2, exit_granularity="step",
                                       exit_step_quantile=0.5), ofa_vocab).exit_policy()
    assert patience == PatiencePolicy(2, ExitGranularity("step", 0.5))


def test_summary_means_each_stream_over_the_examples_that_have_it_and_rows_give_the_main_figure():
    """A text-only example (no image stream) and an image-only one do not pull the other stream's mean
    depth towards 0; the scored-positions mean decoder depth leaves out an example without scored
    positions, as the main one leaves out one without decoder positions; each per-example row gives
    the main figure's time share and its own scored depth; the metrics dict reports each figure
    under its own name."""
    both = ExampleLayers(image_layers=4, image_tokens=16, text_layers=2, text_tokens=4,
                         decoder_layer_sum=6 + 6 + 2 + 2, decoder_tokens=4,
                         decoder_scored_layer_sum=6 + 2 + 2, decoder_scored_tokens=3)
    text_only = ExampleLayers(image_layers=0, image_tokens=0, text_layers=6, text_tokens=5,
                              decoder_layer_sum=3 * 2, decoder_tokens=2,
                              decoder_scored_layer_sum=0, decoder_scored_tokens=0)
    image_only = ExampleLayers(image_layers=2, image_tokens=9, text_layers=0, text_tokens=0,
                               decoder_layer_sum=6, decoder_tokens=1)
    summary = summarize([both, text_only, image_only], 6, 6)
    assert summary.image_layers == pytest.approx((4 + 2) / 2)
    assert summary.text_layers == pytest.approx((2 + 6) / 2)
    assert summary.decoder_layers == pytest.approx((4 + 3 + 6) / 3)
    assert summary.decoder_layers_scored_positions == pytest.approx((10 / 3 + 6) / 2)
    rows = summary.per_example
    assert [row["time_share"] for row in rows] == [pytest.approx(time_share(e, 6, 6))
                                                  for e in (both, text_only, image_only)]
    assert rows[0]["time_share"] != pytest.approx(time_share(both, 6, 6, scored_positions=True))
    assert rows[0]["decoder_layers"] == pytest.approx(4.0)
    assert rows[0]["decoder_layers_scored_positions"] == pytest.approx(10 / 3)
    metrics = summary.as_dict()
    assert metrics["expected_time_reduction"] == summary.expected_time_reduction
    assert metrics["expected_time_reduction_scored_positions"] == summary.expected_time_reduction_scored_positions
    assert metrics["expected_time_reduction"] != pytest.approx(metrics["expected_time_reduction_scored_positions"])
    assert metrics["decoder_layers"] == summary.decoder_layers
    assert metrics["decoder_layers_scored_positions"] == summary.decoder_layers_scored_positions
