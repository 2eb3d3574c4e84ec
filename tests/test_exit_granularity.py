"""Exit granularity (``--exit-granularity``): per token (the default), per decoder call
('step', at the deepest or a quantile of the tokens' choices), and 'auto' (per-token
decisions, packing only where the cost model says it pays); the granularity an exit profile
was calibrated with, and the calibration table's key under step."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
from ofa_mue.core.exit_granularity import PACK_OPERATIONS, ExitGranularity, packing_pays
from ofa_mue.core.exit_policy import StaticDepths
from ofa_mue.core.flops import decoder_layer_flops
from ofa_mue.errors import ConfigError
from test_early_exit_inference import VOCAB, _batch, model  # noqa: F401  (the same small model)

@dataclass(frozen=True)
class ChooseByPosition:
    """A token at position t chooses to stop after layer (t mod 3) + 1."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return positions % 3 == layer


def _decode(net, prev, granularity, rule=ChooseByPosition(), incremental=False):
    session = ExitSession(decoder_rule=rule, decoder_granularity=granularity)
    with torch.no_grad():
        encoder_out = net.encoder(**_batch(prev.size(0)), exit_session=session)
        if not incremental:
            return net.decoder(prev, encoder_out=encoder_out)
        state: dict = {}
        steps = [net.decoder(prev[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
                 for t in range(prev.size(1))]
    return torch.cat([logits for logits, _ in steps], 1), {"exit_layers": torch.cat(
        [extra["exit_layers"] for _, extra in steps], 1)}


def _static(net, prev, layers):
    with torch.no_grad():
        session = StaticDepths(decoder=layers).session(horizon=prev.size(1))
        return net.decoder(prev, encoder_out=net.encoder(**_batch(prev.size(0)), exit_session=session))[0]


def test_step_exits_stop_every_token_of_a_call_at_the_deepest_choice(model):
    net, _ = model
    prev = torch.randint(4, VOCAB, (2, 7))
    logits, extra = _decode(net, prev, ExitGranularity("step"))
    assert (extra["exit_layers"] == 3).all(), "positions 0..6 choose layers 1, 2, 3: the call stops at 3"
    assert torch.equal(logits, _static(net, prev, 3)), "every token ran exactly three layers"
    token_logits, token_extra = _decode(net, prev, ExitGranularity("token"))
    assert token_extra["exit_layers"][0].tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert not torch.allclose(token_logits, logits), "per-token exits stop tokens at their own layers"


def test_step_quantile_stops_once_that_share_chose(model):
    net, _ = model
    prev = torch.randint(4, VOCAB, (1, 7))
    # after layer 1, positions 0, 3, 6 chose (3 of 7); after layer 2 also 1 and 4 (5 of 7)
    for quantile, layer in ((0.4, 1), (0.5, 2), (5 / 7, 2), (0.75, 3), (1.0, 3)):
        logits, extra = _decode(net, prev, ExitGranularity("step", quantile))
        assert (extra["exit_layers"] == layer).all(), quantile
        assert torch.equal(logits, _static(net, prev, layer)), quantile


def test_step_exits_do_not_count_padding(model):
    net, dictionary = model
    prev = torch.randint(4, VOCAB, (2, 7))
    prev[1, 3:] = dictionary.pad()  # row 1: positions 0..2 only
    _, extra = _decode(net, prev, ExitGranularity("step", 0.5))
    # counted: 7 + 3 = 10 tokens, 5 needed: after layer 1, 3 + 1 chose; after layer 2, 5 + 2
    assert (extra["exit_layers"] == 2).all()
    # the share is of the 10 counted tokens, not of the 14 places: 4 (0.4) stop after layer 1, 7 (0.7) after 2
    for quantile, layer in ((0.4, 1), (0.7, 2)):
        _, extra = _decode(net, prev, ExitGranularity("step", quantile))
        assert (extra["exit_layers"] == layer).all(), quantile


@dataclass(frozen=True)
class ChooseByRow:
    """In a generation step (one position per row), row r chooses to stop after layer (r mod 3) + 1."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return tokens % 3 == layer


def test_step_exits_in_incremental_decoding_stop_each_step_together(model):
    net, _ = model
    prev = torch.randint(4, VOCAB, (3, 5))
    step_logits, step = _decode(net, prev, ExitGranularity("step"), ChooseByRow(), incremental=True)
    _, token = _decode(net, prev, ExitGranularity("token"), ChooseByRow(), incremental=True)
    assert token["exit_layers"][:, 0].tolist() == [1, 2, 3]
    assert (step["exit_layers"] == 3).all(), "the rows of each step stop together, at the deepest choice"
    torch.testing.assert_close(step_logits, _static(net, prev, 3), atol=1e-5, rtol=1e-5)


def test_auto_granularity_keeps_the_per_token_decisions_packed_or_dense(model):
    net, _ = model
    prev = torch.randint(4, VOCAB, (3, 6))
    token_logits, token_extra = _decode(net, prev, ExitGranularity("token"))
    always_pack = _decode(net, prev, ExitGranularity("auto", launch_flops=0.0))
    assert torch.equal(always_pack[0], token_logits) and torch.equal(always_pack[1]["exit_layers"],
                                                                     token_extra["exit_layers"])
    rows = []
    hook = net.decoder.layers[2].fc1.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[:-1].numel()))
    try:
        never_pack = _decode(net, prev, ExitGranularity("auto", launch_flops=1e30))
        _decode(net, prev, ExitGranularity("token"))
    finally:
        hook.remove()
    assert rows == [3 * 6, 3 * 2], "layer 3: dense on every token; packed on the positions 2 and 5 of each row"
    assert torch.equal(never_pack[1]["exit_layers"], token_extra["exit_layers"])
    torch.testing.assert_close(never_pack[0], token_logits, atol=1e-5, rtol=1e-5)


@dataclass(frozen=True)
class RowPolicy:
    """A policy whose sessions stop generation rows by :class:`ChooseByRow`, at a granularity."""

    granularity: ExitGranularity

    def session(self, horizon, project=None):
        return ExitSession(decoder_rule=ChooseByRow(), decoder_granularity=self.granularity)


def test_auto_granularity_in_generation_gives_the_per_token_result(model):
    net, dictionary = model
    sample = {"net_input": _batch(3), "id": torch.arange(3)}

    def generate(granularity):
        generator = EarlyExitSequenceGenerator([net], dictionary, policy=RowPolicy(granularity), beam_size=2,
                                               max_len_b=5)
        return generator.generate([net], sample), generator.last_example_layers

    token, token_layers = generate(ExitGranularity("token"))
    dense, dense_layers = generate(ExitGranularity("auto", launch_flops=1e30))
    assert [e.decoder_layer_sum for e in token_layers] == [e.decoder_layer_sum for e in dense_layers]
    assert len({e.decoder_layers() for e in token_layers}) > 1, "rows stop at different layers"
    for a, b in zip(token, dense):
        assert torch.equal(a[0]["tokens"], b[0]["tokens"])
        torch.testing.assert_close(a[0]["score"], b[0]["score"], atol=1e-5, rtol=1e-5)


def test_pack_operations_counts_what_packing_adds(model):
    """The cost model's constant is the number of operators packing adds per layer."""
    net, _ = model

    @dataclass(frozen=True)
    class HalfStopAtFirstLayer:
        def should_exit(self, layer, x_in, x_out, positions, tokens):
            return (tokens % 2 == 0) if layer == 0 else torch.zeros_like(tokens, dtype=torch.bool)

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    def operators(launch_flops: float) -> int:
        prev = torch.randint(4, VOCAB, (4, 1))
        session = ExitSession(decoder_rule=HalfStopAtFirstLayer(),
                              decoder_granularity=ExitGranularity("auto", launch_flops=launch_flops))
        with torch.no_grad():
            encoder_out = net.encoder(**_batch(4), exit_session=session)
            Count.calls = 0
            with Count():
                net.decoder(prev, encoder_out=encoder_out, incremental_state={})
        return Count.calls

    later_layers = net.decoder.num_layers - 1
    per_layer = (operators(0.0) - operators(1e30)) / later_layers
    assert abs(per_layer - PACK_OPERATIONS) <= 4, per_layer


def test_auto_granularity_weighs_the_exited_tokens_work_at_the_calls_keys(model, monkeypatch):
    """The cost model of each layer gets the tokens that left (not those still running) and one
    token's FLOPs for the layer at the call's self-attention keys (cached and new positions) and
    encoder tokens, with the granularity's launch cost."""
    net, _ = model
    asked = []

    def spy(exited, flops_per_token, launch_flops):
        asked.append((exited, flops_per_token, launch_flops))
        return True

    monkeypatch.setattr(sys.modules[type(net.decoder).__module__], "packing_pays", spy)
    prev = torch.randint(4, VOCAB, (3, 3))
    session = ExitSession(decoder_rule=ChooseByRow(), decoder_granularity=ExitGranularity("auto", launch_flops=7.0))
    with torch.no_grad():
        encoder_out = net.encoder(**_batch(3), exit_session=session)
        state: dict = {}
        for t in range(prev.size(1)):
            net.decoder(prev[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
    dim, ffn = net.decoder.embed_tokens.embedding_dim, net.decoder.layers[0].fc1.out_features
    source = encoder_out["encoder_out"][0].size(1)
    # each step: row 0 stops after layer 1, row 1 after layer 2; layer 2 leaves 1 token out, layer 3 two
    assert asked == [(exited, decoder_layer_flops(dim, ffn, t + 1, source), 7.0) for t in range(3) for exited in (1, 2)]


def test_cost_model_packs_when_the_saved_work_outweighs_the_launches():
    assert packing_pays(exited=10, flops_per_token=1e6, launch_flops=1e5)
    assert not packing_pays(exited=1, flops_per_token=1e5, launch_flops=1e5)
    assert not packing_pays(exited=0, flops_per_token=1e9, launch_flops=0.0)


def test_launch_flops_are_a_launchs_time_at_the_layer_shapes_rate_per_width(monkeypatch):
    """On a clock that ticks one second per reading, a timed loop of n calls takes 1/n s a call: the
    addition 1/200 s, the [64, d] x [d, 4d] product (2 * 64 * d * 4d FLOPs) 1/20 s; measured per width."""
    from ofa_mue.core import exit_granularity

    ticks = iter(range(1000))
    monkeypatch.setattr(exit_granularity.time, "perf_counter", lambda: float(next(ticks)))
    monkeypatch.setattr(exit_granularity, "_MEASURED", {})
    for dim in (8, 16):
        rate = 2 * 64 * dim * 4 * dim / (1 / 20)
        assert exit_granularity.measured_launch_flops(torch.device("cpu"), dim) == pytest.approx(rate / 200)


@pytest.mark.parametrize("kwargs, flag", [
    ({"mode": "layer"}, "--exit-granularity"),
    ({"mode": "step", "quantile": 0.0}, "--exit-step-quantile"),
    ({"mode": "step", "quantile": 1.5}, "--exit-step-quantile"),
    ({"mode": "token", "quantile": 0.5}, "--exit-step-quantile applies to --exit-granularity step"),
    ({"mode": "auto", "launch_flops": -1.0}, "--exit-launch-flops"),
    ({"mode": "step", "launch_flops": 1.0}, "--exit-launch-flops applies to --exit-granularity auto"),
], ids=["unknown_mode", "quantile_zero", "quantile_above_one", "quantile_outside_step", "negative_launch_flops",
        "launch_flops_outside_auto"])
def test_bad_granularity_options_are_clear_errors(kwargs, flag):
    with pytest.raises(ConfigError, match=flag):
        ExitGranularity(**kwargs)


def _snli_task(ofa_vocab, **options):
    from omegaconf import OmegaConf

    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

    return SnliVeTask(OmegaConf.structured(SnliVeConfig(**options)), ofa_vocab)


def _profile(tmp_path, name: str = "profile.json", **granularity) -> str:
    from ofa_mue.core.exit_profile import save_exit_profile

    path = tmp_path / name
    save_exit_profile(str(path), {"options": {"image_exit_threshold": 2.0, "text_exit_threshold": 2.0,
                                              "decoder_exit_threshold": 0.9, **granularity}})
    return str(path)


def test_a_profile_runs_at_the_granularity_it_was_calibrated_with(ofa_vocab, tmp_path):
    step = _profile(tmp_path, exit_granularity="step", exit_step_quantile=0.5)
    assert _snli_task(ofa_vocab, exit_profile=step).exit_policy().granularity == ExitGranularity("step", 0.5)
    # the command line may repeat it; token and auto make the same decisions, so either runs the other's profile
    assert _snli_task(ofa_vocab, exit_profile=step, exit_granularity="step").exit_policy().granularity.quantile == 0.5
    auto = _profile(tmp_path, "auto.json", exit_granularity="auto")
    assert _snli_task(ofa_vocab, exit_profile=auto).exit_policy().granularity == ExitGranularity("auto")
    assert _snli_task(ofa_vocab, exit_profile=auto, exit_granularity="token").exit_policy().granularity.mode == "token"


def test_a_profile_without_a_granularity_was_calibrated_per_token(ofa_vocab, tmp_path):
    from ofa_mue.core.exit_profile import load_exit_profile

    old = _profile(tmp_path)  # as every profile was written before the granularity was recorded
    assert load_exit_profile(old)["exit_granularity"] == "token"
    assert _snli_task(ofa_vocab, exit_profile=old).exit_policy().granularity == ExitGranularity("token")
    with pytest.raises(ConfigError, match="calibrated with --exit-granularity token, but the command line asks for "
                                          "--exit-granularity step --exit-step-quantile 1"):
        _snli_task(ofa_vocab, exit_profile=old, exit_granularity="step").exit_policy()


@pytest.mark.parametrize("given, asked", [
    ({"exit_granularity": "token"}, "--exit-granularity token"),
    ({"exit_granularity": "auto"}, "--exit-granularity auto"),
    ({"exit_step_quantile": 0.7}, "--exit-granularity step --exit-step-quantile 0.7"),
])
def test_a_granularity_that_decides_otherwise_than_the_profile_is_refused(ofa_vocab, tmp_path, given, asked):
    step = _profile(tmp_path, exit_granularity="step", exit_step_quantile=0.5)
    with pytest.raises(ConfigError) as error:
        _snli_task(ofa_vocab, exit_profile=step, **given).exit_policy()
    assert str(error.value).startswith(f"{step}: the exit profile was calibrated with --exit-granularity step "
                                       f"--exit-step-quantile 0.5, but the command line asks for {asked}:")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("granularity, field, message", [
    ({"exit_granularity": "layer"}, "options.exit_granularity", "must be one of token, step, auto"),
    ({"exit_granularity": "step", "exit_step_quantile": 0.0}, "options.exit_step_quantile", r"must be in \(0, 1\]"),
    ({"exit_granularity": "step", "exit_step_quantile": 1.5}, "options.exit_step_quantile", r"must be in \(0, 1\]"),
    ({"exit_step_quantile": 0.5}, "options.exit_step_quantile", "applies to the step granularity, not 'token'"),
])
def test_a_bad_granularity_in_a_profile_names_the_file_and_field(tmp_path, granularity, field, message):
    from ofa_mue.core.exit_profile import load_exit_profile
    from ofa_mue.errors import DataError

    path = _profile(tmp_path, **granularity)
    with pytest.raises(DataError, match=f"^{path}, field '{field}': {message}"):
        load_exit_profile(path)


def test_a_step_calibration_table_is_only_reused_at_its_batch_size(ofa_vocab, tmp_path):
    """Under step a token's depth depends on the other rows of its call; per token (and auto) it does not."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from ofa_mue.calibration_table import evaluation_key

    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"weights")

    def key(batch_size: int, **options):
        cfg = OmegaConf.create({"common_eval": {"path": str(checkpoint), "model_overrides": "{}"},
                                "generation": {"beam": 5}, "task": OmegaConf.structured(SnliVeConfig(**options))})
        return evaluation_key(SimpleNamespace(task=SnliVeTask(cfg.task, ofa_vocab), cfg=cfg, split="valid",
                                              batch_size=batch_size))

    assert key(100, exit_granularity="step") != key(50, exit_granularity="step")
    assert key(100, exit_granularity="step")["batch_size"] == 100
    for options in ({}, {"exit_granularity": "token"}, {"exit_granularity": "auto"}):
        assert key(100, **options) == key(50, **options)
    # the default reads as token in the key: tables made before it could be unset stay valid
    assert key(100) == key(100, exit_granularity="token", exit_step_quantile=1.0)
    assert key(100)["task_options"]["exit_granularity"] == "token"


def test_a_step_profile_describes_runs_at_its_calibration_batch_size_only():
    """Under step a token's depth depends on its batch: a step profile's quality and guarantee hold
    at the batch size it was calibrated with, and a run at another one is told so."""
    from ofa_mue.core.exit_profile import batch_size_caveat

    step = {"options": {"exit_granularity": "step"}, "calibration_batch_size": 50}
    assert batch_size_caveat(step, 50) is None
    caveat = batch_size_caveat(step, 1)
    assert caveat.startswith("the profile was calibrated with --exit-granularity step at --batch-size 50, "
                             "and this run uses --batch-size 1")
    # a larger batch is another batch too: more rows in a step, other depths
    assert batch_size_caveat(step, 100).startswith("the profile was calibrated with --exit-granularity step at "
                                                   "--batch-size 50, and this run uses --batch-size 100")
    # per-token profiles do not depend on the batch and record no batch size
    assert batch_size_caveat({"options": {"exit_granularity": "token"}}, 1) is None


def test_a_step_tokens_choice_to_stop_sticks_and_padding_never_counts():
    """StepExits on its own, with a rule whose choices come and go: a token that chose to stop after
    a layer stays chosen, so the call stops once enough tokens have chosen at some layer so far,
    not only at the current one; padding that chooses does not count towards the share."""
    from ofa_mue.core.exit_granularity import StepExits

    class Flickering:
        """Layer 0: tokens 0, 1 (and the padding, 3) choose; layer 1: token 2 only."""

        def should_exit(self, layer, x_in, x_out, positions, tokens):
            return torch.tensor([[True, True, False, True]]) if layer == 0 else torch.tensor([[False, False, True, True]])

    counted = torch.tensor([[True, True, True, False]])
    exits = StepExits(Flickering(), ExitGranularity("step"), counted, torch.arange(4)[None], torch.arange(4)[None])
    exit_layers = torch.full((1, 4), 6)
    x = torch.zeros(1, 4, 8)
    assert exits.needed == 3
    assert exits.after_layer(0, x, x, exit_layers) is None, "2 of 3 counted tokens chose: the padding does not count"
    running = exits.after_layer(1, x, x, exit_layers)
    assert running is not None and not running.any(), "tokens 0 and 1 still count as chosen after layer 2"
    assert exit_layers.tolist() == [[2, 2, 2, 2]]


def test_a_calibration_tables_key_leaves_out_the_exit_options_the_grid_sets(ofa_vocab, tmp_path):
    """The grid sets the thresholds, the policy and the profile of each configuration itself: a table
    made from a command line with other thresholds, policy or profile is the same table (its key does
    not hold them), while another option (the decoder's decay) makes another table."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from ofa_mue.calibration_table import KNOBS, evaluation_key
    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"weights")

    def key(**options):
        cfg = OmegaConf.create({"common_eval": {"path": str(checkpoint), "model_overrides": "{}"},
                                "generation": {"beam": 5}, "task": OmegaConf.structured(SnliVeConfig(**options))})
        return evaluation_key(SimpleNamespace(task=SnliVeTask(cfg.task, ofa_vocab), cfg=cfg, split="valid",
                                              batch_size=8))

    plain = key()
    for name in KNOBS:
        assert key(**{name: 0.5}) == plain, name
    assert key(exit_policy="static") == plain
    assert key(exit_profile=_profile(tmp_path)) == plain
    assert not set(KNOBS) & set(plain["task_options"])
    assert key(decoder_exit_beta=0.9, decoder_exit_tau=1.0) != plain
