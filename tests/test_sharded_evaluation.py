"""Evaluation, sweeps and calibration split into shards: each shard scores its batches of the split, and
``python -m ofa_mue.merge`` writes exactly the files of an unsharded run (the measured seconds
aside), with corpus metrics recomputed over the whole split. Sets of shards that miss or
repeat a shard or a row, or mix evaluations, and options the tools cannot honour, are refused.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict, List

import pytest

from ofa_mue import calibrate, evaluate, merge, sweep
from ofa_mue.caption_metrics import caption_metrics
from ofa_mue.calibration_table import FULL_MODEL, CalibrationTable
from ofa_mue.errors import ConfigError, ShardError
from ofa_mue.tasks.ofa_task import OFATask
from demo_training import TEST_ROWS, train_argv, train_in_process

# TEST_ROWS (13) in batches of 4: 4 batches, the last one partial; shard 0 gets batches 0 and 2


@pytest.fixture(scope="module")
def demo(demo_data) -> Path:
    """The session's demo data."""
    return demo_data


def arguments(demo: Path, task: str, checkpoint: str, *extra: str) -> List[str]:
    return [str(demo / task), "--path", checkpoint, "--task", task, "--bpe-dir", str(demo / "bpe"),
            "--gen-subset", "test", "--batch-size", "4", "--cpu", *extra]


CAPTION_EXITS = ["--beam", "3", "--max-len-b", "8", "--image-exit-threshold", "0.96", "--text-exit-threshold", "0.96",
                 "--decoder-exit-threshold", "0.96", "--decoder-exit-beta", "0.95", "--decoder-exit-tau", "1"]


@pytest.fixture(scope="module")
def caption_runs(demo, tmp_path_factory) -> Dict[str, Path]:
    """The caption test split evaluated whole, and in 2 shards (and shard 1 again with other exits)."""
    out = tmp_path_factory.mktemp("caption_runs")
    train_in_process(train_argv(demo, "caption", out / "checkpoint", 40))  # exits that fire, CIDEr above 0
    common = arguments(demo, "caption", str(out / "checkpoint" / "checkpoint_last.pt"), *CAPTION_EXITS)
    evaluate.main(common + ["--results-path", str(out / "full")])
    for shard in ("0", "1"):
        evaluate.main(common + ["--num-shards", "2", "--shard-id", shard, "--results-path", str(out / "shards")])
    evaluate.main(common + ["--num-shards", "2", "--shard-id", "1", "--decoder-exit-threshold", "0.9",
                            "--results-path", str(out / "other_exits")])
    return {"full": out / "full", "shards": out / "shards", "other_exits": out / "other_exits",
            "checkpoint": common[common.index("--path") + 1]}


def metrics_without_seconds(path: Path) -> Dict:
    summary = json.loads(path.read_text())
    summary.pop("seconds")
    return summary


def test_merged_caption_shards_equal_the_unsharded_evaluation(caption_runs, tmp_path):
    assert sorted(p.name for p in caption_runs["shards"].iterdir()) == ["test.shard0-of-2.json",
                                                                        "test.shard1-of-2.json"]
    merge.main([str(caption_runs["shards"]), "--output-dir", str(tmp_path)])
    full = caption_runs["full"]
    for name in ("test_predictions.jsonl", "test_predict.json"):  # this project's, and OFA's format
        assert (tmp_path / name).read_bytes() == (full / name).read_bytes()
    merged = metrics_without_seconds(tmp_path / "test_metrics.json")
    assert merged == metrics_without_seconds(full / "test_metrics.json")
    assert merged["examples"] == TEST_ROWS
    assert {"bleu4", "meteor", "rouge_l", "cider"} <= set(merged["metrics"]) and merged["metrics"]["cider"] > 0
    assert merged["layers"]["expected_time_reduction"] > 0  # the exits fired

    # what merging must not do: average the shards' own CIDEr (document frequencies of part of the split)
    shards = [json.loads(p.read_text()) for p in sorted(caption_runs["shards"].iterdir())]
    assert [len(s["records"]) for s in shards] == [8, 5]
    # the merged run's seconds are the shards' total (the metrics comparison above leaves seconds out)
    assert json.loads((tmp_path / "test_metrics.json").read_text())["seconds"] == pytest.approx(
        sum(s["seconds"] for s in shards), abs=1e-3)
    shard_cider = [caption_metrics([r["prediction"] for r in s["records"]], [r["references"] for r in s["records"]],
                                   quick=True)["cider"] for s in shards]
    averaged = (8 * shard_cider[0] + 5 * shard_cider[1]) / TEST_ROWS
    assert abs(averaged - merged["metrics"]["cider"]) > 1e-3


def copy_shards(caption_runs, folder: Path, edit=None) -> Path:
    """The two caption shards in ``folder``; ``edit(shard0, shard1)`` changes their content first."""
    folder.mkdir()
    shards = [json.loads((caption_runs["shards"] / f"test.shard{i}-of-2.json").read_text()) for i in (0, 1)]
    if edit:
        edit(*shards)
    for index, shard in enumerate(shards):
        (folder / f"test.shard{index}-of-2.json").write_text(json.dumps(shard))
    return folder


@pytest.mark.parametrize("edit, message", [
    (lambda a, b: b["records"].append(a["records"][0]), r"row 1 is in .*shard0-of-2.json and in .*shard1-of-2.json"),
    (lambda a, b: b["records"].pop(), r"rows 13 of 13 are in no shard"),
    (lambda a, b: b.update(split_rows=14), r"has split_rows 14 but .* has 13: shards of different evaluations"),
])
def test_shards_that_repeat_or_miss_a_row_are_refused(caption_runs, tmp_path, edit, message):
    folder = copy_shards(caption_runs, tmp_path / "edited", edit)
    with pytest.raises(ShardError, match=message):
        merge.main([str(folder), "--output-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_missing_repeated_or_foreign_shards_are_refused(caption_runs, tmp_path):
    shards = caption_runs["shards"]
    first, second = shards / "test.shard0-of-2.json", shards / "test.shard1-of-2.json"
    out = ["--output-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:  # through the command line's one-line error
        evaluate.run_cli(lambda: merge.main([str(first), *out]))
    assert exit_.value.code.startswith("error: shards 1 of 2 missing (got ")
    with pytest.raises(ShardError, match=r"shard 0 of 2 given twice"):
        merge.main([str(first), str(first), str(second), *out])
    with pytest.raises(ShardError, match=r"evaluated different things \(exit_policy: "):
        merge.main([str(first), str(caption_runs["other_exits"] / "test.shard1-of-2.json"), *out])
    with pytest.raises(ShardError, match=r"no shard files"):
        merge.main([str(tmp_path), *out])
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def snli_checkpoint(demo_checkpoints) -> str:
    """The session's SNLI-VE checkpoint."""
    return str(demo_checkpoints["snli_ve"].path)


def test_sharded_sweep_merges_to_the_unsharded_sweep(demo, snli_checkpoint, tmp_path):
    common = arguments(demo, "snli_ve", snli_checkpoint, "--thresholds", "0.99,0.97", "--depths", "2",
                       "--entropies", "", "--patiences", "", "--timing-repetitions", "0")
    rows = sweep.main(common + ["--sweep-dir", str(tmp_path / "full")])
    for shard in ("0", "1"):
        sweep.main(common + ["--num-shards", "2", "--shard-id", shard, "--sweep-dir", str(tmp_path / "shards")])
    shards = [json.loads(p.read_text()) for p in sorted((tmp_path / "shards").glob("sweep.shard*-of-2.json"))]
    assert [len(s["points"][0]["records"]) for s in shards] == [8, 5]  # batches 0, 2 and 1, 3 of 4 rows
    merged_rows = merge.main([str(tmp_path / "shards"), "--output-dir", str(tmp_path / "merged")])

    assert merged_rows == rows  # metrics, layers and every row's record, recomputed on the merged records
    assert [r["curve"] for r in rows] == ["full", "mue", "mue", "mue_decoder", "mue_decoder", *["static"] * 7]
    assert rows[0]["expected_time_reduction"] == 0 < rows[-1]["expected_time_reduction"]
    assert all("accuracy" in r["metrics"] and r["examples"] == TEST_ROWS for r in rows)

    def content(folder: Path, name: str):  # without the provenance line (the date differs)
        return [line for line in (folder / name).read_text().splitlines() if "commit " not in line]

    for name in ("sweep.csv", "sweep.md"):
        assert content(tmp_path / "merged", name) == content(tmp_path / "full", name)
    assert json.loads((tmp_path / "merged" / "sweep.json").read_text())["rows"] == \
        json.loads((tmp_path / "full" / "sweep.json").read_text())["rows"]
    assert (tmp_path / "merged" / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sharded_sweep_refuses_timing(demo, snli_checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        sweep.main(arguments(demo, "snli_ve", snli_checkpoint, "--num-shards", "2", "--shard-id", "0",
                             "--sweep-dir", str(tmp_path / "shards")))
    assert "error: --num-shards: a sharded sweep is not timed" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "shards").exists()


def test_sharded_calibration_merges_to_the_unsharded_calibration(demo, caption_runs, tmp_path, capsys):
    """Captions: the table's per-example CIDEr-D needs the document frequencies of the whole split,
    so the merge, not the shards, scores the merged predictions. Under step exits (a shard's
    batches are the unsharded run's), and the merged profile records that granularity. An evaluation
    with that profile, sharded too, logs the profile's statement when merged."""
    common = arguments(demo, "caption", caption_runs["checkpoint"], "--beam", "3", "--max-len-b", "8",
                       "--decoder-exit-beta", "0.95", "--decoder-exit-tau", "1", "--candidates", "0.96",
                       "--risk-epsilon", "0.5", "--risk-delta", "0.5", "--exit-granularity", "step",
                       "--exit-step-quantile", "0.5")
    profile = calibrate.main(common + ["--profile-path", str(tmp_path / "full" / "profile.json")])
    for shard in ("0", "1"):
        calibrate.main(common + ["--num-shards", "2", "--shard-id", shard,
                                 "--profile-path", str(tmp_path / "shards" / "profile.json")])
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["profile.shard0-of-2.json",
                                                                       "profile.shard1-of-2.json"]
    merged = merge.main([str(tmp_path / "shards"), "--output-dir", str(tmp_path / "merged")])

    assert merged["table"] == str(tmp_path / "merged" / "profile.table.json.gz")
    assert {**merged, "table": None} == {**profile, "table": None}
    assert json.loads((tmp_path / "merged" / "profile.json").read_text()) == merged
    assert merged["settings_evaluated"] == 8 and merged["guarantee"]["calibration_rows"] == TEST_ROWS
    assert (merged["options"]["exit_granularity"], merged["options"]["exit_step_quantile"]) == ("step", 0.5)

    def entries(folder: Path):
        table = CalibrationTable.load(str(folder / "profile.table.json.gz"))
        return table.rows, table.targets, table.evaluation, {
            thresholds: {k: v for k, v in entry.items() if k != "seconds"} for thresholds, entry in table.entries.items()}

    assert entries(tmp_path / "merged") == entries(tmp_path / "full")
    full_table = CalibrationTable.load(str(tmp_path / "full" / "profile.table.json.gz"))
    assert len(set(full_table.entries[FULL_MODEL]["scores"]["cider"])) > 1  # per-example CIDEr-D, not all alike

    # a sharded evaluation with the merged profile: the merge logs the profile's statement as an
    # unsharded evaluation does, a WARNING here (calibrated on the test split it scores)
    evaluation = arguments(demo, "caption", caption_runs["checkpoint"], "--beam", "3", "--max-len-b", "8",
                           "--exit-profile", str(tmp_path / "merged" / "profile.json"))
    for shard in ("0", "1"):
        evaluate.main(evaluation + ["--num-shards", "2", "--shard-id", shard,
                                    "--results-path", str(tmp_path / "evaluation")])
    capsys.readouterr()
    summary = merge.main([str(tmp_path / "evaluation"), "--output-dir", str(tmp_path / "merged_evaluation")])
    statement = summary["exit_profile"]["statement"]
    assert statement.startswith("not for this run: the profile was calibrated on the 'test' split")
    assert (f"| WARNING | ofa_mue.evaluate | exit profile {tmp_path / 'merged' / 'profile.json'}: {statement}"
            in capsys.readouterr().out)


def test_num_workers_is_honoured(demo, snli_checkpoint, tmp_path, monkeypatch):
    used = []
    fairseq_iterator = OFATask.get_batch_iterator

    def get_batch_iterator(self, dataset, **kwargs):
        used.append(kwargs["num_workers"])
        return fairseq_iterator(self, dataset, **kwargs)

    monkeypatch.setattr(OFATask, "get_batch_iterator", get_batch_iterator)
    common = arguments(demo, "snli_ve", snli_checkpoint, "--text-exit-threshold", "0.97")
    evaluate.main(common + ["--results-path", str(tmp_path / "in_process")])
    evaluate.main(common + ["--num-workers", "2", "--results-path", str(tmp_path / "workers")])
    assert used == [0, 2]
    assert (tmp_path / "workers" / "test_predictions.jsonl").read_bytes() == \
        (tmp_path / "in_process" / "test_predictions.jsonl").read_bytes()


@pytest.mark.parametrize("extra, message", [
    (["--distributed-world-size", "2"], "--distributed-world-size is not used here: split the work"),
    (["--distributed-rank", "1"], "--distributed-rank is not used here"),
    (["--num-shards", "2", "--shard-id", "0"], "--num-shards needs --results-path"),
])
def test_evaluation_options_it_cannot_honour_are_refused(demo, snli_checkpoint, capsys, extra, message):
    with pytest.raises(SystemExit):
        evaluate.main(arguments(demo, "snli_ve", snli_checkpoint, *extra))
    assert message in capsys.readouterr().err


def test_bad_shard_numbers_and_a_sharded_calibration_on_an_existing_table_are_refused(demo, snli_checkpoint,
                                                                                       tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"--shard-id must be in \[0, 1\] with --num-shards 2, got 2"):
        evaluate.main(arguments(demo, "snli_ve", snli_checkpoint, "--num-shards", "2", "--shard-id", "2",
                                "--results-path", str(tmp_path)))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "profile.table.json.gz").write_bytes(b"")  # a table a sharded calibration cannot reuse
    with pytest.raises(SystemExit):
        calibrate.main(arguments(demo, "snli_ve", snli_checkpoint, "--num-shards", "2", "--shard-id", "0",
                                 "--profile-path", str(tmp_path / "profile.json")))
    assert "cannot be reused: give another --table-path" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["profile.table.json.gz"]


def test_reproduce_refuses_shards(demo, snli_checkpoint, tmp_path):
    from ofa_mue import reproduce

    with pytest.raises(ConfigError, match=r"--num-shards: reproduce runs on one machine"):
        reproduce.main(arguments(demo, "snli_ve", snli_checkpoint, "--num-shards", "2", "--shard-id", "0",
                                 "--results-dir", str(tmp_path / "reproduced")))
    assert not (tmp_path / "reproduced").exists()


def test_shards_of_other_data_or_settings_under_the_same_paths_are_refused(demo, snli_checkpoint, tmp_path):
    """A merge stands for one run: shards that ran with another task setting (--max-src-length),
    or on a split file that changed under the same path (another copy of the data, its rows in
    another order), are refused, naming what differs; the shards of one run merge. --sampling,
    whose draws depend on the batches a process ran before, is refused with --num-shards."""
    data = tmp_path / "data"
    shutil.copytree(demo / "snli_ve", data)

    def run_shard(index: int, out: str, *extra: str) -> Path:
        common = arguments(demo, "snli_ve", snli_checkpoint, "--num-shards", "2", "--shard-id", str(index),
                           "--results-path", str(tmp_path / out), *extra)
        evaluate.main([str(data), *common[1:]])  # the data copy in place of the demo's folder
        return tmp_path / out / f"test.shard{index}-of-2.json"

    first = run_shard(0, "one_run")
    merge.main([str(first), str(run_shard(1, "one_run")), "--output-dir", str(tmp_path / "merged")])
    assert (tmp_path / "merged" / "test_predictions.jsonl").exists()
    other_setting = run_shard(1, "other_setting", "--max-src-length", "8")
    with pytest.raises(ShardError, match=r"evaluated different things \(task_options: "):
        merge.main([str(first), str(other_setting), "--output-dir", str(tmp_path / "out")])
    rows = (data / "test.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "test.tsv").write_text("".join(reversed(rows)), encoding="utf-8")
    other_data = run_shard(1, "other_data")
    with pytest.raises(ShardError, match=r"evaluated different things \(data_fingerprint: "):
        merge.main([str(first), str(other_data), "--output-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match=r"--sampling with --num-shards: "):
        run_shard(0, "sampled", "--sampling")
