"""OFA's habits: OFA's own fine-tuning flags mean here what they mean in OFA, and the
project's recipes pass exactly OFA's base recipes' flags plus MuE's options.

OFA's flag lists below are copied from OFA-Sys/OFA's base recipes (run_scripts/snli_ve/
train_snli_ve_base.sh, run_scripts/caption/train_caption_stage{1,2}_base.sh), with the
shell variables replaced by the values those scripts pass (a loop's value where the launch sits
in a loop over it: stage 2 sets max_epoch=5 but launches in `for max_epoch in 3`, SNLI-VE sets
lr=3e-5 but launches in `for lr in {5e-5,}`), and without the flags that name
local paths (data, --bpe-dir, --user-dir, --restore-file, --save-dir). The recipes are
compared as run on OFA's number of GPUs, where their computed batch flags must be OFA's.
"""
from __future__ import annotations

import os
import shlex
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import pytest
from fairseq import options

REPO = Path(__file__).resolve().parents[1]

OFA_SNLI_VE_BASE = """
--selected-cols=0,2,3,4,5 --reset-optimizer --reset-dataloader --reset-meters --task=snli_ve --arch=ofa_base
--criterion=adjust_label_smoothed_cross_entropy --label-smoothing=0.0 --batch-size=4 --update-freq=8
--encoder-normalize-before --decoder-normalize-before --share-decoder-input-output-embed --share-all-embeddings
--layernorm-embedding --patch-layernorm-embedding --code-layernorm-embedding --resnet-drop-path-rate=0.0
--encoder-drop-path-rate=0.1 --decoder-drop-path-rate=0.1 --dropout=0.1 --attention-dropout=0.0
--weight-decay=0.01 --optimizer=adam --adam-betas="(0.9,0.999)" --adam-eps=1e-08 --clip-norm=1.0
--lr-scheduler=polynomial_decay --lr=5e-5 --max-epoch=5 --warmup-ratio=0.06 --log-format=simple --log-interval=10
--fixed-validation-seed=7 --keep-best-checkpoints=1 --save-interval=1 --validate-interval=1
--save-interval-updates=500 --validate-interval-updates=500 --best-checkpoint-metric=snli_score
--maximize-best-checkpoint-metric --max-src-length=80 --max-tgt-length=20 --find-unused-parameters
--add-type-embedding --scale-attn --scale-fc --scale-heads --disable-entangle --num-bins=1000
--patch-image-size=480 --prompt-type=prev_output --add-caption --fp16 --fp16-scale-window=512 --num-workers=0
"""

OFA_CAPTION_STAGE1_BASE = """
--selected-cols=0,4,2 --reset-optimizer --reset-dataloader --reset-meters --task=caption --arch=ofa_base
--criterion=adjust_label_smoothed_cross_entropy --label-smoothing=0.1 --batch-size=8 --update-freq=4
--encoder-normalize-before --decoder-normalize-before --share-decoder-input-output-embed --share-all-embeddings
--layernorm-embedding --patch-layernorm-embedding --code-layernorm-embedding --resnet-drop-path-rate=0.0
--encoder-drop-path-rate=0.1 --decoder-drop-path-rate=0.1 --dropout=0.1 --attention-dropout=0.0
--weight-decay=0.01 --optimizer=adam --adam-betas="(0.9,0.999)" --adam-eps=1e-08 --clip-norm=1.0
--lr-scheduler=polynomial_decay --lr=1e-5 --max-epoch=5 --warmup-ratio=0.06 --log-format=simple --log-interval=10
--fixed-validation-seed=7 --no-epoch-checkpoints --keep-best-checkpoints=1 --save-interval=1 --validate-interval=1
--save-interval-updates=500 --validate-interval-updates=500 --eval-cider
--eval-cider-cached-tokens=../../dataset/caption_data/cider_cached_tokens/coco-valid-words.p
--eval-args='{"beam":5,"max_len_b":16,"no_repeat_ngram_size":3}' --best-checkpoint-metric=cider
--maximize-best-checkpoint-metric --max-src-length=80 --max-tgt-length=20 --find-unused-parameters
--freeze-encoder-embedding --freeze-decoder-embedding --add-type-embedding --scale-attn --scale-fc --scale-heads
--disable-entangle --num-bins=1000 --patch-image-size=480 --drop-worst-ratio=0.2 --drop-worst-after=6000 --fp16
--fp16-scale-window=512 --num-workers=0
"""

OFA_CAPTION_STAGE2_BASE = """
--selected-cols=1,4,2 --reset-optimizer --reset-dataloader --reset-meters --task=caption --arch=ofa_base
--criterion=scst_reward_criterion --batch-size=2 --update-freq=4 --encoder-normalize-before
--decoder-normalize-before --share-decoder-input-output-embed --share-all-embeddings --layernorm-embedding
--patch-layernorm-embedding --code-layernorm-embedding --resnet-drop-path-rate=0.0 --encoder-drop-path-rate=0.0
--decoder-drop-path-rate=0.0 --dropout=0.0 --attention-dropout=0.0 --weight-decay=0.01 --optimizer=adam
--adam-betas="(0.9,0.999)" --adam-eps=1e-08 --clip-norm=1.0 --lr-scheduler=polynomial_decay --lr=1e-5
--max-epoch=3 --warmup-ratio=0.06 --log-format=simple --log-interval=10 --fixed-validation-seed=7
--no-epoch-checkpoints --keep-best-checkpoints=1 --save-interval=1 --validate-interval=1
--save-interval-updates=500 --validate-interval-updates=500 --eval-cider
--eval-cider-cached-tokens=../../dataset/caption_data/cider_cached_tokens/coco-valid-words.p
--eval-args='{"beam":5,"max_len_b":16,"no_repeat_ngram_size":3}' --best-checkpoint-metric=cider
--maximize-best-checkpoint-metric --max-src-length=80 --max-tgt-length=20 --find-unused-parameters
--freeze-encoder-embedding --freeze-decoder-embedding --add-type-embedding --scale-attn --scale-fc --scale-heads
--disable-entangle --num-bins=1000 --patch-image-size=480 --scst
--scst-cider-cached-tokens=../../dataset/caption_data/cider_cached_tokens/coco-train-words.p
--scst-args='{"beam":5,"max_len_b":16,"no_repeat_ngram_size":3}' --memory-efficient-fp16
--fp16-scale-window=512 --num-workers=0
"""

# Flags of OFA's fork of fairseq or of OFA's tasks that the recipes replace (each named in the
# recipe's header among its deliberate deviations).
OFA_ONLY_FLAGS = ("--warmup-ratio", "--eval-cider-cached-tokens", "--scst-cider-cached-tokens")
# OFA's start from a checkpoint, which the recipes replace with fairseq's --finetune-from-model
# (the same start; running the recipe again resumes with RESUME=1), and what they add to every OFA recipe.
RESTORE_FLAGS = ("--reset-optimizer", "--reset-dataloader", "--reset-meters")
ADDED_OPTIONS = ["--freeze-resnet"]



@dataclass
class Recipe:
    script: str
    ofa_flags: str  # OFA's base recipe
    ofa_gpus: int  # the number of GPUs OFA's recipe launches
    checkpoint_variable: str
    mue_options: List[str]  # what MuE adds
    replaced: Dict[str, str] = field(default_factory=dict)  # OFA's flag -> MuE's


LAYERWISE = {"--criterion=adjust_label_smoothed_cross_entropy": "--criterion=layerwise_label_smoothed_cross_entropy"}
RECIPES = {
    # the MuE paper's 64 rows per update (on OFA's GPUs: a smaller --update-freq) and lr 3e-5
    "snli_ve": Recipe("run_scripts/snli_ve/train_mue.sh", OFA_SNLI_VE_BASE, 8, "OFA_CHECKPOINT",
                      ["--decompose-modalities"],
                      {**LAYERWISE, "--lr=5e-5": "--lr=3e-5", "--update-freq=8": "--update-freq=2"}),
    "caption_stage1": Recipe("run_scripts/caption/train_stage1_mue.sh", OFA_CAPTION_STAGE1_BASE, 4, "OFA_CHECKPOINT",
                             ["--decompose-modalities"],
                             {**LAYERWISE, "--lr=1e-5": "--lr=3e-5", "--update-freq=4": "--update-freq=2",
                              # the same 768,000 rows as OFA's 6000 updates of 128
                              "--drop-worst-after=6000": "--drop-worst-after=12000"}),
    "caption_stage2": Recipe("run_scripts/caption/train_stage2_scst.sh", OFA_CAPTION_STAGE2_BASE, 8,
                             "STAGE1_CHECKPOINT", ["--decompose-modalities", "--layerwise-loss"]),
}
TRAIN_ROWS = 1000


def ofa_flags(text: str) -> List[str]:
    return [flag for flag in shlex.split(text) if not flag.startswith(OFA_ONLY_FLAGS)]


def parse(argv: List[str]):
    """fairseq-train's parser with the project as user dir, as ``fairseq-train argv`` parses."""
    return options.parse_args_and_arch(options.get_training_parser(), argv)


def meaning_in_ofa(flag: str):
    """(option name, value) that OFA's parser gives a flag: a bare flag turns its option on."""
    name, _, value = flag[2:].partition("=")
    return name.replace("-", "_"), (True if not _ else value)


def same(expected, parsed) -> bool:
    if expected is True:
        return parsed is True
    if isinstance(parsed, list) and len(parsed) == 1:
        parsed = parsed[0]
    if isinstance(parsed, bool):
        return False
    if isinstance(parsed, (int, float)):
        return float(expected) == float(parsed)
    return str(parsed) == expected


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_ofa_flags_mean_what_they_mean_in_ofa(tmp_path, recipe):
    flags = ofa_flags(RECIPES[recipe].ofa_flags)
    args = parse([str(tmp_path), "--user-dir", "ofa_mue", *flags])
    wrong = {}
    for flag in flags:
        name, value = meaning_in_ofa(flag)
        if not same(value, getattr(args, name, None)):
            wrong[flag] = getattr(args, name, "<missing>")
    assert not wrong, f"OFA's flags parsed to other values: {wrong}"


def recipe_argv(tmp_path: Path, recipe: str, **settings: str) -> List[str]:
    """The fairseq-train arguments the recipe runs as rank 0 of a torchrun launch on OFA's number
    of GPUs (a ``python3`` on PATH records them), with the environment ``settings``."""
    script, checkpoint_variable = RECIPES[recipe].script, RECIPES[recipe].checkpoint_variable
    bin_dir, data = tmp_path / "bin", tmp_path / "data"
    bin_dir.mkdir()
    data.mkdir()
    (data / "train.tsv").write_text("row\n" * TRAIN_ROWS)
    (tmp_path / "start.pt").write_bytes(b"")
    recorder = bin_dir / "python3"
    recorder.write_text('#!/usr/bin/env bash\n[[ "$1" == -c ]] && exit 0\nprintf "%s\\0" "$@" > "$ARGV_FILE"\n')
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    launch = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": str(RECIPES[recipe].ofa_gpus), "MASTER_ADDR": "localhost",
              "MASTER_PORT": "29500"}
    env = {**{k: v for k, v in os.environ.items() if k not in ("PY", "GPUS", "TOTAL_BATCH", "BATCH_SIZE", "LR")},
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "ARGV_FILE": str(tmp_path / "argv"),
           "DATA_DIR": str(data), checkpoint_variable: str(tmp_path / "start.pt"), **launch, **settings}
    done = subprocess.run(["bash", str(REPO / script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    argv = (tmp_path / "argv").read_text().split("\0")[:-1]
    assert argv[:2] == ["-m", "fairseq_cli.train"], argv
    return argv[2:]


def value_after(argv: List[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_recipe_passes_ofa_base_flags_plus_mue_options(tmp_path, recipe):
    spec = RECIPES[recipe]
    ours = recipe_argv(tmp_path, recipe)
    batch, update_freq = int(value_after(ours, "--batch-size")), int(value_after(ours, "--update-freq"))
    # OFA's epochs of the 1000 rows: batches dealt out to OFA's GPUs, update_freq batches per update
    (epochs,) = [int(flag.split("=")[1]) for flag in ofa_flags(spec.ofa_flags) if flag.startswith("--max-epoch=")]
    per_gpu = -(-(-(-TRAIN_ROWS // batch)) // spec.ofa_gpus)
    total = -(-per_gpu // update_freq) * epochs
    local = ["--user-dir", "--finetune-from-model", "--save-dir", "--distributed-world-size", "--ddp-backend",
             "--distributed-rank", "--device-id", "--distributed-init-method", "--distributed-backend"]
    expected = [str(tmp_path / "data"), *[part for flag in local for part in (flag, value_after(ours, flag))],
                "--distributed-no-spawn",
                *[spec.replaced.get(flag, flag) for flag in ofa_flags(spec.ofa_flags) if flag not in RESTORE_FLAGS],
                *spec.mue_options, *ADDED_OPTIONS,
                "--total-num-update", str(total), "--warmup-updates", str(total * 6 // 100)]
    parsed_ours, parsed_ofa = vars(parse(ours)), vars(parse(expected))
    differences = {key: (parsed_ours.get(key), parsed_ofa.get(key)) for key in parsed_ours.keys() | parsed_ofa.keys()
                   if parsed_ours.get(key) != parsed_ofa.get(key)}
    assert not differences, f"(recipe, OFA + MuE) differ: {differences}"
    header = "".join(line for line in (REPO / spec.script).read_text().splitlines(keepends=True)
                     if line.startswith("#"))
    deviations = [flag for flag in OFA_ONLY_FLAGS if flag in spec.ofa_flags] + ["--restore-file", *ADDED_OPTIONS]
    for flag in deviations:
        assert flag in header, f"{spec.script} does not list its deviation from OFA's {flag}"


def test_stage_1_with_ofas_own_batch_passes_ofas_batch_values(tmp_path):
    """TOTAL_BATCH=128 LR=1e-5, OFA's own setting: OFA's update frequency, learning rate and
    --drop-worst-after; at other total batches the drop starts after the same number of rows."""
    ours = recipe_argv(tmp_path, "caption_stage1", TOTAL_BATCH="128", LR="1e-5")
    assert [value_after(ours, flag) for flag in ("--batch-size", "--update-freq", "--lr", "--drop-worst-after")] == \
        ["8", "4", "1e-5", "6000"]
    (tmp_path / "other").mkdir()
    assert value_after(recipe_argv(tmp_path / "other", "caption_stage1", TOTAL_BATCH="256"), "--drop-worst-after") == "3000"


def test_add_caption_puts_the_premise_in_the_prompt_as_in_ofa(tmp_path, write_tsv, image_b64):
    from fairseq import tasks

    row = ["u0", "img0", image_b64(), "two dogs play", "a photo of dogs", "entailment"]
    data = write_tsv([row], "test.tsv").parent
    prompts = {}
    for extra in ([], ["--add-caption"]):
        args = parse([str(data), "--user-dir", "ofa_mue", "--task", "snli_ve", "--arch", "ofa_demo",
                      "--patch-image-size", "16", *extra])
        task = tasks.setup_task(args)
        task.load_dataset("test")
        prompts[bool(extra)] = task.vocab.decode(task.dataset("test")[0]["source"])
    assert prompts[True] == ' can image and text1 " a photo of dogs " imply text2 " two dogs play "?'
    assert prompts[False] == ' does the image describe " two dogs play "?'  # OFA's default: no premise


@pytest.mark.parametrize("flag, option", [("--no-scale-attn", "scale_attn"), ("--no-scale-fc", "scale_fc"),
                                          ("--no-scale-heads", "scale_heads"),
                                          ("--no-add-type-embedding", "add_type_embedding")])
def test_options_on_by_default_switch_off(tmp_path, flag, option):
    assert getattr(parse([str(tmp_path), "--user-dir", "ofa_mue", "--arch", "ofa_tiny"]), option, True) is not False
    from ofa_mue.models.builders import build_model, numbered_dictionary

    args = vars(parse([str(tmp_path), "--user-dir", "ofa_mue", "--arch", "ofa_demo", flag]))
    assert args[option] is False
    model = build_model("ofa_demo", numbered_dictionary(40), **{option: False})
    assert model.args.__dict__[option] is False


def test_freezing_the_embedding_as_ofa_does():
    from ofa_mue.models.builders import build_model, numbered_dictionary

    for flag in ("freeze_encoder_embedding", "freeze_decoder_embedding"):
        model = build_model("ofa_demo", numbered_dictionary(40), **{flag: True})
        assert not model.encoder.embed_tokens.weight.requires_grad
        assert model.decoder.embed_tokens.weight is model.encoder.embed_tokens.weight
    assert build_model("ofa_demo", numbered_dictionary(40)).encoder.embed_tokens.weight.requires_grad


def test_switching_off_a_required_option_is_refused_in_one_line():
    from ofa_mue.errors import OFAMuEError
    from ofa_mue.models.builders import build_model, numbered_dictionary

    with pytest.raises(OFAMuEError, match="share"):
        build_model("ofa_demo", numbered_dictionary(40), share_all_embeddings=False)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_a_save_dir_left_by_an_earlier_run_is_refused_unless_resume(tmp_path, recipe):
    """OFA's recipes start afresh when run again; fairseq-train, given --finetune-from-model,
    would silently continue the run whose checkpoint_last.pt it finds in the save dir (its
    weights, optimizer and schedule, whatever the settings now say). The recipes refuse such a
    save dir in one line, and continue it with RESUME=1."""
    save = tmp_path / "save"
    save.mkdir()
    (save / "checkpoint_last.pt").write_bytes(b"")
    (tmp_path / "refused").mkdir()
    (tmp_path / "resumed").mkdir()
    with pytest.raises(AssertionError, match=r"checkpoint_last\.pt is left by an earlier run.*RESUME=1 continues it"):
        recipe_argv(tmp_path / "refused", recipe, SAVE_DIR=str(save))
    argv = recipe_argv(tmp_path / "resumed", recipe, SAVE_DIR=str(save), RESUME="1")
    assert value_after(argv, "--save-dir") == str(save)
