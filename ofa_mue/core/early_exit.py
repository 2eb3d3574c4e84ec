"""Early-exit inference: the rules one forward pass follows and the layers it used.

An :class:`ExitSession` travels with the data rather than living on the model: it goes
into the encoder's ``net_input`` (``exit_session=...``), the encoder passes it on inside
``encoder_out`` and the decoder finds it there, so fairseq's own generator and ensemble
code carry it unchanged. The encoder applies the session's per-stream rules (per sample,
samples that stop leave the batch of later layers); the decoder applies its per-token rule
and keeps every layer's key/value cache complete (see :mod:`ofa_mue.models.decoder`). Both
record the layers each input sample used, from which :meth:`ExitSession.example_layers`
builds the per-example counts behind the expected time reduction rate.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Protocol

import torch
from torch import Tensor

from .exit_granularity import TOKEN_EXITS, ExitGranularity
from .time_reduction import ExampleLayers


class StreamExitRule(Protocol):
    """Decides, after an encoder layer, which samples of a stream stop there."""

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
        """``x_in``/``x_out`` ``[A, T, D]`` for the ``A`` running samples -> bool ``[A]``."""
        ...


class TokenExitRule(Protocol):
    """Decides, after a decoder layer, which tokens stop there. A rule whose
    ``projects_to_vocabulary`` is true (a class attribute; false when absent) projects each
    tested token to the vocabulary, which the FLOPs count (:mod:`ofa_mue.core.flops`) charges."""

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, positions: Tensor, tokens: Tensor) -> Tensor:
        """``x_in``/``x_out`` ``[..., D]`` for the running tokens at decoder ``positions [...]`` -> bool ``[...]``.

        The leading shape is the call's ``[B, T]`` grid while every token runs, and ``[A]``
        (the ``A`` running tokens, packed) once some have stopped. ``tokens [...]`` identifies
        each token within the decoder call (its flat index in the ``[B, T]`` grid), for rules
        that follow a token across layers.
        """
        ...


class DecoderCall(NamedTuple):
    """What one decoder call recorded (see :meth:`ExitSession.record_decoder`)."""

    layers: Tensor
    processed: Tensor
    row_source: Tensor
    keys: int
    cached: bool
    tested: bool
    depth: int


class ExitSession:
    """Exit rules for one batch and the layer counts the batch used.

    ``encoder_rules`` maps ``"image"``/``"text"`` to a :class:`StreamExitRule` (a missing
    stream runs every layer); ``decoder_rule`` is a :class:`TokenExitRule` or ``None``;
    ``decoder_granularity`` says how the tokens of one decoder call stop
    (:mod:`ofa_mue.core.exit_granularity`; per token by default).
    """

    def __init__(self, encoder_rules: Optional[Dict[str, StreamExitRule]] = None,
                 decoder_rule: Optional[TokenExitRule] = None,
                 decoder_granularity: ExitGranularity = TOKEN_EXITS):
        self.encoder_rules = encoder_rules or {}
        self.decoder_rule = decoder_rule
        self.decoder_granularity = decoder_granularity
        self._stream_layers: Dict[str, Tensor] = {}
        self._stream_tokens: Dict[str, Tensor] = {}
        self._stream_tests: Dict[str, Tensor] = {}
        self._stream_passes: Dict[str, int] = {}
        self._decoder_calls: List[DecoderCall] = []

    def record_stream(self, name: str, layers: Tensor, tokens: Tensor, tests: Optional[Tensor] = None) -> None:
        """Encoder stream ``name``: layers ``[B]`` each sample ran, its non-padding tokens ``[B]``
        and the exit tests it ran ``[B]`` (none when omitted). A stream recorded again is the next
        model of an ensemble (fairseq's generator runs each model's encoder with the same
        ``net_input``): it must have run as the first did, and is counted as one more pass."""
        if name in self._stream_layers:
            first = (self._stream_layers[name], self._stream_tokens[name], self._stream_tests.get(name))
            if not (torch.equal(first[0], layers) and torch.equal(first[1], tokens)
                    and (first[2] is None) == (tests is None) and (tests is None or torch.equal(first[2], tests))):
                raise RuntimeError(f"the {name} stream ran differently in another model of an ensemble; exits run "
                                   f"on one model")
            self._stream_passes[name] += 1
            return
        self._stream_passes[name] = 1
        self._stream_layers[name] = layers.detach()
        self._stream_tokens[name] = tokens.detach()
        if tests is not None:
            self._stream_tests[name] = tests.detach()

    def record_decoder(self, layers: Tensor, processed: Tensor, row_source: Tensor, keys: int = 0,
                       cached: bool = False, tested: bool = False, depth: int = 0) -> None:
        """Decoder call: layers ``[R, T]`` each token ran, which tokens count (``processed [R, T]``,
        bool) and the input sample ``row_source [R]`` each row belongs to; for the FLOPs count,
        the self-attention keys of the call's tokens (``keys``: cached and new positions),
        whether a cache made every layer project the tokens' keys/values (``cached``),
        whether each layer but the last ran an exit test (``tested``) and the decoder's
        depth. Kept as they are (no work, no device synchronisation per generation step)
        until :meth:`example_layers`."""
        self._decoder_calls.append(DecoderCall(layers.detach(), processed, row_source, keys, cached, tested, depth))

    def recorded_stream_layers(self) -> Dict[str, Tensor]:
        """Per encoder stream, the layers ``[B]`` each sample ran (as recorded)."""
        return dict(self._stream_layers)

    def recorded_decoder_calls(self) -> List[DecoderCall]:
        """What each decoder call recorded, in order."""
        return list(self._decoder_calls)

    def decoder_token_layers(self) -> List[Tensor]:
        """The layers ``[R, T]`` each token of each decoder call ran, in call order (a
        teacher-forced pass is one call; a generation makes one call per step)."""
        return [call.layers for call in self._decoder_calls]

    def example_layers(self) -> List[ExampleLayers]:
        """Per input sample of the batch: stream layers, token counts and tests; decoder sums."""
        streams = self._stream_layers
        if not streams:
            raise RuntimeError("the encoder did not run with this exit session")
        streams = {name: layers.cpu() for name, layers in streams.items()}
        stream_tokens = {name: tokens.cpu() for name, tokens in self._stream_tokens.items()}
        stream_tests = {name: tests.cpu() for name, tests in self._stream_tests.items()}
        batch = len(next(iter(streams.values())))
        zeros = torch.zeros(batch, dtype=torch.long)
        image_layers, image_tokens = streams.get("image", zeros), stream_tokens.get("image", zeros)
        text_layers, text_tokens = streams.get("text", zeros), stream_tokens.get("text", zeros)
        image_tests, text_tests = stream_tests.get("image", zeros), stream_tests.get("text", zeros)
        if len(set(self._stream_passes.values())) != 1:
            raise RuntimeError(f"the encoder streams ran a different number of times: {self._stream_passes}")
        models = next(iter(self._stream_passes.values()))
        decoder = _decoder_sums(self._decoder_calls, batch)
        projects = getattr(self.decoder_rule, "projects_to_vocabulary", False)
        decoder["decoder_prediction_tests"] = decoder["decoder_tests"] if projects else torch.zeros_like(zeros)
        return [
            ExampleLayers(int(image_layers[i]), int(image_tokens[i]), int(text_layers[i]), int(text_tokens[i]),
                          image_tests=int(image_tests[i]), text_tests=int(text_tests[i]), models=models,
                          **{name: int(values[i]) for name, values in decoder.items()})
            for i in range(batch)
        ]


def _decoder_sums(calls: List[DecoderCall], batch: int) -> Dict[str, Tensor]:
    """Per input sample ``[batch]``: the :class:`ExampleLayers` decoder fields summed over ``calls``
    (concatenated by call length: the steps of a generation are one group)."""
    sums = {name: torch.zeros(batch, dtype=torch.long) for name in (
        "decoder_layer_sum", "decoder_tokens", "decoder_key_sum", "decoder_key_layer_sum", "decoder_kv_layer_sum",
        "decoder_tests", "decoder_rows", "decoder_deepest")}
    by_length: Dict[int, List[DecoderCall]] = {}
    for call in calls:
        by_length.setdefault(call.layers.size(1), []).append(call)
    for group in by_length.values():
        layers = torch.cat([c.layers for c in group]).cpu()
        weights = torch.cat([c.processed for c in group]).cpu().long()
        source = torch.cat([c.row_source for c in group]).cpu()
        keys = torch.cat([torch.full((c.layers.size(0),), c.keys, dtype=torch.long) for c in group])
        kv_layers = torch.cat([torch.full((c.layers.size(0), 1), c.depth, dtype=torch.long) if c.cached
                               else c.layers.cpu().amax(1, keepdim=True) for c in group])
        test_cap = torch.cat([torch.full((c.layers.size(0), 1), c.depth - 1 if c.tested else 0, dtype=torch.long)
                              for c in group])
        tokens = weights.sum(-1)
        layer_sum = (layers * weights).sum(-1)
        sums["decoder_layer_sum"].index_add_(0, source, layer_sum)
        sums["decoder_tokens"].index_add_(0, source, tokens)
        sums["decoder_key_sum"].index_add_(0, source, keys * tokens)
        sums["decoder_key_layer_sum"].index_add_(0, source, keys * layer_sum)
        sums["decoder_kv_layer_sum"].index_add_(0, source, (kv_layers * weights).sum(-1))
        sums["decoder_tests"].index_add_(0, source, (torch.minimum(layers, test_cap) * weights).sum(-1))
        deepest = (layers * weights).amax(-1)
        sums["decoder_deepest"].scatter_reduce_(0, source, deepest, reduce="amax")
        call_index = torch.cat([torch.full((c.layers.size(0),), i, dtype=torch.long) for i, c in enumerate(group)])
        rows = torch.bincount(call_index * batch + source, minlength=len(group) * batch).view(len(group), batch)
        sums["decoder_rows"] = torch.maximum(sums["decoder_rows"], rows.amax(0))
    return sums
