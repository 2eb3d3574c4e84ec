"""The real command lines on generated demo data: fairseq-train with the user dir, resuming,
fairseq-generate, and the evaluation that must score every row of a split; calibration, sweeps
and reports on a trained checkpoint (their entry points run in this process, each command line's
process boundary is tested once with its one-line errors)."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from demo_training import REPO, TEST_ROWS, run_module, run_ok as run, train_in_process
from ofa_mue import calibrate, evaluate, report, sweep
from ofa_mue.errors import ConfigError

BATCH = 4  # TEST_ROWS is not a multiple of it: the last batch is partial


@pytest.fixture(scope="module")
def demo(demo_data) -> Path:
    return demo_data


@pytest.fixture(scope="module")
def decomposed_snli_checkpoint(demo_checkpoints) -> str:
    """An SNLI-VE checkpoint fine-tuned with the decomposed encoder (the session's shared one)."""
    return str(demo_checkpoints["snli_ve"].path)


def plain_train_argv(data: Path, task: str, save_dir: Path, max_update: int, *extra: str) -> List[str]:
    """fairseq-train's arguments for a fine-tuning of ``ofa_demo`` with OFA's criterion."""
    return [str(data / task), "--user-dir", "ofa_mue", "--task", task, "--arch", "ofa_demo",
            "--bpe-dir", str(data / "bpe"), "--patch-image-size", "64",
            "--criterion", "adjust_label_smoothed_cross_entropy", "--label-smoothing", "0.1",
            "--optimizer", "adam", "--lr", "5e-4", "--max-update", str(max_update), "--batch-size", "8",
            "--save-dir", str(save_dir), "--num-workers", "0", "--cpu", "--log-format", "simple",
            "--log-interval", "1", "--seed", "7", *extra]


def train(data: Path, task: str, save_dir: Path, max_update: int, *extra: str) -> str:
    """Run fairseq-train with :func:`plain_train_argv`; return its output."""
    return run("fairseq_cli.train", *plain_train_argv(data, task, save_dir, max_update, *extra))


def snli_args(demo: Path, checkpoint: str) -> List[str]:
    """The arguments every SNLI-VE evaluation command here shares (data, checkpoint, vocabulary, batch, CPU)."""
    return [str(demo / "snli_ve"), "--path", checkpoint, "--task", "snli_ve", "--bpe-dir", str(demo / "bpe"),
            "--batch-size", str(BATCH), "--cpu"]


def evaluated_on_valid(common: List[str], tmp_path: Path, name: str, *flags: str) -> dict:
    """``python -m ofa_mue.evaluate`` on the valid split into tmp_path/name; its valid_metrics.json."""
    evaluate.main([*common, "--gen-subset", "valid", *flags, "--results-path", str(tmp_path / name)])
    return json.loads((tmp_path / name / "valid_metrics.json").read_text())


def test_snli_ve_trains_resumes_and_evaluates_every_row(demo, tmp_path):
    save_dir = tmp_path / "ckpt"
    first = train(demo, "snli_ve", save_dir, 3)
    assert (save_dir / "checkpoint_last.pt").is_file()
    assert "num_updates 3" in first or "num_updates=3" in first
    # the resumed run: fairseq-train's entry point in this process (its process boundary is the run above)
    resumed = train_in_process(plain_train_argv(demo, "snli_ve", save_dir, 6))
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 3 updates\)", resumed), resumed[-2000:]
    assert "num_updates 6" in resumed or "num_updates=6" in resumed

    results = tmp_path / "results"
    run("ofa_mue.evaluate", str(demo / "snli_ve"), "--path", str(save_dir / "checkpoint_last.pt"),
        "--task", "snli_ve", "--bpe-dir", str(demo / "bpe"), "--gen-subset", "test",
        "--batch-size", str(BATCH), "--results-path", str(results), "--cpu")
    summary = json.loads((results / "test_metrics.json").read_text())
    assert summary["examples"] == TEST_ROWS
    assert 0.0 <= summary["metrics"]["accuracy"] <= 1.0
    assert summary["flops"]["flops_reduction"] == 0.0, "exits off: every layer, no exit test"
    assert summary["flops"]["gflops_per_example"] == summary["flops"]["full_depth_gflops_per_example"] > 0
    rows = [json.loads(line) for line in (results / "test_predictions.jsonl").read_text().splitlines()]
    assert sorted(r["row"] for r in rows) == list(range(1, TEST_ROWS + 1))
    assert all(r["prediction"] in {"yes", "no", "maybe"} for r in rows)


def test_caption_generates_and_evaluates_every_row(demo, demo_checkpoints, tmp_path):
    """The session's caption checkpoint, trained by fairseq-train for its 3 updates."""
    assert "num_updates 3" in demo_checkpoints["caption"].log
    checkpoint = str(demo_checkpoints["caption"].path)
    # as the README writes it: image size and vocabulary come from the checkpoint (trained at 64 px)
    generated = run("fairseq_cli.generate", str(demo / "caption"), "--user-dir", "ofa_mue", "--task", "caption",
                    "--path", checkpoint, "--gen-subset", "test", "--batch-size", str(BATCH), "--beam", "2",
                    "--max-len-b", "8", "--cpu")
    hypotheses = re.findall(r"^D-(\d+)\t", generated, flags=re.MULTILINE)
    assert sorted(int(i) for i in hypotheses) == list(range(TEST_ROWS))

    results = tmp_path / "results"
    evaluate.main([str(demo / "caption"), "--path", checkpoint, "--task", "caption", "--bpe-dir", str(demo / "bpe"),
                   "--gen-subset", "test", "--batch-size", str(BATCH), "--beam", "2", "--results-path", str(results),
                   "--cpu"])
    summary = json.loads((results / "test_metrics.json").read_text())
    assert summary["examples"] == TEST_ROWS
    assert {"bleu1", "bleu4", "meteor", "rouge_l", "cider"} <= set(summary["metrics"])


def test_each_caption_sweep_point_is_generated_with_its_own_thresholds(demo, demo_checkpoints, tmp_path):
    """A caption sweep evaluates its points one after another in one process, reusing the beam
    search: every MuE point must give what a fresh evaluation with its thresholds gives (the
    first point's exit policy must not stay in the reused generator)."""
    common = [str(demo / "caption"), "--path", str(demo_checkpoints["caption"].path), "--task", "caption",
              "--bpe-dir", str(demo / "bpe"), "--batch-size", str(BATCH), "--beam", "2", "--max-len-b", "8",
              "--cpu", "--gen-subset", "test"]
    rows = sweep.main([*common, "--thresholds", "0.9999,0.2", "--depths", "1", "--entropies", "", "--patiences", "",
                       "--timing-repetitions", "0", "--sweep-dir", str(tmp_path / "sweep")])
    mue = {row["setting"]: row for row in rows if row["curve"] == "mue"}
    assert len(mue) == 2
    for threshold, row in zip(("0.9999", "0.2"), mue.values()):
        out = tmp_path / f"evaluate_{threshold}"
        evaluate.main([*common, *(f"--{part}-exit-threshold={threshold}" for part in ("image", "text", "decoder")),
                       "--results-path", str(out)])
        alone = json.loads((out / "test_metrics.json").read_text())
        assert "cider" in row["metrics"], row["metrics"]
        assert row["metrics"] == {name: alone["metrics"][name] for name in row["metrics"]}, threshold
        assert row["expected_time_reduction"] == pytest.approx(alone["layers"]["expected_time_reduction"]), threshold
    assert [row["expected_time_reduction"] for row in mue.values()] != [rows[0]["expected_time_reduction"]] * 2


def test_calibrate_profile_and_sweep(demo, decomposed_snli_checkpoint, tmp_path):
    checkpoint = decomposed_snli_checkpoint
    common = snli_args(demo, checkpoint)
    profile_path = tmp_path / "profile.json"
    calibrate.main([*common, "--gen-subset", "valid", "--method", "retention", "--retention", "0.9",
                    "--candidates", "0.9,0.5", "--profile-path", str(profile_path)])
    profile = json.loads(profile_path.read_text())
    assert profile["metric"] >= 0.9 * profile["full_metric"]
    assert profile["method"] == "retention" and profile["guarantee"] is None
    assert profile["settings_evaluated"] == 27  # each of three knobs at 0.9, 0.5 or off
    assert (tmp_path / "profile.table.json.gz").is_file()  # the table's default place
    assert profile["options"].keys() == {"image_exit_threshold", "text_exit_threshold", "decoder_exit_threshold",
                                         "decoder_exit_beta", "decoder_exit_tau", "exit_granularity"}
    assert profile["options"]["exit_granularity"] == "token"

    results = tmp_path / "results"
    evaluate.main([*common, "--gen-subset", "test", "--exit-profile", str(profile_path), "--results-path",
                   str(results)])
    summary = json.loads((results / "test_metrics.json").read_text())
    assert summary["examples"] == TEST_ROWS
    assert summary["exit_policy"]["image"] == profile["options"]["image_exit_threshold"]
    assert 0.0 <= summary["layers"]["expected_time_reduction"] <= 1.0
    flops = summary["flops"]
    assert 0.0 <= flops["flops_reduction"] < 1.0
    assert flops["gflops_per_example"] == pytest.approx(sum(flops["parts_gflops"].values()))

    # its thresholds were chosen per token: a run that asks for step exits with them is refused
    # (through the command line's one-line error: the message is its exit status and last line)
    with pytest.raises(SystemExit) as refused:
        evaluate.run_cli(lambda: evaluate.main([*common, "--gen-subset", "test", "--exit-profile", str(profile_path),
                                                "--exit-granularity", "step", "--exit-step-quantile", "0.5",
                                                "--results-path", str(tmp_path / "step")]))
    assert isinstance(refused.value.code, str) and not (tmp_path / "step").exists()
    assert refused.value.code.strip().splitlines()[-1].startswith(
        f"error: {profile_path}: the exit profile was calibrated with --exit-granularity token, but the command "
        f"line asks for --exit-granularity step --exit-step-quantile 0.5: ")

    sweep_dir = tmp_path / "sweep"
    sweep.main([*common, "--gen-subset", "valid", "--thresholds", "0.99,0.9", "--depths", "3", "--entropies", "0.5",
                "--patiences", "1", "--image-exit-threshold", "0.9", "--text-exit-threshold", "0.95",
                "--timing-rows", "4", "--sweep-dir", str(sweep_dir)])
    lines = (sweep_dir / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("# commit ")
    rows = list(csv.DictReader(lines[1:]))
    assert [row["curve"] for row in rows] == ["full", "mue", "mue", "mue_decoder", "mue_decoder", "entropy",
                                              "patience", "entropy_encoder", "patience_encoder", "mue_given",
                                              *["static"] * 7]  # depths {3, 6} for image, text and decoder
    assert {row["exits"] for row in rows if row["curve"].endswith("_encoder")} == {"image+text+decoder"}
    assert (rows[0]["policy"], rows[0]["exits"]) == ("full", "none")  # the full model's row exits nowhere
    assert rows[9]["setting"] == "given: image 0.9 / text 0.95 / decoder off" and rows[9]["exits"] == "image+text"
    assert all(row["measured_reduction"] for row in rows if row["curve"] != "static")
    assert not any(row["measured_reduction"] for row in rows if row["curve"] == "static")
    assert (sweep_dir / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "median of 5 paired ratios" in (sweep_dir / "sweep.md").read_text()


def test_a_step_calibration_is_evaluated_at_step(demo, decomposed_snli_checkpoint, tmp_path):
    """The profile of a calibration under --exit-granularity step records it, and evaluate
    --exit-profile runs it: on the calibration split, exactly the metric and time reduction the
    calibration table holds for the chosen thresholds (per-token exits with them give others)."""
    common = snli_args(demo, decomposed_snli_checkpoint)
    step = ["--exit-granularity", "step", "--exit-step-quantile", "0.5"]
    profile = calibrated(common, tmp_path, "step.json", *step, "--method", "retention", "--retention", "0.01")
    options = profile["options"]
    assert (options["exit_granularity"], options["exit_step_quantile"]) == ("step", 0.5)
    assert options["decoder_exit_threshold"] <= 1.0 and profile["expected_time_reduction"] > 0

    def evaluation(name: str, *flags: str) -> dict:
        return evaluated_on_valid(common, tmp_path, name, *flags)

    assert profile["calibration_batch_size"] == BATCH
    summary = evaluation("profile", "--exit-profile", str(tmp_path / "step.json"))
    assert summary["exit_policy"]["granularity"] == {"mode": "step", "quantile": 0.5, "launch_flops": None}
    assert summary["exit_profile"]["batch_size_caveat"] is None
    assert summary["exit_profile"]["statement"].startswith("no guarantee")
    assert summary["metrics"]["accuracy"] == profile["metric"]
    assert summary["layers"]["expected_time_reduction"] == pytest.approx(profile["expected_time_reduction"],
                                                                         abs=1e-6)
    thresholds = [f"--{name.replace('_', '-')}={options[name]}" for name in
                  ("image_exit_threshold", "text_exit_threshold", "decoder_exit_threshold")]
    per_token = evaluation("token", *thresholds)
    assert per_token["layers"]["expected_time_reduction"] != pytest.approx(profile["expected_time_reduction"],
                                                                           abs=1e-6)
    # at another batch size the run says that the profile's figures were not measured for it
    other_batch = evaluation("batch1", "--exit-profile", str(tmp_path / "step.json"), "--batch-size", "1")
    assert other_batch["exit_profile"]["calibration_batch_size"] == BATCH
    assert other_batch["exit_profile"]["statement"].startswith(
        f"not for this run: the profile was calibrated with --exit-granularity step at --batch-size {BATCH}, "
        f"and this run uses --batch-size 1")

    # under step a row's depth depends on its batch: the table is not reused at another batch size
    with pytest.raises(ConfigError, match=r"table.json.gz: this calibration table was made with another batch_size"):
        calibrate.main([*common, "--batch-size", "3", "--gen-subset", "valid", "--candidates", "1.0,0.5", *step,
              "--profile-path", str(tmp_path / "other.json"), "--table-path", str(tmp_path / "table.json.gz")])


def run_cli_here(module: str, argv: List[str], capsys) -> subprocess.CompletedProcess:
    """``python -m module argv``'s exit status and stderr, its entry point (``cli_main``) run in this
    process: an exit with a message prints it on stderr with status 1, as the interpreter does."""
    capsys.readouterr()
    entry = __import__(module, fromlist=["cli_main"]).cli_main
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [module, *argv])
        patch.chdir(REPO)
        try:
            entry()
            code = 0
        except SystemExit as stop:
            code = stop.code
    captured = capsys.readouterr()
    stderr = captured.err
    if isinstance(code, str):
        stderr, code = stderr + code + "\n", 1
    return subprocess.CompletedProcess([module, *argv], code or 0, captured.out, stderr)


# each command line's process boundary once (a fresh process); its other errors in this process
@pytest.mark.parametrize("module, flags, message, own_process", [
    ("ofa_mue.evaluate", ["--decoder-exit-threshold", "nan"], "error: --decoder-exit-threshold must be", True),
    ("ofa_mue.evaluate", ["--exit-policy", "static", "--static-decoder-layers", "7"],
     "error: --static-decoder-layers 7 is deeper than the model's decoder (6 layers)", False),
    ("ofa_mue.sweep", ["--depths", "7", "--sweep-dir", "SWEEP"], "error: --depths 7 is deeper than the model's encoder",
     True),
    ("ofa_mue.evaluate", ["--exit-step-quantile", "0.5"],
     "error: --exit-step-quantile applies to --exit-granularity step, not 'token'", False),
])
def test_out_of_range_option_is_a_one_line_error(demo, decomposed_snli_checkpoint, tmp_path, capsys, module, flags,
                                                 message, own_process):
    flags = [str(tmp_path / "out") if flag == "SWEEP" else flag for flag in flags]
    argv = [str(demo / "snli_ve"), "--path", decomposed_snli_checkpoint, "--task", "snli_ve", "--bpe-dir",
            str(demo / "bpe"), "--gen-subset", "test", "--cpu", *flags, "--results-path", str(tmp_path / "out")]
    if own_process:
        done = run_module(module, *argv)
    else:
        done = run_cli_here(module, argv, capsys)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith(message)
    assert not (tmp_path / "out").exists()


def calibrated(common, tmp_path, profile: str, *options: str) -> dict:
    """Calibrate on the valid split with one shared table; return the profile written to tmp_path/profile."""
    calibrate.main([*common, "--gen-subset", "valid", "--candidates", "1.0,0.5", "--profile-path",
                    str(tmp_path / profile), "--table-path", str(tmp_path / "table.json.gz"), *options])
    return json.loads((tmp_path / profile).read_text())


def test_certified_calibration_records_its_guarantee(demo, decomposed_snli_checkpoint, tmp_path, capsys):
    common = snli_args(demo, decomposed_snli_checkpoint)
    # 9 calibration rows cannot certify a 5% loss at 90% ((0.95)^9 > 0.1): every exit stays off.
    profile = calibrated(common, tmp_path, "strict.json")
    guarantee = profile["guarantee"]
    assert profile["method"] == "ltt" and guarantee["certified"] is False
    assert (guarantee["epsilon"], guarantee["delta"], guarantee["loss"]) == (0.05, 0.1, "consistency")
    assert guarantee["calibration_rows"] == 9 and guarantee["p_value"] is None
    assert all(profile["options"][k] > 1 for k in ("image_exit_threshold", "text_exit_threshold",
                                                   "decoder_exit_threshold"))
    assert profile["expected_time_reduction"] == 0.0 and "every exit is off" in guarantee["statement"]
    table = tmp_path / "table.json.gz"
    made = table.stat().st_mtime_ns

    # A loose target on the same table (reused, nothing evaluated again): thresholds of 1.0 never fire,
    # so at least those pass (no loss on 6 testing rows: p = 0.5^6).
    profile = calibrated(common, tmp_path, "certified.json", "--risk-epsilon", "0.5", "--risk-delta", "0.5")
    guarantee = profile["guarantee"]
    assert table.stat().st_mtime_ns == made
    assert guarantee["certified"] and guarantee["p_value"] <= 0.5 and guarantee["p_value_kind"] == "binomial"
    assert (guarantee["learn_rows"], guarantee["test_rows"]) == (3, 6)
    assert guarantee["calibration_loss"] <= 0.5 + 1e-9

    results = tmp_path / "results"
    evaluate.main([*common, "--gen-subset", "test", "--exit-profile", str(tmp_path / "certified.json"),
                   "--results-path", str(results / "snli_ve" / "mue")])
    summary = json.loads((results / "snli_ve" / "mue" / "test_metrics.json").read_text())
    assert summary["exit_profile"]["guarantee"] == guarantee and summary["exit_profile"]["split_caveat"] is None
    # scored on the calibration split itself, the run says that the guarantee is not about these rows
    evaluate.main([*common, "--gen-subset", "valid", "--exit-profile", str(tmp_path / "certified.json"),
                   "--results-path", str(tmp_path / "on_valid")])
    on_valid = json.loads((tmp_path / "on_valid" / "valid_metrics.json").read_text())["exit_profile"]
    assert on_valid["statement"].startswith("not for this run: the profile was calibrated on the 'valid' split, "
                                            "which this run scores")
    evaluate.main([*common, "--gen-subset", "test", "--results-path", str(results / "snli_ve" / "full")])
    # the uncertified calibration from the same table, reported beside the certified one (per-token
    # results do not depend on the batch: the table is reused at another batch size)
    uncertified = calibrated(common, tmp_path, "uncertified.json", "--method", "retention", "--retention", "0.5",
                            "--batch-size", "3")
    assert uncertified["guarantee"] is None and table.stat().st_mtime_ns == made
    evaluate.main([*common, "--gen-subset", "test", "--exit-profile", str(tmp_path / "uncertified.json"),
                   "--results-path", str(results / "snli_ve" / "mue_retention")])
    capsys.readouterr()
    report.main(["--results-dir", str(results)])
    printed = capsys.readouterr().out
    assert "MuE thresholds" in printed and "with probability at least 50% over the draw of the 9 calibration rows" \
        in printed
    assert "| MuE (uncertified) |" in printed and "MuE (uncertified) thresholds" in printed
    assert "no guarantee (the thresholds do not come from a certified calibration)" in printed

    # The repeated-split check runs on the cached table alone; at epsilon 0.05, 4 or 5 calibration
    # rows never certify anything, while the uncorrected choice can pick any configuration.
    check = run_guarantee_check("--table", str(table), "--splits", "5", "--results-dir", str(tmp_path / "check"))
    (result,) = check["checks"]
    assert (result["pool_rows"], result["calibration_rows"], result["configurations"]) == (9, 4, 26)
    for mode in ("split", "resample"):
        runs = result["results"][mode]
        assert set(runs) == {"ltt fixed-sequence", "ltt bonferroni", "retention", "best-within-epsilon"}
        assert runs["ltt fixed-sequence"]["exits_off_rate"] == runs["ltt bonferroni"]["exits_off_rate"] == 1.0
        assert all(r["splits"] == 5 for r in runs.values())
    assert len(check["commit"].split("+")[0]) == 40 and "cpu_model" in check["machine"]
    assert (tmp_path / "check" / "guarantee_check.md").read_text().count("| ltt fixed-sequence |") == 2

    # a table made with other options is refused, not mixed with new results
    with pytest.raises(ConfigError, match=r"table.json.gz: this calibration table was made with another task_options"):
        calibrate.main([*common, "--gen-subset", "valid", "--candidates", "1.0,0.5", "--decoder-exit-beta", "0.9",
              "--decoder-exit-tau", "1", "--profile-path", str(tmp_path / "other.json"), "--table-path", str(table)])
    assert table.stat().st_mtime_ns == made and not (tmp_path / "other.json").exists()


def run_guarantee_check(*args: str) -> dict:
    """benchmarks/guarantee_check.py's entry point, in this process; return the report file it wrote."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from guarantee_check import main

    main(list(args))
    results_dir = args[args.index("--results-dir") + 1]
    return json.loads((Path(results_dir) / "guarantee_check.json").read_text())


@pytest.mark.parametrize("options, message", [
    (["--retention", "0.9"], "error: --retention is the uncertified calibration: add --method retention"),
    (["--method", "retention", "--risk-epsilon", "0.1"], "error: --risk-epsilon is an option of the certified"),
    (["--loss", "cider"], "error: --loss for snli_ve must be one of consistency, label"),
    (["--multiple-testing", "bonferroni", "--learn-fraction", "0.5"], "error: --learn-fraction applies to"),
    (["--risk-delta", "1.5"], "error: --risk-delta must be in (0, 1)"),
])
def test_calibration_options_it_cannot_honour_are_refused(demo, tmp_path, options, message, capsys):
    with pytest.raises(SystemExit):  # refused before any checkpoint is read (there is none)
        calibrate.main([str(demo / "snli_ve"), "--path", str(tmp_path / "none.pt"), "--task", "snli_ve", "--gen-subset",
              "valid", "--profile-path", str(tmp_path / "p.json"), *options])
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("given", [["--decoder-exit-threshold", "0.9"],
                                   ["--model-overrides", "{'decoder_exit_threshold': 0.9}"]],
                         ids=["command_line", "model_overrides"])
def test_calibration_refuses_thresholds_it_would_override(demo, decomposed_snli_checkpoint, tmp_path, capsys, given):
    """A threshold on the command line, or in --model-overrides (where OFA's evaluate.py takes task
    options), is refused: the calibration would replace it with its own."""
    with pytest.raises(SystemExit):
        calibrate.main([str(demo / "snli_ve"), "--path", decomposed_snli_checkpoint, "--task", "snli_ve", "--bpe-dir",
              str(demo / "bpe"), "--gen-subset", "valid", "--cpu", *given, "--profile-path", str(tmp_path / "p.json")])
    assert "error: calibrate chooses MuE's thresholds itself" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "p.json").exists()


def test_exit_options_in_model_overrides_run_as_on_the_command_line(demo, decomposed_snli_checkpoint, tmp_path):
    """OFA's evaluate.py applies every --model-overrides key to the task it builds: exit thresholds
    given there run exactly as the same thresholds given as flags (and not as the full model)."""
    common = snli_args(demo, decomposed_snli_checkpoint)
    flags = evaluated_on_valid(common, tmp_path, "flags", "--image-exit-threshold", "0.5",
                               "--decoder-exit-threshold", "0.3")
    overridden = evaluated_on_valid(common, tmp_path, "overrides", "--model-overrides",
                                    "{'image_exit_threshold': 0.5, 'decoder_exit_threshold': 0.3}")
    assert overridden["exit_policy"] == flags["exit_policy"]
    assert (overridden["metrics"], overridden["layers"]) == (flags["metrics"], flags["layers"])
    assert (tmp_path / "overrides" / "valid_predictions.jsonl").read_text() == \
        (tmp_path / "flags" / "valid_predictions.jsonl").read_text()
    assert overridden["layers"]["expected_time_reduction"] > 0


def test_an_snli_ve_ensemble_is_refused_not_scored_with_its_first_model(demo, decomposed_snli_checkpoint, tmp_path):
    """OFA's eval_snli_ve scores with the first model of an ensemble and ignores the rest; a results
    file naming both would hide that, so --path a.pt:b.pt is refused in one line, nothing written."""
    ensemble = f"{decomposed_snli_checkpoint}:{decomposed_snli_checkpoint}"
    with pytest.raises(ConfigError, match=r"^SNLI-VE is scored with one model, got an ensemble of 2") as error:
        evaluated_on_valid(snli_args(demo, ensemble), tmp_path, "ensemble")
    assert "\n" not in str(error.value)
    assert not any((tmp_path / "ensemble").glob("valid_*"))


def test_report_reads_and_names_the_split_it_is_given(tmp_path, capsys):
    """``report --split valid`` reads the valid_metrics.json files and its table says valid (it said
    test whatever the split)."""
    layers = {"expected_time_reduction": 0.5, "image_layers": 3.0, "text_layers": 2.0, "decoder_layers": 4.0}
    runs = {"full": {"metrics": {"accuracy": 0.8}, "seconds": 2.0, "examples": 7},
            "mue": {"metrics": {"accuracy": 0.78}, "seconds": 1.0, "examples": 7, "layers": layers,
                    "exit_policy": {"image": 0.9, "text": 0.9, "decoder": 2.0}}}
    for name, metrics in runs.items():
        folder = tmp_path / "snli_ve" / name
        folder.mkdir(parents=True)
        (folder / "valid_metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SystemExit):
        report.main(["--results-dir", str(tmp_path)])  # no test_metrics.json
    summary = report.main(["--results-dir", str(tmp_path), "--split", "valid"])
    assert summary["snli_ve"]["mue"]["accuracy"] == 0.78
    table = (tmp_path / "table.md").read_text()
    assert "**snli_ve** (valid, 7 examples)" in table and "(test," not in table
