"""OFA's incremental decoder, with optional per-token early exit.

Every generated (or teacher-forced) token can stop after any layer: the decoder rule of the
exit session that ``encoder_out`` carries (:mod:`ofa_mue.core.early_exit`) decides from the
layer's input and output. A token that stops is not computed by later layers, but those
layers still get its keys and values, projected from the hidden state it stopped with
(state propagation). The self-attention cache therefore always holds every position at
every layer, so later tokens attend over a complete, position-correct cache, and
incremental decoding gives the same result as recomputing the whole prefix with the same
exit decisions. Its logits come from the hidden state it stopped with, through the shared
final layer norm and output projection; no intermediate layer is projected to the
vocabulary.

The session's ``decoder_granularity`` (:mod:`ofa_mue.core.exit_granularity`) says how the
tokens of one call stop: each on its own (the default), all together (``step``), or on their
own with a cost model choosing per layer between packing the running tokens and running the
layer on every token with exited ones masked (``auto``).

Batch first: ``prev_output_tokens [B, T]``, features ``[B, T, D]``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from fairseq.models import FairseqIncrementalDecoder
from torch import Tensor, nn

from ofa_mue.core.early_exit import TokenExitRule
from ofa_mue.core.exit_granularity import TOKEN_EXITS, ExitGranularity, StepExits, measured_launch_flops, packing_pays
from ofa_mue.core.flops import decoder_layer_flops

from .layers import LayerOptions, OFADecoderLayer, TokenGrid
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
MIN_CACHED_POSITIONS = 32  # first capacity of a generation's position tables


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
        (see :mod:`ofa_mue.core.early_exit`); ``extra["exit_layers"]`` ``[B, T]`` then holds the
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
        lengths = None if cache is None else cache.get("lengths")  # per-row cached positions, when they differ
        total = prev_output_tokens.size(1)
        tokens = prev_output_tokens[:, past:]
        device = tokens.device

        biases = self._position_biases(past, total, encoder_out, cache)
        x = self.embed_tokens(tokens)
        if self.embed_scale != 1.0:
            x = self.embed_scale * x
        if self.add_positions_to_tokens:
            x = x + biases.token_positions
        if self.layernorm_embedding is not None:
            x = self.layernorm_embedding(x)
        if self.training:
            x = self.dropout(x)

        self_padding = prev_output_tokens.eq(self.padding_idx)
        if lengths is not None:  # cache slots beyond a row's own positions hold nothing of that row
            self_padding[:, :past] |= torch.arange(past, device=device) >= lengths.unsqueeze(1)
        self_padding = self_padding if self_padding.any() else None
        encoder_states = encoder_out["encoder_out"][0]
        cross_padding = encoder_out["encoder_padding_mask"][0]
        cross_padding = cross_padding if cross_padding.any() else None

        batch, length = tokens.shape
        counted = tokens.ne(self.padding_idx)
        active: Optional[Tensor] = None  # None = every token runs the layer
        exit_layers = None
        granularity = TOKEN_EXITS if session is None else session.decoder_granularity
        if session is not None:
            exit_layers = torch.full((batch, length), self.num_layers, dtype=torch.long, device=device)
        if exit_rule is not None:
            token_positions = torch.arange(past, total, device=device).expand(batch, length)
            if lengths is not None:
                token_positions = biases.queries
            token_ids = torch.arange(batch * length, device=device).view(batch, length)
            if granularity.mode == "step":
                step_exits = StepExits(exit_rule, granularity, counted, token_positions, token_ids)
        layer_states: List[Tensor] = []
        for index, layer in enumerate(self.layers):
            past_kv = None if cache is None else cache["self_kv"][index]
            if active is not None and not active.any():
                # every token has exited: only keep the cache complete for later tokens (a
                # teacher-forced pass has no later tokens)
                new_kv = layer.self_key_value(x) if cache is not None else None
            else:
                dense = granularity.mode == "auto" and active is not None and not self._packing_pays(
                    granularity, active, total, encoder_states.size(1))
                x_out, new_kv = layer(
                    x,
                    self_attn_bias=biases.self_attention(index),
                    cross_key_value=self._cross_key_value(index, layer, encoder_states, encoder_out, cache),
                    cross_attn_bias=biases.cross_attention,
                    cross_padding_mask=cross_padding,
                    self_padding_mask=self_padding,
                    past_key_value=past_kv,
                    active=None if dense else active,
                    return_key_value=cache is not None,
                )
                if dense:  # the layer ran on every token: exited tokens keep their states
                    x_out = torch.where(active.unsqueeze(-1), x_out, x)
                if exit_rule is not None and index < self.num_layers - 1:
                    if granularity.mode == "step":
                        active = step_exits.after_layer(index, x, x_out, exit_layers)
                    elif dense:
                        active = _apply_dense_exit_rule(exit_rule, index, x, x_out, active, exit_layers,
                                                        token_positions, token_ids)
                    else:
                        active = _apply_exit_rule(exit_rule, index, x, x_out, active, exit_layers, token_positions,
                                                  token_ids)
                x = x_out
            if cache is not None:
                cache["self_kv"][index] = new_kv if past_kv is None else tuple(
                    torch.cat([old, new], dim=2) for old, new in zip(past_kv, new_kv)
                )
            if return_layer_states:
                layer_states.append(x)

        if lengths is not None:  # each row's new entries go to its own positions
            cache["self_kv"] = [tuple(_place_new_entries(t, past, biases.queries) for t in kv)
                                for kv in cache["self_kv"]]
            cache["lengths"] = lengths + length

        extra: Dict[str, Any] = {"attn": [None]}  # fairseq's generator reads "attn"
        if exit_layers is not None:
            extra["exit_layers"] = exit_layers
            row_source = cache["row_source"] if cache is not None else encoder_out["row_source"][0]
            session.record_decoder(exit_layers, counted, row_source, keys=total, cached=cache is not None,
                                   tested=exit_rule is not None, depth=self.num_layers)
        if return_layer_states:
            extra["layer_states"] = layer_states
        return self.layer_norm(x), extra

    def _packing_pays(self, granularity: ExitGranularity, active: Tensor, keys: int, source: int) -> bool:
        """``auto`` granularity: whether packing the running tokens ``active`` pays for the next
        layer (:func:`~ofa_mue.core.exit_granularity.packing_pays`), for tokens with ``keys``
        self-attention keys over ``source`` encoder tokens."""
        dim = self.embed_tokens.embedding_dim
        launch = granularity.launch_flops
        if launch is None:
            launch = measured_launch_flops(active.device, dim)
        per_token = decoder_layer_flops(dim, self.layers[0].fc1.out_features, keys, source)
        return packing_pays(active.numel() - int(active.sum()), per_token, launch)

    def _position_biases(self, past: int, total: int, encoder_out, cache) -> "PositionBiases":
        """The position terms of query positions ``past..total-1``.

        They depend on positions only, not on tokens: with an incremental cache they are
        computed once per generation for a capacity of positions (doubled when outgrown) and
        each step slices them.
        """
        if cache is None:
            return PositionBiases(self, total, encoder_out["position_embeddings"][0]).window(past, total)
        tables = cache.get("position_biases")
        if tables is None or tables.capacity < total:
            grown = max(total, MIN_CACHED_POSITIONS, 2 * (tables.capacity if tables is not None else 0))
            capacity = max(total, min(grown, self.embed_positions.num_embeddings, self.token_rp_bucket.size(0)))
            tables = cache["position_biases"] = PositionBiases(self, capacity, encoder_out["position_embeddings"][0])
            cache.setdefault("row_source", encoder_out["row_source"][0])
        return tables.window(past, total, cache.get("lengths"))

    def _cross_key_value(self, index: int, layer: OFADecoderLayer, encoder_states: Tensor, encoder_out, cache):
        if cache is None:
            return layer.cross_key_value(encoder_states)
        cross = cache.setdefault("cross_kv", [None] * self.num_layers)
        if cross[index] is None:
            cross[index] = layer.cross_key_value(encoder_states)
            cache.setdefault("row_source", encoder_out["row_source"][0])
        return cross[index]

    def reorder_incremental_state_scripting(self, incremental_state: Dict[str, Dict[str, Any]],
                                            new_order: Tensor) -> None:
        """What fairseq's generator calls after each step. fairseq's version walks every
        submodule looking for caches; this decoder keeps its whole cache in one place."""
        self.reorder_incremental_state(incremental_state, new_order)

    def reorder_incremental_state(self, incremental_state: Dict[str, Dict[str, Any]], new_order: Tensor) -> None:
        """Follow beam search's reordering: self-attention caches always; cross-attention
        caches only when a row changes the input sample it belongs to (finished sentences
        leave the batch), since copies of one sample are identical. Position biases are
        batch independent and stay."""
        cache = incremental_state.get(CACHE_KEY)
        if cache is None:
            return
        cache["self_kv"] = [
            None if kv is None else tuple(t.index_select(0, new_order) for t in kv) for kv in cache["self_kv"]
        ]
        if "lengths" in cache:
            cache["lengths"] = cache["lengths"].index_select(0, new_order)
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

    def cached_positions(self, incremental_state: Dict[str, Dict[str, Any]]) -> int:
        """Width of the self-attention cache: the most positions any row holds (0 before the first call)."""
        cache = incremental_state.get(CACHE_KEY)
        kv = None if cache is None else cache["self_kv"][0]
        return 0 if kv is None else kv[0].size(2)

    def truncate_incremental_state(self, incremental_state: Dict[str, Dict[str, Any]], lengths: Tensor) -> None:
        """Keep only the first ``lengths[r]`` cached positions of row ``r``, in every layer: drop the
        entries of tokens that were decoded and then rejected (a verified draft's tail).

        When rows keep different numbers of positions, the cache remembers each row's count, and
        the next call's ``prev_output_tokens`` is ``[R, W + T]``: the cache's ``W`` slots (those at
        or beyond a row's count are masked) then the ``T`` new tokens, which take positions
        ``lengths[r] ..`` of row ``r`` (position terms, exit thresholds and cache slots alike).
        """
        cache = incremental_state[CACHE_KEY]
        width = int(lengths.max())
        cache["self_kv"] = [None if kv is None else tuple(t[:, :, :width] for t in kv) for kv in cache["self_kv"]]
        if bool(lengths.eq(width).all()):
            cache.pop("lengths", None)
        else:
            cache["lengths"] = lengths

    def max_positions(self) -> int:
        """Longest target: ``max_target_positions``, capped by the relative-position table."""
        return min(self.max_target_positions, self.token_rp_bucket.size(0))


class PositionBiases:
    """Position terms of the decoder for positions ``0..capacity-1``, batch independent.

    - ``positions``: raw position embeddings ``[1, C, D]`` (added to the token embeddings);
    - self-attention bias of each layer ``[1, H, C, C]``: OFA's absolute bias of the
      layer-normalised positions plus the layer's relative bias, future positions masked;
      built on a layer's first use, so layers no token runs cost nothing;
    - cross-attention bias ``[1, H, C, S]`` against the encoder's position embeddings.

    :meth:`window` gives the slices one decoder call needs.
    """

    def __init__(self, decoder: OFADecoder, capacity: int, source_positions: Tensor):
        self.decoder, self.capacity = decoder, capacity
        device = source_positions.device
        self.positions = decoder.embed_positions(torch.arange(capacity, device=device)).unsqueeze(0)
        normed = decoder.pos_ln(self.positions)
        self.absolute = absolute_bias(decoder.self_pos_q_linear, decoder.self_pos_k_linear, normed, normed,
                                      decoder.num_heads, decoder.pos_scaling)
        self.future = torch.ones(capacity, capacity, dtype=torch.bool, device=device).triu(1)
        self.cross = absolute_bias(decoder.cross_pos_q_linear, decoder.cross_pos_k_linear, normed, source_positions,
                                   decoder.num_heads, decoder.pos_scaling)
        self._self_bias: Dict[int, Tensor] = {}

    def self_attention(self, layer: int) -> Tensor:
        """Layer ``layer``'s self-attention bias ``[1, H, C, C]``, future masked."""
        bias = self._self_bias.get(layer)
        if bias is None:
            decoder = self.decoder
            relative = relative_bias(decoder.token_rel_pos_table_list[layer],
                                     decoder.token_rp_bucket[: self.capacity, : self.capacity])
            bias = (self.absolute + relative).masked_fill(self.future, torch.finfo(self.absolute.dtype).min)
            self._self_bias[layer] = bias
        return bias

    def window(self, past: int, total: int, lengths: Optional[Tensor] = None) -> "PositionWindow":
        """The terms of query positions ``past..total-1`` over key positions ``0..total-1``; with
        per-row cache ``lengths [R]``, row ``r``'s queries are at ``lengths[r]..`` (see
        :meth:`OFADecoder.truncate_incremental_state`)."""
        if lengths is None:
            return PositionWindow(self, past, total)
        return RaggedPositionWindow(self, past, total, lengths)


class PositionWindow:
    """One decoder call's slices of :class:`PositionBiases`."""

    def __init__(self, tables: PositionBiases, past: int, total: int):
        self.tables, self.past, self.total = tables, past, total
        self.token_positions = tables.positions[:, past:total]
        self.cross_attention = tables.cross[:, :, past:total]

    def self_attention(self, layer: int) -> Tensor:
        """``[1, H, T, total]`` for layer ``layer``."""
        return self.tables.self_attention(layer)[:, :, self.past:self.total, : self.total]


class RaggedPositionWindow:
    """:class:`PositionWindow` for rows whose cache holds different numbers of positions.

    The call's keys are the cache's ``past`` slots (slot = position; slots at or beyond a
    row's length are masked as padding) followed by the ``T`` new tokens, which row ``r``
    holds at positions ``queries[r] = lengths[r] + 0..T-1``; every term is gathered per row.
    """

    def __init__(self, tables: PositionBiases, past: int, total: int, lengths: Tensor):
        self.tables = tables
        self.queries = lengths.unsqueeze(1) + torch.arange(total - past, device=lengths.device)  # [R, T]
        self.keys = torch.cat([torch.arange(past, device=lengths.device).expand(len(lengths), past), self.queries], 1)
        self.token_positions = tables.positions[0, self.queries]  # [R, T, D]
        self.cross_attention = tables.cross[0][:, self.queries].transpose(0, 1)  # [R, H, T, S]

    def self_attention(self, layer: int) -> Tensor:
        """``[R, H, T, past + T]`` for layer ``layer``."""
        bias = self.tables.self_attention(layer)[0]
        return bias[:, self.queries.unsqueeze(2), self.keys.unsqueeze(1)].transpose(0, 1)


def _place_new_entries(cached: Tensor, past: int, queries: Tensor) -> Tensor:
    """A layer's cache ``[R, H, past + T, d]`` whose ``T`` new entries were appended after the
    ``past`` slots, with each row's new entries moved to its own positions ``queries [R, T]``."""
    new = cached[:, :, past:]
    return cached.scatter(2, queries[:, None, :, None].expand_as(new), new)


def _apply_dense_exit_rule(rule: TokenExitRule, index: int, x_in: Tensor, x_out: Tensor, active: Tensor,
                           exit_layers: Tensor, positions: Tensor, token_ids: Tensor) -> Tensor:
    """``auto`` granularity after a layer that ran on every token: the rule sees the whole
    ``[B, T]`` grid (no packing, no host read), and only running tokens can stop."""
    stop = rule.should_exit(index, x_in, x_out, positions, token_ids) & active
    exit_layers.masked_fill_(stop, index + 1)
    return active & ~stop


def _apply_exit_rule(
    rule: TokenExitRule,
    index: int,
    x_in: Tensor,
    x_out: Tensor,
    active: Optional[Tensor],
    exit_layers: Tensor,
    positions: Tensor,
    token_ids: Tensor,
) -> Optional[Tensor]:
    """Ask the rule which active tokens stop after layer ``index``; returns the new active mask.

    While every token runs, the rule sees the ``[B, T]`` grid as it is (no packing: the
    test is a handful of operations); afterwards only the running tokens, packed.
    """
    if active is None:
        stop = rule.should_exit(index, x_in, x_out, positions, token_ids)
        if not stop.any():
            return None
        exit_layers.masked_fill_(stop, index + 1)
        return ~stop
    grid = TokenGrid(active)
    stop_packed = rule.should_exit(index, grid.pack(x_in), grid.pack(x_out), grid.pack(positions), grid.index)
    if not stop_packed.any():
        return active
    stop = torch.zeros_like(active).masked_scatter(active, stop_packed)
    exit_layers.masked_fill_(stop, index + 1)
    return active & ~stop
