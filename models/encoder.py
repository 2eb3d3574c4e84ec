"""OFA's encoder, joint or modality-decomposed.

The encoder sequence is ``[image patches; text tokens]``. OFA runs both through its layers
jointly; MuE's *modality decomposition* (``decompose_modalities``) runs the image stream and
the text stream through the same layers separately (shared weights, no image-text attention)
so that each stream can stop at its own depth. Each stream keeps its own position biases:
absolute bias from its own positions, plus the 2-D image or 1-D text relative bias.

A stream can stop early per sample: ``forward(..., exit_session=...)`` takes an
:class:`~ofa_mue.core.early_exit.ExitSession` whose per-stream rules decide after each layer;
samples that stop leave the batch of later layers, and the session records the layers each
sample used. The output is the same ``[image; text]`` layout either way, so the decoder
does not care.

``encoder_out`` (a fairseq-style dict of lists) holds, batch first:
``encoder_out [B, S, D]``, ``encoder_padding_mask [B, S]`` (True = padding),
``position_embeddings [1, S, D]`` (layer-normalised, for the decoder's cross-attention bias),
``row_source [B]`` (which input sample each row is a copy of, for cheap beam reordering),
and, with a session, ``exit_session`` (passed on to the decoder).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

import torch
from fairseq.models import FairseqEncoder
from torch import Tensor, nn

from ofa_mue.core.early_exit import ExitSession, StreamExitRule
from ofa_mue.errors import ConfigError

from .image_embedding import resnet_embedding
from .layers import LayerOptions, OFAEncoderLayer, select_rows
from .position_bias import (
    absolute_bias,
    image_bucket_table,
    image_position_ids,
    num_image_buckets,
    num_token_buckets,
    relative_bias,
    token_bucket_table,
)


EncoderOut = Dict[str, List]
BATCH_INDEPENDENT = ("exit_session", "position_embeddings")  # entries of encoder_out that no reordering touches


class OFAEncoder(FairseqEncoder):
    """OFA's unified encoder: ResNet patch embedding + text embedding + transformer layers."""

    def __init__(self, args, dictionary, embed_tokens: nn.Embedding, layer_options: LayerOptions):
        super().__init__(dictionary)
        self.register_buffer("version", torch.Tensor([3]))
        dim = embed_tokens.embedding_dim
        self.padding_idx = embed_tokens.padding_idx
        self.num_heads = layer_options.num_heads
        self.decompose_modalities = bool(getattr(args, "decompose_modalities", False))
        self.image_relative_bias_in_stream = not getattr(args, "decomposed_image_without_relative_bias", False)
        self.entangle_position_embedding = bool(getattr(args, "entangle_position_embedding", False))
        self.max_source_positions = args.max_source_positions
        self.image_bucket_size = args.image_bucket_size
        self.embed_scale = 1.0 if args.no_scale_embedding else dim**0.5

        self.embed_tokens = embed_tokens
        self.layernorm_embedding = nn.LayerNorm(dim) if args.layernorm_embedding else None
        self.type_embedding = nn.Embedding(2, dim) if args.add_type_embedding else None
        self.embed_images = resnet_embedding(
            args.resnet_type, args.resnet_drop_path_rate, getattr(args, "resnet_base_channels", 64),
            frozen_batch_norm=bool(getattr(args, "freeze_resnet", False)),
        )
        self.image_proj = nn.Linear(self.embed_images.out_channels, dim)
        self.patch_layernorm_embedding = nn.LayerNorm(dim) if args.patch_layernorm_embedding else None
        self.dropout = nn.Dropout(args.dropout)

        self.embed_positions = nn.Embedding(args.max_source_positions + 2, dim)
        self.embed_image_positions = nn.Embedding(args.image_bucket_size**2 + 1, dim)
        self.pos_ln = nn.LayerNorm(dim)
        self.image_pos_ln = nn.LayerNorm(dim)
        self.pos_scaling = (dim / self.num_heads * args.attn_scale_factor) ** -0.5
        self.pos_q_linear = nn.Linear(dim, dim)
        self.pos_k_linear = nn.Linear(dim, dim)

        rates = torch.linspace(0, args.encoder_drop_path_rate, args.encoder_layers, device="cpu").tolist()
        self.layers = nn.ModuleList(OFAEncoderLayer(layer_options, rate) for rate in rates)
        self.layer_norm = nn.LayerNorm(dim)

        self.token_rel_pos_table_list = nn.ModuleList(
            nn.Embedding(num_token_buckets(args.token_bucket_size), self.num_heads) for _ in rates
        )
        self.image_rel_pos_table_list = nn.ModuleList(
            nn.Embedding(num_image_buckets(args.image_bucket_size), self.num_heads) for _ in rates
        )
        self.register_buffer("token_rp_bucket", token_bucket_table(args.token_bucket_size))
        self.register_buffer("image_rp_bucket", image_bucket_table(args.image_bucket_size))

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    # ---- embeddings -------------------------------------------------------------------
    def embed_text(self, src_tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Text token embeddings ``[B, T, D]`` and their raw position embeddings ``[1, T, D]``."""
        positions = self.embed_positions(torch.arange(src_tokens.size(1), device=src_tokens.device)).unsqueeze(0)
        x = self.embed_tokens(src_tokens)
        if self.embed_scale != 1.0:
            x = self.embed_scale * x
        if self.entangle_position_embedding:
            x = x + positions
        if self.type_embedding is not None:
            x = x + self.type_embedding.weight[0]
        if self.layernorm_embedding is not None:
            x = self.layernorm_embedding(x)
        return self.dropout(x), positions

    def embed_image(self, patch_images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Patch embeddings ``[B, N, D]``, raw position embeddings ``[1, N, D]`` and position ids ``[N]``.

        The images are taken in the model's precision (``fairseq-generate --fp16`` halves the
        model, not the batch; OFA's evaluation halves both)."""
        features = self.embed_images(patch_images.to(self.image_proj.weight.dtype))
        height, width = features.shape[-2:]
        if height > self.image_bucket_size or width > self.image_bucket_size:
            raise ConfigError(image_too_large_message(tuple(patch_images.shape[-2:]), (height, width),
                                                      self.image_bucket_size))
        ids = image_position_ids(height, width, self.image_bucket_size, device=patch_images.device)
        positions = self.embed_image_positions(ids).unsqueeze(0)
        x = self.embed_scale * self.image_proj(features.flatten(2).transpose(1, 2))
        if self.entangle_position_embedding:
            x = x + positions
        if self.type_embedding is not None:
            x = x + self.type_embedding.weight[1]
        if self.patch_layernorm_embedding is not None:
            x = self.patch_layernorm_embedding(x)
        return self.dropout(x), positions, ids

    # ---- position biases ----------------------------------------------------------------
    def _absolute_bias(self, positions: Tensor) -> Tensor:
        return absolute_bias(self.pos_q_linear, self.pos_k_linear, positions, positions, self.num_heads, self.pos_scaling)

    def text_relative_bias(self, layer: int, length: int) -> Tensor:
        """Layer ``layer``'s text relative bias ``[1, H, T, T]``."""
        return relative_bias(self.token_rel_pos_table_list[layer], self.token_rp_bucket[:length, :length])

    def image_buckets(self, ids: Tensor) -> Tensor:
        """The 2-D relative-position buckets ``[N, N]`` between patches with position ids ``[N]``."""
        return self.image_rp_bucket[ids][:, ids]

    def image_relative_bias(self, layer: int, buckets: Tensor) -> Tensor:
        """Layer ``layer``'s 2-D image relative bias ``[1, H, N, N]`` for patch buckets ``[N, N]``
        (:meth:`image_buckets`)."""
        return relative_bias(self.image_rel_pos_table_list[layer], buckets)

    # ---- forward --------------------------------------------------------------------------
    def forward(
        self,
        src_tokens: Tensor,
        src_lengths: Optional[Tensor] = None,
        patch_images: Optional[Tensor] = None,
        patch_masks: Optional[Tensor] = None,
        exit_session: Optional[ExitSession] = None,
        **unused,
    ) -> EncoderOut:
        """Encode text tokens ``[B, T]`` and images ``[B, 3, H, W]`` (``patch_masks [B]``: has an image).

        ``exit_session`` (optional) gives per-stream exit rules, which need a
        modality-decomposed encoder, and records the layers each sample used.
        """
        exit_rules = exit_session.encoder_rules if exit_session is not None else {}
        text_x, text_pos = self.embed_text(src_tokens)
        text_pad = src_tokens.eq(self.padding_idx)
        text_pos = self.pos_ln(text_pos)
        text_x = _zero_padding(text_x, text_pad)
        streams = {"text": (text_x, text_pad, text_pos, None)}
        if patch_images is not None:
            image_x, image_pos, image_ids = self.embed_image(patch_images)
            image_pad = image_x.new_zeros(image_x.shape[:2], dtype=torch.bool)
            if patch_masks is not None:
                image_pad = image_pad | ~patch_masks.bool()[:, None]
            image_pos = self.image_pos_ln(image_pos)
            streams["image"] = (_zero_padding(image_x, image_pad), image_pad, image_pos, image_ids)

        order = [name for name in ("image", "text") if name in streams]
        layers_used: Dict[str, Tensor] = {}
        if self.decompose_modalities:
            outputs = []
            for name in order:
                x, pad, pos, ids = streams[name]
                bias_fn = self._stream_bias_fn(name, pos, x.size(1), ids)
                x, layers_used[name] = run_encoder_layers(self.layers, x, pad, bias_fn, exit_rules.get(name))
                outputs.append(x)
            x = torch.cat(outputs, dim=1)
        else:
            if exit_rules:
                raise ConfigError(
                    "encoder exits need a modality-decomposed encoder: build or load the model with "
                    "decompose_modalities=True (e.g. --model-overrides \"{'decompose_modalities': True}\")"
                )
            x = torch.cat([streams[name][0] for name in order], dim=1)
            bias_fn = self._joint_bias_fn(streams, order)
            x, every = run_encoder_layers(self.layers, x, torch.cat([streams[n][1] for n in order], dim=1), bias_fn, None)
            layers_used = {name: every for name in order}
        if exit_session is not None:
            for name in order:
                # a stream with a rule is tested after each layer it ran but the last layer
                tests = layers_used[name].clamp(max=self.num_layers - 1) if name in exit_rules else None
                exit_session.record_stream(name, layers_used[name], (~streams[name][1]).sum(1), tests)

        padding_mask = torch.cat([streams[name][1] for name in order], dim=1)
        encoder_out: EncoderOut = {
            "encoder_out": [self.layer_norm(x)],
            "encoder_padding_mask": [padding_mask],
            "position_embeddings": [torch.cat([streams[name][2] for name in order], dim=1)],
            "row_source": [torch.arange(x.size(0), device=x.device)],
        }
        if exit_session is not None:
            encoder_out["exit_session"] = [exit_session]
        return encoder_out

    def _stream_bias_fn(self, name: str, positions: Tensor, length: int, ids: Optional[Tensor]) -> Callable[[int], Tensor]:
        absolute = self._absolute_bias(positions)
        if name == "image":
            if not self.image_relative_bias_in_stream:  # as the published MuE code computes it
                return lambda layer: absolute
            buckets = self.image_buckets(ids)
            return lambda layer: absolute + self.image_relative_bias(layer, buckets)
        return lambda layer: absolute + self.text_relative_bias(layer, length)

    def _joint_bias_fn(self, streams: dict, order: List[str]) -> Callable[[int], Tensor]:
        absolute = self._absolute_bias(torch.cat([streams[name][2] for name in order], dim=1))
        text_len = streams["text"][0].size(1)
        image = streams.get("image")
        image_buckets = None if image is None else self.image_buckets(image[3])

        def bias(layer: int) -> Tensor:
            b = absolute.clone()
            b[:, :, -text_len:, -text_len:] += self.text_relative_bias(layer, text_len)
            if image is not None:
                n = image[0].size(1)
                b[:, :, :n, :n] += self.image_relative_bias(layer, image_buckets)
            return b

        return bias

    def reorder_encoder_out(self, encoder_out: EncoderOut, new_order: Tensor) -> EncoderOut:
        """Select rows ``new_order`` of every per-row tensor.

        Rows that are copies of the same input sample are identical, so when every row keeps
        its source sample (beam search reshuffling beams of one sentence) nothing is copied.
        The position embeddings ``[1, S, D]`` are the same for every row and stay as they are.
        """
        source = encoder_out["row_source"][0]
        new_source = source.index_select(0, new_order)
        if torch.equal(new_source, source):
            return encoder_out
        batch = source.size(0)
        reordered: EncoderOut = {}
        for key, values in encoder_out.items():
            if key in BATCH_INDEPENDENT:
                reordered[key] = values
            else:
                reordered[key] = [select_rows(t, new_order, batch) for t in values]
        reordered["row_source"] = [new_source]
        return reordered

    def max_positions(self) -> int:
        """Longest text input: ``max_source_positions``, capped by the relative-position table."""
        return min(self.max_source_positions, self.token_rp_bucket.size(0))


def run_encoder_layers(
    layers: nn.ModuleList,
    x: Tensor,
    padding_mask: Tensor,
    bias_fn: Callable[[int], Tensor],
    exit_rule: Optional[StreamExitRule],
) -> tuple[Tensor, Tensor]:
    """Run ``x [B, T, D]`` through ``layers``; with an exit rule, samples stop once it says so.

    Returns each sample's hidden states at the layer it stopped after, and the number of
    layers it ran ``[B]``. Samples that stopped are removed from the batch of later layers;
    while none has stopped the computation is exactly the plain one.
    """
    batch = x.size(0)
    layers_used = torch.full((batch,), len(layers), dtype=torch.long, device=x.device)
    running = None  # indices of running samples; None = all
    pad = padding_mask if padding_mask.any() else None
    for index, layer in enumerate(layers):
        x_in = x if running is None else x.index_select(0, running)
        pad_in = None if pad is None else (pad if running is None else pad.index_select(0, running))
        x_out = layer(x_in, bias_fn(index), pad_in)
        if running is None:
            x = x_out
        else:
            x = x.index_copy(0, running, x_out)
        if exit_rule is None or index == len(layers) - 1:
            continue
        stop = exit_rule.should_exit(index, x_in, x_out, pad_in)
        if stop.any():
            ids = torch.arange(batch, device=x.device) if running is None else running
            layers_used[ids[stop]] = index + 1
            running = ids[~stop]
            if running.numel() == 0:
                break
    return x, layers_used


def _zero_padding(x: Tensor, padding_mask: Tensor) -> Tensor:
    return x.masked_fill(padding_mask.unsqueeze(-1), 0.0) if padding_mask.any() else x


def image_too_large_message(pixels: tuple, grid: tuple, bucket_size: int) -> str:
    """Why ``pixels`` (height, width) images do not fit a model whose image positions form a
    ``bucket_size`` square, and what to set instead."""
    stride = max(pixels[0] // grid[0], 1)
    return (f"{pixels[0]}x{pixels[1]}-pixel images give a {grid[0]}x{grid[1]} patch grid, larger than the "
            f"{bucket_size}x{bucket_size} image positions of this model (image_bucket_size {bucket_size}): use "
            f"--patch-image-size {bucket_size * stride} or less; unset, inference takes the size the checkpoint "
            f"was trained at")
