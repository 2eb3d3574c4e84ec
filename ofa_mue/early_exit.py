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

from typing import Dict, List, Optional, Protocol

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
        """``x_in``/``x_out`` ``[A, D]`` for ``A`` running tokens at decoder ``positions [A]`` -> bool ``[A]``.

        ``tokens [A]`` identifies each running token within the decoder call (its flat index
        in the call's ``[B, T]`` batch), for rules that follow a token across layers.
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
        self._decoder_layer_sum: Optional[Tensor] = None
        self._decoder_tokens: Optional[Tensor] = None

    def record_stream(self, name: str, layers: Tensor, tokens: Tensor) -> None:
        """Encoder stream ``name``: layers ``[B]`` each sample ran and its non-padding tokens ``[B]``."""
        self._stream_layers[name] = layers.detach().cpu()
        self._stream_tokens[name] = tokens.detach().cpu()

    def record_decoder(self, layers: Tensor, processed: Tensor, row_source: Tensor) -> None:
        """Decoder call: layers ``[R, T]`` each token ran, which tokens count (``processed [R, T]``,
        bool) and the input sample ``row_source [R]`` each row belongs to."""
        batch = len(next(iter(self._stream_layers.values()))) if self._stream_layers else int(row_source.max()) + 1
        if self._decoder_layer_sum is None:
            self._decoder_layer_sum = torch.zeros(batch, dtype=torch.long)
            self._decoder_tokens = torch.zeros(batch, dtype=torch.long)
        weights = processed.long()
        source = row_source.detach().cpu()
        self._decoder_layer_sum.index_add_(0, source, (layers.detach() * weights).sum(-1).cpu())
        self._decoder_tokens.index_add_(0, source, weights.sum(-1).cpu())

    def example_layers(self) -> List[ExampleLayers]:
        """Per input sample of the batch: stream layers and token counts, decoder layer sums."""
        streams = self._stream_layers
        if not streams:
            raise RuntimeError("the encoder did not run with this exit session")
        batch = len(next(iter(streams.values())))
        zeros = torch.zeros(batch, dtype=torch.long)
        image_layers, image_tokens = streams.get("image", zeros), self._stream_tokens.get("image", zeros)
        text_layers, text_tokens = streams.get("text", zeros), self._stream_tokens.get("text", zeros)
        decoder_sum = self._decoder_layer_sum if self._decoder_layer_sum is not None else zeros
        decoder_tokens = self._decoder_tokens if self._decoder_tokens is not None else zeros
        return [
            ExampleLayers(int(image_layers[i]), int(image_tokens[i]), int(text_layers[i]), int(text_tokens[i]),
                          int(decoder_sum[i]), int(decoder_tokens[i]))
            for i in range(batch)
        ]
