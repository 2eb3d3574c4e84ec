"""Self-critical training: CIDEr-D reward, leave-one-out baseline, the policy-gradient loss."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from fairseq import metrics
from fairseq.sequence_generator import SequenceGenerator
from pycocoevalcap.cider.cider_scorer import CiderScorer

from ofa_mue.criterions.cider_reward import CiderD, tokenize
from ofa_mue.criterions.scst import ScstRewardCriterion, leave_one_out_advantage, training_references
from ofa_mue.data.caption_dataset import CaptionDataset
from ofa_mue.errors import ConfigError
from tiny_ofa import DECODER_LAYERS, tiny_batch, tiny_dictionary, tiny_model, tiny_task

REFERENCES = [
    ["a red circle on a white background", "one red circle", "a small red round shape"],
    ["two blue squares and a star", "blue squares with a yellow star", "a star next to two squares"],
    ["a green triangle", "one green triangle on grey", "a triangle that is green"],
]


def test_cider_d_equals_pycocoevalcap_when_document_frequencies_come_from_the_same_references():
    hypotheses = ["a red circle", "two squares and a star", "a green green triangle on grey", "nothing"]
    references = REFERENCES + [REFERENCES[0]]
    coco = CiderScorer(n=4, sigma=6.0)
    for hypothesis, refs in zip(hypotheses, references):
        coco += (tokenize(hypothesis), [tokenize(r) for r in refs])
    _, expected = coco.compute_score()
    ours = CiderD.from_references(references).scores(hypotheses, references)
    assert ours == pytest.approx(list(expected), rel=1e-9)
    assert ours[0] > 0 and ours[3] == 0


def test_cider_d_tokenisation_ignores_punctuation_and_keeps_case_as_ofa():
    """OFA's SCST reward and validation CIDEr-D strip punctuation and keep case: a capital is
    another word."""
    scorer = CiderD.from_references(REFERENCES)
    assert scorer.scores(["a red, circle!"], [REFERENCES[0]]) == scorer.scores(["a red circle"], [REFERENCES[0]])
    assert scorer.scores(["A Red Circle"], [REFERENCES[0]])[0] < scorer.scores(["a red circle"], [REFERENCES[0]])[0]


def test_leave_one_out_baseline():
    rewards = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(leave_one_out_advantage(rewards), torch.tensor([-1.5, 0.0, 1.5]))
    assert leave_one_out_advantage(torch.full((4,), 0.7)).abs().max() == 0
    assert leave_one_out_advantage(torch.tensor([2.0])).item() == 0



def test_cider_d_tokenises_hypotheses_and_references_alike_as_ofa():
    """OFA's scst_loss removes string.punctuation from the captions and the references alike and
    keeps case (a capital is another word): mixed-case, punctuated text scores as
    pycocoevalcap scores the same text cleaned by hand."""
    hypotheses = ["A red, circle!", "two Blue squares and a star.", "a green triangle"]
    references = [["A red circle on a white background", "one red circle", "a Red round shape!"],
                  ["two Blue squares, and a star", "blue squares with a yellow star", "a star next to two squares"],
                  ["A green triangle.", "one green triangle on grey", "a triangle that is green"]]
    cleaned_hypotheses = ["A red circle", "two Blue squares and a star", "a green triangle"]
    cleaned_references = [["A red circle on a white background", "one red circle", "a Red round shape"],
                          ["two Blue squares and a star", "blue squares with a yellow star", "a star next to two squares"],
                          ["A green triangle", "one green triangle on grey", "a triangle that is green"]]
    coco = CiderScorer(n=4, sigma=6.0)
    for hypothesis, refs in zip(cleaned_hypotheses, cleaned_references):
        coco += (hypothesis, refs)
    _, expected = coco.compute_score()
    assert CiderD.from_references(references).scores(hypotheses, references) == pytest.approx(list(expected), rel=1e-9)


def test_scst_reward_tokenises_as_ofas_scst_loss_before_ending_with_eos():
    """OFA's scst_loss removes punctuation and keeps case, then ends the caption and each reference
    with ``<eos>``: the reward scorer scores mixed-case, punctuated text as pycocoevalcap scores
    the text cleaned by hand and ended with ``<eos>``."""
    hypotheses = ["A red, circle!", "two Blue squares and a star."]
    references = [["A red circle on a white background", "a Red round shape!"],
                  ["two Blue squares, and a star", "blue squares with a yellow star"]]
    cleaned_hypotheses = ["A red circle", "two Blue squares and a star"]
    cleaned_references = [["A red circle on a white background", "a Red round shape"],
                          ["two Blue squares and a star", "blue squares with a yellow star"]]
    coco = CiderScorer(n=4, sigma=6.0)
    for hypothesis, refs in zip(cleaned_hypotheses, cleaned_references):
        coco += (f"{hypothesis} <eos>", [f"{ref} <eos>" for ref in refs])
    _, expected = coco.compute_score()
    scores = CiderD.from_references(references, "<eos>").scores(hypotheses, references)
    assert scores == pytest.approx(list(expected), rel=1e-9)


def test_cider_d_refuses_captions_and_reference_lists_of_other_counts():
    """A missing reference list would silently leave the last captions unscored."""
    scorer = CiderD.from_references(REFERENCES)
    with pytest.raises(ValueError, match="got 2 and 3"):
        scorer.scores(["a red circle", "two squares"], REFERENCES)


class FixedCaptions:
    """Stands in for the SCST generator: the same captions (token ids) for every image."""

    def __init__(self, captions):
        self.captions = captions

    def generate(self, models, sample):
        return [[{"tokens": torch.tensor(c)} for c in self.captions] for _ in range(sample["target"].size(0))]


def scst_task(dictionary, generator, references=REFERENCES, datasets=None):
    return tiny_task(
        dictionary,
        cfg=SimpleNamespace(scst=True),
        scst_generator=generator,
        vocab=SimpleNamespace(decode=lambda tokens: dictionary.string(tokens)),
        datasets=datasets or {},
    )


def numbered_references(dictionary, captions):
    """References (as the dictionary's words) that one of the captions matches exactly."""
    text = dictionary.string(torch.tensor(captions[0]))
    return [[text, "4 5 6 7"], [text, "8 9 10"], ["11 12 13", "14 15"]]


@pytest.fixture(scope="module")
def dictionary():
    return tiny_dictionary()


def test_generated_captions_give_finite_loss_gradient_and_logged_reward(dictionary):
    model = tiny_model(dictionary).train()
    batch = tiny_batch(dictionary)
    generator = SequenceGenerator([model], dictionary, beam_size=3, max_len_b=5)
    model.eval()
    with torch.no_grad():
        first_beams = [h["tokens"].tolist() for h in generator.generate([model], batch)[0]]
    model.train()
    batch["references"] = numbered_references(dictionary, first_beams)
    criterion = ScstRewardCriterion(scst_task(dictionary, generator), scst_cider_df="batch")

    loss, sample_size, log = criterion(model, batch)
    assert model.training
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.layers[0].parameters())
    assert log["num_captions"] == 9 and sample_size == log["ntokens"]
    assert log["cider_sum"] > 0
    with metrics.aggregate() as aggregated:
        ScstRewardCriterion.reduce_metrics([log])
        assert aggregated.get_smoothed_values()["score"] == pytest.approx(log["cider_sum"] / 9, abs=1e-3)



def test_each_captions_reward_is_its_cider_d_against_all_its_images_references(dictionary):
    """The reward of a caption is CIDEr-D against every reference of its image (mean over them),
    as pycocoevalcap computes it from the same references (--scst-cider-df batch, one caption per
    image, so the document frequencies are pycocoevalcap's own), the caption and each reference
    ended with the word <eos> as OFA's scst_loss ends them (``_wrap_sentence``)."""
    references = [["4 5 6 7", "8 9 10 11"], ["12 13 14", "15 16 17 18"], ["19 20 21", "4 5 19 20"]]
    hypotheses = ["8 9 10 11", "12 13 16", "4 5 19 20"]
    captions = [[dictionary.encode_line(text, add_if_not_exist=False).long()] for text in hypotheses]  # eos at the end
    criterion = ScstRewardCriterion(scst_task(dictionary, FixedCaptions([])), scst_cider_df="batch")
    rewards = criterion.rewards(captions, {"references": references})
    coco = CiderScorer(n=4, sigma=6.0)
    for hypothesis, refs in zip(hypotheses, references):
        coco += (f"{hypothesis} <eos>", [f"{ref} <eos>" for ref in refs])
    _, expected = coco.compute_score()
    assert [r for image in rewards for r in image] == pytest.approx(list(expected), rel=1e-9)
    assert rewards[0][0] > 0  # the caption equals only the image's second reference


def test_identical_captions_have_zero_advantage(dictionary):
    model = tiny_model(dictionary).train()
    batch = tiny_batch(dictionary)
    caption = [7, 8, 9, dictionary.eos()]
    batch["references"] = numbered_references(dictionary, [caption])
    criterion = ScstRewardCriterion(scst_task(dictionary, FixedCaptions([caption] * 4)), scst_cider_df="batch")
    loss, _, log = criterion(model, batch)
    assert log["cider_sum"] > 0
    assert loss.item() == 0
    loss.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.parameters())


def test_policy_loss_scores_every_caption_token_eos_included_and_captions_are_sampled_in_eval_mode(dictionary):
    """OFA's scst_loss: -sum over the sampled captions' non-padding target tokens (the hypothesis
    tokens, eos included) of advantage * log p(token | bos + caption prefix, image), and
    ntokens counts those tokens. OFA's get_generator_out samples with the model in eval mode and
    trains it again afterwards."""
    class ModeRecordingCaptions(FixedCaptions):
        def generate(self, models, sample):
            self.training = models[0].training
            return super().generate(models, sample)

    model = tiny_model(dictionary).train()
    batch = tiny_batch(dictionary)
    eos, bos = dictionary.eos(), dictionary.bos()
    captions = [[7, 8, 9, eos], [7, 8, eos], [20, eos]]
    batch["references"] = numbered_references(dictionary, captions)
    generator = ModeRecordingCaptions(captions)
    criterion = ScstRewardCriterion(scst_task(dictionary, generator), scst_cider_df="batch")
    loss, sample_size, log = criterion(model, batch)
    assert generator.training is False and model.training
    images = batch["net_input"]["src_tokens"].size(0)
    assert log["ntokens"] == sample_size == images * sum(len(c) for c in captions)

    rewards = torch.tensor(criterion.rewards([[torch.tensor(c) for c in captions]] * images, batch))
    advantage = rewards - (rewards.sum(1, keepdim=True) - rewards) / (len(captions) - 1)
    expected = 0.0
    with torch.no_grad():  # each caption teacher-forced after every image, in the model's own (training) mode
        for c, caption in enumerate(captions):
            prev_output_tokens = torch.tensor([[bos, *caption[:-1]]]).expand(images, -1)
            logits, _ = model(**{**batch["net_input"], "prev_output_tokens": prev_output_tokens})
            lprobs = torch.log_softmax(logits.float(), -1)[:, torch.arange(len(caption)), torch.tensor(caption)]
            expected -= (advantage[:, c] * lprobs.sum(-1)).sum()
    assert loss.item() == pytest.approx(float(expected), rel=1e-4)
    # --sentence-avg: OFA's sample_size is nsentences = gen_target.size(0), the sampled captions (not the images)
    per_caption = ScstRewardCriterion(scst_task(dictionary, generator), scst_cider_df="batch", sentence_avg=True)
    assert per_caption(model, batch)[1] == images * len(captions)


def test_layerwise_loss_is_weighted_mean_of_layer_losses_on_one_projection_per_layer(dictionary):
    model = tiny_model(dictionary).train()
    batch = tiny_batch(dictionary)
    captions = [[7, 8, 9, dictionary.eos()], [7, 8, dictionary.eos()], [20, dictionary.eos()]]
    batch["references"] = numbered_references(dictionary, captions)
    task = scst_task(dictionary, FixedCaptions(captions))
    calls = []
    handle = model.decoder.output_projection.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        loss, _, log = ScstRewardCriterion(task, layerwise_loss=True, layer_weights="1,1,2",
                                           scst_cider_df="batch")(model, batch)
    finally:
        handle.remove()
    layer_losses = [log[f"loss_layer{i}"] for i in range(1, DECODER_LAYERS + 1)]
    expected = (layer_losses[0] + layer_losses[1] + 2 * layer_losses[2]) / 4
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() != 0
    assert calls == [log["ntokens"]] * DECODER_LAYERS

    plain_loss, _, plain_log = ScstRewardCriterion(task, scst_cider_df="batch")(model, batch)
    assert plain_loss.item() == pytest.approx(layer_losses[-1].item(), rel=1e-5)
    assert "loss_layer1" not in plain_log


class CaptionRows:
    """The parts of a caption dataset that the training-split document frequencies read."""

    def __init__(self, captions):
        self.reader = [{"caption": caption} for caption in captions]

    def __len__(self):
        return len(self.reader)

    @staticmethod
    def references(index, caption):
        return caption.split("&&")

    all_references = CaptionDataset.all_references


def test_document_frequencies_from_the_training_split(dictionary):
    dataset = CaptionRows(["&&".join(refs) for refs in REFERENCES])
    task = scst_task(dictionary, FixedCaptions([]), datasets={"train": dataset})
    assert list(training_references(task)) == REFERENCES
    criterion = ScstRewardCriterion(task)
    scorer = criterion.cider_scorer(batch_references=[REFERENCES[0]])
    assert scorer.scores(["a red circle"], [REFERENCES[0]]) == CiderD.from_references(REFERENCES, "<eos>").scores(
        ["a red circle"], [REFERENCES[0]])
    assert criterion.cider_scorer([REFERENCES[1]]) is scorer

    with pytest.raises(ConfigError, match="--scst-cider-df batch"):
        list(training_references(scst_task(dictionary, FixedCaptions([]))))


def test_fairseq_train_takes_document_frequencies_from_the_training_split_by_default(dictionary):
    """OFA's SCST reward reads its document frequencies from --scst-cider-cached-tokens, the
    training split's references (coco-train-words.p), not from each batch: fairseq-train's
    ``--criterion scst_reward_criterion`` without --scst-cider-df scores against the training split's."""
    from fairseq import criterions, options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args = options.parse_args_and_arch(options.get_training_parser(), [
        "data", "--user-dir", "ofa_mue", "--task", "caption", "--scst", "--arch", "ofa_tiny",
        "--criterion", "scst_reward_criterion"])
    dataset = CaptionRows(["&&".join(refs) for refs in REFERENCES])
    task = scst_task(dictionary, FixedCaptions([]), datasets={"train": dataset})
    criterion = criterions.build_criterion(convert_namespace_to_omegaconf(args).criterion, task)
    caption, batch = ["a red circle"], [REFERENCES[0]]
    assert criterion.cider_scorer(batch).scores(caption, batch) == CiderD.from_references(REFERENCES, "<eos>").scores(
        caption, batch) != CiderD.from_references(batch, "<eos>").scores(caption, batch)


def test_configuration_errors(dictionary):
    with pytest.raises(ConfigError, match="--task caption --scst"):
        ScstRewardCriterion(tiny_task(dictionary, cfg=SimpleNamespace(scst=False)))
    task = scst_task(dictionary, FixedCaptions([]))
    with pytest.raises(ConfigError, match="needs --layerwise-loss"):
        ScstRewardCriterion(task, layer_weights="1,1,1")
    with pytest.raises(ConfigError, match="non-negative"):
        ScstRewardCriterion(task, layerwise_loss=True, layer_weights="1,-1,1")


def test_logged_loss_score_and_layer_losses_are_weighted_as_ofas_meters():
    """OFA's scst_loss logs ``loss = loss_sum / sample_size`` (meter weight sample_size) and ``score =
    score_sum / nsentences`` (weight: the sampled captions); ``loss_layer{i}`` is in ``loss``'s unit.
    Two reductions into one aggregate (two log intervals) with other token and caption counts
    tell the weights and denominators apart."""
    first = {"loss": 6.0, "ntokens": 6, "nsentences": 2, "sample_size": 6, "cider_sum": 3.0, "num_captions": 2,
             "loss_layer1": 12.0}
    second = {"loss": 4.0, "ntokens": 1, "nsentences": 4, "sample_size": 1, "cider_sum": 2.0, "num_captions": 4,
              "loss_layer1": 3.0}
    with metrics.aggregate() as aggregated:
        ScstRewardCriterion.reduce_metrics([first])
        ScstRewardCriterion.reduce_metrics([second])
    values = aggregated.get_smoothed_values()
    assert values["loss"] == pytest.approx((6 * 1.0 + 1 * 4.0) / 7, abs=1e-3)  # 1.0 and 4.0 per token
    assert values["score"] == pytest.approx((2 * 1.5 + 4 * 0.5) / 6, abs=1e-3)  # 1.5 and 0.5 per caption
    assert values["loss_layer1"] == pytest.approx((6 * 2.0 + 1 * 3.0) / 7, abs=1e-3)  # 2.0 and 3.0 per token
