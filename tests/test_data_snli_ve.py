"""SnliVeDataset: OFA's prompt, decoder layouts, constraint masks, batches and errors."""
import pytest
import torch

from ofa_mue.data.snli_ve_dataset import (SnliVeDataset, answer_candidates, answer_trie, candidate_answer_masks,
                                          candidate_inputs)
from ofa_mue.errors import DataError

BOS, PAD, EOS = 0, 1, 2
YES, NO, MAYBE = 4420, 117, 2085
VOCAB_SIZE = 59457


@pytest.fixture
def snli_rows(image_b64):
    return [
        ["u0", "img0", image_b64(), "Two dogs play.", "A photo-of dogs/cats", "entailment"],
        ["u1", "img1", image_b64(5, 9), "a cat", "a man sleeps", "contradiction"],
        ["u2", "img2", image_b64(), "someone is outside", "people walk", "neutral"],
    ]


def make(write_tsv, vocab, rows, **kwargs):
    kwargs.setdefault("add_caption", True)  # OFA's recipes pass --add-caption
    return SnliVeDataset("valid", write_tsv(rows), vocab, patch_image_size=16, **kwargs)


def test_source_prompt_matches_ofa(write_tsv, ofa_vocab, snli_rows):
    sample = make(write_tsv, ofa_vocab, snli_rows)[0]
    expected = ofa_vocab.encode(
        ' can image and text1 " a photo of dogs cats " imply text2 " two dogs play. "?', add_bos=True, add_eos=True
    )
    assert torch.equal(sample["source"], expected)
    assert sample["uniq_id"] == "u0" and sample["id"] == 0 and sample["answer"] == "yes"
    assert sample["patch_image"].shape == (3, 16, 16) and sample["patch_mask"].tolist() == [True]
    no_caption = make(write_tsv, ofa_vocab, snli_rows, add_caption=False)[0]["source"]
    assert ofa_vocab.decode(no_caption) == ' does the image describe " two dogs play. "?'


def test_words_are_cut_to_max_src_length(write_tsv, ofa_vocab, snli_rows):
    source = make(write_tsv, ofa_vocab, snli_rows, max_src_length=2)[0]["source"]
    assert ofa_vocab.decode(source) == ' can image and text1 " a photo " imply text2 " two dogs "?'


def test_prev_output_layout(write_tsv, ofa_vocab, snli_rows):
    sample = make(write_tsv, ofa_vocab, snli_rows)[1]
    source = sample["source"]
    assert torch.equal(sample["decoder_prompt"], source[:-1])
    assert sample["prev_output_tokens"].tolist() == source[:-1].tolist() + [NO]
    assert sample["target"].tolist() == [PAD] * (len(source) - 2) + [NO, EOS]
    mask = sample["constraint_mask"]
    assert mask.shape == (len(source), VOCAB_SIZE)
    assert not mask[: len(source) - 2].any()
    assert mask[-2].nonzero().flatten().tolist() == sorted([YES, NO, MAYBE])
    assert mask[-1].nonzero().flatten().tolist() == [EOS]


@pytest.mark.parametrize("prompt_type, prompt_length", [("none", lambda n: 1), ("src", lambda n: n)])
def test_other_prompt_types(write_tsv, ofa_vocab, snli_rows, prompt_type, prompt_length):
    sample = make(write_tsv, ofa_vocab, snli_rows, prompt_type=prompt_type, constraint_masks=False)[2]
    length = prompt_length(len(sample["source"]))
    assert sample["prev_output_tokens"].tolist() == sample["source"][:length].tolist() + [MAYBE]
    assert sample["target"].tolist() == [PAD] * (length - 1) + [MAYBE, EOS]
    assert "constraint_mask" not in sample
    with pytest.raises(ValueError):
        make(write_tsv, ofa_vocab, snli_rows, prompt_type="bogus")


def test_collater_batch(write_tsv, ofa_vocab, snli_rows):
    dataset = make(write_tsv, ofa_vocab, snli_rows)
    samples = [dataset[i] for i in range(3)]
    batch = dataset.collater(samples)
    net = batch["net_input"]
    lengths = [len(s["source"]) for s in samples]
    assert batch["id"].tolist() == [0, 1, 2] and batch["uniq_ids"] == ["u0", "u1", "u2"]
    assert batch["nsentences"] == 3 and batch["ntokens"] == 6  # answer + eos per sample
    assert net["src_tokens"].shape == (3, max(lengths)) and net["src_lengths"].tolist() == lengths
    for row, length in zip(net["src_tokens"], lengths):  # right padding
        assert row[length:].eq(PAD).all() and row[length - 1] == EOS
    assert net["patch_images"].shape == (3, 3, 16, 16) and net["patch_masks"].tolist() == [True] * 3
    assert net["prev_output_tokens"].shape == batch["target"].shape
    assert batch["constraint_masks"].shape == (*batch["target"].shape, VOCAB_SIZE)
    assert batch["answers"] == ["yes", "no", "maybe"]
    assert batch["split"] == "valid"
    assert [p.tolist() for p in batch["decoder_prompts"]] == [s["source"][:-1].tolist() for s in samples]
    assert dataset.collater([]) == {}


def test_collater_without_constraint_masks(write_tsv, ofa_vocab, snli_rows):
    """A dataset built without constraint masks (OFA's --constraint-range unset) still collates its
    batches, with everything but the masks."""
    dataset = make(write_tsv, ofa_vocab, snli_rows, constraint_masks=False)
    batch = dataset.collater([dataset[i] for i in range(3)])
    assert "constraint_masks" not in batch
    assert batch["answers"] == ["yes", "no", "maybe"] and batch["split"] == "valid"
    assert batch["target"].shape == batch["net_input"]["prev_output_tokens"].shape


def test_collated_constraint_masks_allow_nothing_at_padding(write_tsv, ofa_vocab, snli_rows):
    """Samples with shorter targets are padded with mask rows that allow no token."""
    dataset = make(write_tsv, ofa_vocab, snli_rows)
    samples = [dataset[i] for i in range(3)]
    masks = dataset.collater(samples)["constraint_masks"]
    lengths = [len(s["target"]) for s in samples]
    assert min(lengths) < max(lengths)
    for mask, sample, length in zip(masks, samples, lengths):
        assert torch.equal(mask[:length], sample["constraint_mask"])
        assert not mask[length:].any()


def test_answer_candidates_keep_ofa_order(ofa_vocab):
    """Candidates come in OFA's ans2label order (no, yes, maybe): scores are indexed by it and an
    exact tie goes to the first, as in OFA."""
    candidates = answer_candidates(ofa_vocab)
    assert [answer for answer, _ in candidates] == ["no", "yes", "maybe"]
    assert [tokens.tolist() for _, tokens in candidates] == [[NO], [YES], [MAYBE]]


def test_candidate_inputs_score_each_answer(ofa_vocab):
    prompts = [torch.tensor([BOS, 10, 11]), torch.tensor([BOS, 12])]
    candidates = [torch.tensor([NO]), torch.tensor([YES]), torch.tensor([MAYBE])]
    masks = candidate_answer_masks(answer_trie(ofa_vocab), candidates, VOCAB_SIZE)
    inputs = candidate_inputs(prompts, candidates, masks, PAD, EOS)
    assert inputs["prev_output_tokens"].tolist()[1] == [BOS, 10, 11, YES]
    assert inputs["prev_output_tokens"].tolist()[5] == [BOS, 12, MAYBE, PAD]
    assert inputs["target"].tolist()[0] == [PAD, PAD, NO, EOS]
    assert inputs["target"].tolist()[4] == [PAD, YES, EOS, PAD]
    masks = inputs["constraint_masks"]
    assert masks.shape == (int(inputs["target"].ne(PAD).sum()), VOCAB_SIZE)  # one row per scored position
    row_4 = masks[8:10]  # rows 0..3 score 2 positions each: row 4 (prompt 2, "yes") starts at 8
    assert row_4[0, [NO, YES, MAYBE]].all() and row_4[0].sum() == 3
    assert row_4[1, EOS] and row_4[1].sum() == 1


def test_unknown_label(write_tsv, ofa_vocab, snli_rows):
    snli_rows[2][5] = "entailed"
    dataset = make(write_tsv, ofa_vocab, snli_rows)
    with pytest.raises(DataError, match="unknown label 'entailed'") as info:
        dataset[2]
    assert (info.value.path, info.value.row, info.value.field) == (dataset.reader.path, 3, "label")


@pytest.mark.parametrize("column, field", [(3, "hypothesis"), (4, "caption")])
def test_empty_text(write_tsv, ofa_vocab, snli_rows, column, field):
    snli_rows[1][column] = "   "
    with pytest.raises(DataError, match="empty") as info:
        make(write_tsv, ofa_vocab, snli_rows)[1]
    assert (info.value.row, info.value.field) == (2, field)


def test_bad_image_names_row(write_tsv, ofa_vocab, snli_rows):
    snli_rows[0][2] = "bm90IGFuIGltYWdl"  # "not an image"
    with pytest.raises(DataError, match="not a readable image") as info:
        make(write_tsv, ofa_vocab, snli_rows)[0]
    assert (info.value.row, info.value.field) == (1, "image")


def test_missing_column(write_tsv, ofa_vocab, snli_rows):
    snli_rows[1] = snli_rows[1][:5]
    with pytest.raises(DataError, match="missing column") as info:
        make(write_tsv, ofa_vocab, snli_rows)
    assert (info.value.row, info.value.field) == (2, "label")


def test_label_cells_with_surrounding_spaces_are_read(write_tsv, ofa_vocab, snli_rows):
    """A label cell padded with spaces (" neutral ", "entailment ") still names its answer
    instead of being refused as an unknown label."""
    snli_rows[0][5], snli_rows[2][5] = "entailment ", " neutral "
    dataset = make(write_tsv, ofa_vocab, snli_rows)
    assert [dataset[i]["answer"] for i in range(3)] == ["yes", "no", "maybe"]


def test_answer_trie_of_several_token_answers_allows_each_next_token_then_only_eos():
    """Answers of several tokens: after each prefix the trie allows the tokens that continue an
    answer, after a whole answer eos, and after a prefix that has left the tree only eos (OFA)."""
    from ofa_mue.data.constraints import AnswerTrie

    trie = AnswerTrie(BOS, EOS, [[5, 6], [5, 7], [8]])
    assert sorted(trie.allowed_next([BOS])) == [5, 8]
    assert sorted(trie.allowed_next([BOS, 5])) == [6, 7]
    assert trie.allowed_next([BOS, 5, 6]) == [EOS]
    assert trie.allowed_next([BOS, 8]) == [EOS]
    assert trie.allowed_next([BOS, 9]) == [EOS]
    assert trie.allowed_next([BOS, 5, 9, 6]) == [EOS]
    mask = trie.constraint_mask(torch.tensor([30, 31, 5, 7, EOS]), 2, 10)
    assert [row.nonzero().flatten().tolist() for row in mask] == [[], [], [5, 8], [6, 7], [EOS]]


@pytest.mark.parametrize("prompt_type", ["none", "src", "prev_output"])
def test_constraint_masks_follow_the_answer_after_every_prompt_type(write_tsv, ofa_vocab, snli_rows, prompt_type):
    """Whatever the decoder prompt, the trie's masks start at the answer: its position allows the
    three answers, the eos after it only eos, the prompt's positions nothing."""
    sample = make(write_tsv, ofa_vocab, snli_rows, prompt_type=prompt_type)[2]
    answer_at = len(sample["decoder_prompt"]) - 1
    mask = sample["constraint_mask"]
    assert mask.shape == (len(sample["target"]), VOCAB_SIZE) and sample["target"][answer_at] == MAYBE
    assert not mask[:answer_at].any()
    assert mask[answer_at].nonzero().flatten().tolist() == sorted([YES, NO, MAYBE])
    assert mask[answer_at + 1].nonzero().flatten().tolist() == [EOS]
