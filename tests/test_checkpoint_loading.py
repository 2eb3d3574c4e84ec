"""fairseq checkpoint loading on torch 2.14: the allow-list, the trust opt-in, clear errors."""
from __future__ import annotations

import argparse
import collections

import numpy
import pytest
import torch
from fairseq import checkpoint_utils

import ofa_mue  # noqa: F401  (installs the loading policy)
from ofa_mue.errors import CheckpointError


class UnexpectedPayload:
    """A class no fairseq checkpoint holds: unpickling it must be refused by default."""


def _fairseq_state(**extra):
    state = {
        "args": None,
        "cfg": {"model": argparse.Namespace(arch="ofa_base", dropout=0.1), "task": {"_name": "caption"}},
        "model": collections.OrderedDict(weight=torch.ones(2, 2)),
        "optimizer_history": [{"criterion_name": "x", "optimizer_name": "Adam", "lr_scheduler_state": {"best": 1.0},
                               "num_updates": 7}],
        "extra_state": {"epoch": 1, "val_loss": numpy.float64(2.5), "metrics": {}},
        "last_optimizer_state": {},
    }
    state.update(extra)
    return state


def test_fairseq_checkpoint_loads_without_unsafe_unpickling(tmp_path, monkeypatch):
    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    path = tmp_path / "checkpoint.pt"
    torch.save(_fairseq_state(), path)
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert state["cfg"].model.arch == "ofa_base"
    assert float(state["extra_state"]["val_loss"]) == 2.5
    torch.testing.assert_close(state["model"]["weight"], torch.ones(2, 2))


def test_bare_export_in_ofa_format_loads(tmp_path):
    path = tmp_path / "export.pt"
    torch.save({"model": {"weight": torch.ones(1)}, "cfg": {"model": argparse.Namespace(arch="ofa_tiny")}}, path)
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert state["cfg"].model.arch == "ofa_tiny"


def test_unexpected_global_is_refused_naming_file_and_class(tmp_path, monkeypatch):
    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    path = tmp_path / "hostile.pt"
    torch.save(_fairseq_state(payload=UnexpectedPayload()), path)
    with pytest.raises(CheckpointError) as error:
        checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert str(path) in str(error.value)
    assert "UnexpectedPayload" in str(error.value)
    assert "OFA_MUE_TRUST_CHECKPOINTS" in str(error.value)


def test_trusted_opt_in_loads_other_globals(tmp_path, monkeypatch):
    path = tmp_path / "legacy.pt"
    torch.save(_fairseq_state(payload=UnexpectedPayload()), path)
    monkeypatch.setenv("OFA_MUE_TRUST_CHECKPOINTS", "1")
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert isinstance(state["payload"], UnexpectedPayload)


def test_truncated_checkpoint_gives_clear_error(tmp_path):
    path = tmp_path / "truncated.pt"
    torch.save(_fairseq_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))


def test_missing_and_foreign_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "absent.pt"))
    weights_only = tmp_path / "weights.pt"
    torch.save({"weight": torch.ones(1)}, weights_only)
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        checkpoint_utils.load_checkpoint_to_cpu(str(weights_only))
    no_config = tmp_path / "no_config.pt"
    torch.save({"model": {"weight": torch.ones(1)}}, no_config)
    with pytest.raises(CheckpointError, match=f"{no_config}: .*no 'args' or 'cfg'"):
        checkpoint_utils.load_checkpoint_to_cpu(str(no_config))
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        checkpoint_utils.load_checkpoint_to_cpu(str(text))


def test_ema_weights_load_through_the_allow_list(tmp_path, monkeypatch):
    """``--ema-seed-model`` reads a checkpoint with fairseq's own ``load_ema_from_checkpoint``."""
    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    state = _fairseq_state()
    state["extra_state"]["ema"] = collections.OrderedDict(weight=torch.full((2, 2), 3.0))
    path = tmp_path / "ema.pt"
    torch.save(state, path)
    loaded = checkpoint_utils.load_ema_from_checkpoint(str(path))
    torch.testing.assert_close(loaded["model"]["weight"], torch.full((2, 2), 3.0))

    hostile = tmp_path / "hostile_ema.pt"
    torch.save({**state, "payload": UnexpectedPayload()}, hostile)
    with pytest.raises(CheckpointError, match=f"{hostile}: refused to unpickle: it holds .*UnexpectedPayload"):
        checkpoint_utils.load_ema_from_checkpoint(str(hostile))
