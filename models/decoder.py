"""OFA's incremental decoder, with optional per-token early exit.

Every generated (or teacher-forced) token can stop after any layer: the decoder rule of the
exit session that ``encoder_out`` carries (:mod:`ofa_mue.early_exit`) decides from the
layer's input and output. A token that stops is not computed by later layers, but those
layers still get its keys and values, projected from the hidden state it stopped with
(state propagation). The self-attention cache therefore always holds every position at
every layer, so later tokens attend over a complete, position-correct cache, and
incremental decoding gives the same result as recomputing the whole prefix with the same
exit decisions. Its logits come from the hidden state it stopped with, through the shared
final layer norm and output projection; no intermediate layer is projected to the
vocabulary.

Batch first: ``prev_output_tokens [B, T]``, features ``[B, T, D]``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from fairseq.models import FairseqIncrementalDecoder
from torch import Tensor, nn

from ofa_mue.early_exit import TokenExitRule

from .layers import LayerOptions, OFADecoderLayer
from .position_bias import (
    absolute_bias,
    code_position_index,
    image_bucket_table,
    num_image_buckets,
    num_token_buckets,
    relative_bias,
    token_bucket_table,
)

CACHE_KEY = "ofa_decoder_cache"


class OFADecoder(FairseqIncrementalDecoder):
    """OFA's decoder: token + position embeddings, pre-LN layers, tied output projection."""

    def __init__(self, args, dictionary, embed_tokens: nn.Embedding, layer_options: LayerOptions):
        super().__init__(dictionary)
        self.register_buffer("version", torch.Tensor([3]))
        dim = embed_tokens.embedding_dim
        self.num_heads = layer_options.num_heads
        self.padding_idx = embed_tokens.padding_idx
        self.max_target_positions = args.max_target_positions
        self.embed_scale = 1.0 if args.no_scale_embedding else dim**0.5
        self.add_positions_to_tokens = not getattr(args, "disable_entangle", False)

        self.embed_tokens = embed_tokens
        self.layernorm_embedding = nn.LayerNorm(dim) if args.layernorm_embedding else None
        self.dropout = nn.Dropout(args.dropout)
        self.embed_positions = nn.Embedding(args.max_target_positions + 2, dim)
        self.pos_ln = nn.LayerNorm(dim)
        self.pos_scaling = (dim / self.num_heads * args.attn_scale_factor) ** -0.5
        self.self_pos_q_linear = nn.Linear(dim, dim)
        self.self_pos_k_linear = nn.Linear(dim, dim)
        self.cross_pos_q_linear = nn.Linear(dim, dim)
        self.cross_pos_k_linear = nn.Linear(dim, dim)

        rates = torch.linspace(0, args.decoder_drop_path_rate, args.decoder_layers, device="cpu").tolist()
        self.layers = nn.ModuleList(OFADecoderLayer(layer_options, rate) for rate in rates)
        self.layer_norm = nn.LayerNorm(dim)
        self.output_projection = nn.Linear(dim, len(dictionary), bias=False)
        self.output_projection.weight = self.embed_tokens.weight
        self.token_rel_pos_table_list = nn.ModuleList(
            nn.Embedding(num_token_buckets(args.token_bucket_size), self.num_heads) for _ in rates
        )
        self.register_buffer("token_rp_bucket", token_bucket_table(args.token_bucket_size))

        # OFA generates image codes with these; captioning and entailment never do. They exist
        # so that official checkpoints load with identical state-dict names and shapes.
        self.code_layernorm_embedding = nn.LayerNorm(dim) if args.code_layernorm_embedding else None
        self.embed_image_positions = nn.Embedding(args.image_bucket_size**2 + 1, dim)
        self.image_pos_ln = nn.LayerNorm(dim)
        self.image_rel_pos_table_list = nn.ModuleList(
            nn.Embedding(num_image_buckets(args.image_bucket_size), self.num_heads) for _ in rates
        )
        self.register_buffer("image_rp_bucket", image_bucket_table(args.image_bucket_size))
        self.register_buffer("image_position_idx", code_position_index(args.code_image_size, args.image_bucket_size))

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def forward(
        self,
        prev_output_tokens: Tensor,
        encoder_out: Optional[Dict[str, List[Tensor]]] = None,
        incremental_state: Optional[Dict[str, Dict[str, Any]]] = None,
        features_only: bool = False,
        return_layer_states: bool = False,
        **unused,
    ) -> tuple[Tensor, Dict[str, Any]]:
        """Logits ``[B, T, V]`` (or features with ``features_only``) and an ``extra`` dict.

        Tokens exit early when ``encoder_out`` carries an exit session with a decoder rule
        (see :mod:`ofa_mue.early_exit`); ``extra["exit_layers"]`` ``[B, T]`` then holds the
        layers each token ran. ``extra["layer_states"]``: every layer's output ``[B, T, D]``
        (``return_layer_states``).
        """
        x, extra = self.extract_features(prev_output_tokens, encoder_out, incremental_state, return_layer_states)
        return (x if features_only else self.output_layer(x)), extra

    def output_layer(self, features: Tensor) -> Tensor:
        """Project final-normalised features to vocabulary logits."""
        return self.output_projection(features)

    def hidden_to_logits(self, hidden: Tensor) -> Tensor:
        """Logits of any layer's output: shared final layer norm, then the tied projection."""
        return self.output_projection(self.layer_norm(hidden))

    def extract_features(
        self,
        prev_output_tokens: Tensor,
        encoder_out: Optional[Dict[str, List[Tensor]]],
        incremental_state: Optional[Dict[str, Dict[str, Any]]] = None,
        return_layer_states: bool = False,
    ) -> tuple[Tensor, Dict[str, Any]]:
        if encoder_out is None:
            raise ValueError("OFA's decoder needs the encoder output")
        session = encoder_out.get("exit_session", [None])[0]
        exit_rule: Optional[TokenExitRule] = None if session is None else session.decoder_rule
        cache = None
        if incremental_state is not None:
            cache = incremental_state.setdefault(CACHE_KEY, {"self_kv": [None] * self.num_layers})
        past = 0 if cache is None or cache["self_kv"][0] is None else cache["self_kv"][0][0].size(2)
        total = prev_output_tokens.size(1)
        tokens = prev_output_tokens[:, past:]
        device = tokens.device

        positions = self.embed_positions(torch.arange(total, device=device)).unsqueeze(0)
        x = self.embed_scale * self.embed_tokens(tokens)
        if self.add_positions_to_tokens:
            x = x + positions[:, past:]
        if self.layernorm_embedding is not None:
            x = self.layernorm_embedding(x)
        x = self.dropout(x)

        positions = self.pos_ln(positions)
        query_pos = positions[:, past:]
        self_absolute = absolute_bias(
            self.self_pos_q_linear, self.self_pos_k_linear, query_pos, positions, self.num_heads, self.pos_scaling
        )
        future = torch.arange(past, total, device=device)[:, None] < torch.arange(total, device=device)[None, :]
        self_padding = prev_output_tokens.eq(self.padding_idx)
        self_padding = self_padding if self_padding.any() else None
        cross_absolute = self._cross_absolute_bias(query_pos, encoder_out, cache)
        encoder_states = encoder_out["encoder_out"][0]
        cross_padding = encoder_out["encoder_padding_mask"][0]
        cross_padding = cross_padding if cross_padding.any() else None

        batch, length = tokens.shape
        active: Optional[Tensor] = None  # None = every token runs the layer
        exit_layers = None
        if session is not None:
            exit_layers = torch.full((batch, length), self.num_layers, dtype=torch.long, device=device)
            token_positions = torch.arange(past, total, device=device).expand(batch, length)
        layer_states: List[Tensor] = []
        for index, layer in enumerate(self.layers):
            past_kv = None if cache is None else cache["self_kv"][index]
            if active is not None and not active.any():
                # every token has exited: only keep the cache complete for later tokens (a
                # teacher-forced pass has no later tokens)
                new_kv = layer.self_key_value(x) if cache is not None else None
            else:
                bias = self_absolute + relative_bias(
                    self.token_rel_pos_table_list[index], self.token_rp_bucket[past:total, :total]
                )
                if future.any():
                    bias = bias.masked_fill(future, torch.finfo(bias.dtype).min)
                x_out, new_kv = layer(
                    x,
                    self_attn_bias=bias,
                    cross_key_value=self._cross_key_value(index, layer, encoder_states, encoder_out, cache),
                    cross_attn_bias=cross_absolute,
                    cross_padding_mask=cross_padding,
                    self_padding_mask=self_padding,
                    past_key_value=past_kv,
                    active=active,
                    return_key_value=cache is not None,
                )
                if exit_rule is not None and index < self.num_layers - 1:
                    active = _apply_exit_rule(exit_rule, index, x, x_out, active, exit_layers, token_positions)
                x = x_out
            if cache is not None:
                cache["self_kv"][index] = new_kv if past_kv is None else tuple(
                    torch.cat([old, new], dim=2) for old, new in zip(past_kv, new_kv)
                )
            if return_layer_states:
                layer_states.append(x)

        extra: Dict[str, Any] = {"attn": [None]}  # fairseq's generator reads "attn"
        if exit_layers is not None:
            extra["exit_layers"] = exit_layers
            row_source = cache["row_source"] if cache is not None else encoder_out["row_source"][0]
            session.record_decoder(exit_layers, tokens.ne(self.padding_idx), row_source)
        if return_layer_states:
            extra["layer_states"] = layer_states
        return self.layer_norm(x), extra

    def _cross_absolute_bias(self, query_pos: Tensor, encoder_out, cache) -> Tensor:
        """Cross-attention position bias ``[1|B, H, Tq, S]``; the key side is cached per generation."""
        src_pos = encoder_out["position_embeddings"][0]
        if cache is not None and "cross_pos_k" in cache:
            key = cache["cross_pos_k"]
        else:
            key = self.cross_pos_k_linear(src_pos)
            if cache is not None:
                cache["cross_pos_k"] = key
                cache.setdefault("row_source", encoder_out["row_source"][0])
        query = self.cross_pos_q_linear(query_pos)
        heads = lambda t: t.view(t.size(0), t.size(1), self.num_heads, -1).transpose(1, 2)  # noqa: E731
        return (heads(query) * self.pos_scaling) @ heads(key).transpose(-1, -2)

    def _cross_key_value(self, index: int, layer: OFADecoderLayer, encoder_states: Tensor, encoder_out, cache):
        if cache is None:
            return layer.cross_key_value(encoder_states)
        cross = cache.setdefault("cross_kv", [None] * self.num_layers)
        if cross[index] is None:
            cross[index] = layer.cross_key_value(encoder_states)
            cache.setdefault("row_source", encoder_out["row_source"][0])
        return cross[index]

    def reorder_incremental_state(self, incremental_state: Dict[str, Dict[str, Any]], new_order: Tensor) -> None:
        """Follow beam search's reordering: self-attention caches always; cross-attention
        caches only when a row changes the input sample it belongs to (finished sentences
        leave the batch), since copies of one sample are identical."""
        cache = incremental_state.get(CACHE_KEY)
        if cache is None:
            return
        cache["self_kv"] = [
            None if kv is None else tuple(t.index_select(0, new_order) for t in kv) for kv in cache["self_kv"]
        ]
        if "row_source" not in cache:
            return
        source = cache["row_source"]
        new_source = source.index_select(0, new_order)
        if torch.equal(new_source, source):
            return
        cache["row_source"] = new_source
        cache["cross_kv"] = [
            None if kv is None else tuple(t.index_select(0, new_order) for t in kv)
            for kv in cache.get("cross_kv", [None] * self.num_layers)
        ]
        key = cache["cross_pos_k"]
        if key.size(0) == source.size(0):
            cache["cross_pos_k"] = key.index_select(0, new_order)

    def max_positions(self) -> int:
        """Longest target: ``max_target_positions``, capped by the relative-position table."""
        return min(self.max_target_positions, self.token_rp_bucket.size(0))


def _apply_exit_rule(
    rule: TokenExitRule,
    index: int,
    x_in: Tensor,
    x_out: Tensor,
    active: Optional[Tensor],
    exit_layers: Tensor,
    positions: Tensor,
) -> Optional[Tensor]:
    """Ask the rule which active tokens stop after layer ``index``; returns the new active mask."""
    if active is None:  # every token ran the layer: test them all without packing
        tokens = torch.arange(x_in.size(0) * x_in.size(1), device=x_in.device)
        stop = rule.should_exit(index, x_in.flatten(0, 1), x_out.flatten(0, 1), positions.flatten(), tokens)
        stop = stop.view(x_in.shape[:2])
        if not stop.any():
            return None
        exit_layers.masked_fill_(stop, index + 1)
        return ~stop
    tokens = active.flatten().nonzero().squeeze(1)
    stop_packed = rule.should_exit(index, x_in[active], x_out[active], positions[active], tokens)
    if not stop_packed.any():
        return active
    stop = torch.zeros_like(active).masked_scatter(active, stop_packed)
    exit_layers.masked_fill_(stop, index + 1)
    return active & ~stop
