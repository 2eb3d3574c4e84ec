"""Exit decisions that differ inside one batch: samples of one encoder stream stop at
different layers, tokens of one decoder step and beams of one sample stop at different
layers, and each sample's layers and outputs equal its run alone.

The thresholds are chosen from similarities measured with exits off (this file computes
them itself, over each sample's non-padding tokens), so that the decisions are mixed, which
every test asserts, and far from every similarity the rule sees, so that no decision hangs
on rounding. A batch-wide decision (one for every sample of a stream, or for every row and
beam of a decoder step, as the published MuE code makes) fails these tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.early_exit_generator import EarlyExitSequenceGenerator
from ofa_mue.core.exit_policy import MuEThresholds, TokenSimilarityExit
from tiny_ofa import IMAGE_SIZE, VOCAB_SIZE, tiny_dictionary, tiny_model

LAYERS = 4
BATCH = 6
MIN_MARGIN = 1e-5  # no similarity a rule sees lies closer than this to its threshold (rounding: ~1e-7)
BEAM, MAX_LEN_B = 3, 5
BETA, TAU = 0.9, 1.0  # a decaying decoder threshold in the beam test: its horizon matters


@pytest.fixture(scope="module")
def model():
    return tiny_model(tiny_dictionary(), encoder_layers=LAYERS, decoder_layers=LAYERS,
                      decompose_modalities=True).eval()


@pytest.fixture(scope="module")
def net_input() -> Dict[str, Tensor]:
    """Six samples whose images differ in contrast and whose texts differ in length (padding)."""
    generator = torch.Generator().manual_seed(3)
    contrast = torch.tensor([0.1, 0.5, 1.0, 2.0, 4.0, 8.0]).view(BATCH, 1, 1, 1)
    images = torch.randn(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * contrast
    lengths = torch.tensor([9, 7, 5, 8, 3, 6])
    src = torch.randint(4, VOCAB_SIZE, (BATCH, int(lengths.max())), generator=generator)
    src[torch.arange(src.size(1)) >= lengths[:, None]] = 1
    return {"src_tokens": src, "src_lengths": lengths, "patch_images": images,
            "patch_masks": torch.ones(BATCH, dtype=torch.bool)}


def alone(net_input: Dict[str, Tensor], i: int) -> Dict[str, Tensor]:
    """Sample ``i`` as a batch of its own, without the batch's padding."""
    length = int(net_input["src_lengths"][i])
    single = {k: v[i:i + 1] for k, v in net_input.items()}
    single["src_tokens"] = single["src_tokens"][:, :length]
    return single


# ---- measuring similarities and choosing thresholds ----------------------------------------
@dataclass
class StreamProbe:
    """Encoder rule that never stops and keeps every layer's input and output."""

    seen: List[Tuple[Tensor, Tensor, Optional[Tensor]]] = field(default_factory=list)

    def should_exit(self, layer, x_in, x_out, padding_mask):
        self.seen.append((x_in, x_out, padding_mask))
        return torch.zeros(x_in.size(0), dtype=torch.bool)

    def similarities(self) -> Tensor:
        """``[layers - 1, B]``: each sample's cosine similarity over its non-padding tokens."""
        rows = []
        for x_in, x_out, padding in self.seen:
            keep = torch.ones(x_in.shape[:2], dtype=torch.bool) if padding is None else ~padding
            rows.append(torch.stack([F.cosine_similarity(a[k].flatten(), b[k].flatten(), dim=0)
                                     for a, b, k in zip(x_in, x_out, keep)]))
        return torch.stack(rows)


def exit_layers(similarities: Tensor, threshold: float) -> Tensor:
    """Layers each column ran: it stops after the first layer whose similarity exceeds ``threshold``."""
    above = torch.cat([similarities > threshold, torch.ones(1, similarities.size(1), dtype=torch.bool)])
    return above.int().argmax(0) + 1


def seen_margin(similarities: Tensor, threshold: float) -> float:
    """Distance from ``threshold`` of the nearest similarity the rule sees (up to each column's exit)."""
    layers = exit_layers(similarities, threshold)
    seen = torch.arange(similarities.size(0))[:, None] < layers[None, :]
    return float((similarities - threshold).abs()[seen].min())


def mixing_threshold(similarities: Tensor) -> float:
    """A threshold between two measured similarities, at least ``10 * MIN_MARGIN`` from every
    similarity the rule sees, that spreads the columns over the most distinct exit layers (up to
    3), with as many columns as possible outside the largest group, and the widest margin."""
    values = similarities.flatten().sort().values
    candidates = [t for t in ((values[1:] + values[:-1]) / 2).tolist()
                  if seen_margin(similarities, t) > 10 * MIN_MARGIN]

    def quality(threshold: float) -> Tuple[int, int, float]:
        counts = exit_layers(similarities, threshold).unique(return_counts=True)[1]
        return min(len(counts), 3), int(counts.sum() - counts.max()), seen_margin(similarities, threshold)

    return max(candidates, key=quality)


@dataclass
class ExitsOff:
    """The encoder with exits off: every layer's states per stream, and the output."""

    probes: Dict[str, StreamProbe]
    output: Tensor

    def similarities(self, stream: str) -> Tensor:
        return self.probes[stream].similarities()

    def stream_output(self, stream: str, sample: int, layers: int, encoder) -> Tensor:
        """Sample ``sample``'s stream ``[T, D]`` as the encoder outputs it after ``layers`` layers."""
        num_patches = self.probes["image"].seen[0][0].size(1)
        part = slice(None, num_patches) if stream == "image" else slice(num_patches, None)
        if layers == LAYERS:
            return self.output[sample, part]
        return encoder.layer_norm(self.probes[stream].seen[layers - 1][1][sample])


@pytest.fixture(scope="module")
def exits_off(model, net_input) -> ExitsOff:
    probes = {"image": StreamProbe(), "text": StreamProbe()}
    with torch.no_grad():
        output = model.encoder(**net_input, exit_session=ExitSession(dict(probes)))["encoder_out"][0]
    return ExitsOff(probes, output)


@pytest.fixture(scope="module")
def encoder_thresholds(exits_off) -> MuEThresholds:
    image, text = (mixing_threshold(exits_off.similarities(stream)) for stream in ("image", "text"))
    return MuEThresholds(image=image, text=text)


# ---- encoder ------------------------------------------------------------------------------
def test_samples_of_one_stream_stop_at_different_layers_as_each_would_alone(model, net_input, exits_off,
                                                                             encoder_thresholds):
    session = encoder_thresholds.session(horizon=MAX_LEN_B)
    with torch.no_grad():
        batched = model.encoder(**net_input, exit_session=session)["encoder_out"][0]
    layers = session.example_layers()
    num_patches = batched.size(1) - net_input["src_tokens"].size(1)
    for stream in ("image", "text"):
        similarities, threshold = exits_off.similarities(stream), getattr(encoder_thresholds, stream)
        expected = exit_layers(similarities, threshold).tolist()
        assert seen_margin(similarities, threshold) > MIN_MARGIN
        assert len(set(expected)) >= 2, f"the {stream} stream's samples must stop at different layers"
        assert [getattr(e, f"{stream}_layers") for e in layers] == expected, stream

    for i, used in enumerate(layers):
        # the state the sample had after the layer it stopped at: later layers left it alone
        text_length = int(net_input["src_lengths"][i])
        torch.testing.assert_close(batched[i, :num_patches],
                                   exits_off.stream_output("image", i, used.image_layers, model.encoder))
        torch.testing.assert_close(batched[i, num_patches:num_patches + text_length],
                                   exits_off.stream_output("text", i, used.text_layers, model.encoder)[:text_length])

        single_session = encoder_thresholds.session(horizon=MAX_LEN_B)
        with torch.no_grad():
            single = model.encoder(**alone(net_input, i), exit_session=single_session)["encoder_out"][0]
        by_itself = single_session.example_layers()[0]
        assert (by_itself.image_layers, by_itself.text_layers) == (used.image_layers, used.text_layers)
        torch.testing.assert_close(batched[i, :num_patches + text_length], single[0], atol=1e-5, rtol=1e-5)


# ---- decoder ------------------------------------------------------------------------------
@dataclass
class TokenProbe:
    """Decoder rule that never stops and keeps every layer's input and output, and each token's
    similarity with its position."""

    seen: List[Tuple[Tensor, Tensor]] = field(default_factory=list)
    similarity_positions: List[Tuple[float, int]] = field(default_factory=list)

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        self.seen.append((x_in, x_out))
        similarity = F.cosine_similarity(x_in, x_out, dim=-1)
        self.similarity_positions.extend(zip(similarity.flatten().tolist(), positions.flatten().tolist()))
        return torch.zeros(positions.shape, dtype=torch.bool)


def test_tokens_of_one_step_stop_at_different_layers_with_their_own_states(model, net_input):
    """One decoder step for six samples: each token stops after the first layer whose similarity
    exceeds the threshold, and its logits are those of its state after that layer."""
    bos = torch.full((BATCH, 1), model.decoder.dictionary.bos())
    probe = TokenProbe()
    with torch.no_grad():
        full_logits, _ = model.decoder(bos, encoder_out=model.encoder(**net_input, exit_session=ExitSession(
            decoder_rule=probe)))
    similarities = torch.stack([F.cosine_similarity(x_in[:, 0], x_out[:, 0], dim=-1) for x_in, x_out in probe.seen])
    threshold = mixing_threshold(similarities)
    expected = exit_layers(similarities, threshold)
    assert len(set(expected.tolist())) >= 2, "the tokens of the step must stop at different layers"

    policy = MuEThresholds(decoder=threshold)
    with torch.no_grad():
        logits, extra = model.decoder(bos, encoder_out=model.encoder(**net_input,
                                                                     exit_session=policy.session(horizon=MAX_LEN_B)))
    assert extra["exit_layers"][:, 0].tolist() == expected.tolist()
    for i, layers in enumerate(expected.tolist()):
        state = None if layers == LAYERS else probe.seen[layers - 1][1][i, 0]
        torch.testing.assert_close(logits[i, 0], full_logits[i, 0] if state is None
                                   else model.decoder.hidden_to_logits(state))
        single_input = alone(net_input, i)
        with torch.no_grad():
            single, single_extra = model.decoder(bos[i:i + 1], encoder_out=model.encoder(
                **single_input, exit_session=policy.session(horizon=MAX_LEN_B)))
        assert single_extra["exit_layers"][0, 0] == layers
        torch.testing.assert_close(single[0, 0], logits[i, 0], atol=1e-5, rtol=1e-5)


class RecordingSession(ExitSession):
    """An exit session that also keeps each decoder call's exit layers ``[R, T]`` and row sources."""

    def __init__(self, encoder_rules, decoder_rule):
        super().__init__(encoder_rules, decoder_rule)
        self.decoder_calls: List[Tuple[Tensor, Tensor]] = []

    def record_decoder(self, layers, processed, row_source):
        super().record_decoder(layers, processed, row_source)
        self.decoder_calls.append((layers.clone(), row_source.clone()))


@dataclass
class MarginRecorder:
    """The MuE token rule, also keeping how far each similarity it sees lies from its threshold."""

    rule: TokenSimilarityExit
    margins: List[float] = field(default_factory=list)

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        similarity = F.cosine_similarity(x_in.float(), x_out.float(), dim=-1)
        self.margins.extend((similarity - self.rule.threshold(positions)).abs().flatten().tolist())
        return self.rule.should_exit(layer, x_in, x_out, positions, tokens)


@dataclass
class RecordingPolicy:
    """An exit policy that keeps the horizon and session of each generation it serves."""

    policy: MuEThresholds
    horizons: List[int] = field(default_factory=list)
    sessions: List[RecordingSession] = field(default_factory=list)

    def session(self, horizon, project=None):
        inner = self.policy.session(horizon, project)
        self.horizons.append(horizon)
        self.sessions.append(RecordingSession(inner.encoder_rules, MarginRecorder(inner.decoder_rule)))
        return self.sessions[-1]


def generate(model, net_input, policy):
    dictionary = model.decoder.dictionary
    generator = EarlyExitSequenceGenerator([model], dictionary, policy=policy, beam_size=BEAM, max_len_b=MAX_LEN_B,
                                           min_len=MAX_LEN_B)
    hypotheses = generator.generate([model], {"net_input": net_input,
                                               "id": torch.arange(len(net_input["src_tokens"]))})
    return hypotheses, generator.last_example_layers


def decaying_threshold(similarity_positions: List[Tuple[float, int]]) -> float:
    """``theta`` of the decaying rule (``BETA``, ``TAU``, horizon ``MAX_LEN_B``) in the widest gap
    between the middle half of the measured similarities, each taken at its position."""
    reduced = sorted((s - (1 - BETA) * math.exp(-TAU * t / MAX_LEN_B)) / BETA
                     for s, t in similarity_positions)
    middle = range(len(reduced) // 4, 3 * len(reduced) // 4)
    i = max(middle, key=lambda j: reduced[j + 1] - reduced[j])
    return (reduced[i] + reduced[i + 1]) / 2


@dataclass
class DecoderProbePolicy:
    """The encoder exits of ``encoder``; in the decoder, a :class:`TokenProbe` (exits off)."""

    encoder: MuEThresholds
    probe: TokenProbe = field(default_factory=TokenProbe)

    def session(self, horizon, project=None):
        return ExitSession(self.encoder.session(horizon).encoder_rules, self.probe)


def test_beams_of_one_sample_stop_at_different_layers_as_the_sample_would_alone(model, net_input,
                                                                              encoder_thresholds):
    measure = DecoderProbePolicy(encoder_thresholds)
    generate(model, net_input, measure)
    theta = decaying_threshold(measure.probe.similarity_positions)
    thresholds = MuEThresholds(image=encoder_thresholds.image, text=encoder_thresholds.text, decoder=theta,
                               decoder_beta=BETA, decoder_tau=TAU)

    policy = RecordingPolicy(thresholds)
    batched, batched_layers = generate(model, net_input, policy)
    session = policy.sessions[0]
    beams_differ = [bool((layers[row_source == i].unique().numel() > 1))
                    for layers, row_source in session.decoder_calls for i in range(BATCH)]
    assert any(beams_differ), "the beams of one sample must stop at different layers in some step"
    assert len({e.image_layers for e in batched_layers}) > 1 and len({e.text_layers for e in batched_layers}) > 1
    for i in range(BATCH):
        single, single_layers = generate(model, alone(net_input, i), policy)
        assert single_layers[0] == batched_layers[i], f"sample {i}"
        for got, expected in zip(batched[i], single[0]):
            assert torch.equal(got["tokens"], expected["tokens"]), f"sample {i}"
            torch.testing.assert_close(got["positional_scores"], expected["positional_scores"], atol=1e-4, rtol=1e-4)
    assert policy.horizons == [MAX_LEN_B] * (BATCH + 1), "the decay's horizon is --max-len-b, whatever the batch"
    assert min(m for s in policy.sessions for m in s.decoder_rule.margins) > MIN_MARGIN
