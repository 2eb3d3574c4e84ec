"""Checkpoints in OFA's format load through fairseq's own loading code into an equal model."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch
from fairseq import checkpoint_utils

from ofa_mue.models.builders import build_model, model_args
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.errors import CheckpointError
from ofa_mue.checkpoint_loading import checkpoint_model_config, checkpoint_task_config
from ofa_mue.tasks.ofa_task import OFATask
from ofa_mue.tasks.settings import resolve_settings

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


def test_a_legacy_args_checkpoint_gives_its_task_settings_to_an_evaluation_of_its_task(tmp_path):
    """A checkpoint with a flat ``args`` namespace (no ``cfg``) names its task in ``args.task`` and its
    architecture in ``args.arch``: an evaluation of that task takes the checkpoint's image size,
    columns and lengths where the command line sets none, as it does from a ``cfg`` checkpoint."""
    args = model_args("ofa_tiny", task="caption", data="unused.tsv", bpe_dir=None, selected_cols="1,4,2",
                      patch_image_size=384, max_tgt_length=20, **OFA_ONLY_TASK_OPTIONS)
    path = str(tmp_path / "legacy.pt")
    torch.save({"args": args, "model": {}}, path)
    assert checkpoint_task_config(path)["_name"] == "caption"
    assert checkpoint_model_config(path)["_name"] == "ofa_tiny"
    cfg = SimpleNamespace(_name="caption", inference_checkpoint=path, inference_overrides=None,
                          **{name: None for name in OFATask.SETTING_DEFAULTS})
    sources = resolve_settings(cfg, OFATask.SETTING_DEFAULTS)
    assert (cfg.patch_image_size, cfg.selected_cols, cfg.max_tgt_length) == (384, "1,4,2", 20)
    assert sources["patch_image_size"] == sources["selected_cols"] == path


def test_model_overrides_beat_the_checkpoints_task_settings_and_the_command_line_beats_both(tmp_path):
    """OFA's evaluate.py builds the task from the checkpoint's saved task config with
    ``--model-overrides`` applied on top (``load_model_ensemble_and_task(..., arg_overrides=...)``):
    a setting in --model-overrides wins over the checkpoint's. A setting given on the command line
    is used as given (ofa_mue's documented precedence); one set nowhere is OFA's default."""
    args = model_args("ofa_tiny", task="caption", data="unused.tsv", bpe_dir=None, selected_cols="1,4,2",
                      patch_image_size=384, max_tgt_length=20, max_src_length=64, **OFA_ONLY_TASK_OPTIONS)
    path = str(tmp_path / "legacy.pt")
    torch.save({"args": args, "model": {}}, path)
    cfg = SimpleNamespace(_name="caption", inference_checkpoint=path,
                          inference_overrides="{'patch_image_size': 256, 'selected_cols': '0,4,2', "
                                              "'max_tgt_length': 25}",
                          **{name: None for name in OFATask.SETTING_DEFAULTS})
    cfg.max_tgt_length = 12  # on the command line
    sources = resolve_settings(cfg, OFATask.SETTING_DEFAULTS)
    assert (cfg.patch_image_size, cfg.selected_cols) == (256, "0,4,2")
    assert sources["patch_image_size"] == sources["selected_cols"] == "--model-overrides"
    assert (cfg.max_tgt_length, sources["max_tgt_length"]) == (12, "command line")
    assert (cfg.max_src_length, sources["max_src_length"]) == (64, path)
    assert (cfg.num_bins, sources["num_bins"]) == (1000, "default")


def _settings_checkpoint(path, task: str = "caption", **settings) -> str:
    """A legacy-``args`` checkpoint of ``task`` with the given task settings and no weights."""
    args = model_args("ofa_tiny", task=task, data="unused.tsv", **{"bpe_dir": None, **settings},
                      **OFA_ONLY_TASK_OPTIONS)
    torch.save({"args": args, "model": {}}, path)
    return str(path)


def _unset_caption_cfg(checkpoint, overrides=None, **given):
    cfg = SimpleNamespace(_name="caption", inference_checkpoint=checkpoint, inference_overrides=overrides,
                          **{name: None for name in OFATask.SETTING_DEFAULTS})
    for name, value in given.items():
        setattr(cfg, name, value)
    return cfg


def test_a_false_or_zero_setting_is_used_where_given(tmp_path):
    """A setting is given when it is not None, whatever its value: False or 0 on the command line
    or in --model-overrides wins over the checkpoint's True or positive value, and the checkpoint's
    False wins over OFA's default as its True does."""
    path = _settings_checkpoint(tmp_path / "trained.pt", imagenet_default_mean_and_std=True, num_bins=500)
    cfg = _unset_caption_cfg(path, imagenet_default_mean_and_std=False, num_bins=0)
    sources = resolve_settings(cfg, OFATask.SETTING_DEFAULTS)
    assert (cfg.imagenet_default_mean_and_std, sources["imagenet_default_mean_and_std"]) == (False, "command line")
    assert (cfg.num_bins, sources["num_bins"]) == (0, "command line")
    cfg = _unset_caption_cfg(path, "{'imagenet_default_mean_and_std': False, 'num_bins': 0}")
    sources = resolve_settings(cfg, OFATask.SETTING_DEFAULTS)
    assert (cfg.imagenet_default_mean_and_std, sources["imagenet_default_mean_and_std"]) == (False, "--model-overrides")
    assert (cfg.num_bins, sources["num_bins"]) == (0, "--model-overrides")
    cfg = _unset_caption_cfg(path)
    sources = resolve_settings(cfg, OFATask.SETTING_DEFAULTS)
    assert (cfg.imagenet_default_mean_and_std, cfg.num_bins) == (True, 500)
    assert sources["imagenet_default_mean_and_std"] == sources["num_bins"] == path


def test_a_checkpoints_bpe_dir_missing_on_this_machine_gives_way_to_the_shipped_files(tmp_path):
    """The checkpoint's --bpe-dir is used where it exists here; where it does not (a checkpoint
    trained on another machine) the shipped OFA files are (bpe_dir None, source "default")."""
    gone = _settings_checkpoint(tmp_path / "elsewhere.pt", bpe_dir=str(tmp_path / "no_such_bpe"))
    cfg = _unset_caption_cfg(gone)
    assert resolve_settings(cfg, OFATask.SETTING_DEFAULTS)["bpe_dir"] == "default"
    assert cfg.bpe_dir is None
    (tmp_path / "bpe").mkdir()
    here = _settings_checkpoint(tmp_path / "here.pt", bpe_dir=str(tmp_path / "bpe"))
    cfg = _unset_caption_cfg(here)
    assert resolve_settings(cfg, OFATask.SETTING_DEFAULTS)["bpe_dir"] == here
    assert cfg.bpe_dir == str(tmp_path / "bpe")


def test_a_checkpoint_of_another_task_gives_no_settings(tmp_path):
    """An SNLI-VE checkpoint evaluated as a caption task (or the reverse) lends none of its task
    settings: every unset one is OFA's default."""
    path = _settings_checkpoint(tmp_path / "snli_ve.pt", task="snli_ve", patch_image_size=384, max_tgt_length=20)
    cfg = _unset_caption_cfg(path)
    sources = resolve_settings(cfg, OFATask.SETTING_DEFAULTS)
    assert set(sources.values()) == {"default"}
    assert (cfg.patch_image_size, cfg.max_tgt_length) == (480, 30)


def test_an_ensembles_settings_come_from_its_first_checkpoint(tmp_path):
    """With --path a.pt:b.pt (an ensemble) the settings come from a.pt, as fairseq's
    load_model_ensemble_and_task builds the task from the first checkpoint's config."""
    first = _settings_checkpoint(tmp_path / "first.pt", patch_image_size=384, max_tgt_length=20)
    second = _settings_checkpoint(tmp_path / "second.pt", patch_image_size=256, max_tgt_length=16)
    cfg = _unset_caption_cfg(os.pathsep.join([first, second]))
    sources = resolve_settings(cfg, OFATask.SETTING_DEFAULTS)
    assert (cfg.patch_image_size, cfg.max_tgt_length) == (384, 20)
    assert sources["patch_image_size"] == sources["max_tgt_length"] == first
