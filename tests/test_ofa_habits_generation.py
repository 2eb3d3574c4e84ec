"""Caption generation options as OFA honours them, for users with OFA's habits (generation audit):
``--diverse-beam-groups`` searches with OFA's Hamming diversity penalty (OFA's fairseq), in every
batch; ``python -m ofa_mue.evaluate`` seeds torch with ``--seed`` as OFA's ``evaluate.py`` does, so
sampled captions repeat; and it refuses the generation options OFA's ``evaluate.py`` honours but
it cannot (``--lm-path``, ``--retain-dropout``; the latter in fairseq-generate too) instead of
ignoring them."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from fairseq.dataclass.configs import GenerationConfig

from demo_training import run_module, train_in_process
from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.errors import ConfigError, DataError
from ofa_mue.evaluate import build_parser, load_evaluation, run_cli
from ofa_mue.one_line_errors import FAIRSEQ_GENERATE_ASSERTIONS, REPLACE_UNK_REFUSAL, fairseq_generate_message
from ofa_mue.tasks.caption import CaptionConfig, CaptionTask
from ofa_mue.tasks.snli_ve import SnliVeConfig, SnliVeTask
from test_training_and_evaluation_cli import plain_train_argv
from tiny_ofa import small_model

VOCAB = 60


def hamming_diverse_step(lprobs: torch.Tensor, scores, step: int, groups: int, strength: float):
    """OFA's diverse beam search step, written out: each group of ``beam / groups`` beams proposes
    twice its beams by cumulative score, after losing ``strength`` per candidate an earlier group
    proposed for the same token at this step; the groups' candidates interleaved."""
    bsz, beam, vocab = lprobs.shape
    proposed = torch.zeros(bsz, vocab)
    parts = []
    for group in range(groups):
        group_lprobs = lprobs[:, group::groups] - strength * proposed.unsqueeze(1)
        if step == 0:  # every beam holds the same prefix: only the group's first proposes
            group_lprobs = group_lprobs[:, :1]
        else:
            group_lprobs = group_lprobs + scores[:, group::groups, step - 1 : step]
        top, flat = group_lprobs.reshape(bsz, -1).topk(2 * beam // groups)
        parts.append((top, flat % vocab, (flat // vocab) * groups + group))
        for row in range(bsz):
            for token in (flat % vocab)[row].tolist():
                proposed[row, token] += 1
    return tuple(torch.stack(part, dim=2).view(bsz, -1) for part in zip(*parts))


@pytest.fixture(scope="module")
def model():
    return small_model(VOCAB, decompose_modalities=True)


def diverse_generator(model, **options):
    net, dictionary = model
    task = CaptionTask(CaptionConfig(), SimpleNamespace(dictionary=dictionary))
    args = dataclasses.replace(GenerationConfig(beam=4, max_len_b=6), diverse_beam_groups=2, **options)
    return task.build_generator([net], args)


def test_diverse_beam_groups_penalise_as_ofas_hamming_search(model):
    """OFA's fairseq (search.py, DiverseBeamSearch): every group proposes 2 x its beams and pays
    the strength once per earlier group's candidate of the same token at this step. fairseq 0.12
    proposes one candidate per beam and penalises the overlap accumulated over steps."""
    searcher = diverse_generator(model, diverse_beam_strength=0.7).search
    generator = torch.Generator().manual_seed(4)
    lprobs = torch.randn(2, 4, 9, generator=generator).log_softmax(-1)
    lprobs[:, :, 5] = lprobs[:, :, 5].max() + 0.1  # every group's best token: the penalty decides the others
    scores = torch.randn(2, 4, 3, generator=generator).cumsum(-1)
    for step in (0, 1, 3):
        got = searcher.step(step, lprobs.clone(), scores[:, :, :step] if step else None, None, torch.tensor([0, 1]))
        expected = hamming_diverse_step(lprobs, scores, step, groups=2, strength=0.7)
        assert got[0].shape == (2, 8)
        assert torch.allclose(got[0], expected[0])
        assert torch.equal(got[1], expected[1]) and torch.equal(got[2], expected[2])


def _sample(ids: torch.Tensor):
    generator = torch.Generator().manual_seed(1)
    src = torch.randint(4, VOCAB, (len(ids), 6), generator=generator)
    return {"net_input": {"src_tokens": src, "src_lengths": src.ne(1).sum(1),
                          "patch_images": torch.randn(len(ids), 3, 48, 48, generator=generator),
                          "patch_masks": torch.ones(len(ids), dtype=torch.bool)}, "id": ids}


def test_diverse_beam_groups_generate_in_every_batch_of_an_evaluation(model):
    """OFA's diverse beam search ignores the sample ids; fairseq 0.12's looks its overlap table up by
    them and fails (IndexError) on every batch whose ids reach beyond its size, i.e. every batch
    of an evaluation or fairseq-generate run but the first."""
    net, _ = model
    generator = diverse_generator(model)
    first = generator.generate([net], _sample(torch.arange(3)))
    later = generator.generate([net], _sample(torch.arange(16, 19)))
    assert [[h["tokens"].tolist() for h in hypos] for hypos in later] == \
        [[h["tokens"].tolist() for h in hypos] for hypos in first]


@pytest.fixture(scope="module")
def caption_checkpoint(tmp_path_factory):
    """Demo caption data and a checkpoint fine-tuned on it for two updates by fairseq-train."""
    demo = tmp_path_factory.mktemp("generation_habits_demo")
    generate_demo_data(demo, seed=5, train=16, valid=4, test=4, image_size=64)
    save_dir = tmp_path_factory.mktemp("generation_habits_caption")
    train_in_process(plain_train_argv(demo, "caption", save_dir, 2))
    return demo, str(save_dir / "checkpoint_last.pt")


def _evaluation_argv(caption_checkpoint, *extra: str) -> list:
    demo, checkpoint = caption_checkpoint
    return [str(demo / "caption"), "--path", checkpoint, "--task", "caption", "--gen-subset", "test", "--cpu",
            "--batch-size", "2", *extra]


def test_sampled_captions_repeat_with_the_seed_as_in_ofas_evaluate(caption_checkpoint):
    """OFA's evaluate.py seeds numpy and torch with --seed (fairseq's default 1; its caption script
    passes 7) before it generates, so --sampling gives the same captions run after run."""
    captions = []
    for _ in range(2):
        setup, _ = load_evaluation(build_parser(), _evaluation_argv(caption_checkpoint, "--sampling", "--beam", "2",
                                                                    "--seed", "7"))
        captions.append([record["prediction"] for record in setup.score()[0]])
    assert captions[0] == captions[1]


@pytest.mark.parametrize("flags, named", [
    (("--lm-path", "lm.pt"), "--lm-path is not supported"),
    (("--retain-dropout",), "--retain-dropout is not supported"),
])
def test_generation_options_ofas_evaluate_honours_are_refused_not_ignored(caption_checkpoint, flags, named):
    """OFA's evaluate.py fuses --lm-path's language model into the generation, and --retain-dropout
    keeps its FairseqDropout modules dropping at inference; this evaluation does neither, so it
    refuses them in one line rather than printing the plain model's captions."""
    with pytest.raises(ConfigError, match=named):
        setup, _ = load_evaluation(build_parser(), _evaluation_argv(caption_checkpoint, *flags))
        setup.score()


@pytest.mark.parametrize("flags, named", [
    (("--sacrebleu",), "--sacrebleu changes nothing here"),
    (("--replace-unk",), "--replace-unk changes nothing here"),
    (("--iter-decode-max-iter", "3"), "--iter-decode-max-iter changes nothing here"),
    (("--constraints",), "--constraints changes nothing here"),
    (("--post-process", "gpt2"), "--post-process changes nothing here"),
])
def test_generation_options_the_evaluation_has_no_use_for_are_refused(caption_checkpoint, flags, named):
    """fairseq-generate's printout options and other generators' options parse (the evaluation
    takes fairseq's generation parser) but change nothing here: refused before the checkpoint loads."""
    with pytest.raises(ConfigError, match=named):
        load_evaluation(build_parser(), _evaluation_argv(caption_checkpoint, *flags))


def test_fairseq_generate_refuses_retain_dropout(model):
    """fairseq-generate passes --retain-dropout to OFA's models, whose dropout then keeps dropping;
    this model's would not, so the task's generator refuses it rather than generate without it."""
    with pytest.raises(ConfigError, match="--retain-dropout is not supported"):
        diverse_generator(model, retain_dropout=True)


CAPTION_GENERATE_REFUSALS = {
    "iter-decode-max-iter": ({"iter_decode_max_iter": 3}, "--iter-decode-max-iter cannot apply here"),
    "iter-decode-with-beam": ({"iter_decode_with_beam": 2}, "--iter-decode-with-beam cannot apply here"),
    "decoding-format": ({"decoding_format": "unigram"}, "--decoding-format cannot apply here"),
    "retain-dropout-modules": ({"retain_dropout_modules": ["decoder"]}, "--retain-dropout-modules cannot apply here"),
    "eos-token": ({"eos_token": "</s>"}, "--eos-token cannot apply here"),
    "no-early-stop": ({"no_early_stop": True}, "--no-early-stop cannot apply here"),
    "no-beamable-mm": ({"no_beamable_mm": True}, "--no-beamable-mm cannot apply here"),
    "print-step": ({"print_step": True}, "--print-step cannot apply here"),
    "retain-iter-history": ({"retain_iter_history": True}, "--retain-iter-history cannot apply here"),
    "iter-decode-eos-penalty": ({"iter_decode_eos_penalty": 0.5}, "--iter-decode-eos-penalty cannot apply here"),
    "iter-decode-force-max-iter": ({"iter_decode_force_max_iter": True}, "--iter-decode-force-max-iter cannot apply here"),
    "iter-decode-with-external-reranker": ({"iter_decode_with_external_reranker": True},
                                           "--iter-decode-with-external-reranker cannot apply here"),
    "beam-mt": ({"beam_mt": 2}, "--beam-mt cannot apply here"),
    "max-len-a-mt": ({"max_len_a_mt": 1.0}, "--max-len-a-mt cannot apply here"),
    "max-len-b-mt": ({"max_len_b_mt": 20}, "--max-len-b-mt cannot apply here"),
    "lenpen-mt": ({"lenpen_mt": 0.5}, "--lenpen-mt cannot apply here"),
    "constraints": ({"constraints": "ordered"}, "--constraints needs lexical constraints in every row"),
    "lm-weight without lm-path": ({"lm_weight": 0.5}, "--lm-weight only applies with --lm-path"),
    "diverse-beam-strength without groups": ({"diverse_beam_strength": 0.3},
                                             "--diverse-beam-strength only applies with --diverse-beam-groups"),
    "sampling-topk without sampling": ({"sampling_topk": 5}, "--sampling-topk only applies with --sampling"),
    "sampling-topp without sampling": ({"sampling_topp": 0.9}, "--sampling-topp only applies with --sampling"),
    "min-len above max-len-b": ({"min_len": 20, "max_len_b": 16}, "--min-len 20 is above --max-len-b 16"),
    "sampling with diverse-beam-groups": ({"sampling": True, "beam": 4, "diverse_beam_groups": 2},
                                          "--sampling, --diverse-beam-groups 2 choose different searches"),
    "diverse-beam-groups with diversity-rate 0": ({"beam": 4, "diverse_beam_groups": 2, "diversity_rate": 0.0},
                                                  "--diverse-beam-groups 2, --diversity-rate 0.0 choose different "
                                                  "searches"),
    "match-source-len with diversity-rate 0": ({"match_source_len": True, "diversity_rate": 0.0},
                                               "--match-source-len, --diversity-rate 0.0 choose different searches"),
}
"""fairseq-generate's options that the caption generator (fairseq's beam search) cannot honour,
as ``GenerationConfig`` fields, with the start of the one line that refuses them."""


@pytest.mark.parametrize("options, message", CAPTION_GENERATE_REFUSALS.values(), ids=CAPTION_GENERATE_REFUSALS.keys())
def test_fairseq_generate_refuses_caption_options_its_generator_cannot_honour(model, options, message):
    """Other generators' options, an option without the one it applies with, --constraints (no row
    holds any: fairseq's constrained search fails with a TypeError) and a --min-len no caption can
    reach (fairseq's AssertionError at the first batch) are refused in one line, not ignored."""
    net, dictionary = model
    task = CaptionTask(CaptionConfig(), SimpleNamespace(dictionary=dictionary))
    with pytest.raises(ConfigError, match=f"^{message}") as error:
        task.build_generator([net], dataclasses.replace(GenerationConfig(), **options))
    assert "\n" not in str(error.value)


CAPTION_GENERATE_ACCEPTED = {
    "lm-weight with lm-path": {"lm_path": "lm.pt", "lm_weight": 0.5},
    "diverse-beam-strength with groups": {"beam": 4, "diverse_beam_groups": 2, "diverse_beam_strength": 0.3},
    "sampling-topk with sampling": {"sampling": True, "sampling_topk": 5},
    "min-len equal to max-len-b": {"min_len": 16, "max_len_b": 16},
    "min-len above max-len-b with max-len-a": {"min_len": 20, "max_len_b": 16, "max_len_a": 1.0},
    "min-len above max-len-b with match-source-len": {"min_len": 20, "max_len_b": 16, "match_source_len": True},
}


@pytest.mark.parametrize("options", CAPTION_GENERATE_ACCEPTED.values(), ids=CAPTION_GENERATE_ACCEPTED.keys())
def test_fairseq_generate_accepts_caption_options_with_what_they_apply_with(model, options):
    net, dictionary = model
    task = CaptionTask(CaptionConfig(), SimpleNamespace(dictionary=dictionary))
    task.build_generator([net], dataclasses.replace(GenerationConfig(), **options))


SNLI_VE_UNSCORED = {
    "lm-path": ({"lm_path": "lm.pt"}, "--lm-path"),
    "lm-weight": ({"lm_weight": 0.5}, "--lm-weight"),
    "unkpen": ({"unkpen": 1.0}, "--unkpen"),
    "no-repeat-ngram-size": ({"no_repeat_ngram_size": 3}, "--no-repeat-ngram-size"),
    "nbest": ({"nbest": 2}, "--nbest"),
    "sampling": ({"sampling": True}, "--sampling"),
    "sampling-topk": ({"sampling_topk": 5}, "--sampling-topk"),
    "sampling-topp": ({"sampling_topp": 0.9}, "--sampling-topp"),
    "temperature": ({"temperature": 0.5}, "--temperature"),
    "diverse-beam-groups": ({"diverse_beam_groups": 2}, "--diverse-beam-groups"),
    "diversity-rate": ({"diversity_rate": 0.5}, "--diversity-rate"),
    "lenpen": ({"lenpen": 0.5}, "--lenpen"),
    "unnormalized": ({"unnormalized": True}, "--unnormalized"),
    "prefix-size": ({"prefix_size": 1}, "--prefix-size"),
    "match-source-len": ({"match_source_len": True}, "--match-source-len"),
    "constraints": ({"constraints": "ordered"}, "--constraints"),
    "retain-dropout": ({"retain_dropout": True}, "--retain-dropout"),
}


@pytest.mark.parametrize("options, flag", SNLI_VE_UNSCORED.values(), ids=SNLI_VE_UNSCORED.keys())
def test_fairseq_generate_on_snli_ve_refuses_what_its_scoring_ignores(ofa_vocab, options, flag):
    """SNLI-VE scores its three answers teacher-forced: a fused language model (which fairseq-generate
    would load and never use), an <unk> penalty, n-gram blocking or any option of the search (its
    sampling, length penalty, hypotheses returned, forced prefix) would change nothing."""
    task = SnliVeTask(SnliVeConfig(), ofa_vocab)
    with pytest.raises(ConfigError, match=f"^{flag} cannot apply to snli_ve"):
        task.build_generator([], dataclasses.replace(GenerationConfig(), **options))


INFERENCE_COMMANDS = ("ofa_mue.evaluate", "ofa_mue.calibrate", "ofa_mue.sweep", "ofa_mue.reproduce")


def _run_command(module: str, tmp_path, *flags: str) -> str:
    """The one-line error that ``module``'s command line ends in, with a checkpoint that does not
    exist (only options refused before the checkpoint loads can end it otherwise)."""
    own = {"ofa_mue.calibrate": ["--profile-path", str(tmp_path / "out" / "profile.json")],
           "ofa_mue.sweep": ["--sweep-dir", str(tmp_path / "out")],
           "ofa_mue.reproduce": ["--results-dir", str(tmp_path / "out")]}.get(module, [])
    argv = [str(tmp_path / "data"), "--path", str(tmp_path / "missing.pt"), "--task", "caption", "--cpu",
            *own, *flags]
    entry = __import__(module, fromlist=["main"]).main
    with pytest.raises(SystemExit) as stopped:
        run_cli(lambda: entry(argv))
    assert not (tmp_path / "out").exists(), "nothing written"
    text = str(stopped.value.code)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize("module", INFERENCE_COMMANDS)
@pytest.mark.parametrize("flags, named", [
    (("--lr", "0.1"), "--lr"),
    (("--optimizer", "adam"), "--optimizer"),
    (("--save-dir", "checkpoints"), "--save-dir"),
    (("--criterion", "adjust_label_smoothed_cross_entropy", "--label-smoothing", "0.1"), "--criterion, --label-smoothing"),
    (("--lr-scheduler", "fixed"), "--lr-scheduler"),  # given, though at fairseq's default
])
def test_training_options_are_refused_by_the_inference_commands(module, flags, named, tmp_path):
    """fairseq's parser accepts training options (optimizer, learning rate, criterion, checkpoint
    saving); the inference commands build none of them, so each given is refused in one line
    naming it, before the checkpoint loads."""
    text = _run_command(module, tmp_path, *flags)
    assert text.startswith(f"error: {named} changes nothing here"), text
    assert "runs inference only" in text, text


@pytest.mark.parametrize("flags, named, why", [
    (("--max-tokens", "4096"), "--max-tokens", "in runs of --batch-size rows"),
    (("--required-batch-size-multiple", "8"), "--required-batch-size-multiple", "no token budget, size multiple"),
    (("--required-seq-len-multiple", "1"), "--required-seq-len-multiple", "no token budget, size multiple"),
    (("--dataset-impl", "raw"), "--dataset-impl", "read from its TSV file"),
    (("--data-buffer-size", "10"), "--data-buffer-size", "prefetch buffer"),
    (("--bf16",), "--bf16", "float32, or in float16 with --fp16"),
    (("--memory-efficient-bf16",), "--memory-efficient-bf16", "float32, or in float16 with --fp16"),
    (("--tpu",), "--tpu", "one GPU or the CPU"),
    (("--model-parallel-size", "1"), "--model-parallel-size", "one GPU or the CPU"),
    (("--tokenizer", "space"), "--tokenizer", "the task's GPT-2 BPE"),
    (("--scoring", "bleu"), "--scoring", "the task's metrics"),
    (("--pad", "1"), "--pad", "the task's metrics"),  # added by fairseq's default scorer, bleu
    (("--scoring", "sacrebleu", "--sacrebleu-tokenizer", "13a"), "--scoring, --sacrebleu-tokenizer", "the task's"),
    (("--quiet",), "--quiet", "prints its summary only"),
    (("--suppress-crashes",), "--suppress-crashes", "Hydra entry points"),
    (("--reset-logging",), "--reset-logging", "Hydra entry points"),
    (("--use-plasma-view",), "--use-plasma-view", "plasma store"),
    (("--plasma-path", "/tmp/plasma"), "--plasma-path", "plasma store"),
])
def test_options_the_evaluation_cannot_honour_are_refused(flags, named, why, tmp_path):
    """fairseq's parser accepts batching (--max-tokens: OFA's tasks batch by --batch-size alone and
    never read it), precision, device, tokenizer, scorer and runtime options that the evaluation
    cannot honour: each given, even at fairseq's default, is refused in one line naming it and why."""
    text = _run_command("ofa_mue.evaluate", tmp_path, *flags)
    assert text.startswith(f"error: {named} changes nothing here: this command runs inference only"), text
    assert f"({named}: " in text and why in text, text


@pytest.mark.parametrize("module", INFERENCE_COMMANDS)
def test_unhonoured_options_are_refused_together_in_command_line_order(module, tmp_path):
    text = _run_command(module, tmp_path, "--quiet", "--max-tokens", "4096", "--lr", "0.1", "--bf16",
                        "--optimizer", "adam")
    assert text.startswith("error: --quiet, --max-tokens, --lr, --bf16, --optimizer changes nothing here"), text
    assert "(--quiet: an option of fairseq-generate's printout" in text, text
    assert "; --lr, --optimizer: an option of fairseq-train's optimization" in text, text


@pytest.mark.parametrize("module", INFERENCE_COMMANDS)
def test_honoured_options_are_not_refused(module, tmp_path):
    """--seed, --batch-size (which fairseq copies to the validation batch size), --num-workers,
    --model-overrides, --results-path, --skip-invalid-size-inputs-valid-test (which skips nothing
    here) and the logging options OFA's evaluation scripts pass get past the refusals: the command
    goes on to load the checkpoint."""
    text = _run_command(module, tmp_path, "--seed", "3", "--batch-size", "2", "--num-workers", "0",
                        "--model-overrides", "{}", "--results-path", str(tmp_path / "results"),
                        "--skip-invalid-size-inputs-valid-test", "--log-format=simple", "--log-interval=10")
    assert text == f"error: {tmp_path / 'missing.pt'}: checkpoint file not found", text


@pytest.mark.parametrize("module", INFERENCE_COMMANDS)
@pytest.mark.parametrize("flags, expected", [
    pytest.param(("--eos-token", "</s>"), "--eos-token changes nothing here", id="eos-token"),
    pytest.param(("--no-early-stop",), "--no-early-stop changes nothing here", id="no-early-stop"),
    pytest.param(("--no-beamable-mm",), "--no-beamable-mm changes nothing here", id="no-beamable-mm"),
    pytest.param(("--diverse-beam-strength", "0.3"), "--diverse-beam-strength only applies with --diverse-beam-groups",
                 id="diverse-beam-strength-without-groups"),
    pytest.param(("--sampling-topk", "5"), "--sampling-topk only applies with --sampling",
                 id="sampling-topk-without-sampling"),
    pytest.param(("--sampling", "--diverse-beam-groups", "2"),
                 "--sampling, --diverse-beam-groups 2 choose different searches (sampling, diverse beam search)",
                 id="sampling-with-diverse-beam-groups"),
])
def test_generation_options_no_generator_here_honours_are_refused_before_loading(module, flags, expected, tmp_path):
    """Options of fairseq's other generators and options without the one they apply with (which
    fairseq ignores, or stops on with an AssertionError once the checkpoint has loaded) end the
    command in one line before it reads the checkpoint."""
    text = _run_command(module, tmp_path, *flags)
    assert text.startswith(f"error: {expected}"), text


FAIRSEQ_GENERATE_ONE_LINE = {
    "sampling-with-nbest-below-beam": (("--sampling", "--beam", "2"),
                                       "error: --sampling needs --nbest equal to --beam in fairseq-generate"),
    "replace-unk": (("--replace-unk",), "error: --replace-unk cannot apply to ofa_mue's tasks"),
    "sampling-with-diverse-beam-groups": (("--sampling", "--beam", "2", "--nbest", "2", "--diverse-beam-groups", "2"),
                                          "error: --sampling, --diverse-beam-groups 2 choose different searches"),
}
"""Command lines fairseq-generate cannot run (the options of each, the start of the line it ends on):
its own assertions on --sampling with --nbest and --replace-unk before any task code runs, and
fairseq's ValueError for two searches, which names no option."""


def _fairseq_generate(caption_checkpoint, *flags: str):
    """The real fairseq-generate command line with --user-dir ofa_mue on the caption checkpoint's test
    split, with ``flags``; the finished process."""
    demo, checkpoint = caption_checkpoint
    return run_module("fairseq_cli.generate", str(demo / "caption"), "--user-dir", "ofa_mue", "--task", "caption",
                      "--path", checkpoint, "--gen-subset", "test", "--batch-size", "2", "--max-len-b", "4", "--cpu",
                      *flags)


@pytest.mark.parametrize("flags, expected", FAIRSEQ_GENERATE_ONE_LINE.values(), ids=FAIRSEQ_GENERATE_ONE_LINE.keys())
def test_fairseq_generate_ends_in_one_line_on_options_it_cannot_run(caption_checkpoint, flags, expected):
    """The real fairseq-generate command line with --user-dir ofa_mue: exit status 1 and, last on
    stderr, the one line naming the options and what to do, where fairseq printed a traceback."""
    done = _fairseq_generate(caption_checkpoint, *flags)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [done.stderr.rstrip("\n").splitlines()[-1]], done.stderr[-3000:]
    assert errors[0].startswith(expected), errors


@pytest.mark.parametrize("dictionary_line", ["a b\n", None, "a\n"], ids=["dictionary", "bare", "broken_dictionary"])
def test_fairseq_generate_refuses_replace_unk_past_its_own_assertion(caption_checkpoint, tmp_path, dictionary_line):
    """--replace-unk with --dataset-impl raw passes fairseq-generate's assertion. With a dictionary file
    the task refuses it before generating, where fairseq would end on an AttributeError (no source
    text); bare, fairseq opens '@@ ' as the file, and with a broken file fails reading it, both before
    any task code: the same line."""
    value = []
    if dictionary_line is not None:
        dictionary = tmp_path / "align.txt"
        dictionary.write_text(dictionary_line, encoding="utf-8")
        value = [str(dictionary)]
    done = _fairseq_generate(caption_checkpoint, "--dataset-impl", "raw", "--replace-unk", *value)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.rstrip("\n").splitlines()[-1] == f"error: {REPLACE_UNK_REFUSAL}", done.stderr[-3000:]


def test_only_fairseq_generates_own_assertions_become_one_line():
    """The same AssertionError message raised outside fairseq_cli/generate.py, or another exception
    with it, keeps its traceback."""
    message = next(iter(FAIRSEQ_GENERATE_ASSERTIONS))
    for error in (AssertionError(message), ValueError(message)):
        try:
            raise error
        except Exception as raised:
            assert fairseq_generate_message(raised) is None


def test_caption_evaluation_refuses_a_min_len_no_caption_reaches(caption_checkpoint):
    """--min-len 20 with the default --max-len-b 16: fairseq's generator would stop on an
    AssertionError at the first batch, after the checkpoint loaded."""
    with pytest.raises(ConfigError, match="^--min-len 20 is above --max-len-b 16"):
        load_evaluation(build_parser(), _evaluation_argv(caption_checkpoint, "--min-len", "20"))


def test_an_evaluation_with_honoured_options_loads(caption_checkpoint):
    setup, _ = load_evaluation(build_parser(), _evaluation_argv(caption_checkpoint, "--seed", "3", "--num-workers",
                                                                "0", "--model-overrides", "{}"))
    assert (setup.batch_size, setup.cfg.common.seed, setup.num_workers) == (2, 3, 0)


@pytest.fixture(scope="module")
def snli_ve_checkpoint(caption_checkpoint, tmp_path_factory):
    """An SNLI-VE checkpoint fine-tuned for two updates on the caption checkpoint's demo data."""
    demo, _ = caption_checkpoint
    save_dir = tmp_path_factory.mktemp("generation_habits_snli_ve")
    train_in_process(plain_train_argv(demo, "snli_ve", save_dir, 2))
    return demo, str(save_dir / "checkpoint_last.pt")


def _snli_ve_argv(snli_ve_checkpoint, *extra: str) -> list:
    demo, checkpoint = snli_ve_checkpoint
    return [str(demo / "snli_ve"), "--path", checkpoint, "--task", "snli_ve", "--gen-subset", "test", "--cpu", *extra]


@pytest.mark.parametrize("flags, flag", [
    pytest.param(("--unkpen", "1"), "--unkpen", id="unkpen"),
    pytest.param(("--no-repeat-ngram-size", "3"), "--no-repeat-ngram-size", id="no-repeat-ngram-size"),
])
def test_snli_ve_evaluation_refuses_what_its_scoring_ignores(snli_ve_checkpoint, flags, flag):
    """SNLI-VE scores its three answers teacher-forced: an <unk> penalty or n-gram blocking changes nothing."""
    with pytest.raises(ConfigError, match=f"^{flag} cannot apply to snli_ve"):
        load_evaluation(build_parser(), _snli_ve_argv(snli_ve_checkpoint, *flags))


@pytest.mark.parametrize("flags", [(), ("--min-len", "20")], ids=["defaults", "min-len-above-max-len-b"])
def test_snli_ve_evaluation_takes_no_caption_generation_default_as_given(snli_ve_checkpoint, flags):
    """The caption evaluation's defaults (--no-repeat-ngram-size 3, --max-len-b 16) are not SNLI-VE's,
    which generates nothing: without generation options it loads with fairseq's defaults, as OFA's
    evaluate.py, and a length limit changes nothing."""
    setup, _ = load_evaluation(build_parser(), _snli_ve_argv(snli_ve_checkpoint, *flags))
    assert (setup.cfg.generation.no_repeat_ngram_size, setup.cfg.generation.max_len_b) == (0, 200)


def _split_with(demo, task: str, column: int, text: str, folder) -> str:
    """The demo test split of ``task`` with ``column`` of its second row replaced by ``text``."""
    rows = (demo / task / "test.tsv").read_text().splitlines()
    cells = rows[1].split("\t")
    cells[column] = text
    rows[1] = "\t".join(cells)
    folder.mkdir()
    (folder / "test.tsv").write_text("\n".join(rows) + "\n")
    return str(folder)


def _score(checkpoint, data: str, task: str, *extra: str):
    setup, _ = load_evaluation(build_parser(), [data, "--path", checkpoint, "--task", task, "--gen-subset", "test",
                                                "--cpu", "--batch-size", "2", "--skip-invalid-size-inputs-valid-test",
                                                *extra])
    return setup, setup.score()[0]


@pytest.mark.parametrize("task, column", [("caption", 2), ("snli_ve", 3)])
def test_skip_invalid_size_inputs_skips_no_row(caption_checkpoint, snli_ve_checkpoint, task, column, tmp_path):
    """OFA's evaluation skips no row with --skip-invalid-size-inputs-valid-test (its tasks' batch
    iterator never reads it), and neither does this one: a caption row whose reference runs to
    1500 words, longer than the model's 1024 target positions, is scored (references are not fed
    to the model), as is an SNLI-VE row whose hypothesis of 1500 words the dataset cuts to
    --max-src-length words, as OFA's does."""
    demo, checkpoint = {"caption": caption_checkpoint, "snli_ve": snli_ve_checkpoint}[task]
    setup, records = _score(checkpoint, _split_with(demo, task, column, " ".join(["square"] * 1500),
                                                    tmp_path / "long"), task)
    assert [record["row"] for record in records] == [1, 2, 3, 4]
    row = setup.task.dataset("test")[1]
    if task == "caption":  # fairseq measures a row by its target, here the first reference
        assert len(row["target"]) > setup.models[0].max_positions()[1]
    else:
        kept = " ".join(["square"] * setup.task.cfg.max_src_length)
        assert row["source"].tolist() == _snli_ve_source(setup.task.vocab, kept)


def _snli_ve_source(vocab, hypothesis: str) -> list:
    return vocab.encode(f' does the image describe " {hypothesis} "?', add_bos=True, add_eos=True).tolist()


def _hypothesis_of_source_length(vocab, length: int) -> str:
    """A hypothesis of repeated words whose SNLI-VE source (prompt, bos and eos) is ``length`` tokens."""
    one, two = (len(_snli_ve_source(vocab, " ".join(["square"] * words))) for words in (1, 2))
    hypothesis = " ".join(["square"] * (1 + (length - one) // (two - one)))
    assert len(_snli_ve_source(vocab, hypothesis)) == length
    return hypothesis


@pytest.mark.parametrize("source, extra, error", [
    (1024, (), None),  # the longest source the model reads: scored
    (1025, (), "its source text is 1025 tokens, longer than the model's 1024 source positions"),
    (1024, ("--prompt-type", "src"), "its decoder input (prompt and answer) is 1025 tokens, longer than the "
                                     "model's 1024 decoder positions"),
])
def test_a_row_too_long_for_the_model_is_an_error_naming_it(snli_ve_checkpoint, source, extra, error, tmp_path):
    """A row the model cannot read (fairseq would skip it with --skip-invalid-size-inputs-valid-test;
    the model itself fails on it with an IndexError or a tensor size mismatch, as OFA's does) ends
    the evaluation with a DataError naming its file, row and uniq-id, instead of being skipped."""
    demo, checkpoint = snli_ve_checkpoint
    setup, _ = load_evaluation(build_parser(), [str(demo / "snli_ve"), "--path", checkpoint, "--task", "snli_ve",
                                                "--cpu"])
    hypothesis = _hypothesis_of_source_length(setup.task.vocab, source)
    data = _split_with(demo, "snli_ve", 3, hypothesis, tmp_path / "long")
    if error is None:
        assert [record["row"] for record in _score(checkpoint, data, "snli_ve", "--max-src-length", "2000",
                                                   *extra)[1]] == [1, 2, 3, 4]
        return
    with pytest.raises(DataError) as raised:
        _score(checkpoint, data, "snli_ve", "--max-src-length", "2000", *extra)
    assert str(raised.value).startswith(f"{data}/test.tsv, row 2: (uniq-id "), raised.value
    assert error in str(raised.value), raised.value
