"""fairseq checkpoint loading on torch 2.14: the allow-list, the trust opt-in, clear errors."""
from __future__ import annotations

import argparse
import collections
import os

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
    assert state["optimizer_history"][-1]["num_updates"] == 7  # a resumed run goes on from its update
    torch.testing.assert_close(state["model"]["weight"], torch.ones(2, 2))


def test_bare_export_in_ofa_format_loads(tmp_path):
    path = tmp_path / "export.pt"
    torch.save({"model": {"weight": torch.ones(1)}, "cfg": {"model": argparse.Namespace(arch="ofa_tiny")}}, path)
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert state["cfg"].model.arch == "ofa_tiny"


def test_unexpected_global_is_refused_naming_file_and_class(tmp_path, monkeypatch):
    """The file also holds allowed classes (argparse.Namespace, numpy scalars): the error names only
    the one that is refused."""
    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    path = tmp_path / "hostile.pt"
    torch.save(_fairseq_state(payload=UnexpectedPayload()), path)
    with pytest.raises(CheckpointError) as error:
        checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert str(path) in str(error.value)
    assert "UnexpectedPayload" in str(error.value)
    assert "OFA_MUE_TRUST_CHECKPOINTS" in str(error.value)
    assert str(error.value).startswith(f"{path}: refused to unpickle: it holds {UnexpectedPayload.__module__}."
                                       "UnexpectedPayload, not among the classes fairseq/OFA checkpoints hold.")


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


def _cut_off_legacy_pickle(path) -> None:
    """``path`` saved in torch's legacy (non-zip) format, then cut off mid-pickle (an EOFError)."""
    torch.save(_fairseq_state(), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_zip_record(path) -> None:
    """``path`` in torch's zip format with the header of its tensor record overwritten (its index intact)."""
    import zipfile

    torch.save(_fairseq_state(), path)
    with zipfile.ZipFile(path) as archive:
        offset = next(i.header_offset for i in archive.infolist() if i.filename.endswith("data/0"))
    data = bytearray(path.read_bytes())
    data[offset:offset + 4] = b"XXXX"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_cut_off_legacy_pickle, _corrupt_zip_record],
                         ids=["legacy_pickle_cut_off", "zip_record_corrupt"])
def test_a_damaged_checkpoint_of_either_format_gives_clear_error(tmp_path, damage):
    path = tmp_path / "damaged.pt"
    damage(path)
    with pytest.raises(CheckpointError, match=f"^{path}: not a readable torch checkpoint \\(truncated or corrupt"):
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


def test_trusted_load_sets_torchs_switch_for_that_load_only(tmp_path, monkeypatch):
    """The trust opt-in loads through torch's TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, for the one load: once
    it is done the variable is as the user had it (unset, or their own value), and a later load
    without the opt-in refuses the same file again."""
    path = tmp_path / "legacy.pt"
    torch.save(_fairseq_state(payload=UnexpectedPayload()), path)
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.setenv("OFA_MUE_TRUST_CHECKPOINTS", "1")
    assert isinstance(checkpoint_utils.load_checkpoint_to_cpu(str(path))["payload"], UnexpectedPayload)
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0")  # the user's own setting (off)
    checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "0"
    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS")
    with pytest.raises(CheckpointError, match="UnexpectedPayload"):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_trust_opt_in_is_refused_by_other_values(tmp_path, monkeypatch, value):
    """Only 1, true or yes (any case, spaces around) opt in: OFA_MUE_TRUST_CHECKPOINTS=0 keeps the allow-list."""
    path = tmp_path / "hostile.pt"
    torch.save(_fairseq_state(payload=UnexpectedPayload()), path)
    monkeypatch.setenv("OFA_MUE_TRUST_CHECKPOINTS", value)
    with pytest.raises(CheckpointError, match="refused to unpickle"):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))
    monkeypatch.setenv("OFA_MUE_TRUST_CHECKPOINTS", " TRUE ")
    assert isinstance(checkpoint_utils.load_checkpoint_to_cpu(str(path))["payload"], UnexpectedPayload)


def test_numpy_training_statistics_load_through_the_allow_list(tmp_path, monkeypatch):
    """fairseq's training state holds numpy arrays and scalars (meters, best scores): float64,
    float32, int64, int32 and bool ones load without the trust opt-in, values and types kept."""
    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    statistics = {"array": numpy.array([0.5, 1.5]), "float32": numpy.float32(0.25), "int64": numpy.int64(7),
                  "int32": numpy.int32(-3), "bool": numpy.bool_(True)}
    state = _fairseq_state()
    state["extra_state"]["statistics"] = statistics
    path = tmp_path / "statistics.pt"
    torch.save(state, path)
    loaded = checkpoint_utils.load_checkpoint_to_cpu(str(path))["extra_state"]["statistics"]
    assert loaded["array"].tolist() == [0.5, 1.5] and loaded["array"].dtype == numpy.float64
    assert [(type(loaded[k]), loaded[k].item()) for k in ("float32", "int64", "int32", "bool")] == [
        (numpy.float32, 0.25), (numpy.int64, 7), (numpy.int32, -3), (numpy.bool_, True)]


def test_reading_a_checkpoints_settings_goes_through_the_allow_list(tmp_path, monkeypatch):
    """An evaluation reads the checkpoint's task and model settings before fairseq loads it: that
    read unpickles with the same allow-list, and refuses the same files naming the class."""
    from ofa_mue.checkpoint_loading import checkpoint_model_config, checkpoint_task_config

    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    path = tmp_path / "hostile.pt"
    torch.save(_fairseq_state(payload=UnexpectedPayload()), path)
    for read in (checkpoint_task_config, checkpoint_model_config):
        with pytest.raises(CheckpointError, match=f"^{path}: refused to unpickle: it holds .*UnexpectedPayload"):
            read(str(path))
    # the same file without the foreign class: its settings, the model group an argparse.Namespace as OFA saves it
    clean = tmp_path / "checkpoint.pt"
    torch.save(_fairseq_state(), clean)
    assert checkpoint_model_config(str(clean)) == {"arch": "ofa_base", "dropout": 0.1}
    assert checkpoint_task_config(str(clean)) == {"_name": "caption"}


def test_configuration_pickled_as_omegaconf_loads_through_the_allow_list(tmp_path, monkeypatch):
    """Checkpoints of fairseq's hydra transition hold the configuration as a pickled DictConfig
    (its metadata names dict, list and int): it loads without the trust opt-in, values kept."""
    import omegaconf

    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    cfg = omegaconf.OmegaConf.create({"model": {"_name": "ofa", "arch": "ofa_base", "encoder_layers": 6,
                                                "dropout": 0.1, "freeze_resnet": True, "scales": [1, 2]},
                                      "task": {"_name": "caption", "data": "train.tsv,valid.tsv"}})
    path = tmp_path / "hydra_era.pt"
    torch.save(_fairseq_state(cfg=cfg), path)
    loaded = checkpoint_utils.load_checkpoint_to_cpu(str(path))["cfg"]
    assert (loaded.model.arch, loaded.model.encoder_layers, loaded.model.dropout, loaded.model.freeze_resnet,
            list(loaded.model.scales), loaded.task.data) == ("ofa_base", 6, 0.1, True, [1, 2], "train.tsv,valid.tsv")


def test_overrides_given_with_the_load_apply_to_the_checkpoints_configuration(tmp_path, monkeypatch):
    """``--model-overrides`` reach fairseq through ``load_checkpoint_to_cpu(path, arg_overrides)``: the
    wrapped loader passes them on, and they replace the checkpoint's own values."""
    import omegaconf

    monkeypatch.delenv("OFA_MUE_TRUST_CHECKPOINTS", raising=False)
    cfg = omegaconf.OmegaConf.create({"model": {"_name": "ofa", "arch": "ofa_base", "dropout": 0.1},
                                      "task": {"_name": "caption", "data": "train.tsv"}})
    path = tmp_path / "checkpoint.pt"
    torch.save(_fairseq_state(cfg=cfg), path)
    loaded = checkpoint_utils.load_checkpoint_to_cpu(str(path), {"dropout": 0.3, "data": "valid.tsv"})["cfg"]
    assert (loaded.model.dropout, loaded.task.data) == (0.3, "valid.tsv")
