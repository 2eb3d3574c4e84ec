"""Exit policies: MuE's similarity exits, and the baselines the paper compares with.

- ``mue`` (:class:`MuEThresholds`): similarity exits in encoder and decoder (below);
- ``entropy`` (:class:`EntropyPolicy`, DeeBERT): a decoder token stops once the entropy of
  its intermediate prediction is below a threshold;
- ``patience`` (:class:`PatiencePolicy`, PABEE): a decoder token stops once its
  intermediate prediction has stayed the same for ``k`` consecutive layers;
- ``static`` (:class:`StaticDepths`): fixed image, text and decoder depths;
- no exits: the ``mue`` policy with every threshold above 1 (the default).

The two prediction-based baselines decide in the decoder only (an encoder layer has no
prediction to be confident about); for a comparison on equal footing they can also take
MuE's encoder exits (``image``/``text`` similarity thresholds, the same rule as MuE's).
Every policy says which parts of the model can exit (``exiting_parts``), so that results
can say what was compared.

Every policy builds an :class:`~ofa_mue.core.early_exit.ExitSession` for a batch with
``session(horizon, project)``; ``project`` maps a decoder layer's hidden states to the
logits of the prediction the task makes there (:data:`Projection`), which only the
prediction-based policies call: in generation the whole vocabulary
(:func:`vocabulary_projection`), in SNLI-VE's answer positions only the tokens its answer
trie allows, the distribution it scores the answers with (a classifier's confidence, as
DeeBERT and PABEE take it). The policies with per-token decoder decisions (``mue``,
``entropy``, ``patience``) take a ``granularity``: how the tokens of one decoder call stop
(:mod:`ofa_mue.core.exit_granularity`; per token by default).

MuE: stop once a layer barely changes its input.

After encoder layer ``i`` a stream (image or text) of one sample stops when the cosine
similarity between the layer's output and its input (for layer 1, the embeddings) exceeds
the stream's threshold; the similarity is taken over the sample's whole stream (its
non-padding token states flattened into one vector), so the decision is per sample and
per stream, never one for a whole batch.

After decoder layer ``i`` each token stops when the cosine similarity of its own hidden
state before and after the layer exceeds the decaying threshold

    Theta(t) = beta * theta + (1 - beta) * exp(-tau * t / N)

of its position ``t``, which starts near 1 and so protects the first tokens of a caption;
``beta = 1`` gives the constant threshold ``theta``. ``N`` is the horizon: in generation the
longest generation (``--max-len-b``), in SNLI-VE's teacher-forced scoring each example's own
decoder length (its prompt and longest answer), so that an example's thresholds never
depend on the batch it is in.

A threshold above 1 never fires (a cosine similarity is at most 1): that disables the
exit. Thresholds must be finite and at least -1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .early_exit import ExitSession, TokenExitRule
from .exit_granularity import TOKEN_EXITS, ExitGranularity
from ..errors import ConfigError

Projection = Callable[[Tensor, Tensor], Tensor]
"""``(hidden, tokens)``: hidden states ``[..., D]`` of a decoder layer, and each state's token
(its flat index in the decoder call's ``[B, T]`` grid, as rules get it) -> vocabulary logits
``[..., V]``, ``-inf`` at the tokens the task never predicts there."""


def vocabulary_projection(hidden_to_logits: Callable[[Tensor], Tensor]) -> Projection:
    """The :data:`Projection` of a decoder whose every position predicts over the whole vocabulary."""
    def project(hidden: Tensor, tokens: Tensor) -> Tensor:
        return hidden_to_logits(hidden)
    return project

NEVER = 2.0
"""A threshold no cosine similarity reaches: exits off."""

DEFAULT_ENTROPY_EXIT_THRESHOLD = 0.5
"""``--entropy-exit-threshold`` when not given (nats)."""

DEFAULT_PATIENCE_EXIT_LAYERS = 2
"""``--patience-exit-layers`` when not given."""


def check_threshold(name: str, value: float) -> float:
    """``value`` as a float, or a :class:`ConfigError` naming the option when it is out of range."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < -1.0:
        raise ConfigError(
            f"{name} must be a finite number >= -1 (cosine similarity threshold; above 1 disables the exit), "
            f"got {value}"
        )
    return value


def _check_unit_interval(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ConfigError(f"{name} must be in [0, 1], got {value}")
    return value


def similarity_exceeds(x_in: Tensor, x_out: Tensor, threshold: Union[float, Tensor],
                       memo: Optional["NormMemo"] = None, sources: Optional[tuple[Tensor, Tensor]] = None) -> Tensor:
    """Whether the cosine similarity of ``x_in`` and ``x_out`` along the last dimension exceeds
    ``threshold`` (a number, or a tensor of the leading shape).

    Tested as ``x_in . x_out > threshold * |x_in| * |x_out|``: the same decision as forming
    the similarity (a zero vector never passes), in fewer operations, which is what an exit
    test costs at small batch sizes. With a ``memo`` (:class:`NormMemo`), ``|x_in|`` is not
    computed again when ``x_in`` is the output the memo last saw (``sources``: the layer
    tensors ``x_in`` and ``x_out`` were taken from, when they are views or masked copies).
    """
    x_in, x_out = x_in.float(), x_out.float()
    source_in, source_out = sources if sources is not None else (x_in, x_out)
    if memo is None:
        norms = torch.linalg.vector_norm(x_in, dim=-1) * torch.linalg.vector_norm(x_out, dim=-1)
    else:
        norms = memo.norm_of(source_in, x_in) * memo.remember(source_out, x_out)
    return torch.linalg.vecdot(x_in, x_out) > threshold * norms


class NormMemo:
    """The norm of the last layer output an exit test saw. While nothing has exited, a layer's
    input is the previous layer's output itself, whose norm (computed the same way) is then
    reused: one operation less per test, the same decision to the bit."""

    def __init__(self) -> None:
        self._source: Optional[Tensor] = None
        self._norm: Optional[Tensor] = None

    def norm_of(self, source: Tensor, x: Tensor) -> Tensor:
        """``|x|`` over the last dimension (``x`` taken from ``source``)."""
        if source is self._source:
            return self._norm
        return torch.linalg.vector_norm(x, dim=-1)

    def remember(self, source: Tensor, x: Tensor) -> Tensor:
        """``|x|``, kept for a test whose input is ``source``."""
        self._source, self._norm = source, torch.linalg.vector_norm(x, dim=-1)
        return self._norm


class _TensorConstant:
    """A number as a 0-dim float tensor on the device it is compared on, made once per device:
    a Python number in a tensor operation is wrapped into a tensor on every call, which costs
    as much as the comparison itself at batch 1."""

    def __init__(self, value: float):
        self.value = value
        self._tensor: Optional[Tensor] = None

    def on(self, device: torch.device) -> Tensor:
        if self._tensor is None or self._tensor.device != device:
            self._tensor = torch.tensor(self.value, dtype=torch.float32, device=device)
        return self._tensor


def _mask_padding(x_in: Tensor, x_out: Tensor, padding_mask: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    if padding_mask is None:
        return x_in, x_out
    keep = (~padding_mask).unsqueeze(-1).to(x_in.dtype)
    return x_in * keep, x_out * keep


def stream_similarity(x_in: Tensor, x_out: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
    """Per-sample cosine similarity ``[A]`` of two ``[A, T, D]`` streams over their non-padding tokens."""
    x_in, x_out = _mask_padding(x_in, x_out, padding_mask)
    return F.cosine_similarity(x_in.flatten(1).float(), x_out.flatten(1).float(), dim=-1)


@dataclass(frozen=True)
class StreamSimilarityExit:
    """Encoder rule: a sample's stream stops once its :func:`stream_similarity` exceeds ``threshold``."""

    threshold: float
    _constant: _TensorConstant = field(init=False, repr=False, compare=False)
    _memo: NormMemo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_constant", _TensorConstant(self.threshold))
        object.__setattr__(self, "_memo", NormMemo())

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
        sources = (x_in, x_out)
        x_in, x_out = _mask_padding(x_in, x_out, padding_mask)
        return similarity_exceeds(x_in.flatten(1), x_out.flatten(1), self._constant.on(x_in.device), self._memo,
                                  sources)


@dataclass
class TokenSimilarityExit:
    """Decoder rule: a token stops once ``similarity > Theta(position)``.

    ``horizon`` is ``N``: one number, or one per token of the decoder call (flat, in its
    ``[B, T]`` order) where tokens of one call have different horizons.
    """

    theta: float
    beta: float = 1.0
    tau: float = 0.0
    horizon: Union[int, Tensor] = 16
    _constant: _TensorConstant = field(init=False, repr=False, compare=False)
    _last_threshold: Optional[tuple] = field(default=None, init=False, repr=False, compare=False)
    _memo: NormMemo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._constant = _TensorConstant(self.theta)
        self._memo = NormMemo()

    def threshold(self, positions: Tensor, tokens: Optional[Tensor] = None) -> Tensor:
        """``Theta(t)`` for decoder positions ``t`` (of the call's tokens ``tokens``, which pick
        their horizons when there is one per token)."""
        horizon = self.horizon
        if isinstance(horizon, Tensor):
            horizon = horizon.to(positions.device)[tokens].float()
        decay = torch.exp(-self.tau * positions.float() / horizon)
        return self.beta * self.theta + (1.0 - self.beta) * decay

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, positions: Tensor, tokens: Tensor) -> Tensor:
        """``x_in``/``x_out`` ``[..., D]`` for tokens at decoder ``positions [...]``."""
        if self.beta == 1.0:  # a constant threshold: no decay to compute
            return similarity_exceeds(x_in, x_out, self._constant.on(x_in.device), self._memo)
        # the layers of one decoder call test the same positions: compute their thresholds once
        if self._last_threshold is None or self._last_threshold[0] is not positions:
            self._last_threshold = (positions, self.threshold(positions, tokens))
        return similarity_exceeds(x_in, x_out, self._last_threshold[1], self._memo)


PARTS = ("image", "text", "decoder")
"""The parts of the model that can exit: the two encoder streams and the decoder."""


def encoder_similarity_rules(image: float, text: float) -> Dict[str, StreamSimilarityExit]:
    """MuE's encoder rule for each stream whose threshold can fire (at most 1); none for the others."""
    return {name: StreamSimilarityExit(value) for name, value in (("image", image), ("text", text)) if value <= 1.0}


@dataclass(frozen=True)
class MuEThresholds:
    """The MuE flags: per-stream encoder thresholds and the decoder's decaying threshold."""

    image: float = NEVER
    text: float = NEVER
    decoder: float = NEVER
    decoder_beta: float = 1.0
    decoder_tau: float = 0.0
    granularity: ExitGranularity = TOKEN_EXITS

    def __post_init__(self) -> None:
        check_threshold("--image-exit-threshold", self.image)
        check_threshold("--text-exit-threshold", self.text)
        check_threshold("--decoder-exit-threshold", self.decoder)
        _check_unit_interval("--decoder-exit-beta", self.decoder_beta)
        if not (math.isfinite(self.decoder_tau) and self.decoder_tau >= 0.0):
            raise ConfigError(f"--decoder-exit-tau must be a finite number >= 0, got {self.decoder_tau}")
        if self.decoder_beta < 1.0 and self.decoder_tau == 0.0:
            raise ConfigError(f"--decoder-exit-beta {self.decoder_beta:g} with --decoder-exit-tau 0 (its default) does "
                              f"not decay: the threshold would be the constant beta * theta + (1 - beta); give "
                              f"--decoder-exit-tau (the paper's 1), or that constant as --decoder-exit-threshold")

    @property
    def encoder_exits(self) -> bool:
        """Whether any encoder stream can stop early."""
        return self.image <= 1.0 or self.text <= 1.0

    @property
    def decoder_exits(self) -> bool:
        """Whether decoder tokens can stop early: ``theta`` at most 1 (above 1 disables the exit
        whatever ``beta`` and ``tau``, whose decay would otherwise bring the threshold below 1)."""
        return self.decoder <= 1.0

    @property
    def decoder_decays(self) -> bool:
        """Whether the decoder's threshold decays with the position (``beta`` below 1), so that
        its horizon ``N`` matters."""
        return self.decoder_exits and self.decoder_beta < 1.0

    @property
    def exiting_parts(self) -> Tuple[str, ...]:
        """The parts (of :data:`PARTS`) that can stop early."""
        return (*encoder_similarity_rules(self.image, self.text), *(("decoder",) if self.decoder_exits else ()))

    def session(self, horizon: Union[int, Tensor], project: Optional[Projection] = None) -> ExitSession:
        """An exit session with a rule for each exit that can fire (a threshold that can reach 1
        or less); a disabled exit gets no rule, so it costs nothing and changes nothing.
        ``horizon``: the decay's ``N`` (see :class:`TokenSimilarityExit`)."""
        decoder_rule = None
        if self.decoder_exits:
            decoder_rule = TokenSimilarityExit(self.decoder, self.decoder_beta, self.decoder_tau, horizon)
        return ExitSession(encoder_similarity_rules(self.image, self.text), decoder_rule, self.granularity)


@dataclass(frozen=True)
class FixedDepth:
    """Encoder rule: every sample of the stream stops after ``layers`` layers."""

    layers: int

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
        return torch.full((x_in.size(0),), layer + 1 >= self.layers, dtype=torch.bool, device=x_in.device)


@dataclass(frozen=True)
class FixedTokenDepth:
    """Decoder rule: every token stops after ``layers`` layers."""

    layers: int

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, positions: Tensor, tokens: Tensor) -> Tensor:
        return torch.full(x_in.shape[:-1], layer + 1 >= self.layers, dtype=torch.bool, device=x_in.device)


@dataclass(frozen=True)
class StaticDepths:
    """Static truncation: fixed image, text and decoder depths (0 = every layer)."""

    image: int = 0
    text: int = 0
    decoder: int = 0

    def __post_init__(self) -> None:
        for flag, value in (("--static-image-layers", self.image), ("--static-text-layers", self.text),
                            ("--static-decoder-layers", self.decoder)):
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{flag} must be a whole number >= 0 (0 = every layer), got {value!r}")

    @property
    def exiting_parts(self) -> Tuple[str, ...]:
        """The parts cut to a fixed depth."""
        return tuple(part for part in PARTS if getattr(self, part))

    def check_depths(self, encoder_layers: int, decoder_layers: int) -> None:
        """A :class:`ConfigError` when a depth exceeds the model's (the model has no such layer)."""
        for flag, value, side, layers in (("--static-image-layers", self.image, "encoder", encoder_layers),
                                          ("--static-text-layers", self.text, "encoder", encoder_layers),
                                          ("--static-decoder-layers", self.decoder, "decoder", decoder_layers)):
            if value > layers:
                raise ConfigError(f"{flag} {value} is deeper than the model's {side} ({layers} layers)")

    def session(self, horizon: Union[int, Tensor], project: Optional[Projection] = None) -> ExitSession:
        """A session whose rules stop each stream at its fixed depth."""
        encoder_rules = {name: FixedDepth(depth) for name, depth in (("image", self.image), ("text", self.text))
                         if depth}
        return ExitSession(encoder_rules, FixedTokenDepth(self.decoder) if self.decoder else None)


@dataclass(frozen=True)
class EntropyExit:
    """Decoder rule (DeeBERT): stop once the entropy (nats) of the layer's prediction is below ``threshold``."""

    threshold: float
    project: Projection
    projects_to_vocabulary = True  # each test projects the token to the vocabulary (the FLOPs count charges it)

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, positions: Tensor, tokens: Tensor) -> Tensor:
        probabilities = F.softmax(self.project(x_out, tokens).float(), dim=-1)
        return torch.special.entr(probabilities).sum(-1) < self.threshold  # entr(0) = 0: disallowed tokens add nothing


class PatienceExit:
    """Decoder rule (PABEE): stop once the layer's prediction equals the previous layers' for
    ``patience`` consecutive layers. Follows each token of a decoder call across layers."""

    projects_to_vocabulary = True  # each test projects the token to the vocabulary (the FLOPs count charges it)

    def __init__(self, patience: int, project: Projection):
        self.patience = patience
        self.project = project
        self._last: Dict[int, int] = {}
        self._count: Dict[int, int] = {}

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, positions: Tensor, tokens: Tensor) -> Tensor:
        if layer == 0:  # a new decoder call: every token starts afresh
            self._last, self._count = {}, {}
        predictions = self.project(x_out, tokens).argmax(-1).flatten().tolist()
        stop = []
        for token, prediction in zip(tokens.flatten().tolist(), predictions):
            same = self._last.get(token) == prediction
            self._count[token] = self._count.get(token, 0) + 1 if same else 0
            self._last[token] = prediction
            stop.append(self._count[token] >= self.patience)
        return torch.tensor(stop, dtype=torch.bool, device=x_out.device).view(tokens.shape)


def _require_projection(project: Optional[Projection], policy: str) -> Projection:
    if project is None:
        raise ValueError(f"the {policy} policy needs the decoder's projection to the vocabulary")
    return project


@dataclass(frozen=True)
class _EncoderSimilarityExits:
    """MuE's encoder exits, for the decoder-only baselines run on equal footing with MuE
    (keyword-only ``image``/``text`` thresholds; above 1, the default: the encoder runs every layer)."""

    image: float = field(default=NEVER, kw_only=True)
    text: float = field(default=NEVER, kw_only=True)

    def __post_init__(self) -> None:
        check_threshold("--image-exit-threshold", self.image)
        check_threshold("--text-exit-threshold", self.text)

    @property
    def exiting_parts(self) -> Tuple[str, ...]:
        """The encoder streams that can stop early, then the decoder."""
        return (*encoder_similarity_rules(self.image, self.text), "decoder")

    def _session(self, decoder_rule: TokenExitRule, granularity: ExitGranularity) -> ExitSession:
        return ExitSession(encoder_similarity_rules(self.image, self.text), decoder_rule, granularity)


@dataclass(frozen=True)
class EntropyPolicy(_EncoderSimilarityExits):
    """DeeBERT-style baseline: decoder exits by prediction entropy; encoder exits by MuE's rule
    when ``image``/``text`` are given."""

    decoder: float
    granularity: ExitGranularity = TOKEN_EXITS

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.decoder) and self.decoder >= 0.0):
            raise ConfigError(f"--entropy-exit-threshold must be a finite number >= 0 (nats), got {self.decoder}")

    def session(self, horizon: Union[int, Tensor], project: Optional[Projection] = None) -> ExitSession:
        return self._session(EntropyExit(self.decoder, _require_projection(project, "entropy")), self.granularity)


@dataclass(frozen=True)
class PatiencePolicy(_EncoderSimilarityExits):
    """PABEE-style baseline: decoder exits after ``decoder`` unchanged predictions; encoder exits
    by MuE's rule when ``image``/``text`` are given."""

    decoder: int
    granularity: ExitGranularity = TOKEN_EXITS

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.decoder, int) or self.decoder < 1:
            raise ConfigError(f"--patience-exit-layers must be a whole number >= 1, got {self.decoder!r}")

    def session(self, horizon: Union[int, Tensor], project: Optional[Projection] = None) -> ExitSession:
        return self._session(PatienceExit(self.decoder, _require_projection(project, "patience")), self.granularity)


ExitPolicy = Union[MuEThresholds, StaticDepths, EntropyPolicy, PatiencePolicy]
POLICIES = ("mue", "entropy", "patience", "static")
