"""OFA's Hugging Face port (OFA-Sys/OFA, branch ``feature/add_transformers``) and this model:
how a ``config.json`` maps to model options and a ``pytorch_model.bin`` to a state dict, both ways.

The port's modules are OFA's, with other names inside the transformer layers:

==================================  ===========================================
Hugging Face port                   fairseq OFA / ofa_mue
==================================  ===========================================
``encoder.layers.i.self_attn_mid_layer_norm``  ``encoder.layers.i.attn_ln``
``decoder.layers.i.self_attn_mid_layer_norm``  ``decoder.layers.i.self_attn_ln``
``decoder.layers.i.cross_attn``                ``decoder.layers.i.encoder_attn``
``decoder.layers.i.cross_attn_layer_norm``     ``decoder.layers.i.encoder_attn_layer_norm``
``decoder.layers.i.cross_attn_mid_layer_norm`` ``decoder.layers.i.cross_attn_ln``
``{encoder,decoder}.layers.i.ffn_layer_norm``  ``{encoder,decoder}.layers.i.ffn_layernorm``
==================================  ===========================================

Everything else has the same name and shape. One option differs in meaning: the port adds
positions to the decoder's token embeddings only with ``entangle_position_embedding``,
fairseq OFA unless ``--disable-entangle`` (which every OFA training script passes), so
``disable_entangle = not entangle_position_embedding``. Buffers computed from the options (the
relative-position buckets, fairseq's ``version``, the decoder's ``image_position_idx``,
which is 1025 long in the port and 1026 in fairseq OFA: one more trailing fill value) are
not copied but rebuilt, after checking that the source's agree with what the options give.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Tuple

import torch
from torch import Tensor

from ofa_mue.errors import CheckpointError

from .image_embedding import RESNET_STAGE_BLOCKS

HF_LAYER_NAMES = {
    "encoder": {"self_attn_mid_layer_norm": "attn_ln", "ffn_layer_norm": "ffn_layernorm"},
    "decoder": {"self_attn_mid_layer_norm": "self_attn_ln", "cross_attn_mid_layer_norm": "cross_attn_ln",
                "cross_attn_layer_norm": "encoder_attn_layer_norm", "cross_attn": "encoder_attn",
                "ffn_layer_norm": "ffn_layernorm"},
}
"""Per side, the port's name of a layer's submodule -> ours (names not listed are equal)."""

OUR_LAYER_NAMES = {side: {ours: hf for hf, ours in names.items()} for side, names in HF_LAYER_NAMES.items()}

LAYER_KEY = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.([^.]+)\.(.+)$")

TIED_EMBEDDINGS = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "decoder.output_projection.weight")
"""One shared matrix under three names (OFA ties its embeddings and output projection)."""

REBUILT_BUFFERS = ("encoder.version", "decoder.version", "encoder.token_rp_bucket", "encoder.image_rp_bucket",
                   "decoder.token_rp_bucket", "decoder.image_rp_bucket", "decoder.image_position_idx")
"""Buffers that follow from the options: rebuilt on each side, never copied."""

HF_DEFAULTS: Dict[str, Any] = {
    "vocab_size": 59457, "max_position_embeddings": 1024, "encoder_layers": 4, "encoder_ffn_dim": 2048,
    "encoder_attention_heads": 8, "decoder_layers": 4, "decoder_ffn_dim": 2048, "decoder_attention_heads": 8,
    "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "activation_function": "gelu", "d_model": 512,
    "dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0, "scale_embedding": False,
    "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "encoder_normalize_before": True,
    "decoder_normalize_before": True, "normformer": True, "encoder_drop_path_rate": 0.0,
    "decoder_drop_path_rate": 0.0, "layernorm_embedding": True, "patch_layernorm_embedding": True,
    "resnet_type": "resnet101", "resnet_drop_path_rate": 0.0, "token_bucket_size": 256, "image_bucket_size": 42,
    "add_type_embedding": True, "share_decoder_input_output_embed": True, "attn_scale_factor": 2.0,
    "code_layernorm_embedding": True, "code_image_size": 128, "entangle_position_embedding": False,
}
"""The defaults of the port's ``OFAConfig`` (what a ``config.json`` without the key means)."""

HF_RESNETS = {"resnet18": (2, 2, 2), "resnet34": (3, 4, 6), "resnet50": (3, 4, 6), "resnet101": (3, 4, 23),
              "resnet152": (3, 8, 36)}
"""The port's ResNet types: Bottleneck blocks per stage (its resnet18/34 are Bottleneck nets too)."""

ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_accurate"}
"""The port's activation names -> fairseq's (the same functions)."""

SPECIAL_TOKENS = {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2}
"""fairseq dictionary ids of OFA's special tokens, which the port's ids must equal."""

SAME_OPTIONS = ("encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads",
                "dropout", "attention_dropout", "activation_dropout", "encoder_drop_path_rate",
                "decoder_drop_path_rate", "resnet_drop_path_rate", "token_bucket_size", "image_bucket_size",
                "attn_scale_factor", "code_image_size", "add_type_embedding", "layernorm_embedding",
                "patch_layernorm_embedding", "code_layernorm_embedding", "entangle_position_embedding",
                "share_decoder_input_output_embed", "encoder_normalize_before", "decoder_normalize_before")
"""Options with the same name and meaning in the port's config and fairseq OFA's."""


def _our_resnet(hf_type: str) -> str:
    blocks = HF_RESNETS[hf_type]
    named = [name for name, stage_blocks in RESNET_STAGE_BLOCKS.items() if stage_blocks == blocks]
    return named[0] if named else "resnet:" + ",".join(map(str, blocks))


def _resnet_blocks(resnet_type: str) -> Tuple[int, ...]:
    if resnet_type.startswith("resnet:"):
        return tuple(int(n) for n in resnet_type.split(":", 1)[1].split(","))
    return RESNET_STAGE_BLOCKS[resnet_type]


def model_options_from_hf(config: Mapping[str, Any]) -> Dict[str, Any]:
    """fairseq OFA model options equal to a port ``config.json`` (a CheckpointError names any
    setting this model cannot reproduce)."""
    c = {**HF_DEFAULTS, **config}
    refused = []
    for name, value in SPECIAL_TOKENS.items():
        if c[name] != value:
            refused.append(f"{name} {c[name]} (fairseq's dictionary has {value})")
    for name in ("encoder_layerdrop", "decoder_layerdrop"):
        if c[name]:
            refused.append(f"{name} {c[name]} (no LayerDrop here)")
    if c["activation_function"] not in ACTIVATIONS:
        refused.append(f"activation_function {c['activation_function']!r} (supported: {', '.join(ACTIVATIONS)})")
    if c["resnet_type"] not in HF_RESNETS:
        refused.append(f"resnet_type {c['resnet_type']!r} (the port knows {', '.join(HF_RESNETS)})")
    if c["attn_scale_factor"] != 2.0:
        refused.append(f"attn_scale_factor {c['attn_scale_factor']} (the port's attention always scales by 2, "
                       "its position bias by this: one model cannot do both)")
    if not (c["encoder_normalize_before"] and c["decoder_normalize_before"]):
        refused.append("encoder/decoder_normalize_before false (only pre-LN OFA is supported)")
    if not c["share_decoder_input_output_embed"]:
        refused.append("share_decoder_input_output_embed false (OFA ties its embeddings)")
    if refused:
        raise CheckpointError("config.json: cannot map " + "; ".join(refused))
    options = {name: c[name] for name in SAME_OPTIONS}
    options.update(
        encoder_embed_dim=c["d_model"], decoder_embed_dim=c["d_model"], encoder_ffn_embed_dim=c["encoder_ffn_dim"],
        decoder_ffn_embed_dim=c["decoder_ffn_dim"], max_source_positions=c["max_position_embeddings"],
        max_target_positions=c["max_position_embeddings"], activation_fn=ACTIVATIONS[c["activation_function"]],
        no_scale_embedding=not c["scale_embedding"], scale_attn=c["normformer"], scale_fc=c["normformer"],
        scale_heads=True, scale_resids=False, resnet_type=_our_resnet(c["resnet_type"]), resnet_base_channels=64,
        share_all_embeddings=True, disable_entangle=not c["entangle_position_embedding"],
    )
    return options


def hf_config_from_model(args: Any, vocab_size: int) -> Dict[str, Any]:
    """The port's ``config.json`` for a model built with fairseq options ``args`` (a
    CheckpointError names any option the port cannot reproduce)."""
    refused = []
    if args.encoder_embed_dim != args.decoder_embed_dim:
        refused.append("encoder and decoder embedding dimensions differ")
    if getattr(args, "decompose_modalities", False):
        refused.append("decompose_modalities (the port runs image and text through the encoder together)")
    if args.scale_resids:
        refused.append("scale_resids (the port has no residual scaling)")
    if args.scale_attn != args.scale_fc or not args.scale_heads:
        refused.append("scale_attn, scale_fc and scale_heads must be all on, or only scale_heads (the port's "
                       "normformer switch)")
    if getattr(args, "resnet_base_channels", 64) != 64:
        refused.append(f"resnet_base_channels {args.resnet_base_channels} (the port's ResNet has 64)")
    blocks = _resnet_blocks(args.resnet_type)
    hf_resnets = [name for name, stage_blocks in HF_RESNETS.items() if stage_blocks == blocks]
    if not hf_resnets:
        refused.append(f"resnet_type {args.resnet_type!r} (the port knows {', '.join(HF_RESNETS)})")
    if args.attn_scale_factor != 2.0:
        refused.append(f"attn_scale_factor {args.attn_scale_factor} (the port's attention always uses 2)")
    activations = {ours: hf for hf, ours in ACTIVATIONS.items()}
    if args.activation_fn not in activations:
        refused.append(f"activation_fn {args.activation_fn!r} (the port has {', '.join(ACTIVATIONS)})")
    if args.max_source_positions != args.max_target_positions:
        refused.append("max_source_positions and max_target_positions differ (the port has one size)")
    if (not getattr(args, "disable_entangle", False)) != bool(args.entangle_position_embedding):
        refused.append("disable_entangle must be the opposite of entangle_position_embedding (the port adds "
                       "positions to decoder tokens exactly when it adds them to encoder tokens)")
    if refused:
        raise CheckpointError("cannot express in the port's config: " + "; ".join(refused))
    config = {name: getattr(args, name) for name in SAME_OPTIONS}
    config.update(
        model_type="ofa", architectures=["OFAModel"], vocab_size=vocab_size, d_model=args.encoder_embed_dim,
        encoder_ffn_dim=args.encoder_ffn_embed_dim, decoder_ffn_dim=args.decoder_ffn_embed_dim,
        max_position_embeddings=args.max_source_positions, activation_function=activations[args.activation_fn],
        scale_embedding=not args.no_scale_embedding, normformer=bool(args.scale_attn), resnet_type=hf_resnets[-1],
        encoder_layerdrop=0.0, decoder_layerdrop=0.0, **SPECIAL_TOKENS,
    )
    return config


def rename_layer_key(key: str, names: Mapping[str, Mapping[str, str]]) -> str:
    match = LAYER_KEY.match(key)
    if match is None:
        return key
    side, index, module, rest = match.groups()
    return f"{side}.layers.{index}.{names[side].get(module, module)}.{rest}"


def _strip_model_prefix(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """The port's keys without the ``model.`` prefix of its task-head classes, when every key has it."""
    if state_dict and all(key.startswith("model.") for key in state_dict):
        return {key[len("model."):]: value for key, value in state_dict.items()}
    return dict(state_dict)


def _check_keys(keys: Iterable[str], expected: Mapping[str, Tensor], mapped: Mapping[str, Tensor], what: str) -> None:
    """A CheckpointError naming the keys that map to nothing, lack a value, or have another shape."""
    unknown = sorted(set(keys) - set(expected))
    missing = sorted(set(expected) - set(mapped))
    shapes = sorted(k for k in set(expected) & set(mapped) if tuple(expected[k].shape) != tuple(mapped[k].shape))
    problems: List[str] = []
    if unknown:
        problems.append(f"{len(unknown)} keys it cannot map: {', '.join(unknown[:8])}")
    if missing:
        problems.append(f"{len(missing)} keys missing: {', '.join(missing[:8])}")
    if shapes:
        problems.append(f"{len(shapes)} keys of another shape: " + ", ".join(
            f"{k} {list(mapped[k].shape)} (expected {list(expected[k].shape)})" for k in shapes[:8]))
    if problems:
        raise CheckpointError(f"{what}: " + "; ".join(problems))


def state_dict_from_hf(hf_state: Mapping[str, Tensor], reference: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Our state dict from the port's, for the model whose own state dict is ``reference``
    (built from :func:`model_options_from_hf`; it supplies the rebuilt buffers)."""
    source = _strip_model_prefix(hf_state)
    tied = [key for key in TIED_EMBEDDINGS if key in source]
    if not tied:
        raise CheckpointError(f"the port's weights: no token embedding (none of {', '.join(TIED_EMBEDDINGS)})")
    embedding = source[tied[0]]
    for key in tied[1:]:
        if not torch.equal(source[key], embedding):
            raise CheckpointError(f"the port's weights: {key} differs from {tied[0]}, but OFA ties them")
    mapped = {rename_layer_key(key, HF_LAYER_NAMES): value for key, value in source.items()
              if key not in TIED_EMBEDDINGS}
    for key in REBUILT_BUFFERS:
        if key in mapped:
            _check_rebuilt_buffer(key, mapped[key], reference[key])
        mapped[key] = reference[key]
    mapped.update({key: embedding for key in TIED_EMBEDDINGS})
    hf_names = {key: rename_layer_key(key, HF_LAYER_NAMES) for key in source}
    _check_keys([key for key, ours in hf_names.items() if ours not in reference], reference, mapped,
                "pytorch_model.bin")
    return {key: mapped[key] for key in reference}


def _check_rebuilt_buffer(key: str, given: Tensor, rebuilt: Tensor) -> None:
    """A buffer of the source must equal what the options give (the port's code index is one shorter)."""
    expected = rebuilt[: len(given)] if key == "decoder.image_position_idx" else rebuilt
    if tuple(given.shape) != tuple(expected.shape) or not torch.equal(given.to(expected.dtype), expected):
        raise CheckpointError(f"the port's weights: buffer {key} differs from what the config gives "
                              f"({list(given.shape)} against {list(expected.shape)})")


def state_dict_to_hf(state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """The port's state dict from ours (fairseq's ``version`` buffers dropped, the code index cut to the port's length)."""
    hf_state = {}
    for key, value in state.items():
        if key.endswith(".version"):
            continue
        if key == "decoder.image_position_idx":
            value = value[:-1]  # the port fills 768 positions after the grid, fairseq OFA 769
        hf_state[rename_layer_key(key, OUR_LAYER_NAMES)] = value
    return hf_state
