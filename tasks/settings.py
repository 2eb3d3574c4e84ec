"""Task settings: the options that shape a model's inputs, and where a run takes each from.

Image size, text lengths, prompt layout, data columns and vocabulary are *settings*: their
dataclass default is ``None``, "not set". A setting given on the command line is used as
given, whatever its value (the default's included); one given both there and in
``--model-overrides`` with another value is refused (OFA's ``evaluate.py`` takes the
overrides and ignores the command line, so either choice would surprise someone), and so is
a ``data`` in ``--model-overrides`` that names other files than the command line's DATA. An
unset one comes, in this order, from

1. ``--model-overrides`` (OFA's evaluation scripts pass task options there),
2. the checkpoint being evaluated (``--path`` of fairseq-generate, ``ofa_mue.evaluate``,
   calibrate and sweep), when it was fine-tuned for the same task,
3. OFA's default (:attr:`OFAConfig.SETTING_DEFAULTS`).

The task's other options (exit thresholds and policy, ``--eval-args`` ...) are not settings: a
checkpoint's are never used, but one that ``--model-overrides`` names is, as OFA's
``evaluate.py`` applies every override to the task it builds (:func:`apply_option_overrides`).

Training has no ``--path`` (``--restore-file`` is not it), so it uses OFA's defaults for
what it does not set. fairseq builds a task before it reads any checkpoint; the task finds
``--path`` and ``--model-overrides`` through two hidden options that refer to them
(``inference_checkpoint``, ``inference_overrides``) and reads only the checkpoint's
configuration (:func:`ofa_mue.checkpoint_loading.checkpoint_task_config`).
"""
from __future__ import annotations

import ast
import dataclasses
import logging
import os
from typing import Any, Dict, List, Mapping, Optional

from fairseq import utils
from omegaconf import OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from ofa_mue.checkpoint_loading import checkpoint_task_config
from ofa_mue.errors import ConfigError

logger = logging.getLogger(__name__)


def resolve_settings(cfg: Any, defaults: Mapping[str, Any]) -> Dict[str, str]:
    """Fill every unset setting of the task config ``cfg`` in place (see the module docstring).

    Returns where each setting came from: ``"command line"``, ``"--model-overrides"``, the
    checkpoint's path, or ``"default"``.
    """
    overrides = _model_overrides(cfg)
    _refuse_conflicts(cfg, overrides, defaults)
    checkpoint = _hidden_value(cfg, "inference_checkpoint")
    checkpoint = utils.split_paths(checkpoint)[0] if checkpoint else None
    saved = _checkpoint_settings(checkpoint, _hidden_value(cfg, "_name")) if checkpoint else {}
    sources: Dict[str, str] = {}
    values: Dict[str, Any] = {}
    for name, default in defaults.items():
        if getattr(cfg, name, None) is not None:
            sources[name] = "command line"
            continue
        for source, given in (("--model-overrides", overrides), (checkpoint, saved)):
            if given.get(name) is not None:
                values[name], sources[name] = given[name], source
                break
        else:
            values[name], sources[name] = default, "default"
    if sources.get("bpe_dir") == checkpoint and not os.path.isdir(values["bpe_dir"]):
        logger.warning("the checkpoint's --bpe-dir %s is not on this machine: using OFA's vocabulary files "
                       "shipped with ofa_mue (pass --bpe-dir to choose)", values["bpe_dir"])
        values["bpe_dir"], sources["bpe_dir"] = defaults["bpe_dir"], "default"
    _assign(cfg, values)
    inherited = {name: getattr(cfg, name) for name, source in sources.items() if source == checkpoint}
    if inherited:
        logger.info("task settings from %s: %s", checkpoint,
                    ", ".join(f"{name}={value}" for name, value in sorted(inherited.items())))
    return sources


def option_defaults(config_class: type) -> Dict[str, Any]:
    """Every option of a task's config dataclass with its default (fairseq's hidden fields and
    the interpolated ``inference_*`` ones left out)."""
    return {option.name: option.default for option in dataclasses.fields(config_class)
            if not option.name.startswith(("_", "inference_")) and option.default is not dataclasses.MISSING}


def apply_option_overrides(cfg: Any, defaults: Mapping[str, Any], settings: Mapping[str, Any]) -> List[str]:
    """Set each task option that ``--model-overrides`` names, other than ``data`` and the
    ``settings`` (:func:`resolve_settings` places those), in the task config ``cfg`` in place.

    ``defaults``: every option of the task's config with its default (:func:`option_defaults`). An option the
    command line left at its default takes the overrides' value; one it gives another value
    that the overrides contradict is a :class:`ConfigError`. Returns the options set.
    """
    overrides = _model_overrides(cfg)
    applied = []
    for name, value in overrides.items():
        if name not in defaults or name in settings or name == "data":
            continue  # a model option (fairseq applies those to the checkpoint's), or placed already
        given = getattr(cfg, name)
        if given != defaults[name] and str(given) != str(value):
            raise _conflict(name, given, value)
        try:
            _assign(cfg, {name: value})
        except OmegaConfBaseException as error:
            raise ConfigError(f"--model-overrides: {name} {value!r} is not a valid value of --"
                              f"{name.replace('_', '-')}: {str(error).splitlines()[0]}") from None
        applied.append(name)
    if applied:
        logger.info("task options from --model-overrides: %s",
                    ", ".join(f"{name}={getattr(cfg, name)}" for name in applied))
    return applied


PATH_SETTINGS = ("data", "bpe_dir")
"""Settings compared as the files they name (``data`` may be OFA's comma-separated list)."""


def _refuse_conflicts(cfg: Any, overrides: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Refuse a setting (or ``data``) that the command line and ``--model-overrides`` give differently."""
    for name in ("data", *defaults):
        given, override = _hidden_value(cfg, name), overrides.get(name)
        if given is None or override is None or _same_setting(name, given, override):
            continue
        raise _conflict(name, given, override)


def _conflict(name: str, given: Any, override: Any) -> ConfigError:
    option = "DATA" if name == "data" else "--" + name.replace("_", "-")
    return ConfigError(f"{option} is {given!r} on the command line but {name} is {override!r} in --model-overrides: "
                       f"give it once, or the same in both (OFA's evaluate.py would take --model-overrides' and "
                       f"ignore the command line's)")


def _same_setting(name: str, given: Any, override: Any) -> bool:
    if name in PATH_SETTINGS:
        return ([os.path.realpath(path) for path in str(given).split(",")]
                == [os.path.realpath(path) for path in str(override).split(",")])
    return str(given) == str(override)


def _checkpoint_settings(path: str, task_name: Optional[str]) -> Dict[str, Any]:
    saved = checkpoint_task_config(path)
    if saved.get("_name") != task_name:
        logger.warning("%s was trained for task %r, not %r: its task settings are not used", path,
                       saved.get("_name"), task_name)
        return {}
    return saved


def _model_overrides(cfg: Any) -> Dict[str, Any]:
    text = _hidden_value(cfg, "inference_overrides")
    if not text:
        return {}
    try:
        overrides = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ConfigError(f"--model-overrides must be a Python dict literal, got {text!r}") from None
    if not isinstance(overrides, dict):
        raise ConfigError(f"--model-overrides must be a Python dict literal, got {text!r}")
    return overrides


def _hidden_value(cfg: Any, name: str) -> Optional[str]:
    """A config value that may be an interpolation of another section: ``None`` where it cannot
    be resolved (a config built in Python, outside fairseq's command lines)."""
    try:
        value = getattr(cfg, name, None)
    except OmegaConfBaseException:
        return None
    if isinstance(value, str) and value.startswith("${"):
        return None
    return value


def _assign(cfg: Any, values: Mapping[str, Any]) -> None:
    if OmegaConf.is_config(cfg):
        with open_dict(cfg):
            for name, value in values.items():
                cfg[name] = value
    else:
        for name, value in values.items():
            setattr(cfg, name, value)
