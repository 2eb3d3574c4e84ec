"""The lossless mode's decisions recorded on one model and replayed on another (``lossless.py --replay-arch``).

How much ``--exit-verify`` saves rests on how often a trained model's shallow layers agree
with its last one, which a random-init model of OFA's size cannot show. So the demo model's
decisions are recorded and imposed on the larger model, whose loop then does the work a
model of that size with the demo's acceptance would do:

- :func:`record`: the demo model's verified decoding of a set of batches at one drafter and
  ``K``; per input sample, its caption (the full model's greedy one), the tokens it drafted in
  each verification round and its :class:`~ofa_mue.core.verified_generator.VerificationStats`;
  per batch, the exit layers of each draft call (for MuE's drafter, whose exits a random-init
  model would take elsewhere).
- :class:`ReplayedVerifiedGenerator`: the verification loop on another model (same
  dictionary, same rows and batches), every draft step and every verification pass run for
  real, but each drafted token replaced by the recorded one and each verified position's
  choice by the recorded caption's token, so every round drafts, accepts and trims the cache
  exactly as recorded; MuE's drafts also stop at the recorded layers (with MuE's similarity
  test run for its cost, :class:`~exit_arms.ReplayPolicy`). A batch, sample or round the
  recording does not hold is refused (:class:`ReplayError`), never improvised.
- :func:`caption_prefixes`: the recorded captions as fairseq prefix tokens, with which the
  full model's greedy search produces them step by step (``lossless.py``'s full arm).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

from exit_arms import BatchExits, ReplayPolicy
from ofa_mue.core.exit_policy import MuEThresholds, StaticDepths
from ofa_mue.core.verified_generator import VerificationRounds, VerifiedEarlyExitGenerator


class ReplayError(ValueError):
    """The replay reached a decision the recording does not hold."""


@dataclass
class RecordedSample:
    """One input sample's verified decoding: its output tokens (end of sentence included), the
    tokens drafted in each verification round, and its verification counts (as a dict)."""

    caption: List[int]
    drafts: List[List[int]]
    stats: Dict[str, int]


@dataclass
class Recording:
    """A drafter's verified decoding of some batches: the drafter ``policy`` and ``draft_tokens``,
    each sample by id, and each batch's (its ids in order) draft-call exit layers ``[R, 1]``."""

    policy: Any
    draft_tokens: int
    samples: Dict[int, RecordedSample] = field(default_factory=dict)
    draft_exits: Dict[Tuple[int, ...], List[Tensor]] = field(default_factory=dict)
    _replays: Dict[Tuple[int, ...], Any] = field(default_factory=dict, repr=False)

    def replay_policy(self, ids: Tuple[int, ...]):
        """The drafter for batch ``ids`` on another model: a fixed depth stays itself; MuE's
        thresholds become the recorded exits (its similarity test still runs, never firing)."""
        if ids not in self.draft_exits:
            raise ReplayError(f"the batch of samples {list(ids)} was not recorded (replay the recorded batches)")
        if isinstance(self.policy, StaticDepths):
            return self.policy
        if not isinstance(self.policy, MuEThresholds):
            raise ReplayError(f"cannot replay the drafter {type(self.policy).__name__} (static depths or MuE "
                              "thresholds only)")
        if ids not in self._replays:
            calls = self.draft_exits[ids]
            self._replays[ids] = ReplayPolicy([BatchExits({}, calls, len(calls))], self.policy,
                                              self.policy.granularity)
        return self._replays[ids]

    def captions(self, ids: Sequence[int]) -> List[List[int]]:
        """The recorded captions of samples ``ids``, in order."""
        return [self.sample(i).caption for i in ids]

    def stats(self, ids: Sequence[int]) -> List[Dict[str, int]]:
        """The recorded verification counts of samples ``ids``, in order."""
        return [self.sample(i).stats for i in ids]

    def sample(self, sample_id: int) -> RecordedSample:
        """What sample ``sample_id`` recorded (a :class:`ReplayError` if it was not)."""
        if sample_id not in self.samples:
            raise ReplayError(f"sample {sample_id} was not recorded")
        return self.samples[sample_id]


class RecordingRounds(VerificationRounds):
    """:class:`VerificationRounds` that keeps every drafted token, per sample and round."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.drafts: List[List[List[int]]] = [[] for _ in self.stats]

    def _choose(self, lprobs, steps, step_range, prefix, drafting):
        tokens, scores = super()._choose(lprobs, steps, step_range, prefix, drafting)
        if drafting:
            for sample, token in zip(self.sample.tolist(), tokens.tolist()):
                rounds = self.drafts[sample]
                while len(rounds) <= self.stats[sample].verifications:  # the round's first draft step
                    rounds.append([])
                rounds[-1].append(token)
        return tokens, scores


class RecordingVerifiedGenerator(VerifiedEarlyExitGenerator):
    """The lossless mode, keeping the last batch's :class:`RecordingRounds` (``last_rounds``)."""

    def _rounds(self, sample, encoder_out, session, max_len, bos):
        batch = sample["net_input"]["src_tokens"].size(0)
        self.last_rounds = RecordingRounds(self, encoder_out, session, batch, max_len, bos)
        return self.last_rounds


def record(generator: RecordingVerifiedGenerator, model, batch_list: Sequence[Dict[str, Any]]) -> Recording:
    """The verified decoding of ``batch_list`` by ``model`` with ``generator``'s drafter."""
    recording = Recording(generator.policy, generator.draft_tokens)
    for sample in batch_list:
        hypotheses = generator.generate([model], sample)
        ids = tuple(sample["id"].tolist())
        for index, (sample_id, hypothesis) in enumerate(zip(ids, hypotheses)):
            recording.samples[sample_id] = RecordedSample(hypothesis[0]["tokens"].tolist(),
                                                          generator.last_rounds.drafts[index],
                                                          asdict(generator.last_verification[index]))
        recording.draft_exits[ids] = [call.layers.cpu() for call in generator.last_session.recorded_decoder_calls()
                                      if call.tested]  # verification passes run no exit test
    return recording


class ReplayedRounds(VerificationRounds):
    """:class:`VerificationRounds` whose drafted tokens and verified choices are the recording's.

    The model's own choices are still computed (their cost is part of a round); then a draft
    step's tokens become the recorded drafts of the row's current round, and a verification's
    choices the recorded caption's tokens at those positions (positions past its end keep the
    model's choice: they lie after the recorded end of sentence, so no round gains them).
    """

    def __init__(self, generator, encoder_out, session, max_len: int, bos: int, recorded: List[RecordedSample]):
        super().__init__(generator, encoder_out, session, len(recorded), max_len, bos)
        device, width, draft = self.tokens.device, self.tokens.size(1), generator.draft_tokens
        rounds = max(len(r.drafts) for r in recorded) + 1  # the last round of all: none recorded
        self.forced_drafts = torch.full((len(recorded), rounds, draft), -1, dtype=torch.long, device=device)
        self.forced_choices = torch.full((len(recorded), width), -1, dtype=torch.long, device=device)
        for row, sample in enumerate(recorded):
            if len(sample.caption) > max_len + 1:
                raise ReplayError(f"a recorded caption of {len(sample.caption)} tokens is longer than this "
                                  f"generation's maximum length ({max_len}) allows: other settings than recorded")
            for index, tokens in enumerate(sample.drafts):
                self.forced_drafts[row, index, :len(tokens)] = torch.tensor(tokens)
            self.forced_choices[row, :len(sample.caption)] = torch.tensor(sample.caption)
        self.rounds_done = torch.zeros(len(recorded), dtype=torch.long, device=device)

    def _choose(self, lprobs, steps, step_range, prefix, drafting):
        tokens, scores = super()._choose(lprobs, steps, step_range, prefix, drafting)
        if drafting:
            rows = self.sample
            rounds = self.rounds_done[rows].clamp(max=self.forced_drafts.size(1) - 1)
            forced = self.forced_drafts[rows, rounds, steps - self.accepted]
            if bool(forced.lt(0).any()):
                raise ReplayError("a draft step the recording does not hold (other batches, K or max length "
                                  "than recorded?)")
            return forced, scores
        rows = self.sample.repeat_interleave(lprobs.size(0) // self.sample.numel())
        forced = self.forced_choices[rows, steps]
        tokens = torch.where(forced.ge(0), forced, tokens)
        self.rounds_done[self.sample] += 1
        return tokens, lprobs.gather(1, tokens.unsqueeze(1)).squeeze(1)


class ReplayedVerifiedGenerator(VerifiedEarlyExitGenerator):
    """The lossless mode replaying ``recording`` (its drafter, ``K`` and decisions) on this
    generator's model: each batch must be one the recording holds (same sample ids, in order)."""

    def __init__(self, models, tgt_dict, recording: Recording, **kwargs: Any):
        kwargs.update(policy=recording.policy, draft_tokens=recording.draft_tokens)
        super().__init__(models, tgt_dict, **kwargs)
        self.recording = recording

    def generate(self, models, sample: Dict[str, Any], **kwargs: Any):
        """The lossless mode on a recorded batch, checked against the recording: the same
        captions and the same drafted, accepted and generated counts per sample."""
        ids = tuple(sample["id"].tolist())
        self.policy = self.recording.replay_policy(ids)
        hypotheses = super().generate(models, sample, **kwargs)
        if ([h[0]["tokens"].tolist() for h in hypotheses] != self.recording.captions(ids)
                or [asdict(s) for s in self.last_verification] != self.recording.stats(ids)):
            raise ReplayError(f"the batch of samples {list(ids)} did not replay as recorded (other generation "
                              "settings than the recording's?)")
        return hypotheses

    def _rounds(self, sample, encoder_out, session, max_len, bos):
        recorded = [self.recording.sample(i) for i in sample["id"].tolist()]
        return ReplayedRounds(self, encoder_out, session, max_len, bos, recorded)


def caption_prefixes(recording: Recording, batch_list: Sequence[Dict[str, Any]], pad: int) -> List[Tensor]:
    """Per batch, the recorded captions ``[B, L]`` (end of sentence included, padded with ``pad``):
    fairseq's ``prefix_tokens``, which make greedy search choose them one step after the other."""
    prefixes = []
    for sample in batch_list:
        captions = recording.captions(sample["id"].tolist())
        prefix = torch.full((len(captions), max(map(len, captions))), pad, dtype=torch.long)
        for row, caption in enumerate(captions):
            prefix[row, :len(caption)] = torch.tensor(caption)
        prefixes.append(prefix.to(sample["net_input"]["src_tokens"].device))
    return prefixes
