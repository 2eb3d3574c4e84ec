"""Model options and checkpoint loading as OFA's (audit of models/ and checkpoint loading against
OFA's ``models/ofa/*.py``): checkpoints in OFA's format that OFA loads load here and compute the
same; options OFA honours and this model cannot are refused, never ignored; architecture
defaults are OFA's."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Dict

import pytest
import torch
from fairseq import checkpoint_utils

from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.errors import CheckpointError, ConfigError
from ofa_mue.models.builders import build_model, model_args, numbered_dictionary
from ofa_mue.models.image_embedding import resnet_embedding
from ofa_mue.models.ofa import OFAModel
from test_checkpoint_round_trip import OFA_ONLY_TASK_OPTIONS

SMALL = dict(encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_layers=2, decoder_layers=2,
             encoder_attention_heads=2, decoder_attention_heads=2)
"""``ofa_demo`` cut down, with OFA's vocabulary (the caption task's dictionary)."""


def _checkpoint(state: Dict[str, torch.Tensor], **model_options: Any) -> dict:
    """A checkpoint in OFA's format: its ``cfg.model`` namespace (with OFA-only options such as
    ``sync_bn`` where given) and the weights ``state``."""
    namespace = model_args("ofa_demo", **{**SMALL, **model_options})
    namespace._name = "ofa_demo"
    task = {"_name": "caption", "data": "unused.tsv", "selected_cols": "1,4,2", "patch_image_size": 64,
            "imagenet_default_mean_and_std": False, **OFA_ONLY_TASK_OPTIONS}
    return {"cfg": {"model": namespace, "task": task}, "model": state}


def _outputs(model) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    src = torch.randint(4, 500, (2, 7), generator=generator)
    prev = torch.randint(4, 500, (2, 5), generator=generator)
    images = torch.randn(2, 3, 64, 64, generator=generator)
    with torch.no_grad():
        return model.eval()(src, None, prev, patch_images=images)[0]


def _demo_model(**options: Any):
    """A new ``ofa_demo`` model cut down to SMALL, with ``options``."""
    return build_model("ofa_demo", OFAVocabulary.load().dictionary, **{**SMALL, **options})


def _batch_norms(module: torch.nn.Module) -> list:
    """The BatchNorm layers of ``module`` (the ResNet's)."""
    return [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def _randomised_model(**options: Any):
    torch.manual_seed(0)
    model = _demo_model(**options).eval()
    with torch.no_grad():  # statistics away from BatchNorm's initial ones, so that loading them matters
        for module in _batch_norms(model):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_a_checkpoint_trained_with_freeze_resnet_loads_as_ofa_loads_it(tmp_path):
    """OFA builds ``--freeze-resnet`` models with ``FrozenBatchNorm2d`` (models/ofa/frozen_bn.py),
    whose state dict has no ``num_batches_tracked``; OFA loads such checkpoints. They were refused
    here as 'another architecture'. The counter is filled, as OFA's ``upgrade_state_dict_named``
    fills what a checkpoint lacks (models/ofa/unify_transformer.py), and the model computes the same."""
    model = _randomised_model(freeze_resnet=True)
    state = {key: value for key, value in model.state_dict().items() if not key.endswith("num_batches_tracked")}
    path = tmp_path / "frozen_resnet.pt"
    torch.save(_checkpoint(state, freeze_resnet=True), path)
    loaded = checkpoint_utils.load_model_ensemble([str(path)])[0][0]
    torch.testing.assert_close(_outputs(loaded), _outputs(model), rtol=0, atol=0)


def test_buffers_and_the_tied_output_projection_a_checkpoint_lacks_are_rebuilt_as_in_ofa(tmp_path):
    """OFA's ``upgrade_state_dict_named`` (models/ofa/unify_transformer.py) fills the ``version``
    buffers and the relative-position buckets from the model and takes
    ``decoder.output_projection.weight`` from the tied ``decoder.embed_tokens.weight``: a checkpoint
    without them loads and computes the same."""
    model = _randomised_model()
    rebuilt = ("encoder.version", "decoder.version", "encoder.token_rp_bucket", "encoder.image_rp_bucket",
               "decoder.token_rp_bucket", "decoder.image_rp_bucket", "decoder.image_position_idx",
               "decoder.output_projection.weight")
    state = {key: value for key, value in model.state_dict().items() if key not in rebuilt}
    path = tmp_path / "without_buffers.pt"
    torch.save(_checkpoint(state), path)
    loaded = checkpoint_utils.load_model_ensemble([str(path)])[0][0]
    torch.testing.assert_close(_outputs(loaded), _outputs(model), rtol=0, atol=0)


def test_missing_normformer_weights_are_refused_naming_the_switches(tmp_path):
    """A checkpoint trained without OFA's ``--scale-attn`` / ``--scale-fc`` (no ``attn_ln``,
    ``ffn_layernorm``...) does not load into a model with them (on by default here): refused,
    naming the switches that build OFA's model without them, not filled with fresh layer norms."""
    model = _randomised_model()
    state = {key: value for key, value in model.state_dict().items()
             if not key.endswith(("attn_ln.weight", "attn_ln.bias", "ffn_layernorm.weight", "ffn_layernorm.bias"))}
    with pytest.raises(CheckpointError, match="--no-scale-attn"):
        model.load_state_dict(state)


def test_a_checkpoint_trained_with_sync_bn_is_refused(tmp_path):
    """OFA's ``--sync-bn`` builds the ResNet's BatchNorm layers with eps 1e-3
    (``BatchNorm2d`` in models/ofa/unify_transformer.py) instead of 1e-5: a checkpoint trained with
    it has the same weights and names but normalises images otherwise. It loaded and silently
    computed with eps 1e-5; it is refused in one line."""
    model = _randomised_model()
    plain, synced = tmp_path / "plain.pt", tmp_path / "sync_bn.pt"
    torch.save(_checkpoint(model.state_dict(), sync_bn=False), plain)
    torch.save(_checkpoint(model.state_dict(), sync_bn=True), synced)
    checkpoint_utils.load_model_ensemble([str(plain)])
    with pytest.raises(CheckpointError, match="--sync-bn"):
        checkpoint_utils.load_model_ensemble([str(synced)])


def test_ofa_large_feed_forward_width_does_not_follow_the_embedding_width():
    """OFA's ``ofa_large`` defaults the FFN to 4096 whatever ``--encoder-embed-dim`` says
    (models/ofa/ofa.py, ``ofa_large_architecture``), as ``ofa_base`` keeps 3072; it followed
    the embedding width here (4 x 512 = 2048 for ``--encoder-embed-dim 512``)."""
    args = model_args("ofa_large", encoder_embed_dim=512)
    assert (args.encoder_ffn_embed_dim, args.decoder_ffn_embed_dim) == (4096, 4096)
    assert model_args("ofa_base", encoder_embed_dim=512).encoder_ffn_embed_dim == 3072


def test_a_new_model_is_initialised_as_ofas_with_bert_params():
    """OFA's ``OFAModel.__init__`` applies fairseq's ``init_bert_params``: every linear layer's and
    embedding's weights drawn from N(0, 0.02), linear biases zero (torch's defaults are uniform with
    a bound of 1 / sqrt(fan_in) and N(0, 1)), what a model trained from scratch (the demo) starts from."""
    from tiny_ofa import tiny_dictionary, tiny_model

    model = tiny_model(tiny_dictionary())
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    embeddings = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    assert len(linears) > 20 and embeddings
    for module in linears + embeddings:
        assert 0.012 < module.weight.std().item() < 0.028, module
    assert all(not m.bias.any() for m in linears if m.bias is not None)


def test_the_normformer_hint_is_given_only_when_nothing_else_is_missing():
    """The hint to pass --no-scale-* is right only for a checkpoint that lacks the NormFormer weights
    alone; one that also lacks other weights is another model, and the hint would mislead."""
    model = _randomised_model()
    normformer = ("attn_ln.weight", "attn_ln.bias", "ffn_layernorm.weight", "ffn_layernorm.bias")
    state = {key: value for key, value in model.state_dict().items()
             if not key.endswith(normformer) and key != "decoder.layers.0.fc1.weight"}
    with pytest.raises(CheckpointError, match="parameters missing") as info:
        model.load_state_dict(state)
    assert "--no-scale-attn" not in str(info.value)


def test_the_resnet_is_initialised_as_ofas_and_its_batch_norm_trains_unless_frozen():
    """OFA's ResNet (models/ofa/resnet.py) draws its convolutions from Kaiming's normal with
    ``mode='fan_out'`` (std sqrt(2 / (out_channels * k * k))), which ``init_bert_params`` leaves
    alone, and BatchNorm weights 1 and biases 0; the BatchNorm parameters train, unless
    ``--freeze-resnet`` keeps them fixed."""
    model = _demo_model(resnet_type="resnet:2,2,2")
    resnet = model.encoder.embed_images
    conv = resnet.layer3[1].conv2  # 3 x 3, 64 -> 64: std sqrt(2 / 576)
    assert abs(conv.weight.std().item() / (2 / (conv.out_channels * 9)) ** 0.5 - 1) < 0.05
    stem = resnet.conv1  # 7 x 7, 3 -> 16: fan_out 784, fan_in 147
    assert abs(stem.weight.std().item() / (2 / (stem.out_channels * 49)) ** 0.5 - 1) < 0.15
    norms = _batch_norms(resnet)
    assert all(bool((m.weight == 1).all()) and not m.bias.any() for m in norms)
    assert all(p.requires_grad for m in norms for p in m.parameters())
    frozen = _demo_model(freeze_resnet=True)
    frozen_norms = _batch_norms(frozen.encoder.embed_images)
    assert frozen_norms and not any(p.requires_grad for m in frozen_norms for p in m.parameters())
    assert any(p.requires_grad for p in frozen.encoder.embed_images.parameters())


@pytest.mark.parametrize("resnet_type", ["resnet:1,1", "resnet:1,1,1,1"])
def test_a_resnet_without_exactly_three_stages_is_refused(resnet_type):
    """OFA's image embedding keeps a ResNet's first three stages (stride 16): a custom
    ``resnet:a,b`` or ``resnet:a,b,c,d`` is refused when the model is built, naming the count."""
    with pytest.raises(ValueError, match="3 ResNet stages"):
        resnet_embedding(resnet_type)


def test_training_mode_trains_the_resnets_batch_norm_unless_frozen():
    """``model.train()`` puts the ResNet's BatchNorm layers in training mode (batch statistics,
    running statistics updated), except with ``--freeze-resnet``, whose BatchNorm stays in eval mode."""
    for freeze, expected in ((False, True), (True, False)):
        model = _demo_model(freeze_resnet=freeze).train()
        norms = _batch_norms(model.encoder.embed_images)
        assert norms and all(m.training == expected for m in norms), freeze
        assert model.encoder.embed_images.layer1[0].conv1.training


@pytest.mark.parametrize("option", ["encoder_normalize_before", "decoder_normalize_before",
                                    "share_all_embeddings", "share_decoder_input_output_embed"])
def test_turning_off_one_required_option_alone_is_refused(option):
    """OFA's post-LN layers and untied embeddings are not implemented: turning off any one of the
    pre-LN or sharing options is refused when the model is built, never silently ignored."""
    with pytest.raises((CheckpointError, ConfigError), match="pre-LN|shares one token embedding"):
        _demo_model(**{option: False})


def test_a_target_dictionary_of_another_size_than_the_source_is_refused():
    """OFA's decoder scores the one token embedding built for the source dictionary (tied output
    projection): a task whose target dictionary has another size would name each predicted row by
    another symbol, so it is refused when the model is built; equal sizes build."""
    def task(source: int, target: int) -> SimpleNamespace:
        return SimpleNamespace(source_dictionary=numbered_dictionary(source),
                               target_dictionary=numbered_dictionary(target))

    with pytest.raises(CheckpointError, match="shares one dictionary"):
        OFAModel.build_model(model_args("ofa_demo", **SMALL), task(50, 60))
    model = OFAModel.build_model(model_args("ofa_demo", **SMALL), task(50, 50))
    assert model.decoder.output_projection.weight.shape[0] == 50


def test_a_non_strict_load_takes_the_weights_given_and_keeps_the_others():
    """``load_state_dict(strict=False)`` (torch's and fairseq's partial load) loads the tensors a
    state dict has and leaves the model's others, as torch does; only a strict load refuses a
    state dict that lacks some."""
    model, source = _demo_model(), _randomised_model()
    kept = {key: value.clone() for key, value in model.state_dict().items() if key.startswith("decoder.layers.")}
    encoder = {key: value for key, value in source.state_dict().items() if key.startswith("encoder.")}
    model.load_state_dict(encoder, strict=False)
    state = model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in encoder.items())
    assert all(torch.equal(state[key], value) for key, value in kept.items())
    with pytest.raises(CheckpointError, match="parameters missing from the checkpoint"):
        model.load_state_dict(encoder)


def test_the_decoders_head_count_and_ffn_width_are_its_own_options():
    """OFA's decoder layers read ``decoder_attention_heads`` and ``decoder_ffn_embed_dim``
    (models/ofa/unify_transformer_layer.py), which may differ from the encoder's: every official
    size has equal ones, so no checkpoint shows a decoder built with the encoder's values."""
    model = _demo_model(encoder_attention_heads=2, decoder_attention_heads=4, decoder_ffn_embed_dim=96)
    for layer in model.decoder.layers:
        assert (layer.self_attn.num_heads, layer.encoder_attn.num_heads, layer.fc1.out_features) == (4, 4, 96)
    for layer in model.encoder.layers:
        assert (layer.self_attn.num_heads, layer.fc1.out_features) == (2, 64)
    assert _outputs(model).shape[:2] == (2, 5)


def test_a_decoder_embedding_width_other_than_the_encoders_is_refused():
    """OFA's encoder, decoder and output projection share one token embedding, so
    ``--decoder-embed-dim`` must equal ``--encoder-embed-dim``: another width is refused in one
    line when the model is built, not left to a shape error inside the decoder."""
    with pytest.raises(CheckpointError, match="embedding dimensions must be equal"):
        _demo_model(decoder_embed_dim=2 * SMALL["encoder_embed_dim"])
