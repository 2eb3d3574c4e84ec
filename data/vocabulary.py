"""OFA's vocabulary: GPT-2 BPE from local files and the extended fairseq dictionary.

Text becomes ids as in OFA: GPT-2 BPE -> GPT-2 ids written as strings -> indices in a
fairseq :class:`~fairseq.data.Dictionary` loaded from ``dict.txt``, to which OFA appends
``<mask>``, ``<code_0..>`` image codes and ``<bin_0..>`` location bins.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Optional, Union

import torch
from fairseq.data import Dictionary
from fairseq.data.encoders.gpt2_bpe import GPT2BPE, GPT2BPEConfig

from ofa_mue.errors import DataError

PathLike = Union[str, os.PathLike]

ENCODER_JSON = "encoder.json"
VOCAB_BPE = "vocab.bpe"
DICT_TXT = "dict.txt"
DEFAULT_CODE_DICT_SIZE = 8192
DEFAULT_NUM_BINS = 1000


def default_bpe_dir() -> Path:
    """The copy of OFA's ``encoder.json``, ``vocab.bpe`` and ``dict.txt`` shipped with ofa_mue."""
    return Path(str(resources.files("ofa_mue").joinpath("resources", "ofa_bpe")))


def bpe_file(bpe_dir: Optional[PathLike], name: str) -> Path:
    """Path of one vocabulary file in ``bpe_dir`` (default: the shipped copy); DataError if absent."""
    path = Path(bpe_dir if bpe_dir is not None else default_bpe_dir()) / name
    if not path.is_file():
        raise DataError(
            str(path),
            f"vocabulary file not found; --bpe-dir must hold {ENCODER_JSON}, {VOCAB_BPE} and {DICT_TXT}",
        )
    return path


class OFAGPT2BPE(GPT2BPE):
    """fairseq's GPT-2 BPE whose ``decode`` writes every symbol piece (``<unk>``, ``<mask>``,
    ``<code_i>``, ``<bin_i>``) as it is, as OFA's fork of fairseq does (fairseq's own passes
    ``<unk>`` and ``<mask>`` only, and fails on ``<code_5>``)."""

    def decode(self, x: str) -> str:
        return self.bpe.decode([int(piece) if piece.isdigit() else piece for piece in x.split()])


def load_gpt2_bpe(bpe_dir: Optional[PathLike] = None) -> OFAGPT2BPE:
    """The GPT-2 BPE (``encode``: text -> "id id ...", ``decode``: back, :class:`OFAGPT2BPE`) from local files."""
    encoder_json = bpe_file(bpe_dir, ENCODER_JSON)
    vocab_bpe = bpe_file(bpe_dir, VOCAB_BPE)
    try:
        return OFAGPT2BPE(GPT2BPEConfig(gpt2_encoder_json=str(encoder_json), gpt2_vocab_bpe=str(vocab_bpe)))
    except json.JSONDecodeError as error:
        raise DataError(str(encoder_json), f"not valid JSON ({error})") from None
    except UnicodeDecodeError as error:
        raise DataError(str(vocab_bpe), f"not valid UTF-8 ({error})") from None


def load_ofa_dictionary(
    bpe_dir: Optional[PathLike] = None,
    code_dict_size: int = DEFAULT_CODE_DICT_SIZE,
    num_bins: int = DEFAULT_NUM_BINS,
) -> Dictionary:
    """``dict.txt`` plus ``<mask>``, ``<code_i>`` and ``<bin_i>``: 59457 symbols with the defaults."""
    path = bpe_file(bpe_dir, DICT_TXT)
    try:
        dictionary = Dictionary.load(str(path))
    except (ValueError, RuntimeError) as error:
        raise DataError(str(path), f"not a fairseq dictionary ({error})") from None
    dictionary.add_symbol("<mask>")
    for i in range(code_dict_size):
        dictionary.add_symbol(f"<code_{i}>")
    for i in range(num_bins):
        dictionary.add_symbol(f"<bin_{i}>")
    return dictionary


class OFAVocabulary:
    """GPT-2 BPE and OFA's dictionary together: text <-> token tensors."""

    def __init__(self, bpe: OFAGPT2BPE, dictionary: Dictionary):
        self.bpe = bpe
        self.dictionary = dictionary

    @classmethod
    def load(
        cls,
        bpe_dir: Optional[PathLike] = None,
        code_dict_size: int = DEFAULT_CODE_DICT_SIZE,
        num_bins: int = DEFAULT_NUM_BINS,
    ) -> "OFAVocabulary":
        """Load both from ``bpe_dir`` (default: :func:`default_bpe_dir`)."""
        return cls(load_gpt2_bpe(bpe_dir), load_ofa_dictionary(bpe_dir, code_dict_size, num_bins))

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> torch.Tensor:
        """Token ids (LongTensor) of ``text``; OFA prompts and answers start with a space."""
        tokens = self.dictionary.encode_line(
            self.bpe.encode(text), add_if_not_exist=False, append_eos=False
        ).long()
        prefix = [self.dictionary.bos()] if add_bos else []
        suffix = [self.dictionary.eos()] if add_eos else []
        return torch.cat([torch.tensor(prefix, dtype=torch.long), tokens, torch.tensor(suffix, dtype=torch.long)])

    def decode(self, tokens: torch.Tensor) -> str:
        """Text of token ids, ignoring bos, eos and padding.

        A symbol (``<unk>``, ``<mask>``, ``<code_i>``, ``<bin_i>``) is written as it is, joined to
        the word before, as OFA's ``decode_fn`` writes it through its fairseq's GPT-2 decoder
        ("a dog<unk> runs", "a dog<code_5><bin_7> runs").
        """
        return self.bpe.decode(self.dictionary.string(tokens, extra_symbols_to_ignore={self.dictionary.pad()}))
