"""benchmarks/lossless_replay.py: the lossless mode's decisions recorded on one model replay on
another exactly (drafts, acceptances, rounds, captions), with a consistent key/value cache, and a
replay off the recording is refused."""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from fairseq.sequence_generator import SequenceGenerator

from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
from ofa_mue.core.exit_policy import EntropyPolicy, MuEThresholds, StaticDepths
from ofa_mue.core.verified_generator import VerifiedEarlyExitGenerator
from ofa_mue.models.builders import build_model, numbered_dictionary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from lossless_replay import (  # noqa: E402
    RecordedSample, Recording, RecordingVerifiedGenerator, ReplayedVerifiedGenerator, ReplayError, caption_prefixes,
    record)

VOCAB = 60
OPTIONS = dict(beam_size=1, max_len_b=9, min_len=2, no_repeat_ngram_size=2)
DRAFTERS = {"mue": (MuEThresholds(decoder=0.9), 3), "static": (StaticDepths(decoder=1), 2)}


@pytest.fixture(scope="module")
def nets():
    """The recorded model and a wider one (other weights) that replays it."""
    dictionary = numbered_dictionary(VOCAB)
    out = []
    for seed, width in ((0, 64), (1, 96)):
        torch.manual_seed(seed)
        out.append(build_model("ofa_demo", dictionary, encoder_embed_dim=width, encoder_ffn_embed_dim=2 * width,
                               encoder_attention_heads=4, decoder_attention_heads=4).eval())
    return out[0], out[1], dictionary


def _batch(ids: List[int], seed: int) -> Dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, VOCAB, (len(ids), 6), generator=generator)
    src[0, -2:] = 1
    net_input = {"src_tokens": src, "src_lengths": src.ne(1).sum(1),
                 "patch_images": torch.randn(len(ids), 3, 48, 48, generator=generator),
                 "patch_masks": torch.ones(len(ids), dtype=torch.bool)}
    return {"net_input": net_input, "id": torch.tensor(ids)}


BATCHES = [_batch([0, 1, 2], 1), _batch([3, 4], 2)]


@pytest.fixture(scope="module")
def recordings(nets):
    small, _, dictionary = nets
    out = {}
    for name, (policy, draft) in DRAFTERS.items():
        generator = RecordingVerifiedGenerator([small], dictionary, policy=policy, draft_tokens=draft, **OPTIONS)
        out[name] = record(generator, small, BATCHES)
    return out


def _replay(nets, recording, batches=BATCHES, **options):
    _, big, dictionary = nets
    generator = ReplayedVerifiedGenerator([big], dictionary, recording, **{**OPTIONS, **options})
    hypotheses, stats, draft_layers = [], [], []
    for sample in batches:
        hypotheses.extend(h[0] for h in generator.generate([big], sample))
        stats.extend(asdict(s) for s in generator.last_verification)
        draft_layers.append([c.layers for c in generator.last_session.recorded_decoder_calls() if c.tested])
    return hypotheses, stats, draft_layers


@pytest.mark.parametrize("drafter", sorted(DRAFTERS))
def test_the_replay_drafts_and_accepts_exactly_what_was_recorded(nets, recordings, drafter):
    small, big, dictionary = nets
    recording = recordings[drafter]
    ids = list(range(5))
    recorded = recording.stats(ids)
    assert 0 < sum(s["accepted"] for s in recorded) < sum(s["drafted"] for s in recorded), \
        "the recording holds accepted and rejected drafts"
    assert len({s["verifications"] for s in recorded}) > 1, "rows finished in different rounds"
    policy, draft = DRAFTERS[drafter]
    own = VerifiedEarlyExitGenerator([big], dictionary, policy=policy, draft_tokens=draft, **OPTIONS)
    unforced = [asdict(s) for sample in BATCHES for _ in [own.generate([big], sample)] for s in own.last_verification]
    assert unforced != recorded, "the other model left to itself decides otherwise"

    hypotheses, stats, draft_layers = _replay(nets, recording)
    assert stats == recorded
    assert [h["tokens"].tolist() for h in hypotheses] == recording.captions(ids)
    # every draft call stops where the recorded one did (MuE's exits replayed; the fixed depth as it is)
    for sample, layers in zip(BATCHES, draft_layers):
        recorded_layers = recording.draft_exits[tuple(sample["id"].tolist())]
        assert len(layers) == len(recorded_layers)
        assert all(torch.equal(a, b) for a, b in zip(layers, recorded_layers))

    # the cache stays the full model's: each position's score is the full model's greedy search
    # forced through the recorded captions (fairseq's own generate, one decoder step per token)
    full = EarlyExitSequenceGenerator([big], dictionary, **OPTIONS)
    for sample, prefix in zip(BATCHES, caption_prefixes(recording, BATCHES, dictionary.pad())):
        forced = SequenceGenerator.generate(full, [big], sample, prefix_tokens=prefix, bos_token=dictionary.bos())
        start = int(sample["id"][0])
        for row, hypothesis in enumerate(forced):
            replayed = hypotheses[start + row]
            assert torch.equal(hypothesis[0]["tokens"], replayed["tokens"])
            torch.testing.assert_close(hypothesis[0]["positional_scores"], replayed["positional_scores"],
                                       atol=1e-5, rtol=1e-5)


def test_a_replay_off_the_recording_is_refused(nets, recordings):
    recording = recordings["static"]
    with pytest.raises(ReplayError, match=r"the batch of samples \[0, 1\] was not recorded"):
        _replay(nets, recording, batches=[_batch([0, 1], 1)])
    with pytest.raises(ReplayError):
        _replay(nets, recording, max_len_b=5)
    entropy = Recording(EntropyPolicy(decoder=0.5), 2, recording.samples, recording.draft_exits)
    with pytest.raises(ReplayError, match="cannot replay the drafter EntropyPolicy"):
        entropy.replay_policy((0, 1, 2))


def test_the_full_arms_prefixes_are_the_recorded_captions_with_their_end_of_sentence_padded():
    """lossless.py's full arm at another size is greedy search forced through these prefixes: each row the
    recorded caption, end of sentence included (without it the search would run on past the caption)."""
    recording = Recording(StaticDepths(decoder=1), 2, {
        7: RecordedSample([5, 6, 2], [[5, 6]], {}), 3: RecordedSample([8, 2], [[8, 2]], {})})
    batch = {"id": torch.tensor([3, 7]), "net_input": {"src_tokens": torch.zeros(2, 4, dtype=torch.long)}}
    (prefix,) = caption_prefixes(recording, [batch], pad=1)
    assert prefix.tolist() == [[8, 2, 1], [5, 6, 2]]
