"""Plain builder functions: an OFA model of a named architecture, outside fairseq's task machinery
(tests, benchmarks, conversion)."""
from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

import torch
from fairseq.data import Dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY

from .ofa import OFAModel


def model_args(arch: str, **overrides: Any) -> argparse.Namespace:
    """The full argument namespace of ``arch`` (fairseq fills defaults from the architecture)."""
    args = argparse.Namespace(arch=arch, **overrides)
    ARCH_CONFIG_REGISTRY[arch](args)
    return args


def numbered_dictionary(size: int) -> Dictionary:
    """A fairseq dictionary of ``size`` symbols (4 specials + numbered entries)."""
    dictionary = Dictionary()
    for index in range(size - len(dictionary)):
        dictionary.add_symbol(str(index))
    return dictionary


def build_model(arch: str, dictionary: Dictionary, **overrides: Any) -> OFAModel:
    """An OFA model of ``arch`` for ``dictionary``, built the way fairseq builds it."""
    task = SimpleNamespace(source_dictionary=dictionary, target_dictionary=dictionary)
    return OFAModel.build_model(model_args(arch, **overrides), task)


def build_meta_model(arch: str, vocab_size: int = 59457) -> OFAModel:
    """``arch`` on the meta device: shapes and names only, no memory (for the large sizes)."""
    with torch.device("meta"):
        return build_model(arch, numbered_dictionary(vocab_size))
