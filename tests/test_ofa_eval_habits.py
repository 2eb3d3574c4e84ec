"""Evaluation as OFA's own evaluation does it, for users with OFA's habits (audit h25): caption
text as OFA's ``eval_caption`` writes and scores it; SNLI-VE's answers scored among the three
candidates alone, as OFA's answer trie constrains them; ``--eval-args`` / ``--scst-args``
meaning what they mean in OFA's caption task; ``--fp16`` as OFA's evaluation scripts pass it;
those scripts' flags run unchanged and write OFA's ``{split}_predict.json``; OFA's
``--imagenet-default-mean-and-std`` taken from the checkpoint; a checkpoint trained with
``--interpolate-position`` refused; ``--match-source-len`` counting the source as OFA's generator;
the two options OFA's ``evaluate.py`` adds, ``--zero-shot`` and ``--ema-eval``."""
from __future__ import annotations

import json
import re
import string
from argparse import Namespace
from pathlib import Path

import pytest
import torch

from demo_training import REPO, run_module, train_in_process
from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.errors import ConfigError
from ofa_mue.evaluate import build_parser, load_evaluation
from ofa_mue.evaluate import main as evaluate_main
from ofa_mue.models.builders import model_args
from ofa_mue.tasks.caption import CaptionConfig, CaptionTask
from ofa_mue.tasks.generation_options import JSON_GENERATION_OPTIONS
from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask
from test_training_and_evaluation_cli import plain_train_argv
from tiny_ofa import IMAGE_SIZE, tiny_model

TEST_ROWS = 6

OFA_PUNCTUATION = str.maketrans({key: None for key in string.punctuation})


def ofa_caption(decoded: str) -> str:
    """OFA's ``eval_caption``: the decoded hypothesis without ASCII punctuation, stripped."""
    return decoded.translate(OFA_PUNCTUATION).strip()


def make_caption_task(folder: Path, image_b64, **options) -> CaptionTask:
    """The caption task, with OFA's vocabulary, on a two-row test split in ``folder``."""
    rows = [["u0", "7", "a dog on grass", "dog", image_b64(9, 7)], ["u1", "8", "two cats", "cat", image_b64(5, 6)]]
    (folder / "test.tsv").write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    task = CaptionTask.setup_task(CaptionConfig(data=str(folder), patch_image_size=IMAGE_SIZE, **options))
    task.load_dataset("test")
    return task


@pytest.fixture
def caption_task(tmp_path: Path, image_b64) -> CaptionTask:
    return make_caption_task(tmp_path, image_b64)


def test_captions_lose_punctuation_as_in_ofas_evaluation(caption_task):
    """A hypothesis holding punctuation (forced here as a prefix of real beam search) is
    written and scored as OFA's evaluation writes it: "a man's t-shirt." -> "a mans tshirt"."""
    task = caption_task
    model = tiny_model(task.vocab.dictionary).eval()
    dataset = task.dataset("test")
    sample = dataset.collater([dataset[0], dataset[1]])
    prefix = task.vocab.encode(" a man's t-shirt.")
    prefix_tokens = prefix.unsqueeze(0).expand(2, -1)
    generator = task.build_generator([model], Namespace(beam=2, max_len_b=len(prefix) + 3))
    with torch.no_grad():
        hypotheses = generator.generate([model], sample, prefix_tokens=prefix_tokens)
        captions = task.captions(generator, [model], sample, prefix_tokens=prefix_tokens)
    decoded = [task.vocab.decode(hypos[0]["tokens"]) for hypos in hypotheses]
    assert all(text.startswith(" a man's t-shirt.") for text in decoded), decoded  # the punctuation is there
    for caption, text in zip(captions, decoded):
        assert caption.startswith("a mans tshirt"), caption
        assert caption.split() == ofa_caption(text).split()
        assert caption == " ".join(caption.split())


def test_match_source_len_counts_the_source_as_ofas_generator_does(caption_task):
    """With ``--match-source-len`` a caption is as long as the source counted as OFA's generator
    counts it (its tokens other than eos and pad: bos and the prompt's words), not fairseq 0.12's
    ``net_input["src_lengths"]``, which also counts the eos."""
    task = caption_task
    model = tiny_model(task.vocab.dictionary).eval()
    dataset = task.dataset("test")
    sample = dataset.collater([dataset[0], dataset[1]])
    src_tokens = sample["net_input"]["src_tokens"]
    ofa_lengths = (src_tokens.ne(task.vocab.dictionary.eos()) & src_tokens.ne(task.vocab.dictionary.pad())).sum(1)
    assert (sample["net_input"]["src_lengths"] == ofa_lengths + 1).all()  # the case that tells them apart
    generator = task.build_generator([model], Namespace(beam=2, match_source_len=True))
    with torch.no_grad():
        hypotheses = generator.generate([model], sample)
    # LengthConstrainedBeamSearch: exactly the source length, then eos
    assert [len(hypos[0]["tokens"]) for hypos in hypotheses] == (ofa_lengths + 1).tolist()


OFA_ANSWERS = {"no": 117, "yes": 4420, "maybe": 2085}
"""OFA's SNLI-VE answers in its ans2label order (no 0, yes 1, maybe 2), with their ids in OFA's dict.txt."""


def snli_ve_batch(folder: Path, rows, **options) -> tuple[SnliVeTask, dict]:
    """The SNLI-VE task, with OFA's vocabulary, on ``rows`` written as the test split in ``folder``,
    and the batch of all of them."""
    (folder / "test.tsv").write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    task = SnliVeTask.setup_task(SnliVeConfig(data=str(folder), patch_image_size=IMAGE_SIZE, **options))
    task.load_dataset("test")
    dataset = task.dataset("test")
    return task, dataset.collater([dataset[i] for i in range(len(rows))])


def test_snli_ve_scores_its_answers_constrained_to_the_three_candidates(tmp_path, image_b64):
    """As OFA's SNLI-VE evaluation (its answer trie): an answer's score is its log-probability among
    the three answers alone after the decoder prompt (a softmax over the logits of " no", " yes"
    and " maybe", nothing else), and the eos after it, the only token the trie allows, is certain:
    the three answers' probabilities sum to 1."""
    rows = [["u0", "i0", image_b64(9, 7), "two dogs play", "dogs in a park", "entailment"],
            ["u1", "i1", image_b64(5, 6, (20, 90, 200)), "a cat sleeps on a red sofa", "a cat", "neutral"]]
    task, sample = snli_ve_batch(tmp_path, rows, add_caption=True)
    model = tiny_model(task.vocab.dictionary).eval()
    net = sample["net_input"]
    with torch.no_grad():
        scores = task.candidate_scores(model, sample)
        token_scores, scored, _ = task.score_tokens(model, sample)
        for row, prompt in enumerate(sample["decoder_prompts"]):
            length = int(net["src_lengths"][row])
            logits, _ = model(net["src_tokens"][row:row + 1, :length], net["src_lengths"][row:row + 1],
                              prompt.unsqueeze(0), patch_images=net["patch_images"][row:row + 1],
                              patch_masks=net["patch_masks"][row:row + 1])
            among_three = torch.log_softmax(logits[0, -1, list(OFA_ANSWERS.values())].float(), -1)
            torch.testing.assert_close(scores[row], among_three, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scores.exp().sum(-1), torch.ones(2))
    for row in range(2):
        for candidate in range(3):
            eos_score = token_scores[row, candidate][scored[row, candidate]][-1]
            assert eos_score.item() == 0.0


def tiny_args():
    """A one-layer ``ofa_demo`` model's arguments, for ``task.build_model``."""
    return model_args("ofa_demo", encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_layers=1, decoder_layers=1,
                      encoder_attention_heads=2, decoder_attention_heads=2)


def generation_of(generator) -> dict:
    """The options a generator was built with, by fairseq's generation option names."""
    blocker = generator.repeat_ngram_blocker
    return {"beam": generator.beam_size, "max_len_a": generator.max_len_a, "max_len_b": generator.max_len_b,
            "min_len": generator.min_len, "no_repeat_ngram_size": blocker.no_repeat_ngram_size if blocker else 0}


# OFA's caption task builds its generators from Namespace(**json.loads(--eval-args)): what the
# JSON does not set takes fairseq's build_generator defaults, as fairseq-generate's would.
FAIRSEQ_DEFAULTS = {"beam": 5, "max_len_a": 0, "max_len_b": 200, "min_len": 1, "no_repeat_ngram_size": 0}
OFA_RECIPE = {"beam": 5, "max_len_b": 16, "no_repeat_ngram_size": 3}  # train_caption_stage1_base.sh's --eval-args


@pytest.mark.parametrize("given, expected", [
    (None, {**FAIRSEQ_DEFAULTS, **OFA_RECIPE}),
    ("{}", FAIRSEQ_DEFAULTS),
    ('{"beam": 2, "max_len_b": 12}', {**FAIRSEQ_DEFAULTS, "beam": 2, "max_len_b": 12}),
    (json.dumps(OFA_RECIPE), {**FAIRSEQ_DEFAULTS, **OFA_RECIPE}),
], ids=["not_given", "empty", "partial", "ofa_recipe"])
def test_eval_and_scst_args_mean_what_they_mean_in_ofa(tmp_path, image_b64, given, expected):
    """``--eval-args`` / ``--scst-args`` as JSON set exactly the options they name; without
    either option the recipes' values apply (OFA's own default '{}' would generate up to 200
    tokens with no n-gram blocking)."""
    options = {} if given is None else {"eval_args": given, "scst_args": given}
    task = make_caption_task(tmp_path, image_b64, eval_cider=True, scst=True, **options)
    task.build_model(tiny_args())
    assert generation_of(task.validation_generator) == expected
    assert generation_of(task.scst_generator) == expected


def test_caption_evaluation_generates_with_ofas_evaluate_caption_flags_by_default(tmp_path):
    """OFA's evaluate_caption.sh passes --beam=5 --max-len-b=16 --no-repeat-ngram-size=3 (fairseq's
    own defaults would be up to 200 tokens, no n-gram blocking): without them the evaluation uses
    those values; given, an option is used as given."""
    from fairseq import options

    argv = [str(tmp_path), "--task", "caption", "--path", str(tmp_path / "x.pt")]
    args = options.parse_args_and_arch(build_parser(), input_args=argv)
    assert (args.beam, args.max_len_a, args.max_len_b, args.no_repeat_ngram_size) == (5, 0, 16, 3)
    args = options.parse_args_and_arch(build_parser(), input_args=[*argv, "--max-len-b", "20", "--beam", "3"])
    assert (args.beam, args.max_len_b, args.no_repeat_ngram_size) == (3, 20, 3)


@pytest.mark.parametrize("flag, option", [("--eval-args", "eval_args"), ("--scst-args", "scst_args")])
@pytest.mark.parametrize("given", ["{'beam': 2}", "[2]"], ids=["python_quotes", "not_an_object"])
def test_generation_json_that_is_not_an_object_names_the_option(tmp_path, image_b64, flag, option, given):
    task = make_caption_task(tmp_path, image_b64, eval_cider=True, scst=True, **{option: given})
    with pytest.raises(ConfigError) as error:
        task.build_model(tiny_args())
    assert flag in str(error.value) and given in str(error.value)


GENERATION_JSON_REFUSALS = {
    "hyphenated key": ('{"max-len-b": 2}', "key 'max-len-b' is not a generation option (did you mean 'max_len_b'?)"),
    "misspelled key": ('{"maxlenb": 2}', "key 'maxlenb' is not a generation option (did you mean 'max_len_b'?)"),
    "unknown key": ('{"beam": 2, "colour": 1}', "key 'colour' is not a generation option;"),
    "nbest": ('{"nbest": 2}', "key 'nbest' cannot apply to its generator"),
    "prefix_size": ('{"prefix_size": 1}', "key 'prefix_size' cannot apply to its generator"),
    "lm_path": ('{"lm_path": "lm.pt"}', "key 'lm_path' cannot apply to its generator"),
    "lm_weight": ('{"lm_weight": 0.5}', "key 'lm_weight' cannot apply to its generator"),
    "iter_decode_max_iter": ('{"iter_decode_max_iter": 3}', "key 'iter_decode_max_iter' cannot apply to its generator"),
    "constraints": ('{"constraints": "ordered"}', "key 'constraints' cannot apply to its generator"),
    "string value": ('{"beam": "5"}', "key 'beam' must be a whole number, got \"5\""),
    "fraction for a whole number": ('{"beam": 2.5}', "key 'beam' must be a whole number, got 2.5"),
    "true for a whole number": ('{"beam": true}', "key 'beam' must be a whole number, got true"),
    "number for true or false": ('{"sampling": 1}', "key 'sampling' must be true or false, got 1"),
    "sampling_topk without sampling": ('{"sampling_topk": 5}', "--sampling-topk only applies with --sampling"),
    "min_len above max_len_b": ('{"min_len": 20, "max_len_b": 16}', "--min-len 20 is above --max-len-b 16"),
    "sampling with diverse_beam_groups": ('{"sampling": true, "beam": 4, "diverse_beam_groups": 2}',
                                          "--sampling, --diverse-beam-groups 2 choose different searches"),
}


@pytest.mark.parametrize("flag, option", [("--eval-args", "eval_args"), ("--scst-args", "scst_args")])
@pytest.mark.parametrize("given, message", GENERATION_JSON_REFUSALS.values(), ids=GENERATION_JSON_REFUSALS.keys())
def test_generation_json_keys_the_generator_cannot_honour_are_refused(tmp_path, image_b64, flag, option, given,
                                                                      message):
    """fairseq's build_generator reads its options with defaults, so a misspelled key, or one that
    only fairseq-generate or another generator reads, would be dropped without a word: refused in
    one line naming the option and the key (with the keys it accepts), as is a value of another
    type or options the generator cannot honour together."""
    task = make_caption_task(tmp_path, image_b64, eval_cider=True, scst=True, **{option: given})
    with pytest.raises(ConfigError) as error:
        task.build_model(tiny_args())
    text = str(error.value)
    assert text.startswith(flag) and message in text and "\n" not in text, text
    if "key" in message and "must be" not in message:
        assert f"accepted keys: {', '.join(JSON_GENERATION_OPTIONS)}" in text, text


def test_generation_json_takes_every_option_the_generator_reads(tmp_path, image_b64):
    """Every key of JSON_GENERATION_OPTIONS (OFA's recipes pass beam, max_len_b and
    no_repeat_ngram_size) is honoured: a generator is built with each at a value that changes it."""
    given = {"beam": 4, "max_len_a": 0.5, "max_len_b": 12, "min_len": 2, "lenpen": 0.8, "unkpen": 1.0,
             "unnormalized": True, "temperature": 0.9, "no_repeat_ngram_size": 2, "match_source_len": False,
             "sampling": True, "sampling_topk": 3, "sampling_topp": 0.9, "diverse_beam_groups": -1,
             "diverse_beam_strength": 0.5, "diversity_rate": -1.0}
    assert sorted(given) == sorted(JSON_GENERATION_OPTIONS)
    task = make_caption_task(tmp_path, image_b64, eval_cider=True, eval_args=json.dumps(given))
    task.build_model(tiny_args())
    generator = task.validation_generator
    assert (generator.beam_size, generator.max_len_a, generator.max_len_b, generator.min_len) == (4, 0.5, 12, 2)
    assert (generator.len_penalty, generator.unk_penalty, generator.normalize_scores) == (0.8, 1.0, False)
    assert (generator.temperature, generator.repeat_ngram_blocker.no_repeat_ngram_size) == (0.9, 2)
    assert (generator.search.sampling_topk, generator.search.sampling_topp) == (3, 0.9)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Demo data and, per task, a checkpoint fine-tuned on it for two updates by fairseq-train
    (SNLI-VE with the premise in its prompt, as OFA's recipe trains it)."""
    demo = tmp_path_factory.mktemp("habits_demo")
    generate_demo_data(demo, seed=5, train=16, valid=4, test=TEST_ROWS, image_size=64)
    checkpoints = {}
    for task, extra in (("snli_ve", ("--add-caption",)), ("caption", ())):
        save_dir = tmp_path_factory.mktemp(f"habits_{task}")
        train_in_process(plain_train_argv(demo, task, save_dir, 2, *extra))
        checkpoints[task] = str(save_dir / "checkpoint_last.pt")
    return demo, checkpoints


def test_fp16_as_ofas_evaluation_scripts_pass_it(trained):
    """OFA's evaluation scripts pass --fp16: ``python -m ofa_mue.evaluate`` then runs the model
    in float16 (it refused the flag as a distributed option), and ``fairseq-generate --fp16``,
    which halves the model but not the batch, runs (its images were float32: a traceback)
    and gives the same answers."""
    demo, checkpoints = trained
    checkpoint = checkpoints["snli_ve"]
    setup, _ = load_evaluation(build_parser(), [str(demo / "snli_ve"), "--path", checkpoint, "--task", "snli_ve",
                                                "--gen-subset", "test", "--cpu", "--fp16", "--batch-size", "4"])
    assert {p.dtype for p in setup.models[0].parameters()} == {torch.float16}
    evaluated = {r["row"] - 1: r["prediction"] for r in setup.evaluate()["records"]}
    assert sorted(evaluated) == list(range(TEST_ROWS))

    done = run_module("fairseq_cli.generate", str(demo / "snli_ve"), "--user-dir", "ofa_mue", "--task", "snli_ve",
                      "--path", checkpoint, "--gen-subset", "test", "--batch-size", "4", "--cpu", "--fp16")
    assert done.returncode == 0, done.stderr[-3000:]
    answers = re.findall(r"^D-(\d+)\t\S+\t\s*(\S+)$", done.stdout + done.stderr, flags=re.MULTILINE)
    assert {int(i): answer for i, answer in answers} == evaluated


def ofa_evaluation_argv(demo: Path, task: str, checkpoint: str, results: Path) -> list:
    """OFA's run_scripts/{snli_ve/evaluate_snli_ve,caption/evaluate_caption}_base.sh, flag for flag,
    with this machine's paths (the data also in --model-overrides, as the scripts pass it)."""
    data = str(demo / task / "test.tsv")
    if task == "snli_ve":
        overrides = f'{{"data":"{data}","bpe_dir":"{demo / "bpe"}","selected_cols":"0,2,3,4,5"}}'
        extra = ["--batch-size=8"]
    else:
        overrides = f'{{"data":"{data}","bpe_dir":"{demo / "bpe"}","eval_cider":False,"selected_cols":"1,4,2"}}'
        extra = ["--batch-size=16", "--beam=5", "--max-len-b=16", "--no-repeat-ngram-size=3"]
    return [data, f"--path={checkpoint}", f"--user-dir={REPO / 'ofa_mue'}", f"--task={task}", *extra[:1],
            "--log-format=simple", "--log-interval=10", "--seed=7", "--gen-subset=test", f"--results-path={results}",
            *extra[1:], "--fp16", "--num-workers=0", f"--model-overrides={overrides}"]


@pytest.mark.parametrize("task, keys, id_column", [("snli_ve", ("uniq_id", "answer"), 0),
                                                   ("caption", ("image_id", "caption"), 1)])
def test_ofas_evaluation_scripts_run_and_write_ofas_predict_file(trained, tmp_path, task, keys, id_column):
    """OFA's evaluation commands run as they are and write, beside this project's files,
    ``test_predict.json`` as OFA's evaluate.py writes it (captions: what its coco_eval.py reads),
    the rows keyed by the column --model-overrides' selected_cols names (captions: image-id)."""
    demo, checkpoints = trained
    summary = evaluate_main(ofa_evaluation_argv(demo, task, checkpoints[task], tmp_path))
    assert summary["examples"] == TEST_ROWS
    records = [json.loads(line) for line in (tmp_path / "test_predictions.jsonl").read_text().splitlines()]
    rows = [line.split("\t") for line in (demo / task / "test.tsv").read_text().splitlines()]
    predict = json.loads((tmp_path / "test_predict.json").read_text())
    assert predict == [{keys[0]: row[id_column], keys[1]: record["prediction"]} for row, record in zip(rows, records)]


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # OFA's IMAGENET_DEFAULT_*


def test_imagenet_normalisation_is_a_setting_as_in_ofa(trained, tmp_path, image_b64):
    """OFA's ``--imagenet-default-mean-and-std`` normalises images with ImageNet's mean and std;
    a checkpoint fine-tuned with it is evaluated with it (it is saved in the task config, which
    OFA's evaluation uses), and without it images are normalised to [-1, 1]."""
    from torchvision.transforms.functional import normalize, resize, to_tensor
    from torchvision.transforms import InterpolationMode

    from ofa_mue.data.images import decode_image

    demo, _ = trained
    save_dir = tmp_path / "imagenet"
    train_in_process(plain_train_argv(demo, "snli_ve", save_dir, 1, "--imagenet-default-mean-and-std"))
    tsv = demo / "snli_ve" / "test.tsv"
    image = resize(decode_image(tsv.read_text().splitlines()[0].split("\t")[2], str(tsv), 1), [64, 64],
                   InterpolationMode.BICUBIC)
    for checkpoint, mean, std in ((str(save_dir / "checkpoint_last.pt"), IMAGENET_MEAN, IMAGENET_STD),
                                  (trained[1]["snli_ve"], (0.5,) * 3, (0.5,) * 3)):
        setup, _ = load_evaluation(build_parser(), [str(demo / "snli_ve"), "--path", checkpoint, "--task", "snli_ve",
                                                    "--gen-subset", "test", "--cpu"])
        expected = normalize(to_tensor(image), mean, std)
        assert torch.allclose(setup.task.dataset("test")[0]["patch_image"], expected, atol=1e-6)
    captions = make_caption_task(tmp_path, image_b64, imagenet_default_mean_and_std=True).dataset("test")
    image = resize(decode_image(image_b64(9, 7), "test.tsv", 1), [IMAGE_SIZE, IMAGE_SIZE], InterpolationMode.BICUBIC)
    assert torch.allclose(captions[0]["patch_image"], normalize(to_tensor(image), IMAGENET_MEAN, IMAGENET_STD),
                          atol=1e-6)


def test_a_checkpoint_trained_with_interpolated_image_positions_is_refused(tmp_path):
    """OFA's model option --interpolate-position (image position embeddings interpolated from
    the --orig-patch-image-size grid) has no weights of its own, so such a checkpoint loaded
    and silently computed other image positions than OFA's; it is refused in one line."""
    from fairseq import checkpoint_utils

    from ofa_mue.data.vocabulary import OFAVocabulary
    from ofa_mue.errors import CheckpointError
    from ofa_mue.models.builders import build_model
    from test_checkpoint_round_trip import _ofa_cfg_checkpoint

    model = build_model("ofa_tiny", OFAVocabulary.load().dictionary)
    for interpolate, path in ((False, tmp_path / "plain.pt"), (True, tmp_path / "interpolated.pt")):
        torch.save(_ofa_cfg_checkpoint(model, interpolate_position=interpolate), path)
    checkpoint_utils.load_model_ensemble([str(tmp_path / "plain.pt")])
    with pytest.raises(CheckpointError, match="--interpolate-position"):
        checkpoint_utils.load_model_ensemble([str(tmp_path / "interpolated.pt")])


# OFA's evaluate.py adds --zero-shot and --ema-eval to fairseq's generation parser (its
# run_scripts/snli_ve/evaluate_snli_ve_zeroshot.sh passes --zero-shot); they run here as there.

def ofa_zero_shot_argv(demo: Path, checkpoint: str, results: Path, *extra: str) -> list:
    """OFA's run_scripts/snli_ve/evaluate_snli_ve_zeroshot.sh, flag for flag, with this machine's
    paths, the demo model's image size (384 there) and ``extra``."""
    return [str(demo / "snli_ve" / "test.tsv"), f"--path={checkpoint}", f"--user-dir={REPO / 'ofa_mue'}",
            f"--bpe-dir={demo / 'bpe'}", "--selected-cols=0,2,3,4,5", "--task=snli_ve", "--patch-image-size=64",
            "--max-src-length=80", "--batch-size=16", "--log-format=simple", "--log-interval=10", "--seed=7",
            "--gen-subset=snli_ve_zeroshot", f"--results-path={results}", "--zero-shot", "--prompt-type=prev_output",
            "--fp16", "--num-workers=0", *extra]


def results_of(folder: Path, split: str) -> tuple[list, list, dict]:
    """An evaluation's predictions file, OFA's predict file and its metrics file without the seconds."""
    predictions = [json.loads(line) for line in (folder / f"{split}_predictions.jsonl").read_text().splitlines()]
    metrics = json.loads((folder / f"{split}_metrics.json").read_text())
    metrics.pop("seconds")
    return predictions, json.loads((folder / f"{split}_predict.json").read_text()), metrics


def test_zero_shot_scores_snli_ve_as_without_it(trained, tmp_path):
    """OFA's zero-shot SNLI-VE command runs, and scores the three answers as the evaluation without
    --zero-shot does (OFA's zero_shot_step calls an eval_snli_ve whose body is its eval_utils' own):
    the same predictions, predict file and metrics, the settings given alike."""
    demo, checkpoints = trained
    zero_shot = ofa_zero_shot_argv(demo, checkpoints["snli_ve"], tmp_path / "zero_shot", "--add-caption")
    evaluate_main(zero_shot)
    evaluate_main([arg if arg != "--zero-shot" else "--results-path=" + str(tmp_path / "plain")
                   for arg in zero_shot if not arg.startswith("--results-path")])
    zero_shot_results = results_of(tmp_path / "zero_shot", "snli_ve_zeroshot")
    assert len(zero_shot_results[0]) == TEST_ROWS
    assert zero_shot_results == results_of(tmp_path / "plain", "snli_ve_zeroshot")


def test_zero_shot_takes_no_task_settings_from_the_checkpoint(trained, tmp_path):
    """As OFA's evaluate.py sets up the task of --zero-shot from the command line (a pretrained
    checkpoint's task settings are another task's): a setting not given is OFA's default, not the
    checkpoint's (this one was fine-tuned with --add-caption); --model-overrides still sets it."""
    demo, checkpoints = trained
    argv = ofa_zero_shot_argv(demo, checkpoints["snli_ve"], tmp_path)
    assert load_evaluation(build_parser(), argv)[0].task.cfg.add_caption is False
    without = [arg for arg in argv if arg != "--zero-shot"]
    assert load_evaluation(build_parser(), without)[0].task.cfg.add_caption is True
    overrides = [*argv, "--model-overrides={'add_caption': True}"]
    assert load_evaluation(build_parser(), overrides)[0].task.cfg.add_caption is True


def test_zero_shot_caption_evaluation_is_refused(trained, tmp_path):
    """OFA has no zero-shot caption evaluation (its zero_shot_step raises NotImplementedError):
    --zero-shot with --task caption is refused in one line, before any scoring."""
    demo, checkpoints = trained
    argv = ofa_evaluation_argv(demo, "caption", checkpoints["caption"], tmp_path)
    with pytest.raises(ConfigError, match=r"^--zero-shot evaluates --task snli_ve only: .* --task caption") as error:
        evaluate_main([*argv, "--zero-shot"])
    assert "\n" not in str(error.value)
    assert not list(tmp_path.iterdir())


def with_ema(checkpoint: str, folder: Path, task: SnliVeTask) -> tuple[str, str]:
    """Two copies of ``checkpoint``: one whose extra_state["ema"] holds other weights than its
    model (the output embeddings of SNLI-VE's three answers rotated, so every row's answer
    changes), as fairseq-train --store-ema saves them, and one holding those weights as its model."""
    from ofa_mue.checkpoint_loading import ALLOWED_GLOBALS

    with torch.serialization.safe_globals(ALLOWED_GLOBALS):
        state = torch.load(checkpoint)
    weights = {name: tensor.clone() for name, tensor in state["model"].items()}
    embeddings = weights["decoder.embed_tokens.weight"]
    answers = [int(tokens[0]) for tokens in task.candidates]
    assert all(len(tokens) == 1 for tokens in task.candidates)
    embeddings[answers] = embeddings[answers[1:] + answers[:1]]
    for name in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "decoder.output_projection.weight"):
        weights[name] = embeddings  # one tensor, as the model shares it
    paths = (str(folder / "ema.pt"), str(folder / "ema_as_model.pt"))
    torch.save({**state, "extra_state": {**state["extra_state"], "ema": weights}}, paths[0])
    torch.save({**state, "model": weights}, paths[1])
    return paths


@pytest.fixture(scope="module")
def ema_checkpoints(trained, tmp_path_factory) -> tuple[str, str]:
    """:func:`with_ema` of the SNLI-VE checkpoint, written once for the tests of --ema-eval."""
    demo, checkpoints = trained
    plain, _ = load_evaluation(build_parser(), [str(demo / "snli_ve"), "--task", "snli_ve", "--gen-subset", "test",
                                                "--cpu", "--path", checkpoints["snli_ve"]])
    return with_ema(checkpoints["snli_ve"], tmp_path_factory.mktemp("ema"), plain.task)


def test_ema_eval_evaluates_the_checkpoints_ema_weights(trained, ema_checkpoints, tmp_path):
    """--ema-eval, as OFA's evaluate.py: the model takes the EMA weights of the checkpoint (fairseq's
    load_ema_from_checkpoint) and answers as a checkpoint holding them as its model; without it the
    model weights answer. The metrics file says so, and a calibration table of the model weights
    is not reused for the EMA weights."""
    from ofa_mue.calibration_table import evaluation_key

    demo, checkpoints = trained
    common = [str(demo / "snli_ve"), "--task", "snli_ve", "--gen-subset", "test", "--cpu", "--batch-size", "4"]
    plain, _ = load_evaluation(build_parser(), [*common, "--path", checkpoints["snli_ve"]])
    ema_checkpoint, ema_as_model = ema_checkpoints
    ema, _ = load_evaluation(build_parser(), [*common, "--path", ema_checkpoint, "--ema-eval"])
    reference, _ = load_evaluation(build_parser(), [*common, "--path", ema_as_model])
    expected = reference.models[0].state_dict()
    loaded = ema.models[0].state_dict()
    assert loaded.keys() == expected.keys() and all(torch.equal(loaded[k], expected[k]) for k in expected)
    assert not torch.equal(plain.models[0].decoder.output_projection.weight, ema.models[0].decoder.output_projection.weight)

    runs = {}
    for name, path, extra in (("model", ema_checkpoint, []), ("ema", ema_checkpoint, ["--ema-eval"]),
                              ("reference", ema_as_model, [])):
        summary = evaluate_main([*common, "--path", path, "--results-path", str(tmp_path / name), *extra])
        runs[name] = (summary, results_of(tmp_path / name, "test")[0])
    assert runs["ema"][0]["weights"] == "ema" and "weights" not in runs["model"][0]
    assert runs["ema"][0]["metrics"] == runs["reference"][0]["metrics"]
    assert runs["ema"][1] == runs["reference"][1] and len(runs["ema"][1]) == TEST_ROWS
    assert all(e["prediction"] != m["prediction"] for e, m in zip(runs["ema"][1], runs["model"][1], strict=True))

    same_file, _ = load_evaluation(build_parser(), [*common, "--path", ema_checkpoint])
    assert evaluation_key(ema) == {**evaluation_key(same_file), "weights": "ema"}


def test_a_profile_calibrated_on_ema_weights_warns_a_run_of_the_other_weights(trained, ema_checkpoints, tmp_path):
    """calibrate --ema-eval records in the exit profile that it measured the EMA weights; an
    evaluation with that profile on the checkpoint's model weights (or with a profile of the model
    weights under --ema-eval) is told that the profile's quality and guarantee were measured on
    other weights; on the same weights it is told nothing."""
    from ofa_mue import calibrate

    demo, _ = trained
    common = [str(demo / "snli_ve"), "--task", "snli_ve", "--cpu", "--batch-size", "4"]
    ema_checkpoint, _ = ema_checkpoints
    profiles = {}
    for weights, extra in (("ema", ["--ema-eval"]), ("model", [])):
        profiles[weights] = tmp_path / f"{weights}_profile.json"
        calibrate.main([*common, "--path", ema_checkpoint, "--gen-subset", "valid", "--decoder-candidates", "0.9",
                        "--profile-path", str(profiles[weights]), *extra])
    assert json.loads(profiles["ema"].read_text())["weights"] == "ema"
    assert "weights" not in json.loads(profiles["model"].read_text())
    for profile, ema_eval in (("ema", False), ("ema", True), ("model", False), ("model", True)):
        summary = evaluate_main([*common, "--gen-subset", "test", "--path", ema_checkpoint,
                                 "--exit-profile", str(profiles[profile]),
                                 "--results-path", str(tmp_path / f"{profile}_{ema_eval}"),
                                 *(["--ema-eval"] if ema_eval else [])])
        caveat = summary["exit_profile"].get("weights_caveat")
        if (profile == "ema") == ema_eval:
            assert caveat is None and not summary["exit_profile"]["statement"].startswith("not for this run")
        else:
            run = "ema" if ema_eval else "model"
            assert caveat.startswith(f"the profile was calibrated on the checkpoint's {profile} weights and this "
                                     f"run evaluates its {run} weights"), caveat
            assert summary["exit_profile"]["statement"].startswith(f"not for this run: {caveat}")


def test_a_profile_warns_a_run_of_its_checkpoint_overwritten_not_moved(trained, ema_checkpoints, tmp_path, capsys):
    """calibrate records the checkpoint's fingerprint in the exit profile: an evaluation of the
    calibrated file moved elsewhere is told nothing (logged at INFO); once the calibrated path
    holds other weights (checkpoint_best.pt overwritten by further training), its metrics file
    has the checkpoint caveat and its log line is a WARNING."""
    import shutil

    from ofa_mue import calibrate
    from ofa_mue.provenance import checkpoint_fingerprint

    demo, checkpoints = trained
    common = [str(demo / "snli_ve"), "--task", "snli_ve", "--cpu", "--batch-size", "4"]
    best, moved, profile = tmp_path / "checkpoint_best.pt", tmp_path / "moved.pt", tmp_path / "profile.json"
    shutil.copyfile(checkpoints["snli_ve"], best)
    calibrate.main([*common, "--path", str(best), "--gen-subset", "valid", "--decoder-candidates", "0.9",
                    "--profile-path", str(profile)])
    assert json.loads(profile.read_text())["checkpoint_fingerprint"] == checkpoint_fingerprint(checkpoints["snli_ve"])
    best.rename(moved)
    shutil.copyfile(ema_checkpoints[1], best)  # other model weights at the calibrated path
    for path, overwritten in ((moved, False), (best, True)):
        capsys.readouterr()
        summary = evaluate_main([*common, "--gen-subset", "test", "--path", str(path), "--exit-profile", str(profile),
                                 "--results-path", str(tmp_path / path.stem)])
        log = capsys.readouterr().out
        caveat = results_of(tmp_path / path.stem, "test")[2]["exit_profile"].get("checkpoint_caveat")
        statement = summary["exit_profile"]["statement"]
        if overwritten:
            assert caveat.startswith(f"the profile was calibrated on the checkpoint {best} and this run evaluates "
                                     f"{best}, whose file holds other weights"), caveat
            assert statement.startswith(f"not for this run: {caveat}")
            assert f"| WARNING | ofa_mue.evaluate | exit profile {profile}: {statement}" in log
        else:
            assert caveat is None and not statement.startswith("not for this run")
            assert f"| INFO | ofa_mue.evaluate | exit profile {profile}: {statement}" in log


def test_predict_ema_eval_answers_as_the_evaluation_of_the_ema_weights(trained, ema_checkpoints, tmp_path):
    """predict --ema-eval on a picture answers as evaluate --ema-eval does for its row (the EMA
    weights, whose answers differ from the model weights' on every row here), and is refused in
    one line on a checkpoint without EMA weights."""
    import base64

    from ofa_mue import predict
    from ofa_mue.errors import CheckpointError

    demo, checkpoints = trained
    common = [str(demo / "snli_ve"), "--task", "snli_ve", "--gen-subset", "test", "--cpu", "--batch-size", "4"]
    ema_checkpoint, _ = ema_checkpoints
    evaluate_main([*common, "--path", ema_checkpoint, "--ema-eval", "--results-path", str(tmp_path / "ema")])
    expected = results_of(tmp_path / "ema", "test")[0][0]["prediction"]
    row = (demo / "snli_ve" / "test.tsv").read_text(encoding="utf-8").splitlines()[0].split("\t")
    picture = tmp_path / "picture.png"
    picture.write_bytes(base64.urlsafe_b64decode(row[2] + "=" * (-len(row[2]) % 4)))
    argv = ["--image", str(picture), "--cpu", "--hypothesis", row[3], "--premise", row[4]]
    (with_ema_weights,) = predict.main(["--path", ema_checkpoint, "--ema-eval", *argv])
    (with_model_weights,) = predict.main(["--path", ema_checkpoint, *argv])
    assert with_ema_weights.output == expected != with_model_weights.output
    with pytest.raises(CheckpointError, match="--ema-eval evaluates the EMA weights .* holds none"):
        predict.main(["--path", checkpoints["snli_ve"], "--ema-eval", *argv])


@pytest.mark.parametrize("module", ["evaluate", "calibrate", "sweep", "reproduce"])
def test_ema_eval_of_a_checkpoint_without_ema_weights_is_refused(trained, tmp_path, module):
    """--ema-eval on a checkpoint fairseq-train saved without --store-ema is refused in one line
    naming the file, by every command that takes it (each loads the checkpoint it evaluates so)."""
    import importlib

    from ofa_mue.errors import CheckpointError

    demo, checkpoints = trained
    own = {"evaluate": [], "calibrate": ["--profile-path", str(tmp_path / "profile.json")],
           "sweep": ["--sweep-dir", str(tmp_path / "sweep")], "reproduce": ["--results-dir", str(tmp_path / "out")]}
    argv = [str(demo / "snli_ve"), "--path", checkpoints["snli_ve"], "--task", "snli_ve", "--gen-subset", "test",
            "--cpu", "--ema-eval", *own[module]]
    with pytest.raises(CheckpointError, match=f"^{re.escape(checkpoints['snli_ve'])}: --ema-eval evaluates the EMA "
                                              f"weights .* holds none") as error:
        importlib.import_module(f"ofa_mue.{module}").main(argv)
    assert "\n" not in str(error.value)


def test_sampling_draws_a_settings_captions_as_its_own_evaluation_does(trained):
    """--sampling: OFA's evaluate.py seeds the random numbers once, before its one run. calibrate,
    sweep and reproduce score many exit settings in one process (and a calibration table keeps
    settings scored by earlier runs): each setting draws the captions that ``evaluate`` alone
    with it draws, whatever was scored before it, and --seed still decides the draws."""
    from ofa_mue.calibration_table import FULL_MODEL, evaluate_grid
    from ofa_mue.core.exit_policy import NEVER

    demo, checkpoints = trained
    argv = [str(demo / "caption"), "--path", checkpoints["caption"], "--task", "caption", "--gen-subset", "test",
            "--cpu", "--batch-size", "4", "--sampling", "--beam", "2"]

    def captions(extra=()):  # a fresh evaluate run's, in row order
        setup, _ = load_evaluation(build_parser(), [*argv, *extra])
        return [r["prediction"] for r in sorted(setup.score()[0], key=lambda r: r["row"])]

    early, late = (NEVER, NEVER, 0.9), (NEVER, NEVER, 0.6)  # the model's encoder is not decomposed
    table = evaluate_grid(load_evaluation(build_parser(), argv)[0], [early, late]).entries
    assert table[FULL_MODEL]["predictions"] == captions()
    assert table[late]["predictions"] == captions(["--exit-policy", "mue", "--decoder-exit-threshold", "0.6"])
    assert captions(["--seed", "2"]) != table[FULL_MODEL]["predictions"]
