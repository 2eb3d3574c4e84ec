"""Figure 3's layer similarities (:mod:`ofa_mue.saturation`) beyond the decomposed encoder of
``tests/test_reproduce.py``: the joint (OFA's own) encoder measured per stream, samples without
an image left out, and the per-layer statistics the figure and its table print."""
from __future__ import annotations

import torch

from ofa_mue.core.exit_policy import stream_similarity
from ofa_mue.saturation import LayerSimilarityProbe, similarity_rows
from tiny_ofa import tiny_dictionary, tiny_model


def _net_input(dictionary, has_image):
    generator = torch.Generator().manual_seed(4)
    pad = dictionary.pad()
    src = torch.randint(4, 40, (3, 6), generator=generator)
    src[1, -2:] = pad
    return {"src_tokens": src, "src_lengths": src.ne(pad).sum(1),
            "patch_images": torch.randn(3, 3, 64, 64, generator=generator),
            "patch_masks": torch.tensor(has_image)}


def _layer_inputs_and_outputs(net, net_input):
    """Each encoder layer's (input, output, padding) in one forward pass, caught by plain hooks."""
    seen = []
    hooks = [layer.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output, inputs[2])))
             for layer in net.encoder.layers]
    try:
        net.encoder(**net_input)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def test_joint_encoder_is_measured_on_each_streams_own_positions():
    """OFA's joint encoder runs [image patches; text tokens] as one sequence: the image stream is
    its first (length - text length) positions, the text stream the rest, each measured with its
    own padding."""
    dictionary = tiny_dictionary()
    net = tiny_model(dictionary, decompose_modalities=False).eval()
    net_input = _net_input(dictionary, [True, True, True])
    text_length = net_input["src_tokens"].size(1)
    with torch.no_grad():
        seen = _layer_inputs_and_outputs(net, net_input)
        with LayerSimilarityProbe(net) as probe:
            net.encoder(**net_input)
    assert len(seen) == len(net.encoder.layers) == 2
    for layer, (x_in, x_out, padding) in enumerate(seen):
        image_length = x_in.size(1) - text_length
        assert image_length == 16  # a 4 x 4 patch grid
        image = stream_similarity(x_in[:, :image_length], x_out[:, :image_length], padding[:, :image_length])
        text = stream_similarity(x_in[:, image_length:], x_out[:, image_length:], padding[:, image_length:])
        (measured_image,), (measured_text,) = probe.values["image"][layer], probe.values["text"][layer]
        assert torch.allclose(measured_image, image, atol=1e-6), layer
        assert torch.allclose(measured_text, text, atol=1e-6), layer
        assert not torch.allclose(image, text, atol=1e-3)  # the streams are told apart


def test_samples_without_an_image_have_no_image_similarity():
    """A sample whose patch mask is off has an all-padding image stream: nothing to measure (its
    zero vectors would add cosine similarities of 0 to the figure's image panel)."""
    dictionary = tiny_dictionary()
    for decompose in (True, False):
        net = tiny_model(dictionary, decompose_modalities=decompose).eval()
        everything = _net_input(dictionary, [True, True, True])
        some = _net_input(dictionary, [True, False, True])
        with torch.no_grad():
            with LayerSimilarityProbe(net) as all_images:
                net.encoder(**everything)
            with LayerSimilarityProbe(net) as two_images:
                net.encoder(**some)
        for layer in range(len(net.encoder.layers)):
            (values,) = two_images.values["image"][layer]
            assert values.numel() == 2, (decompose, layer)
            assert (values > 0.5).all(), (decompose, layer)
            if decompose:  # the streams are independent: the two imaged samples measure as before
                (reference,) = all_images.values["image"][layer]
                assert torch.allclose(values, reference[[0, 2]], atol=1e-6)
            assert two_images.values["text"][layer][0].numel() == 3


def test_similarity_rows_number_layers_from_one_and_give_population_statistics():
    values = {"image": [[torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5]), torch.tensor([0.6, 0.7, 0.8, 0.9, 1.0])], []],
              "text": [[], [torch.tensor([0.5, 0.5])]],
              "decoder": [[torch.tensor([0.25])]]}
    rows = similarity_rows(values)
    assert [(row["part"], row["layer"], row["count"]) for row in rows] == [("image", 1, 10), ("text", 2, 2),
                                                                         ("decoder", 1, 1)]
    image = rows[0]
    data = torch.arange(1, 11, dtype=torch.double) / 10
    assert abs(image["mean"] - 0.55) < 1e-6
    assert abs(image["std"] - ((data - 0.55) ** 2).mean().sqrt().item()) < 1e-6  # population std (divide by n)
    # linear interpolation between order statistics: position q * (n - 1)
    assert abs(image["p10"] - 0.19) < 1e-6 and abs(image["median"] - 0.55) < 1e-6 and abs(image["p90"] - 0.91) < 1e-6
    assert rows[1]["std"] == 0.0 and rows[1]["p10"] == rows[1]["p90"] == 0.5
