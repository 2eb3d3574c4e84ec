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

from typing import Dict, List, Optional, Protocol, Tuple

import torch
from torch import Tensor

from .time_reduction import ExampleLayers


class StreamExitRule(Protocol):
    """Decides, after an encoder layer, which samples of a stream stop there."""

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
        """``x_in``/``x_out`` ``[A, T, D]`` for the ``A`` running samples -> bool ``[A]``."""
        ...


class TokenExitRule(Protocol):
    """Decides, after a decoder layer, which tokens stop there."""

    def should_exit(self, layer: int, x_in: Tensor, x_out: Tensor, positions: Tensor, tokens: Tensor) -> Tensor:
        """``x_in``/``x_out`` ``[..., D]`` for the running tokens at decoder ``positions [...]`` -> bool ``[...]``.

        The leading shape is the call's ``[B, T]`` grid while every token runs, and ``[A]``
        (the ``A`` running tokens, packed) once some have stopped. ``tokens [...]`` identifies
        each token within the decoder call (its flat index in the ``[B, T]`` grid), for rules
        that follow a token across layers.
        """
        ...


class ExitSession:
    """Exit rules for one batch and the layer counts the batch used.

    ``encoder_rules`` maps ``"image"``/``"text"`` to a :class:`StreamExitRule` (a missing
    stream runs every layer); ``decoder_rule`` is a :class:`TokenExitRule` or ``None``.
    """

    def __init__(self, encoder_rules: Optional[Dict[str, StreamExitRule]] = None,
                 decoder_rule: Optional[TokenExitRule] = None):
        self.encoder_rules = encoder_rules or {}
        self.decoder_rule = decoder_rule
        self._stream_layers: Dict[str, Tensor] = {}
        self._stream_tokens: Dict[str, Tensor] = {}
        self._decoder_calls: List[Tuple[Tensor, Tensor, Tensor]] = []

    def record_stream(self, name: str, layers: Tensor, tokens: Tensor) -> None:
        """Encoder stream ``name``: layers ``[B]`` each sample ran and its non-padding tokens ``[B]``."""
        self._stream_layers[name] = layers.detach()
        self._stream_tokens[name] = tokens.detach()

    def record_decoder(self, layers: Tensor, processed: Tensor, row_source: Tensor) -> None:
        """Decoder call: layers ``[R, T]`` each token ran, which tokens count (``processed [R, T]``,
        bool) and the input sample ``row_source [R]`` each row belongs to. Kept as they are
        (no work, no device synchronisation per generation step) until :meth:`example_layers`."""
        self._decoder_calls.append((layers.detach(), processed, row_source))

    def decoder_token_layers(self) -> List[Tensor]:
        """The layers ``[R, T]`` each token of each decoder call ran, in call order (a
        teacher-forced pass is one call; a generation makes one call per step)."""
        return [layers for layers, _, _ in self._decoder_calls]

    def example_layers(self) -> List[ExampleLayers]:
        """Per input sample of the batch: stream layers and token counts, decoder layer sums."""
        streams = self._stream_layers
        if not streams:
            raise RuntimeError("the encoder did not run with this exit session")
        streams = {name: layers.cpu() for name, layers in streams.items()}
        stream_tokens = {name: tokens.cpu() for name, tokens in self._stream_tokens.items()}
        batch = len(next(iter(streams.values())))
        zeros = torch.zeros(batch, dtype=torch.long)
        image_layers, image_tokens = streams.get("image", zeros), stream_tokens.get("image", zeros)
        text_layers, text_tokens = streams.get("text", zeros), stream_tokens.get("text", zeros)
        decoder_sum, decoder_tokens = torch.zeros(batch, dtype=torch.long), torch.zeros(batch, dtype=torch.long)
        by_length: Dict[int, List[Tuple[Tensor, Tensor, Tensor]]] = {}
        for call in self._decoder_calls:  # one group per call length: a generation's steps are one
            by_length.setdefault(call[0].size(1), []).append(call)
        for calls in by_length.values():
            layers, processed, row_source = (torch.cat(parts) for parts in zip(*calls))
            weights = processed.long()
            source = row_source.cpu()
            decoder_sum.index_add_(0, source, (layers * weights).sum(-1).cpu())
            decoder_tokens.index_add_(0, source, weights.sum(-1).cpu())
        return [
            ExampleLayers(int(image_layers[i]), int(image_tokens[i]), int(text_layers[i]), int(text_tokens[i]),
                          int(decoder_sum[i]), int(decoder_tokens[i]))
            for i in range(batch)
        ]
