"""The demo's vision warm start (ofa_mue.demo.pretrain): what it refuses, before any work, and
how it tells the user (a usage error naming the option or file to fix, no traceback, and no
checkpoint or accuracy file written)."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.demo import pretrain as pretrain_module
from ofa_mue.demo.bpe import build_bpe
from ofa_mue.demo.generate import ANSWERS, CAPTION_PROMPT, SNLI_PROMPT
from ofa_mue.demo.pretrain import (ATTRIBUTES, IGNORE, accuracies, cell_targets, image_parameters, main, make_scenes,
                                   pretrain)
from ofa_mue.demo.scenes import Scene, make_object
from ofa_mue.models.builders import build_model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A demo data folder holding only the demo vocabulary (bpe/), written by ofa_mue.demo.bpe."""
    folder = tmp_path_factory.mktemp("pretrain_data")
    corpus = [CAPTION_PROMPT, SNLI_PROMPT.format("a red circle", "shapes on a white background"),
              *(f" {answer}" for answer in ANSWERS)] * 3
    build_bpe(corpus, str(folder / "bpe"), vocab_size=300)
    return folder


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    return capsys.readouterr().err


def test_fewer_than_one_update_is_refused_before_any_work(data, tmp_path, capsys):
    out = tmp_path / "pretrained.pt"
    for updates in ("0", "-3"):
        error = _refused(["--data", str(data), "--out", str(out), "--updates", updates, "--no-progress"], capsys)
        assert f"--updates must be at least 1, got {updates}" in error
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_the_demo_vocabulary_is_refused_naming_what_to_pass(tmp_path, capsys):
    empty = tmp_path / "not_demo_data"
    empty.mkdir()
    out = tmp_path / "pretrained.pt"
    error = _refused(["--data", str(empty), "--out", str(out), "--updates", "5", "--no-progress"], capsys)
    assert f"{empty}/bpe/dict.txt not found: pass the folder written by python -m ofa_mue.demo.generate" in error
    assert not out.exists() and not (tmp_path / "pretrained.json").exists()


def test_a_broken_vocabulary_is_a_usage_error_naming_its_file(data, tmp_path, capsys):
    """A data error (here an encoder.json that is not JSON) ends on the usage line with the file
    it concerns, as every ofa_mue input error does, instead of a traceback."""
    broken = tmp_path / "data"
    (broken / "bpe").mkdir(parents=True)
    for name in ("dict.txt", "vocab.bpe"):
        (broken / "bpe" / name).write_bytes((data / "bpe" / name).read_bytes())
    (broken / "bpe" / "encoder.json").write_text('{"!": 0,', encoding="utf-8")
    out = tmp_path / "pretrained.pt"
    error = _refused(["--data", str(broken), "--out", str(out), "--updates", "5", "--no-progress"], capsys)
    assert f"{broken / 'bpe' / 'encoder.json'}: not valid JSON" in error
    assert "Traceback" not in error and not out.exists()


def test_images_without_one_patch_per_grid_cell_are_refused_naming_the_size(data, tmp_path):
    """64-pixel images give the demo ResNet (stride 16) a 4x4 patch grid for the scenes' 3x3
    cells: refused before the first update, naming the --image-size that fits."""
    out = tmp_path / "pretrained.pt"
    with pytest.raises(ValueError, match=r"^the images give 16 patches, not one per grid cell \(9\): "
                                         r"use --image-size 48$"):
        pretrain(str(data), str(out), updates=1, image_size=64, scenes=2, batch_size=2, progress=False)
    assert list(tmp_path.iterdir()) == []


def _hand_scene():
    rng = random.Random(0)
    return Scene((), "white", (240, 240, 240), 0.0).with_objects(
        [make_object(rng, "triangle", "green", "big", 0, 1), make_object(rng, "square", "orange", "small", 2, 2)],
        hidden=[(2, 0)])


def test_cell_targets_say_what_each_cell_holds_and_where_it_is():
    """Per cell in reading order: content (0 empty, 1 object, 2 hidden), the visible object's colour,
    shape and size (ignored elsewhere), its column and its row."""
    targets = cell_targets(_hand_scene())
    x = IGNORE
    assert targets.tolist() == [
        [0, x, x, x, 0, 0], [0, x, x, x, 1, 0], [2, x, x, x, 2, 0],
        [1, 1, 2, 1, 0, 1],  # green (1) triangle (2), big (1), left column, middle row
        [0, x, x, x, 1, 1], [0, x, x, x, 2, 1],
        [0, x, x, x, 0, 2], [0, x, x, x, 1, 2],
        [1, 5, 1, 0, 2, 2],  # orange (5) square (1), small (0), right column, bottom row
    ]
    assert list(ATTRIBUTES) == ["content", "colour", "shape", "size", "column", "row"]


def test_held_out_accuracy_counts_only_the_cells_an_attribute_is_defined_for(monkeypatch):
    """An attribute's accuracy is over the cells that have it (colour, shape and size: the two
    visible objects' cells), and the model is left in the mode it was in."""
    targets = cell_targets(_hand_scene())[None]
    logits = [F.one_hot(targets[..., j].clamp(min=0), len(values)).float()
              for j, values in enumerate(ATTRIBUTES.values())]
    logits[1][0, 8] = F.one_hot(torch.tensor(0), len(ATTRIBUTES["colour"])).float()  # orange read as red
    monkeypatch.setattr(pretrain_module, "cell_logits", lambda model, heads, images: logits)
    model = torch.nn.Linear(1, 1)
    assert accuracies(model, None, None, targets) == {"content": 1.0, "colour": 0.5, "shape": 1.0, "size": 1.0,
                                                       "column": 1.0, "row": 1.0}
    assert model.training


def test_scenes_repeat_with_the_seed_and_held_out_scenes_are_other_scenes():
    """make_scenes is a function of (seed, name): the same arguments give the same images and targets,
    and the held-out ("test") scenes, or another seed's, are none of the training scenes."""
    images, targets = make_scenes(4, 1, 48, "train")
    assert images.shape == (4, 3, 48, 48) and targets.shape == (4, 9, 6)
    again = make_scenes(4, 1, 48, "train")
    assert torch.equal(images, again[0]) and torch.equal(targets, again[1])
    for other in (make_scenes(4, 1, 48, "test")[0], make_scenes(4, 2, 48, "train")[0]):
        assert not any(torch.equal(a, b) for a in images for b in other)


def test_the_warm_start_trains_the_image_embedding_and_nothing_else(data):
    """What pretrain optimises: the ResNet, image_proj, the patch layer norm, the image positions and
    the type embedding, every parameter of them and none of the text side, encoder layers or decoder."""
    vocab = OFAVocabulary.load(str(data / "bpe"), code_dict_size=0, num_bins=0)
    model = build_model("ofa_demo", vocab.dictionary, decompose_modalities=True)
    parts = ("encoder.embed_images.", "encoder.image_proj.", "encoder.patch_layernorm_embedding.",
             "encoder.embed_image_positions.", "encoder.type_embedding.")
    expected = {name for name, _ in model.named_parameters() if name.startswith(parts)}
    assert {prefix for prefix in parts if any(name.startswith(prefix) for name in expected)} == set(parts)
    names = {id(p): name for name, p in model.named_parameters()}
    trained = [names[id(p)] for p in image_parameters(model)]
    assert len(trained) == len(set(trained)) and set(trained) == expected
