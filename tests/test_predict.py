"""``python -m ofa_mue.predict`` on picture files: the evaluation's outputs and layers for the
same pictures, per-token decoder layers that match what generation ran, and one-line refusals."""
from __future__ import annotations

import base64
import json
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import pytest
import torch

from ofa_mue import predict
from ofa_mue.core.early_exit import ExitSession
from ofa_mue.core.exit_policy import MuEThresholds
from ofa_mue.data.text import strip_punctuation
from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.errors import OFAMuEError
from ofa_mue.evaluate import main as evaluate_main
from demo_training import run_module, train_in_process
from test_training_and_evaluation_cli import plain_train_argv

TEST_ROWS = 5
BATCH = 2


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("predict_demo")
    generate_demo_data(out, seed=5, train=16, valid=3, test=TEST_ROWS, image_size=64)
    return out


@pytest.fixture(scope="module")
def checkpoints(demo, tmp_path_factory):
    """A caption and an SNLI-VE checkpoint trained for two updates by fairseq-train (SNLI-VE with
    the premise in its prompt, as OFA's recipe trains it; the caption checkpoint saves the exit
    granularity token among its options, as every checkpoint trained when that was the default)."""
    paths = {}
    for task, extra in (("caption", ("--exit-granularity", "token")), ("snli_ve", ("--add-caption",))):
        save_dir = tmp_path_factory.mktemp(f"predict_{task}")
        train_in_process(plain_train_argv(demo, task, save_dir, 2, *extra))
        paths[task] = str(save_dir / "checkpoint_last.pt")
    return paths


def tsv_rows(path: Path) -> List[List[str]]:
    return [line.rstrip("\n").split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def save_pictures(rows: List[List[str]], column: int, folder: Path) -> List[Path]:
    """The base64 images of a column written as picture files, byte for byte."""
    folder.mkdir()
    files = []
    for index, row in enumerate(rows):
        path = folder / f"picture{index:02d}.png"
        path.write_bytes(base64.urlsafe_b64decode(row[column] + "=" * (-len(row[column]) % 4)))
        files.append(path)
    return files


def evaluation(demo: Path, task: str, checkpoint: str, results: Path, *options: str) -> List[dict]:
    evaluate_main([str(demo / task), "--path", checkpoint, "--task", task, "--gen-subset", "test", "--cpu",
                   "--batch-size", str(BATCH), "--results-path", str(results), *options])
    return [json.loads(line) for line in (results / "test_predictions.jsonl").read_text().splitlines()]


EXITS = ["--model-overrides", "{'decompose_modalities': True}", "--image-exit-threshold", "0.9",
         "--text-exit-threshold", "0.9", "--decoder-exit-threshold", "0.9"]


def test_captions_and_layers_equal_the_evaluation_of_the_same_pictures(demo, checkpoints, tmp_path, capsys):
    rows = tsv_rows(demo / "caption" / "test.tsv")
    pictures = save_pictures(rows, 4, tmp_path / "pictures")
    expected = evaluation(demo, "caption", checkpoints["caption"], tmp_path / "eval", *EXITS)
    capsys.readouterr()
    got = predict.main(["--path", checkpoints["caption"], "--image", str(tmp_path / "pictures"), "--cpu",
                        "--batch-size", str(BATCH), "--show-layers", *EXITS])
    assert [p.image for p in got] == [str(p) for p in pictures]
    assert [p.output for p in got] == [r["prediction"] for r in expected]
    for prediction, record in zip(got, expected):
        for name in ("image_layers", "text_layers"):
            assert prediction.layers[name] == record["layers"][name]
        assert prediction.layers["decoder_layers"] == pytest.approx(record["layers"]["decoder_layers"], abs=1e-3)
        assert prediction.tokens[-1][0] == "</s>"
        # the caption is the tokens' text without punctuation (OFA's scoring form: "<code_5>" -> "code5")
        assert strip_punctuation("".join(text for text, _ in prediction.tokens[:-1])).replace(" ", "") == \
            prediction.output.replace(" ", "")
    printed = capsys.readouterr().out
    assert f"{pictures[0]}: {got[0].output}" in printed
    assert "  tokens: " + " ".join(f"{t}({d})" for t, d in got[0].tokens) in printed


def test_compare_full_gives_the_full_models_captions_beside_the_exits(demo, checkpoints, tmp_path):
    """--compare-full beside exits that change captions: the full model's captions are those the
    evaluation of the same (decomposed) model gives with every exit off, not the exits' own.
    Thresholds 0 stop every stream after its first layer, so the exits' captions differ from the
    full model's on any machine (thresholds near 1 may change none of a tiny model's)."""
    save_pictures(tsv_rows(demo / "caption" / "test.tsv"), 4, tmp_path / "pictures")
    shallowest = [*EXITS[:2], "--image-exit-threshold", "0", "--text-exit-threshold", "0",
                  "--decoder-exit-threshold", "0"]
    full = evaluation(demo, "caption", checkpoints["caption"], tmp_path / "full", *EXITS[:2])
    exits = evaluation(demo, "caption", checkpoints["caption"], tmp_path / "exits", *shallowest)
    assert [r["prediction"] for r in exits] != [r["prediction"] for r in full]  # the exits change a caption
    got = predict.main(["--path", checkpoints["caption"], "--image", str(tmp_path / "pictures"), "--cpu",
                        "--batch-size", str(BATCH), "--compare-full", *shallowest])
    assert [p.full_model for p in got] == [record["prediction"] for record in full]
    assert [p.output for p in got] == [record["prediction"] for record in exits]


def test_answers_equal_the_evaluation_and_show_the_scored_tokens(demo, checkpoints, tmp_path):
    rows = tsv_rows(demo / "snli_ve" / "test.tsv")[:3]
    pictures = save_pictures(rows, 2, tmp_path / "pictures")
    expected = evaluation(demo, "snli_ve", checkpoints["snli_ve"], tmp_path / "eval", *EXITS)
    for row, picture, record in zip(rows, pictures, expected):
        (got,) = predict.main(["--path", checkpoints["snli_ve"], "--image", str(picture), "--cpu",
                               "--hypothesis", row[3], "--premise", row[4], "--show-layers", "--compare-full",
                               *EXITS])
        assert got.output == record["prediction"]
        assert got.full_model in {"yes", "no", "maybe"}
        assert {name: got.layers[name] for name in ("image_layers", "text_layers")} == \
            {name: record["layers"][name] for name in ("image_layers", "text_layers")}
        assert [text for text, _ in got.tokens] == [got.output, "</s>"]
        assert all(1 <= depth <= got.layers["decoder_depth"] for _, depth in got.tokens)


def test_compare_full_scores_the_answers_with_the_whole_decoder(demo, checkpoints, tmp_path):
    """SNLI-VE --compare-full scores the answers with every exit off: with exits that stop every
    token at the first decoder layer, only the full model's pass reaches the last layer."""
    row = tsv_rows(demo / "snli_ve" / "test.tsv")[0]
    picture = save_pictures([row], 2, tmp_path / "pictures")[0]
    args = Namespace(path=checkpoints["snli_ve"], model_overrides="{}", cpu=True, ema_eval=False, beam=None,
                     max_len_b=None, no_repeat_ngram_size=None)
    predictor = predict.load_predictor(args, {"decoder_exit_threshold": -1.0})
    tsv = str(tmp_path / "inputs.tsv")
    predict.write_inputs(tsv, "snli_ve", [picture], row[3], row[4])
    dataset = predictor.dataset(tsv)
    sample = dataset.collater([dataset[0]])
    last_layer_runs = []
    predictor.models[0].decoder.layers[-1].register_forward_hook(lambda *_: last_layer_runs.append(1))
    predictor.predict(sample, show_layers=False, compare_full=False)
    assert not last_layer_runs  # the exits stop before the last layer
    (result,) = predictor.predict(sample, show_layers=False, compare_full=True)
    assert last_layer_runs and result["full_model"] in {"yes", "no", "maybe"}


@dataclass(frozen=True)
class ExitByPosition:
    """Decoder rule: the token at position t stops after layer (t mod 3) + 1."""

    def should_exit(self, layer, x_in, x_out, positions, tokens):
        return positions % 3 == layer


@dataclass(frozen=True)
class PositionPolicy:
    def session(self, horizon, project=None):
        return ExitSession(decoder_rule=ExitByPosition())


def caption_predictor_args(checkpoints, beam: Optional[int]) -> Namespace:
    """The command-line options load_predictor reads, for the demo caption checkpoint on the CPU."""
    return Namespace(path=checkpoints["caption"], model_overrides="{}", cpu=True, ema_eval=False, beam=beam,
                     max_len_b=None, no_repeat_ngram_size=None)


@pytest.mark.parametrize("policy", [PositionPolicy(), MuEThresholds(decoder=0.9)], ids=["by-position", "mue"])
def test_token_layers_are_those_greedy_generation_ran(demo, checkpoints, tmp_path, policy):
    """With one hypothesis per picture, generation's own per-step record is each token's
    layers: the per-token view (a teacher-forced pass with the same rules) equals it."""
    args = caption_predictor_args(checkpoints, beam=1)
    predictor = predict.load_predictor(args, {})
    predictor.generator.policy = policy
    pictures = save_pictures(tsv_rows(demo / "caption" / "test.tsv"), 4, tmp_path / "pictures")
    predict.write_inputs(str(tmp_path / "inputs.tsv"), "caption", pictures, None, None)
    dataset = predictor.dataset(str(tmp_path / "inputs.tsv"))
    for index in range(len(dataset)):
        (result,) = predictor.predict(dataset.collater([dataset[index]]), show_layers=True, compare_full=False)
        steps = [int(layers) for layers in predictor.generator.last_session.decoder_token_layers()]
        assert [depth for _, depth in result["tokens"]] == steps
        if isinstance(policy, PositionPolicy):
            assert steps == [t % 3 + 1 for t in range(len(steps))]


def test_token_layers_under_step_exits_are_those_of_their_generation_step(demo, checkpoints, tmp_path):
    """Under --exit-granularity step every token of a generation step (all pictures and beams of
    the batch) ran the same layers: each output token shows its step's, not the depth its own
    per-token decision would have given it (here 1 layer where the step ran 2)."""
    from ofa_mue.core.exit_granularity import ExitGranularity

    args = caption_predictor_args(checkpoints, beam=2)
    predictor = predict.load_predictor(args, {})
    predictor.generator.policy = MuEThresholds(decoder=0.6, granularity=ExitGranularity("step"))
    pictures = save_pictures(tsv_rows(demo / "caption" / "test.tsv"), 4, tmp_path / "pictures")
    predict.write_inputs(str(tmp_path / "inputs.tsv"), "caption", pictures, None, None)
    dataset = predictor.dataset(str(tmp_path / "inputs.tsv"))
    results = predictor.predict(dataset.collater([dataset[i] for i in range(len(dataset))]), show_layers=True,
                                compare_full=False)
    steps = predictor.generator.last_session.decoder_token_layers()
    assert all(layers.min() == layers.max() for layers in steps)  # a step's tokens stopped together
    for result in results:
        depths = [depth for _, depth in result["tokens"]]
        assert depths == [int(layers.max()) for layers in steps[: len(depths)]]


def test_a_profile_sets_the_granularity_over_the_checkpoints_saved_one(checkpoints, tmp_path):
    """The granularity a checkpoint saved with its training options is no choice of the user's:
    an --exit-profile's applies (the command line's would be checked against it)."""
    from ofa_mue.core.exit_granularity import ExitGranularity
    from ofa_mue.core.exit_profile import save_exit_profile

    profile = tmp_path / "step.json"
    save_exit_profile(str(profile), {"options": {"decoder_exit_threshold": 0.9, "exit_granularity": "step",
                                                 "exit_step_quantile": 0.5}})
    args = caption_predictor_args(checkpoints, beam=None)
    predictor = predict.load_predictor(args, {"exit_profile": str(profile)})
    assert predictor.task.exit_policy().granularity == ExitGranularity("step", 0.5)
    with pytest.raises(OFAMuEError, match="calibrated with --exit-granularity step --exit-step-quantile 0.5, but "
                                          "the command line asks for --exit-granularity token"):
        predict.load_predictor(args, {"exit_profile": str(profile), "exit_granularity": "token"})


def test_generation_options_given_as_zero_are_honoured(checkpoints):
    """--no-repeat-ngram-size 0 turns off the blocking of repeated 3-grams that captions default to."""
    args = caption_predictor_args(checkpoints, beam=None)
    assert predict.load_predictor(args, {}).generator.repeat_ngram_blocker.no_repeat_ngram_size == 3
    args.no_repeat_ngram_size = 0
    assert predict.load_predictor(args, {}).generator.repeat_ngram_blocker is None


def test_task_options_a_checkpoint_never_saved_are_honoured(checkpoints, tmp_path):
    """A checkpoint saved before an option existed lacks it among its task options, which fairseq's
    overrides leave out: the value given is still the one the exits run with."""
    state = torch.load(checkpoints["caption"], map_location="cpu", weights_only=False)
    del state["cfg"]["task"]["decoder_exit_threshold"]
    older = tmp_path / "older.pt"
    torch.save(state, older)
    args = caption_predictor_args(checkpoints, beam=None)
    args.path = str(older)
    predictor = predict.load_predictor(args, {"decoder_exit_threshold": 0.9})
    assert predictor.generator.policy.decoder == 0.9


def test_a_step_profile_warns_at_another_batch_size_than_calibrated(checkpoints, demo, tmp_path, capsys):
    """Under step a token's depth depends on its batch: two pictures at once are a batch of 2."""
    from ofa_mue.core.exit_profile import save_exit_profile

    pictures = save_pictures(tsv_rows(demo / "caption" / "test.tsv")[:2], 4, tmp_path / "pictures")
    for calibrated, warned in ((8, True), (2, False)):
        profile = tmp_path / f"step{calibrated}.json"
        save_exit_profile(str(profile), {"calibration_batch_size": calibrated, "options": {
            "decoder_exit_threshold": 0.9, "exit_granularity": "step"}})
        predict.main(["--path", checkpoints["caption"], "--image", *map(str, pictures), "--cpu",
                      "--exit-profile", str(profile)])
        message = f"calibrated with --exit-granularity step at --batch-size {calibrated}, and this run uses --batch-size 2"
        assert (message in capsys.readouterr().err) is warned


def test_a_profile_of_other_weights_warns(checkpoints, demo, tmp_path, capsys):
    """A profile whose recorded checkpoint fingerprint is another file's warns that its quality and
    guarantee were measured on other weights; one calibrated on this file does not."""
    from ofa_mue.core.exit_profile import save_exit_profile
    from ofa_mue.provenance import checkpoint_fingerprint

    pictures = save_pictures(tsv_rows(demo / "caption" / "test.tsv")[:1], 4, tmp_path / "pictures")
    for calibrated, warned in ((checkpoints["snli_ve"], True), (checkpoints["caption"], False)):
        profile = tmp_path / "profile.json"
        save_exit_profile(str(profile), {"checkpoint": "checkpoint_best.pt",
                                         "checkpoint_fingerprint": checkpoint_fingerprint(calibrated),
                                         "options": {"decoder_exit_threshold": 0.9}})
        predict.main(["--path", checkpoints["caption"], "--image", *map(str, pictures), "--cpu",
                      "--exit-profile", str(profile)])
        message = (f"WARNING | ofa_mue.predict | exit profile {profile}: the profile was calibrated on the checkpoint "
                   f"checkpoint_best.pt and this run evaluates {checkpoints['caption']}, whose file holds other weights")
        assert (message in capsys.readouterr().err) is warned


def test_exits_off_give_the_full_model_and_json_lines(checkpoints, demo, tmp_path, capsys):
    pictures = save_pictures(tsv_rows(demo / "caption" / "test.tsv")[:2], 4, tmp_path / "pictures")
    got = predict.main(["--path", checkpoints["caption"], "--image", *map(str, pictures), "--cpu", "--json",
                        "--compare-full", "--show-layers", "--beam", "2"])
    assert all(p.output == p.full_model for p in got)
    assert all(p.layers["expected_time_reduction"] == 0.0 for p in got)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["output"] for line in lines] == [p.output for p in got]


def test_options_the_checkpoint_cannot_honour_are_refused(checkpoints, demo, tmp_path):
    picture = save_pictures(tsv_rows(demo / "caption" / "test.tsv")[:1], 4, tmp_path / "pictures")[0]
    base = ["--image", str(picture), "--cpu"]
    cases = [
        (["--path", checkpoints["caption"], "--hypothesis", "a cat"], "--hypothesis is for SNLI-VE"),
        (["--path", checkpoints["snli_ve"]], "pass --hypothesis"),
        (["--path", checkpoints["snli_ve"], "--hypothesis", "a cat"], "pass --premise"),
        (["--path", checkpoints["snli_ve"], "--hypothesis", "a cat", "--premise", "x", "--beam", "2"],
         "--beam is for caption"),
        (["--path", checkpoints["caption"], "--decoder-exit-threshold", "nan"], "--decoder-exit-threshold must be"),
        (["--path", str(tmp_path / "missing.pt")], "no such checkpoint file"),
    ]
    for options, message in cases:
        with pytest.raises(OFAMuEError, match=message):
            predict.main(base + options)


def test_unreadable_picture_is_one_line_naming_the_file(checkpoints, tmp_path):
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"not a picture at all")
    done = run_module("ofa_mue.predict", "--path", checkpoints["caption"], "--image", str(bad), "--cpu")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {bad}: ") and "not a readable image" in last, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    with pytest.raises(OFAMuEError, match="holds no picture files"):
        predict.main(["--path", checkpoints["caption"], "--image", str(empty), "--cpu"])


def test_a_folder_gives_its_pictures_in_name_order_whatever_the_extensions_case(tmp_path):
    """Cameras write PHOTO.JPG: an upper-case extension is a picture too; other files and
    sub-folders are left out, and the pictures come in name order (the order of the output)."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name in ("c.png", "A.JPG", "b.Jpeg", "notes.txt", "README"):
        (folder / name).write_bytes(b"")
    (folder / "nested.png").mkdir()
    single = tmp_path / "single.webp"
    single.write_bytes(b"")
    assert predict.image_files([str(folder), str(single)]) == [folder / "A.JPG", folder / "b.Jpeg",
                                                                folder / "c.png", single]
    (tmp_path / "empty").mkdir()
    with pytest.raises(OFAMuEError, match="folder holds no picture files"):
        predict.image_files([str(tmp_path / "empty")])
    with pytest.raises(OFAMuEError, match="no such file or folder"):
        predict.image_files([str(tmp_path / "absent.png")])


def test_the_hidden_task_fields_are_no_options():
    """The task's hidden fields (fairseq fills them from --path and --model-overrides) are not
    options of predict: its --help listed them, with no help, as if they were."""
    parser = predict.build_parser()
    options = {option for action in parser._actions for option in action.option_strings}
    assert "--exit-profile" in options and "--patch-image-size" in options
    assert not {"--inference-checkpoint", "--inference-overrides"} & options
    assert all(action.help for action in parser._actions if action.option_strings)


@pytest.mark.parametrize("text", ["two\xa0dogs play on the grass", " .two dogs play", "two dogs\u2009play  ", "a  b"],
                         ids=["non-breaking-space", "leading-space-and-dot", "thin-and-trailing-spaces", "double-space"])
def test_hypothesis_text_reaches_the_tsv_as_given(text):
    """predict's --hypothesis / --premise go into the TSV cell as given, so that OFA's clean-up
    (which keeps a single non-breaking or thin space, a leading space before punctuation and
    trailing spaces other than ' ') makes the tokens a TSV row of that text gives; only the tab
    and line breaks a cell cannot hold become spaces."""
    assert predict.cell_text("--hypothesis", text) == text
    assert predict.cell_text("--hypothesis", f"{text}\tand\r\nmore") == f"{text} and  more"
