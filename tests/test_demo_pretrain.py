"""The demo's vision warm start (ofa_mue.demo.pretrain): what it refuses, before any work, and
how it tells the user (a usage error naming the option or file to fix, no traceback, and no
checkpoint or accuracy file written)."""
from __future__ import annotations

import pytest

from ofa_mue.demo.bpe import build_bpe
from ofa_mue.demo.generate import ANSWERS, CAPTION_PROMPT, SNLI_PROMPT
from ofa_mue.demo.pretrain import main, pretrain


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
