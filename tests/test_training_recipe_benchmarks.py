"""The training-recipe probes of benchmarks/ (question_updates.py, snli_settings.py,
grounding_stage.py, grounding_lookup.py) compute the figures the README quotes from the right
models, splits and settings: which model each arm trains from and with what, which split each
column is scored on, and how the committed tables are rendered from the committed results.

Everything here runs without training: the commands the benchmarks start (fairseq-train,
``python -m ofa_mue.evaluate``, the question stage) are replaced by recorders, so each test
checks what the benchmark asks for and what it does with the answers (a few seconds in all).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))
import grounding_lookup  # noqa: E402
import grounding_stage  # noqa: E402
import question_updates  # noqa: E402
import snli_settings  # noqa: E402
from measurement import Provenance  # noqa: E402


def _option(argv, name):
    """The value after ``name`` in a command line."""
    return argv[argv.index(name) + 1]


def _header(report) -> str:
    """The provenance line a results file opens with, as :class:`Provenance` writes it."""
    provenance = Provenance.__new__(Provenance)
    provenance.record = report
    return provenance.header()


# ---- the committed tables are what the benchmarks render from the committed results ----------
@pytest.mark.parametrize("stem, render", [
    ("question_updates", lambda r: _header(r) + question_updates.markdown(r)),
    ("question_and_snli_updates/question_updates", lambda r: _header(r) + question_updates.markdown(r)),
    ("snli_settings/snli_settings", lambda r: _header(r) + snli_settings.markdown(r)),
    ("grounding_lookup_focus/grounding_lookup", lambda r: _header(r) + grounding_lookup.markdown(r)),
    ("grounding_lookup_focus_amd/grounding_lookup", lambda r: _header(r) + grounding_lookup.markdown(r)),
    ("grounding_stage", grounding_stage.markdown),  # after a provenance line of an older format
], ids=["question_updates", "question_and_snli_updates", "snli_settings", "grounding_lookup_focus",
        "grounding_lookup_focus_amd", "grounding_stage"])
def test_committed_tables_are_rendered_from_the_committed_results(stem, render):
    report = json.loads((RESULTS / f"{stem}.json").read_text())
    committed = (RESULTS / f"{stem}.md").read_text()
    rendered = render(report)
    if rendered.startswith("Measured"):
        assert rendered == committed
    else:
        assert committed.endswith("\n\n" + rendered) and committed.startswith("Measured")


def test_snli_settings_mean_row_averages_each_arm_over_the_seeds():
    report = {"arguments": {"checkpoints": "c", "snli_updates": 700}, "seeds": {}}
    for seed, shift in (("1", 0.0), ("2", 0.1), ("3", 0.3)):
        report["seeds"][seed] = [
            {"lr": lr, "label_smoothing": ls, "evaluations": {
                name: {"accuracy": base + offset + shift, "examples": 300}
                for name, offset in (("valid", 0.0), ("test", 0.01), ("one_layer", 0.02))}}
            for lr, ls, base in ((5e-4, 0.1, 0.2), (2.5e-4, 0.0, 0.4))]
    lines = snli_settings.markdown(report).splitlines()
    means = lines[lines.index("Mean over the seeds:") + 4:][:2]
    # arm 1: 0.2 + mean shift 0.1333 -> 33.3% valid, 34.3% test, 35.3% one layer; arm 2: +0.2
    assert means == ["| 0.0005 | 0.1 | 33.3% | 34.3% | 35.3% |", "| 0.00025 | 0 | 53.3% | 54.3% | 55.3% |"]
    first = next(line for line in lines if line.startswith("| 1 | 0.0005 |"))
    assert first == "| 1 | 0.0005 | 0.1 | 20.0% | 21.0% | 22.0% (-1.0) |"  # gap: test minus one layer


# ---- question_updates.py ---------------------------------------------------------------------
def test_question_updates_scores_valid_on_the_valid_split_and_every_other_column_on_test():
    evaluations = question_updates.EVALUATIONS
    assert evaluations["valid"] == ("valid", [])
    assert evaluations["test"] == ("test", [])
    assert {name: split for name, (split, _) in evaluations.items() if name != "valid"} == dict.fromkeys(
        ("test", "other_images", "blank_images", "other_hypotheses", "one_layer"), "test")
    assert evaluations["other_images"][1] == ["--replace-images", "other"]
    assert evaluations["blank_images"][1] == ["--replace-images", "blank"]
    assert evaluations["other_hypotheses"][1] == ["--replace-text", "other"]
    assert evaluations["one_layer"][1] == ["--exit-policy", "static", "--static-image-layers", "1",
                                           "--static-text-layers", "1", "--static-decoder-layers", "1"]


def test_snli_settings_chooses_on_the_valid_split_and_records_test_in_full_and_with_one_layer():
    assert snli_settings.EVALUATIONS == {
        "valid": ("valid", []), "test": ("test", []),
        "one_layer": ("test", ["--exit-policy", "static", "--static-image-layers", "1", "--static-text-layers", "1",
                               "--static-decoder-layers", "1"])}


def test_question_updates_families_are_read_off_the_test_predictions_per_family_and_label(tmp_path, monkeypatch):
    scored = []

    def score(folder, data_folder, bpe, checkpoint, split, options):
        scored.append((Path(folder).name, split, tuple(options), checkpoint))
        return {"accuracy": 0.5, "examples": 4}

    monkeypatch.setattr(question_updates, "score", score)
    meta = [{"uniq_id": i, "family": family, "label": label, "difficulty": "easy", "n_objects": 2, "hidden_cells": 0}
            for i, (family, label) in enumerate((("counts", "entailment"), ("counts", "neutral"),
                                                 ("regions", "contradiction"), ("regions", "entailment")))]
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "snli_ve_test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in meta))
    answers = {"entailment": "yes", "neutral": "maybe", "contradiction": "no"}
    predicted = ("yes", "yes", "no", "no")  # right, wrong, right, wrong
    (tmp_path / "out" / "test").mkdir(parents=True)
    (tmp_path / "out" / "test" / "test_predictions.jsonl").write_text("".join(
        json.dumps({"uniq_id": row["uniq_id"], "answer": answers[row["label"]], "prediction": p}) + "\n"
        for row, p in zip(meta, predicted)))
    result = question_updates.evaluate(str(tmp_path / "out"), str(tmp_path), "model.pt")
    assert result["families"] == {"family/counts": 0.5, "family/regions": 0.5, "label/contradiction": 1.0,
                                  "label/entailment": 0.5, "label/neutral": 0.0}
    assert sorted(scored) == sorted((name, split, tuple(options), "model.pt")
                                    for name, (split, options) in question_updates.EVALUATIONS.items())


def test_question_updates_arm_trains_from_its_seeds_caption_model_with_its_seed_beside_that_seeds_demo_model(
        tmp_path, monkeypatch):
    seed_folder = tmp_path / "checkpoints" / "seed2"
    seed_folder.mkdir(parents=True)
    (seed_folder / "questions.json").write_text(json.dumps({"held_out_accuracy": {"layer6/where": 0.25}}))
    commands, trained, evaluated = [], [], {}

    def run(log, module, *argv):
        commands.append((module, list(argv)))
        Path(_option(argv, "--out")).with_suffix(".json").write_text(
            json.dumps({"held_out_accuracy": {"layer6/where": 0.75}}))

    def train(log, data_folder, bpe, init, save_dir, updates, lr, criterion, decompose, constant_lr, seed=1,
              label_smoothing=0.1):
        trained.append(dict(init=init, updates=updates, lr=lr, criterion=criterion, decompose=decompose,
                            constant_lr=constant_lr, seed=seed, label_smoothing=label_smoothing))
        return str(Path(save_dir) / "checkpoint_last.pt")

    def evaluate(out, data, checkpoint):
        evaluated[Path(out).name] = checkpoint
        return {"checkpoint": checkpoint}

    monkeypatch.setattr(question_updates, "run", run)
    monkeypatch.setattr(question_updates, "train", train)
    monkeypatch.setattr(question_updates, "evaluate", evaluate)
    args = argparse.Namespace(work_dir=str(tmp_path / "work"), checkpoints=str(tmp_path / "checkpoints"),
                              data=str(tmp_path / "data"), question_updates=4000, question_kinds="where,what",
                              snli_updates=1400)
    arm = question_updates.seed_arm(2, args)
    (module, argv), = commands
    assert module == "ofa_mue.demo.question_stage"
    assert _option(argv, "--init") == str(seed_folder / "caption" / "checkpoint_last.pt")
    assert (_option(argv, "--updates"), _option(argv, "--kinds"), _option(argv, "--seed")) == ("4000", "where,what", "2")
    work = tmp_path / "work" / "seed2"
    assert _option(argv, "--out") == str(work / "questions.pt")
    assert trained == [dict(init=str(work / "questions.pt"), updates=1400, lr=5e-4,
                            criterion=grounding_stage.CRITERIA["layerwise"], decompose=True, constant_lr=False,
                            seed=2, label_smoothing=0.1)]
    assert arm["snli_ve"] == {"checkpoint": str(work / "snli_ve" / "checkpoint_last.pt")}
    assert arm["demo_snli_ve"] == {"checkpoint": str(seed_folder / "snli_ve" / "checkpoint_last.pt")}
    assert evaluated.keys() == {"eval", "eval_demo"}
    assert arm["questions"] == {"layer6/where": 0.75} and arm["demo_questions"] == {"layer6/where": 0.25}


# ---- snli_settings.py -----------------------------------------------------------------------
def test_snli_settings_each_arm_trains_from_its_seeds_question_stage_with_its_own_settings(tmp_path, monkeypatch):
    trained, scored = [], []

    def train(log, data_folder, bpe, init, save_dir, updates, lr, criterion, decompose, constant_lr, seed=1,
              label_smoothing=0.1):
        trained.append(dict(init=init, save_dir=save_dir, updates=updates, lr=lr, criterion=criterion,
                            decompose=decompose, constant_lr=constant_lr, seed=seed, label_smoothing=label_smoothing))
        return str(Path(save_dir) / "checkpoint_last.pt")

    def score(folder, data_folder, bpe, checkpoint, split, options):
        scored.append((Path(folder).name, split, tuple(options), checkpoint))
        return {"accuracy": 0.5, "examples": 3}

    monkeypatch.setattr(snli_settings, "train", train)
    monkeypatch.setattr(snli_settings, "score", score)
    args = argparse.Namespace(work_dir=str(tmp_path / "work"), checkpoints=str(tmp_path / "checkpoints"),
                              data=str(tmp_path / "data"), snli_updates=700)
    for seed, lr, smoothing in ((3, 2.5e-4, 0.0), (1, 5e-4, 0.1)):
        trained.clear()
        scored.clear()
        result = snli_settings.run_arm(seed, lr, smoothing, args)
        save_dir = tmp_path / "work" / f"seed{seed}" / snli_settings.arm_name(lr, smoothing) / "snli_ve"
        assert trained == [dict(init=str(tmp_path / "checkpoints" / f"seed{seed}" / "questions.pt"),
                                save_dir=str(save_dir), updates=700, lr=lr, criterion=grounding_stage.CRITERIA["layerwise"],
                                decompose=True, constant_lr=False, seed=seed, label_smoothing=smoothing)]
        assert sorted(scored) == sorted((name, split, tuple(options), str(save_dir / "checkpoint_last.pt"))
                                        for name, (split, options) in snli_settings.EVALUATIONS.items())
        assert result.keys() == snli_settings.EVALUATIONS.keys()


def test_snli_settings_main_runs_every_arm_on_every_seed_and_files_each_result_under_its_own_arm(tmp_path, monkeypatch):
    for seed in (1, 2):
        (tmp_path / "checkpoints" / f"seed{seed}").mkdir(parents=True)
        (tmp_path / "checkpoints" / f"seed{seed}" / "questions.pt").write_text("")
    (tmp_path / "data" / "snli_ve").mkdir(parents=True)
    (tmp_path / "data" / "snli_ve" / "test.tsv").write_text("")

    def run_arm(seed, lr, smoothing, args):  # a result that says which arm it came from
        return {"valid": {"accuracy": seed + lr, "examples": 1}, "test": {"accuracy": smoothing, "examples": 1},
                "one_layer": {"accuracy": 0.0, "examples": 1}}

    monkeypatch.setattr(snli_settings, "run_arm", run_arm)
    monkeypatch.setattr(sys, "argv", ["snli_settings.py", "--data", str(tmp_path / "data"), "--checkpoints",
                                      str(tmp_path / "checkpoints"), "--seeds", "1,2", "--arms", "5e-4:0.1,2.5e-4:0.0",
                                      "--out", str(tmp_path / "out")])
    snli_settings.main()
    report = json.loads((tmp_path / "out" / "snli_settings.json").read_text())
    for seed in ("1", "2"):
        arms = report["seeds"][seed]
        assert [(a["lr"], a["label_smoothing"]) for a in arms] == [(5e-4, 0.1), (2.5e-4, 0.0)]
        for a in arms:
            assert a["evaluations"] == run_arm(int(seed), a["lr"], a["label_smoothing"], None)


# ---- grounding_stage.py ---------------------------------------------------------------------
def test_grounding_statements_held_out_are_not_trained_on(tmp_path, monkeypatch):
    rows = 20
    lines = [f"{i}\timg\t\tthere is a red circle {i}\t\tyes\n" for i in range(rows + grounding_stage.HELD_OUT)]

    def run(log, module, *argv):
        assert module == "ofa_mue.demo.generate" and _option(argv, "--grounding") == str(rows + grounding_stage.HELD_OUT)
        folder = Path(_option(argv, "--out")) / "grounding"
        folder.mkdir(parents=True)
        (folder / "train.tsv").write_text("".join(lines))

    monkeypatch.setattr(grounding_stage, "run", run)
    (tmp_path / "data" / "snli_ve").mkdir(parents=True)
    (tmp_path / "data" / "snli_ve" / "train.tsv").write_text(
        "".join(f"0\timg\tx\tthere is a red circle {i}\tx\tyes\n" for i in range(len(lines))))
    folder = Path(grounding_stage.grounding_data(str(tmp_path / "data"), rows, str(tmp_path / "work")))
    train, test = (folder / "train.tsv").read_text().splitlines(True), (folder / "test.tsv").read_text().splitlines(True)
    assert len(train) == rows and len(test) == grounding_stage.HELD_OUT
    assert not set(train) & set(test) and sorted(train + test) == sorted(lines)


def test_grounding_stage_train_passes_each_setting_to_fairseq_train(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(grounding_stage, "run", lambda log, module, *argv: commands.append((module, list(argv))))
    for decompose, constant_lr, criterion in ((True, False, "plain"), (False, True, "layerwise")):
        commands.clear()
        save_dir = tmp_path / f"{criterion}"
        checkpoint = grounding_stage.train("log", "data", "bpe", "init.pt", str(save_dir), 123, 3e-4,
                                           grounding_stage.CRITERIA[criterion], decompose=decompose,
                                           constant_lr=constant_lr, seed=7, label_smoothing=0.0)
        assert checkpoint == str(save_dir / "checkpoint_last.pt")
        (module, argv), = commands
        assert module == "fairseq_cli.train" and argv[0] == "data"
        assert _option(argv, "--criterion") == grounding_stage.CRITERIA[criterion]
        assert ("--decompose-modalities" in argv) == decompose
        assert _option(argv, "--lr-scheduler") == ("fixed" if constant_lr else "polynomial_decay")
        if not constant_lr:
            assert _option(argv, "--total-num-update") == "123"
        assert (_option(argv, "--max-update"), _option(argv, "--lr"), _option(argv, "--seed")) == ("123", "0.0003", "7")
        assert (_option(argv, "--finetune-from-model"), _option(argv, "--label-smoothing")) == ("init.pt", "0.0")
        assert _option(argv, "--save-dir") == str(save_dir)


def test_grounding_stage_arms_differ_only_in_the_grounding_loss_and_snli_ve_starts_from_the_grounding_model(
        tmp_path, monkeypatch):
    trained, measured = [], []

    def train(log, data_folder, bpe, init, save_dir, updates, lr, criterion, decompose, constant_lr, seed=1,
              label_smoothing=0.1):
        trained.append(dict(data=data_folder, init=init, updates=updates, lr=lr, criterion=criterion,
                            decompose=decompose, constant_lr=constant_lr, seed=seed))
        return f"{save_dir}/checkpoint_last.pt"

    def accuracies(out, data_folder, bpe, checkpoint):
        measured.append((Path(out).name, data_folder, checkpoint))
        return {}

    monkeypatch.setattr(grounding_stage, "train", train)
    monkeypatch.setattr(grounding_stage, "accuracies", accuracies)
    monkeypatch.setattr(grounding_stage, "last_training_accuracy", lambda log: {})
    args = argparse.Namespace(work_dir=str(tmp_path), data="D", caption_checkpoint="caption.pt", grounding_updates=2000,
                              grounding_lr=3e-4, snli_updates=700)
    for loss in grounding_stage.CRITERIA:
        trained.clear()
        measured.clear()
        grounding_stage.arm(loss, args, "G")
        grounded = f"{tmp_path}/{loss}/grounding/checkpoint_last.pt"
        snli = f"{tmp_path}/{loss}/snli_ve/checkpoint_last.pt"
        assert trained == [
            dict(data="G", init="caption.pt", updates=2000, lr=3e-4, criterion=grounding_stage.CRITERIA[loss],
                 decompose=False, constant_lr=True, seed=1),
            dict(data="D/snli_ve", init=grounded, updates=700, lr=5e-4, criterion=grounding_stage.CRITERIA["layerwise"],
                 decompose=True, constant_lr=False, seed=1)]
        assert measured == [("eval_grounding", "G", grounded), ("eval_snli_ve", "D/snli_ve", snli)]


def test_grounding_stage_scores_the_split_it_names_and_each_image_replacement(tmp_path, monkeypatch):
    commands = []

    def run(log, module, *argv):
        commands.append(list(argv))
        split = _option(argv, "--gen-subset")
        metrics = {"metrics": {"accuracy": {"valid": 0.25, "test": 0.5}[split]}, "examples": {"valid": 5, "test": 3}[split]}
        (Path(_option(argv, "--results-path")) / f"{split}_metrics.json").write_text(json.dumps(metrics))

    monkeypatch.setattr(grounding_stage, "run", run)
    assert grounding_stage.score(str(tmp_path / "v"), "D", "B", "m.pt", "valid") == {"accuracy": 0.25, "examples": 5}
    result = grounding_stage.accuracies(str(tmp_path), "D", "B", "m.pt")
    assert result == dict.fromkeys(("none", "other", "blank"), {"accuracy": 0.5, "examples": 3})
    assert [_option(argv, "--replace-images") for argv in commands[1:]] == ["none", "other", "blank"]
    assert [Path(_option(argv, "--results-path")).name for argv in commands[1:]] == [
        "images_none", "images_other", "images_blank"]


def test_last_training_accuracy_reads_the_last_logged_line(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("epoch 001 | train_inner | loss 2.0 | acc_layer1=30.0 | acc_layer6=40.5\n"
                   "epoch 001 | valid | acc_layer1=99.0\n"
                   "epoch 002 | train_inner | loss 1.0 | acc_layer1=50.25 | acc_layer6=70.0\n"
                   "epoch 002 | train | acc_layer1=11.0\n")
    assert grounding_stage.last_training_accuracy(str(log)) == {"acc_layer1": 50.25, "acc_layer6": 70.0}


# ---- grounding_lookup.py --------------------------------------------------------------------
def test_linear_probe_is_scored_on_the_rows_it_was_not_trained_on():
    # 40 rows of one-hot features: the first 32 (the 80% it trains on) are separable and learnt;
    # the last 8 share no feature with them, so a linear head can only guess the training rows'
    # majority class there, and their labels are a class no training row has
    features = torch.eye(40)
    labels = torch.tensor([0, 1] * 16 + [2] * 8)
    assert grounding_lookup.linear_probe(features, labels, 3, seed=1) == 0.0
    # a probe whose held-out rows follow the same rule as its training rows scores them right
    features = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    assert grounding_lookup.linear_probe(features, (features[:, 0] > 0).long(), 2, seed=1) == 1.0


def test_grounding_lookup_reports_each_settings_first_and_last_layer_and_chance_among_its_objects(tmp_path, monkeypatch):
    (tmp_path / "data" / "bpe").mkdir(parents=True)
    (tmp_path / "init.pt").write_text("")
    calls, probed = [], []

    def train_questions(data, init, out, updates, seed, kinds, progress, lookup_objects, focus_weight, focus_lr):
        calls.append(dict(init=init, updates=updates, seed=seed, kinds=kinds, lookup_objects=lookup_objects))
        n = len(calls)
        return {f"layer{layer}/where": round(0.1 * n + 0.01 * layer, 4) for layer in (6, 1)}

    def probes(checkpoint, vocab, lookup_objects, seed):
        probed.append((checkpoint, list(lookup_objects), seed))
        return {"object_patches": 0}

    monkeypatch.setattr(grounding_lookup, "train_questions", train_questions)
    monkeypatch.setattr(grounding_lookup, "probes", probes)
    monkeypatch.setattr(grounding_lookup.OFAVocabulary, "load", staticmethod(lambda *a, **k: None))
    monkeypatch.setattr(grounding_lookup, "markdown", lambda report: "")
    monkeypatch.setattr(sys, "argv", ["grounding_lookup.py", "--data", str(tmp_path / "data"), "--init",
                                      str(tmp_path / "init.pt"), "--updates", "5", "--objects", "1", "2,3,4",
                                      "--seed", "3", "--work-dir", str(tmp_path / "work"), "--out", str(tmp_path / "out")])
    threads = torch.get_num_threads()
    try:
        grounding_lookup.main()
    finally:
        torch.set_num_threads(threads)  # main runs on one thread
    assert calls == [dict(init=str(tmp_path / "init.pt"), updates=5, seed=3, kinds=["where"], lookup_objects=objects)
                     for objects in ([1], [2, 3, 4])]
    settings = json.loads((tmp_path / "out" / "grounding_lookup.json").read_text())["settings"]
    assert [(s["objects"], s["accuracy_first_layer"], s["accuracy_last_layer"]) for s in settings] == [
        ("1", 0.11, 0.16), ("2,3,4", 0.21, 0.26)]
    assert [s["chance_among_objects"] for s in settings] == [1.0, round(mean((1 / 2, 1 / 3, 1 / 4)), 4)]
    last = str(tmp_path / "work" / "where_2-3-4_objects.pt")
    assert settings[-1]["checkpoint"] == last
    assert probed == [(str(tmp_path / "init.pt"), [2, 3, 4], 3), (last, [2, 3, 4], 3)]
