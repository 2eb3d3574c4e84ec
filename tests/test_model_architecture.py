"""The OFA model: published sizes, official key layout, forward pass, checkpoint fit errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from ofa_mue.models.builders import build_meta_model, build_model, model_args, numbered_dictionary
from ofa_mue.data.images import image_transform
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.errors import CheckpointError
from ofa_mue.models.ofa import check_state_dict_fits
from ofa_mue.models.position_bias import BUCKET_TABLE_POSITIONS
from test_ofa_layers import exact_gelu
from tiny_ofa import tiny_batch, tiny_dictionary, tiny_model

# OFA's model card / module definitions, in millions of parameters (tied embeddings once).
PUBLISHED_SIZES = {"ofa_tiny": 33.5, "ofa_medium": 92.9, "ofa_base": 182.2, "ofa_large": 473.0, "ofa_huge": 929.5}


@pytest.mark.parametrize("arch", sorted(PUBLISHED_SIZES))
def test_parameter_count_matches_published_size(arch):
    model = build_meta_model(arch)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert millions == pytest.approx(PUBLISHED_SIZES[arch], rel=0.01)


def test_a_meta_model_holds_no_weights():
    """build_meta_model gives shapes and names only: every weight on the meta device, none allocated
    nor initialised (ofa_huge's would take gigabytes and minutes)."""
    model = build_meta_model("ofa_tiny")
    assert all(parameter.is_meta for parameter in model.parameters())


MANIFESTS = Path(__file__).parent / "fixtures" / "ofa_state_dict"


def _manifest(arch: str) -> dict[str, tuple[int, ...]]:
    """Keys and shapes recorded from OFA's reference implementation (one ``key<TAB>shape`` per line)."""
    lines = (MANIFESTS / f"{arch}.tsv").read_text().splitlines()
    entries = (line.split("\t") for line in lines if not line.startswith("#"))
    return {key: tuple(int(n) for n in shape.split(",") if n) for key, shape in entries}


@pytest.mark.parametrize("arch", sorted(PUBLISHED_SIZES))
def test_state_dict_names_and_shapes_equal_ofa_reference(arch):
    ours = {k: tuple(v.shape) for k, v in build_meta_model(arch).state_dict().items()}
    reference = _manifest(arch)
    assert sorted(set(reference) - set(ours)) == []
    assert sorted(set(ours) - set(reference)) == []
    assert {k: v for k, v in ours.items() if reference[k] != v} == {}


@pytest.mark.parametrize(
    "arch, dim, ffn, layers, heads",
    [("ofa_tiny", 256, 1024, 4, 4), ("ofa_medium", 512, 2048, 4, 8), ("ofa_base", 768, 3072, 6, 12),
     ("ofa_large", 1024, 4096, 12, 16), ("ofa_huge", 1280, 5120, 24, 16)],
)
def test_key_shapes_follow_ofa_layout(arch, dim, ffn, layers, heads):
    shapes = {k: tuple(v.shape) for k, v in build_meta_model(arch).state_dict().items()}
    assert shapes["encoder.embed_tokens.weight"] == (59457, dim)
    assert shapes["decoder.output_projection.weight"] == (59457, dim)
    assert shapes["encoder.embed_positions.weight"] == (1026, dim)
    assert shapes["encoder.embed_image_positions.weight"] == (1765, dim)
    assert shapes["encoder.image_proj.weight"] == (dim, 1024)
    assert shapes["encoder.token_rp_bucket"] == (1024, 1024)
    assert shapes["encoder.image_rp_bucket"] == (1765, 1765)
    assert shapes["decoder.image_position_idx"] == (1026,)
    last = layers - 1
    assert shapes[f"encoder.layers.{last}.self_attn.c_attn"] == (heads,)
    assert shapes[f"encoder.layers.{last}.ffn_layernorm.weight"] == (ffn,)
    assert shapes[f"encoder.layers.{last}.attn_ln.weight"] == (dim,)
    assert shapes[f"encoder.token_rel_pos_table_list.{last}.weight"] == (511, heads)
    assert shapes[f"encoder.image_rel_pos_table_list.{last}.weight"] == (6892, heads)
    assert f"encoder.layers.{layers}.fc1.weight" not in shapes
    decoder_layers = 12 if arch == "ofa_huge" else layers
    d_last = decoder_layers - 1
    for name in ("self_attn_ln", "cross_attn_ln", "encoder_attn_layer_norm", "self_attn_layer_norm"):
        assert shapes[f"decoder.layers.{d_last}.{name}.weight"] == (dim,)
    assert shapes[f"decoder.layers.{d_last}.encoder_attn.c_attn"] == (heads,)
    assert f"decoder.layers.{decoder_layers}.fc1.weight" not in shapes


@pytest.mark.parametrize("arch", sorted(PUBLISHED_SIZES))
def test_embeddings_enter_unscaled_as_in_ofa(arch):
    """OFA's architectures set no_scale_embedding: token and image embeddings enter the encoder
    and decoder at scale 1, not sqrt(width), a default that no parameter's shape shows."""
    model = build_meta_model(arch)
    assert (model.encoder.embed_scale, model.decoder.embed_scale) == (1.0, 1.0)


@pytest.mark.parametrize("arch", sorted(PUBLISHED_SIZES))
def test_architecture_defaults_no_shape_shows_are_ofas(arch):
    """OFA's ``ofa_large_architecture`` (models/ofa/ofa.py), which every size calls, defaults
    ``attn_scale_factor`` to 2 (attention and position-bias queries scaled by
    ``(head_dim * 2) ** -0.5``), ``activation_fn`` to the exact gelu, every dropout and drop path
    rate to 0, and leaves ``entangle_position_embedding`` and ``disable_entangle`` off (positions
    enter the encoder as attention biases only, and are added to the decoder's token
    embeddings): no parameter's shape shows any of them."""
    args = model_args(arch)
    assert (args.attn_scale_factor, args.activation_fn) == (2.0, "gelu")
    assert [getattr(args, name) for name in ("dropout", "attention_dropout", "activation_dropout",
                                             "encoder_drop_path_rate", "decoder_drop_path_rate",
                                             "resnet_drop_path_rate")] == [0.0] * 6
    assert (args.entangle_position_embedding, args.disable_entangle) == (False, False)
    model = build_meta_model(arch)
    head_dim = args.encoder_embed_dim // args.encoder_attention_heads
    for attention in (model.encoder.layers[0].self_attn, model.decoder.layers[0].encoder_attn):
        assert attention.scaling == pytest.approx((head_dim * 2) ** -0.5)
    assert model.encoder.pos_scaling == model.decoder.pos_scaling == pytest.approx((head_dim * 2) ** -0.5)
    x = torch.tensor([-1.5, 0.5, 2.0])
    # within rounding (1e-6: the erf form and torch's gelu differ by an ulp on some CPUs); the tanh form is >= 1.7e-5 off
    torch.testing.assert_close(model.encoder.layers[0].activation_fn(x), exact_gelu(x), rtol=0, atol=1e-6)
    assert (model.encoder.entangle_position_embedding, model.decoder.add_positions_to_tokens) == (False, True)


def _scene(colour: str) -> Image.Image:
    image = Image.new("RGB", (128, 128), "white")
    ImageDraw.Draw(image).ellipse((30, 30, 100, 100), fill=colour)
    return image


@pytest.fixture(scope="module")
def demo_model():
    vocab = OFAVocabulary.load()
    torch.manual_seed(0)
    model = build_model("ofa_demo", vocab.dictionary).eval()
    return model, vocab


def test_demo_forward_on_real_image_and_text(demo_model):
    model, vocab = demo_model
    transform = image_transform(128)
    images = torch.stack([transform(_scene("red")), transform(_scene("blue"))])
    prompt = vocab.encode(" what does the image describe?", add_bos=True, add_eos=True)
    src = prompt.repeat(2, 1)
    prev = vocab.encode(" a red circle", add_bos=True).repeat(2, 1)
    with torch.no_grad():
        logits, _ = model(src, torch.tensor([src.size(1)] * 2), prev, patch_images=images,
                          patch_masks=torch.ones(2, dtype=torch.bool))
    assert logits.shape == (2, prev.size(1), len(vocab.dictionary))
    assert torch.isfinite(logits).all()
    assert not torch.allclose(logits[0], logits[1]), "the image must change the prediction"


def test_image_patches_take_ofas_position_ids(demo_model):
    """OFA numbers the patch at (row, col) 1 + row * image_bucket_size + col (42 in OFA's
    architectures, 16 in ofa_demo), whatever the grid's own width: the encoder of a 128-pixel
    image (an 8 x 8 grid) reads rows 1..8, 17..24, ..., 113..120 of embed_image_positions (then
    image_pos_ln, as OFA)."""
    model, vocab = demo_model
    assert model.encoder.image_bucket_size == 16
    image = image_transform(128)(_scene("red")).unsqueeze(0)
    src = vocab.encode(" what does the image describe?", add_bos=True, add_eos=True).unsqueeze(0)
    with torch.no_grad():
        out = model.encoder(src, torch.tensor([src.size(1)]), patch_images=image,
                            patch_masks=torch.ones(1, dtype=torch.bool))
    ofa_ids = [1 + row * 16 + col for row in range(8) for col in range(8)]
    assert out["position_embeddings"][0].shape[1] == len(ofa_ids) + src.size(1)  # [image; text]
    with torch.no_grad():
        expected = model.encoder.image_pos_ln(model.encoder.embed_image_positions.weight[ofa_ids])
    torch.testing.assert_close(out["position_embeddings"][0][0, :len(ofa_ids)], expected)


def test_padding_does_not_change_outputs(demo_model):
    model, vocab = demo_model
    image = image_transform(128)(_scene("green")).unsqueeze(0)
    short = vocab.encode(" a circle", add_bos=True, add_eos=True)
    long = vocab.encode(" what does the image describe?", add_bos=True, add_eos=True)
    pad = vocab.dictionary.pad()
    src = torch.full((2, long.numel()), pad)
    src[0, : short.numel()] = short
    src[1] = long
    prev = vocab.encode(" a green", add_bos=True).repeat(2, 1)
    with torch.no_grad():
        batched, _ = model(src, None, prev, patch_images=image.repeat(2, 1, 1, 1))
        alone, _ = model(short.unsqueeze(0), None, prev[:1], patch_images=image)
    torch.testing.assert_close(batched[0], alone[0], atol=1e-4, rtol=1e-4)


def test_checkpoint_of_another_architecture_is_refused(demo_model):
    model, vocab = demo_model
    other = build_model("ofa_demo", vocab.dictionary, encoder_embed_dim=64, encoder_attention_heads=2,
                        decoder_attention_heads=2).state_dict()
    with pytest.raises(CheckpointError, match="another architecture"):
        check_state_dict_fits(model, other)
    with pytest.raises(CheckpointError, match="another architecture"):
        model.load_state_dict(other)


def test_checkpoint_with_another_vocabulary_is_refused(demo_model):
    model, _ = demo_model
    other = build_model("ofa_demo", numbered_dictionary(1000)).state_dict()
    with pytest.raises(CheckpointError, match="vocabulary of 1000 symbols"):
        model.load_state_dict(other)


def test_checkpoint_with_other_layer_shapes_is_refused_naming_the_first_and_their_count(demo_model):
    """Same width, depth and vocabulary, a decoder feed-forward of 256 instead of ofa_demo's 512:
    each of the 6 decoder layers has 5 tensors of another shape (fc1's weight and bias, fc2's
    weight, NormFormer's ffn_layernorm weight and bias), 30 in all; the first is decoder layer 0's
    fc1 weight, [256, 128] in the checkpoint and [512, 128] in the model. A clear error, not torch's
    list of size mismatches."""
    model, vocab = demo_model
    other = build_model("ofa_demo", vocab.dictionary, decoder_ffn_embed_dim=256).state_dict()
    with pytest.raises(CheckpointError) as error:
        model.load_state_dict(other)
    assert str(error.value) == (
        "the checkpoint does not fit the model built with --arch ofa_demo: 30 shape mismatches (first: "
        "decoder.layers.0.fc1.weight is [256, 128] in the checkpoint, [512, 128] in the model). It belongs to "
        "another architecture or was built with other options.")


def test_checkpoint_with_other_depth_is_refused(demo_model):
    model, vocab = demo_model
    deeper = build_model("ofa_demo", vocab.dictionary, encoder_layers=7).state_dict()
    with pytest.raises(CheckpointError, match="unexpected parameters"):
        model.load_state_dict(deeper)


@pytest.mark.parametrize("arch", [*sorted(PUBLISHED_SIZES), "ofa_demo"])
def test_architecture_defaults_leave_the_switches_no_shape_shows_off(arch):
    """What a checkpoint of OFA's (whose saved options lack this project's) is built with: OFA's joint
    encoder (no modality decomposition, the image stream with its relative bias), a ResNet whose
    BatchNorm layers train, a trainable token embedding and no scaled residuals."""
    args = model_args(arch)
    assert [getattr(args, name) for name in ("decompose_modalities", "decomposed_image_without_relative_bias",
                                             "freeze_resnet", "freeze_encoder_embedding", "freeze_decoder_embedding",
                                             "scale_resids")] == [False] * 6


def test_longest_input_and_target_are_the_options_capped_by_the_position_table():
    """A position beyond the text relative-position table has no bucket: the longest text input and
    target are --max-source-positions and --max-target-positions, or the table's size when that is less."""
    with torch.device("meta"):
        short = build_model("ofa_tiny", numbered_dictionary(60), max_source_positions=40, max_target_positions=48)
        long = build_model("ofa_tiny", numbered_dictionary(60), max_source_positions=4000, max_target_positions=5000)
    assert short.max_positions() == (40, 48)
    assert long.max_positions() == (BUCKET_TABLE_POSITIONS, BUCKET_TABLE_POSITIONS)


def test_the_decoder_drops_out_its_input_embeddings_in_training_only():
    """OFA applies --dropout to the decoder's input embeddings while training (about that share of
    the features is zeroed before the first layer); inference keeps every feature."""
    dictionary = tiny_dictionary()
    net = tiny_model(dictionary, dropout=0.5)
    net_input = tiny_batch(dictionary)["net_input"]
    seen = []
    hook = net.decoder.layers[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        with torch.no_grad():
            torch.manual_seed(0)
            net.train()
            net(**net_input)
            net.eval()
            net(**net_input)
    finally:
        hook.remove()
    training, inference = (x.eq(0).float().mean().item() for x in seen)
    assert 0.4 < training < 0.6 and inference == 0.0


def test_the_demo_architecture_adds_positions_to_its_encoder_embeddings():
    """``ofa_demo`` (unlike the official sizes) defaults OFA's ``--entangle-position-embedding`` on,
    as its docstring says: its small model learns where things are only with positions added to the
    patch and token vectors, and a demo trained without it names objects out of reading order."""
    assert model_args("ofa_demo").entangle_position_embedding is True
    assert build_model("ofa_demo", numbered_dictionary(40)).encoder.entangle_position_embedding
    assert not build_model("ofa_demo", numbered_dictionary(40),
                           entangle_position_embedding=False).encoder.entangle_position_embedding
