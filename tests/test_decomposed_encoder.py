"""MuE's modality-decomposed encoder: separate streams, image 2-D bias, loading OFA weights."""
from __future__ import annotations

import pytest
import torch

from ofa_mue.core.exit_policy import MuEThresholds
from ofa_mue.errors import ConfigError

from ofa_mue.criterions.layerwise_cross_entropy import LayerwiseLabelSmoothedCrossEntropy
from ofa_mue.models.position_bias import absolute_bias
from tiny_ofa import tiny_batch, tiny_dictionary, tiny_model, tiny_task


@pytest.fixture(scope="module")
def dictionary():
    return tiny_dictionary()


@pytest.fixture(scope="module")
def models(dictionary):
    """The same weights with a joint and with a decomposed encoder, in eval mode."""
    joint = tiny_model(dictionary).eval()
    decomposed = tiny_model(dictionary, seed=5, decompose_modalities=True).eval()
    decomposed.load_state_dict(joint.state_dict())
    return joint, decomposed


def encode(model, net_input, exit_session=None, **changes):
    inputs = {**net_input, **changes}
    with torch.no_grad():
        out = model.encoder(inputs["src_tokens"], inputs["src_lengths"], patch_images=inputs.get("patch_images"),
                            patch_masks=inputs.get("patch_masks"), exit_session=exit_session)
    return out["encoder_out"][0]


def image_stream_alone(encoder, images):
    """The image tokens through the encoder layers by themselves, written out step by step."""
    with torch.no_grad():
        x, positions, ids = encoder.embed_image(images)
        positions = encoder.image_pos_ln(positions)
        absolute = absolute_bias(encoder.pos_q_linear, encoder.pos_k_linear, positions, positions,
                                 encoder.num_heads, encoder.pos_scaling)
        buckets = encoder.image_rp_bucket[ids][:, ids]
        for index, layer in enumerate(encoder.layers):
            relative = encoder.image_rel_pos_table_list[index](buckets).permute(2, 0, 1).unsqueeze(0)
            x = layer(x, absolute + relative, None)
        return encoder.layer_norm(x)


def test_text_part_equals_the_text_alone_and_image_part_the_image_alone(models, dictionary):
    joint, decomposed = models
    net_input = tiny_batch(dictionary)["net_input"]
    out = encode(decomposed, net_input)
    num_patches = out.size(1) - net_input["src_tokens"].size(1)

    text_only = encode(joint, net_input, patch_images=None, patch_masks=None)
    text_valid = net_input["src_tokens"].ne(dictionary.pad())
    torch.testing.assert_close(out[:, num_patches:][text_valid], text_only[text_valid])
    torch.testing.assert_close(out[:, :num_patches], image_stream_alone(decomposed.encoder, net_input["patch_images"]))

    # the joint encoder mixes the modalities, the decomposed one does not
    assert not torch.allclose(encode(joint, net_input)[:, num_patches:][text_valid], text_only[text_valid])


def test_text_does_not_change_the_image_part(models, dictionary):
    _, decomposed = models
    net_input = tiny_batch(dictionary)["net_input"]
    other_text = net_input["src_tokens"].clone()
    other_text[:, 1:3] = torch.tensor([[20, 21]]).expand(other_text.size(0), 2)
    a, b = encode(decomposed, net_input), encode(decomposed, net_input, src_tokens=other_text)
    num_patches = a.size(1) - other_text.size(1)
    torch.testing.assert_close(a[:, :num_patches], b[:, :num_patches])
    assert not torch.allclose(a[:, num_patches:], b[:, num_patches:])


def test_image_relative_position_bias_is_used(dictionary):
    model = tiny_model(dictionary, decompose_modalities=True).eval()
    net_input = tiny_batch(dictionary)["net_input"]
    before = encode(model, net_input)
    with torch.no_grad():
        for table in model.encoder.image_rel_pos_table_list:
            table.weight.normal_(std=1.0)
    after = encode(model, net_input)
    num_patches = before.size(1) - net_input["src_tokens"].size(1)
    assert (before[:, :num_patches] - after[:, :num_patches]).abs().max() > 1e-3
    torch.testing.assert_close(before[:, num_patches:], after[:, num_patches:])


def test_published_mue_encoder_has_no_image_relative_bias(dictionary):
    """OFA's feature/MuE branch builds ``TransformerEncoder_MuE`` for checkpoints saved with
    ``train_mue``: decomposed, the image stream with the absolute position bias only. Built from
    such a config, the model equals the decomposed one with zeroed image relative tables; its
    text stream is the decomposed one's."""
    state = tiny_model(dictionary, decompose_modalities=True).state_dict()
    for name in [n for n in state if n.startswith("encoder.image_rel_pos_table_list.")]:
        state[name] = torch.randn_like(state[name])
    published = tiny_model(dictionary, train_mue=True).eval()
    assert published.encoder.decompose_modalities and not published.encoder.image_relative_bias_in_stream
    published.load_state_dict(state)
    with_bias = tiny_model(dictionary, decompose_modalities=True).eval()
    with_bias.load_state_dict(state)
    without_tables = tiny_model(dictionary, decompose_modalities=True).eval()
    without_tables.load_state_dict({n: (torch.zeros_like(v) if n.startswith("encoder.image_rel_pos_table_list.")
                                        else v) for n, v in state.items()})
    net_input = tiny_batch(dictionary)["net_input"]
    out = encode(published, net_input)
    num_patches = out.size(1) - net_input["src_tokens"].size(1)
    torch.testing.assert_close(out, encode(without_tables, net_input))
    torch.testing.assert_close(out[:, num_patches:], encode(with_bias, net_input)[:, num_patches:])
    assert (out[:, :num_patches] - encode(with_bias, net_input)[:, :num_patches]).abs().max() > 1e-3
    flag_only = tiny_model(dictionary, decompose_modalities=True, decomposed_image_without_relative_bias=True).eval()
    flag_only.load_state_dict(state)
    torch.testing.assert_close(encode(flag_only, net_input), out)


def test_the_image_bias_flag_without_a_decomposed_encoder_is_refused(dictionary):
    """--decomposed-image-without-relative-bias changes the decomposed encoder's image stream only: given
    without --decompose-modalities (a port of the published MuE code's --train_mue that forgot it) it
    would train OFA's joint encoder silently; it is refused in one line."""
    with pytest.raises(ConfigError, match=r"^--decomposed-image-without-relative-bias .* needs --decompose-modalities$"):
        tiny_model(dictionary, decomposed_image_without_relative_bias=True)


def test_undecomposed_weights_load_and_fine_tune(dictionary):
    joint = tiny_model(dictionary)
    decomposed = tiny_model(dictionary, seed=5, decompose_modalities=True).train()
    decomposed.load_state_dict(joint.state_dict(), strict=True)
    before = {name: p.detach().clone() for name, p in decomposed.named_parameters()}

    optimizer = torch.optim.Adam(decomposed.parameters(), lr=1e-3)
    criterion = LayerwiseLabelSmoothedCrossEntropy(tiny_task(dictionary), label_smoothing=0.1)
    loss, _, _ = criterion(decomposed, tiny_batch(dictionary))
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    changed = [name for name, p in decomposed.named_parameters() if not torch.equal(p, before[name])]
    for name in ("encoder.layers.0.fc1.weight", "encoder.image_rel_pos_table_list.0.weight",
                 "encoder.token_rel_pos_table_list.1.weight", "decoder.layers.0.fc1.weight"):
        assert name in changed


def test_encoder_exits_on_a_joint_encoder_are_refused(models, dictionary):
    """Exit rules need the decomposed streams: a joint encoder given one refuses in one line rather
    than running every layer and reporting a full-depth model as MuE."""
    joint, decomposed = models
    net_input = tiny_batch(dictionary)["net_input"]
    for image, text in ((0.9, 2.0), (2.0, 0.9)):
        session = MuEThresholds(image=image, text=text).session(horizon=4)
        with pytest.raises(ConfigError, match="^encoder exits need a modality-decomposed encoder"):
            encode(joint, net_input, exit_session=session)
        encode(decomposed, net_input, exit_session=session)


def test_the_longest_text_is_capped_by_the_relative_position_table(dictionary):
    """``max_positions``: ``max_source_positions``, or the token relative-position table's size where
    that is smaller (a longer text has no relative bias)."""
    long = tiny_model(dictionary, max_source_positions=4096).encoder
    table = long.token_rp_bucket.size(0)
    assert table < 4096 and long.max_positions() == table
    assert tiny_model(dictionary, max_source_positions=8).encoder.max_positions() == 8
