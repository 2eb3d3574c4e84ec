"""A small byte-level BPE for the demo data, written in GPT-2's file layout.

OFA encodes text with GPT-2's BPE (``encoder.json`` + ``vocab.bpe``) and then maps each
GPT-2 id, as a decimal string, through a fairseq ``dict.txt``. The demo data gets its own
tiny vocabulary of the same three files, so the whole OFA text pipeline
(``fairseq.data.encoders.gpt2_bpe_utils.get_encoder`` -> ids -> Dictionary) runs on it
unchanged:

- ``vocab.bpe``: ``#version: 0.2``, then one merge ``a b`` per line in rank order, ending
  with a newline (fairseq's reader drops the first and the last line of the split);
- ``encoder.json``: token -> id; the 256 byte symbols first (ids 0..255, in GPT-2's
  byte-to-unicode order), then the result of each merge in rank order, then
  ``<|endoftext|>``, like OpenAI's file;
- ``dict.txt``: ``<id> <count>`` for every id that the corpus uses, counts from encoding
  that corpus with ``get_encoder``, sorted like fairseq's ``Dictionary.finalize``
  (count descending, ties by symbol string).

The merges are learnt with the ``tokenizers`` library (``ByteLevelBPETokenizer``).
"""
from __future__ import annotations

import json
import os
from collections import Counter

ENDOFTEXT = "<|endoftext|>"


def byte_symbols() -> list[tuple[int, str]]:
    """GPT-2's reversible byte -> printable unicode character map, in its id order.

    Printable latin-1 bytes keep their own character; the other 68 bytes are moved to
    code points 256, 257, ... in byte order.
    """
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    out = [(b, chr(b)) for b in keep]
    extra = 0
    for b in range(256):
        if b not in keep:
            out.append((b, chr(256 + extra)))
            extra += 1
    return out


def train_merges(texts, vocab_size: int = 2000, min_frequency: int = 2) -> list[tuple[str, str]]:
    """BPE merges (in rank order) learnt on the texts exactly as they will be encoded."""
    from tokenizers import ByteLevelBPETokenizer

    # its trainer starts from all 256 byte symbols (ByteLevel.alphabet())
    tok = ByteLevelBPETokenizer(add_prefix_space=False)
    tok.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=min_frequency,
                            show_progress=False, special_tokens=[])
    merges = json.loads(tok._tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


def build_encoder(merges) -> dict[str, int]:
    encoder: dict[str, int] = {}
    for _, sym in byte_symbols():
        encoder[sym] = len(encoder)
    for a, b in merges:
        if a + b not in encoder:
            encoder[a + b] = len(encoder)
    encoder[ENDOFTEXT] = len(encoder)
    return encoder


def write_bpe_files(merges, out_dir: str) -> tuple[str, str]:
    """Write encoder.json and vocab.bpe; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    encoder = build_encoder(merges)
    enc_path = os.path.join(out_dir, "encoder.json")
    bpe_path = os.path.join(out_dir, "vocab.bpe")
    with open(enc_path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(encoder, f)
    with open(bpe_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    return enc_path, bpe_path


def load_gpt2_encoder(encoder_json: str, vocab_bpe: str):
    """fairseq's GPT-2 BPE encoder (the code path OFA uses) for the given files."""
    from fairseq.data.encoders.gpt2_bpe_utils import get_encoder

    return get_encoder(encoder_json, vocab_bpe)


def count_ids(bpe, texts) -> Counter:
    counts: Counter = Counter()
    for t in texts:
        counts.update(bpe.encode(t))
    return counts


def write_dict(counts: Counter, path: str) -> list[tuple[str, int]]:
    """fairseq dict.txt: '<id> <count>' lines, count descending, ties by symbol string."""
    rows = sorted(((str(i), c) for i, c in counts.items()), key=lambda r: (-r[1], r[0]))
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for sym, c in rows:
            f.write(f"{sym} {c}\n")
    return rows


def build_bpe(corpus, out_dir: str, vocab_size: int = 2000) -> dict:
    """Train, write encoder.json / vocab.bpe / dict.txt for ``corpus`` (a list of the
    strings exactly as OFA encodes them, with their leading space). Returns a summary."""
    corpus = list(corpus)
    merges = train_merges(corpus, vocab_size=vocab_size)
    enc_path, bpe_path = write_bpe_files(merges, out_dir)
    bpe = load_gpt2_encoder(enc_path, bpe_path)
    counts = count_ids(bpe, corpus)
    rows = write_dict(counts, os.path.join(out_dir, "dict.txt"))
    return {"merges": len(merges), "encoder_size": len(bpe.encoder), "dict_size": len(rows),
            "corpus_strings": len(corpus), "corpus_tokens": sum(counts.values())}
