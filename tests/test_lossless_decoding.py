"""Lossless mode (``--exit-verify``): exits draft, the full model verifies, the output is the
full model's; the decoder's cache holds the full model's states of the accepted tokens,
also when the rows of a batch hold different numbers of positions."""
from __future__ import annotations

import json
import sys
from argparse import Namespace
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from fairseq import search

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator, block_repeated_ngrams
from ofa_mue.core.exit_policy import MuEThresholds, StaticDepths, vocabulary_projection
from ofa_mue.core.verified_generator import VerificationRounds, VerifiedEarlyExitGenerator, verification_summary
from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.errors import ConfigError
from ofa_mue.evaluate import build_parser, evaluate_split, load_evaluation, main as evaluate_main, run_cli
from ofa_mue.models.decoder import CACHE_KEY
from demo_training import REPO, run_here, train_in_process
from tiny_ofa import small_model

VOCAB = 60
TEST_ROWS = 11


@pytest.fixture(scope="module")
def model():
    return small_model(VOCAB)


def _sample(batch: int = 5, seed: int = 1) -> Dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, VOCAB, (batch, 6), generator=generator)
    src[0, -2:] = 1
    net_input = {"src_tokens": src, "src_lengths": src.ne(1).sum(1), "patch_images": torch.randn(batch, 3, 48, 48,
                 generator=generator), "patch_masks": torch.ones(batch, dtype=torch.bool)}
    return {"net_input": net_input, "id": torch.arange(batch)}


@dataclass(frozen=True)
class ExitByPosition:
    """Decoder rule: a token at position t stops after layer (t mod 3) + 1."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return positions % 3 == layer


def _cached(state: Dict, layer: int, row: int, length: int) -> torch.Tensor:
    key, value = state[CACHE_KEY]["self_kv"][layer]
    return torch.stack([key[row, :, :length], value[row, :, :length]])


def _ragged_cache(net):
    """Three rows of 9 random tokens decoded 7 positions deep (exits by position), then their cache
    truncated to lengths 2, 6 and 4: ``(tokens, lengths, encoder_out, incremental_state)``."""
    tokens = torch.randint(4, VOCAB, (3, 9), generator=torch.Generator().manual_seed(2))
    lengths = torch.tensor([2, 6, 4])
    with torch.no_grad():
        session = ExitSession(decoder_rule=ExitByPosition())
        encoder_out = net.encoder(**_sample(batch=3)["net_input"], exit_session=session)
        state: dict = {}
        net.decoder(tokens[:, :7], encoder_out=encoder_out, incremental_state=state)
        net.decoder.truncate_incremental_state(state, lengths)
    return tokens, lengths, encoder_out, state


def test_rows_with_different_cache_lengths_decode_as_each_row_alone(model):
    """After truncating rows to different lengths, new tokens take each row's own positions
    (position terms, exit decisions, cache slots) and see only that row's entries."""
    net, _ = model
    tokens, lengths, encoder_out, state = _ragged_cache(net)
    with torch.no_grad():
        assert net.decoder.cached_positions(state) == 6
        new = torch.stack([tokens[r, lengths[r]:lengths[r] + 3] for r in range(3)])  # 3 new tokens per row
        prev = torch.cat([tokens[:, :6], new], dim=1)
        logits, extra = net.decoder(prev, encoder_out=encoder_out, incremental_state=state)
        for row in range(3):
            alone_out = net.encoder.reorder_encoder_out(encoder_out, torch.tensor([row]))
            alone_state: dict = {}
            length = int(lengths[row]) + 3
            alone, alone_extra = net.decoder(tokens[row:row + 1, :length], encoder_out=alone_out,
                                             incremental_state=alone_state)
            torch.testing.assert_close(logits[row], alone[0, -3:], atol=1e-5, rtol=1e-5)
            assert torch.equal(extra["exit_layers"][row], alone_extra["exit_layers"][0, -3:])
            for layer in range(net.decoder.num_layers):
                torch.testing.assert_close(_cached(state, layer, row, length), _cached(alone_state, layer, 0, length),
                                           atol=1e-5, rtol=1e-5)
    assert extra["exit_layers"][0].tolist() == [3, 1, 2], "positions 2, 3, 4 of the first row"


def test_a_second_call_on_rows_of_different_lengths_continues_each_rows_positions(model):
    """A call on rows of different cache lengths moves each row's count on by its new tokens: the
    next call's tokens again take each row's own next positions, as if the row were decoded alone."""
    net, _ = model
    tokens, lengths, encoder_out, state = _ragged_cache(net)
    with torch.no_grad():
        first = torch.stack([tokens[r, lengths[r]:lengths[r] + 2] for r in range(3)])  # 2 new tokens per row
        net.decoder(torch.cat([tokens[:, :6], first], dim=1), encoder_out=encoder_out, incremental_state=state)
        assert net.decoder.cached_positions(state) == 8
        second = torch.stack([tokens[r, lengths[r] + 2:lengths[r] + 3] for r in range(3)])  # then 1 more
        logits, extra = net.decoder(torch.cat([tokens[:, :8], second], dim=1), encoder_out=encoder_out,
                                    incremental_state=state)
        for row in range(3):
            alone_out = net.encoder.reorder_encoder_out(encoder_out, torch.tensor([row]))
            length = int(lengths[row]) + 3
            alone, alone_extra = net.decoder(tokens[row:row + 1, :length], encoder_out=alone_out,
                                             incremental_state={})
            torch.testing.assert_close(logits[row], alone[0, -1:], atol=1e-5, rtol=1e-5)
            assert torch.equal(extra["exit_layers"][row], alone_extra["exit_layers"][0, -1:])
    assert extra["exit_layers"][:, 0].tolist() == [2, 3, 1], "positions 4, 8 and 6"


@pytest.mark.parametrize("reordered", [False, True], ids=["rows_kept", "rows_reordered"])
def test_rows_continue_after_rejected_drafts_with_the_tokens_that_replace_them(model, reordered):
    """After truncation drops each row's rejected drafts, the tokens decoded in their place (other
    tokens at the same positions) are what later calls see: two more calls, the first of several
    tokens per row, give each row's numbers alone on its final tokens, also when beam search reorders
    the rows (each row's cache length follows it) in between."""
    net, _ = model
    tokens, lengths, encoder_out, state = _ragged_cache(net)
    replacing = torch.randint(4, VOCAB, (3, 3), generator=torch.Generator().manual_seed(5))
    assert not any(torch.equal(replacing[r, :2], tokens[r, lengths[r]:lengths[r] + 2]) for r in range(3))
    order = torch.tensor([2, 0, 1]) if reordered else torch.arange(3)
    with torch.no_grad():
        net.decoder(torch.cat([tokens[:, :6], replacing[:, :2]], dim=1), encoder_out=encoder_out,
                    incremental_state=state)
        net.decoder.reorder_incremental_state(state, order)
        encoder_out = net.encoder.reorder_encoder_out(encoder_out, order)
        tokens, lengths, replacing = tokens[order], lengths[order], replacing[order]
        logits, extra = net.decoder(torch.cat([tokens[:, :8], replacing[:, 2:]], dim=1), encoder_out=encoder_out,
                                    incremental_state=state)
        for row in range(3):
            alone_out = net.encoder.reorder_encoder_out(encoder_out, torch.tensor([row]))
            final = torch.cat([tokens[row, :lengths[row]], replacing[row]])[None]
            alone, alone_extra = net.decoder(final, encoder_out=alone_out, incremental_state={})
            torch.testing.assert_close(logits[row], alone[0, -1:], atol=1e-5, rtol=1e-5)
            assert torch.equal(extra["exit_layers"][row], alone_extra["exit_layers"][0, -1:])


def _greedy(net, dictionary, sample, **options):
    return EarlyExitSequenceGenerator([net], dictionary, beam_size=1, **options).generate([net], sample)


@pytest.mark.parametrize("draft_tokens", [1, 3])
def test_verified_greedy_search_equals_fairseqs_greedy_search(model, draft_tokens):
    net, dictionary = model
    sample = _sample()
    options = dict(max_len_b=9, min_len=2, no_repeat_ngram_size=2, len_penalty=0.5)
    expected = _greedy(net, dictionary, sample, **options)
    generator = VerifiedEarlyExitGenerator([net], dictionary, policy=MuEThresholds(decoder=0.9),
                                           draft_tokens=draft_tokens, beam_size=1, **options)
    got = generator.generate([net], sample)
    for want, have in zip(expected, got, strict=True):
        assert len(have) == 1
        assert torch.equal(want[0]["tokens"], have[0]["tokens"])
        torch.testing.assert_close(want[0]["positional_scores"], have[0]["positional_scores"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(want[0]["score"], have[0]["score"], atol=1e-5, rtol=1e-5)
    summary = verification_summary([asdict(s) for s in generator.last_verification])
    assert 0 < summary["accepted"] < summary["drafted"], "drafts were accepted and rejected"
    assert len({s.verifications for s in generator.last_verification}) > 1, "rows finished in different rounds"
    assert summary["generated"] == sum(len(h[0]["tokens"]) for h in got)
    layers = generator.last_example_layers
    assert sum(e.decoder_layer_sum for e in layers) < 6 * sum(e.decoder_tokens for e in layers), "exits fired"


UNK_BONUS = -50.0
"""A negative ``--unkpen`` (fairseq: "<0 produces more unks"): ``<unk>`` wins every free choice
of the small model, whose log-probabilities lie within a few nats of each other."""


def test_verified_greedy_search_honours_max_len_a_and_unkpen(model):
    """The maximum length is --max-len-a x source length + --max-len-b = int(0.5 x 6 + 1) = 4 (the
    samples' sources are 6 tokens wide), and --unkpen -50 makes <unk> the choice wherever one is
    free: 4 <unk>, then the forced end of sentence, in every row, as fairseq's greedy search."""
    net, dictionary = model
    sample = _sample()
    assert sample["net_input"]["src_tokens"].size(1) == 6
    options = dict(max_len_a=0.5, max_len_b=1, unk_penalty=UNK_BONUS)
    got = VerifiedEarlyExitGenerator([net], dictionary, policy=MuEThresholds(decoder=0.9), draft_tokens=2,
                                     beam_size=1, **options).generate([net], sample)
    unk, eos = dictionary.unk(), dictionary.eos()
    assert [h[0]["tokens"].tolist() for h in got] == [[unk, unk, unk, unk, eos]] * 5
    for want, have in zip(_greedy(net, dictionary, sample, **options), got, strict=True):
        torch.testing.assert_close(want[0]["positional_scores"], have[0]["positional_scores"], atol=1e-5, rtol=1e-5)
    assert all(float(h[0]["positional_scores"][0]) > 40 for h in got), "<unk> was chosen for its 50-nat bonus"


def test_verified_greedy_search_honours_temperature_and_unnormalized_scores(model):
    """--temperature 0.5 divides the logits before the softmax (every position's log-probability
    changes), and --unnormalized leaves a hypothesis's score the sum of its positional scores (no
    division by length ** --lenpen): as fairseq's greedy search with the same options."""
    net, dictionary = model
    sample = _sample()
    options = dict(max_len_b=6, temperature=0.5, normalize_scores=False, len_penalty=2.0)
    got = VerifiedEarlyExitGenerator([net], dictionary, policy=MuEThresholds(decoder=0.9), draft_tokens=2,
                                     beam_size=1, **options).generate([net], sample)
    at_one = _greedy(net, dictionary, sample, max_len_b=6)
    for want, have, plain in zip(_greedy(net, dictionary, sample, **options), got, at_one, strict=True):
        assert torch.equal(want[0]["tokens"], have[0]["tokens"])
        torch.testing.assert_close(want[0]["positional_scores"], have[0]["positional_scores"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(have[0]["score"], have[0]["positional_scores"].sum(), atol=1e-5, rtol=1e-5)
        assert (have[0]["positional_scores"][0] - plain[0]["positional_scores"][0]).abs() > 0.1, \
            "the temperature changes the log-probabilities"


def test_what_verification_cannot_honour_is_refused_before_it_decodes(model):
    """--match-source-len (a length from the source, not greedy search's), an ensemble (two
    checkpoints in --path) and a --min-len above the maximum length (fairseq's generator asserts
    against it) are refused, not decoded some other way."""
    net, dictionary = model
    kwargs = {"policy": MuEThresholds(decoder=0.9), "beam_size": 1}
    with pytest.raises(ConfigError, match="^--exit-verify verifies greedy search only.*--match-source-len"):
        VerifiedEarlyExitGenerator([net], dictionary, match_source_len=True, **kwargs)
    with pytest.raises(ConfigError, match=r"^--exit-verify verifies one model, not an ensemble"):
        VerifiedEarlyExitGenerator([net, net], dictionary, **kwargs)
    generator = VerifiedEarlyExitGenerator([net], dictionary, min_len=5, max_len_b=3, **kwargs)
    with pytest.raises(ConfigError, match=r"^--min-len 5 is above the maximum length 3$"):
        generator.generate([net], _sample())


def test_the_tasks_lossless_generator_takes_every_generation_option_and_the_draft_length(model):
    """The caption task builds, with --exit-verify, the verifying generator with the command line's
    generation options and --exit-verify-draft's length (not the default 4)."""
    from ofa_mue.tasks.caption import CaptionConfig, CaptionTask

    net, _ = model
    task = CaptionTask.setup_task(CaptionConfig(exit_verify=True, exit_verify_draft=2, decoder_exit_threshold=0.9))
    generator = task.build_generator([net], Namespace(
        beam=1, max_len_a=0.5, max_len_b=3, min_len=2, unkpen=1.5, temperature=0.7, lenpen=0.8, unnormalized=True,
        no_repeat_ngram_size=2))
    assert type(generator) is VerifiedEarlyExitGenerator and generator.draft_tokens == 2
    assert (generator.max_len_a, generator.max_len_b, generator.min_len, generator.unk_penalty, generator.temperature,
            generator.len_penalty, generator.normalize_scores) == (0.5, 3, 2, 1.5, 0.7, 0.8, False)
    assert generator.repeat_ngram_blocker.no_repeat_ngram_size == 2


def test_cache_holds_the_full_models_states_of_accepted_tokens(model):
    """Drafted entries (computed with exits) are replaced by the verifier's, rejected ones dropped."""
    net, dictionary = model
    sample = _sample()
    generator = VerifiedEarlyExitGenerator([net], dictionary, policy=StaticDepths(decoder=1), draft_tokens=3,
                                           beam_size=1, max_len_b=12)
    with torch.no_grad():
        session = generator.policy.session(12, vocabulary_projection(net.decoder.hidden_to_logits))
        encoder_out = net.encoder(**sample["net_input"], exit_session=session)
        rounds = VerificationRounds(generator, encoder_out, session, batch=5, max_len=12, bos=dictionary.bos())
        plain = net.encoder(**sample["net_input"])
        ragged = 0
        for _ in range(3):
            rounds.step()
            accepted = rounds.accepted.tolist()
            cached = rounds.state[CACHE_KEY].get("lengths")
            assert (cached.tolist() if cached is not None else [max(accepted)] * 5) == accepted, \
                "no row keeps a rejected position"
            assert net.decoder.cached_positions(rounds.state) == max(accepted)
            ragged += len(set(accepted)) > 1
            for row, length in enumerate(accepted):
                alone_state: dict = {}
                alone_out = net.encoder.reorder_encoder_out(plain, torch.tensor([row]))
                net.decoder(rounds.tokens[row:row + 1, :length], encoder_out=alone_out, incremental_state=alone_state)
                for layer in range(net.decoder.num_layers):
                    torch.testing.assert_close(_cached(rounds.state, layer, row, length),
                                               _cached(alone_state, layer, 0, length), atol=1e-5, rtol=1e-5)
    assert ragged, "rows accepted different numbers of tokens"


EOS = 2  # the end of sentence of small_model's dictionary


class ScriptedRounds(VerificationRounds):
    """Each choice from a table per input sample and token position: the drafter's and the full model's."""

    DRAFTER = {0: {1: 5, 2: 6, 3: 7, 5: EOS, 6: 5, 7: 6}, 1: {1: 5, 2: 7, 3: 9, 4: 9, 5: 8, 6: 9, 7: EOS}}
    FULL = {0: {1: 5, 2: 6, 3: 7, 4: 8, 5: EOS, 6: 5, 7: 6, 8: 7}, 1: {1: 5, 2: 6, 3: 9, 4: 9, 5: 9, 6: 9, 7: EOS, 8: 9}}

    def _choose(self, lprobs, steps, step_range, prefix, drafting):
        samples = self.sample.repeat_interleave(steps.numel() // self.sample.numel())
        table = self.DRAFTER if drafting else self.FULL
        return torch.tensor([table[s][p + 1] for s, p in zip(samples.tolist(), steps.tolist())]), steps.new_zeros(
            steps.shape, dtype=torch.float)


def test_verification_counts_follow_each_rounds_drafts_and_the_full_models_choices(model):
    """Draft 3. Sample 0: round 1 drafts 5 6 7, all agreed, gains 4 (the full model's 8 too); round 2
    drafts </s> (then 5 6, which the full model would also choose, but after the end), gains the </s>.
    Sample 1: round 1 drafts 5 7 9, the full model says 6 at the second: gains 5 6; round 2 drafts 9 9 8,
    gains 9 9 9; round 3 (alone: sample 0 has left the batch) drafts 9 </s> and stops drafting, gains both."""
    net, dictionary = model
    assert dictionary.eos() == EOS
    generator = VerifiedEarlyExitGenerator([net], dictionary, policy=StaticDepths(decoder=1), draft_tokens=3,
                                           beam_size=1, max_len_b=20)
    sample = _sample(batch=2)
    with torch.no_grad():
        session = generator.policy.session(20, vocabulary_projection(net.decoder.hidden_to_logits))
        encoder_out = net.encoder(**sample["net_input"], exit_session=session)
        rounds = ScriptedRounds(generator, encoder_out, session, batch=2, max_len=20, bos=dictionary.bos())
        while rounds.active():
            rounds.step()
    assert [h[0]["tokens"].tolist() for h in rounds.finalized] == [[5, 6, 7, 8, EOS], [5, 6, 9, 9, 9, 9, EOS]]
    # drafted: up to and including a drafted </s>; accepted: agreed drafts up to the end of the output
    assert [asdict(s) for s in rounds.stats] == [
        {"verifications": 2, "drafted": 3 + 1, "accepted": 3 + 1, "generated": 4 + 1},
        {"verifications": 3, "drafted": 3 + 3 + 2, "accepted": 1 + 2 + 2, "generated": 2 + 3 + 2}]
    summary = verification_summary([asdict(s) for s in rounds.stats])
    assert summary == {"verifications": 5, "drafted": 12, "accepted": 9, "generated": 12, "acceptance_rate": 9 / 12,
                       "mean_accepted_length": 9 / 5, "tokens_per_verification": 12 / 5}


def test_each_position_is_chosen_as_fairseqs_greedy_search_chooses(model):
    net, dictionary = model
    eos, pad, unk = dictionary.eos(), dictionary.pad(), dictionary.unk()
    generator = VerifiedEarlyExitGenerator([net], dictionary, policy=MuEThresholds(decoder=0.9), beam_size=1,
                                           min_len=2, unk_penalty=5.0)
    lprobs = torch.full((4, VOCAB), -9.0)
    lprobs[:, eos], lprobs[:, pad], lprobs[:, unk], lprobs[:, 7] = -1.0, 0.0, -2.0, -6.0
    lprobs[3, 8] = float("nan")
    steps = torch.tensor([0, 1, 2, 5])
    prefix = torch.full((4, 1), dictionary.bos())
    tokens, scores = generator.choose(lprobs, steps, (0, 5), prefix, max_len=5)
    # pad never; below --min-len no end of sentence, and unk pays its penalty; at the maximum length only </s>
    assert tokens.tolist() == [7, 7, eos, eos]
    assert scores.tolist() == [-6.0, -6.0, -1.0, -1.0]


def test_ngram_blocking_of_rows_of_different_lengths_equals_each_row_alone():
    generator = torch.Generator().manual_seed(0)
    prefix = torch.randint(4, 8, (6, 12), generator=generator)
    lengths = torch.tensor([1, 3, 5, 8, 11, 12])
    lprobs = torch.randn(6, 10, generator=generator)
    blocked = block_repeated_ngrams(prefix, lprobs.clone(), 3, lengths)
    for row, length in enumerate(lengths.tolist()):
        alone = block_repeated_ngrams(prefix[row:row + 1, :length], lprobs[row:row + 1].clone(), 3)
        assert torch.equal(blocked[row:row + 1], alone)
    assert torch.isinf(blocked).any()


def test_ngram_blocking_of_rows_one_ngram_long_blocks_their_repeat():
    """A prefix exactly one n-gram wide holds one n-gram: a row that holds it all blocks its
    repeat; a row one token shorter holds none and blocks nothing."""
    prefix = torch.tensor([[5, 5], [5, 5]])
    blocked = block_repeated_ngrams(prefix, torch.zeros(2, 8), 2, torch.tensor([2, 1]))
    assert torch.isinf(blocked[0]).nonzero().flatten().tolist() == [5]
    assert not torch.isinf(blocked[1]).any()


@pytest.mark.parametrize("options, message", [
    ({"beam_size": 2}, "--exit-verify decodes greedily: pass --beam 1"),
    ({"search_strategy": "sampling"}, "--exit-verify verifies greedy search only, not Sampling"),
    ({"policy": MuEThresholds(image=0.9, decoder=0.9)}, "--exit-verify needs the full encoder"),
    ({"policy": MuEThresholds()}, "--exit-verify drafts with decoder exits, but none can fire"),
    ({"draft_tokens": 0}, "--exit-verify-draft must be a whole number >= 1"),
])
def test_what_verification_cannot_honour_is_refused(model, options, message):
    net, dictionary = model
    if options.get("search_strategy") == "sampling":
        options = {**options, "search_strategy": search.Sampling(dictionary)}
    kwargs = {"policy": MuEThresholds(decoder=0.9), "beam_size": 1, **options}
    with pytest.raises(ConfigError) as error:
        VerifiedEarlyExitGenerator([net], dictionary, **kwargs)
    assert str(error.value).startswith(message)


def test_a_forced_prefix_is_refused(model):
    net, dictionary = model
    generator = VerifiedEarlyExitGenerator([net], dictionary, policy=MuEThresholds(decoder=0.9), beam_size=1)
    with pytest.raises(ConfigError, match="prefix tokens"):
        generator.generate([net], _sample(), prefix_tokens=torch.full((5, 1), 7))


# ---- a model trained on the demo captions, through the real command lines ----------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Dict[str, Path]:
    """A caption model trained briefly WITHOUT the layer-wise loss: its early layers' drafts are
    often wrong, so verification must reject some of them (with the layer-wise loss, on the
    demo captions, every layer of so brief a training says the same and every draft passes)."""
    out = tmp_path_factory.mktemp("lossless_demo")
    generate_demo_data(out, seed=8, train=32, valid=4, test=TEST_ROWS, image_size=64)
    save_dir = out / "ckpt"
    train_in_process([str(out / "caption"), "--user-dir", "ofa_mue", "--task", "caption", "--arch", "ofa_demo",
                      "--bpe-dir", str(out / "bpe"), "--patch-image-size", "64", "--code-dict-size", "0", "--num-bins",
                      "0", "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--optimizer",
                      "adam", "--lr", "2e-3", "--max-update", "20", "--batch-size", "8", "--max-tgt-length", "16",
                      "--save-dir", str(save_dir), "--no-epoch-checkpoints", "--disable-validation", "--num-workers",
                      "0", "--cpu", "--seed", "3", "--log-format", "simple"])
    return {"data": out, "checkpoint": save_dir / "checkpoint_last.pt"}


def _common(demo: Dict[str, Path]) -> List[str]:
    data = demo["data"]
    return [str(data / "caption"), "--path", str(demo["checkpoint"]), "--task", "caption", "--bpe-dir",
            str(data / "bpe"), "--code-dict-size", "0", "--num-bins", "0", "--patch-image-size", "64", "--gen-subset",
            "test", "--cpu", "--max-len-b", "16", "--no-repeat-ngram-size", "3"]


DRAFTING = ["--decoder-exit-threshold", "0.9", "--decoder-exit-beta", "0.95", "--decoder-exit-tau", "1"]


@pytest.fixture(scope="module")
def setup(demo):
    setup, _ = load_evaluation(build_parser(), [*_common(demo), "--beam", "1", *DRAFTING])
    return setup


def _hypotheses(setup, batch_size: int) -> List[Dict[str, torch.Tensor]]:
    task, models = setup.task, setup.models
    generator = task.build_generator(models, setup.cfg.generation)
    dataset = task.dataset("test")
    out = []
    for start in range(0, len(dataset), batch_size):
        sample = dataset.collater([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        out.extend(hypotheses[0] for hypotheses in generator.generate(models, sample))
    return out


@pytest.mark.parametrize("batch_size", [1, 4])
def test_lossless_mode_gives_the_full_models_captions_on_every_test_row(setup, batch_size):
    setup.set_exit_options(exit_verify=False, decoder_exit_threshold=2.0)
    expected = _hypotheses(setup, batch_size)
    setup.set_exit_options(exit_verify=True, decoder_exit_threshold=0.9)
    got = _hypotheses(setup, batch_size)
    assert len(got) == len(expected) == TEST_ROWS
    for want, have in zip(expected, got):
        assert torch.equal(want["tokens"], have["tokens"])
        torch.testing.assert_close(want["positional_scores"], have["positional_scores"], atol=1e-5, rtol=1e-5)

    result = evaluate_split(setup.task, setup.models, "test", batch_size, setup.cfg.generation)
    assert result["examples"] == TEST_ROWS
    verification = result["verification"]
    assert 0 < verification["accepted"] < verification["drafted"], "drafts were accepted and rejected"
    assert verification["generated"] == sum(len(h["tokens"]) for h in got)
    assert result["layers"]["decoder_layers"] < 6, "exits fired in the drafts"


def test_evaluate_and_fairseq_generate_honour_exit_verify(demo, setup, tmp_path, capsys):
    setup.set_exit_options(exit_verify=False, decoder_exit_threshold=2.0)
    full = evaluate_split(setup.task, setup.models, "test", 4, setup.cfg.generation)["records"]
    results = tmp_path / "results"
    evaluate_main([*_common(demo), "--beam", "1", "--batch-size", "4", "--exit-verify", "--exit-verify-draft", "3",
                   *DRAFTING, "--results-path", str(results)])
    summary = json.loads((results / "test_metrics.json").read_text())
    assert summary["examples"] == TEST_ROWS and summary["verification"]["draft_tokens"] == 3
    assert 0.0 < summary["verification"]["acceptance_rate"] < 1.0
    rows = [json.loads(line) for line in (results / "test_predictions.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in full]
    assert all(r["verification"]["verifications"] > 0 for r in rows)

    # fairseq-generate's console entry point, in this process (its process boundary is tested elsewhere)
    from fairseq_cli import generate

    capsys.readouterr()
    with run_here(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["fairseq-generate", *_common(demo), "--user-dir", "ofa_mue", "--beam", "1",
                                    "--batch-size", "4", "--exit-verify", *DRAFTING])
        generate.cli_main()
    generated = capsys.readouterr()
    hypotheses = dict(line.split("\t")[0::2] for line in generated.out.splitlines() if line.startswith("D-"))
    assert [hypotheses[f"D-{i}"].strip() for i in range(TEST_ROWS)] == [r["prediction"] for r in full]


@pytest.mark.parametrize("module, extra, message", [
    ("ofa_mue.evaluate", ["--exit-verify", *DRAFTING], "error: --exit-verify decodes greedily: pass --beam 1"),
    ("ofa_mue.evaluate", ["--beam", "1", "--exit-verify-draft", "2", *DRAFTING],
     "error: --exit-verify-draft only applies with --exit-verify"),
    ("ofa_mue.calibrate", ["--exit-verify", "--beam", "1", "--profile-path", "p.json"],
     "error: --exit-verify gives the full model's outputs at every exit setting: calibrate"),
    ("ofa_mue.sweep", ["--exit-verify", "--beam", "1", "--sweep-dir", "sweep"],
     "error: --exit-verify gives the full model's outputs at every exit setting: sweep"),
    ("ofa_mue.reproduce", ["--exit-verify", "--beam", "1", "--results-dir", "reproduced"],
     "error: --exit-verify gives the full model's outputs at every exit setting: reproduce"),
])
def test_command_lines_refuse_what_exit_verify_cannot_honour_in_one_line(demo, tmp_path, module, extra, message):
    entry = __import__(module, fromlist=["main"]).main
    argv = [*_common(demo), "--batch-size", "4", *extra]
    argv = [str(tmp_path / a) if a in ("p.json", "sweep", "reproduced") else a for a in argv]
    with pytest.raises(SystemExit) as stopped:
        run_cli(lambda: entry(argv))
    text = str(stopped.value.code)
    assert text.startswith(message) and "\n" not in text, text
    assert not any(tmp_path.iterdir()), "nothing written"


def test_snli_ve_refuses_exit_verify():
    from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask

    task = SnliVeTask.setup_task(SnliVeConfig(exit_verify=True))
    with pytest.raises(ConfigError, match="--exit-verify applies to generation"):
        task.exit_policy()


def test_the_lossless_benchmarks_profile_drafter_exits_at_the_profiles_granularity(tmp_path):
    """benchmarks/lossless.py's ``profile`` drafter drafts as the profile was calibrated."""
    from ofa_mue.core.exit_granularity import ExitGranularity
    from ofa_mue.core.exit_profile import save_exit_profile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from lossless import drafter_policy

    path = tmp_path / "profile.json"
    save_exit_profile(str(path), {"options": {"decoder_exit_threshold": 0.9, "decoder_exit_beta": 1.0,
                                              "decoder_exit_tau": 0.0, "exit_granularity": "step",
                                              "exit_step_quantile": 0.5}})
    policy = drafter_policy("profile", Namespace(profile=str(path)))
    assert (policy.decoder, policy.granularity) == (0.9, ExitGranularity("step", 0.5))


def _lossless_benchmark(demo: Dict[str, Path], results: Path, *extra: str) -> Dict[str, Any]:
    """benchmarks/lossless.py's entry point, in this process (on one torch thread: its --threads default)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from lossless import main

    with run_here():
        main(["--data", str(demo["data"]), "--caption-checkpoint", str(demo["checkpoint"]), "--configs", "mue:0.9@3",
              "--batch-sizes", "1", "3", "--samples-b1", "1", "--samples", "3", "--repetitions", "1", "--warmup", "0",
              "--cpu", "--results-dir", str(results), *extra])
    stem = "lossless_ofa_demo" if extra else "lossless"
    assert (results / f"{stem}.md").is_file()
    return json.loads((results / f"{stem}.json").read_text())


def test_the_lossless_benchmarks_replay_at_another_size_accepts_what_the_checkpoint_accepted(demo, tmp_path):
    """``lossless.py --replay-arch``: a random-init model of another size decodes the same rows
    with exactly the checkpoint's drafting, acceptance and rounds, and the checkpoint's captions."""
    own = _lossless_benchmark(demo, tmp_path)
    replayed = _lossless_benchmark(demo, tmp_path, "--replay-arch", "ofa_demo", "--replay-image-size", "32",
                                   "--replay-vocab-size", "700")
    assert own["replay"] is None and replayed["replay"] == {"arch": "ofa_demo", "image_size": 32, "vocab_size": 700}
    for mine, theirs in zip(own["results"], replayed["results"], strict=True):
        assert mine["batch_size"] == theirs["batch_size"] and mine["samples"] == theirs["samples"]
        assert mine["generated_tokens"] == theirs["generated_tokens"]
        (row,), (replay,) = mine["rows"], theirs["rows"]
        assert row["identical_outputs"] and replay["identical_outputs"]
        assert replay["verification"] == row["verification"]
        assert replay["time_split"]["calls"] == row["time_split"]["calls"], "as many draft and verification calls"
        assert theirs["full_split"]["calls"]["full_steps"] == mine["full_split"]["calls"]["full_steps"]
    assert any(r["rows"][0]["verification"]["acceptance_rate"] < 1 for r in own["results"]), "some drafts rejected"
