"""MuE early-exit inference: exits off changes nothing, decisions are per sample and per
token, the decoder cache stays consistent, and exited work leaves later layers."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch
from fairseq.dataclass.configs import GenerationConfig
from fairseq.ngram_repeat_block import NGramRepeatBlock
from fairseq.sequence_generator import SequenceGenerator
from fairseq.tasks import FairseqTask

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.early_exit_generator import (
    EarlyExitSequenceGenerator, GeneratedPrefixNGramBlock, HammingDiverseBeamSearch,
)
from ofa_mue.core.flops import ModelShape, flops_summary
from ofa_mue.models.decoder import CACHE_KEY, MIN_CACHED_POSITIONS
from ofa_mue.errors import ConfigError
from ofa_mue.tasks.caption import CaptionConfig, CaptionTask
from ofa_mue.tasks.ofa_task import OFATask
from ofa_mue.core.exit_policy import (
    EntropyPolicy,
    MuEThresholds,
    PatiencePolicy,
    StaticDepths,
    StreamSimilarityExit,
    TokenSimilarityExit,
    vocabulary_projection,
)
from tiny_ofa import small_model

VOCAB = 60


@pytest.fixture(scope="module")
def model():
    return small_model(VOCAB, decompose_modalities=True)


def _batch(batch: int = 3, src_len: int = 6, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, VOCAB, (batch, src_len), generator=generator)
    src[0, -2:] = 1  # padding in the first sample
    images = torch.randn(batch, 3, 48, 48, generator=generator)
    return {"src_tokens": src, "src_lengths": src.ne(1).sum(1), "patch_images": images,
            "patch_masks": torch.ones(batch, dtype=torch.bool)}


@dataclass(frozen=True)
class ExitByContent:
    """Deterministic, batch-independent encoder rule: samples whose first feature is positive stop."""

    def should_exit(self, layer, x_in, x_out, padding_mask):
        return x_in[:, 0, 0] > 0


@dataclass(frozen=True)
class ExitByPosition:
    """Deterministic decoder rule: a token at position t stops after layer (t mod 3) + 1."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return positions % 3 == layer


def _decode_full(model, net_input, prev, session):
    encoder_out = model.encoder(**net_input, exit_session=session)
    return model.decoder(prev, encoder_out=encoder_out)


def test_exits_off_give_exactly_the_full_model(model):
    net, _ = model
    net_input = _batch()
    prev = torch.randint(4, VOCAB, (3, 5))
    with torch.no_grad():
        full, _ = net.decoder(prev, encoder_out=net.encoder(**net_input))
        for thresholds in (MuEThresholds(), MuEThresholds(image=1.0, text=1.0, decoder=1.0)):
            off, _ = _decode_full(net, net_input, prev, thresholds.session(horizon=5))
            assert torch.equal(off, full)


def test_generation_with_exits_off_equals_fairseq_generation(model):
    net, dictionary = model
    sample = {"net_input": _batch(), "id": torch.arange(3)}
    plain = SequenceGenerator([net], dictionary, beam_size=3, max_len_b=6)
    early = EarlyExitSequenceGenerator([net], dictionary, policy=MuEThresholds(decoder=1.0), beam_size=3,
                                       max_len_b=6)
    expected_hypotheses = plain.generate([net], sample, bos_token=dictionary.bos())
    for expected, got in zip(expected_hypotheses, early.generate([net], sample)):
        for a, b in zip(expected, got):
            assert torch.equal(a["tokens"], b["tokens"])
            assert torch.equal(a["positional_scores"], b["positional_scores"])
    assert [e.decoder_layers() for e in early.last_example_layers] == [6.0, 6.0, 6.0]


def test_an_ensemble_generates_with_exits_off_only(model):
    """Two checkpoints in --path: with no exit options the ensemble decodes as fairseq's generator
    does; with exits on (MuE's, or a baseline's) it is refused in one line, since its models would
    share one exit session (one model's encoder depths kept, every model judged by the first one's head)."""
    net, dictionary = model
    sample = {"net_input": _batch(), "id": torch.arange(3)}
    plain = SequenceGenerator([net, net], dictionary, beam_size=3, max_len_b=6)
    early = EarlyExitSequenceGenerator([net, net], dictionary, policy=MuEThresholds(), beam_size=3, max_len_b=6)
    for expected, got in zip(plain.generate([net, net], sample, bos_token=dictionary.bos()),
                             early.generate([net, net], sample)):
        assert [a["tokens"].tolist() for a in expected] == [b["tokens"].tolist() for b in got]
    for policy in (MuEThresholds(decoder=0.9), MuEThresholds(image=0.9), EntropyPolicy(decoder=0.5)):
        with pytest.raises(ConfigError, match=r"^exits \(.*\) run on one model, not an ensemble") as error:
            EarlyExitSequenceGenerator([net, net], dictionary, policy=policy, beam_size=3, max_len_b=6)
        assert "\n" not in str(error.value)


def test_an_ensembles_layers_and_flops_count_every_model(model):
    """An ensemble of two copies of one model runs two encoders and two decoders per example: its
    FLOPs are twice one model's, part by part, and the layers each model used stay the full depth."""
    net, dictionary = model
    sample = {"net_input": _batch(), "id": torch.arange(3)}
    shape = ModelShape.of(net, 48)
    counts = {}
    for size in (1, 2):
        generator = EarlyExitSequenceGenerator([net] * size, dictionary, beam_size=3, max_len_b=6)
        generator.generate([net] * size, sample)
        examples = generator.last_example_layers
        assert [(e.models, e.encoder_layers(), e.decoder_layers()) for e in examples] == [(size, 6.0, 6.0)] * 3
        counts[size] = flops_summary(shape, examples)
    for part, gflops in counts[1]["parts_gflops"].items():
        assert counts[2]["parts_gflops"][part] == pytest.approx(2 * gflops), part
    assert counts[2]["flops_reduction"] == pytest.approx(0.0)


def test_an_ensemble_whose_models_ran_other_encoder_depths_or_tests_is_refused():
    """Each model of an ensemble records its encoder streams in the same session: a second pass is
    counted only when it ran as the first (same depths, tokens and exit tests per sample), and
    streams recorded a different number of times are refused rather than counted as one model's."""
    def session():
        run = ExitSession()
        run.record_stream("image", torch.tensor([2, 3]), torch.tensor([16, 9]), torch.tensor([1, 2]))
        run.record_stream("text", torch.tensor([3, 3]), torch.tensor([4, 5]), torch.tensor([2, 2]))
        return run

    again = session()
    again.record_stream("image", torch.tensor([2, 3]), torch.tensor([16, 9]), torch.tensor([1, 2]))
    again.record_stream("text", torch.tensor([3, 3]), torch.tensor([4, 5]), torch.tensor([2, 2]))
    assert [(e.models, e.image_layers, e.image_tests) for e in again.example_layers()] == [(2, 2, 1), (2, 3, 2)]
    with pytest.raises(RuntimeError, match="the image stream ran differently in another model"):
        session().record_stream("image", torch.tensor([3, 3]), torch.tensor([16, 9]), torch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="the image stream ran differently in another model"):
        session().record_stream("image", torch.tensor([2, 3]), torch.tensor([16, 9]), torch.tensor([2, 2]))
    once_more = session()
    once_more.record_stream("image", torch.tensor([2, 3]), torch.tensor([16, 9]), torch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="the encoder streams ran a different number of times"):
        once_more.example_layers()


def test_an_ensemble_of_models_of_other_shapes_is_refused(model):
    """Layers and FLOPs are counted for one model shape: an ensemble mixing depths is refused in one line."""
    net, dictionary = model
    shallow, _ = small_model(VOCAB, decompose_modalities=True, decoder_layers=3)
    with pytest.raises(ConfigError, match=r"^the models of an ensemble differ in shape \(\(6, 3, 64, 128, True\), "
                                          r"\(6, 6, 64, 128, True\)") as error:
        EarlyExitSequenceGenerator([net, shallow.eval()], dictionary, beam_size=3, max_len_b=6)
    assert "\n" not in str(error.value)


def test_an_ensemble_of_decomposed_and_plain_encoders_is_refused(model):
    """Models of the same depths and widths, one encoder modality-decomposed and one not, are
    counted differently (layers and FLOPs per stream): the ensemble is refused in one line."""
    net, dictionary = model
    plain, _ = small_model(VOCAB, decompose_modalities=False)
    with pytest.raises(ConfigError, match=r"^the models of an ensemble differ in shape \(\(6, 6, 64, 128, False\), "
                                          r"\(6, 6, 64, 128, True\)"):
        EarlyExitSequenceGenerator([net, plain.eval()], dictionary, beam_size=3, max_len_b=6)


GENERATION_OPTIONS = {
    "beam 3": {},
    "lenpen": {"lenpen": 2.0},
    "lenpen below 1": {"lenpen": 0.3},
    "unnormalized": {"unnormalized": True},
    "min-len": {"min_len": 5, "max_len_b": 8},
    "min-len sampling": {"min_len": 5, "max_len_b": 8, "sampling": True, "nbest": 3},  # an early </s> is drawn
    "max-len-a": {"max_len_a": 1.0, "max_len_b": 2},
    "no-repeat-ngram-size": {"no_repeat_ngram_size": 2, "min_len": 10, "max_len_b": 12},
    "unkpen": {"unkpen": -10.0},  # negative: <unk> wins, so an ignored penalty changes the tokens
    "temperature": {"temperature": 0.7},
    "sampling": {"sampling": True, "nbest": 3},
    "sampling-topk": {"sampling": True, "sampling_topk": 5, "nbest": 3},
    "sampling-topp": {"sampling": True, "sampling_topp": 0.9, "nbest": 3},
    "diverse-beam-groups": {"beam": 4, "diverse_beam_groups": 2, "diverse_beam_strength": 0.5},
    "diversity-rate": {"diversity_rate": 0.5},
    "prefix-size": {"prefix_size": 2},
    # source lengths 4 and 6 outrun --max-len-b; _batch holds no eos, so OFA's count of the source
    # (what the early-exit generator uses) and fairseq 0.12's src_lengths agree
    "match-source-len": {"match_source_len": True, "max_len_b": 3},
    "nbest": {"nbest": 3},
    "beam 1": {"beam": 1},
    "prefix-size lenpen min-len": {"prefix_size": 2, "lenpen": 0.3, "min_len": 4, "max_len_b": 8},
    "prefix-size sampling-topk": {"prefix_size": 2, "sampling": True, "sampling_topk": 5, "nbest": 3},
    "prefix-size diverse-beam-groups": {"prefix_size": 2, "beam": 4, "diverse_beam_groups": 2},
    "prefix-size diversity-rate": {"prefix_size": 1, "diversity_rate": 0.5},
    "prefix-size match-source-len": {"prefix_size": 2, "match_source_len": True, "max_len_b": 3},
}
"""fairseq-generate's generation options (as ``GenerationConfig`` fields), alone and with a
forced prefix; every other option at fairseq's default, beam 3 and ``--max-len-b 6``."""

EXITS_OFF = {"no exit option": {}, "--decoder-exit-threshold 1": {"decoder_exit_threshold": 1.0}}


class GeneratedPrefixLoop(NGramRepeatBlock):
    """fairseq's own n-gram blocking loop on the tokens generated so far, what fairseq's CUDA
    kernel blocks: fairseq's CPU fallback reads the whole padded buffer and blocks nothing
    (fairseq issue #4709, which the early-exit generator mends)."""

    def __init__(self, no_repeat_ngram_size: int):
        super().__init__(no_repeat_ngram_size, use_extension=False)

    def forward(self, tokens, lprobs, bsz: int, beam_size: int, step: int):
        return self._no_repeat_ngram(tokens[:, : step + 1], lprobs, bsz, beam_size, step)


@pytest.mark.parametrize("exit_options", EXITS_OFF.values(), ids=EXITS_OFF.keys())
@pytest.mark.parametrize("options", GENERATION_OPTIONS.values(), ids=GENERATION_OPTIONS.keys())
def test_exits_off_equal_fairseq_under_its_generation_options(model, options, exit_options):
    """fairseq-generate's options reach the early-exit generator through the task's
    build_generator as they reach fairseq's own generator through FairseqTask.build_generator
    (same search strategy, lengths, penalties, sampling, n-gram blocking); with exits off, the
    hypotheses fairseq-generate would print (``--nbest`` of them) are fairseq's, score for score
    (diverse beams: under OFA's search, which the early-exit generator puts in fairseq 0.12's place)."""
    net, dictionary = model
    # build_generator reads only the task's options and target dictionary: the tiny model's
    task = CaptionTask(CaptionConfig(**exit_options), SimpleNamespace(dictionary=dictionary))
    args = dataclasses.replace(GenerationConfig(beam=3, max_len_b=6), **options)
    # OFATask's build_generator: the caption task's adds refusals (--prefix-size among them, whose
    # forced tokens come from its data) and then calls it
    ours = OFATask.build_generator(task, [net], args)
    fairseqs = FairseqTask.build_generator(task, [net], args)
    assert type(ours) is EarlyExitSequenceGenerator and type(fairseqs) is SequenceGenerator
    if args.diverse_beam_groups > 0:  # OFA's search, not fairseq 0.12's (tests/test_ofa_habits_generation.py)
        fairseqs.search = HammingDiverseBeamSearch(dictionary, args.diverse_beam_groups, args.diverse_beam_strength)
    assert type(ours.search) is type(fairseqs.search)
    if args.no_repeat_ngram_size and not fairseqs.repeat_ngram_blocker.use_extension:
        fairseqs.repeat_ngram_blocker = GeneratedPrefixLoop(args.no_repeat_ngram_size)
    sample = {"net_input": _batch(), "id": torch.arange(3),
              "target": torch.randint(4, VOCAB, (3, 4), generator=torch.Generator().manual_seed(5))}
    forced = {"prefix_tokens": sample["target"][:, : args.prefix_size]} if args.prefix_size else {}  # as generate.py
    torch.manual_seed(3)  # sampling draws from torch's generator
    expected = fairseqs.generate([net], sample, bos_token=dictionary.bos(), **forced)
    torch.manual_seed(3)
    got = ours.generate([net], sample, **forced)
    assert len(got) == len(expected) == 3
    for hypotheses, our_hypotheses in zip(expected, got):
        assert len(our_hypotheses) == len(hypotheses) >= args.nbest
        for a, b in zip(hypotheses, our_hypotheses):
            assert torch.equal(a["tokens"], b["tokens"])
            assert torch.equal(a["positional_scores"], b["positional_scores"])
            assert float(a["score"]) == float(b["score"])
    assert {(e.image_layers, e.text_layers, e.decoder_layers()) for e in ours.last_example_layers} == {(6, 6, 6.0)}


@pytest.mark.parametrize("option, message", [
    ({"score_reference": True}, "--score-reference would score with fairseq's SequenceScorer"),
    ({"print_alignment": "hard"}, "--print-alignment needs fairseq's alignment generator"),
])
def test_generation_options_that_would_bypass_the_exits_are_refused(model, option, message):
    """fairseq builds its scorer or alignment generator for these, and no exit would run."""
    net, dictionary = model
    task = CaptionTask(CaptionConfig(decoder_exit_threshold=0.9), SimpleNamespace(dictionary=dictionary))
    with pytest.raises(ConfigError, match=message):
        task.build_generator([net], dataclasses.replace(GenerationConfig(), **option))


@pytest.mark.parametrize("option, message", [
    ({"nbest": 3}, "--nbest cannot apply to the evaluation"),
    ({"prefix_size": 2}, "--prefix-size is not supported for captions"),
])
def test_caption_evaluation_refuses_what_it_cannot_honour(model, option, message):
    """The evaluation scores each row's best caption: --nbest (which fairseq-generate honours)
    would change nothing there, and --prefix-size is refused for captions altogether (python -m
    ofa_mue.evaluate checks its options with the task before loading the checkpoint)."""
    _, dictionary = model
    task = CaptionTask(CaptionConfig(), SimpleNamespace(dictionary=dictionary))
    task.check_evaluation_options(GenerationConfig(beam=2, max_len_b=3))  # what the evaluation honours passes
    with pytest.raises(ConfigError, match=message):
        task.check_evaluation_options(dataclasses.replace(GenerationConfig(beam=2, max_len_b=3), **option))


def test_caption_generation_refuses_a_forced_prefix(model):
    """fairseq-generate --prefix-size forces each caption to start with its row's target tokens:
    here the first reference, where OFA's caption data hold every reference joined by '&&' (so
    a prefix longer than the first reference, or one over a word of punctuation, forces other
    tokens than OFA's). The caption task's generator refuses it rather than differ silently."""
    net, dictionary = model
    task = CaptionTask(CaptionConfig(), SimpleNamespace(dictionary=dictionary))
    assert type(task.build_generator([net], GenerationConfig(beam=2, max_len_b=3))) is EarlyExitSequenceGenerator
    with pytest.raises(ConfigError, match="--prefix-size is not supported for captions: .*first reference"):
        task.build_generator([net], GenerationConfig(beam=2, max_len_b=3, prefix_size=1))


DECAYING = {"decoder_exit_threshold": 0.99, "decoder_exit_beta": 0.95, "decoder_exit_tau": 1.0}


@pytest.mark.parametrize("option, flag", [({"max_len_a": 1.5}, "--max-len-a 1.5"),
                                          ({"match_source_len": True}, "--match-source-len")],
                         ids=["max-len-a", "match-source-len"])
def test_a_decaying_threshold_refuses_a_length_limit_other_than_max_len_b(model, option, flag):
    """The decaying decoder threshold's horizon N is --max-len-b, the longest generation; with
    --max-len-a or --match-source-len the limit follows the batch's longest source instead, so
    N would not be the longest generation: refused by the generator (fairseq-generate) and by
    the evaluation's early check. A constant threshold, or --max-len-a 0, is accepted."""
    net, dictionary = model
    decaying = CaptionTask(CaptionConfig(**DECAYING), SimpleNamespace(dictionary=dictionary))
    constant = CaptionTask(CaptionConfig(decoder_exit_threshold=0.99), SimpleNamespace(dictionary=dictionary))
    args = dataclasses.replace(GenerationConfig(beam=2, max_len_b=4), **option)
    assert type(constant.build_generator([net], args)) is EarlyExitSequenceGenerator
    assert type(decaying.build_generator([net], GenerationConfig(beam=2, max_len_b=4))) is EarlyExitSequenceGenerator
    for check in (lambda: decaying.build_generator([net], args), lambda: decaying.check_evaluation_options(args)):
        with pytest.raises(ConfigError, match=f"{flag} with a decaying decoder exit threshold"):
            check()


def test_encoder_decisions_are_per_sample(model):
    net, _ = model
    net_input = _batch(batch=4)
    session = ExitSession({"image": ExitByContent(), "text": ExitByContent()})
    with torch.no_grad():
        batched = net.encoder(**net_input, exit_session=session)["encoder_out"][0]
        layers = session.example_layers()
        assert len({e.image_layers for e in layers} | {e.text_layers for e in layers}) > 1, "need mixed exits"
        for i in range(4):
            alone_session = ExitSession({"image": ExitByContent(), "text": ExitByContent()})
            single = {k: v[i:i + 1] for k, v in net_input.items()}
            alone = net.encoder(**single, exit_session=alone_session)["encoder_out"][0]
            length = alone.size(1)
            torch.testing.assert_close(batched[i, :length], alone[0], atol=1e-5, rtol=1e-5)
            assert alone_session.example_layers()[0].image_layers == layers[i].image_layers
            assert alone_session.example_layers()[0].text_layers == layers[i].text_layers


def test_incremental_decoding_with_exits_matches_recomputing_the_prefix(model):
    """Skipped layers still get each token's keys/values: step-by-step decoding equals one
    pass over the whole prefix with the same exit decisions (the published code fails this)."""
    net, _ = model
    net_input = _batch(batch=2)
    prev = torch.randint(4, VOCAB, (2, 7))
    with torch.no_grad():
        full_session = ExitSession(decoder_rule=ExitByPosition())
        full_logits, full_extra = _decode_full(net, net_input, prev, full_session)
        step_session = ExitSession(decoder_rule=ExitByPosition())
        encoder_out = net.encoder(**net_input, exit_session=step_session)
        state: dict = {}
        for t in range(prev.size(1)):
            logits, extra = net.decoder(prev[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
            torch.testing.assert_close(logits[:, -1], full_logits[:, t], atol=1e-5, rtol=1e-5)
            assert torch.equal(extra["exit_layers"][:, -1], full_extra["exit_layers"][:, t])
    assert full_extra["exit_layers"][0].tolist() == [1, 2, 3, 1, 2, 3, 1]


@dataclass(frozen=True)
class ExitByTokenId:
    """Deterministic decoder rule: the token numbered ``i`` (flat index in the call's [B, T] grid, as
    rules get it) stops after layer (i mod 3) + 1."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return tokens % 3 == layer


def test_exit_rules_get_each_tokens_own_number_after_others_exited(model):
    """A rule that follows tokens across layers (patience) gets each running token's own number in the
    call's grid, also after other tokens have exited and the running ones are packed."""
    net, _ = model
    prev = torch.randint(4, VOCAB, (2, 7))
    with torch.no_grad():
        _, extra = _decode_full(net, _batch(batch=2), prev, ExitSession(decoder_rule=ExitByTokenId()))
    assert extra["exit_layers"].flatten().tolist() == [i % 3 + 1 for i in range(14)]


def _steps_equal_one_pass(decoder, prev, encoder_out, full, state: dict, start: int = 0) -> None:
    """Decoding ``prev`` one step at a time from position ``start`` on, continuing ``state``'s cache,
    gives at each step the logits ``full`` (one pass over all of ``prev``) has there."""
    for t in range(start, prev.size(1)):
        logits, _ = decoder(prev[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
        torch.testing.assert_close(logits[:, -1], full[:, t], atol=1e-5, rtol=1e-5)


def test_a_reordered_cache_continues_each_rows_new_prefix(model):
    """Beam search's reordering (rows of other samples included, as when finished sentences leave the
    batch) moves each row's self-attention and cross-attention caches with it: the next steps equal one
    pass over the reordered prefixes."""
    net, _ = model
    net_input = _batch(batch=3)
    prev = torch.randint(4, VOCAB, (3, 6))
    order = torch.tensor([2, 0, 0])
    with torch.no_grad():
        encoder_out = net.encoder(**net_input)
        state: dict = {}
        for t in range(3):
            net.decoder(prev[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
        net.decoder.reorder_incremental_state(state, order)
        encoder_out = net.encoder.reorder_encoder_out(encoder_out, order)
        reordered = torch.cat([prev[order, :3], prev[:, 3:]], dim=1)
        full, _ = net.decoder(reordered, encoder_out=encoder_out)
        _steps_equal_one_pass(net.decoder, reordered, encoder_out, full, state, start=3)


@dataclass
class RecordingSimilarity:
    """The MuE token rule that also records the similarities it saw at the first layer."""

    rule: TokenSimilarityExit
    seen: list

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        if layer == 0:
            self.seen.extend(torch.nn.functional.cosine_similarity(x_in, x_out, dim=-1).flatten().tolist())
        return self.rule.should_exit(layer, x_in, x_out, positions, tokens)


def test_similarity_exits_decide_per_token_and_stay_consistent(model):
    net, _ = model
    net_input = _batch(batch=2)
    prev = torch.randint(4, VOCAB, (2, 6))
    with torch.no_grad():
        probe = RecordingSimilarity(TokenSimilarityExit(theta=2.0), [])
        _decode_full(net, net_input, prev, ExitSession(decoder_rule=probe))
        values = sorted(probe.seen)
        gaps = [(values[i + 1] - values[i], i) for i in range(len(values) // 4, 3 * len(values) // 4)]
        _, i = max(gaps)
        theta = (values[i] + values[i + 1]) / 2  # far from every similarity: no borderline decision
        rule = TokenSimilarityExit(theta=theta)
        full_logits, full_extra = _decode_full(net, net_input, prev, ExitSession(decoder_rule=rule))
        layers = full_extra["exit_layers"]
        assert (layers == 1).any() and (layers > 1).any(), "tokens of one batch decide separately"
        session = ExitSession(decoder_rule=rule)
        encoder_out = net.encoder(**net_input, exit_session=session)
        state: dict = {}
        for t in range(prev.size(1)):
            logits, extra = net.decoder(prev[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
            torch.testing.assert_close(logits[:, -1], full_logits[:, t], atol=1e-5, rtol=1e-5)
            assert torch.equal(extra["exit_layers"][:, -1], layers[:, t])


def test_exited_samples_and_tokens_leave_later_layers(model):
    net, _ = model
    rows_seen = []
    hook = net.encoder.layers[-1].fc1.register_forward_hook(lambda m, i, o: rows_seen.append(i[0].size(0)))
    decoder_rows = []
    dhook = net.decoder.layers[-1].fc1.register_forward_hook(lambda m, i, o: decoder_rows.append(i[0].shape[:2]))
    try:
        net_input = _batch(batch=4)
        prev = torch.randint(4, VOCAB, (4, 1))
        with torch.no_grad():
            session = ExitSession({"image": ExitByContent(), "text": ExitByContent()},
                                  ExitEveryToken())
            _decode_full(net, net_input, prev, session)
    finally:
        hook.remove()
        dhook.remove()
    stopped = sum(e.image_layers < 6 for e in session.example_layers())
    assert rows_seen[0] == 4 - stopped  # image stream of the last layer: only running samples
    assert decoder_rows == [], "every token exited after layer 1: the last layer's FFN never ran"
    assert [e.decoder_layers() for e in session.example_layers()] == [1.0] * 4


@dataclass(frozen=True)
class ExitEveryToken:
    """Decoder rule that stops every token after the first layer."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return torch.ones_like(positions, dtype=torch.bool)


def test_beam_generation_with_exits_is_batch_independent(model):
    net, dictionary = model
    net_input = _batch(batch=3)
    thresholds = MuEThresholds(image=0.5, text=0.5, decoder=0.5)

    def generate(inputs):
        generator = EarlyExitSequenceGenerator([net], dictionary, policy=thresholds, beam_size=3, max_len_b=5)
        return generator.generate([net], {"net_input": inputs, "id": torch.arange(len(inputs["src_tokens"]))}), \
            generator.last_example_layers

    batched, batched_layers = generate(net_input)
    for i in range(3):
        alone, alone_layers = generate({k: v[i:i + 1] for k, v in net_input.items()})
        assert torch.equal(batched[i][0]["tokens"], alone[0][0]["tokens"])
        torch.testing.assert_close(batched[i][0]["score"], alone[0][0]["score"], atol=1e-4, rtol=1e-4)
        assert batched_layers[i].image_layers == alone_layers[0].image_layers
        assert batched_layers[i].decoder_layer_sum == alone_layers[0].decoder_layer_sum


def test_stream_rule_uses_whole_stream_similarity(model):
    rule = StreamSimilarityExit(0.5)
    x = torch.randn(2, 3, 4)
    assert rule.should_exit(0, x, x, None).all()


def test_static_depths_truncate_each_stream(model):
    net, _ = model
    session = StaticDepths(image=2, text=4, decoder=3).session(horizon=5)
    with torch.no_grad():
        _decode_full(net, _batch(batch=2), torch.randint(4, VOCAB, (2, 5)), session)
    for example in session.example_layers():
        assert (example.image_layers, example.text_layers, example.decoder_layers()) == (2, 4, 3.0)
    with pytest.raises(ConfigError, match="--static-text-layers"):
        StaticDepths(text=-1)


def test_a_stream_stops_after_its_last_tested_layer_and_runs_no_test_after_the_last(model):
    """A stream can stop after any layer but the last, the penultimate one included; a stream with a
    rule that runs every layer ran one test per layer but the last; a stream without a rule none."""
    net, _ = model
    layers = net.encoder.num_layers
    penultimate = StaticDepths(image=layers - 1).session(horizon=5)
    never = ExitSession({"text": StreamSimilarityExit(2.0)})
    with torch.no_grad():
        for session in (penultimate, never):
            net.encoder(**_batch(batch=2), exit_session=session)
    assert [(e.image_layers, e.image_tests, e.text_layers, e.text_tests)
            for e in penultimate.example_layers()] == [(layers - 1, layers - 1, layers, 0)] * 2
    assert [(e.image_layers, e.image_tests, e.text_layers, e.text_tests)
            for e in never.example_layers()] == [(layers, 0, layers, layers - 1)] * 2


def test_each_stream_records_its_own_non_padding_tokens(model):
    """The time reduction weighs each stream by its tokens: the image stream's are the sample's patches
    (none without an image), the text stream's its non-padding tokens."""
    net, _ = model
    net_input = _batch(batch=3)
    net_input["patch_masks"] = torch.tensor([True, False, True])
    session = StaticDepths(image=2).session(horizon=5)
    with torch.no_grad():
        patches = net.encoder.embed_image(net_input["patch_images"])[0].size(1)
        net.encoder(**net_input, exit_session=session)
    assert [(e.image_tokens, e.text_tokens) for e in session.example_layers()] == [(patches, 4), (0, 6), (patches, 6)]


def test_a_stream_whose_samples_all_stopped_runs_no_further_layer(model):
    """Once every sample of a stream has stopped, the later layers are not called at all (not even on
    an empty batch, which still costs their operator launches)."""
    net, _ = model
    calls = []
    hooks = [layer.register_forward_hook(lambda m, i, o, index=index: calls.append(index))
             for index, layer in enumerate(net.encoder.layers)]
    try:
        with torch.no_grad():
            net.encoder(**_batch(batch=2), exit_session=StaticDepths(image=1, text=2).session(horizon=5))
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == [0, 0, 1]  # the image stream runs layer 1; the text stream layers 1 and 2


def test_no_repeat_ngram_size_blocks_repeats_on_cpu(model):
    net, dictionary = model
    sample = {"net_input": _batch(batch=3), "id": torch.arange(3)}
    generator = EarlyExitSequenceGenerator([net], dictionary, beam_size=2, max_len_b=12, min_len=12,
                                           no_repeat_ngram_size=2)
    for hypotheses in generator.generate([net], sample):
        tokens = hypotheses[0]["tokens"].tolist()
        bigrams = list(zip(tokens, tokens[1:]))
        assert len(bigrams) == len(set(bigrams)), tokens


@pytest.mark.parametrize("size", [2, 3, 4])
def test_vectorised_ngram_blocking_bans_what_fairseqs_loop_bans(size):
    """The tensor version bans exactly the tokens fairseq's per-hypothesis Python loop bans."""
    generator = torch.Generator().manual_seed(size)
    tokens = torch.randint(4, 9, (6, 14), generator=generator)  # few symbols: many repeats
    blocker, reference = GeneratedPrefixNGramBlock(size), NGramRepeatBlock(size, use_extension=False)
    for step in range(tokens.size(1) - 1):
        lprobs = torch.randn(6, 12, generator=generator)
        expected = reference(tokens[:, : step + 1], lprobs.clone(), 3, 2, step)
        assert torch.equal(blocker(tokens, lprobs.clone(), 3, 2, step), expected), step


def test_entropy_and_patience_policies_exit_per_token(model):
    net, _ = model
    net_input = _batch(batch=3)
    project = vocabulary_projection(net.decoder.hidden_to_logits)
    with torch.no_grad():
        eager = EntropyPolicy(decoder=100.0).session(horizon=5, project=project)  # every entropy is below
        _decode_full(net, net_input, torch.randint(4, VOCAB, (3, 5)), eager)
        assert [e.decoder_layers() for e in eager.example_layers()] == [1.0, 1.0, 1.0]

        # one token per row, so the exits of other tokens cannot change its hidden states
        prev = torch.randint(4, VOCAB, (3, 1))
        _, full = net.decoder(prev, encoder_out=net.encoder(**net_input), return_layer_states=True)
        predictions = torch.stack([net.decoder.hidden_to_logits(state[:, 0]).argmax(-1)
                                   for state in full["layer_states"]], dim=1)
        expected = []
        for row in predictions.tolist():
            count, layer = 0, len(row)
            for index in range(1, len(row) - 1):
                count = count + 1 if row[index] == row[index - 1] else 0
                if count >= 2:
                    layer = index + 1
                    break
            expected.append(layer)
        patience = PatiencePolicy(decoder=2).session(horizon=1, project=project)
        _, extra = _decode_full(net, net_input, prev, patience)
        assert extra["exit_layers"][:, 0].tolist() == expected
    with pytest.raises(ConfigError, match="--entropy-exit-threshold"):
        EntropyPolicy(decoder=float("nan"))
    with pytest.raises(ConfigError, match="--patience-exit-layers"):
        PatiencePolicy(decoder=0)


def test_entropy_and_patience_take_mues_encoder_exits(model):
    """On equal footing: the baselines' encoder streams stop where MuE's do with the same thresholds,
    their decoder by their own rule, and each policy names the parts that exit."""
    net, _ = model
    net_input = _batch(batch=3)
    project = vocabulary_projection(net.decoder.hidden_to_logits)
    prev = torch.randint(4, VOCAB, (3, 5))
    with torch.no_grad():
        # thresholds between the streams' first-layer similarities: some samples stop, others run on
        similarities = _first_layer_similarities(net, net_input)
        image, text = (float(values.median()) for values in similarities)
        mue = MuEThresholds(image=image, text=text).session(horizon=5)
        _decode_full(net, net_input, prev, mue)
        reference = [(e.image_layers, e.text_layers) for e in mue.example_layers()]
        assert {layers for layers, _ in reference} != {6} and {layers for _, layers in reference} != {6}
        for policy in (EntropyPolicy(100.0, image=image, text=text), PatiencePolicy(1, image=image, text=text)):
            session = policy.session(horizon=5, project=project)
            _decode_full(net, net_input, prev, session)
            assert [(e.image_layers, e.text_layers) for e in session.example_layers()] == reference
            assert policy.exiting_parts == ("image", "text", "decoder")
        decoder_only = EntropyPolicy(100.0).session(horizon=5, project=project)
        _decode_full(net, net_input, prev, decoder_only)
        assert {(e.image_layers, e.text_layers) for e in decoder_only.example_layers()} == {(6, 6)}
    assert EntropyPolicy(0.5).exiting_parts == ("decoder",)
    assert MuEThresholds(decoder=0.9).exiting_parts == ("decoder",)
    assert MuEThresholds(image=0.9, text=0.9, decoder=0.9).exiting_parts == ("image", "text", "decoder")
    assert StaticDepths(image=2, decoder=3).exiting_parts == ("image", "decoder")
    with pytest.raises(ConfigError, match="--text-exit-threshold"):
        PatiencePolicy(2, text=float("nan"))


def _first_layer_similarities(net, net_input):
    """Per-sample cosine similarity between the first encoder layer's output and input, per stream,
    from a plain pass with hooks (no exit machinery involved)."""
    from ofa_mue.core.exit_policy import stream_similarity

    seen = []
    hook = net.encoder.layers[0].register_forward_hook(
        lambda module, inputs, output: seen.append(stream_similarity(inputs[0], output, inputs[2])))
    try:
        net.encoder(**net_input)
    finally:
        hook.remove()
    return seen  # image stream first, then text (the decomposed encoder's order)


def test_static_depths_beyond_the_model_are_refused(model):
    net, _ = model
    StaticDepths(image=6, text=1, decoder=6).check_depths(net.encoder.num_layers, net.decoder.num_layers)
    with pytest.raises(ConfigError, match=r"--static-decoder-layers 7 is deeper than the model's decoder \(6 layers\)"):
        StaticDepths(decoder=7).check_depths(net.encoder.num_layers, net.decoder.num_layers)
    with pytest.raises(ConfigError, match="--static-image-layers 7"):
        StaticDepths(image=7).check_depths(net.encoder.num_layers, net.decoder.num_layers)


def test_generation_starts_from_bos_like_training(model):
    net, dictionary = model
    net_input = _batch(batch=3)
    generator = EarlyExitSequenceGenerator([net], dictionary, beam_size=1, max_len_b=3, min_len=1)
    first = [hypotheses[0]["tokens"][0].item() for hypotheses in
             generator.generate([net], {"net_input": net_input, "id": torch.arange(3)})]
    bos = torch.full((3, 1), dictionary.bos())
    with torch.no_grad():
        logits, _ = net.decoder(bos, encoder_out=net.encoder(**net_input))
    logits[:, 0, dictionary.eos()] = float("-inf")  # min_len 1: the first token is not </s>
    logits[:, 0, dictionary.pad()] = float("-inf")
    logits[:, 0, dictionary.unk()] = float("-inf")
    assert first == logits[:, 0].argmax(-1).tolist()


@dataclass
class RecordingTestedLayers:
    """Decoder rule that never stops a token and records the layers it is asked after."""

    asked: list

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        self.asked.append(layer)
        return torch.zeros_like(positions, dtype=torch.bool)


def test_no_exit_test_runs_after_the_last_decoder_layer(model):
    """After the last layer a token has nothing left to skip: the rule is asked after every other
    layer, once per call, never after the last (an entropy rule would project to the vocabulary
    for nothing), in a teacher-forced pass and in each step of incremental decoding."""
    net, _ = model
    net_input = _batch(batch=2)
    prev = torch.randint(4, VOCAB, (2, 3))
    tested = list(range(net.decoder.num_layers - 1))
    with torch.no_grad():
        rule = RecordingTestedLayers([])
        _decode_full(net, net_input, prev, ExitSession(decoder_rule=rule))
        assert rule.asked == tested
        rule = RecordingTestedLayers([])
        encoder_out = net.encoder(**net_input, exit_session=ExitSession(decoder_rule=rule))
        state: dict = {}
        for t in range(prev.size(1)):
            net.decoder(prev[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
    assert rule.asked == tested * prev.size(1)


def test_incremental_decoding_beyond_the_first_position_tables_matches_recomputing_the_prefix(model):
    """A generation's position tables start with MIN_CACHED_POSITIONS positions and double when a step
    outgrows them (not rebuilt at every later step): every step, before and after, equals one pass over
    the whole prefix."""
    net, _ = model
    net_input = _batch(batch=1)
    prev = torch.randint(4, VOCAB, (1, MIN_CACHED_POSITIONS + 3))
    with torch.no_grad():
        encoder_out = net.encoder(**net_input)
        full, _ = net.decoder(prev, encoder_out=encoder_out)
        state: dict = {}
        _steps_equal_one_pass(net.decoder, prev, encoder_out, full, state)
    assert state[CACHE_KEY]["position_biases"].capacity == 2 * MIN_CACHED_POSITIONS


def test_position_tables_stay_within_a_short_position_table():
    """A decoder whose position embeddings hold fewer positions than the doubled tables would
    (--max-target-positions 38: 40 embeddings, not 2 * MIN_CACHED_POSITIONS) grows its tables only
    to what it has, and decodes its longest target step by step as in one pass."""
    net, _ = small_model(VOCAB, max_target_positions=38)
    net.eval()
    length = net.decoder.max_positions()
    assert MIN_CACHED_POSITIONS < length < 2 * MIN_CACHED_POSITIONS
    prev = torch.randint(4, VOCAB, (1, length))
    with torch.no_grad():
        encoder_out = net.encoder(**_batch(batch=1))
        full, _ = net.decoder(prev, encoder_out=encoder_out)
        state: dict = {}
        _steps_equal_one_pass(net.decoder, prev, encoder_out, full, state, start=MIN_CACHED_POSITIONS - 1)
    assert state[CACHE_KEY]["position_biases"].capacity == net.decoder.embed_positions.num_embeddings == 40


@dataclass(frozen=True)
class NeverExit:
    """Decoder rule that tests every token and stops none."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return torch.zeros_like(positions, dtype=torch.bool)


def test_a_decoder_without_an_exit_rule_records_no_exit_tests(model):
    """The FLOPs count charges a decoder exit test only where a rule ran one: with encoder exits only,
    no decoder token is tested; with a rule that stops nothing, each token after each layer but the last."""
    net, _ = model
    prev = torch.randint(4, VOCAB, (3, 4))
    counts = []
    for decoder_rule in (None, NeverExit()):
        session = ExitSession({"image": ExitByContent(), "text": ExitByContent()}, decoder_rule)
        with torch.no_grad():
            _decode_full(net, _batch(batch=3), prev, session)
        counts.append([(e.decoder_tokens, e.decoder_tests) for e in session.example_layers()])
    assert counts == [[(4, 0)] * 3, [(4, 4 * 5)] * 3]
