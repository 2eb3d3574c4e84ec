"""benchmarks/snli_settings.py trains each arm with the learning rate and label smoothing it names,
refuses arms it cannot run, and reuses a model left in its work dir only if it was trained so."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import snli_settings  # noqa: E402
from grounding_stage import CRITERIA, train  # noqa: E402

pytestmark = pytest.mark.usefixtures("forked_benchmark_commands")


def test_arms_parse_as_learning_rate_and_label_smoothing():
    assert snli_settings.parse_arms("5e-4:0.1,2.5e-4:0.0,0.001:0") == [(5e-4, 0.1), (2.5e-4, 0.0), (1e-3, 0.0)]
    for text, message in (("5e-4", "LR:LABEL_SMOOTHING"), ("5e-4:0.1,", "LR:LABEL_SMOOTHING"),
                          ("0:0.1", "must be > 0"), ("5e-4:1", "below 1"), ("5e-4:0.1,5e-4:0.10", "named twice")):
        with pytest.raises(ValueError, match=message):
            snli_settings.parse_arms(text)


def test_an_arm_trains_with_its_settings_and_a_model_of_other_settings_is_not_reused(demo_data, demo_checkpoints, tmp_path):
    checkpoint = train(str(tmp_path / "train.log"), str(demo_data / "snli_ve"), str(demo_data / "bpe"),
                       str(demo_checkpoints["snli_ve"].path), str(tmp_path / "snli_ve"), 1, 2.5e-4,
                       CRITERIA["layerwise"], decompose=True, constant_lr=False, seed=3, label_smoothing=0.0)
    cfg = torch.load(checkpoint, map_location="cpu", weights_only=False)["cfg"]
    assert cfg["criterion"]["label_smoothing"] == 0.0
    assert list(cfg["optimization"]["lr"]) == [2.5e-4]
    assert cfg["common"]["seed"] == 3
    init = str(demo_checkpoints["snli_ve"].path)
    snli_settings.check_reused_model(checkpoint, init, 2.5e-4, 0.0, 1, 3)
    for changed, name in (((5e-4, 0.0, 1, 3), "lr"), ((2.5e-4, 0.1, 1, 3), "label smoothing"),
                          ((2.5e-4, 0.0, 700, 3), "updates"), ((2.5e-4, 0.0, 1, 1), "seed")):
        with pytest.raises(SystemExit, match=f"other settings \\({name} "):
            snli_settings.check_reused_model(checkpoint, init, *changed)
    with pytest.raises(SystemExit, match="other settings \\(init "):
        snli_settings.check_reused_model(checkpoint, str(tmp_path / "other.pt"), 2.5e-4, 0.0, 1, 3)
