"""CaptionDataset: OFA's prompt, targets, references, batches and errors."""
import numpy as np
import pytest
import torch

from ofa_mue.data.caption_dataset import CaptionDataset
from ofa_mue.data.images import decode_image, image_transform
from ofa_mue.errors import DataError

BOS, PAD, EOS = 0, 1, 2
PROMPT_IDS = [99, 473, 5, 2274, 6190, 116]


@pytest.fixture
def caption_rows(image_b64):
    return [
        ["u0", "391895", "A man, riding a horse!&&A person on a horse.", "person,horse", image_b64()],
        ["u1", "522418", "a woman cutting a large white sheet cake", "person,cake", image_b64(3, 11)],
    ]


def make(write_tsv, vocab, rows, split="valid", **kwargs):
    return CaptionDataset(split, write_tsv(rows), vocab, patch_image_size=16, **kwargs)


def test_sample_layout(write_tsv, ofa_vocab, caption_rows):
    sample = make(write_tsv, ofa_vocab, caption_rows)[0]
    assert sample["source"].tolist() == [BOS, *PROMPT_IDS, EOS]
    assert sample["references"] == ["A man riding a horse", "A person on a horse"]
    assert sample["raw_references"] == ["A man, riding a horse!", "A person on a horse."]
    caption = ofa_vocab.encode(" A man riding a horse").tolist()
    assert sample["target"].tolist() == caption + [EOS]
    assert sample["prev_output_tokens"].tolist() == [BOS] + caption
    assert sample["uniq_id"] == "u0" and sample["patch_image"].shape == (3, 16, 16)


def test_selected_cols_choose_the_id_column(write_tsv, ofa_vocab, caption_rows):
    assert make(write_tsv, ofa_vocab, caption_rows, selected_cols="1,4,2")[1]["uniq_id"] == "522418"


def test_training_targets_are_cut_to_max_tgt_length(write_tsv, ofa_vocab, caption_rows):
    train = make(write_tsv, ofa_vocab, caption_rows, split="train", max_tgt_length=3)[1]
    assert ofa_vocab.decode(train["target"]) == " a woman cutting"
    assert train["references"] == ["a woman cutting a large white sheet cake"]
    evaluation = make(write_tsv, ofa_vocab, caption_rows, max_tgt_length=3)[1]
    assert ofa_vocab.decode(evaluation["target"]) == " a woman cutting a large white sheet cake"
    scst = make(write_tsv, ofa_vocab, caption_rows, split="train", max_tgt_length=3, scst=True)[1]
    assert torch.equal(scst["target"], evaluation["target"])


def test_collater_pads_right_and_keeps_references(write_tsv, ofa_vocab, caption_rows):
    dataset = make(write_tsv, ofa_vocab, caption_rows)
    samples = [dataset[0], dataset[1]]
    batch = dataset.collater(samples)
    net = batch["net_input"]
    assert set(batch) == {"id", "uniq_ids", "nsentences", "ntokens", "net_input", "target", "references",
                          "raw_references", "split"}
    assert set(net) == {"src_tokens", "src_lengths", "patch_images", "patch_masks", "prev_output_tokens"}
    assert net["src_tokens"].shape == (2, 8) and net["src_lengths"].tolist() == [8, 8]
    assert net["patch_images"].shape == (2, 3, 16, 16) and net["patch_masks"].dtype == torch.bool
    lengths = [len(s["target"]) for s in samples]
    assert batch["target"].shape == net["prev_output_tokens"].shape == (2, max(lengths))
    short = lengths.index(min(lengths))
    assert batch["target"][short, min(lengths):].eq(PAD).all()
    assert batch["target"][short, min(lengths) - 1] == EOS
    assert net["prev_output_tokens"][:, 0].tolist() == [BOS, BOS]
    assert batch["ntokens"] == sum(lengths)
    assert batch["references"][0] == ["A man riding a horse", "A person on a horse"]
    assert batch["raw_references"][0] == ["A man, riding a horse!", "A person on a horse."]
    assert batch["split"] == "valid"


def test_batch_ids_follow_the_samples_not_their_position(write_tsv, ofa_vocab, caption_rows):
    """``id`` holds each sample's dataset index, whatever order the samples are batched in:
    fairseq matches outputs back to rows by it."""
    dataset = make(write_tsv, ofa_vocab, caption_rows)
    batch = dataset.collater([dataset[1], dataset[0]])
    assert batch["id"].tolist() == [1, 0] and batch["uniq_ids"] == ["u1", "u0"]


def test_raw_references_keep_punctuation_and_normalise_whitespace(write_tsv, ofa_vocab, caption_rows):
    caption_rows[1][2] = "  A man's  T-shirt. &&  a   dog "
    dataset = make(write_tsv, ofa_vocab, caption_rows)
    assert dataset[1]["raw_references"] == ["A man's T-shirt.", "a dog"]
    assert dataset[1]["references"] == ["A mans Tshirt", "a dog"]
    assert list(dataset.all_references()) == [dataset[0]["references"], dataset[1]["references"]]


@pytest.mark.parametrize("caption, which", [("", "the caption"), ("a dog&&?!", "reference 2 of 2")])
def test_empty_caption(write_tsv, ofa_vocab, caption_rows, caption, which):
    caption_rows[1][2] = caption
    dataset = make(write_tsv, ofa_vocab, caption_rows)
    with pytest.raises(DataError, match=which) as info:
        dataset[1]
    assert (info.value.path, info.value.row, info.value.field) == (dataset.reader.path, 2, "caption")


def test_imagenet_default_mean_and_std_reaches_the_image_transform(write_tsv, ofa_vocab, caption_rows):
    """OFA's ``imagenet_default_mean_and_std`` changes how the dataset normalises its patch images."""
    dataset = make(write_tsv, ofa_vocab, caption_rows, imagenet_default_mean_and_std=True)
    image = decode_image(caption_rows[0][4], dataset.reader.path, 1)
    assert torch.equal(dataset[0]["patch_image"], image_transform(16, True)(image))
    assert not torch.equal(dataset[0]["patch_image"], image_transform(16, False)(image))


def test_empty_reference_found_by_all_references_names_its_row(write_tsv, ofa_vocab, caption_rows):
    caption_rows[1][2] = "?!"
    with pytest.raises(DataError, match="the caption is empty") as info:
        list(make(write_tsv, ofa_vocab, caption_rows).all_references())
    assert (info.value.row, info.value.field) == (2, "caption")


def test_corrupt_image_names_row(write_tsv, ofa_vocab, caption_rows):
    caption_rows[1][4] = "%%%%"
    with pytest.raises(DataError, match="field 'image'") as info:
        make(write_tsv, ofa_vocab, caption_rows)[1]
    assert info.value.row == 2


def test_training_rows_are_reshuffled_each_epoch_and_evaluation_rows_keep_file_order(write_tsv, ofa_vocab,
                                                                                      caption_rows):
    rows = [list(caption_rows[i % 2]) for i in range(20)]
    evaluation = make(write_tsv, ofa_vocab, rows)
    assert evaluation.ordered_indices().tolist() == list(range(20))
    assert evaluation.can_reuse_epoch_itr_across_epochs
    train = make(write_tsv, ofa_vocab, rows, split="train")
    # fairseq seeds numpy with seed + epoch before asking for the order of an epoch's rows
    np.random.seed(1)
    first = train.ordered_indices().tolist()
    np.random.seed(2)
    second = train.ordered_indices().tolist()
    assert sorted(first) == sorted(second) == list(range(20))
    assert first != list(range(20)) and second != first
    # and fairseq must not keep the first epoch's batches for the later ones
    assert not train.can_reuse_epoch_itr_across_epochs


def test_batches_are_consecutive_runs_of_batch_size_rows(write_tsv, ofa_vocab, caption_rows):
    dataset = make(write_tsv, ofa_vocab, caption_rows)
    indices = np.arange(7)
    assert [b.tolist() for b in dataset.batch_by_size(indices, max_sentences=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError, match="pass --batch-size"):
        dataset.batch_by_size(indices, max_tokens=100)


def test_an_empty_batch_collates_to_nothing(write_tsv, ofa_vocab, caption_rows):
    """fairseq skips an empty sample dict; one with only references would reach the model."""
    assert make(write_tsv, ofa_vocab, caption_rows).collater([]) == {}
