"""The OFA unified transformer as fairseq model ``ofa``, with OFA's architectures.

Architectures: ``ofa_tiny``, ``ofa_medium``, ``ofa_base``, ``ofa_large``, ``ofa_huge`` (OFA's
published sizes; state-dict names and shapes equal the official checkpoints') and
``ofa_demo`` (6 + 6 layers like ofa_base, small width, trains on a CPU in minutes).

Difference from OFA's argument defaults, chosen so ``--arch ofa_base`` matches the
published checkpoints without extra flags: the NormFormer options ``scale_attn``,
``scale_fc`` and ``scale_heads`` default to on (every OFA fine-tuning script passes them).
OFA's flags keep their meaning (``--scale-attn`` turns it on); every option that is on by
default also has a ``--no-...`` form that turns it off (:data:`SWITCH_OFF_FLAGS`).
``--freeze-encoder-embedding`` / ``--freeze-decoder-embedding`` freeze the token embedding
as OFA does (shared by encoder, decoder and output projection, so either freezes it).
New option: ``decompose_modalities`` (MuE), saved in the checkpoint's config so a decomposed
model is rebuilt decomposed; any OFA checkpoint can be loaded or fine-tuned decomposed.
``decomposed_image_without_relative_bias`` reproduces the published MuE code's decomposed
encoder (``TransformerEncoder_MuE``), whose image stream gets the absolute position bias
only; a checkpoint saved by that code (``train_mue`` in its config) is built that way, as
that code builds it: decomposed, without the image stream's relative bias.
OFA's ``freeze_resnet`` keeps the ResNet's BatchNorm layers fixed (the same state-dict names:
they stay ``BatchNorm2d`` modules, held in eval mode).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from fairseq.models import FairseqEncoderDecoderModel, register_model, register_model_architecture
from fairseq.modules.transformer_sentence_encoder import init_bert_params
from torch import Tensor, nn

from ofa_mue.errors import CheckpointError, ConfigError

from .decoder import OFADecoder
from .encoder import OFAEncoder
from .layers import LayerOptions

logger = logging.getLogger(__name__)

# Buffers a checkpoint may lack that hold no learned values: fairseq's version, the buckets the
# options determine, and BatchNorm's batch counter (absent from OFA's ``--freeze-resnet``
# checkpoints, whose FrozenBatchNorm2d has none). They are filled from the freshly built model,
# as OFA fills what a checkpoint lacks; any other missing or mismatched key is an error.
_FILLABLE_SUFFIXES = ("version", "token_rp_bucket", "image_rp_bucket", "image_position_idx", "num_batches_tracked")

# NormFormer parameters, absent from checkpoints trained without OFA's scale flags.
_NORMFORMER_SUFFIXES = (".attn_ln.weight", ".attn_ln.bias", ".self_attn_ln.weight", ".self_attn_ln.bias",
                        ".cross_attn_ln.weight", ".cross_attn_ln.bias", ".ffn_layernorm.weight",
                        ".ffn_layernorm.bias", ".c_attn")


SWITCH_OFF_FLAGS = {
    "--no-add-type-embedding": "add_type_embedding",
    "--no-layernorm-embedding": "layernorm_embedding",
    "--no-patch-layernorm-embedding": "patch_layernorm_embedding",
    "--no-code-layernorm-embedding": "code_layernorm_embedding",
    "--no-scale-attn": "scale_attn",
    "--no-scale-fc": "scale_fc",
    "--no-scale-heads": "scale_heads",
    "--scale-embedding": "no_scale_embedding",
    "--no-share-all-embeddings": "share_all_embeddings",
    "--no-share-decoder-input-output-embed": "share_decoder_input_output_embed",
    "--no-encoder-normalize-before": "encoder_normalize_before",
    "--no-decoder-normalize-before": "decoder_normalize_before",
}
"""The form that turns off each option that is on by default (the sharing and pre-LN options
are required: turning them off is refused with one line)."""


@register_model("ofa")
class OFAModel(FairseqEncoderDecoderModel):
    """OFA encoder-decoder: image (ResNet) + text encoder, text decoder, shared embeddings."""

    def __init__(self, args, encoder: OFAEncoder, decoder: OFADecoder):
        super().__init__(encoder, decoder)
        self.args = args

    @staticmethod
    def add_args(parser) -> None:
        """Model options (fairseq fills unspecified ones from the chosen ``--arch``)."""
        add = parser.add_argument
        add("--encoder-embed-dim", type=int, metavar="N", help="embedding dimension (shared by encoder and decoder)")
        add("--encoder-ffn-embed-dim", type=int, metavar="N", help="encoder FFN dimension")
        add("--encoder-layers", type=int, metavar="N", help="number of encoder layers")
        add("--encoder-attention-heads", type=int, metavar="N", help="encoder attention heads")
        add("--decoder-embed-dim", type=int, metavar="N", help="decoder embedding dimension (= encoder's)")
        add("--decoder-ffn-embed-dim", type=int, metavar="N", help="decoder FFN dimension")
        add("--decoder-layers", type=int, metavar="N", help="number of decoder layers")
        add("--decoder-attention-heads", type=int, metavar="N", help="decoder attention heads")
        add("--dropout", type=float, metavar="D", help="dropout probability")
        add("--attention-dropout", type=float, metavar="D", help="attention weights dropout")
        add("--activation-dropout", type=float, metavar="D", help="dropout after the FFN activation")
        add("--activation-fn", type=str, help="FFN activation (fairseq name, e.g. gelu)")
        add("--resnet-type", type=str, help="image backbone: resnet50, resnet101, resnet152 or resnet:a,b,c")
        add("--resnet-base-channels", type=int, help="ResNet stem width (64 in every official model)")
        add("--resnet-drop-path-rate", type=float, help="ResNet drop path rate")
        add("--freeze-resnet", action="store_true",
            help="keep the ResNet's BatchNorm statistics and affine parameters fixed while fine-tuning (as OFA's "
                 "option): every data-parallel process then normalises images the same way")
        add("--encoder-drop-path-rate", type=float, help="encoder drop path rate")
        add("--decoder-drop-path-rate", type=float, help="decoder drop path rate")
        add("--token-bucket-size", type=int, help="text relative-position bucket size")
        add("--image-bucket-size", type=int, help="image relative-position grid size")
        add("--attn-scale-factor", type=float, help="query scale is (head_dim * factor) ** -0.5")
        add("--code-image-size", type=int, help="OFA's image-code size (sets a checkpoint buffer only)")
        add("--add-type-embedding", action="store_true", help="add text/image type embeddings")
        add("--layernorm-embedding", action="store_true", help="layer norm on token embeddings")
        add("--patch-layernorm-embedding", action="store_true", help="layer norm on patch embeddings")
        add("--code-layernorm-embedding", action="store_true", help="layer norm on image-code embeddings")
        add("--entangle-position-embedding", action="store_true", help="also add positions to encoder embeddings")
        add("--disable-entangle", action="store_true", help="do not add positions to decoder token embeddings")
        add("--scale-attn", action="store_true", help="NormFormer: layer norm after attention (default on)")
        add("--scale-fc", action="store_true", help="NormFormer: layer norm inside the FFN (default on)")
        add("--scale-heads", action="store_true", help="NormFormer: per-head attention scale (default on)")
        add("--scale-resids", action="store_true", help="NormFormer: scaled residuals")
        add("--no-scale-embedding", action="store_true", help="do not scale embeddings by sqrt(dim)")
        add("--share-all-embeddings", action="store_true", help="share encoder/decoder/output embeddings (required)")
        add("--share-decoder-input-output-embed", action="store_true", help="tie decoder output projection")
        add("--encoder-normalize-before", action="store_true", help="pre-LN encoder (required)")
        add("--decoder-normalize-before", action="store_true", help="pre-LN decoder (required)")
        add("--freeze-encoder-embedding", action="store_true",
            help="do not train the token embedding (shared with the decoder and output projection)")
        add("--freeze-decoder-embedding", action="store_true",
            help="do not train the token embedding (shared with the encoder and output projection)")
        add("--decompose-modalities", action="store_true",
            help="MuE: run image and text tokens through the encoder layers separately")
        add("--decomposed-image-without-relative-bias", action="store_true",
            help="decomposed encoder: no 2-D relative position bias in the image stream, as the published MuE "
                 "code computes it (for checkpoints fine-tuned with that code; on for those saved with train_mue)")
        for flag, dest in SWITCH_OFF_FLAGS.items():
            add(flag, dest=dest, action="store_false", help=f"turn off {dest} (on by default)")
        add("--max-source-positions", type=int, metavar="N", help="max text tokens in the encoder")
        add("--max-target-positions", type=int, metavar="N", help="max decoder tokens")

    @classmethod
    def build_model(cls, args, task) -> "OFAModel":
        """Build from (possibly saved) args and the task's dictionaries."""
        ofa_large_architecture(args)
        _check_supported(args)
        _published_mue_encoder(args)
        if getattr(args, "decomposed_image_without_relative_bias", False) and not args.decompose_modalities:
            raise ConfigError("--decomposed-image-without-relative-bias changes the decomposed encoder's image stream, "
                              "which OFA's joint encoder does not have: it needs --decompose-modalities")
        dictionary = task.source_dictionary
        if task.target_dictionary is not dictionary and len(task.target_dictionary) != len(dictionary):
            raise CheckpointError("OFA shares one dictionary between source and target")
        embed_tokens = nn.Embedding(len(dictionary), args.encoder_embed_dim, padding_idx=dictionary.pad())
        if args.freeze_encoder_embedding or args.freeze_decoder_embedding:
            embed_tokens.weight.requires_grad_(False)
        encoder = OFAEncoder(args, dictionary, embed_tokens, _layer_options(args, "encoder"))
        decoder = OFADecoder(args, task.target_dictionary, embed_tokens, _layer_options(args, "decoder"))
        model = cls(args, encoder, decoder)
        if not embed_tokens.weight.is_meta:  # a meta-device build (sizes only) has nothing to initialise
            model.apply(init_bert_params)
        return model

    def forward(
        self,
        src_tokens: Tensor,
        src_lengths: Tensor,
        prev_output_tokens: Tensor,
        patch_images: Optional[Tensor] = None,
        patch_masks: Optional[Tensor] = None,
        features_only: bool = False,
        return_layer_states: bool = False,
        encoder_rows: Optional[Tensor] = None,
        **unused,
    ) -> tuple[Tensor, Dict[str, Any]]:
        """Teacher-forced forward: logits ``[R, T, V]`` (or final features with ``features_only``)
        and the decoder's extra dict (every layer's output with ``return_layer_states``).

        ``encoder_rows`` (``[R]``, default: row r is sample r) decodes row ``r`` of
        ``prev_output_tokens`` against sample ``encoder_rows[r]``'s encoder output, so that
        several decoder rows share one encoder pass (SCST's sampled captions of one image)."""
        encoder_out = self.encoder(src_tokens, src_lengths, patch_images=patch_images, patch_masks=patch_masks)
        if encoder_rows is not None:
            encoder_out = self.encoder.reorder_encoder_out(encoder_out, encoder_rows)
        return self.decoder(prev_output_tokens, encoder_out=encoder_out, features_only=features_only,
                            return_layer_states=return_layer_states)

    def max_positions(self):
        return (self.encoder.max_positions(), self.decoder.max_positions())

    def upgrade_state_dict_named(self, state_dict: Dict[str, Tensor], name: str) -> None:
        """Fill the keys a valid OFA checkpoint may lack: the buffers of ``_FILLABLE_SUFFIXES``, and
        the tied output projection from the decoder's token embedding, as OFA's decoder does."""
        super().upgrade_state_dict_named(state_dict, name)
        prefix = f"{name}." if name else ""
        for key, value in self.state_dict().items():
            if prefix + key not in state_dict and key.endswith(_FILLABLE_SUFFIXES):
                state_dict[prefix + key] = value
        projection, embedding = f"{prefix}decoder.output_projection.weight", f"{prefix}decoder.embed_tokens.weight"
        if projection not in state_dict and embedding in state_dict:
            state_dict[projection] = state_dict[embedding]

    def load_state_dict(self, state_dict, strict: bool = True, model_cfg=None, args=None):
        """Load weights (upgraded first), with a clear error when the checkpoint belongs to another
        architecture or vocabulary (instead of torch's list of size mismatches)."""
        self.upgrade_state_dict(state_dict)
        check_state_dict_fits(self, state_dict, strict)
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)


def check_state_dict_fits(model: OFAModel, state_dict: Dict[str, Tensor], strict: bool = True) -> None:
    """Raise :class:`CheckpointError` naming the first differences between a checkpoint and ``model``."""
    own = model.state_dict()
    embed_key = "encoder.embed_tokens.weight"
    if embed_key in state_dict and embed_key in own and state_dict[embed_key].shape != own[embed_key].shape:
        (ckpt_rows, ckpt_dim), (rows, dim) = state_dict[embed_key].shape, own[embed_key].shape
        if ckpt_dim != dim:
            raise CheckpointError(
                f"the checkpoint has embedding dimension {ckpt_dim} but the model built with --arch "
                f"{getattr(model.args, 'arch', '?')} has {dim}: it belongs to another architecture"
            )
        raise CheckpointError(
            f"the checkpoint has a vocabulary of {ckpt_rows} symbols but the task's dictionary has {rows}: "
            "it was trained with another vocabulary (check --bpe-dir and its dict.txt, --code-dict-size, --num-bins)"
        )
    mismatched = [k for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    missing = [k for k in own if k not in state_dict] if strict else []
    unexpected = [k for k in state_dict if k not in own] if strict else []
    if mismatched or missing or unexpected:
        details = []
        if mismatched:
            k = mismatched[0]
            details.append(f"{len(mismatched)} shape mismatches (first: {k} is {list(state_dict[k].shape)} "
                           f"in the checkpoint, {list(own[k].shape)} in the model)")
        if missing:
            details.append(f"{len(missing)} parameters missing from the checkpoint (first: {missing[0]})")
            if all(key.endswith(_NORMFORMER_SUFFIXES) for key in missing):
                details.append("it was trained without OFA's NormFormer flags, on by default here (pass "
                               "--no-scale-attn, --no-scale-fc, --no-scale-heads for those it lacks)")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected parameters (first: {unexpected[0]})")
        raise CheckpointError(
            f"the checkpoint does not fit the model built with --arch {getattr(model.args, 'arch', '?')}: "
            + "; ".join(details) + ". It belongs to another architecture or was built with other options."
        )


def _published_mue_encoder(args) -> None:
    """A checkpoint saved by the published MuE code (``train_mue`` in its config) has that code's
    decomposed encoder, whose image stream has no relative position bias: build it so."""
    if getattr(args, "train_mue", False):
        if not (args.decompose_modalities and args.decomposed_image_without_relative_bias):
            logger.info("train_mue checkpoint (published MuE code): decomposed encoder, image stream without relative "
                        "position bias, as that code computes it")
        args.decompose_modalities = True
        args.decomposed_image_without_relative_bias = True


def _check_supported(args) -> None:
    if not (args.share_all_embeddings and args.share_decoder_input_output_embed):
        raise ConfigError("OFA shares one token embedding between encoder, decoder and output projection: "
                          "--no-share-all-embeddings / --no-share-decoder-input-output-embed are not supported")
    if args.encoder_embed_dim != args.decoder_embed_dim:
        raise CheckpointError("OFA shares embeddings: encoder and decoder embedding dimensions must be equal")
    if not (args.encoder_normalize_before and args.decoder_normalize_before):
        raise CheckpointError("only pre-LN OFA models (encoder/decoder_normalize_before) are supported")
    if getattr(args, "sync_bn", False):  # an OFA model option with no weights of its own
        raise CheckpointError("the model was trained with OFA's --sync-bn (the ResNet's BatchNorm layers with eps 1e-3, "
                              "synchronised across processes), which ofa_mue does not implement: its image features "
                              "would differ from OFA's")
    if getattr(args, "interpolate_position", False):  # an OFA model option with no weights of its own
        raise CheckpointError("the model was trained with OFA's --interpolate-position (image position embeddings "
                              "interpolated from the --orig-patch-image-size grid), which ofa_mue does not implement: "
                              "its image positions would differ from OFA's")


def _layer_options(args, side: str) -> LayerOptions:
    return LayerOptions(
        embed_dim=getattr(args, f"{side}_embed_dim"),
        ffn_dim=getattr(args, f"{side}_ffn_embed_dim"),
        num_heads=getattr(args, f"{side}_attention_heads"),
        dropout=args.dropout,
        attention_dropout=args.attention_dropout,
        activation_dropout=args.activation_dropout,
        activation_fn=args.activation_fn,
        attn_scale_factor=args.attn_scale_factor,
        scale_attn=args.scale_attn,
        scale_fc=args.scale_fc,
        scale_heads=args.scale_heads,
        scale_resids=args.scale_resids,
    )


def _default(args, name: str, value) -> None:
    if getattr(args, name, None) is None:
        setattr(args, name, value)


@register_model_architecture("ofa", "ofa_large")
def ofa_large_architecture(args) -> None:
    """OFA-large (12 + 12 layers, 1024 wide, ResNet-152); also fills every default for other sizes."""
    _default(args, "encoder_embed_dim", 1024)
    _default(args, "encoder_ffn_embed_dim", 4096)
    _default(args, "encoder_layers", 12)
    _default(args, "encoder_attention_heads", 16)
    _default(args, "decoder_embed_dim", args.encoder_embed_dim)
    _default(args, "decoder_ffn_embed_dim", args.encoder_ffn_embed_dim)
    _default(args, "decoder_layers", 12)
    _default(args, "decoder_attention_heads", 16)
    _default(args, "resnet_type", "resnet152")
    for name, value in (
        ("dropout", 0.0), ("attention_dropout", 0.0), ("activation_dropout", 0.0), ("activation_fn", "gelu"),
        ("resnet_base_channels", 64), ("resnet_drop_path_rate", 0.0), ("encoder_drop_path_rate", 0.0),
        ("decoder_drop_path_rate", 0.0), ("token_bucket_size", 256), ("image_bucket_size", 42),
        ("attn_scale_factor", 2.0), ("code_image_size", 128), ("max_source_positions", 1024),
        ("max_target_positions", 1024), ("add_type_embedding", True), ("layernorm_embedding", True),
        ("patch_layernorm_embedding", True), ("code_layernorm_embedding", True),
        ("entangle_position_embedding", False), ("disable_entangle", False), ("scale_attn", True),
        ("scale_fc", True), ("scale_heads", True), ("scale_resids", False), ("no_scale_embedding", True),
        ("share_all_embeddings", True), ("share_decoder_input_output_embed", True),
        ("encoder_normalize_before", True), ("decoder_normalize_before", True), ("decompose_modalities", False),
        ("decomposed_image_without_relative_bias", False), ("freeze_resnet", False),
        ("freeze_encoder_embedding", False), ("freeze_decoder_embedding", False),
    ):
        _default(args, name, value)


def _sized(width: int, encoder_layers: int, decoder_layers: int, heads: int, resnet: str):
    def architecture(args) -> None:
        _default(args, "encoder_embed_dim", width)
        _default(args, "encoder_ffn_embed_dim", 4 * width)
        _default(args, "encoder_layers", encoder_layers)
        _default(args, "encoder_attention_heads", heads)
        _default(args, "decoder_layers", decoder_layers)
        _default(args, "decoder_attention_heads", heads)
        _default(args, "resnet_type", resnet)
        ofa_large_architecture(args)

    return architecture


ofa_tiny_architecture = register_model_architecture("ofa", "ofa_tiny")(_sized(256, 4, 4, 4, "resnet50"))
ofa_medium_architecture = register_model_architecture("ofa", "ofa_medium")(_sized(512, 4, 4, 8, "resnet101"))
ofa_base_architecture = register_model_architecture("ofa", "ofa_base")(_sized(768, 6, 6, 12, "resnet101"))
ofa_huge_architecture = register_model_architecture("ofa", "ofa_huge")(_sized(1280, 24, 12, 16, "resnet152"))


@register_model_architecture("ofa", "ofa_demo")
def ofa_demo_architecture(args) -> None:
    """ofa_base's depth (6 + 6 layers) at a width that trains on two CPU cores in minutes.

    The ResNet is one block per stage with a 16-channel stem (256 output channels). Unlike
    the official sizes, position embeddings are also added to the encoder's token and patch
    vectors (OFA's ``--entangle-position-embedding``): a model this small, trained for a few
    thousand updates, learns where things are in the picture only when the patch vectors
    themselves carry their place (OFA's attention biases alone leave the demo's captions
    unable to name the objects in reading order).
    """
    _default(args, "encoder_embed_dim", 128)
    _default(args, "encoder_ffn_embed_dim", 512)
    _default(args, "encoder_layers", 6)
    _default(args, "encoder_attention_heads", 4)
    _default(args, "decoder_layers", 6)
    _default(args, "decoder_attention_heads", 4)
    _default(args, "resnet_type", "resnet:1,1,1")
    _default(args, "resnet_base_channels", 16)
    _default(args, "image_bucket_size", 16)
    _default(args, "entangle_position_embedding", True)
    ofa_large_architecture(args)

