"""benchmarks/question_updates.py scores a model as its table says: every row of the split, the
one-layer column with one layer of each part (static truncation), and families read off the
same test predictions."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import question_updates  # noqa: E402

pytestmark = pytest.mark.usefixtures("forked_benchmark_commands")


def test_one_layer_is_static_truncation_and_families_add_up_to_the_test_accuracy(demo_data, demo_checkpoints,
                                                                              tmp_path, monkeypatch):
    monkeypatch.setattr(question_updates, "EVALUATIONS", {name: question_updates.EVALUATIONS[name]
                                                          for name in ("test", "one_layer")})
    result = question_updates.evaluate(str(tmp_path), str(demo_data), str(demo_checkpoints["snli_ve"].path))
    meta = [json.loads(line) for line in (demo_data / "meta" / "snli_ve_test.jsonl").read_text().splitlines()]
    assert result["test"]["examples"] == result["one_layer"]["examples"] == len(meta)
    layers = json.loads((tmp_path / "one_layer" / "test_metrics.json").read_text())["layers"]
    assert (layers["image_layers"], layers["text_layers"], layers["decoder_layers"]) == (1.0, 1.0, 1.0)
    full = json.loads((tmp_path / "test" / "test_metrics.json").read_text())["layers"]
    assert (full["image_layers"], full["text_layers"], full["decoder_layers"]) == (6.0, 6.0, 6.0)
    labels = Counter(row["label"] for row in meta)
    from_labels = sum(result["families"][f"label/{label}"] * n for label, n in labels.items()) / len(meta)
    assert from_labels == pytest.approx(result["test"]["accuracy"])


def test_a_question_stage_left_with_other_settings_is_refused_not_reused(tmp_path):
    init = tmp_path / "caption" / "checkpoint_last.pt"
    record = {"init": str(init), "updates": 4000, "seed": 2, "kinds": ["where", "what"]}
    path = tmp_path / "questions.json"
    path.write_text(json.dumps(record))
    args = argparse.Namespace(question_updates=4000, question_kinds="what,where")
    question_updates.check_reused_stage(str(path), str(init), 2, args)
    for changed in ({"question_updates": 2000}, {"question_kinds": "where,what,exists"}):
        with pytest.raises(SystemExit, match=f"{path}.*other settings"):
            question_updates.check_reused_stage(str(path), str(init), 2, argparse.Namespace(**{**vars(args), **changed}))
    with pytest.raises(SystemExit, match="seed 2, this run 3"):
        question_updates.check_reused_stage(str(path), str(init), 3, args)
    with pytest.raises(SystemExit, match="init"):
        question_updates.check_reused_stage(str(path), str(tmp_path / "other.pt"), 2, args)
