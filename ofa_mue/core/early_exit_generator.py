"""fairseq's beam search with MuE exits: :class:`EarlyExitSequenceGenerator`.

Each generation runs with a fresh :class:`~ofa_mue.core.early_exit.ExitSession` from the exit
policy (:mod:`ofa_mue.core.exit_policy`): encoder streams stop per sample, and every hypothesis of the beam decides per
token for itself (each is a row of the decoder's batch). After :meth:`generate`,
:attr:`EarlyExitSequenceGenerator.last_example_layers` holds the layers each input sample
used (decoder tokens of all its beams and steps), and
:attr:`EarlyExitSequenceGenerator.last_session` the exit session it ran with.

Generation starts from ``<s>``, as OFA's decoder inputs do in training (fairseq's generator
would start from ``</s>``). It also mends fairseq's CPU fallback of ``--no-repeat-ngram-size`` (used whenever fairseq's
CUDA extension is absent), which compares the end of the whole, padded token buffer instead
of the tokens generated so far and so blocks nothing (fairseq issue #4709). ``--diverse-beam-groups``
searches as OFA's fairseq does (:class:`HammingDiverseBeamSearch`), not as fairseq 0.12 does.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
from fairseq import search
from fairseq.ngram_repeat_block import NGramRepeatBlock
from fairseq.sequence_generator import SequenceGenerator
from torch import Tensor

from ..errors import ConfigError
from .early_exit import ExitSession
from .exit_policy import ExitPolicy, MuEThresholds, vocabulary_projection
from .time_reduction import ExampleLayers


class EarlyExitSequenceGenerator(SequenceGenerator):
    """:class:`fairseq.sequence_generator.SequenceGenerator` whose model passes exit early."""

    def __init__(self, models, tgt_dict, policy: ExitPolicy = MuEThresholds(), **kwargs: Any):
        super().__init__(models, tgt_dict, **kwargs)
        blocker = self.repeat_ngram_blocker
        if blocker is not None and not blocker.use_extension:
            self.repeat_ngram_blocker = GeneratedPrefixNGramBlock(blocker.no_repeat_ngram_size)
        if type(self.search) is search.DiverseBeamSearch:  # fairseq keeps the strength negated
            self.search = HammingDiverseBeamSearch(tgt_dict, self.search.num_groups, -self.search.diversity_strength)
        if self.model.models_size != 1 and policy.exiting_parts:
            raise ConfigError(f"exits ({', '.join(policy.exiting_parts)}) run on one model, not an ensemble: its "
                              f"models would share one exit session, which keeps one model's encoder depths and "
                              f"judges every model with the first one's head; give one checkpoint in --path, or no "
                              f"exit options")
        shapes = {_layer_shape(model) for model in self.model.models}
        if len(shapes) > 1:
            raise ConfigError(f"the models of an ensemble differ in shape ({', '.join(sorted(map(str, shapes)))}: "
                              f"encoder layers, decoder layers, width, feed-forward width, modality-decomposed "
                              f"encoder): the layers and FLOPs reported are counted for models of one shape; give "
                              f"checkpoints of one architecture")
        self.policy = policy
        self.last_example_layers: List[ExampleLayers] = []
        self.last_session: Optional[ExitSession] = None

    @torch.no_grad()
    def generate(self, models, sample: Dict[str, Any], **kwargs: Any):
        """Beam search as fairseq does it, with this generator's exits; records the layers used."""
        kwargs.setdefault("bos_token", self.tgt_dict.bos())  # OFA's decoder input starts with <s>, not </s>
        horizon = self.max_len_b if self.max_len_b > 0 else self.max_len
        session = self.policy.session(horizon, vocabulary_projection(self.model.models[0].decoder.hidden_to_logits))
        # Without src_lengths fairseq counts the source as OFA's generator does (tokens other than
        # eos and pad), which --match-source-len uses; the encoder reads only src_tokens.
        net_input = {k: v for k, v in sample["net_input"].items() if k != "src_lengths"}
        sample = {**sample, "net_input": {**net_input, "exit_session": session}}
        hypotheses = super().generate(models, sample, **kwargs)
        self.last_example_layers = session.example_layers()
        self.last_session = session
        return hypotheses


def _layer_shape(model) -> Tuple[int, int, int, int, bool]:
    """What the layer and FLOPs counts of one model depend on: encoder and decoder depths, widths,
    and whether its encoder is modality-decomposed."""
    return (model.encoder.num_layers, model.decoder.num_layers, model.encoder.embed_tokens.embedding_dim,
            model.encoder.layers[0].fc1.out_features, bool(model.encoder.decompose_modalities))


class HammingDiverseBeamSearch(search.DiverseBeamSearch):
    """Diverse beam search with the Hamming diversity penalty, as OFA's fairseq searches.

    At each step the beams split into ``num_groups`` groups; every group proposes twice its
    beams, and a token loses ``diversity_strength`` for each candidate of an earlier group that
    proposed it at this step. fairseq 0.12's search instead penalises the overlap accumulated over
    the steps, proposes one candidate per beam, and looks its overlap up by sample id, which fails
    once a batch's ids reach beyond its size (every batch of an evaluation but the first).
    """

    def __init__(self, tgt_dict, num_groups: int, diversity_strength: float):
        super().__init__(tgt_dict, num_groups, diversity_strength, candidate_multiple=2)  # step: its own

    def step(self, step: int, lprobs: Tensor, scores: Optional[Tensor], prev_output_tokens: Optional[Tensor] = None,
             original_batch_idxs: Optional[Tensor] = None):
        """Candidates ``[B, 2 * beam]`` (scores, tokens, beams), the groups' interleaved."""
        bsz, beam_size, _ = lprobs.size()
        if beam_size % self.num_groups != 0:
            raise ValueError("DiverseBeamSearch requires --beam to be divisible by the number of groups")
        proposed = torch.zeros_like(lprobs[:, 0, :])  # per token: candidates of the groups before
        groups = []
        for group in range(self.num_groups):
            group_lprobs = lprobs[:, group::self.num_groups, :]
            if group > 0:
                group_lprobs = torch.add(group_lprobs, proposed.unsqueeze(1), alpha=self.diversity_strength)
            group_scores = scores[:, group::self.num_groups, :] if step > 0 else None
            cand_scores, cand_tokens, cand_beams = self.beam.step(step, group_lprobs.contiguous(), group_scores,
                                                                  candidate_multiple=self.candidate_multiple)
            groups.append((cand_scores, cand_tokens, cand_beams * self.num_groups + group))
            proposed.scatter_add_(1, cand_tokens, torch.ones_like(cand_scores))
        return tuple(torch.stack(parts, dim=2).view(bsz, -1) for parts in zip(*groups))


class GeneratedPrefixNGramBlock(NGramRepeatBlock):
    """fairseq's n-gram blocking on the tokens generated up to ``step`` only, as tensor
    operations (fairseq's CPU fallback loops over hypotheses in Python and indexes each
    hypothesis's log-probabilities separately, at every step)."""

    def __init__(self, no_repeat_ngram_size: int):
        super().__init__(no_repeat_ngram_size, use_extension=False)

    def forward(self, tokens: Tensor, lprobs: Tensor, bsz: int, beam_size: int, step: int) -> Tensor:
        """Set ``lprobs [R, V]`` to -inf for every token that would complete an n-gram that
        hypothesis ``r`` already generated (``tokens [R, >step]``, positions ``0..step``)."""
        return block_repeated_ngrams(tokens[:, : step + 1], lprobs, self.no_repeat_ngram_size)


def block_repeated_ngrams(prefix: Tensor, lprobs: Tensor, size: int, lengths: Optional[Tensor] = None) -> Tensor:
    """Set ``lprobs [R, V]`` to -inf for every token that would complete a ``size``-gram that row
    ``r``'s ``prefix [R, L]`` (``<s>`` and the tokens generated so far) already holds.

    ``lengths [R]``: the positions of ``prefix`` that each row holds (rows of different
    lengths); every row holds all ``L`` when it is None.
    """
    if lengths is None:
        windows_count = prefix.size(1) + 1 - size
        if windows_count <= 0:
            return lprobs
        windows = prefix.unfold(1, size, 1)  # [R, windows_count, size]: every n-gram so far
        last = prefix[:, windows_count:]  # the n-1 newest tokens, the start of the next n-gram
        rows, starts = (windows[:, :, :-1] == last.unsqueeze(1)).all(-1).nonzero(as_tuple=True)
    else:
        if prefix.size(1) < size:
            return lprobs
        windows = prefix.unfold(1, size, 1)
        windows_count = (lengths + 1 - size).unsqueeze(1)  # windows that lie inside each row's prefix
        newest = windows_count.clamp(min=0) + torch.arange(size - 1, device=prefix.device)
        last = prefix.gather(1, newest.clamp(max=prefix.size(1) - 1))
        inside = torch.arange(windows.size(1), device=prefix.device) < windows_count
        rows, starts = ((windows[:, :, :-1] == last.unsqueeze(1)).all(-1) & inside).nonzero(as_tuple=True)
    lprobs[rows, windows[rows, starts, -1]] = -math.inf
    return lprobs
