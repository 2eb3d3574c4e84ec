"""Checkpoint loading for fairseq on torch >= 2.6, with an allow-list instead of blanket unpickling.

torch >= 2.6 unpickles only tensors and plain containers by default (``weights_only=True``),
and fairseq's ``load_checkpoint_to_cpu`` does not say otherwise, so every fairseq
checkpoint fails to load: they hold their configuration as ``argparse.Namespace`` and
omegaconf objects, and numpy scalars among their training statistics.

Importing this module wraps every place where fairseq unpickles a checkpoint:

- ``fairseq.checkpoint_utils.load_checkpoint_to_cpu``: every entry point that reads a
  checkpoint file (``--restore-file``, resuming from ``checkpoint_last.pt``, ``--path``,
  ``--finetune-from-model``), on one rank or on all (``--load-checkpoint-on-all-dp-ranks``);
- ``fairseq.checkpoint_utils.load_ema_from_checkpoint`` (``--ema-seed-model``);
- ``fairseq.distributed.utils._broadcast_object_slow``: with more than one rank, rank 0
  reads the checkpoint and broadcasts it, and the other ranks unpickle what they receive.

Each wrapper

- unpickles with exactly the extra classes fairseq and OFA checkpoints hold
  (:data:`ALLOWED_GLOBALS`; a broadcast also holds fairseq's tensor placeholders), and
  refuses anything else with an error naming the file (or the broadcasting rank) and the
  classes it holds;
- loads with full unpickling only when the user opts in for trusted files with the
  environment variable ``OFA_MUE_TRUST_CHECKPOINTS=1`` (unpickling can run code);
- turns a missing, truncated or foreign file into a :class:`~ofa_mue.errors.CheckpointError`.

Loading a file also accepts a bare export in OFA's format (``{"model": ..., "cfg" or
"args": ...}`` without fairseq's training history), which fairseq's upgrade step would
otherwise fail on.

Nothing else global is changed: torch's own allow-list is left as it is.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import pickle
import typing
import zipfile
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy
import omegaconf
import torch
from fairseq import checkpoint_utils
from fairseq.distributed import utils as distributed_utils

from .errors import CheckpointError

TRUST_ENV_VAR = "OFA_MUE_TRUST_CHECKPOINTS"
_numpy_core = getattr(numpy, "_core", None) or numpy.core  # numpy 2 renamed numpy.core

ALLOWED_GLOBALS: List[Any] = [
    argparse.Namespace,
    collections.defaultdict,
    typing.Any,
    omegaconf.DictConfig,
    omegaconf.ListConfig,
    omegaconf.base.ContainerMetadata,
    omegaconf.base.Metadata,
    omegaconf.nodes.AnyNode,
    omegaconf.nodes.StringNode,
    omegaconf.nodes.IntegerNode,
    omegaconf.nodes.FloatNode,
    omegaconf.nodes.BooleanNode,
    numpy.dtype,
    numpy.ndarray,
    _numpy_core.multiarray.scalar,
    _numpy_core.multiarray._reconstruct,
    *{type(numpy.dtype(name)) for name in ("float64", "float32", "int64", "int32", "bool")},
    dict,
    list,
    int,
]
"""Classes (beyond torch's defaults) that fairseq/OFA checkpoints hold: the training
configuration (``argparse.Namespace``, omegaconf containers, whose metadata names the types
``dict``, ``list`` and ``int``: fairseq and OFA save plain containers, checkpoints of
fairseq's hydra transition hold pickled ``DictConfig`` objects) and numpy scalars/arrays in
the training state (best validation score, meters)."""

BROADCAST_GLOBALS: List[Any] = [*ALLOWED_GLOBALS, distributed_utils._TensorPlaceholder, bool, float, str, bytes]
"""What a checkpoint broadcast from rank 0 holds: the checkpoint's classes, the placeholders
fairseq puts where the tensors were (it sends those separately), and the plain types that
the loaded configuration's omegaconf metadata names (fairseq turns the configuration into
omegaconf objects after reading the file)."""

_fairseq_load_checkpoint_to_cpu: Callable[..., Dict[str, Any]] = checkpoint_utils.load_checkpoint_to_cpu
_fairseq_load_ema_from_checkpoint: Callable[[str], Dict[str, Any]] = checkpoint_utils.load_ema_from_checkpoint
_fairseq_broadcast_object_slow: Callable[..., Any] = distributed_utils._broadcast_object_slow
_fairseq_upgrade_state_dict: Callable[[Dict[str, Any]], Dict[str, Any]] = checkpoint_utils._upgrade_state_dict


def trusted_checkpoints() -> bool:
    """Whether the user opted in to full unpickling (``OFA_MUE_TRUST_CHECKPOINTS=1``)."""
    return os.environ.get(TRUST_ENV_VAR, "").strip().lower() in ("1", "true", "yes")


@contextlib.contextmanager
def _unpickling_policy(allowed: List[Any] = ALLOWED_GLOBALS) -> Iterator[None]:
    if not trusted_checkpoints():
        with torch.serialization.safe_globals(allowed):
            yield
        return
    previous = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # torch's own switch, for this call only
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = previous


def load_checkpoint_to_cpu(
    path: str, arg_overrides: Optional[Dict[str, Any]] = None, load_on_all_ranks: bool = False
) -> Dict[str, Any]:
    """fairseq's ``load_checkpoint_to_cpu`` with the allow-list and clear errors (see module doc)."""
    with _loading(path):
        return _fairseq_load_checkpoint_to_cpu(path, arg_overrides, load_on_all_ranks)


def load_ema_from_checkpoint(path: str) -> Dict[str, Any]:
    """fairseq's ``load_ema_from_checkpoint`` (``--ema-seed-model``) with the allow-list and clear errors."""
    with _loading(path):
        return _fairseq_load_ema_from_checkpoint(path)


def broadcast_object_slow(obj: Any, src_rank: int, group: object, dist_device: torch.device) -> Any:
    """fairseq's broadcast of a picklable object from ``src_rank``; the receiving ranks unpickle
    it with the allow-list (or fully, with the trust opt-in) like a checkpoint file."""
    try:
        with _unpickling_policy(BROADCAST_GLOBALS):
            return _fairseq_broadcast_object_slow(obj, src_rank, group, dist_device)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"checkpoint state broadcast by rank {src_rank}: refused to unpickle it, it holds classes not among "
            f"those fairseq/OFA checkpoints hold. If you trust the checkpoint, set {TRUST_ENV_VAR}=1 on every rank "
            f"(unpickling can run code). Unpickler said: {str(error).splitlines()[0]}"
        ) from None


def checkpoint_task_config(path: str) -> Dict[str, Any]:
    """The task options a checkpoint was trained with, as a plain dict with the task's name
    under ``_name`` (from its ``cfg.task``, or a legacy flat ``args`` namespace).

    Reads the configuration only: a checkpoint in torch's zip format is memory-mapped, so
    its weights are not read. Same allow-list and errors as :func:`load_checkpoint_to_cpu`.
    """
    return _checkpoint_config(path, "task")


def checkpoint_model_config(path: str) -> Dict[str, Any]:
    """The model options a checkpoint was trained with (e.g. ``decompose_modalities``), as a
    plain dict (from its ``cfg.model``, or a legacy flat ``args`` namespace); reads as
    :func:`checkpoint_task_config` does."""
    return _checkpoint_config(path, "model")


LEGACY_NAME_FIELDS = {"task": "task", "model": "arch"}
"""Where a legacy flat ``args`` namespace keeps the name of each config group."""


def _checkpoint_config(path: str, group: str) -> Dict[str, Any]:
    """``cfg[group]`` of the checkpoint at ``path`` as a plain dict, or its legacy ``args`` with
    the task's name (``group`` "task") or the architecture under ``_name``; empty when it has
    neither."""
    with _loading(path):
        state = torch.load(path, map_location="cpu", mmap=zipfile.is_zipfile(path))
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a fairseq checkpoint (no 'model' entry)")
    if state.get("cfg") is not None and state["cfg"].get(group) is not None:
        options = state["cfg"][group]
        if omegaconf.OmegaConf.is_config(options):
            return omegaconf.OmegaConf.to_container(options)
        return dict(vars(options)) if isinstance(options, argparse.Namespace) else dict(options)
    if state.get("args") is not None:
        return {**vars(state["args"]), "_name": getattr(state["args"], LEGACY_NAME_FIELDS[group], None)}
    return {}


@contextlib.contextmanager
def _loading(path: str) -> Iterator[None]:
    """Unpickle ``path`` under the policy, turning what goes wrong into a :class:`CheckpointError`."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with _unpickling_policy():
            yield
    except pickle.UnpicklingError as error:
        raise CheckpointError(_refusal_message(path, error)) from None
    except (EOFError, RuntimeError) as error:
        if not _is_unreadable_file_error(error):
            raise
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint (truncated or corrupt file?): {error}"
        ) from None
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None


def upgrade_state_dict(state: Any) -> Dict[str, Any]:
    """Check that ``state`` is a fairseq/OFA checkpoint, give a bare export the training
    history fairseq expects, then run fairseq's own upgrade."""
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError("not a fairseq checkpoint (no 'model' entry)")
    if state.get("args") is None and state.get("cfg") is None:
        raise CheckpointError("not a fairseq checkpoint (no 'args' or 'cfg' entry naming the architecture)")
    if "optimizer_history" not in state and "best_loss" not in state:
        state["optimizer_history"] = [{"criterion_name": None, "optimizer_name": None,
                                       "lr_scheduler_state": {"best": None}, "num_updates": 0}]
        state.setdefault("last_optimizer_state", None)
    if "extra_state" not in state and "epoch" not in state:
        state["extra_state"] = {}
    return _fairseq_upgrade_state_dict(state)


def _is_unreadable_file_error(error: Exception) -> bool:
    if isinstance(error, EOFError):
        return True
    text = str(error)
    return any(part in text for part in ("PytorchStreamReader", "zip archive", "invalid load key", "magic number"))


def _refusal_message(path: str, error: Exception) -> str:
    if not zipfile.is_zipfile(path):
        return (
            f"{path}: not a readable torch checkpoint (not torch's zip format; a legacy pickle "
            f"checkpoint you trust can be loaded with {TRUST_ENV_VAR}=1)"
        )
    allowed = _allowed_names()
    unexpected = [name for name in torch.serialization.get_unsafe_globals_in_checkpoint(path) if name not in allowed]
    found = f"it holds {', '.join(unexpected)}, " if unexpected else "it holds classes "
    return (
        f"{path}: refused to unpickle: {found}not among the classes fairseq/OFA checkpoints hold. "
        f"If you trust this file, set {TRUST_ENV_VAR}=1 to load it with full unpickling "
        f"(unpickling can run code). Unpickler said: {str(error).splitlines()[0]}"
    )


def _allowed_names() -> set[str]:
    return {f"{obj.__module__}.{obj.__qualname__}" for obj in ALLOWED_GLOBALS if hasattr(obj, "__qualname__")}


checkpoint_utils.load_checkpoint_to_cpu = load_checkpoint_to_cpu
checkpoint_utils.load_ema_from_checkpoint = load_ema_from_checkpoint
checkpoint_utils._upgrade_state_dict = upgrade_state_dict
distributed_utils._broadcast_object_slow = broadcast_object_slow
