"""The exit policies the speed benchmark times beside MuE's own.

- :class:`NeverFiring`: MuE's rules for the same streams and decoder, with the same decay,
  and thresholds no similarity reaches: the exit tests' cost, nothing else.
- :class:`RecordingPolicy`: a policy whose sessions are kept, so that the exits it made
  (each sample's stream depths, each decoder call's per-token layers) can be replayed.
- :class:`ReplayPolicy`: those exits imposed on another model (a random-init model of
  OFA's real size has no meaningful similarities): its rules run MuE's similarity test, as
  MuE would (same cost, thresholds that never fire), then stop streams and tokens where the
  recording says. Batches replay in the recorded order; the decoder calls of a batch too.
  A call with other rows than recorded (a generation that keeps more hypotheses) maps row
  ``r`` to recorded row ``r mod R`` (and positions likewise).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from torch import Tensor

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.exit_granularity import TOKEN_EXITS, ExitGranularity
from ofa_mue.core.exit_policy import MuEThresholds, StreamSimilarityExit, TokenSimilarityExit


@dataclass(frozen=True)
class NeverFiring:
    """``mue``'s exit tests, unable to fire: stream thresholds 1 (a cosine similarity never
    exceeds it) and a decoder ``theta`` of ``1 / beta``, whose decayed threshold
    ``1 + (1 - beta) exp(-tau t / N)`` stays at 1 or above."""

    mue: MuEThresholds

    def session(self, horizon: int, project=None) -> ExitSession:
        real = self.mue.session(horizon, project)
        encoder = {name: StreamSimilarityExit(1.0) for name in real.encoder_rules}
        decoder = None
        if real.decoder_rule is not None:
            beta = self.mue.decoder_beta
            if beta == 0.0:
                raise ValueError("a decoder rule with beta 0 has no threshold that never fires")
            decoder = TokenSimilarityExit(1.0 / beta, beta, self.mue.decoder_tau, horizon)
        return ExitSession(encoder, decoder, real.decoder_granularity)


@dataclass
class BatchExits:
    """The exits of one batch: layers ``[B]`` per encoder stream with a rule, each decoder call's
    exit layers ``[R, T]`` (empty without a decoder rule), and the number of decoder calls."""

    streams: Dict[str, Tensor]
    calls: List[Tensor]
    steps: int


@dataclass
class RecordingPolicy:
    """``policy``, keeping every session it makes (:meth:`recorded` reads them)."""

    policy: object
    sessions: List[ExitSession] = field(default_factory=list)

    def session(self, horizon: int, project=None) -> ExitSession:
        session = self.policy.session(horizon, project)
        self.sessions.append(session)
        return session

    def recorded(self) -> List[BatchExits]:
        """One :class:`BatchExits` per session, in order."""
        out = []
        for session in self.sessions:
            streams = {name: layers.cpu() for name, layers in session.recorded_stream_layers().items()
                       if name in session.encoder_rules}
            calls = [call.layers.cpu() for call in session.recorded_decoder_calls()]
            out.append(BatchExits(streams, calls if session.decoder_rule else [], len(calls)))
        return out


class ReplayedStreamExit:
    """Encoder rule: sample ``i`` of the batch stops after ``layers[i]`` layers; ``test`` (MuE's
    rule, never firing) runs first for its cost. Follows the running samples as
    :func:`~ofa_mue.models.encoder.run_encoder_layers` removes them."""

    def __init__(self, layers: Tensor, test: Optional[StreamSimilarityExit]):
        self.layers, self.test = layers, test
        self.running = torch.arange(len(layers))

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
        if layer == 0:
            if x_in.size(0) != len(self.layers):
                raise ValueError(f"replaying a batch of {len(self.layers)} samples on one of {x_in.size(0)}")
            self.layers = self.layers.to(x_in.device)
            self.running = torch.arange(len(self.layers), device=x_in.device)
        if self.test is not None:
            self.test.should_exit(layer, x_in, x_out, padding_mask)
        stop = self.layers[self.running] <= layer + 1
        self.running = self.running[~stop]
        return stop


class ReplayedTokenExit:
    """Decoder rule: the ``k``-th decoder call replays recorded call ``k`` (the last one beyond
    the recording); ``test`` (MuE's rule, never firing) runs first for its cost."""

    def __init__(self, calls: List[Tensor], test: Optional[TokenSimilarityExit]):
        self.calls, self.test = calls, test
        self.call = -1
        self.flat_layers: Optional[Tensor] = None

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, positions: Tensor, tokens: Tensor) -> Tensor:
        if layer == 0:  # a new decoder call: its full [B, T] grid of token ids
            self.call += 1
            recorded = self.calls[min(self.call, len(self.calls) - 1)]
            rows, length = tokens.shape
            grid = recorded[torch.arange(rows) % recorded.size(0)][:, torch.arange(length) % recorded.size(1)]
            self.flat_layers = grid.flatten().to(tokens.device)
        if self.test is not None:
            self.test.should_exit(layer, x_in, x_out, positions, tokens)
        return self.flat_layers[tokens] <= layer + 1


@dataclass
class ReplayPolicy:
    """Sessions replaying ``batches`` in order (cycling), with ``mue``'s tests (never firing) for
    their cost, at ``granularity``."""

    batches: List[BatchExits]
    mue: MuEThresholds
    granularity: ExitGranularity = TOKEN_EXITS
    served: int = 0

    def session(self, horizon: int, project=None) -> ExitSession:
        exits = self.batches[self.served % len(self.batches)]
        self.served += 1
        tests = NeverFiring(self.mue).session(horizon, project)
        encoder = {name: ReplayedStreamExit(layers, tests.encoder_rules.get(name))
                   for name, layers in exits.streams.items()}
        decoder = ReplayedTokenExit(exits.calls, tests.decoder_rule) if exits.calls else None
        return ExitSession(encoder, decoder, self.granularity)
