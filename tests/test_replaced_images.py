"""--replace-images: every row scored with another row's image, or with a blank one;
--replace-text: every SNLI-VE row scored with another row's hypothesis."""
from __future__ import annotations

import base64
import io

import pytest
import torch
from PIL import Image

from ofa_mue.data.caption_dataset import CaptionDataset
from ofa_mue.data.images import image_transform
from ofa_mue.data.snli_ve_dataset import SnliVeDataset
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.demo.generate import generate_demo_data
from ofa_mue.errors import ConfigError, DataError
from ofa_mue.replaced_images import ReplacedImages, replace_images
from ofa_mue.replaced_text import replace_text

ROWS = 7


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("replaced")
    generate_demo_data(out, seed=2, train=6, valid=3, test=ROWS, image_size=48)
    return out


def _rows(path):
    return [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8")]


def _image_tensor(b64: str, size: int = 48) -> torch.Tensor:
    return image_transform(size)(Image.open(io.BytesIO(base64.urlsafe_b64decode(b64))).convert("RGB"))


@pytest.mark.parametrize("task", ["snli_ve", "caption"])
def test_other_gives_each_row_a_different_rows_image_and_keeps_the_text(demo, task):
    vocab = OFAVocabulary.load(str(demo / "bpe"), 0, 0)
    path = demo / task / "test.tsv"
    dataset = (SnliVeDataset if task == "snli_ve" else CaptionDataset)("test", path, vocab, patch_image_size=48)
    image_column = 2 if task == "snli_ve" else 4
    images = [_image_tensor(row[image_column]) for row in _rows(path)]
    replaced = replace_images(dataset, "other")
    assert len(replaced) == len(dataset) == ROWS
    donors = set()
    for index in range(ROWS):
        sample, original = replaced[index], dataset[index]
        assert torch.equal(sample["source"], original["source"])
        assert torch.equal(sample["target"], original["target"])
        assert not torch.equal(sample["patch_image"], original["patch_image"])
        matches = [j for j, image in enumerate(images) if torch.equal(sample["patch_image"], image)]
        assert len(matches) == 1 and matches[0] != index
        assert matches[0] == (index + ROWS // 2) % ROWS  # half the split away (every demo image differs)
        donors.add(matches[0])
    assert len(donors) == ROWS  # a permutation: every image is used once
    batch = replaced.collater([replaced[i] for i in range(3)])
    assert batch["net_input"]["patch_images"].shape == (3, 3, 48, 48)


def test_blank_is_uniform_gray(demo):
    vocab = OFAVocabulary.load(str(demo / "bpe"), 0, 0)
    dataset = SnliVeDataset("test", demo / "snli_ve" / "test.tsv", vocab, patch_image_size=48)
    sample = replace_images(dataset, "blank")[3]
    assert torch.count_nonzero(sample["patch_image"]) == 0
    assert sample["answer"] == dataset[3]["answer"]
    assert replace_images(dataset, "none") is dataset


def test_other_skips_rows_with_the_same_image_and_refuses_a_single_image(tmp_path, demo):
    rows = _rows(demo / "snli_ve" / "test.tsv")
    same = [rows[0][:2] + [rows[0][2]] + row[3:] for row in rows[:4]] + [rows[5]]
    path = tmp_path / "test.tsv"
    path.write_text("".join("\t".join(r) + "\n" for r in same), encoding="utf-8")
    vocab = OFAVocabulary.load(str(demo / "bpe"), 0, 0)
    dataset = SnliVeDataset("test", path, vocab, patch_image_size=48)
    replaced = ReplacedImages(dataset, "other")
    assert all(replaced.donor(i) == 4 for i in range(4))  # the only row with another image
    assert replaced.donor(4) in range(4)
    path.write_text("".join("\t".join(r) + "\n" for r in same[:4]), encoding="utf-8")
    with pytest.raises(DataError, match="at least two different values of the image column"):
        ReplacedImages(SnliVeDataset("test", path, vocab, patch_image_size=48), "other")[0]
    with pytest.raises(ValueError):
        ReplacedImages(dataset, "shuffled")


def test_other_names_the_donor_rows_line_when_its_image_is_broken(tmp_path, demo):
    """A broken image met as another row's donor is reported at the donor's line, where the bad
    cell is, not at the line of the row being scored."""
    rows = _rows(demo / "snli_ve" / "test.tsv")[:5]
    rows[2][2] = base64.urlsafe_b64encode(b"not an image").decode()
    path = tmp_path / "test.tsv"
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    vocab = OFAVocabulary.load(str(demo / "bpe"), 0, 0)
    replaced = ReplacedImages(SnliVeDataset("test", path, vocab, patch_image_size=48), "other")
    assert replaced.donor(0) == 2  # half the split away: 0 + 5 // 2
    with pytest.raises(DataError, match=r", row 3, field 'image'"):
        replaced[0]


def test_replace_text_gives_each_row_another_rows_hypothesis_and_keeps_image_and_label(demo):
    vocab = OFAVocabulary.load(str(demo / "bpe"), 0, 0)
    path = demo / "snli_ve" / "test.tsv"
    rows = _rows(path)
    originals = [SnliVeDataset("test", path, vocab, patch_image_size=48)[i] for i in range(ROWS)]
    replaced = replace_text(SnliVeDataset("test", path, vocab, patch_image_size=48), "other")
    for index in range(ROWS):
        sample, donor = replaced[index], (index + ROWS // 2) % ROWS  # half the split away
        assert rows[donor][3] != rows[index][3]
        assert torch.equal(sample["source"], originals[donor]["source"])  # the donor's hypothesis
        assert torch.equal(sample["patch_image"], originals[index]["patch_image"])  # its own image
        assert sample["answer"] == originals[index]["answer"]  # and its own label
    dataset = SnliVeDataset("test", path, vocab, patch_image_size=48)
    assert replace_text(dataset, "none") is dataset
    assert torch.equal(dataset[0]["source"], originals[0]["source"])  # none keeps its own hypothesis
    captions = CaptionDataset("test", demo / "caption" / "test.tsv", vocab, patch_image_size=48)
    with pytest.raises(ConfigError, match="--replace-text applies to SNLI-VE's hypotheses"):
        replace_text(captions, "other")


def test_replace_text_skips_rows_with_the_same_hypothesis_whatever_their_images(tmp_path, demo):
    """The donor is the next row half the split away whose *hypothesis* differs: rows that share
    the hypothesis but not the image would give a row its own text back."""
    rows = _rows(demo / "snli_ve" / "test.tsv")
    same = [row[:3] + [rows[0][3]] + row[4:] for row in rows[:4]] + [rows[5]]
    assert len({row[2] for row in same}) == 5 and rows[5][3] != rows[0][3]  # five images, two hypotheses
    path = tmp_path / "test.tsv"
    path.write_text("".join("\t".join(r) + "\n" for r in same), encoding="utf-8")
    vocab = OFAVocabulary.load(str(demo / "bpe"), 0, 0)
    replaced = replace_text(SnliVeDataset("test", path, vocab, patch_image_size=48), "other")
    assert [replaced.reader.donor(i) for i in range(4)] == [4, 4, 4, 4]  # the only other hypothesis
    assert replaced.reader.donor(4) in range(4)


def test_replace_text_keeps_each_rows_own_premise(demo, tmp_path):
    """With the premise in the prompt (--add-caption, as OFA's recipe trains SNLI-VE), only the
    hypothesis is another row's: the premise describes the row's own image and stays. The
    expected sources come from a TSV written with each row's donor hypothesis in place."""
    vocab = OFAVocabulary.load(str(demo / "bpe"), 0, 0)
    path = demo / "snli_ve" / "test.tsv"
    rows = _rows(path)
    donors = [(index + ROWS // 2) % ROWS for index in range(ROWS)]  # half the split away
    assert any(rows[donor][4] != rows[index][4] for index, donor in enumerate(donors))  # premises that differ
    swapped = tmp_path / "test.tsv"
    swapped.write_text("".join("\t".join(row[:3] + [rows[donor][3]] + row[4:]) + "\n"
                               for row, donor in zip(rows, donors)), encoding="utf-8")
    expected = SnliVeDataset("test", swapped, vocab, patch_image_size=48, add_caption=True)
    replaced = replace_text(SnliVeDataset("test", path, vocab, patch_image_size=48, add_caption=True), "other")
    for index in range(ROWS):
        assert torch.equal(replaced[index]["source"], expected[index]["source"])
        assert replaced[index]["answer"] == expected[index]["answer"]


def test_evaluate_with_replaced_text_scores_every_row_and_says_so(demo_data, demo_checkpoints, tmp_path):
    from ofa_mue.evaluate import main

    summary = main([str(demo_data / "snli_ve"), "--path", str(demo_checkpoints["snli_ve"].path), "--task", "snli_ve",
                    "--gen-subset", "test", "--cpu", "--replace-text", "other", "--results-path", str(tmp_path)])
    assert summary["text"] == "other" and summary["images"] == "none"
    rows = len(_rows(demo_data / "snli_ve" / "test.tsv"))
    assert summary["examples"] == rows
    assert len((tmp_path / "test_predictions.jsonl").read_text().splitlines()) == rows
