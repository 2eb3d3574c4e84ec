"""A tiny OFA model and a hand-made batch, for fast criterion and encoder tests."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Dict, Tuple

import torch
from fairseq.data import Dictionary

from ofa_mue.models.builders import build_model, numbered_dictionary
from ofa_mue.models.ofa import OFAModel

VOCAB_SIZE = 40
DECODER_LAYERS = 3
IMAGE_SIZE = 64  # a 4 x 4 patch grid with the demo ResNet


def tiny_dictionary() -> Dictionary:
    return numbered_dictionary(VOCAB_SIZE)


def tiny_model(dictionary: Dictionary, seed: int = 0, **overrides: Any) -> OFAModel:
    """``ofa_demo`` cut down to width 32, 2 encoder and 3 decoder layers (deterministic: no dropout)."""
    torch.manual_seed(seed)
    options = dict(encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_layers=2,
                   decoder_layers=DECODER_LAYERS, encoder_attention_heads=2, decoder_attention_heads=2)
    return build_model("ofa_demo", dictionary, **{**options, **overrides})


def small_model(vocab_size: int, **overrides: Any) -> Tuple[OFAModel, Dictionary]:
    """``ofa_demo`` at width 64 with all its layers (seed 0, eval mode) and its numbered
    dictionary of ``vocab_size`` symbols: the model of the early-exit inference tests."""
    torch.manual_seed(0)
    dictionary = numbered_dictionary(vocab_size)
    net = build_model("ofa_demo", dictionary, encoder_embed_dim=64, encoder_ffn_embed_dim=128,
                      encoder_attention_heads=4, decoder_attention_heads=4, **overrides)
    return net.eval(), dictionary


def tiny_task(dictionary: Dictionary, **attributes: Any) -> SimpleNamespace:
    """The parts of a fairseq task the criterions read."""
    return SimpleNamespace(target_dictionary=dictionary, source_dictionary=dictionary, **attributes)


def tiny_batch(dictionary: Dictionary, seed: int = 1) -> Dict[str, Any]:
    """Three samples with images; targets with a padded prompt part and batch padding."""
    generator = torch.Generator().manual_seed(seed)
    pad, bos, eos = dictionary.pad(), dictionary.bos(), dictionary.eos()
    first = dictionary.nspecial

    def words(n: int) -> list:
        return torch.randint(first, VOCAB_SIZE, (n,), generator=generator).tolist()

    src = [[bos] + words(6) + [eos], [bos] + words(4) + [eos, pad, pad], [bos] + words(5) + [eos, pad]]
    # decoder prompt bos + 2 words (its predictions are not scored), then the answer and eos
    answers = [words(3), words(1), words(2)]
    length = 3 + max(len(a) for a in answers)
    prev, target = [], []
    for answer in answers:
        p = [bos] + words(2) + answer
        t = [pad, pad] + answer + [eos]
        prev.append(p + [pad] * (length - len(p)))
        target.append(t + [pad] * (length - len(t)))
    target_tensor = torch.tensor(target)
    return {
        "net_input": {
            "src_tokens": torch.tensor(src),
            "src_lengths": torch.tensor([8, 6, 7]),
            "patch_images": torch.randn(3, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator),
            "patch_masks": torch.tensor([True, True, True]),
            "prev_output_tokens": torch.tensor(prev),
        },
        "target": target_tensor,
        "ntokens": int(target_tensor.ne(pad).sum()),
        "nsentences": 3,
    }


def answer_constraints(batch: Dict[str, Any], allowed_extra: int = 5) -> torch.Tensor:
    """A ``[B, T, V]`` mask allowing each target token plus ``allowed_extra`` fixed others."""
    target = batch["target"]
    masks = torch.zeros(*target.shape, VOCAB_SIZE, dtype=torch.bool)
    masks[..., 10:10 + allowed_extra] = True
    masks.scatter_(-1, target.unsqueeze(-1), True)
    return masks
