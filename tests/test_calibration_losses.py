"""The per-example losses behind the certified calibration (:mod:`ofa_mue.calibration_losses`), on
hand-computed cases: each loss is the documented one, in [0, 1], and aligned example by example
(tests/test_risk_control.py::test_example_losses_per_task has the basic cases)."""
from __future__ import annotations

import pytest

from ofa_mue.calibration_losses import ExampleScorer, default_loss, describe_loss, example_losses


def test_label_loss_counts_only_answers_that_exits_made_wrong():
    # rows: both right, MuE wrong where full right, full wrong where MuE right, both wrong
    mue, full = {"correct": [1.0, 0.0, 1.0, 0.0]}, {"correct": [1.0, 1.0, 0.0, 0.0]}
    assert example_losses("snli_ve", "label", ["yes", "no", "yes", "maybe"], mue,
                          ["yes", "yes", "no", "no"], full).tolist() == [0.0, 1.0, 0.0, 0.0]


def test_consistency_loss_refuses_misaligned_predictions():
    assert example_losses("snli_ve", "consistency", ["yes", "no"], {}, ["yes", "yes"], {}).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError):
        example_losses("snli_ve", "consistency", ["yes", "no"], {}, ["yes", "no", "no"], {})


def test_rouge_loss_uses_the_given_cut_off():
    scores, full = {"rouge_l_full": [0.3, 0.5, 0.6, 0.85]}, {"rouge_l_full": [1.0] * 4}
    assert example_losses("caption", "rouge", [""] * 4, scores, [""] * 4, full, rouge_cutoff=0.5).tolist() == \
        [1.0, 0.0, 0.0, 0.0]
    assert example_losses("caption", "rouge", [""] * 4, scores, [""] * 4, full, rouge_cutoff=0.9).tolist() == \
        [1.0, 1.0, 1.0, 1.0]
    assert describe_loss("caption", "rouge", 0.5).endswith("is below 0.5")
    assert describe_loss("caption", "rouge").endswith("is below 0.8")


def test_cider_loss_is_the_relative_drop_clipped_to_0_1():
    mue, full = {"cider": [0.25, 3.0, 0.0, 1.5, 0.0]}, {"cider": [1.0, 2.0, 2.0, 0.0, 0.0]}
    # 1 - 0.25 = 0.75; a gain is no loss (not -0.5); all lost = 1; nothing to lose where full scores 0
    assert example_losses("caption", "cider", [""] * 5, mue, [""] * 5, full).tolist() == [0.75, 0.0, 1.0, 0.0, 0.0]


def test_default_losses_are_the_documented_ones():
    assert default_loss("snli_ve") == "consistency"  # needs no labels
    assert default_loss("caption") == "cider"


def test_snli_scorer_scores_each_answer_and_refuses_a_misaligned_list():
    scorer = ExampleScorer("snli_ve", ["yes", "no", "maybe"], ["yes", "no", "no"])
    assert scorer(["yes", "maybe", "maybe"]) == {"correct": [1.0, 0.0, 1.0]}
    with pytest.raises(ValueError, match="2 predictions for 3 examples"):
        scorer(["yes", "no"])
    with pytest.raises(ValueError, match="no calibration losses for task 'vqa'"):
        ExampleScorer("vqa", [], [])


def test_the_zero_one_losses_are_the_ones_given_exact_binomial_p_values():
    """consistency, label and rouge are 0 or 1 by definition (exact binomial p-values, the tighter
    test); the CIDEr-D drop takes values in between and is not among them."""
    from ofa_mue.calibration_losses import BINARY_LOSSES

    assert BINARY_LOSSES == {"consistency", "label", "rouge"}
    mue, full = {"correct": [1.0, 0.0, 0.0], "rouge_l_full": [0.9, 0.2, 0.5]}, {"correct": [1.0, 1.0, 0.0]}
    for task, loss in (("snli_ve", "consistency"), ("snli_ve", "label"), ("caption", "rouge")):
        values = example_losses(task, loss, ["yes", "no", "no"], mue, ["yes", "yes", "no"], full)
        assert set(values.tolist()) <= {0.0, 1.0}, loss
    drop = example_losses("caption", "cider", [""] * 2, {"cider": [0.5, 1.0]}, [""] * 2, {"cider": [1.0, 1.0]})
    assert "cider" not in BINARY_LOSSES and drop.tolist() == [0.5, 0.0]
