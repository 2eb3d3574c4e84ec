"""benchmarks/layerwise_vs_plain.py's caption table (README: "The layer-wise loss is what makes
early layers usable") gives each decoder layer's teacher-forced validation NLL in bits per
token: its last column is the model's own NLL, computed here from its ordinary forward pass."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import layerwise_vs_plain  # noqa: E402


def plain_nll_bits_per_token(data: Path, checkpoint: Path, image_size: int) -> float:
    """The validation NLL of the model's last decoder layer, from fairseq's own forward pass."""
    from fairseq import checkpoint_utils

    overrides = {"data": f"{data}/caption", "bpe_dir": f"{data}/bpe", "patch_image_size": image_size}
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([str(checkpoint)], arg_overrides=overrides)
    model = models[0].eval()
    task.load_dataset("valid")
    pad = task.target_dictionary.pad()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for sample in task.get_batch_iterator(dataset=task.dataset("valid"), max_sentences=4).next_epoch_itr(
                shuffle=False):
            lprobs = model.get_normalized_probs(model(**sample["net_input"]), log_probs=True)
            target = sample["target"]
            scored = target.ne(pad)
            total += float(-lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)[scored].sum())
            tokens += int(scored.sum())
    return total / tokens / math.log(2)


def test_caption_loss_by_layer_is_each_layers_nll_in_bits_per_token(demo_data, demo_checkpoints):
    checkpoint = demo_checkpoints["caption"].path
    by_layer = layerwise_vs_plain.caption_loss_by_layer(str(demo_data), str(checkpoint), 64)
    assert len(by_layer) == layerwise_vs_plain.DEPTH == 6
    assert by_layer[-1] == pytest.approx(plain_nll_bits_per_token(demo_data, checkpoint, 64), rel=1e-4)
    assert all(0 < value < 20 for value in by_layer) and len(set(by_layer)) == 6, by_layer  # each layer its own


def test_the_tables_rows_are_the_losses_they_name():
    results = {"snli_ve": {"plain": [0.5, 0.6, 0.7, 0.8, 0.9, 0.95], "layerwise": [0.9] * 6},
               "caption": {"plain": [3.337, 2.614, 2.293, 2.001, 1.856, 1.795], "layerwise": [1.825] + [1.8] * 5}}
    text = layerwise_vs_plain.markdown(results, 500)
    assert "500 updates each" in text
    assert "| plain | 50.0% | 60.0% | 70.0% | 80.0% | 90.0% | 95.0% |" in text
    assert "| layerwise | 90.0% | 90.0% | 90.0% | 90.0% | 90.0% | 90.0% |" in text
    caption = text.split("Caption validation loss")[1]
    assert "| plain | 3.337 | 2.614 | 2.293 | 2.001 | 1.856 | 1.795 |" in caption
    assert "| layerwise | 1.825 | 1.800 | 1.800 | 1.800 | 1.800 | 1.800 |" in caption
