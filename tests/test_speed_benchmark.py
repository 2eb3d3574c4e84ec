"""The speed benchmark (benchmarks/speed.py) runs end to end on small real checkpoints and
writes consistent, traceable reports; its never-firing and replayed arms do what they claim.
No timing is asserted: only what the numbers must satisfy."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.exit_granularity import ExitGranularity
from ofa_mue.core.exit_policy import MuEThresholds
from ofa_mue.models.builders import build_model, numbered_dictionary
from demo_training import TEST_ROWS, run_here

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from exit_arms import NeverFiring, RecordingPolicy, ReplayPolicy  # noqa: E402

ARMS = {"off", "never", "mue", "static", "step@0.5", "auto"}


def run_speed(*args: str, repetitions: int = 3, warmup: int = 0) -> None:
    """benchmarks/speed.py's entry point, in this process (on one torch thread: its --threads default)."""
    from speed import main

    with run_here():
        main([*args, "--cpu", "--repetitions", str(repetitions), "--warmup", str(warmup)])


def test_checkpoints_mode_reports_targets_granularities_and_replays(demo_data, demo_checkpoints, tmp_path):
    run_speed("checkpoints", "--data", str(demo_data), "--snli-ve-checkpoint", str(demo_checkpoints["snli_ve"].path),
              "--caption-checkpoint", str(demo_checkpoints["caption"].path), "--batch-sizes", "1", "3",
              "--samples-b1", "2", "--samples", "6", "--no-profile", "--image-exit-threshold", "0.9",
              "--text-exit-threshold", "0.9", "--decoder-exit-threshold", "0.9", "--split-passes", "1",
              "--replay-arch", "ofa_demo", "--replay-image-size", "32", "--replay-vocab-size", "700", "--replay-samples-b1", "1",
              "--replay-samples", "3", "--granularities", "step:0.5", "auto", "--note", "a test run",
              "--results-dir", str(tmp_path / "results"), repetitions=1)
    report = json.loads((tmp_path / "results" / "checkpoints.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", report["commit"]) and isinstance(report["dirty"], bool)
    machine = report["machine"]
    assert machine["torch_threads"] == 1 and len(machine["load_average_at_start"]) == 3
    assert len(machine["load_average_at_end"]) == 3
    rows = {(r["task"], r["size"], r["batch_size"]): r for r in report["results"]}
    assert set(rows) == {(t, s, b) for t in ("snli_ve", "caption") for s in ("demo", "ofa_demo") for b in (1, 3)}
    for (task, size, batch), row in rows.items():
        arms = row["arms"]
        assert set(arms) == ARMS
        assert row["samples"] == ((2 if batch == 1 else 6) if size == "demo" else (1 if batch == 1 else 3))
        assert row["never_equals_off"] or size != "demo", "thresholds that cannot fire: the full model's outputs"
        assert arms["off"]["layers"]["expected_time_reduction"] == 0.0
        assert arms["off"]["flops"]["flops_reduction"] == 0.0
        assert arms["never"]["flops"]["flops_reduction"] < 0, "exit tests add FLOPs and remove none"
        assert arms["mue"]["expected_time_reduction"] == arms["auto"]["expected_time_reduction"], \
            "auto keeps the per-token decisions"
        split = row["time_split"]
        assert split["off"]["exit_tests"] == 0.0, "the full model runs no exit test"
        assert split["never"]["exit_tests"] > 0 and 0 < row["targets"]["exit_test_share"]["value"] < 1
        assert row["targets"]["exit_test_share"]["target"] == (0.03 if batch == 1 else 0.02)
        assert row["holds_back"]["responsible"] in row["holds_back"]["gap_by_part"]
        static = arms["static"]["layers"]
        assert (static["image_layers"], static["text_layers"]) == (row["static_depths"]["image"],
                                                                   row["static_depths"]["text"])
    quality = report["quality"]
    for task in ("snli_ve", "caption"):
        assert set(quality[task]["arms"]) == ARMS - {"never", "static"}
        assert quality[task]["arms"]["off"]["retention"] in (1.0, None)  # None: the full model scores 0
        assert all(arm["examples"] == TEST_ROWS for arm in quality[task]["arms"].values())
    markdown = (tmp_path / "results" / "checkpoints.md").read_text()
    assert markdown.startswith(f"Measured {report['date']} at commit {report['commit'][:12]}")
    assert "a test run" in markdown
    targets = markdown.split("### Targets")[1].split("###")[0]
    assert targets.count("| snli_ve |") == 4 and targets.count("| caption |") == 4
    granularity = markdown.split("### Exit granularity")[1].split("###")[0]
    assert granularity.count("| caption | demo | 3 |") == 3  # token, step@0.5, auto


def test_depths_mode_fits_time_against_layer_count(tmp_path, monkeypatch):
    import depth_speed

    warmups = []
    timed = depth_speed.interleaved_times
    monkeypatch.setattr(depth_speed, "interleaved_times",
                        lambda runners, repetitions, warmup, *rest: warmups.append(warmup) or
                        timed(runners, repetitions, warmup, *rest))
    run_speed("depths", "--archs", "ofa_demo", "--fractions", "1", "0.5", "--image-size", "64",
              "--generate-tokens", "3", "--clock", "cpu", "--results-dir", str(tmp_path), warmup=1)
    report = json.loads((tmp_path / "depths.json").read_text())
    assert report["clock"] == "cpu" and "commit" in report
    assert warmups == [1] and (report["warmup"], report["repetitions"]) == (1, 3)  # --warmup honoured, recorded
    (result,) = report["results"]
    rows = {r["config"]: r for r in result["rows"]}
    assert set(rows) == {"off", "never", "1", "0.5"}
    assert rows["off"]["expected_share"] == rows["1"]["expected_share"] == 1.0
    assert rows["0.5"]["expected_share"] == pytest.approx(0.5)
    assert rows["0.5"]["decoder_layers"] == 3
    assert {"fixed", "slope", "r2"} <= set(result["fit"])
    # every share is against the full model with no exit session; the fit runs over the fixed depths only
    assert rows["off"]["measured_share"]["min"] == rows["off"]["measured_share"]["max"] == 1.0
    assert result["overhead"] == pytest.approx(rows["never"]["measured_share"]["median"] - 1.0)
    assert result["fit"] == pytest.approx(depth_speed.linear_fit(
        [rows[c]["expected_share"] for c in ("1", "0.5")], [rows[c]["measured_share"]["median"] for c in ("1", "0.5")]))
    markdown = (tmp_path / "depths.md").read_text()
    assert markdown.count("| ofa_demo |") == 5  # 4 configurations and the fit
    fit = result["fit"]
    assert (f"| ofa_demo | {result['parameters'] / 1e6:.0f}M | {fit['fixed']:.2f} | {fit['slope']:.2f} "
            f"| {fit['r2']:.3f} | {result['overhead']:+.1%} |") in markdown.splitlines()


def test_depths_fit_is_least_squares_of_measured_share_on_expected_share():
    """``fixed`` is the share no exit removes (the intercept at no layers), ``slope`` what the layers cost."""
    from depth_speed import linear_fit

    assert linear_fit([1.0, 0.75, 0.5, 0.25], [0.3 + 0.7 * x for x in (1.0, 0.75, 0.5, 0.25)]) == pytest.approx(
        {"fixed": 0.3, "slope": 0.7, "r2": 1.0})
    # x 0, 1, 2 against y 0, 4, 2: slope 1, intercept 1, residuals -1, 2, -1 (6) of a total 8
    assert linear_fit([0.0, 1.0, 2.0], [0.0, 4.0, 2.0]) == pytest.approx({"fixed": 1.0, "slope": 1.0, "r2": 0.25})
    assert all(v != v for v in linear_fit([0.5], [0.7]).values()), "one depth: no fit (nan)"


def test_depth_fractions_round_up_to_whole_layers_of_each_stream_and_the_decoder():
    from depth_speed import depth_settings

    from ofa_mue.core.exit_policy import StaticDepths

    assert depth_settings(6, 6, [1.0, 0.75, 0.5, 0.25]) == [
        (1.0, StaticDepths(6, 6, 6)), (0.75, StaticDepths(5, 5, 5)), (0.5, StaticDepths(3, 3, 3)),
        (0.25, StaticDepths(2, 2, 2))]
    assert depth_settings(12, 4, [0.5, 0.1]) == [(0.5, StaticDepths(6, 6, 2)), (0.1, StaticDepths(2, 2, 1))]


def test_caption_replay_runner_decodes_exactly_the_recorded_decoder_calls_of_each_batch():
    """runners.CaptionRunner with ``steps`` (checkpoint_speed's replays): ``n`` decoder calls per batch,
    so captions of ``n - 1`` tokens and the forced end of sentence, with and without an exit session;
    the full model's layer counts come from an exits-off pass."""
    from runners import CaptionRunner

    from ofa_mue.core.exit_policy import StaticDepths
    from ofa_mue.tasks.caption import CaptionConfig, CaptionTask

    torch.manual_seed(0)
    dictionary = numbered_dictionary(50)
    model = build_model("ofa_demo", dictionary, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                        encoder_attention_heads=2, decoder_attention_heads=2, decompose_modalities=True).eval()
    task = CaptionTask(CaptionConfig(), SimpleNamespace(dictionary=dictionary))

    def batch(rows, seed):
        generator = torch.Generator().manual_seed(seed)
        return {"id": torch.arange(rows), "net_input": {
            "src_tokens": torch.randint(4, 50, (rows, 6), generator=generator), "src_lengths": torch.full((rows,), 6),
            "patch_images": torch.randn(rows, 3, 48, 48, generator=generator),
            "patch_masks": torch.ones(rows, dtype=torch.bool)}}

    for policy, depth in ((None, 6), (StaticDepths(decoder=1), 1)):
        runner = CaptionRunner(task, model, [batch(2, 1), batch(1, 2)], policy,
                               {"beam": 2, "max_len_b": 16, "no_repeat_ngram_size": 3}, steps=[3, 5])
        runner()
        assert [len(p) for p in runner.predictions] == [3, 3, 5]
        assert runner.work_units() == {"samples": 3, "generated_tokens": 11, "decoder_tokens": 2 * (2 * 3 + 1 * 5)}, \
            "beam 2: two decoder tokens per row and call"
        assert {e.decoder_layers() for e in runner.example_layers()} == {depth}


def test_never_firing_arm_runs_mues_rules_and_cannot_fire():
    mue = MuEThresholds(image=0.5, text=2.0, decoder=0.3, decoder_beta=0.95, decoder_tau=1.0,
                        granularity=ExitGranularity("step"))
    session = NeverFiring(mue).session(horizon=16)
    real = mue.session(horizon=16)
    assert set(session.encoder_rules) == set(real.encoder_rules) == {"image"}
    rule = session.decoder_rule
    assert (rule.beta, rule.tau, rule.horizon) == (real.decoder_rule.beta, real.decoder_rule.tau, 16)
    assert session.decoder_granularity == mue.granularity
    assert (rule.threshold(torch.arange(64)) >= 1.0).all(), "the decayed threshold never drops below 1"
    x = torch.randn(4, 3, 8)
    assert not rule.should_exit(0, x, x.clone(), torch.zeros(4, 3, dtype=torch.long), torch.arange(12).view(4, 3)).any()


def test_replay_imposes_the_recorded_exits():
    torch.manual_seed(0)
    dictionary = numbered_dictionary(50)
    model = build_model("ofa_demo", dictionary, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                        encoder_attention_heads=2, decoder_attention_heads=2, decompose_modalities=True).eval()
    generator = torch.Generator().manual_seed(2)
    src = torch.randint(4, 50, (4, 6), generator=generator)
    net_input = {"src_tokens": src, "src_lengths": torch.full((4,), 6),
                 "patch_images": torch.randn(4, 3, 48, 48, generator=generator),
                 "patch_masks": torch.ones(4, dtype=torch.bool)}
    prev = torch.randint(4, 50, (4, 5), generator=generator)

    def run(policy):
        session = policy.session(horizon=5)
        with torch.no_grad():
            model.decoder(prev, encoder_out=model.encoder(**net_input, exit_session=session))
        return session.example_layers()

    mue = MuEThresholds(image=0.6, text=0.6, decoder=0.6)
    recording = RecordingPolicy(mue)
    original = run(recording)
    assert len({e.image_layers for e in original} | {e.decoder_layer_sum for e in original}) > 2, "mixed exits"
    replayed = run(ReplayPolicy(recording.recorded(), mue))
    assert [(e.image_layers, e.text_layers, e.decoder_layer_sum) for e in replayed] == \
        [(e.image_layers, e.text_layers, e.decoder_layer_sum) for e in original]
    assert sum(e.decoder_tests for e in replayed) == sum(e.decoder_tests for e in original), \
        "MuE's test runs, for its cost"
    assert isinstance(recording.sessions[0], ExitSession)


def test_replay_runs_mues_tests_as_often_as_recorded_and_replays_each_batch_in_turn(monkeypatch):
    """ReplayPolicy (the replays at OFA's size): batch k of each pass over the batches gets the k-th recorded
    batch's exits, and MuE's similarity tests (never firing) run as often as in the recorded run: their
    cost is part of MuE's measured time."""
    from ofa_mue.core.exit_policy import StreamSimilarityExit, TokenSimilarityExit

    torch.manual_seed(0)
    dictionary = numbered_dictionary(50)
    model = build_model("ofa_demo", dictionary, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                        encoder_attention_heads=2, decoder_attention_heads=2, decompose_modalities=True).eval()
    tests = {"StreamSimilarityExit": 0, "TokenSimilarityExit": 0}
    for rule in (StreamSimilarityExit, TokenSimilarityExit):
        def counted(self, *args, _test=rule.should_exit, _name=rule.__name__):
            tests[_name] += 1
            return _test(self, *args)
        monkeypatch.setattr(rule, "should_exit", counted)

    def inputs(rows, seed):
        generator = torch.Generator().manual_seed(seed)
        net_input = {"src_tokens": torch.randint(4, 50, (rows, 6), generator=generator),
                     "src_lengths": torch.full((rows,), 6),
                     "patch_images": torch.randn(rows, 3, 48, 48, generator=generator),
                     "patch_masks": torch.ones(rows, dtype=torch.bool)}
        return net_input, torch.randint(4, 50, (rows, 5), generator=generator)

    def run(policy, batch):
        net_input, prev = batch
        session = policy.session(horizon=5)
        tests.update(StreamSimilarityExit=0, TokenSimilarityExit=0)
        with torch.no_grad():
            model.decoder(prev, encoder_out=model.encoder(**net_input, exit_session=session))
        return [(e.image_layers, e.text_layers, e.decoder_layer_sum) for e in session.example_layers()], dict(tests)

    mue = MuEThresholds(image=0.6, text=0.6, decoder=0.6)
    batches = [inputs(4, 2), inputs(3, 5)]
    recording = RecordingPolicy(mue)
    original = [run(recording, batch) for batch in batches]
    assert original[0][0] != original[1][0] and all(t > 0 for _, counts in original for t in counts.values())
    replay = ReplayPolicy(recording.recorded(), mue)
    assert [run(replay, batch) for batch in batches + batches[:1]] == original + original[:1]


def test_each_arm_takes_thresholds_calibrated_for_its_granularity(tmp_path):
    """An arm's own profile (profile_step0.5.json) must record the arm's granularity; the fallback
    profile.json says, in the arm's source, which granularity it was calibrated for."""
    from argparse import Namespace

    from checkpoint_speed import thresholds_for

    from ofa_mue.core.exit_profile import save_exit_profile

    folder = tmp_path / "snli_ve"
    folder.mkdir()
    args = Namespace(image_exit_threshold=2.0, text_exit_threshold=2.0, decoder_exit_threshold=2.0,
                     decoder_exit_beta=None, decoder_exit_tau=None, no_profile=False, profile_dir=str(tmp_path))

    def write(name: str, decoder: float, **granularity) -> None:
        save_exit_profile(str(folder / name), {"options": {"decoder_exit_threshold": decoder, **granularity}})

    write("profile.json", 0.9)  # per token: written before profiles recorded their granularity
    step = ExitGranularity("step", 0.5)
    policy, source = thresholds_for(args, "snli_ve", "step@0.5", step)
    assert (policy.decoder, policy.granularity) == (0.9, step)
    assert source == f"{folder / 'profile.json'} (calibrated for token)"
    policy, source = thresholds_for(args, "snli_ve", "auto", ExitGranularity("auto"))
    assert source == str(folder / "profile.json"), "auto makes per-token decisions: the profile is its own"

    write("profile_step0.5.json", 0.8, exit_granularity="step", exit_step_quantile=0.5)
    policy, source = thresholds_for(args, "snli_ve", "step@0.5", step)
    assert (policy.decoder, source) == (0.8, str(folder / "profile_step0.5.json"))
    write("profile_step0.5.json", 0.8, exit_granularity="step")  # the step arm at quantile 1's thresholds
    with pytest.raises(SystemExit, match=r"profile_step0.5.json: the exit profile was calibrated with "
                                         r"--exit-granularity step --exit-step-quantile 1, but"):
        thresholds_for(args, "snli_ve", "step@0.5", step)
