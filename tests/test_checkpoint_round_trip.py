"""Checkpoints in OFA's format load through fairseq's own loading code into an equal model."""
from __future__ import annotations

import argparse

import pytest
import torch
from fairseq import checkpoint_utils

from ofa_mue.models.builders import build_model, model_args
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.errors import CheckpointError

# Options OFA's caption task has and ours does not: official checkpoints carry them.
OFA_ONLY_TASK_OPTIONS = {"eval_bleu": False, "eval_print_samples": False, "uses_ema": False, "max_image_size": 512}


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model("ofa_tiny", OFAVocabulary.load().dictionary).eval()


def _ofa_cfg_checkpoint(model, arch: str = "ofa_tiny", **model_overrides) -> dict:
    model_namespace = model_args(arch, **model_overrides)
    model_namespace._name = arch
    task = {"_name": "caption", "data": "unused.tsv", "selected_cols": "1,4,2", "patch_image_size": 480,
            "imagenet_default_mean_and_std": False, **OFA_ONLY_TASK_OPTIONS}
    return {"cfg": {"model": model_namespace, "task": task}, "model": model.state_dict()}


def _outputs(model):
    torch.manual_seed(1)
    src = torch.randint(4, 500, (2, 7))
    prev = torch.randint(4, 500, (2, 5))
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        return model(src, None, prev, patch_images=images)[0]


def test_cfg_checkpoint_loads_with_load_model_ensemble(tiny_model, tmp_path):
    path = tmp_path / "caption_tiny.pt"
    torch.save(_ofa_cfg_checkpoint(tiny_model), path)
    models, cfg = checkpoint_utils.load_model_ensemble([str(path)])
    loaded = models[0].eval()
    assert cfg.model.arch == "ofa_tiny"
    assert type(loaded) is type(tiny_model)
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    torch.testing.assert_close(_outputs(loaded), _outputs(tiny_model), rtol=0, atol=0)


def test_legacy_args_checkpoint_loads(tiny_model, tmp_path):
    args = model_args("ofa_tiny", task="caption", data="unused.tsv", bpe_dir=None, selected_cols="1,4,2",
                      patch_image_size=480, **OFA_ONLY_TASK_OPTIONS)
    path = tmp_path / "legacy.pt"
    torch.save({"args": args, "model": tiny_model.state_dict()}, path)
    models, cfg = checkpoint_utils.load_model_ensemble([str(path)])
    torch.testing.assert_close(_outputs(models[0].eval()), _outputs(tiny_model), rtol=0, atol=0)


def test_checkpoint_claiming_another_architecture_fails_clearly(tiny_model, tmp_path):
    path = tmp_path / "mislabelled.pt"
    torch.save(_ofa_cfg_checkpoint(tiny_model, arch="ofa_medium"), path)
    with pytest.raises(CheckpointError, match="another architecture"):
        checkpoint_utils.load_model_ensemble([str(path)])
