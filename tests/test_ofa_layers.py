"""OFA's transformer layers computed step by step: the project's encoder and decoder layers give
the numbers of OFA's ``TransformerEncoderLayer`` / ``TransformerDecoderLayer``
(models/ofa/unify_transformer_layer.py of OFA-Sys/OFA) with every NormFormer option on.

OFA's pre-LN encoder layer, at inference (dropout and drop path off, whatever the checkpoint's
``--dropout``/``--attention-dropout``/``--activation-dropout``)::

    x = x + attn_ln(self_attn(self_attn_layer_norm(x)))
    x = w_resid * x + fc2(ffn_layernorm(gelu(fc1(final_layer_norm(x)))))

and its decoder layer the same with, between the two, the cross-attention block
``x = x + cross_attn_ln(encoder_attn(encoder_attn_layer_norm(x), encoder_out))``, whose keys and
values are the encoder output as it is (already normalised by the encoder's final layer norm).
The other tests compare the layers with themselves (joint against decomposed, incremental
against full passes), so a layer norm left out, moved, or applied to the wrong input, or
dropout left on at inference, would pass them all; an OFA checkpoint would silently compute
other outputs. Drop path rates grow linearly over the layers from 0, as OFA's
``torch.linspace(0, rate, layers)``.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ofa_mue.models.builders import build_model, numbered_dictionary
from ofa_mue.models.layers import LayerOptions, OFADecoderLayer, OFAEncoderLayer
from test_attention import _by_hand

OPTIONS = LayerOptions(embed_dim=16, ffn_dim=24, num_heads=4, dropout=0.3, attention_dropout=0.3,
                       activation_dropout=0.3, scale_attn=True, scale_fc=True, scale_heads=True, scale_resids=True)
"""Every NormFormer option on, and dropout that inference must not apply."""


def _randomised(layer: torch.nn.Module) -> torch.nn.Module:
    """Every parameter drawn at random (layer norm weights and NormFormer scales around 1), eval mode."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            if name.endswith(("norm.weight", "_ln.weight", "w_resid", "c_attn")):
                parameter.copy_(torch.rand(parameter.shape, generator=generator) + 0.5)
            else:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return layer.eval()


def _causal_bias(heads: int, length: int) -> torch.Tensor:
    """A random self-attention bias [1, heads, length, length] with the causal mask added."""
    return torch.randn(1, heads, length, length) + torch.triu(torch.full((length, length), float("-inf")), diagonal=1)


def _norm(module: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """A layer norm written out: (x - mean) / sqrt(var + eps) * weight + bias."""
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + module.eps) * module.weight + module.bias


def exact_gelu(x: torch.Tensor) -> torch.Tensor:
    """fairseq's ``gelu`` (OFA's activation): the exact x * Phi(x), not the tanh approximation."""
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def _feed_forward(layer, x):
    hidden = _norm(layer.ffn_layernorm, exact_gelu(F.linear(_norm(layer.final_layer_norm, x), layer.fc1.weight,
                                                       layer.fc1.bias)))
    return layer.w_resid * x + F.linear(hidden, layer.fc2.weight, layer.fc2.bias)


def test_encoder_layer_computes_ofas_pre_ln_normformer_layer():
    torch.manual_seed(0)
    layer = _randomised(OFAEncoderLayer(OPTIONS, drop_path_rate=0.3))
    x = torch.randn(2, 5, 16)
    bias = torch.randn(1, 4, 5, 5)
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    with torch.no_grad():
        ours = layer(x, bias, padding)
        h = _norm(layer.self_attn_layer_norm, x)
        x1 = x + _norm(layer.attn_ln, _by_hand(layer.self_attn, h, h, bias, padding, 2.0))
        expected = _feed_forward(layer, x1)
    torch.testing.assert_close(ours[~padding], expected[~padding], rtol=1e-5, atol=1e-5)


def test_decoder_layer_computes_ofas_pre_ln_normformer_layer():
    torch.manual_seed(1)
    layer = _randomised(OFADecoderLayer(OPTIONS, drop_path_rate=0.3))
    x, encoder_out = torch.randn(2, 4, 16), torch.randn(2, 6, 16)
    self_bias = _causal_bias(4, 4)
    cross_bias = torch.randn(1, 4, 4, 6)
    cross_padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    no_padding = torch.zeros(2, 4, dtype=torch.bool)
    with torch.no_grad():
        ours, _ = layer(x, self_attn_bias=self_bias, cross_key_value=layer.cross_key_value(encoder_out),
                        cross_attn_bias=cross_bias, cross_padding_mask=cross_padding)
        h = _norm(layer.self_attn_layer_norm, x)
        x1 = x + _norm(layer.self_attn_ln, _by_hand(layer.self_attn, h, h, self_bias, no_padding, 2.0))
        query = _norm(layer.encoder_attn_layer_norm, x1)
        x2 = x1 + _norm(layer.cross_attn_ln, _by_hand(layer.encoder_attn, query, encoder_out, cross_bias,
                                                      cross_padding, 2.0))
        expected = _feed_forward(layer, x2)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_drop_path_rates_grow_linearly_from_zero_over_the_layers_as_in_ofa():
    """OFA gives transformer layer i of L ``rate * i / (L - 1)`` (``torch.linspace(0, rate, L)``, in
    unify_transformer.py), and ResNet block j of a stage of n blocks ``resnet_rate * j / (n - 1)``
    (resnet.py's ``_make_layer``): the first layer and each stage's first block drop nothing."""
    model = build_model("ofa_demo", numbered_dictionary(40), encoder_layers=5, decoder_layers=3,
                        encoder_drop_path_rate=0.4, decoder_drop_path_rate=0.2, resnet_drop_path_rate=0.3,
                        resnet_type="resnet:3,2,1")

    def rate(module) -> float:
        return float(getattr(module, "drop_prob", 0.0))  # nn.Identity where the rate is 0

    assert [rate(layer.drop_path) for layer in model.encoder.layers] == pytest.approx([0.4 * i / 4 for i in range(5)])
    assert [rate(layer.drop_path) for layer in model.decoder.layers] == pytest.approx([0.2 * i / 2 for i in range(3)])
    resnet = model.encoder.embed_images
    stages = [[rate(block.drop_path) for block in stage] for stage in (resnet.layer1, resnet.layer2, resnet.layer3)]
    assert stages == [pytest.approx([0.0, 0.15, 0.3]), pytest.approx([0.0, 0.3]), [0.0]]


def test_each_dropout_option_sets_its_own_dropout_in_every_layer():
    """OFA's layers take ``--dropout`` for their residual branches, ``--attention-dropout`` for the
    attention weights (of self- and cross-attention) and ``--activation-dropout`` after the FFN
    activation, each its own value (OFA's fine-tuning scripts pass 0.1, 0.0 and 0.0)."""
    model = build_model("ofa_demo", numbered_dictionary(40), encoder_layers=2, decoder_layers=2,
                        dropout=0.1, attention_dropout=0.2, activation_dropout=0.3)
    for layer in [*model.encoder.layers, *model.decoder.layers]:
        assert (layer.dropout.p, layer.self_attn.dropout, layer.activation_dropout.p) == (0.1, 0.2, 0.3)
    assert all(layer.encoder_attn.dropout == 0.2 for layer in model.decoder.layers)


def test_the_activation_fn_option_sets_every_layers_ffn_activation():
    """OFA's layers take their FFN activation from ``--activation-fn`` (fairseq's names; the
    Hugging Face port's gelu_new converts to ``gelu_accurate``), gelu only by default."""
    model = build_model("ofa_demo", numbered_dictionary(40), encoder_layers=2, decoder_layers=2, activation_fn="relu")
    x = torch.tensor([-1.5, 0.5, 2.0])
    for layer in [*model.encoder.layers, *model.decoder.layers]:
        torch.testing.assert_close(layer.activation_fn(x), F.relu(x), rtol=0, atol=0)


def test_the_scale_resids_option_gives_every_layer_its_residual_scale():
    """OFA's ``--scale-resids`` (NormFormer's scaled residuals, off by default) gives every encoder
    and decoder layer its ``w_resid`` [D] weight, and the layers have none without it."""
    def build(**options):
        return build_model("ofa_demo", numbered_dictionary(40), encoder_layers=2, decoder_layers=2, **options)

    scaled, plain = build(scale_resids=True), build()
    for layer in [*scaled.encoder.layers, *scaled.decoder.layers]:
        assert layer.w_resid is not None and layer.w_resid.shape == (128,)
    assert all(layer.w_resid is None for layer in [*plain.encoder.layers, *plain.decoder.layers])


def test_resnet_embedding_computes_ofas_resnet_stem_and_first_three_stages():
    """OFA's image embedding (models/ofa/resnet.py) is a ResNet's ``maxpool(relu(bn1(conv1(x))))``
    stem and its ``layer1..layer3``: the same numbers as timm's ResNet cut after its third stage,
    given the same weights and BatchNorm statistics (eval mode)."""
    from timm.models.resnet import Bottleneck, ResNet

    from ofa_mue.models.image_embedding import resnet_embedding

    ours = resnet_embedding("resnet:2,1,1")
    reference = ResNet(block=Bottleneck, layers=(2, 1, 1, 1))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in ours.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.5)
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    missing, unexpected = reference.load_state_dict(ours.state_dict(), strict=False)
    assert not unexpected and all(key.startswith(("layer4.", "fc.")) for key in missing)
    ours.eval(), reference.eval()
    images = torch.randn(2, 3, 32, 48, generator=generator)
    with torch.no_grad():
        x = reference.maxpool(reference.act1(reference.bn1(reference.conv1(images))))
        expected = reference.layer3(reference.layer2(reference.layer1(x)))
        torch.testing.assert_close(ours(images), expected, rtol=1e-5, atol=1e-5)
    assert expected.shape == (2, 1024, 2, 3)


def test_a_decoder_layer_run_on_some_tokens_gives_them_the_full_runs_outputs_and_keeps_the_others():
    """With ``active`` selecting some tokens of rows with several positions (teacher forcing with
    exits), the running tokens get the numbers of a full run of the layer (every token still
    gives its keys and values) and the others keep their states."""
    torch.manual_seed(2)
    layer = _randomised(OFADecoderLayer(OPTIONS))
    x, encoder_out = torch.randn(3, 4, 16), torch.randn(3, 5, 16)
    self_bias = _causal_bias(4, 4)
    kwargs = dict(self_attn_bias=self_bias, cross_key_value=layer.cross_key_value(encoder_out),
                  cross_attn_bias=torch.randn(1, 4, 4, 5), cross_padding_mask=None)
    active = torch.tensor([[True, False, True, True], [False, False, False, False], [False, True, False, True]])
    with torch.no_grad():
        full, _ = layer(x, **kwargs)
        some, _ = layer(x, active=active, **kwargs)
    torch.testing.assert_close(some[active], full[active], rtol=1e-5, atol=1e-5)
    assert torch.equal(some[~active], x[~active])


def test_residual_dropout_applies_in_training_and_scaled_residuals_start_at_one():
    """OFA's layers drop out their residual branches (``--dropout``) in training only, and
    NormFormer's ``w_resid`` starts at 1 (``torch.ones``), so that a new layer's residuals are unscaled."""
    layer = OFAEncoderLayer(LayerOptions(embed_dim=16, ffn_dim=24, num_heads=4, dropout=0.5, scale_resids=True))
    assert torch.equal(layer.w_resid.detach(), torch.ones(16))
    x, bias = torch.randn(2, 5, 16), torch.zeros(1, 4, 5, 5)
    with torch.no_grad():
        inference = layer.eval()(x, bias, None)
        torch.manual_seed(0)
        training = layer.train()(x, bias, None)
    assert not torch.allclose(training, inference)
    assert torch.equal(layer.eval()(x, bias, None), inference)


@pytest.mark.parametrize("return_key_value", [True, False])
def test_a_decoder_layer_run_incrementally_on_its_cache_gives_the_full_runs_outputs(return_key_value):
    """The last position run on the cached keys/values of the earlier ones (incremental decoding)
    gives the numbers of the full causal run, whether or not the layer returns its new keys/values."""
    torch.manual_seed(3)
    layer = _randomised(OFADecoderLayer(OPTIONS))
    x, encoder_out = torch.randn(2, 4, 16), torch.randn(2, 5, 16)
    self_bias = _causal_bias(4, 4)
    cross = dict(cross_key_value=layer.cross_key_value(encoder_out), cross_padding_mask=None)
    cross_bias = torch.randn(1, 4, 4, 5)
    with torch.no_grad():
        full, _ = layer(x, self_attn_bias=self_bias, cross_attn_bias=cross_bias, **cross)
        _, cache = layer(x[:, :3], self_attn_bias=self_bias[:, :, :3, :3], cross_attn_bias=cross_bias[:, :, :3], **cross)
        last, _ = layer(x[:, 3:], self_attn_bias=self_bias[:, :, 3:], cross_attn_bias=cross_bias[:, :, 3:],
                        past_key_value=cache, return_key_value=return_key_value, **cross)
    torch.testing.assert_close(last, full[:, 3:], rtol=1e-5, atol=1e-5)


def _ofa_absolute_bias(q_linear, k_linear, query_positions, key_positions, heads: int) -> torch.Tensor:
    """OFA's absolute position bias ``(q(p_q) * pos_scaling) @ k(p_k)^T`` per head, with
    ``pos_scaling = (head_dim * attn_scale_factor) ** -0.5`` and OFA's factor 2: (batch, heads, queries, keys)."""
    def per_head(linear, positions):
        projected = F.linear(positions, linear.weight, linear.bias)
        return projected.view(projected.size(0), projected.size(1), heads, -1).transpose(1, 2)

    query = per_head(q_linear, query_positions)
    return (query * (query.size(-1) * 2.0) ** -0.5) @ per_head(k_linear, key_positions).transpose(2, 3)


def _ofa_relative_bias(table: torch.nn.Embedding, buckets: torch.Tensor) -> torch.Tensor:
    """One layer's relative position bias ``table[buckets]``: (heads, queries, keys)."""
    return F.embedding(buckets, table.weight).permute(2, 0, 1)


def _ofa_decoder_logits(decoder, tokens, encoder_states, encoder_padding, source_positions, entangled):
    """OFA's ``TransformerDecoder`` (unify_transformer.py: ``extract_features_scriptable`` and
    ``get_pos_info``, text targets, no incremental state) written out around its layers: token
    embeddings (OFA's architectures do not scale them) plus, unless ``--disable-entangle``, the raw
    position embeddings of positions 0..T-1, then ``layernorm_embedding``; the self-attention bias of layer i is
    ``(q(pos_ln(p)) * pos_scaling) @ k(pos_ln(p))^T`` with the self_pos_* projections, plus layer
    i's relative bias ``table_i[token_rp_bucket[q, k]]``, future positions masked; the
    cross-attention bias the same with the cross_pos_* projections against the encoder's position
    embeddings; ``pos_scaling = (head_dim * 2) ** -0.5``; then the final layer norm and the
    projection tied to the token embeddings."""
    length, heads = tokens.size(1), decoder.num_heads
    positions = decoder.embed_positions.weight[:length][None]
    x = F.embedding(tokens, decoder.embed_tokens.weight) + (positions if entangled else 0)
    x = _norm(decoder.layernorm_embedding, x)
    normed = _norm(decoder.pos_ln, positions)
    self_absolute = _ofa_absolute_bias(decoder.self_pos_q_linear, decoder.self_pos_k_linear, normed, normed, heads)
    cross = _ofa_absolute_bias(decoder.cross_pos_q_linear, decoder.cross_pos_k_linear, normed, source_positions, heads)
    future = torch.triu(torch.full((length, length), float("-inf"), dtype=x.dtype), diagonal=1)
    for index, layer in enumerate(decoder.layers):
        table, buckets = decoder.token_rel_pos_table_list[index], decoder.token_rp_bucket[:length, :length]
        relative = _ofa_relative_bias(table, buckets)
        x, _ = layer(x, self_attn_bias=self_absolute + relative[None] + future,
                     cross_key_value=layer.cross_key_value(encoder_states), cross_attn_bias=cross,
                     cross_padding_mask=encoder_padding)
    return F.linear(_norm(decoder.layer_norm, x), decoder.embed_tokens.weight)


@pytest.mark.parametrize("entangled", [True, False], ids=["entangled", "disentangled"])
def test_decoder_computes_ofas_embeddings_position_biases_and_output_projection(entangled):
    """The whole decoder (not one layer) gives OFA's numbers: every other decoder test compares the
    decoder with itself (exits off against fairseq's generation with the same model, incremental
    against full passes), so a position term built from the wrong projection, without pos_ln, with
    the relative buckets transposed or another layer's table, a diagonal masked, or the final layer
    norm left out would pass them all."""
    model = build_model("ofa_demo", numbered_dictionary(40), decoder_layers=3, disable_entangle=not entangled)
    decoder = _randomised(model.decoder).double()
    assert decoder.embed_scale == 1.0 and decoder.layernorm_embedding is not None
    generator = torch.Generator().manual_seed(11)
    tokens = torch.randint(4, 40, (2, 7), generator=generator)
    encoder_states = torch.randn(2, 5, 128, generator=generator, dtype=torch.float64)
    source_positions = torch.randn(2, 5, 128, generator=generator, dtype=torch.float64)
    encoder_padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    encoder_out = {"encoder_out": [encoder_states], "encoder_padding_mask": [encoder_padding],
                   "position_embeddings": [source_positions]}
    with torch.no_grad():
        ours, _ = decoder(tokens, encoder_out=encoder_out)
        expected = _ofa_decoder_logits(decoder, tokens, encoder_states, encoder_padding, source_positions, entangled)
    torch.testing.assert_close(ours, expected, rtol=1e-9, atol=1e-9)


def _ofa_encoder_states(encoder, tokens, images, image_present):
    """OFA's ``TransformerEncoder.forward_scriptable`` (unify_transformer.py, with
    ``get_patch_images_info``, ``forward_embedding``, ``get_rel_pos_bias`` and
    ``get_image_rel_pos_bias``; one image, no prompts) written out around its layers: patches
    ``embed_scale * image_proj(resnet(images))`` and tokens ``embed_scale * embed_tokens``, each
    plus (``--entangle-position-embedding``) its raw position embeddings (tokens 0..T-1, patches
    ``1 + row * image_bucket_size + col``) and its type embedding (1 image, 0 text), through
    ``patch_layernorm_embedding`` / ``layernorm_embedding``; the sequence ``[image; text]`` with
    padding zeroed (a sample without an image has all its patches padding); the bias of layer i is
    ``(q(p) * pos_scaling) @ k(p)^T`` over ``p = [image_pos_ln(image positions); pos_ln(token
    positions)]`` plus, on the text block, ``token_rel_pos_table_i[token_rp_bucket]`` and, on the
    image block, ``image_rel_pos_table_i[image_rp_bucket[ids][:, ids]]``; then the final layer norm."""
    batch, length = tokens.shape
    features = encoder.embed_images(images)
    height, width = features.shape[-2:]
    ids = (torch.arange(width)[None, :].expand(height, width)
           + torch.arange(height)[:, None] * encoder.image_bucket_size + 1).reshape(-1)
    patches = height * width
    image_pos = F.embedding(ids, encoder.embed_image_positions.weight)[None]
    token_pos = F.embedding(torch.arange(length), encoder.embed_positions.weight)[None]
    image_x = encoder.embed_scale * F.linear(features.flatten(2).transpose(1, 2), encoder.image_proj.weight,
                                             encoder.image_proj.bias)
    image_x = _norm(encoder.patch_layernorm_embedding, image_x + image_pos + encoder.type_embedding.weight[1])
    text_x = encoder.embed_scale * F.embedding(tokens, encoder.embed_tokens.weight)
    text_x = _norm(encoder.layernorm_embedding, text_x + token_pos + encoder.type_embedding.weight[0])
    padding = torch.cat([(~image_present)[:, None].expand(batch, patches), tokens.eq(encoder.padding_idx)], dim=1)
    x = torch.cat([image_x, text_x], dim=1) * (1 - padding[..., None].to(image_x.dtype))
    positions = torch.cat([_norm(encoder.image_pos_ln, image_pos), _norm(encoder.pos_ln, token_pos)], dim=1)
    absolute = _ofa_absolute_bias(encoder.pos_q_linear, encoder.pos_k_linear, positions, positions, encoder.num_heads)
    image_buckets = encoder.image_rp_bucket[ids[:, None], ids[None, :]]
    for index, layer in enumerate(encoder.layers):
        bias = absolute.clone()
        bias[:, :, -length:, -length:] += _ofa_relative_bias(encoder.token_rel_pos_table_list[index],
                                                            encoder.token_rp_bucket[:length, :length])
        bias[:, :, :patches, :patches] += _ofa_relative_bias(encoder.image_rel_pos_table_list[index], image_buckets)
        x = layer(x, bias, padding)
    return _norm(encoder.layer_norm, x), padding, positions


def test_encoder_computes_ofas_embeddings_position_biases_and_final_layer_norm():
    """The whole encoder (joint, exits off) gives OFA's numbers: the other encoder tests compare
    it with itself (decomposed against joint, exits against no exits) or need OFA's source, so
    entangled position embeddings left off one stream, embed_scale left off the patches or the
    tokens, the text's layernorm_embedding or pos_ln used for the image stream (or the other way
    round), pos_scaling without attn_scale_factor, or patch position ids of the transposed grid
    would pass them all."""
    model = build_model("ofa_demo", numbered_dictionary(40), encoder_layers=2, no_scale_embedding=False)
    encoder = _randomised(model.encoder).double()
    assert encoder.embed_scale != 1.0 and encoder.entangle_position_embedding and not encoder.decompose_modalities
    generator = torch.Generator().manual_seed(13)
    tokens = torch.randint(4, 40, (2, 6), generator=generator)
    tokens[1, 4:] = encoder.padding_idx
    images = torch.randn(2, 3, 32, 48, generator=generator, dtype=torch.float64)
    image_present = torch.tensor([True, False])
    with torch.no_grad():
        ours = encoder(tokens, patch_images=images, patch_masks=image_present)
        states, padding, positions = _ofa_encoder_states(encoder, tokens, images, image_present)
    assert states.shape == (2, 6 + 6, 128)
    torch.testing.assert_close(ours["encoder_out"][0], states, rtol=1e-9, atol=1e-9)
    assert torch.equal(ours["encoder_padding_mask"][0], padding)
    torch.testing.assert_close(ours["position_embeddings"][0], positions, rtol=1e-9, atol=1e-9)
