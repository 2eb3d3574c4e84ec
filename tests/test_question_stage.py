"""The demo's grounding-question stage (ofa_mue.demo.questions, ofa_mue.demo.question_stage):
the questions' answers are what the scene says, every question is in the demo vocabulary, and
the stage writes a checkpoint that SNLI-VE fine-tunes from, the same for the same arguments."""
from __future__ import annotations

import json
import math
import random

import pytest
import torch

from demo_training import run_module, train_argv, train_in_process
from ofa_mue.checkpoint_loading import load_checkpoint_to_cpu
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.demo.language import CELL_PHRASES, REGIONS
from ofa_mue.demo.question_stage import (QuestionBatches, cell_patches, focus_loss, model_from_checkpoint,
                                         parameter_groups, train_questions)
from ofa_mue.demo.questions import (EXISTS_ANSWERS, KINDS, LOOKUPS, count_question, exists_answer,
                                    exists_question, region_question, relation_question, sample_question,
                                    what_question, where_question)
from ofa_mue.demo.scenes import make_object, sample_background
from ofa_mue.demo.summary import question_figures
from ofa_mue.models.encoder import OFAEncoder


def scene_of(*objects, hidden=()):
    rng = random.Random(0)
    return sample_background(rng).with_objects([make_object(rng, s, c, "big", col, row) for s, c, col, row in objects],
                                               list(hidden))


def test_exists_answers_follow_the_visible_objects_and_the_cover():
    scene = scene_of(("circle", "red", 0, 0), ("square", "blue", 2, 1))
    assert exists_answer(scene, "red", "circle") == "yes"
    assert exists_answer(scene, "red", "square") == "no"  # colour and shape of two objects, never bound
    covered = scene_of(("circle", "red", 0, 0), hidden=[(1, 1)])
    assert exists_answer(covered, "red", "circle") == "yes"
    assert exists_answer(covered, "blue", "circle") == "maybe"
    # within a region: only its objects and its covers count
    assert exists_answer(covered, "red", "circle", "in the top row") == "yes"
    assert exists_answer(covered, "red", "circle", "in the bottom row") == "no"
    assert exists_answer(covered, "red", "circle", "in the center") == "maybe"
    assert exists_answer(covered, "red", "circle", "in the right column") == "no"


@pytest.mark.parametrize("want", EXISTS_ANSWERS)
def test_exists_questions_have_the_wanted_answer(want):
    rng = random.Random(want)
    for _ in range(50):
        scene, question, answer, focus = exists_question(rng, want)
        colour, shape = question.split('"')[1].split()[-2:]
        assert answer == want == exists_answer(scene, colour, shape)
        # the focus: the cells of the visible objects the question names (none unless "yes")
        assert focus == tuple(o.cell for o in scene.objects if (o.colour, o.shape) == (colour, shape))
        assert bool(focus) == (want == "yes")
    with pytest.raises(ValueError, match="want must be one of"):
        exists_question(rng, "perhaps")


@pytest.mark.parametrize("want", EXISTS_ANSWERS)
def test_region_questions_have_the_wanted_answer(want):
    rng = random.Random(f"region {want}")
    regions = set()
    for _ in range(50):
        scene, question, answer, focus = region_question(rng, want)
        words = question.split('"')[1].split()  # there is a red circle in the top row
        colour, shape, region = words[3], words[4], " ".join(words[5:])
        regions.add(region)
        assert answer == want == exists_answer(scene, colour, shape, region)
        assert focus == tuple(o.cell for o in scene.objects
                              if (o.colour, o.shape) == (colour, shape) and REGIONS[region](*o.cell))
        assert bool(focus) == (want == "yes")
    assert len(regions) > 5
    with pytest.raises(ValueError, match="want must be one of"):
        region_question(rng, "perhaps")


def test_where_and_what_name_the_object_looked_up():
    scene = scene_of(("circle", "red", 0, 0), ("circle", "red", 1, 2), ("star", "orange", 2, 1))
    rng = random.Random(1)
    for _ in range(10):  # the two red circles are not unique: only the star can be asked for
        question, answer, focus = where_question(rng, scene)
        assert '" orange star "' in question and answer == CELL_PHRASES[(2, 1)] == "on the right"
        assert focus == ((2, 1),)  # the object named
        question, answer, focus = what_question(rng, scene)
        cell = next(c for c, phrase in CELL_PHRASES.items() if f'" {phrase} "' in question)
        assert focus == (cell,)  # the place named
        obj = next(o for o in scene.objects if o.cell == cell)
        assert answer == ("an" if obj.colour[0] in "aeiou" else "a") + f" {obj.colour} {obj.shape}"
    assert where_question(rng, scene_of(("circle", "red", 0, 0), ("circle", "red", 1, 0))) is None


def test_count_answers_how_many_visible_objects_match():
    scene = scene_of(("circle", "red", 0, 0), ("circle", "red", 1, 2), ("star", "red", 2, 1), ("circle", "blue", 0, 1))
    want = {"red circles": "two", "red shapes": "three", "circles": "three", "stars": "one", "blue shapes": "one",
            "blue stars": "no", "green shapes": "no", "triangles": "no", "red stars": "one", "blue circles": "one"}
    rng = random.Random(5)
    asked = {}
    for _ in range(400):
        triple = count_question(rng, scene)
        if triple is not None:
            question, answer, focus = triple
            asked[question.split('"')[1].strip()] = answer
            assert len(focus) == ("no", "one", "two", "three").index(answer)  # the counted objects' cells
            assert set(focus) <= {o.cell for o in scene.objects}
    assert "shapes" not in asked  # four shapes: more than three is never asked
    assert {"red circles", "red shapes", "circles"} <= set(asked)
    for phrase, answer in asked.items():
        assert want.get(phrase, answer) == answer, phrase
        words = phrase.split()  # [colour] noun, the noun plural
        colour, noun = (words[0] if len(words) == 2 else None), words[-1][:-1]
        assert answer == ("no", "one", "two", "three")[sum(
            (colour in (None, o.colour)) and noun in ("shape", o.shape) for o in scene.objects)]


def test_relation_answers_name_the_related_objects_in_reading_order():
    scene = scene_of(("circle", "red", 1, 1), ("square", "blue", 0, 0), ("star", "green", 2, 2),
                     ("triangle", "yellow", 0, 2))
    want = {"left of the red circle": "a blue square and a yellow triangle", "right of the red circle": "a green star",
            "above the red circle": "a blue square", "below the red circle": "a yellow triangle and a green star",
            "left of the blue square": "no shapes", "above the blue square": "no shapes",
            "right of the yellow triangle": "a red circle and a green star", "above the green star":
            "a blue square and a red circle", "left of the green star": "a blue square a red circle and a yellow triangle"}
    rng = random.Random(6)
    asked = {}
    for _ in range(600):
        triple = relation_question(rng, scene)
        if triple is not None:
            question, answer, focus = triple
            asked[question.split('"')[1].strip().removeprefix("the shapes ")] = answer
            anchor = next(o for o in scene.objects if question.split('"')[1].strip().endswith(f"{o.colour} {o.shape}"))
            assert focus == (anchor.cell,)
    assert set(want) <= set(asked)
    assert all(asked[question] == answer for question, answer in want.items())
    twins = scene_of(("circle", "red", 0, 0), ("circle", "red", 1, 0))
    assert relation_question(rng, twins) is None  # no object to anchor on


def test_every_kind_is_drawn_and_unknown_kinds_are_refused():
    rng = random.Random(2)
    drawn = [sample_question(rng) for _ in range(300)]
    assert {q["kind"] for q in drawn} == set(KINDS)
    for kind in ("exists", "region"):
        assert {q["answer"] for q in drawn if q["kind"] == kind} == set(EXISTS_ANSWERS)
    with pytest.raises(ValueError, match="question kinds must be among"):
        sample_question(rng, ["where", "why"])


def test_lookup_scenes_hold_the_asked_numbers_of_objects():
    """Lookups are about scenes of 2-4 objects unless told otherwise (benchmarks/grounding_lookup.py
    asks for one object, or two); existence questions keep their own scenes; other numbers are refused."""
    rng = random.Random(4)
    default = [sample_question(rng, ["where", "count"]) for _ in range(200)]
    assert {len(q["scene"].objects) for q in default} == {2, 3, 4}
    assert {len(q["scene"].objects) for q in (sample_question(rng, ["where"], (1,)) for _ in range(50))} == {1}
    two = [sample_question(rng, ["where", "exists"], (2,)) for _ in range(200)]
    assert {len(q["scene"].objects) for q in two if q["kind"] == "where"} == {2}
    assert len({len(q["scene"].objects) for q in two if q["kind"] == "exists"}) > 1
    for bad in ((), (0,), (2, 10)):
        with pytest.raises(ValueError, match="lookup_objects must be numbers of objects from 1 to 9"):
            sample_question(rng, ["where"], bad)


def test_questions_and_answers_are_in_the_demo_vocabulary(demo_data):
    vocab = OFAVocabulary.load(demo_data / "bpe", code_dict_size=0, num_bins=0)
    batches = QuestionBatches(vocab, 64)
    rng = random.Random(3)
    questions = [sample_question(rng) for _ in range(200)]
    batch = batches.batch(questions)
    pad = vocab.dictionary.pad()
    for q, prompt, target in zip(questions, batch["net_input"]["prev_output_tokens"], batch["target"]):
        scored = target.ne(pad)
        assert vocab.decode(target[scored][:-1]).strip() == q["answer"]  # the answer, then eos
        # OFA's prev_output prompt: the decoder reads the question before the answer
        assert vocab.decode(prompt[prompt.ne(pad)][1:]).strip().startswith(q["question"].strip()[:-1])
    with pytest.raises(ValueError, match="outside the demo vocabulary"):
        batches.encode(" where is the zebra")


def test_the_stage_trains_every_layer_and_snli_ve_fine_tunes_from_it(demo_data, demo_checkpoints, tmp_path,
                                                                     monkeypatch):
    init = demo_checkpoints["caption"].path
    out = tmp_path / "questions.pt"
    decomposed_calls = []
    forward = OFAEncoder.forward

    def recording_forward(self, *args, **kwargs):
        decomposed_calls.append(self.decompose_modalities)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(OFAEncoder, "forward", recording_forward)
    result = train_questions(str(demo_data), str(init), str(out), updates=2, image_size=64, batch_size=4,
                             progress=False)
    monkeypatch.setattr(OFAEncoder, "forward", forward)
    assert decomposed_calls and not any(decomposed_calls), "the stage runs the encoder fused, as OFA pretrains"
    assert load_checkpoint_to_cpu(str(out))["cfg"]["model"].decompose_modalities  # the caption model's option kept
    assert set(result) == {f"layer{layer}/{kind}" for layer in (1, 6) for kind in KINDS}
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["held_out_accuracy"] == result and record["updates"] == 2
    summary_figures = question_figures(str(tmp_path))  # what the demo summary reads from it
    assert summary_figures == {f"questions.layer{layer}_{kind}_accuracy": result[f"layer{layer}/{kind}"]
                               for layer in (1, 6) for kind in KINDS}
    before, after = load_checkpoint_to_cpu(str(init))["model"], load_checkpoint_to_cpu(str(out))["model"]
    assert before.keys() == after.keys()
    for name in ("encoder.layers.0.self_attn.k_proj.weight", "decoder.layers.0.encoder_attn.q_proj.weight",
                 "decoder.layers.5.fc2.weight", "encoder.embed_images.conv1.weight"):
        assert not torch.equal(before[name], after[name]), f"{name} was not trained"
    again = tmp_path / "again.pt"
    train_questions(str(demo_data), str(init), str(again), updates=2, image_size=64, batch_size=4, progress=False)
    repeat = load_checkpoint_to_cpu(str(again))["model"]
    assert all(torch.equal(after[name], repeat[name]) for name in after), "same arguments, other weights"
    log = train_in_process(train_argv(demo_data, "snli_ve", tmp_path / "snli_ve", 1, "--finetune-from-model", str(out)))
    assert f"loading pretrained model from {out}" in log
    assert load_checkpoint_to_cpu(str(tmp_path / "snli_ve" / "checkpoint_last.pt"))["optimizer_history"][-1]["num_updates"] == 1


def test_easy_lookup_updates_ask_about_two_objects_first(demo_data, demo_checkpoints, tmp_path, monkeypatch):
    """--easy-lookup-updates N: the first N updates' lookups are about two-object scenes, the
    later ones and the held-out questions about two to four; N beyond the updates is refused."""
    objects_per_batch = []
    batch = QuestionBatches.batch

    def recording_batch(self, questions):
        objects_per_batch.append({len(q["scene"].objects) for q in questions if q["kind"] in LOOKUPS})
        return batch(self, questions)

    monkeypatch.setattr(QuestionBatches, "batch", recording_batch)
    init, out = str(demo_checkpoints["caption"].path), tmp_path / "questions.pt"
    train_questions(str(demo_data), init, str(out), updates=3, image_size=64, batch_size=16, progress=False,
                    easy_lookup_updates=2)
    held_out, *training = objects_per_batch
    assert held_out == {2, 3, 4} and training[:2] == [{2}, {2}] and training[2] > {2}
    assert json.loads(out.with_suffix(".json").read_text())["easy_lookup_updates"] == 2
    with pytest.raises(ValueError, match="easy_lookup_updates must be from 0 to the 3 updates, got 4"):
        train_questions(str(demo_data), init, str(out), updates=3, easy_lookup_updates=4)


def test_the_command_line_refuses_what_it_cannot_do(demo_data, tmp_path):
    missing = run_module("ofa_mue.demo.question_stage", "--data", str(demo_data), "--init", str(tmp_path / "none.pt"),
                         "--out", str(tmp_path / "q.pt"))
    assert missing.returncode == 2 and "no such checkpoint file" in missing.stderr
    zero = run_module("ofa_mue.demo.question_stage", "--data", str(demo_data), "--init", str(tmp_path / "none.pt"),
                      "--out", str(tmp_path / "q.pt"), "--updates", "0")
    assert zero.returncode == 2 and "--updates must be at least 1" in zero.stderr


def test_cell_patches_cover_the_scene_cell_row_major():
    assert [cell_patches((col, row), 3) for row in range(3) for col in range(3)] == [[i] for i in range(9)]
    assert cell_patches((2, 0), 6) == [4, 5, 10, 11]  # top right: columns 4-5 of rows 0-1 of a 6x6 grid
    assert sorted(i for row in range(3) for col in range(3) for i in cell_patches((col, row), 6)) == list(range(36))
    with pytest.raises(ValueError, match="4x4 patch grid does not split into the scenes' 3x3 cells"):
        cell_patches((0, 0), 4)


def test_focus_loss_is_minus_log_the_head_mean_probability_on_the_focus_cells():
    """Two questions over 9 image patches and 3 text keys: one with the focus (2, 1) (patch 5),
    one with two focus cells, one without a focus (left out); padded positions are left out."""
    probabilities = torch.zeros(3, 2, 2, 12)  # [B, H, T, S]
    probabilities[0, 0, :, 5], probabilities[0, 0, :, 9] = 0.5, 0.5  # head 0: half on the focus
    probabilities[0, 1, :, 5] = 1.0  # head 1: all on it -> mean 0.75
    probabilities[1, :, :, 0], probabilities[1, :, :, 8], probabilities[1, :, :, 4] = 0.2, 0.2, 0.6  # 0.4 on (0,0)+(2,2)
    probabilities[2, :, :, 11] = 1.0
    scored = torch.tensor([[True, True], [True, False], [True, True]])
    focus = [((2, 1),), ((0, 0), (2, 2)), ()]
    loss = focus_loss([probabilities], focus, scored, image_patches=9)
    expected = -(2 * math.log(0.75 + 1e-6) + math.log(0.4 + 1e-6)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    two_layers = focus_loss([probabilities, probabilities.flip(1)], focus, scored, image_patches=9)
    assert two_layers.item() == pytest.approx(expected, rel=1e-5)  # the head mean does not depend on the order
    assert focus_loss([probabilities], [(), (), ()], scored, image_patches=9).item() == 0
    with pytest.raises(ValueError, match="8 image patches are not a square grid"):
        focus_loss([probabilities], focus, scored, image_patches=8)
    first_head = focus_loss([probabilities], focus, scored, image_patches=9, heads=1)
    assert first_head.item() == pytest.approx(-(2 * math.log(0.5 + 1e-6) + math.log(0.4 + 1e-6)) / 3, rel=1e-5)
    second_head = focus_loss([probabilities.flip(1)], focus, scored, image_patches=9, heads=1)
    assert second_head.item() == pytest.approx(-(2 * math.log(1.0 + 1e-6) + math.log(0.4 + 1e-6)) / 3, rel=1e-5)


def test_the_focus_weight_trains_where_the_decoder_looks(demo_data, demo_checkpoints, tmp_path):
    """--focus-weight W adds W times the focus loss of the decoder layers after the first: the
    trained weights differ from W = 0's, the record keeps W, and a negative W is refused;
    --focus-heads 1 trains other weights than all heads and is recorded; 0 or more heads than
    the model has, or heads without a focus weight, are refused."""
    init = str(demo_checkpoints["caption"].path)
    trained = {}
    for weight in (0.0, 1.0):
        out = tmp_path / f"focus{weight}.pt"
        train_questions(str(demo_data), init, str(out), updates=2, image_size=48, batch_size=4, progress=False,
                        kinds=["where"], focus_weight=weight)
        trained[weight] = load_checkpoint_to_cpu(str(out))["model"]
        record = json.loads(out.with_suffix(".json").read_text())
        assert record["focus_weight"] == weight and record["focus_lr"] == record["lr"] == 5e-4
    name = "decoder.layers.1.encoder_attn.k_proj.weight"
    assert not torch.equal(trained[0.0][name], trained[1.0][name])
    one_head = tmp_path / "focus_one_head.pt"
    train_questions(str(demo_data), init, str(one_head), updates=2, image_size=48, batch_size=4, progress=False,
                    kinds=["where"], focus_weight=1.0, focus_heads=1)
    assert json.loads(one_head.with_suffix(".json").read_text())["focus_heads"] == 1
    assert not torch.equal(load_checkpoint_to_cpu(str(one_head))["model"][name], trained[1.0][name])
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="focus_weight must be a finite number >= 0"):
            train_questions(str(demo_data), init, str(tmp_path / "bad.pt"), updates=1, focus_weight=bad)
    for bad in (0, 5):  # ofa_demo has 4 heads
        with pytest.raises(ValueError, match=f"focus_heads must be a whole number from 1 to the model's 4 heads, got {bad}"):
            train_questions(str(demo_data), init, str(tmp_path / "bad.pt"), updates=1, focus_weight=1.0, focus_heads=bad)
    with pytest.raises(ValueError, match="focus_heads 1 needs a focus_weight > 0: with none there is no focus loss"):
        train_questions(str(demo_data), init, str(tmp_path / "bad.pt"), updates=1, focus_heads=1)
    assert not (tmp_path / "bad.pt").exists()


def test_the_focus_learning_rate_is_the_cross_attention_queries_and_keys_own(demo_data, demo_checkpoints):
    """--focus-lr: the decoder's cross-attention q_proj and k_proj (weights and biases, every
    layer) in a group of their own at that rate, the rest at the stage's; None: one group."""
    vocab = OFAVocabulary.load(demo_data / "bpe", code_dict_size=0, num_bins=0)
    model = model_from_checkpoint(str(demo_checkpoints["caption"].path), vocab)
    names = {id(p): n for n, p in model.named_parameters()}
    rest, focus = parameter_groups(model, 5e-4, 5e-3)
    assert rest["lr"] == 5e-4 and focus["lr"] == 5e-3
    assert sorted(names[id(p)] for p in focus["params"]) == sorted(
        f"decoder.layers.{i}.encoder_attn.{proj}.{kind}" for i in range(len(model.decoder.layers))
        for proj in ("q_proj", "k_proj") for kind in ("weight", "bias"))
    assert len(rest["params"]) + len(focus["params"]) == len(names)
    (single,) = parameter_groups(model, 5e-4, None)
    assert single["lr"] == 5e-4 and len(single["params"]) == len(names)
    with pytest.raises(ValueError, match="focus_lr must be a finite number > 0"):
        train_questions(str(demo_data), str(demo_checkpoints["caption"].path), "unused.pt", updates=1, focus_lr=0.0)


def test_freeze_encoder_trains_the_decoder_and_the_shared_token_embeddings_only(demo_data, demo_checkpoints, tmp_path):
    """--freeze-encoder: every encoder weight but the token embeddings it shares with the decoder
    is saved as --init had it; the decoder's and the token embeddings change; the record says so."""
    init = str(demo_checkpoints["caption"].path)
    out = tmp_path / "frozen.pt"
    train_questions(str(demo_data), init, str(out), updates=2, image_size=48, batch_size=4, progress=False,
                    freeze_encoder=True)
    before, after = load_checkpoint_to_cpu(init)["model"], load_checkpoint_to_cpu(str(out))["model"]
    encoder = [name for name in after if name.startswith("encoder.") and name != "encoder.embed_tokens.weight"
               and after[name].is_floating_point()]
    assert any("embed_images" in name for name in encoder) and any(".layers.5." in name for name in encoder)
    changed = [name for name in encoder if not torch.equal(before[name], after[name])]
    assert changed == []
    for name in ("encoder.embed_tokens.weight", "decoder.layers.1.encoder_attn.k_proj.weight"):
        assert not torch.equal(before[name], after[name]), name
    assert json.loads(out.with_suffix(".json").read_text())["freeze_encoder"] is True


def test_a_cover_does_not_give_an_existence_answer_away():
    """A covered cell is in "yes" scenes as well as in "maybe" ones, for both existence kinds (and in
    region "no" scenes: the cover outside the region), so that a cover alone never says "maybe"."""
    for ask in (exists_question, region_question):
        rng = random.Random(f"cover {ask.__name__}")
        covered = {(want, cover): 0 for want in EXISTS_ANSWERS for cover in (False, True)}
        for want in EXISTS_ANSWERS:
            for _ in range(60):
                covered[want, bool(ask(rng, want)[0].hidden)] += 1
        assert covered["yes", True] > 15 and covered["yes", False] > 15, (ask.__name__, covered)
        assert covered["maybe", True] == 60
        if ask is region_question:
            assert covered["no", True] > 10 and covered["no", False] > 10, covered


def test_relation_questions_keep_half_of_the_empty_answers():
    """An anchor and a relation with no shape in it give "no shapes" for half such draws only (the other
    half asks again): two objects at opposite corners, half the relations empty, so a third of the
    questions asked answer "no shapes"."""
    scene = scene_of(("circle", "red", 0, 0), ("square", "blue", 2, 2))
    rng = random.Random(13)
    answers = [triple[1] for triple in (relation_question(rng, scene) for _ in range(1200)) if triple is not None]
    assert 0.27 < answers.count("no shapes") / len(answers) < 0.4, answers.count("no shapes") / len(answers)
    assert set(answers) == {"no shapes", "a red circle", "a blue square"}
