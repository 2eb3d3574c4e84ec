"""The speed benchmark (benchmarks/speed.py) runs end to end on small real checkpoints and
writes consistent reports. No timing is asserted: only what the numbers must satisfy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ofa_mue.demo.generate import generate_demo_data
from test_determinism import train

REPO = Path(__file__).resolve().parents[1]
SPEED = REPO / "benchmarks" / "speed.py"


def run_speed(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SPEED), *args, "--cpu", "--repetitions", "3", "--warmup", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("speed_demo")
    generate_demo_data(out / "data", seed=5, train=16, valid=4, test=6, image_size=64)
    return out, {task: train(out / "data", task, out / task) for task in ("snli_ve", "caption")}


def test_checkpoints_mode_reports_every_configuration(checkpoints):
    out, paths = checkpoints
    run_speed("checkpoints", "--data", str(out / "data"), "--snli-ve-checkpoint", str(paths["snli_ve"]),
              "--caption-checkpoint", str(paths["caption"]), "--batch-sizes", "1", "3", "--samples-b1", "2",
              "--samples", "6", "--no-profile", "--image-exit-threshold", "0.9", "--text-exit-threshold", "0.9",
              "--decoder-exit-threshold", "0.9", "--results-dir", str(out / "results"))
    report = json.loads((out / "results" / "checkpoints.json").read_text())
    assert report["machine"]["torch_threads"] == 1
    rows = {(r["task"], r["batch_size"]): r for r in report["results"]}
    assert set(rows) == {("snli_ve", 1), ("snli_ve", 3), ("caption", 1), ("caption", 3)}
    for (task, batch), row in rows.items():
        assert row["samples"] == (2 if batch == 1 else 6)
        assert row["never_equals_off"], "thresholds of exactly 1 never fire: the full model's outputs"
        assert 0.0 <= row["expected_time_reduction"] < 1.0
        if row["expected_time_reduction"] > 0:
            assert row["realized_share"] == pytest.approx(row["measured_reduction"] / row["expected_time_reduction"])
        assert row["repetitions"] == row["times"]["off"]["n"] == 3
        split = row["time_split"]["off"]
        assert set(split) == {"encoder_layers", "decoder_layers", "image_embedding", "exit_tests", "other", "total"}
        assert split["encoder_layers"] > 0 and split["decoder_layers"] > 0 and split["total"] > 0
        assert split["exit_tests"] == 0.0, "the full model runs no exit test"
        assert row["time_split"]["never"]["exit_tests"] > 0 and 0 < row["exit_test_share"] < 1
        assert row["layers"]["off"]["expected_time_reduction"] == 0.0
        static = row["layers"]["static"]
        assert (static["image_layers"], static["text_layers"]) == (row["static"]["depths"]["image"],
                                                                   row["static"]["depths"]["text"])
    markdown = (out / "results" / "checkpoints.md").read_text()
    assert markdown.count("| snli_ve |") == 8 and markdown.count("| caption |") == 8  # one row per table
    assert "realized share inside the layers" in markdown


def test_depths_mode_fits_time_against_layer_count(tmp_path):
    run_speed("depths", "--archs", "ofa_demo", "--fractions", "1", "0.5", "--image-size", "64",
              "--generate-tokens", "3", "--results-dir", str(tmp_path))
    report = json.loads((tmp_path / "depths.json").read_text())
    (result,) = report["results"]
    rows = {r["config"]: r for r in result["rows"]}
    assert set(rows) == {"off", "never", "1", "0.5"}
    assert rows["off"]["expected_share"] == rows["1"]["expected_share"] == 1.0
    assert rows["0.5"]["expected_share"] == pytest.approx(0.5)
    assert rows["0.5"]["decoder_layers"] == 3
    assert {"fixed", "slope", "r2"} <= set(result["fit"])
    assert (tmp_path / "depths.md").read_text().count("| ofa_demo |") == 5  # 4 configurations and the fit
