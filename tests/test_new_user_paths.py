"""What a new user reaches for first: ``predict`` on a folder of their own pictures."""
from __future__ import annotations

import argparse
import types
from io import BytesIO

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from ofa_mue import predict
from ofa_mue.core.time_reduction import ExampleLayers
from ofa_mue.data.caption_dataset import CaptionDataset
from ofa_mue.data.images import image_transform
from ofa_mue.data.snli_ve_dataset import SnliVeDataset
from ofa_mue.errors import ConfigError


def _picture(image_format: str, **options) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def test_a_folder_lists_the_pictures_pillow_opens_not_the_files_it_only_writes(tmp_path):
    """Pillow registers ``.pdf`` (and ``.palm``) for writing only: a PDF beside the photos of a
    folder was listed as a picture, and the whole run stopped on it ("not a readable image").
    A multi-picture JPEG (``.mpo``), which Pillow opens through its JPEG plugin, stays listed."""
    folder = tmp_path / "holiday"
    folder.mkdir()
    (folder / "beach.jpg").write_bytes(_picture("JPEG"))
    (folder / "stereo.mpo").write_bytes(_picture("MPO", save_all=True, append_images=[Image.new("RGB", (8, 8))]))
    (folder / "tickets.pdf").write_bytes(_picture("PDF"))
    (folder / "icon.palm").write_bytes(b"\0" * 16)
    assert predict.image_files([str(folder)]) == [folder / "beach.jpg", folder / "stereo.mpo"]
    for name in ("beach.jpg", "stereo.mpo"):
        predict.read_picture(folder / name)  # both open


def test_the_files_a_folder_leaves_out_are_named_in_a_warning(tmp_path, caplog):
    """A phone's ``.heic`` photos (no Pillow reader) are not captioned: the run says which files it
    left out instead of skipping them silently."""
    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(_picture("JPEG"))
    (folder / "IMG_0001.HEIC").write_bytes(b"\0" * 16)
    (folder / "notes.txt").write_text("not a picture")
    with caplog.at_level("WARNING", logger=predict.logger.name):
        assert predict.image_files([str(folder)]) == [folder / "a.jpg"]
    assert "2 file(s) without the extension of an image format Pillow opens are left out: IMG_0001.HEIC, notes.txt" \
        in caplog.text


# predict's own steps on a user's pictures, without a checkpoint: the rows it writes, the task
# dataset it reads them with, the options it refuses and the lines it prints.

PATCH = 16


class _DatasetTask:
    """What Predictor asks of a checkpoint's task: its cfg (with the checkpoint's selected_cols,
    which predict's own rows must override), build_dataset (as the task's own) and a generator."""

    def __init__(self, name: str, vocab, add_caption: bool = True):
        self.cfg = OmegaConf.create({"_name": name, "selected_cols": "0,4,2", "add_caption": add_caption})
        self.vocab = vocab

    def build_dataset(self, split, path):
        if self.cfg._name == "caption":
            return CaptionDataset(split, path, self.vocab, selected_cols=self.cfg.selected_cols,
                                  patch_image_size=PATCH)
        return SnliVeDataset(split, path, self.vocab, selected_cols=self.cfg.selected_cols, patch_image_size=PATCH,
                             add_caption=self.cfg.add_caption)

    def build_generator(self, models, args):
        return types.SimpleNamespace(policy=None)


def _pictures(folder, colours):
    folder.mkdir()
    files = []
    for index, colour in enumerate(colours):
        path = folder / f"p{index}.png"
        Image.new("RGB", (10 + index, 7), colour).save(path)
        files.append(path)
    return files


def _dataset_of_inputs(tmp_path, task, files, hypothesis=None, premise=None):
    tsv = tmp_path / "inputs.tsv"
    predict.write_inputs(str(tsv), task.cfg._name, files, hypothesis, premise)
    return predict.Predictor(task, [], {}, use_cuda=False).dataset(str(tsv))


def test_predict_gives_the_snli_ve_prompt_the_premise_and_hypothesis_and_each_row_its_own_picture(tmp_path,
                                                                                                    ofa_vocab):
    """The TSV predict writes, read with the checkpoint task's dataset as predict reads it: OFA's
    prompt holds the premise as text1 and the hypothesis as text2, and row i the i-th picture,
    resized (bicubic) and normalised as the task's transform does."""
    files = _pictures(tmp_path / "pictures", [(250, 10, 10), (10, 250, 10), (10, 10, 250)])
    dataset = _dataset_of_inputs(tmp_path, _DatasetTask("snli_ve", ofa_vocab), files,
                                 hypothesis="a person rests", premise="a man sleeps on a bench")
    assert len(dataset) == 3
    expected = ofa_vocab.encode(' can image and text1 " a man sleeps on a bench " imply text2 " a person rests "?',
                                add_bos=True, add_eos=True)
    transform = image_transform(PATCH)
    for index, file in enumerate(files):
        sample = dataset[index]
        assert torch.equal(sample["source"], expected)
        with Image.open(file) as image:
            assert torch.equal(sample["patch_image"], transform(image.convert("RGB")))
    no_premise = _dataset_of_inputs(tmp_path, _DatasetTask("snli_ve", ofa_vocab, add_caption=False), files[:1],
                                    hypothesis="a person rests")
    assert ofa_vocab.decode(no_premise[0]["source"]) == ' does the image describe " a person rests "?'


def test_predict_gives_the_caption_prompt_and_each_row_its_own_picture(tmp_path, ofa_vocab):
    files = _pictures(tmp_path / "pictures", [(250, 10, 10), (10, 250, 10)])
    dataset = _dataset_of_inputs(tmp_path, _DatasetTask("caption", ofa_vocab), files)
    prompt = ofa_vocab.encode(" what does the image describe?", add_bos=True, add_eos=True)
    transform = image_transform(PATCH)
    assert len(dataset) == 2
    for index, file in enumerate(files):
        assert torch.equal(dataset[index]["source"], prompt)
        with Image.open(file) as image:
            assert torch.equal(dataset[index]["patch_image"], transform(image.convert("RGB")))


def _task_of(name, add_caption=False):
    return types.SimpleNamespace(cfg=types.SimpleNamespace(_name=name, add_caption=add_caption))


def _args(**options):
    values = {"path": "model.pt", "hypothesis": None, "premise": None, "beam": None, "max_len_b": None,
              "no_repeat_ngram_size": None, **options}
    return argparse.Namespace(**values)


@pytest.mark.parametrize("name, add_caption, options, message", [
    ("caption", False, {"premise": "a dog"}, "--premise is for SNLI-VE checkpoints"),
    ("caption", False, {"hypothesis": "a dog"}, "--hypothesis is for SNLI-VE checkpoints"),
    ("snli_ve", False, {"hypothesis": "a dog", "premise": "a dog runs"}, "without a premise in its prompt"),
    ("snli_ve", True, {"hypothesis": "a dog"}, "pass --premise"),
    ("snli_ve", False, {"hypothesis": "a dog", "max_len_b": 5}, "--max-len-b is for caption checkpoints"),
], ids=["premise-to-caption", "hypothesis-to-caption", "premise-without-caption-prompt", "no-premise",
        "max-len-b-to-snli-ve"])
def test_predict_refuses_text_the_checkpoints_prompt_would_leave_out(name, add_caption, options, message):
    """A --premise the checkpoint's prompt has no place for would be dropped silently: refused."""
    with pytest.raises(ConfigError, match=message):
        predict.check_task_inputs(_args(**options), _task_of(name, add_caption))
    predict.check_task_inputs(_args(hypothesis="a dog", premise="a dog runs"), _task_of("snli_ve", True))
    predict.check_task_inputs(_args(), _task_of("caption"))


def test_predict_layer_lines_name_each_stream_and_the_reduction():
    """6 encoder and 4 decoder layers: image 3/6 and text 6/6 layers over 10 tokens each (mean
    4.5/6), decoder 8 layers over 4 tokens (2/4): time share (0.75 + 0.5) / 2, reduction 0.375."""
    example = ExampleLayers(image_layers=3, image_tokens=10, text_layers=6, text_tokens=10, decoder_layer_sum=8,
                            decoder_tokens=4)
    model = types.SimpleNamespace(encoder=types.SimpleNamespace(num_layers=6),
                                  decoder=types.SimpleNamespace(num_layers=4))
    layers = predict.layer_summary(example, model)
    assert layers == {"image_layers": 3, "text_layers": 6, "decoder_layers": 2.0, "encoder_depth": 6,
                      "decoder_depth": 4, "expected_time_reduction": 0.375}
    text = predict.format_prediction(predict.Prediction(image="a.png", output="a dog", full_model="two dogs",
                                                        layers=layers, tokens=[("a", 1), ("dog", 3), ("</s>", 2)]))
    assert text.splitlines() == [
        "a.png: a dog",
        "  full model: two dogs",
        "  layers: image 3/6, text 6/6, decoder 2/4 per token; expected time reduction 37.5%",
        "  tokens: a(1) dog(3) </s>(2)",
    ]


def test_predict_flags_of_task_switches_turn_them_on():
    """fairseq's switches (default off or unset) are turned on by their flag, and stay unset (the
    checkpoint's) without it."""
    parser = predict.build_parser()
    base = ["--path", "model.pt", "--image", "a.png"]
    given = parser.parse_args(base + ["--imagenet-default-mean-and-std", "--exit-verify"])
    assert (given.imagenet_default_mean_and_std, given.exit_verify) == (True, True)
    absent = parser.parse_args(base)
    assert (absent.imagenet_default_mean_and_std, absent.exit_verify) == (None, None)


def test_predict_batches_cover_every_picture_once_in_order():
    assert list(predict.batches(5, 2)) == [[0, 1], [2, 3], [4]]
    assert list(predict.batches(4, 2)) == [[0, 1], [2, 3]]
    assert list(predict.batches(1, 8)) == [[0]]
