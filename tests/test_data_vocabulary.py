"""OFA's shipped vocabulary files: checksums, ids as in OFA, missing-file errors."""
import hashlib
import shutil

import pytest
import torch

from ofa_mue.data.vocabulary import (
    DICT_TXT,
    ENCODER_JSON,
    VOCAB_BPE,
    OFAVocabulary,
    default_bpe_dir,
    load_gpt2_bpe,
    load_ofa_dictionary,
)
from ofa_mue.errors import DataError

# Published checksums (OpenAI's GPT-2 files; OFA's dict.txt), see resources/ofa_bpe/README.md.
EXPECTED_SHA256 = {
    ENCODER_JSON: "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    VOCAB_BPE: "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    DICT_TXT: "2c31c5b236661067fe8626775eb995ef5fe808ac87d2ad4a6ddbef68550f5cc6",
}


def test_shipped_files_match_their_checksums():
    folder = default_bpe_dir()
    listed = dict(reversed(line.split()) for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert listed == EXPECTED_SHA256
    for name, digest in EXPECTED_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    readme = (folder / "README.md").read_text()
    assert "Apache-2.0" in readme and "MIT" in readme  # license notes kept


@pytest.mark.parametrize(
    "text, ids",
    [(" yes", [4420]), (" no", [117]), (" maybe", [2085]), (" what does the image describe?", [99, 473, 5, 2274, 6190, 116])],
)
def test_ids_match_ofa(ofa_vocab, text, ids):
    assert ofa_vocab.encode(text).tolist() == ids
    assert ofa_vocab.decode(ofa_vocab.encode(text)) == text


def test_dictionary_layout(ofa_vocab):
    dictionary = ofa_vocab.dictionary
    assert len(dictionary) == 59457
    assert [dictionary.bos(), dictionary.pad(), dictionary.eos(), dictionary.unk()] == [0, 1, 2, 3]
    assert dictionary.index("<mask>") == 50264
    assert dictionary.index("<code_0>") == 50265 and dictionary.index("<code_8191>") == 58456
    assert dictionary.index("<bin_0>") == 58457 and dictionary.index("<bin_999>") == 59456


def test_encode_with_bos_eos_and_decode_ignores_specials(ofa_vocab):
    tokens = ofa_vocab.encode(" two dogs play.", add_bos=True, add_eos=True)
    assert tokens[0].item() == 0 and tokens[-1].item() == 2
    padded = tokens.tolist() + [ofa_vocab.dictionary.pad()] * 3
    assert ofa_vocab.decode(tokens.new_tensor(padded)) == " two dogs play."


def test_smaller_code_and_bin_tables():
    assert len(load_ofa_dictionary(code_dict_size=10, num_bins=5)) == 50265 + 10 + 5


@pytest.mark.parametrize("missing", [ENCODER_JSON, VOCAB_BPE, DICT_TXT])
def test_missing_bpe_file_is_named(tmp_path, missing):
    for name in (ENCODER_JSON, VOCAB_BPE, DICT_TXT):
        if name != missing:
            shutil.copy(default_bpe_dir() / name, tmp_path / name)
    with pytest.raises(DataError, match="--bpe-dir must hold") as info:
        OFAVocabulary.load(tmp_path)
    assert info.value.path == str(tmp_path / missing)


def test_malformed_files_are_data_errors(tmp_path):
    (tmp_path / ENCODER_JSON).write_text("{not json")
    (tmp_path / VOCAB_BPE).write_text("#version: 0.2\n")
    (tmp_path / DICT_TXT).write_text("onlyonefield\n")
    with pytest.raises(DataError, match="not valid JSON") as info:
        load_gpt2_bpe(tmp_path)
    assert info.value.path == str(tmp_path / ENCODER_JSON)
    with pytest.raises(DataError, match="not a fairseq dictionary") as info:
        load_ofa_dictionary(tmp_path)
    assert info.value.path == str(tmp_path / DICT_TXT)


def test_decode_joins_code_bin_and_unk_symbols_to_the_word_before_as_ofa(ofa_vocab):
    # OFA's GPT2BPE.decode passes every piece that starts with "<" through as written
    d = ofa_vocab.dictionary
    tokens = torch.cat([ofa_vocab.encode(" a dog"), torch.tensor([d.index("<code_5>"), d.index("<bin_7>")]),
                        ofa_vocab.encode(" runs")])
    assert ofa_vocab.decode(tokens) == " a dog<code_5><bin_7> runs"
    # OFA's decode_fn appends a piece without a leading space to the word before: "dog<unk>"
    tokens = torch.cat([ofa_vocab.encode(" a dog"), torch.tensor([d.unk()]), ofa_vocab.encode(" runs")])
    assert ofa_vocab.decode(tokens) == " a dog<unk> runs"


def test_the_tasks_bpe_decodes_symbol_pieces_as_ofas_fairseq_does(ofa_vocab):
    """fairseq-generate decodes its hypotheses with the task's BPE: a caption holding <code_i> or
    <bin_i> is written as OFA's fork of fairseq writes it (every piece starting with "<" as it is),
    where fairseq's own GPT-2 decoder fails on it."""
    from fairseq.data.encoders.gpt2_bpe import GPT2BPE

    pieces = f"{ofa_vocab.bpe.encode(' a dog')} <code_5> <bin_7> <unk> {ofa_vocab.bpe.encode(' runs')} <mask>"
    assert ofa_vocab.bpe.decode(pieces) == " a dog<code_5><bin_7><unk> runs<mask>"
    with pytest.raises(ValueError):
        GPT2BPE.decode(ofa_vocab.bpe, pieces)


def test_decode_joins_mask_to_the_word_before_as_ofa(ofa_vocab):
    # fairseq's GPT-2 decoder passes "<mask>" through as written, without a leading space
    d = ofa_vocab.dictionary
    tokens = torch.cat([ofa_vocab.encode(" a dog"), torch.tensor([d.index("<mask>")]), ofa_vocab.encode(" runs")])
    assert ofa_vocab.decode(tokens) == " a dog<mask> runs"
