"""FLOPs counted from shapes (ofa_mue.core.flops): a hand count on a tiny model, and the count
of a real generation with mixed exits against torch's FLOP counter."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
from ofa_mue.core.exit_policy import EntropyPolicy, FixedDepth, PatiencePolicy, StreamSimilarityExit
from ofa_mue.core.flops import PARTS, ModelShape, at_full_depth, example_flops, flops_summary
from ofa_mue.core.time_reduction import ExampleLayers
from ofa_mue.models.decoder import MIN_CACHED_POSITIONS
from tiny_ofa import IMAGE_SIZE, VOCAB_SIZE, tiny_dictionary, tiny_model

D, F = 32, 64  # tiny_model's width and feed-forward size


@pytest.fixture(scope="module")
def model():
    return tiny_model(tiny_dictionary(), decompose_modalities=True).eval()


def test_counts_equal_a_hand_count_on_a_tiny_model(model):
    shape = ModelShape.of(model, IMAGE_SIZE)
    assert (shape.dim, shape.ffn, shape.encoder_layers, shape.decoder_layers, shape.vocab) == (D, F, 2, 3, VOCAB_SIZE)
    # 64 px image -> 4 x 4 patches; 7 text tokens; two decoder tokens at positions 0 and 1 ran 2 and 3 of
    # the 3 layers (one row, with a cache); every stream and token tested after each layer it ran but the last
    example = ExampleLayers(image_layers=1, image_tokens=16, text_layers=2, text_tokens=7, decoder_layer_sum=5,
                            decoder_tokens=2, decoder_key_sum=1 + 2, decoder_key_layer_sum=1 * 2 + 2 * 3,
                            decoder_kv_layer_sum=3 + 3, decoder_rows=1, decoder_deepest=3, image_tests=1,
                            text_tests=1, decoder_tests=2 + 2)
    # ResNet "1,1,1" with a 16-channel stem: conv1 7x7 3->16 /2 (64 -> 32 px), maxpool /2, then one
    # bottleneck per stage (1x1, 3x3 with the stride, 1x1, and a 1x1 downsample); 2 FLOPs per multiply-add
    stem = 2 * 3 * 49 * 16 * 32 * 32
    stage1 = 2 * 256 * (16 * 16 + 16 * 9 * 16 + 16 * 64 + 16 * 64)  # 16 x 16 px
    stage2 = 2 * 256 * 64 * 32 + 2 * 64 * (32 * 9 * 32 + 32 * 128 + 64 * 128)  # 16 px in, 8 x 8 out
    stage3 = 2 * 64 * 128 * 64 + 2 * 16 * (64 * 9 * 64 + 64 * 256 + 128 * 256)  # 8 px in, 4 x 4 out
    assert stem + stage1 + stage2 + stage3 == 14_778_368
    image_proj = 2 * 16 * 256 * D
    # an encoder layer over n tokens: q/k/v/out 4 * 2nD^2, FFN 2 * 2nDF, attention 2 * 2n^2 D
    image_stream = 1 * (16 * (8 * D * D + 4 * D * F) + 4 * 16 * 16 * D)
    text_stream = 2 * (7 * (8 * D * D + 4 * D * F) + 4 * 7 * 7 * D)
    # a decoder layer run by a token: self/cross q and out 4 * 2D^2, FFN 2 * 2DF, attention over its keys
    # and the 23 encoder tokens 4D(keys + 23); self keys/values 2 * 2D^2 at every layer (cache); the
    # encoder's keys/values for the row at layers 1..3: 3 * 23 * 2 * 2D^2
    decoder = (2 * (8 * D * D + 4 * D * F + 4 * D * (1 + 23)) + 3 * (8 * D * D + 4 * D * F + 4 * D * (2 + 23))
               + 2 * 3 * 4 * D * D + 3 * 23 * 4 * D * D)
    tests = 6 * D * 16 + 6 * D * 7 + 4 * 6 * D
    output = 2 * 2 * D * VOCAB_SIZE
    counts = example_flops(shape, example)
    assert counts == {"image_embedding": 14_778_368 + image_proj, "image_stream": image_stream,
                      "text_stream": text_stream, "decoder_layers": decoder, "exit_tests": tests,
                      "output_projection": output, "total": 14_778_368 + image_proj + image_stream + text_stream
                      + decoder + tests + output}
    summary = flops_summary(shape, [example])
    full = (14_778_368 + image_proj + 2 * (16 * (8 * D * D + 4 * D * F) + 4 * 16 * 16 * D) + text_stream
            + 3 * (8 * D * D + 4 * D * F + 4 * D * (1 + 23)) + 3 * (8 * D * D + 4 * D * F + 4 * D * (2 + 23))
            + 2 * 3 * 4 * D * D + 3 * 23 * 4 * D * D + output)
    assert summary["full_depth_gflops_per_example"] == pytest.approx(full / 1e9)
    assert summary["flops_reduction"] == pytest.approx(1 - counts["total"] / full)


def test_session_sums_each_samples_decoder_calls_by_hand():
    """Two input samples, a 3-layer decoder: two generation steps (beam 2; a finished row's token does
    not count), then calls of two positions: a verification pass (cached, no exit test) of sample 0
    and a teacher-forced row (no cache, its second position padding) of sample 1."""
    session = ExitSession()
    session.record_stream("image", torch.tensor([1, 3]), torch.tensor([16, 9]), torch.tensor([1, 2]))
    session.record_stream("text", torch.tensor([2, 2]), torch.tensor([7, 5]), torch.tensor([2, 0]))
    yes, no = True, False
    session.record_decoder(torch.tensor([[1], [3], [2], [2]]), torch.tensor([[yes]] * 4), torch.tensor([0, 0, 1, 1]),
                           keys=5, cached=True, tested=True, depth=3)
    session.record_decoder(torch.tensor([[2], [1], [3]]), torch.tensor([[yes], [yes], [no]]), torch.tensor([0, 1, 1]),
                           keys=6, cached=True, tested=True, depth=3)
    session.record_decoder(torch.tensor([[3, 3]]), torch.tensor([[yes, yes]]), torch.tensor([0]),
                           keys=4, cached=True, tested=False, depth=3)
    session.record_decoder(torch.tensor([[1, 2]]), torch.tensor([[yes, no]]), torch.tensor([1]),
                           keys=2, cached=False, tested=True, depth=3)
    # sample 0: tokens of layers 1, 3 (keys 5), 2 (keys 6), then 3, 3 (keys 4; cache: every layer projects
    # keys/values; no test); tests after each layer but the last, up to layer 2: 1 + 2 + 2; at most 2 rows a call
    first = ExampleLayers(image_layers=1, image_tokens=16, text_layers=2, text_tokens=7, decoder_layer_sum=1 + 3 + 2 + 6,
                          decoder_tokens=5, decoder_key_sum=5 + 5 + 6 + 4 * 2,
                          decoder_key_layer_sum=5 * 1 + 5 * 3 + 6 * 2 + 4 * 6, decoder_kv_layer_sum=3 * 5,
                          decoder_rows=2, decoder_deepest=3, image_tests=1, text_tests=2, decoder_tests=1 + 2 + 2)
    # sample 1: layers 2, 2 (keys 5), 1 (keys 6; its row's other token finished after 3 layers: not counted),
    # then one token of 1 layer (keys 2) whose row's keys/values ran the row's deepest layer, 2
    second = ExampleLayers(image_layers=3, image_tokens=9, text_layers=2, text_tokens=5, decoder_layer_sum=2 + 2 + 1 + 1,
                           decoder_tokens=4, decoder_key_sum=5 + 5 + 6 + 2,
                           decoder_key_layer_sum=5 * 2 + 5 * 2 + 6 * 1 + 2 * 1, decoder_kv_layer_sum=3 * 3 + 2,
                           decoder_rows=2, decoder_deepest=2, image_tests=2, text_tests=0, decoder_tests=2 + 2 + 1 + 1)
    assert session.example_layers() == [first, second]


def test_joint_encoder_and_the_split_reduction():
    """A joint (not decomposed) encoder is one stream of image and text tokens; the split's FLOPs
    reduction weighs each example by its FLOPs (ratio of sums), not a mean of per-example ratios."""
    joint = ModelShape.of(tiny_model(tiny_dictionary(), decompose_modalities=False).eval(), IMAGE_SIZE)
    assert not joint.decomposed
    example = ExampleLayers(image_layers=2, image_tokens=16, text_layers=1, text_tokens=7)
    counts = example_flops(joint, example)
    # one layer over the 23 tokens attending to each other, not 16 and 7 apart
    assert counts["text_stream"] == 23 * (8 * D * D + 4 * D * F) + 4 * 23 * 23 * D
    assert counts["image_stream"] == 0
    # a text-only example (small) that ran half the encoder, and an image example (large) at full depth
    shape = ModelShape.of(tiny_model(tiny_dictionary(), decompose_modalities=True).eval(), IMAGE_SIZE)
    small = ExampleLayers(image_layers=0, image_tokens=0, text_layers=1, text_tokens=7)
    large = at_full_depth(shape, ExampleLayers(image_layers=2, image_tokens=16, text_layers=2, text_tokens=7))
    used = example_flops(shape, small)["total"] + example_flops(shape, large)["total"]
    full = example_flops(shape, at_full_depth(shape, small))["total"] + example_flops(shape, large)["total"]
    reduction = flops_summary(shape, [small, large])["flops_reduction"]
    assert reduction == pytest.approx(1 - used / full)
    assert example_flops(shape, small)["total"] == example_flops(shape, at_full_depth(shape, small))["total"] / 2
    assert reduction < 0.05  # the large example weighs most; the mean of the two ratios would be 0.25


def test_the_summary_gives_means_per_example_by_part_as_run_and_at_full_depth(model):
    """Two examples, one text-only at half depth and one with an image at one of two layers: each
    part's GFLOPs is the mean of the two examples' counts, as run and at full depth (which differ);
    no examples is refused."""
    shape = ModelShape.of(model, IMAGE_SIZE)
    examples = [ExampleLayers(image_layers=0, image_tokens=0, text_layers=1, text_tokens=7),
                ExampleLayers(image_layers=1, image_tokens=16, text_layers=2, text_tokens=7)]
    used = [example_flops(shape, example) for example in examples]
    full = [example_flops(shape, at_full_depth(shape, example)) for example in examples]
    summary = flops_summary(shape, examples)
    run, at_full = summary["parts_gflops"], summary["full_depth_parts_gflops"]
    for part in PARTS:
        assert run[part] == pytest.approx((used[0][part] + used[1][part]) / 2 / 1e9), part
        assert at_full[part] == pytest.approx((full[0][part] + full[1][part]) / 2 / 1e9), part
    assert summary["gflops_per_example"] == pytest.approx((used[0]["total"] + used[1]["total"]) / 2 / 1e9)
    assert at_full["image_stream"] == pytest.approx(2 * run["image_stream"]) and run["image_stream"] > 0
    with pytest.raises(ValueError, match="FLOPs of an empty set of examples"):
        flops_summary(shape, [])


@dataclass(frozen=True)
class ChooseByRow:
    """Row r of a generation step stops after layer (r mod 3) + 1."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return tokens % 3 == layer


@dataclass(frozen=True)
class MixedExits:
    """Image stream: one layer; text stream: MuE's similarity rule; decoder rows by :class:`ChooseByRow`."""

    def session(self, horizon, project=None):
        return ExitSession({"image": FixedDepth(1), "text": StreamSimilarityExit(2.0)}, ChooseByRow())


def counted_generation(model, policy) -> tuple:
    """One sample (7 text tokens, one image) generated with beam 3 and exactly 4 tokens under
    ``policy``: its :class:`ExampleLayers` and the FLOPs torch's counter saw."""
    generator = torch.Generator().manual_seed(3)
    src = torch.randint(4, VOCAB_SIZE, (1, 7), generator=generator)
    sample = {"id": torch.arange(1), "net_input": {
        "src_tokens": src, "src_lengths": torch.tensor([7]), "patch_masks": torch.ones(1, dtype=torch.bool),
        "patch_images": torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)}}
    search = EarlyExitSequenceGenerator([model], tiny_dictionary(), policy=policy, beam_size=3, max_len_b=4, min_len=4)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        search.generate([model], sample)
    (example,) = search.last_example_layers
    return example, counter.get_total_flops()


def position_bias_flops() -> int:
    """The position-bias tables of :func:`counted_generation`'s sample, which the count leaves out and
    torch's counter sees (16 image and 7 text tokens; the decoder's cached positions)."""
    streams, source, capacity = (16, 7), 16 + 7, MIN_CACHED_POSITIONS
    return (sum(4 * n * D * D + 2 * n * n * D for n in streams)  # encoder: q/k of positions, q.k
            + 4 * capacity * D * D + 2 * capacity * capacity * D  # decoder self-attention bias
            + 2 * capacity * D * D + 2 * source * D * D + 2 * capacity * source * D)  # cross-attention bias


def test_counts_of_a_generation_with_exits_equal_torchs_flop_counter(model):
    """Batch 1, beam 3, rows stopping after layers 1, 2 and 3: every matrix product torch counts is
    in the count (exit tests are not matrix products; position-bias tables are counted here by hand)."""
    example, torch_flops = counted_generation(model, MixedExits())
    assert (example.image_layers, example.text_layers) == (1, 2) and example.decoder_rows == 3
    assert example.decoder_layer_sum == 2 * example.decoder_tokens, "rows stop after 1, 2 and 3 layers"
    counts = example_flops(ModelShape.of(model, IMAGE_SIZE), example)
    assert torch_flops == counts["total"] - counts["exit_tests"] + position_bias_flops()


@pytest.mark.parametrize("policy", [EntropyPolicy(decoder=0.0), PatiencePolicy(decoder=5)], ids=["entropy", "patience"])
def test_a_baselines_exit_tests_are_counted_as_the_projections_they_run(model, policy):
    """DeeBERT's and PABEE's decoder tests project each tested token to the vocabulary: the count
    charges each one a projection (here none stops, so every token is tested after layers 1 and 2),
    and equals torch's FLOP counter, for which those projections are matrix products too."""
    example, torch_flops = counted_generation(model, policy)
    assert example.decoder_layer_sum == 3 * example.decoder_tokens, "no token stops"
    assert example.decoder_prediction_tests == example.decoder_tests == 2 * example.decoder_tokens
    counts = example_flops(ModelShape.of(model, IMAGE_SIZE), example)
    assert counts["exit_tests"] == 2 * D * VOCAB_SIZE * example.decoder_tests
    assert torch_flops == counts["total"] + position_bias_flops()
