"""Checkpoints in OFA's format load through fairseq's own loading code into an equal model."""
from __future__ import annotations

import os
import re
from types import SimpleNamespace

import pytest
import torch
from fairseq import checkpoint_utils
from omegaconf import OmegaConf, open_dict

from ofa_mue.models.builders import build_model, model_args
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.errors import CheckpointError, ConfigError
from ofa_mue.checkpoint_loading import checkpoint_model_config, checkpoint_task_config
from ofa_mue.tasks.ofa_task import OFATask
from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask
from ofa_mue.tasks.settings import apply_option_overrides, option_defaults, resolve_settings

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


def test_model_overrides_beat_the_checkpoints_task_settings_and_the_command_line_is_used_as_given(tmp_path):
    """OFA's evaluate.py builds the task from the checkpoint's saved task config with
    ``--model-overrides`` applied on top (``load_model_ensemble_and_task(..., arg_overrides=...)``):
    a setting in --model-overrides wins over the checkpoint's. A setting given on the command line
    is used as given (the same value in --model-overrides is no conflict); one set nowhere is OFA's default."""
    args = model_args("ofa_tiny", task="caption", data="unused.tsv", bpe_dir=None, selected_cols="1,4,2",
                      patch_image_size=384, max_tgt_length=20, max_src_length=64, **OFA_ONLY_TASK_OPTIONS)
    path = str(tmp_path / "legacy.pt")
    torch.save({"args": args, "model": {}}, path)
    cfg = SimpleNamespace(_name="caption", inference_checkpoint=path,
                          inference_overrides="{'patch_image_size': 256, 'selected_cols': '0,4,2', "
                                              "'max_tgt_length': 25}",
                          **{name: None for name in OFATask.SETTING_DEFAULTS})
    cfg.max_tgt_length, cfg.num_bins = 25, 500  # on the command line
    sources = resolve_settings(cfg, OFATask.SETTING_DEFAULTS)
    assert (cfg.patch_image_size, cfg.selected_cols) == (256, "0,4,2")
    assert sources["patch_image_size"] == sources["selected_cols"] == "--model-overrides"
    assert (cfg.max_tgt_length, sources["max_tgt_length"]) == (25, "command line")
    assert (cfg.num_bins, sources["num_bins"]) == (500, "command line")
    assert (cfg.max_src_length, sources["max_src_length"]) == (64, path)
    assert (cfg.code_dict_size, sources["code_dict_size"]) == (OFATask.SETTING_DEFAULTS["code_dict_size"], "default")


@pytest.mark.parametrize("name, given, override", [
    ("max_tgt_length", 12, 25), ("patch_image_size", 480, 384), ("add_caption", False, True),
    ("selected_cols", "0,2,3,4,5", "0,2,3,4"), ("bpe_dir", "bpe", "other_bpe"),
    ("data", "snli_ve_test.tsv", "snli_ve_dev.tsv"),
])
def test_a_setting_the_command_line_and_model_overrides_give_differently_is_refused(tmp_path, monkeypatch,
                                                                                    name, given, override):
    """OFA's evaluate.py takes a task setting (and the data) from --model-overrides and ignores the
    command line's; a run here given both, with different values, is refused in one line naming the
    setting and both values, rather than silently evaluating something other than OFA would."""
    monkeypatch.chdir(tmp_path)
    defaults = SnliVeTask.SETTING_DEFAULTS
    cfg = SimpleNamespace(_name="snli_ve", inference_checkpoint=None, data="snli_ve_test.tsv",
                          inference_overrides=repr({name: override}), **{key: None for key in defaults})
    setattr(cfg, name, given)
    with pytest.raises(ConfigError, match=rf"^{'DATA' if name == 'data' else '--' + name.replace('_', '-')} is "
                                          rf"{re.escape(repr(given))} on the command line but {name} is "
                                          rf"{re.escape(repr(override))} in --model-overrides") as error:
        resolve_settings(cfg, defaults)
    assert "\n" not in str(error.value)


def test_the_same_files_named_two_ways_are_no_conflict(tmp_path, monkeypatch):
    """OFA's scripts pass the data both as DATA and in --model-overrides: the same files, however
    spelt (./file, an absolute path), are accepted."""
    monkeypatch.chdir(tmp_path)
    cfg = _unset_caption_cfg(None, overrides=repr({"data": f"{tmp_path}/a.tsv,./b.tsv", "bpe_dir": "./bpe/"}),
                             data="a.tsv,b.tsv", bpe_dir=str(tmp_path / "bpe"))
    assert resolve_settings(cfg, OFATask.SETTING_DEFAULTS)["bpe_dir"] == "command line"


def _snli_ve_options_cfg(overrides: dict, **given):
    """An SNLI-VE task config holding every option at its default, ``given`` set, ``overrides`` as
    --model-overrides."""
    cfg = OmegaConf.structured(SnliVeConfig)
    with open_dict(cfg):
        cfg.inference_overrides, cfg.inference_checkpoint = repr(overrides), None
    for name, value in given.items():
        cfg[name] = value
    return cfg


def test_task_options_in_model_overrides_are_applied_as_ofa_applies_them():
    """OFA's evaluate.py applies every --model-overrides key to the task it builds: an exit option
    there is set (typed as the option is) where the command line left it at its default, the same
    value on the command line too is no conflict, and a model option is left to the model's loading."""
    cfg = _snli_ve_options_cfg({"decoder_exit_threshold": 0.3, "exit_policy": "mue", "decoder_exit_tau": "1",
                                "decompose_modalities": True}, exit_policy="mue")
    applied = apply_option_overrides(cfg, option_defaults(SnliVeConfig), SnliVeTask.SETTING_DEFAULTS)
    assert applied == ["decoder_exit_threshold", "exit_policy", "decoder_exit_tau"]
    assert (cfg.decoder_exit_threshold, cfg.exit_policy, cfg.decoder_exit_tau) == (0.3, "mue", 1.0)
    assert "decompose_modalities" not in cfg


def test_a_task_option_the_command_line_and_model_overrides_give_differently_is_refused():
    cfg = _snli_ve_options_cfg({"decoder_exit_threshold": 0.3}, decoder_exit_threshold=0.9)
    with pytest.raises(ConfigError, match=r"^--decoder-exit-threshold is 0.9 on the command line but "
                                          r"decoder_exit_threshold is 0.3 in --model-overrides"):
        apply_option_overrides(cfg, option_defaults(SnliVeConfig), SnliVeTask.SETTING_DEFAULTS)


def test_a_task_option_of_the_wrong_type_in_model_overrides_is_a_one_line_error():
    cfg = _snli_ve_options_cfg({"decoder_exit_threshold": "high"})
    with pytest.raises(ConfigError, match=r"^--model-overrides: decoder_exit_threshold 'high' is not a valid value "
                                          r"of --decoder-exit-threshold") as error:
        apply_option_overrides(cfg, option_defaults(SnliVeConfig), SnliVeTask.SETTING_DEFAULTS)
    assert "\n" not in str(error.value)


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
