"""What the encoder makes of its inputs: a sample without an image (``patch_masks`` False, as
OFA's text-only tasks give) inside a batch with images is encoded and decoded as if it had no
image, and text tokens take OFA's (layer-normalised) positions 0..T-1."""
from __future__ import annotations

import pytest
import torch

from ofa_mue.errors import ConfigError
from tiny_ofa import tiny_batch, tiny_dictionary, tiny_model


@pytest.fixture(scope="module")
def dictionary():
    return tiny_dictionary()


def _logits(model, net_input):
    with torch.no_grad():
        encoder_out = model.encoder(net_input["src_tokens"], net_input["src_lengths"],
                                    patch_images=net_input.get("patch_images"),
                                    patch_masks=net_input.get("patch_masks"))
        logits, _ = model.decoder(net_input["prev_output_tokens"], encoder_out=encoder_out)
    return encoder_out, logits


@pytest.mark.parametrize("decompose", [False, True], ids=["joint", "decomposed"])
def test_a_sample_without_an_image_decodes_as_if_it_had_none(dictionary, decompose):
    model = tiny_model(dictionary, decompose_modalities=decompose).eval()
    net_input = dict(tiny_batch(dictionary)["net_input"])
    net_input["patch_masks"] = torch.tensor([True, False, True])
    encoder_out, logits = _logits(model, net_input)
    num_patches = encoder_out["encoder_out"][0].size(1) - net_input["src_tokens"].size(1)

    # its patches are padding, the other samples' are not
    padding = encoder_out["encoder_padding_mask"][0][:, :num_patches]
    assert padding[1].all() and not padding[[0, 2]].any()

    # its logits are those of the sample encoded without any image
    text_only = {k: v[1:2] for k, v in net_input.items() if k not in ("patch_images", "patch_masks")}
    _, alone = _logits(model, text_only)
    valid = net_input["prev_output_tokens"][1].ne(dictionary.pad())
    torch.testing.assert_close(logits[1][valid], alone[0][valid], rtol=1e-4, atol=1e-5)

    # and other pixels in its row of patch_images change nothing
    other = dict(net_input, patch_images=net_input["patch_images"].clone())
    other["patch_images"][1] = torch.randn_like(other["patch_images"][1]) * 3
    _, changed = _logits(model, other)
    torch.testing.assert_close(changed[1], logits[1])


@pytest.mark.parametrize("decompose", [False, True], ids=["joint", "decomposed"])
def test_text_tokens_take_ofas_layer_normalised_positions(dictionary, decompose):
    """OFA embeds text positions 0..T-1 and layer-normalises them (pos_ln) before its position
    bias; the encoder hands the decoder the same ``[image; text]`` position embeddings."""
    model = tiny_model(dictionary, decompose_modalities=decompose).eval()
    net_input = tiny_batch(dictionary)["net_input"]
    encoder_out, _ = _logits(model, net_input)
    length = net_input["src_tokens"].size(1)
    encoder = model.encoder
    with torch.no_grad():
        expected = encoder.pos_ln(encoder.embed_positions.weight[:length])
    torch.testing.assert_close(encoder_out["position_embeddings"][0][0, -length:], expected)


def test_the_joint_encoder_adds_each_layers_image_relative_bias_to_the_patches_only(dictionary):
    """OFA's joint encoder adds layer i's 2-D image relative bias to the patch-patch block of its
    bias (and the 1-D text bias to the text-text block)."""
    model = tiny_model(dictionary).eval()
    net_input = tiny_batch(dictionary)["net_input"]
    encoder = model.encoder
    with torch.no_grad():
        x, positions, ids = encoder.embed_image(net_input["patch_images"])
        bias = encoder._joint_bias_fn(
            {"image": (x, None, encoder.image_pos_ln(positions), ids),
             "text": (encoder.embed_text(net_input["src_tokens"])[0], None,
                      encoder.pos_ln(encoder.embed_positions.weight[:net_input["src_tokens"].size(1)][None]), None)},
            ["image", "text"])
        n, length = x.size(1), net_input["src_tokens"].size(1)
        buckets = encoder.image_rp_bucket[ids][:, ids]
        for layer in range(encoder.num_layers):
            b = bias(layer)
            image_relative = encoder.image_rel_pos_table_list[layer](buckets).permute(2, 0, 1)
            text_relative = encoder.token_rel_pos_table_list[layer](encoder.token_rp_bucket[:length, :length])
            plain = encoder._absolute_bias(torch.cat([encoder.image_pos_ln(positions), encoder.pos_ln(
                encoder.embed_positions.weight[:length][None])], 1))[0]
            torch.testing.assert_close(b[0, :, :n, :n], plain[:, :n, :n] + image_relative)
            torch.testing.assert_close(b[0, :, n:, n:], plain[:, n:, n:] + text_relative.permute(2, 0, 1))
            torch.testing.assert_close(b[0, :, :n, n:], plain[:, :n, n:])


def test_text_tokens_take_type_embedding_0_and_patches_type_1(dictionary):
    """OFA's type embeddings (``add_type_embedding``): row 0 is the text tokens', row 1 the patches'
    (a checkpoint's rows swapped would shift both modalities)."""
    encoder = tiny_model(dictionary).eval().encoder
    net_input = tiny_batch(dictionary)["net_input"]
    with torch.no_grad():
        text = encoder.embed_text(net_input["src_tokens"])[0]
        image = encoder.embed_image(net_input["patch_images"])[0]
        encoder.type_embedding.weight[1].normal_(std=1.0)
        assert torch.equal(encoder.embed_text(net_input["src_tokens"])[0], text)
        assert (encoder.embed_image(net_input["patch_images"])[0] - image).abs().max() > 1e-3


def test_a_patch_grid_as_large_as_the_image_positions_is_accepted(dictionary):
    """The demo ResNet's stride is 16 and its image positions a 16 x 16 square: 256-pixel images
    (a 16 x 16 grid) fit exactly; 272-pixel ones (17 x 17) are refused, naming the size that fits."""
    encoder = tiny_model(dictionary).eval().encoder
    with torch.no_grad():
        assert encoder.embed_image(torch.randn(1, 3, 256, 256))[0].shape[1] == 16 * 16
        with pytest.raises(ConfigError, match="use --patch-image-size 256 or less"):
            encoder.embed_image(torch.randn(1, 3, 272, 272))
