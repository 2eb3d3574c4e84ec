"""Lossless early exit (``--exit-verify``): greedy decoding whose output is the full model's.

Self-speculative decoding with the model's own decoder exits. Each round, for every
unfinished row of the batch:

1. **draft**: the model with its decoder exit rule generates ``K`` tokens greedily, one
   incremental step each (cheap: most tokens stop after a few layers);
2. **verify**: the full model (no exits) runs the row's last accepted token and its ``K``
   drafts in one teacher-forced pass, which gives the full model's own choice at each of
   the ``K + 1`` positions;
3. **accept**: the longest prefix of drafts that equals the full model's choices, plus the
   full model's next token after it, so each round gains between 1 and ``K + 1`` tokens,
   every one of them the full model's.

The key/value cache: the drafts' entries (computed with exits) are dropped before the
verification pass, which writes the full model's entries of all ``K + 1`` positions; after
it, the entries of rejected positions are dropped too
(:meth:`~ofa_mue.models.decoder.OFADecoder.truncate_incremental_state`). So every layer's
cache holds exactly the full model's states of the accepted tokens. Rows accept different
numbers of tokens: from then on the cache holds a different number of positions per row.

Each position's choice is fairseq's beam search with beam 1 (what ``--beam 1`` gives without
``--exit-verify``): ``<pad>`` never, ``--unkpen``, ``--min-len`` and the maximum length
(``--max-len-a``/``--max-len-b``), ``--no-repeat-ngram-size``, ``--temperature``; hypotheses carry
fairseq's ``tokens``, ``score`` (length-normalised as ``--lenpen``/``--unnormalized`` say) and
``positional_scores``. The full model's log-probabilities come from one multi-token pass
rather than one pass per token, so they equal fairseq's up to float rounding.

Beam search is not verified: it keeps, at each step, the ``beam`` best continuations of all
hypotheses by the full model's scores; a draft is checked against that only if it predicts
the whole next beam (which continuations of which hypotheses survive), i.e. a tree of
``beam x K`` drafted hypotheses verified together. One greedy draft per hypothesis matches
the next beam only when every survivor is its parent's best token.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch
from fairseq import search
from torch import Tensor

from ..errors import ConfigError
from .early_exit import ExitSession
from .early_exit_generator import EarlyExitSequenceGenerator, block_repeated_ngrams
from .exit_policy import ExitPolicy, MuEThresholds, vocabulary_projection

DEFAULT_DRAFT_TOKENS = 4
"""Tokens drafted per verification round (``--exit-verify-draft``)."""


@dataclass
class VerificationStats:
    """Drafting and verification counts of one input sample."""

    verifications: int = 0  # verification passes the sample took part in
    drafted: int = 0  # tokens drafted (up to the first drafted end of sentence of each round)
    accepted: int = 0  # drafted tokens the full model agreed with
    generated: int = 0  # tokens of the output, end of sentence included


def verification_summary(stats: Sequence[Dict[str, int]]) -> Dict[str, float]:
    """Totals of per-sample :class:`VerificationStats` (as dicts), with the acceptance rate
    (accepted / drafted) and the mean accepted length (accepted drafts per verification)."""
    totals = {name: sum(s[name] for s in stats) for name in asdict(VerificationStats())}
    verifications = totals["verifications"]
    return {
        **totals,
        "acceptance_rate": totals["accepted"] / totals["drafted"] if totals["drafted"] else 0.0,
        "mean_accepted_length": totals["accepted"] / verifications if verifications else 0.0,
        "tokens_per_verification": totals["generated"] / verifications if verifications else 0.0,
    }


class VerifiedEarlyExitGenerator(EarlyExitSequenceGenerator):
    """:class:`EarlyExitSequenceGenerator` whose exits only draft: greedy search, the full model's output.

    After :meth:`generate`, :attr:`last_verification` holds each input sample's
    :class:`VerificationStats`, and :attr:`last_example_layers` the layers its decoder tokens
    ran, drafts and verification passes alike.
    """

    def __init__(self, models, tgt_dict, policy: ExitPolicy = MuEThresholds(),
                 draft_tokens: int = DEFAULT_DRAFT_TOKENS, **kwargs: Any):
        if len(models) != 1:
            raise ConfigError("--exit-verify verifies one model, not an ensemble (one checkpoint in --path)")
        super().__init__(models, tgt_dict, policy=policy, **kwargs)
        if not isinstance(draft_tokens, int) or draft_tokens < 1:
            raise ConfigError(f"--exit-verify-draft must be a whole number >= 1, got {draft_tokens!r}")
        if self.beam_size != 1:
            raise ConfigError(f"--exit-verify decodes greedily: pass --beam 1 (got --beam {self.beam_size}; "
                              "beam search is not verified, see the README's 'Lossless mode')")
        if type(self.search) is not search.BeamSearch or self.match_source_len:
            raise ConfigError(f"--exit-verify verifies greedy search only, not {type(self.search).__name__} "
                              "(--sampling, --diverse-*, --constraints, --match-source-len)")
        if self.lm_model is not None:
            raise ConfigError("--exit-verify cannot fuse a language model (--lm-path)")
        self.draft_tokens = draft_tokens
        self.last_verification: List[VerificationStats] = []
        model = self.model.models[0]
        self._check_session(self.policy.session(1, vocabulary_projection(model.decoder.hidden_to_logits)))

    @staticmethod
    def _check_session(session: ExitSession) -> None:
        """Refuse sessions that cannot draft: encoder exits, or no decoder exit."""
        if session.encoder_rules:
            raise ConfigError("--exit-verify needs the full encoder (the full model checks every draft against "
                              f"its own encoder output): encoder exits ({', '.join(sorted(session.encoder_rules))}) "
                              "cannot be used with it; set their thresholds above 1")
        if session.decoder_rule is None:
            raise ConfigError("--exit-verify drafts with decoder exits, but none can fire: set "
                              "--decoder-exit-threshold (or --exit-policy entropy/patience/static with decoder layers)")

    def _generate(self, sample: Dict[str, Any], prefix_tokens: Optional[Tensor] = None,
                  constraints: Optional[Tensor] = None, bos_token: Optional[int] = None):
        """Draft, verify and accept until every sample has ended; fairseq's output format
        (one hypothesis per sample)."""
        if prefix_tokens is not None or constraints is not None:
            raise ConfigError("--exit-verify cannot force prefix tokens (--prefix-size) or constraints")
        net_input = sample["net_input"]
        session = net_input["exit_session"]
        self._check_session(session)
        src_tokens = net_input["src_tokens"]
        batch, src_len = src_tokens.shape[:2]
        max_len = min(int(self.max_len_a * src_len + self.max_len_b), self.max_len - 1)
        if self.min_len > max_len:
            raise ConfigError(f"--min-len {self.min_len} is above the maximum length {max_len}")
        rounds = self._rounds(sample, self.model.forward_encoder(net_input)[0], session, max_len,
                              self.eos if bos_token is None else bos_token)
        while rounds.active():
            rounds.step()
        self.last_verification = rounds.stats
        return rounds.finalized

    def _rounds(self, sample: Dict[str, Any], encoder_out: Dict[str, List], session: ExitSession, max_len: int,
                bos: int) -> "VerificationRounds":
        """The verified decoding state of one batch (a benchmark's subclass replays recorded choices)."""
        batch = sample["net_input"]["src_tokens"].size(0)
        return VerificationRounds(self, encoder_out, session, batch, max_len, bos)

    def choose(self, lprobs: Tensor, steps: Tensor, step_range: tuple[int, int], prefix: Tensor,
               max_len: int) -> tuple[Tensor, Tensor]:
        """The greedy choice of fairseq's beam search with beam 1, for rows ``lprobs [N, V]`` at
        steps ``steps [N]`` (tokens generated before; between ``step_range``'s two bounds) after
        ``prefix [N, >steps]`` (``<s>`` and those tokens). Returns the tokens and their
        log-probabilities ``[N]``. Raw logits give the same tokens (the constraints below only
        remove tokens or shift one, and the softmax keeps the order)."""
        lprobs.nan_to_num_(nan=-math.inf, posinf=math.inf, neginf=-math.inf)
        lprobs[:, self.pad] = -math.inf
        if self.unk_penalty:
            lprobs[:, self.unk] -= self.unk_penalty
        low, high = step_range
        if high >= max_len:  # only the end of sentence is left
            not_eos = lprobs.new_ones(lprobs.size(1), dtype=torch.bool)
            not_eos[self.eos] = False
            lprobs.masked_fill_((steps >= max_len).unsqueeze(1) & not_eos, -math.inf)
        if low < self.min_len:
            lprobs[:, self.eos].masked_fill_(steps < self.min_len, -math.inf)
        if self.token_indices_to_suppress is not None:
            lprobs[:, self.token_indices_to_suppress] = -math.inf
        if self.repeat_ngram_blocker is not None:
            size = self.repeat_ngram_blocker.no_repeat_ngram_size
            if low == high:  # one prefix length
                lprobs = block_repeated_ngrams(prefix[:, : low + 1], lprobs, size)
            else:
                lprobs = block_repeated_ngrams(prefix, lprobs, size, steps + 1)
        scores, tokens = lprobs.max(-1)
        return tokens, scores


def _leading(mask: Tensor) -> Tensor:
    """How many leading entries of each row of ``mask [R, L]`` are True."""
    return mask.long().cumprod(1).sum(1)


@contextmanager
def _decoder_exits_off(session: ExitSession) -> Iterator[None]:
    """Decoder calls inside run every layer (and are still recorded by the session)."""
    rule, session.decoder_rule = session.decoder_rule, None
    try:
        yield
    finally:
        session.decoder_rule = rule


class VerificationRounds:
    """The state of one batch's verified decoding: its unfinished rows and what they accepted.

    Row ``r`` has accepted ``accepted[r]`` tokens after ``<s>`` (``tokens[r, :accepted[r] + 1]``);
    the decoder's cache holds the full model's entries of its first ``accepted[r]`` positions
    (all but the newest token, which the next round's first draft step reads).
    """

    def __init__(self, generator: VerifiedEarlyExitGenerator, encoder_out: Dict[str, List], session: ExitSession,
                 batch: int, max_len: int, bos: int):
        self.generator, self.encoder_out, self.session, self.max_len = generator, encoder_out, session, max_len
        self.model = generator.model.models[0]
        self.decoder = self.model.decoder
        device = encoder_out["encoder_out"][0].device
        width = max_len + generator.draft_tokens + 2  # room for drafts past the last step
        self.tokens = torch.full((batch, width), generator.pad, dtype=torch.long, device=device)
        self.tokens[:, 0] = bos
        self.scores = torch.zeros(batch, width, device=device)  # cumulative, as fairseq's beam search keeps them
        self.accepted = torch.zeros(batch, dtype=torch.long, device=device)
        self.sample = torch.arange(batch, device=device)  # the input sample of each row
        self.state: Dict[str, Dict[str, Any]] = {}
        self.finalized: List[List[Dict[str, Tensor]]] = [[] for _ in range(batch)]
        self.stats = [VerificationStats() for _ in range(batch)]

    def active(self) -> bool:
        """Whether some row is still unfinished."""
        return self.sample.numel() > 0

    def _decode(self, new_tokens: Tensor, log_probs: bool = True) -> Tensor:
        """Log-probabilities ``[R, T, V]`` of the decoder on ``new_tokens [R, T]`` after the cache
        (its logits without ``log_probs``: enough to draft)."""
        width = self.decoder.cached_positions(self.state)
        prev = torch.cat([self.tokens[:, :width], new_tokens], dim=1)
        logits, extra = self.decoder(prev, encoder_out=self.encoder_out, incremental_state=self.state)
        if not log_probs:
            return logits
        if self.generator.temperature != 1.0:
            logits = logits.div_(self.generator.temperature)
        return self.model.get_normalized_probs((logits, extra), log_probs=True)

    def _choose(self, lprobs: Tensor, steps: Tensor, step_range: tuple[int, int], prefix: Tensor,
                drafting: bool) -> tuple[Tensor, Tensor]:
        """The generator's greedy choice (:meth:`VerifiedEarlyExitGenerator.choose`): in a draft step
        (``drafting``) one row of ``lprobs`` per row of the batch, in a verification each row's
        ``K + 1`` positions in turn. A benchmark's subclass replays recorded choices here."""
        return self.generator.choose(lprobs, steps, step_range, prefix, self.max_len)

    def _draft(self, low: int, high: int) -> int:
        """Draft up to ``K`` tokens per row with exits (into ``tokens`` after the accepted ones,
        between ``low`` and ``high`` of them); returns how many were drafted per row."""
        steps = self.accepted
        ended = torch.zeros_like(steps, dtype=torch.bool)
        drafts = min(self.generator.draft_tokens, self.max_len - low)
        for offset in range(drafts):
            logits = self._decode(self.tokens.gather(1, (steps + offset).unsqueeze(1)), log_probs=False)
            choice, _ = self._choose(logits[:, -1], steps + offset, (low + offset, high + offset), self.tokens,
                                     drafting=True)
            self.tokens.scatter_(1, (steps + offset + 1).unsqueeze(1), choice.unsqueeze(1))
            ended |= choice.eq(self.generator.eos)
            if bool(ended.all()):
                return offset + 1
        return drafts

    def step(self) -> None:
        """One round: draft, verify, accept; finished rows leave the batch."""
        low, high = int(self.accepted.min()), int(self.accepted.max())
        drafts = self._draft(low, high)
        eos = self.generator.eos
        positions = self.accepted.unsqueeze(1) + torch.arange(drafts + 1, device=self.accepted.device)
        drafted = self.tokens.gather(1, positions[:, 1:])
        drafted_eos = _leading(drafted.ne(eos))  # offset of the first drafted end of sentence
        self.decoder.truncate_incremental_state(self.state, self.accepted)  # drop the drafts' entries
        with _decoder_exits_off(self.session):
            lprobs = self._decode(self.tokens.gather(1, positions))
        rows = positions.size(0)
        choice, choice_scores = self._choose(lprobs.flatten(0, 1), positions.flatten(), (low, high + drafts),
                                             self.tokens.repeat_interleave(drafts + 1, dim=0), drafting=False)
        choice, choice_scores = choice.view(rows, -1), choice_scores.view(rows, -1)
        agreed = _leading(choice[:, :drafts].eq(drafted))
        first_eos = _leading(choice.ne(eos))
        gained = torch.minimum(agreed, first_eos) + 1
        self._record_scores(choice_scores, gained)
        self.tokens.scatter_(1, positions + 1, choice)  # beyond the gained ones: ignored, overwritten later
        self._count(drafted=(drafted_eos + 1).clamp(max=drafts), accepted=torch.minimum(agreed, gained),
                    gained=gained)
        self.accepted = self.accepted + gained
        self.decoder.truncate_incremental_state(self.state, self.accepted)  # drop the rejected positions'
        self._finish(first_eos < gained)

    def _record_scores(self, choice_scores: Tensor, gained: Tensor) -> None:
        """Cumulative scores of the gained positions, summed one position after the other in
        float32 as fairseq's beam search does."""
        before = self.scores.gather(1, (self.accepted - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        running = before.masked_fill(self.accepted.eq(0), 0.0)  # nothing generated before
        for offset in range(choice_scores.size(1)):
            running = running + choice_scores[:, offset]
            self.scores.scatter_(1, (self.accepted + offset).unsqueeze(1), running.unsqueeze(1))

    def _count(self, drafted: Tensor, accepted: Tensor, gained: Tensor) -> None:
        """Add one verification's counts ``[R]`` to the samples of the rows."""
        for sample, d, a, g in zip(self.sample.tolist(), drafted.tolist(), accepted.tolist(), gained.tolist()):
            stats = self.stats[sample]
            stats.verifications += 1
            stats.drafted += d
            stats.accepted += a
            stats.generated += g

    def _finish(self, done: Tensor) -> None:
        """Finalize the rows in ``done`` as fairseq does and remove them from the batch."""
        if not bool(done.any()):
            return
        generator = self.generator
        for row in done.nonzero().squeeze(1).tolist():
            length = int(self.accepted[row])  # generated tokens, end of sentence included
            cumulative = self.scores[row, :length]
            positional = cumulative.clone()
            positional[1:] = cumulative[1:] - cumulative[:-1]
            score = cumulative[length - 1].clone()
            if generator.normalize_scores:
                score /= length ** generator.len_penalty
            self.finalized[int(self.sample[row])].append({
                "tokens": self.tokens[row, 1:length + 1].clone(), "score": score, "attention": torch.empty(0),
                "alignment": torch.empty(0), "positional_scores": positional,
            })
        keep = (~done).nonzero().squeeze(1)
        self.decoder.reorder_incremental_state(self.state, keep)
        self.encoder_out = self.model.encoder.reorder_encoder_out(self.encoder_out, keep)
        self.tokens, self.scores = self.tokens.index_select(0, keep), self.scores.index_select(0, keep)
        self.accepted, self.sample = self.accepted.index_select(0, keep), self.sample.index_select(0, keep)
