"""fairseq-train with OFA's habits: options of OFA's tasks (tasks/ofa_task.py, tasks/mm_tasks/
{caption,snli_ve}.py of OFA-Sys/OFA) that this project accepted but ignored or honoured
differently. Each is now honoured as OFA does or refused in one line."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest
import torch
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

from demo_training import train_in_process
from ofa_mue.errors import ConfigError


def snli_ve_rows(count: int, image_b64, prefix: str) -> List[List[str]]:
    """``count`` SNLI-VE rows (uniq-id, image-id, image, hypothesis, premise, label) with ids ``prefix0...``."""
    labels = ("entailment", "neutral", "contradiction")
    return [[f"{prefix}{i}", f"img{i}", image_b64(9, 7, (40 * i % 255, 90, 200)), "two dogs play",
             "dogs in a park", labels[i % 3]] for i in range(count)]


def write_rows(path: Path, rows: List[List[str]]) -> Path:
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


def parse_training(argv: List[str]):
    """fairseq-train's parsed arguments and its configuration for ``argv`` (with the project as user dir)."""
    args = options.parse_args_and_arch(options.get_training_parser(), [*argv, "--user-dir", "ofa_mue"])
    return args, convert_namespace_to_omegaconf(args)


def file_list_training_argv(files: List, tmp_path, epochs: int, *extra: str) -> List[str]:
    """fairseq-train's arguments for a tiny SNLI-VE run on OFA's comma-separated ``--data`` of ``files``."""
    return [",".join(map(str, files)), "--user-dir", "ofa_mue", "--task", "snli_ve", "--arch", "ofa_demo",
            "--patch-image-size", "16", "--criterion", "adjust_label_smoothed_cross_entropy", "--optimizer", "adam",
            "--lr", "1e-4", "--max-epoch", str(epochs), "--batch-size", "2", "--save-dir", str(tmp_path / "ckpt"),
            "--no-save", "--num-workers", "0", "--cpu", "--seed", "1", "--log-format", "simple", *extra]


def test_comma_separated_training_files_take_turns_by_epoch(tmp_path, image_b64):
    """OFA's ``--data train_a.tsv,train_b.tsv,valid.tsv``: epoch 1 trains on train_a, epoch 2 on
    train_b (OFA's train.py reloads the training split every epoch). fairseq-train reloads it only
    for a task whose data are sharded, which it judged by os.pathsep (':'), so every epoch trained
    on train_a."""
    first = write_rows(tmp_path / "train_a.tsv", snli_ve_rows(2, image_b64, "a"))
    second = write_rows(tmp_path / "train_b.tsv", snli_ve_rows(4, image_b64, "b"))
    valid = write_rows(tmp_path / "valid.tsv", snli_ve_rows(2, image_b64, "v"))
    log = train_in_process(file_list_training_argv([first, second, valid], tmp_path, 2, "--disable-validation"))
    loaded = re.findall(r"train: (\d+) rows from (\S+)", log)
    # (after the last epoch fairseq-train, as OFA's train.py, already loads the next epoch's file)
    assert loaded[:2] == [("2", str(first)), ("4", str(second))], log[-3000:]
    assert re.search(r"epoch 002 \|.*num_updates 3\b", log), log[-3000:]  # 1 + 2 batches of 2 rows


def test_comma_separated_data_trains_with_validation_on(tmp_path, image_b64):
    """OFA's script layout ``--data train.tsv,valid.tsv`` with validation on: fairseq-train's check for
    unused validation subsets listed the whole list as one folder and failed (FileNotFoundError);
    it now passes over files, and the run validates on the last file every epoch."""
    train = write_rows(tmp_path / "train.tsv", snli_ve_rows(2, image_b64, "a"))
    valid = write_rows(tmp_path / "valid.tsv", snli_ve_rows(2, image_b64, "v"))
    log = train_in_process(file_list_training_argv([train, valid], tmp_path, 1))
    assert f"valid: 2 rows from {valid}" in log, log[-3000:]
    assert re.search(r"epoch 001 \| valid on 'valid' subset \|.*snli_score", log), log[-3000:]


def test_one_training_file_is_loaded_once(tmp_path):
    """With a single training file there is nothing to take turns: fairseq keeps its dataset."""
    for data in (str(tmp_path), f"{tmp_path / 'train.tsv'},{tmp_path / 'valid.tsv'}"):
        _, cfg = parse_training([data, "--task", "caption", "--arch", "ofa_tiny"])
        assert not tasks.setup_task(cfg.task).has_sharded_data("train")


def test_every_split_but_train_reads_the_last_file_of_a_comma_separated_list(tmp_path):
    """OFA's load_dataset: ``paths = data.split(',')``; train reads ``paths[(epoch - 1) % (len(paths) - 1)]``,
    any other split ``paths[-1]`` (its evaluation scripts pass ``train.tsv,valid.tsv`` or one file)."""
    files = [tmp_path / name for name in ("train_a.tsv", "train_b.tsv", "test.tsv")]
    for file in files:
        file.write_text("")
    _, cfg = parse_training([",".join(map(str, files)), "--task", "caption", "--arch", "ofa_tiny"])
    task = tasks.setup_task(cfg.task)
    assert [task.split_path(split) for split in ("valid", "test")] == [str(files[2])] * 2
    assert [task.split_path("train", epoch) for epoch in (1, 2, 3)] == [str(files[0]), str(files[1]), str(files[0])]


@pytest.mark.parametrize("task_name", ["caption", "snli_ve"])
def test_bpe_other_than_gpt2_is_refused_in_training(tmp_path, task_name):
    """OFA's ``--bpe bert`` (its Chinese models: BERT word pieces from --bpe-dir's vocab.txt and a
    Chinese caption prompt) was accepted and ignored: the text was encoded with GPT-2's BPE."""
    args, cfg = parse_training([str(tmp_path), "--task", task_name, "--arch", "ofa_demo", "--bpe", "bert"])
    task = tasks.setup_task(cfg.task)
    with pytest.raises(ConfigError, match="--bpe bert") as error:
        task.build_model(cfg.model)
    assert "\n" not in str(error.value)
    args, cfg = parse_training([str(tmp_path), "--task", task_name, "--arch", "ofa_demo", "--bpe", "gpt2",
                                "--patch-image-size", "16"])
    tasks.setup_task(cfg.task).build_model(cfg.model)  # OFA's default: accepted


def test_bpe_other_than_gpt2_is_refused_in_generation(tmp_path):
    """fairseq-generate builds the task's BPE from ``--bpe``: only GPT-2's is this project's."""
    def generation_config(*flags: str):
        args = options.parse_args_and_arch(options.get_generation_parser(), [
            str(tmp_path), "--user-dir", "ofa_mue", "--task", "caption", *flags])
        return convert_namespace_to_omegaconf(args)

    cfg = generation_config("--bpe", "bert")
    task = tasks.setup_task(cfg.task)
    with pytest.raises(ConfigError, match="--bpe bert"):
        task.build_bpe(cfg.bpe)
    for flags in ([], ["--bpe", "gpt2"]):
        assert task.build_bpe(generation_config(*flags).bpe) is task.vocab.bpe


def test_an_unknown_prompt_type_is_a_one_line_error(tmp_path):
    """OFA's --prompt-type takes none, src or prev_output; another value stopped fairseq-train with a
    traceback (a ValueError from the dataset), now with one line naming the option, before any data load."""
    _, cfg = parse_training([str(tmp_path), "--task", "snli_ve", "--arch", "ofa_demo", "--prompt-type", "prev"])
    with pytest.raises(ConfigError, match=r"--prompt-type must be one of none, src, prev_output \(OFA's\), got 'prev'"):
        tasks.setup_task(cfg.task)


@pytest.mark.parametrize("start", [["--finetune-from-model"], ["--reset-optimizer", "--reset-dataloader",
                                                                  "--reset-meters", "--restore-file"]],
                         ids=["finetune_from_model", "restore_file_reset"])
def test_store_ema_starts_from_a_checkpoint_without_one(demo_data, tmp_path, start):
    """OFA's habit ``--restore-file ofa_large.pt --reset-* --store-ema`` (or --finetune-from-model) on a
    checkpoint that holds no EMA: fairseq 0.12 failed with KeyError 'model' (it seeded the EMA from
    weights it had deleted); the EMA now starts from the checkpoint's weights, as OFA's fairseq does:
    after one update of decay d it is ``d * checkpoint + (1 - d) * model``."""
    from test_training_and_evaluation_cli import plain_train_argv

    train_in_process(plain_train_argv(demo_data, "snli_ve", tmp_path / "start", 1))
    start_weights = torch.load(tmp_path / "start" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert "ema" not in start_weights["extra_state"]
    decay = 0.75
    train_in_process(plain_train_argv(demo_data, "snli_ve", tmp_path / "ema", 1, "--store-ema", "--ema-decay",
                                      str(decay), *start, str(tmp_path / "start" / "checkpoint_last.pt")))
    after = torch.load(tmp_path / "ema" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    ema, model, before = after["extra_state"]["ema"], after["model"], start_weights["model"]
    key = "encoder.layers.0.fc1.weight"
    assert not torch.equal(model[key], before[key]), "one update moved the weights"
    assert torch.equal(ema[key], before[key].clone().mul_(decay).add_(model[key], alpha=1 - decay))


def test_store_ema_averages_weights_and_copies_integer_buffers(demo_data, tmp_path):
    """OFA's ``--store-ema`` (its VQA recipes): fairseq 0.12's EMA averaged every tensor and so
    stopped at the first update on the model's integer buffers (BatchNorm's num_batches_tracked,
    the relative-position buckets); OFA's fairseq copies those. After each update the EMA weights
    are ``decay * previous + (1 - decay) * model``, and the integer buffers are the model's."""
    from test_training_and_evaluation_cli import plain_train_argv

    from ofa_mue.evaluate import main as evaluate_main

    decay = 0.75
    train_in_process(plain_train_argv(demo_data, "snli_ve", tmp_path, 2, "--store-ema", "--ema-decay", str(decay),
                                      "--save-interval-updates", "1", "--keep-interval-updates", "-1"))
    first, second = (torch.load(tmp_path / f"checkpoint_1_{n}.pt", map_location="cpu", weights_only=False)
                     for n in (1, 2))
    ema, previous, model = second["extra_state"]["ema"], first["extra_state"]["ema"], second["model"]
    integers = [key for key, value in model.items() if not torch.is_floating_point(value)]
    assert any(key.endswith("num_batches_tracked") for key in integers)
    assert any(key.endswith("rp_bucket") for key in integers)
    for key in integers:
        assert torch.equal(ema[key], model[key]), key
    # tied weights (the token embeddings, shared by the encoder, the decoder and its output
    # projection) are one tensor that fairseq's EMA, like OFA's, steps once per key: left out here
    storages = [value.untyped_storage().data_ptr() for value in ema.values()]
    floats = [key for key in model if key not in integers and "version" not in key
              and storages.count(ema[key].untyped_storage().data_ptr()) == 1]
    assert len(floats) > 100
    for key in floats:
        expected = previous[key].clone().mul_(decay).add_(model[key], alpha=1 - decay)
        assert torch.equal(ema[key], expected), key
    assert any(not torch.equal(ema[key], model[key]) for key in floats)  # averaged, not copied
    summary = evaluate_main([str(demo_data / "snli_ve"), "--path", str(tmp_path / "checkpoint_last.pt"), "--task",
                             "snli_ve", "--gen-subset", "test", "--cpu", "--ema-eval",
                             "--results-path", str(tmp_path / "ema")])
    assert summary["weights"] == "ema" and summary["examples"] > 0


def test_store_ema_resumes_the_average_its_checkpoint_holds(demo_data, tmp_path):
    """fairseq-train --store-ema resumed from its own checkpoint_last.pt, which holds an EMA, continues
    that average: after the next update of decay d the EMA is ``d * saved EMA + (1 - d) * model``, not
    restarted from the checkpoint's model weights."""
    from test_training_and_evaluation_cli import plain_train_argv

    decay = 0.75

    def argv(updates):
        return plain_train_argv(demo_data, "snli_ve", tmp_path, updates, "--store-ema", "--ema-decay", str(decay))

    train_in_process(argv(2))  # after one update the saved EMA equals the saved weights: take two
    first = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    train_in_process(argv(3))
    second = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    saved, ema, model = first["extra_state"]["ema"], second["extra_state"]["ema"], second["model"]
    key = "encoder.layers.0.fc1.weight"
    assert not torch.equal(saved[key], first["model"][key]), "the saved EMA is an average, not the weights"
    assert not torch.equal(model[key], first["model"][key]), "the resumed run made an update"
    assert torch.equal(ema[key], saved[key].clone().mul_(decay).add_(model[key], alpha=1 - decay))


def test_a_single_file_as_data_is_read_by_every_split(tmp_path):
    """``--data all.tsv`` (one file, no folder): training reads it (the "all but the last" of a
    comma-separated list leaves none, so the only file trains), as do the evaluation splits."""
    data = tmp_path / "all.tsv"
    data.write_text("")
    from types import SimpleNamespace

    from ofa_mue.tasks.ofa_task import OFATask

    task = object.__new__(OFATask)  # the split files need the task's --data only
    task.cfg = SimpleNamespace(data=str(data))
    assert task.training_files() == [str(data)] and not task.has_sharded_data("train")
    assert [task.split_path("train", epoch) for epoch in (1, 2)] + [task.split_path("valid")] == [str(data)] * 3


def test_caption_training_cuts_captions_to_the_given_max_tgt_length(tmp_path, image_b64):
    """OFA's --max-tgt-length: a training caption keeps that many words (here 3, not the default 30)."""
    write_rows(tmp_path / "train.tsv", [["u0", "1", " ".join(f"w{i}" for i in range(8)), "", image_b64()]])
    _, cfg = parse_training([str(tmp_path), "--task", "caption", "--arch", "ofa_tiny", "--max-tgt-length", "3"])
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train")
    assert task.vocab.decode(task.dataset("train")[0]["target"]).split() == ["w0", "w1", "w2"]


def test_snli_ve_prompt_type_reaches_the_dataset(tmp_path, image_b64):
    """OFA's --prompt-type none: the decoder reads bos alone before the answer (prev_output, the
    default, would put the whole source there)."""
    write_rows(tmp_path / "train.tsv", snli_ve_rows(1, image_b64, "t"))
    _, cfg = parse_training([str(tmp_path), "--task", "snli_ve", "--arch", "ofa_tiny", "--prompt-type", "none"])
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train")
    sample = task.dataset("train")[0]
    assert sample["prev_output_tokens"].tolist() == [sample["source"][0].item(), *sample["target"][-2:-1].tolist()]
