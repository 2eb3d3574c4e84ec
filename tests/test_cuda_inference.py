"""The early-exit paths on a GPU give what they give on the CPU (skipped where CUDA is missing).

Every other test runs on the CPU, so a tensor made on the wrong device, a decision taken on
the host from a stale copy, or a launch-cost measurement that only exists on a GPU would go
unseen there. Here one random model runs in float64 on both devices (so that no exit
decision sits within rounding of its threshold), and each exit rule must choose the same
layers and generate the same tokens on the GPU as on the CPU; with exits off the GPU must
equal fairseq's own generator, and decoding step by step with skipped layers must equal one
pass over the prefix (the key/value cache of skipped layers).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

import pytest
import torch
from fairseq.sequence_generator import SequenceGenerator

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
from ofa_mue.core.exit_granularity import ExitGranularity
from ofa_mue.core.exit_policy import EntropyPolicy, MuEThresholds, PatiencePolicy, StaticDepths, stream_similarity
from ofa_mue.core.verified_generator import VerifiedEarlyExitGenerator
from tiny_ofa import small_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

VOCAB = 60
BATCH = 4


@pytest.fixture(scope="module")
def models():
    """The same float64 model on the CPU and on the GPU, and its dictionary."""
    cpu, dictionary = small_model(VOCAB, decompose_modalities=True)
    cpu = cpu.double()
    return cpu, copy.deepcopy(cpu).cuda(), dictionary


def _net_input(device: str) -> Dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    src = torch.randint(4, VOCAB, (BATCH, 7), generator=generator)
    src[0, -2:] = 1  # padding in the first sample
    images = torch.randn(BATCH, 3, 48, 48, generator=generator, dtype=torch.float64)
    net_input = {"src_tokens": src, "src_lengths": src.ne(1).sum(1), "patch_images": images,
                 "patch_masks": torch.ones(BATCH, dtype=torch.bool)}
    return {k: v.to(device) for k, v in net_input.items()}


def _generate(net, dictionary, device: str, policy, generator_class=EarlyExitSequenceGenerator,
              **options: Any) -> Tuple[List[List[Dict[str, torch.Tensor]]], List[Tuple[int, int, float]]]:
    """Generated hypotheses, and per sample its image and text layers and mean decoder layers."""
    options = {"beam_size": 3, "max_len_b": 8, **options}
    generator = generator_class([net], dictionary, policy=policy, **options)
    sample = {"net_input": _net_input(device), "id": torch.arange(BATCH, device=device)}
    with torch.no_grad():
        hypotheses = generator.generate([net], sample)
    layers = [(e.image_layers, e.text_layers, e.decoder_layers()) for e in generator.last_example_layers]
    return hypotheses, layers


def _first_layer_midpoints(net) -> Tuple[float, float]:
    """Per stream (image, text), the midpoint between the samples' two middle first-layer
    similarities (a plain pass with a hook): a threshold there stops some samples at layer 1,
    lets the others run on, and lies far from every sample's similarity."""
    seen: List[torch.Tensor] = []
    hook = net.encoder.layers[0].register_forward_hook(
        lambda module, inputs, output: seen.append(stream_similarity(inputs[0], output, inputs[2])))
    try:
        with torch.no_grad():
            net.encoder(**_net_input("cpu"))
    finally:
        hook.remove()
    middle = [values.sort().values[BATCH // 2 - 1: BATCH // 2 + 1].mean() for values in seen]
    return float(middle[0]), float(middle[1])  # the decomposed encoder runs the image stream first


def _assert_same(cpu_result, gpu_result) -> None:
    (cpu_hypotheses, cpu_layers), (gpu_hypotheses, gpu_layers) = cpu_result, gpu_result
    assert gpu_layers == cpu_layers
    for want, have in zip(cpu_hypotheses, gpu_hypotheses, strict=True):
        for a, b in zip(want, have, strict=True):
            assert torch.equal(a["tokens"], b["tokens"].cpu())
            # the generator's scores are float32 whatever the model's precision
            torch.testing.assert_close(a["positional_scores"], b["positional_scores"].cpu(), atol=1e-5, rtol=1e-5)


def test_exits_off_on_the_gpu_equal_fairseqs_generator(models):
    _, gpu, dictionary = models
    sample = {"net_input": _net_input("cuda"), "id": torch.arange(BATCH, device="cuda")}
    with torch.no_grad():
        expected = SequenceGenerator([gpu], dictionary, beam_size=3, max_len_b=8).generate(
            [gpu], sample, bos_token=dictionary.bos())
    got, layers = _generate(gpu, dictionary, "cuda", MuEThresholds(decoder=1.0))
    for want, have in zip(expected, got, strict=True):
        for a, b in zip(want, have, strict=True):
            assert torch.equal(a["tokens"], b["tokens"])
            assert torch.equal(a["positional_scores"], b["positional_scores"])
    assert {(image, text) for image, text, _ in layers} == {(6, 6)}


def _policies(image: float, text: float) -> Dict[str, Any]:
    return {
        "mue": MuEThresholds(image=image, text=text, decoder=0.5),
        "mue decaying": MuEThresholds(image=image, text=text, decoder=0.6, decoder_beta=0.95, decoder_tau=1.0),
        "mue step": MuEThresholds(image=image, text=text, decoder=0.5,
                                  granularity=ExitGranularity("step", quantile=0.5)),
        "static": StaticDepths(image=2, text=4, decoder=3),
        # the random model's entropies all lie within 4.082-4.085 nats (ln 60 = 4.094)
        "entropy": EntropyPolicy(decoder=4.0825, image=image, text=text),
        "patience": PatiencePolicy(decoder=1, image=image, text=text),
    }


@pytest.mark.parametrize("name", ["mue", "mue decaying", "mue step", "static", "entropy", "patience"])
def test_each_exit_rule_chooses_the_same_layers_and_tokens_on_the_gpu(models, name):
    cpu, gpu, dictionary = models
    policy = _policies(*_first_layer_midpoints(cpu))[name]
    cpu_result = _generate(cpu, dictionary, "cpu", policy)
    layers = cpu_result[1]
    if name != "static":
        assert len({(image, text) for image, text, _ in layers}) > 1, "the encoder exits must be mixed"
    assert min(decoder for _, _, decoder in layers) < 6, "decoder tokens must stop early"
    _assert_same(cpu_result, _generate(gpu, dictionary, "cuda", policy))


def test_automatic_granularity_measures_the_gpu_and_decides_like_a_fixed_one(models):
    """``auto`` measures the device's launch cost at first use (only there on a GPU) and then
    exits by token or by step: the GPU's result equals one of those two on the GPU."""
    cpu, gpu, dictionary = models
    image, text = _first_layer_midpoints(cpu)
    automatic = _generate(gpu, dictionary, "cuda", MuEThresholds(image=image, text=text, decoder=0.5,
                                                                 granularity=ExitGranularity("auto")))
    fixed = [_generate(gpu, dictionary, "cuda", MuEThresholds(image=image, text=text, decoder=0.5,
                                                              granularity=ExitGranularity(mode)))
             for mode in ("token", "step")]
    assert automatic[1] in [layers for _, layers in fixed]


def test_lossless_mode_on_the_gpu_equals_greedy_search(models):
    cpu, gpu, dictionary = models
    expected = _generate(gpu, dictionary, "cuda", MuEThresholds(), beam_size=1)
    verified = _generate(gpu, dictionary, "cuda", MuEThresholds(decoder=0.5), VerifiedEarlyExitGenerator,
                         beam_size=1)
    for want, have in zip(expected[0], verified[0], strict=True):
        assert torch.equal(want[0]["tokens"], have[0]["tokens"])
    assert sum(d for _, _, d in verified[1]) < sum(d for _, _, d in expected[1]), "drafts used fewer layers"


def test_step_by_step_decoding_with_skipped_layers_equals_one_pass_on_the_gpu(models):
    """The key/value cache of skipped decoder layers on the GPU: the same logits and exit
    layers whether the prefix is decoded at once or token by token."""
    _, gpu, _ = models

    class ExitByPosition:
        def should_exit(self, layer, x_in, x_out, positions, tokens):
            return positions % 3 == layer

    net_input = _net_input("cuda")
    prev = torch.randint(4, VOCAB, (BATCH, 7), generator=torch.Generator().manual_seed(2)).cuda()
    with torch.no_grad():
        session = ExitSession(decoder_rule=ExitByPosition())
        full_logits, full_extra = gpu.decoder(prev, encoder_out=gpu.encoder(**net_input, exit_session=session))
        step_session = ExitSession(decoder_rule=ExitByPosition())
        encoder_out = gpu.encoder(**net_input, exit_session=step_session)
        state: dict = {}
        for t in range(prev.size(1)):
            logits, extra = gpu.decoder(prev[:, : t + 1], encoder_out=encoder_out, incremental_state=state)
            torch.testing.assert_close(logits[:, -1], full_logits[:, t], atol=1e-9, rtol=1e-9)
            assert torch.equal(extra["exit_layers"][:, -1], full_extra["exit_layers"][:, t])
    assert full_extra["exit_layers"][0].tolist() == [1, 2, 3, 1, 2, 3, 1]


def test_snli_ve_candidate_rows_of_a_batch_on_the_gpu_equal_the_cpus():
    """SNLI-VE's scoring rows (every answer after every decoder prompt) for a batch moved to the
    GPU, whose prompts are there while the task's answers stay on the CPU: the same rows, on
    the GPU (this crashed every SNLI-VE evaluation and fairseq-train validation on a GPU)."""
    from ofa_mue.data.snli_ve_dataset import candidate_inputs

    prompts = [torch.tensor([0, 7, 8, 9]), torch.tensor([0, 5])]
    answers = [torch.tensor([11]), torch.tensor([12, 13]), torch.tensor([14])]
    masks = [torch.rand(len(a) + 1, 20) > 0.5 for a in answers]
    expected = candidate_inputs(prompts, answers, masks, pad=1, eos=2)
    got = candidate_inputs([p.cuda() for p in prompts], answers, masks, pad=1, eos=2)
    for name, tensor in expected.items():
        assert got[name].is_cuda, name
        assert torch.equal(got[name].cpu(), tensor), name
