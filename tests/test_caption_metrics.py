"""COCO caption metrics (:mod:`ofa_mue.caption_metrics`) against values worked out by hand:
each key holds its own metric, predictions are tokenised as the references are, and the
per-example ROUGE-L is taken against the anchor caption, not the references."""
from __future__ import annotations

import gc
import os

import pytest

from ofa_mue.caption_metrics import CaptionScorer, caption_metrics, meteor_scorer
from ofa_mue.errors import ConfigError

REFERENCE = "a red circle on a white background"


def test_bleu_keys_hold_their_own_n_gram_order():
    # 7 words each; matching 1-grams 6/7, 2-grams 4/6, 3-grams 3/5, 4-grams 2/4; no brevity penalty.
    metrics = caption_metrics(["a red circle on a black background"], [[REFERENCE]], quick=True)
    precisions = [6 / 7, 4 / 6, 3 / 5, 2 / 4]
    for n in range(1, 5):
        geometric_mean = 1.0
        for p in precisions[:n]:
            geometric_mean *= p
        assert metrics[f"bleu{n}"] == pytest.approx(geometric_mean ** (1 / n), abs=1e-6), f"bleu{n}"


def test_predictions_are_tokenised_as_the_references_are():
    """The PTB tokenizer lower-cases and drops punctuation on both sides: a prediction written
    with capitals and punctuation scores as its plain form."""
    references = [[REFERENCE], ["two blue stars", "a pair of blue stars"]]
    plain = caption_metrics(["a red circle on a black background", "two blue stars"], references, quick=True)
    written = caption_metrics(["A red circle, on a BLACK background.", "Two blue stars!"], references, quick=True)
    assert written == pytest.approx(plain, abs=1e-12)
    assert plain["bleu1"] == pytest.approx(9 / 10, abs=1e-6)  # 9 of the 10 words match


def test_rouge_l_is_the_candidates_lcs_f_measure_against_the_references():
    # "a red circle" against the 7-word reference: LCS 3, precision 3/3, recall 3/7, beta 1.2
    # (pycocoevalcap's); the second caption equals its reference (1.0). Swapping candidate and
    # reference would swap precision and recall.
    metrics = caption_metrics(["a red circle", "two blue stars"], [[REFERENCE], ["two blue stars"]])
    precision, recall, beta = 1.0, 3 / 7, 1.2
    first = (1 + beta ** 2) * precision * recall / (recall + beta ** 2 * precision)
    assert metrics["rouge_l"] == pytest.approx((first + 1.0) / 2, abs=1e-9)
    assert set(metrics) >= {"bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge_l", "cider"}
    quick = caption_metrics(["a red circle", "two blue stars"], [[REFERENCE], ["two blue stars"]], quick=True)
    assert quick["cider"] == pytest.approx(metrics["cider"]) and quick["bleu4"] == pytest.approx(metrics["bleu4"])


def test_per_example_rouge_l_is_against_the_anchor_caption_not_the_references():
    scorer = CaptionScorer([["a red circle"], ["two blue stars"]], anchors=["a red square", "two blue stars"])
    like_anchor = scorer(["a red square", "two blue stars"])
    assert like_anchor["rouge_l_full"] == [1.0, 1.0]
    like_reference = scorer(["a red circle", "two blue stars"])
    assert like_reference["rouge_l_full"][0] == pytest.approx(2 / 3)  # LCS "a red" of 3 words each
    assert like_reference["cider"][0] > like_anchor["cider"][0]  # CIDEr-D is against the references


def test_one_meteor_program_per_process_scores_each_evaluation_as_a_fresh_one_would():
    """Evaluations in one process share METEOR's Java program (its start costs ~10 CPU-seconds)
    and score as a fresh program does; a child forked from the process that drops its copy and
    exits leaves the parent's program running; a stopped program is replaced."""
    captions, references = ["a red circle", "two stars"], [[REFERENCE], ["two blue stars"]]
    first = meteor_scorer()
    alone = caption_metrics(captions, references)["meteor"]
    assert meteor_scorer() is first and first.running_here()
    assert caption_metrics(captions, references)["meteor"] == alone
    assert 0 < alone < 1

    child = os.fork()
    if child == 0:  # the child runs what its exit would: the atexit handler, then the copy's __del__
        code = int(first.running_here())  # 0: the child does not count the parent's program as its own
        first.stop()
        del first
        gc.collect()
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert first.running_here(), "the child stopped its parent's METEOR program"
    assert caption_metrics(captions, references)["meteor"] == alone

    first.stop()
    assert not first.running_here()
    replacement = meteor_scorer()
    try:
        assert replacement is not first and replacement.running_here()
    finally:
        replacement.stop()


def test_without_java_the_error_says_caption_metrics_need_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java here
    with pytest.raises(ConfigError, match="caption metrics need Java.*no `java` on PATH"):
        caption_metrics(["a red circle"], [[REFERENCE]], quick=True)
    with pytest.raises(ConfigError, match="caption metrics need Java"):
        CaptionScorer([[REFERENCE]], anchors=["a red circle"])


def test_per_example_scores_tokenise_the_captions_and_anchors_as_the_references():
    """CaptionScorer puts the captions and the anchors through the PTB tokenizer the references go
    through: a capital letter or punctuation costs a caption neither CIDEr-D nor its ROUGE-L
    against the anchor. The first two rows are the same, the first written with capitals and punctuation."""
    written = "A red circle, on a WHITE background."
    scorer = CaptionScorer([[REFERENCE], [REFERENCE], ["two blue stars"]],
                           anchors=[written, REFERENCE, "two blue stars"])
    scores = scorer([written, REFERENCE, "two blue stars"])
    assert scores["cider"][0] == pytest.approx(scores["cider"][1]) and scores["cider"][1] > 1.0
    assert scores["rouge_l_full"] == [1.0, 1.0, 1.0]


def test_meteor_weighs_recall_against_the_references():
    """METEOR weighs recall over precision: a 3-word caption of a 7-word reference (precision 1,
    recall 3/7) scores 0.26; with caption and reference swapped it would score 0.44."""
    meteor = caption_metrics(["a red circle"], [[REFERENCE]])["meteor"]
    assert 0.2 < meteor < 0.35


def test_captions_and_reference_lists_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="need one reference list per prediction, got 2 and 1"):
        caption_metrics(["a red circle", "two stars"], [[REFERENCE]], quick=True)
    with pytest.raises(ValueError, match="need one anchor per reference list, got 1 and 2"):
        CaptionScorer([[REFERENCE]], anchors=["a red circle", "two stars"])
    with pytest.raises(ValueError, match="2 captions for 1 reference lists"):
        CaptionScorer([[REFERENCE]], anchors=["a red circle"])(["a red circle", "two stars"])


def test_per_example_cider_averages_to_the_evaluations_cider():
    """CaptionScorer's per-example CIDEr-D (what calibration and the oracle use) are the terms of the
    evaluation's corpus CIDEr-D: same references, same document frequencies, captions scored against
    references (a row with two references included)."""
    references = [[REFERENCE, "a red circle"], ["two blue stars"], ["a green square"]]
    captions = ["a red circle on a black background", "two stars", "a green square"]
    per_example = CaptionScorer(references, anchors=captions)(captions)["cider"]
    assert sum(per_example) / 3 == pytest.approx(caption_metrics(captions, references, quick=True)["cider"])
