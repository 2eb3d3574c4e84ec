"""Deterministic generator of the bundled demo data (synthetic shapes, OFA TSV formats).

    python -m ofa_mue.demo.generate --out demo_data [--seed 0]
        [--train 4000 --valid 300 --test 300] [--image-size 48]

or ``generate_demo_data(out_dir, seed=0, ...)`` from Python. Writes::

    caption/{train,valid,test}.tsv   uniq-id, image-id, caption, object labels, base64 PNG
    caption/train_scst.tsv           train images again, all references joined by '&&'
    snli_ve/{train,valid,test}.tsv   uniq-id, image-id, base64 PNG, hypothesis, premise, label
    grounding/train.tsv              the same format: image-text matching statements (with
                                     --grounding N > 0), for a grounding stage standing in
                                     for OFA's pretraining (benchmarks/grounding_stage.py)
    bpe/{encoder.json,vocab.bpe,dict.txt}   small GPT-2-format byte-level BPE + fairseq dict
    meta/{caption,snli_ve}_{split}.jsonl    per row: scene, family, difficulty (not read by OFA)
    meta/grounding_train.jsonl       the same for the grounding statements
    meta/arguments.json              the arguments the data is a function of (``--reuse`` checks them)
    README.md

Sizes count TSV rows. Caption train has one row per reference like OFA's stage-1 file
(two of the five references of each image, so ``--train 4000`` is 2000 images); caption
valid/test have one row per image with the five references joined by ``&&``. SNLI-VE has
one image per row: a layout, a hypothesis drawn without looking at the label (unless the
layout rules that label out) and a scene drawn in the layout to give it that label
(:mod:`ofa_mue.demo.language`); the labels are balanced. Each row is
a pure function of (seed, task, split, index), so the same seed gives byte-identical files.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from typing import Optional, Sequence

from .bpe import build_bpe
from .language import (FAMILIES, GROUNDING_FAMILIES, LABELS, MAX_CAPTION_WORDS, REFS_PER_IMAGE, make_captions,
                       make_example, premise_text)
from .questions import question_texts
from .scenes import BACKGROUNDS, COLOURS, SHAPES, encode_image, render_scene, sample_scene

CAPTION_PROMPT = " what does the image describe?"
SNLI_PROMPT = ' can image and text1 " {} " imply text2 " {} "?'
SNLI_PROMPT_NO_CAPTION = ' does the image describe " {} "?'
ANSWERS = {"entailment": "yes", "contradiction": "no", "neutral": "maybe"}
LABEL_ORDER = tuple(LABELS.values())
CAPTION_TRAIN_ROWS_PER_IMAGE = 2
CAPTION_OBJECTS = (1, 2, 3)
MAX_OBJECTS = 9  # one per cell of the 3x3 grid
SPLITS = ("train", "valid", "test")
TASKS = ("caption", "snli_ve")
GROUNDING = "grounding"
GROUNDING_LABELS = ("entailment", "contradiction")
DEFAULT_SIZES = {"train": 4000, "valid": 300, "test": 300}
DEFAULT_IMAGE_SIZE = 48
BPE_VOCAB_SIZE = 2000
ARGUMENTS_FILE = os.path.join("meta", "arguments.json")


def _rng(seed: int, *parts) -> random.Random:
    # str seeds are hashed with SHA-512 by random.seed: stable across runs and platforms
    return random.Random("/".join(["ofa-mue-demo", str(seed)] + [str(p) for p in parts]))


def _image_id(task: str, split: str, index: int) -> int:
    return ((TASKS + (GROUNDING,)).index(task) * len(SPLITS) + SPLITS.index(split) + 1) * 10_000_000 + index


def _n_images(task: str, split: str, rows: int) -> int:
    per = CAPTION_TRAIN_ROWS_PER_IMAGE if task == "caption" and split == "train" else 1
    return -(-rows // per)


def _check_field(text: str) -> str:
    if "\t" in text or "\n" in text or "&&" in text:
        raise AssertionError(f"bad TSV field {text!r}")
    return text


def _caption_split(seed, split, rows, image_size, tick, objects: Sequence[int], max_words: int):
    """Rows of caption/<split>.tsv (+ train_scst rows for train), meta rows, corpus."""
    tsv, scst, meta, texts = [], [], [], []
    for i in range(_n_images("caption", split, rows)):
        rng = _rng(seed, "caption", split, i)
        scene = sample_scene(rng, n_objects=objects)
        refs = make_captions(scene, REFS_PER_IMAGE, max_words)
        b64 = encode_image(render_scene(scene, image_size))
        image_id = _image_id("caption", split, i)
        labels = ",".join(f"{o.colour} {o.shape}" for o in scene.objects)
        n = len(scene.objects)
        info = {"image_id": image_id, "n_objects": n,
                "difficulty": "easy" if n == 1 else ("medium" if n == 2 else "hard"),
                "references": refs, "scene": scene.to_json()}
        texts += refs
        if split == "train":
            chosen = rng.sample(range(len(refs)), min(CAPTION_TRAIN_ROWS_PER_IMAGE, len(refs)))
            for j in chosen[: rows - len(tsv)]:
                uid = image_id * 10 + j
                tsv.append((uid, image_id, _check_field(refs[j]), labels, b64))
                meta.append({"uniq_id": uid, **info})
            scst.append((image_id * 10, image_id, "&&".join(map(_check_field, refs)), labels, b64))
        else:
            uid = image_id * 10
            tsv.append((uid, image_id, "&&".join(map(_check_field, refs)), labels, b64))
            meta.append({"uniq_id": uid, **info})
        tick()
    return tsv, scst, meta, texts


def _lf_json(lf):
    return [x.to_json() if hasattr(x, "to_json") else x for x in lf]


def _snli_split(seed, split, rows, image_size, tick, families=None, task="snli_ve"):
    """Rows of <task>/<split>.tsv and their meta rows: one image per row, labels balanced
    in blocks (one of each label, in random order); hypotheses of ``families`` (default:
    all) of SNLI-VE, or for ``task`` "grounding" the grounding statements, true or false
    in scenes without covers (image-text matching: yes or no)."""
    grounding = task == GROUNDING
    registry = GROUNDING_FAMILIES if grounding else FAMILIES
    labels = GROUNDING_LABELS if grounding else LABEL_ORDER
    tsv, meta = [], []
    wants: list[str] = []
    for i in range(rows):
        rng = _rng(seed, task, split, i)
        if i % len(labels) == 0:
            wants = list(labels)
            _rng(seed, task, split, "labels", i).shuffle(wants)
        hypothesis, scene = make_example(rng, wants[i % len(labels)], families, registry,
                                         covers=not grounding)
        premise = premise_text(scene, rng)
        b64 = encode_image(render_scene(scene, image_size))
        image_id = _image_id(task, split, i)
        uid = image_id * 10
        tsv.append((uid, image_id, b64, _check_field(hypothesis["text"]), _check_field(premise),
                    hypothesis["label"]))
        meta.append({"uniq_id": uid, "image_id": image_id, "label": hypothesis["label"],
                     "family": hypothesis["family"], "difficulty": hypothesis["difficulty"],
                     "lf": _lf_json(hypothesis["lf"]), "n_objects": len(scene.objects),
                     "hidden_cells": len(scene.hidden), "scene": scene.to_json()})
        tick()
    return tsv, meta


def _write_tsv(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write("\t".join(str(x) for x in row) + "\n")


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")


def _bpe_corpus(caption_texts, snli_rows):
    """Every string OFA's caption and snli_ve datasets encode, as they encode it, and the
    grounding questions' strings (:func:`~ofa_mue.demo.questions.question_texts`) when those lack
    a word of them (hypotheses of some families only, ``--snli-families``, or few rows), so that
    demo.sh's question stage can encode its questions whatever the data."""
    corpus = [CAPTION_PROMPT]
    corpus += [" " + t for t in caption_texts]
    for row in snli_rows:
        hypothesis, premise, label = row[3], row[4], row[5]
        corpus.append(SNLI_PROMPT.format(premise, hypothesis))
        corpus.append(SNLI_PROMPT_NO_CAPTION.format(hypothesis))
        corpus.append(" " + ANSWERS[label])
    questions = question_texts()
    if not _words(questions) <= _words(corpus):
        corpus += questions
    return corpus


def _words(texts) -> set:
    return {word for text in texts for word in text.split()}


def generate_demo_data(out_dir, seed: int = 0, train: int = DEFAULT_SIZES["train"],
                       valid: int = DEFAULT_SIZES["valid"], test: int = DEFAULT_SIZES["test"],
                       image_size: int = DEFAULT_IMAGE_SIZE, progress: bool = False,
                       snli_families: Optional[Sequence[str]] = None, grounding: int = 0,
                       caption_objects: Sequence[int] = CAPTION_OBJECTS,
                       caption_words: int = MAX_CAPTION_WORDS) -> dict:
    """Generate the demo data set under ``out_dir``; returns a summary (counts) dict.

    ``train``/``valid``/``test`` are TSV row counts per task. ``caption_objects``: the numbers
    of objects a caption scene may hold (each equally likely); ``caption_words``: the longest
    reference in words (= BPE tokens). ``snli_families``: SNLI-VE
    hypotheses of these families only (default: all; a diagnostic, e.g. ``["exists"]``).
    ``grounding``: rows of ``grounding/train.tsv`` (0: none), statements about scenes of
    their own (:data:`~ofa_mue.demo.language.GROUNDING_FAMILIES`). Same arguments give
    byte-identical files.
    """
    unknown = [name for name in snli_families or () if name not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown SNLI-VE hypothesis family {unknown[0]!r} (known: {', '.join(FAMILIES)})")
    sizes = {"train": int(train), "valid": int(valid), "test": int(test)}
    if any(v < 0 for v in sizes.values()):
        raise ValueError(f"split sizes must be >= 0, got {sizes}")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32, got {image_size}")
    if grounding < 0:
        raise ValueError(f"grounding rows must be >= 0, got {grounding}")
    caption_objects = tuple(sorted(set(caption_objects)))
    if not caption_objects or not all(1 <= n <= MAX_OBJECTS for n in caption_objects):
        raise ValueError(f"caption objects must be numbers from 1 to {MAX_OBJECTS}, got {list(caption_objects)}")
    for sub in ("caption", "snli_ve", "bpe", "meta") + ((GROUNDING,) if grounding else ()):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)

    total = sum(_n_images(t, s, sizes[s]) for t in TASKS for s in SPLITS) + grounding
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, unit="img", desc="demo data", file=sys.stderr)
    tick = (lambda: bar.update(1)) if bar is not None else (lambda: None)

    arguments = generation_arguments(seed, sizes, image_size, snli_families, grounding, caption_objects, caption_words)
    summary: dict = {"seed": seed, "image_size": image_size, "sizes": sizes, "caption_objects": list(caption_objects),
                     "caption_words": caption_words, "caption": {}, "snli_ve": {}}
    caption_texts, snli_all = [], []
    try:
        for split in SPLITS:
            tsv, scst, meta, texts = _caption_split(seed, split, sizes[split], image_size, tick, caption_objects,
                                                    caption_words)
            _write_tsv(os.path.join(out_dir, "caption", f"{split}.tsv"), tsv)
            _write_jsonl(os.path.join(out_dir, "meta", f"caption_{split}.jsonl"), meta)
            caption_texts += texts
            entry = {"rows": len(tsv), "images": len({r[1] for r in tsv}),
                     "difficulty": dict(sorted(Counter(m["difficulty"] for m in meta).items()))}
            if split == "train":
                _write_tsv(os.path.join(out_dir, "caption", "train_scst.tsv"), scst)
                entry["scst_rows"] = len(scst)
            summary["caption"][split] = entry
        for split in SPLITS:
            tsv, meta = _snli_split(seed, split, sizes[split], image_size, tick, snli_families)
            _write_tsv(os.path.join(out_dir, "snli_ve", f"{split}.tsv"), tsv)
            _write_jsonl(os.path.join(out_dir, "meta", f"snli_ve_{split}.jsonl"), meta)
            snli_all += tsv
            summary["snli_ve"][split] = {
                "rows": len(tsv), "images": len({r[1] for r in tsv}),
                "labels": dict(sorted(Counter(r[5] for r in tsv).items())),
                "difficulty": dict(sorted(Counter(m["difficulty"] for m in meta).items())),
                "families": dict(sorted(Counter(m["family"] for m in meta).items())),
                "hidden": sum(m["hidden_cells"] > 0 for m in meta),
            }
        if grounding:
            tsv, meta = _snli_split(seed, "train", grounding, image_size, tick, task=GROUNDING)
            _write_tsv(os.path.join(out_dir, GROUNDING, "train.tsv"), tsv)
            _write_jsonl(os.path.join(out_dir, "meta", f"{GROUNDING}_train.jsonl"), meta)
            snli_all += tsv
            summary[GROUNDING] = {"rows": len(tsv), "labels": dict(sorted(Counter(r[5] for r in tsv).items()))}
    finally:
        if bar is not None:
            bar.close()

    summary["bpe"] = build_bpe(_bpe_corpus(caption_texts, snli_all),
                               os.path.join(out_dir, "bpe"), vocab_size=BPE_VOCAB_SIZE)
    words = sorted({w for t in caption_texts + [r[3] for r in snli_all] for w in t.split()})
    summary["words"] = len(words)
    with open(os.path.join(out_dir, ARGUMENTS_FILE), "w", encoding="utf-8", newline="\n") as f:
        json.dump(arguments, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write(_readme(summary, words))
    return summary


def generation_arguments(seed: int, sizes: dict, image_size: int, snli_families: Optional[Sequence[str]],
                         grounding: int, caption_objects: Sequence[int], caption_words: int) -> dict:
    """What a data set is a function of, as ``meta/arguments.json`` records it."""
    return {"seed": seed, "sizes": dict(sizes), "image_size": image_size,
            "snli_families": sorted(snli_families) if snli_families else None, "grounding": grounding,
            "caption_objects": sorted(set(caption_objects)), "caption_words": caption_words}


def _table(rows):
    return "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows)


def _grounding_section(s: dict) -> str:
    if GROUNDING not in s:
        return ""
    g = s[GROUNDING]
    labels = ", ".join(f"{k} {g['labels'].get(k, 0)}" for k in GROUNDING_LABELS)
    return f"""
## Grounding (`grounding/train.tsv`)

{g['rows']} rows in the SNLI-VE format ({labels}), image-text matching: statements of one
kind only, "there is a <colour> shape", true or false half the time each, on scenes of their
own with 2-4 objects and no cover. `benchmarks/grounding_stage.py` trains on them with the
encoder fused before fine-tuning SNLI-VE, as OFA pretrains on image-text matching before
its fine-tuning: looking up one attribute in the picture is what a model must learn first,
and the demo's SNLI-VE mixture alone does not teach it in the demo's budget
(`run_scripts/demo.sh` does not use them).
"""


def _readme(s: dict, words: list[str]) -> str:
    cap = [("split", "rows", "images", "difficulty (by objects)")]
    for split in SPLITS:
        e = s["caption"][split]
        cap.append((split, e["rows"], e["images"],
                    ", ".join(f"{k} {e['difficulty'][k]}" for k in ("easy", "medium", "hard")
                              if k in e["difficulty"])))
    snli = [("split", "rows", "entailment", "contradiction", "neutral", "with a hidden cell",
             "easy", "medium", "hard")]
    for split in SPLITS:
        e = s["snli_ve"][split]
        snli.append((split, e["rows"], *(e["labels"].get(k, 0) for k in LABEL_ORDER), e["hidden"],
                     *(e["difficulty"].get(k, 0) for k in ("easy", "medium", "hard"))))
    families = Counter()
    for split in SPLITS:
        families.update(s["snli_ve"][split]["families"])
    b = s["bpe"]
    sizes = s["sizes"]
    return f"""# ofa-mue demo data (generated)

Generated by `python -m ofa_mue.demo.generate --out <dir> --seed {s['seed']}
--train {sizes['train']} --valid {sizes['valid']} --test {sizes['test']} --image-size {s['image_size']}{_caption_flags(s)}`.
Same arguments give byte-identical files. Synthetic: {s['image_size']}x{s['image_size']} PNG
scenes of shapes ({', '.join(SHAPES)}) in {', '.join(COLOURS)}, small or big, each in
its own cell of a 3x3 grid ({_counts(s['caption_objects'])} per caption scene, 2-4 in SNLI-VE scenes), on a {', '.join(BACKGROUNDS)} background (plain or with a smooth
texture). All text is lower case without punctuation; every caption and every label is
computed from the scene (logical forms evaluated on it), never drawn at random.

## Files (OFA's TSV formats, no header, images as `base64.urlsafe_b64encode` of PNG bytes)

- `caption/{{train,valid,test}}.tsv`: uniq-id, image-id, caption, object labels (unused by
  OFA), image. Train: one reference per row ({CAPTION_TRAIN_ROWS_PER_IMAGE} of the
  {REFS_PER_IMAGE} references of each image). Valid/test: one row per image, the
  {REFS_PER_IMAGE} references joined by `&&`.
- `caption/train_scst.tsv`: the train images once each, all references joined by `&&`
  (for CIDEr optimisation).
- `snli_ve/{{train,valid,test}}.tsv`: uniq-id, image-id, image, hypothesis, premise (the
  background only, so it never decides a hypothesis), label (entailment/contradiction/neutral
  -> yes/no/maybe). One image per row; labels balanced in blocks of three.
- `bpe/encoder.json`, `bpe/vocab.bpe`: a byte-level BPE learnt on all the text below
  (tokenizers' ByteLevelBPETokenizer), in GPT-2's layout, so
  `fairseq.data.encoders.gpt2_bpe_utils.get_encoder` reads it; `bpe/dict.txt`: fairseq
  dictionary `<bpe id> <count>` of the ids used, counts from that encoder on the strings
  OFA encodes (prompts included), and the grounding questions of `python -m
  ofa_mue.demo.question_stage` when those strings lack a word of them (SNLI-VE hypotheses of
  some families only, or few rows).
- `meta/{{task}}_{{split}}.jsonl`: per TSV row the scene (objects, cells, colours, sizes),
  the hypothesis kind and an easy/hard tag; for analysis only, OFA does not read it.

## Captioning

Scenes with one object are easy, with two medium, with three hard. Each image has
{REFS_PER_IMAGE} references in varied wording, every one naming each object in reading order
(plain list, with sizes, grouped with counts, with positions, with the background).

{_table(cap[:1] + [tuple('---' for _ in cap[0])] + cap[1:])}

## SNLI-VE

Each example starts from a layout drawn so that the picture alone says little of the label:
2-4 visible objects whatever the label, and a covered cell in every neutral scene and in
three quarters of the others. Then a hypothesis (existence anywhere or in a region,
absence, an exact count, a relation between two objects, "all the shapes are ...") is
drawn without looking at the label, redrawn only when the layout's cover rules the wanted
label out (under a cover "there is a red circle" can never be false), and the scene is drawn
in that layout until the hypothesis has the wanted label in it. Neither the hypothesis'
family, nor the layout, nor both together (without which objects there are) give the
label more than half the time (chance: a third). A covered (striped) cell may hold anything:
entailment when the hypothesis is true whatever the cover hides, contradiction when it is
false whatever it hides, neutral otherwise. Easy: one attribute to find; medium: two facts
to bind; hard: three or more (counts, relations, regions with several attributes).

{_table(snli[:1] + [tuple('---' for _ in snli[0])] + snli[1:])}

Hypothesis families (all splits): {', '.join(f'{k} {v}' for k, v in sorted(families.items()))}.
{_grounding_section(s)}
## Vocabulary

{s['words']} distinct words. BPE: {b['merges']} merges, encoder.json {b['encoder_size']}
entries (256 bytes + merges + `<|endoftext|>`), dict.txt {b['dict_size']} ids used,
{b['corpus_tokens']} tokens in {b['corpus_strings']} encoded strings.

Words: {' '.join(words)}
"""


def _counts(numbers: Sequence[int]) -> str:
    """``[1, 2, 3]`` -> ``"1-3"``; ``[1, 3]`` -> ``"1, 3"``."""
    contiguous = list(numbers) == list(range(numbers[0], numbers[-1] + 1))
    return f"{numbers[0]}-{numbers[-1]}" if contiguous and len(numbers) > 1 else ", ".join(map(str, numbers))


def _caption_flags(s: dict) -> str:
    """The caption options of the command line, where they differ from the defaults."""
    flags = ""
    if tuple(s["caption_objects"]) != CAPTION_OBJECTS:
        flags += f" --caption-objects {','.join(map(str, s['caption_objects']))}"
    if s["caption_words"] != MAX_CAPTION_WORDS:
        flags += f" --caption-words {s['caption_words']}"
    return flags


def _object_counts(text: str) -> list:
    """``--caption-objects``: comma-separated whole numbers."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def recorded_arguments(data_dir: str) -> Optional[dict]:
    """The generator arguments ``data_dir``'s demo data records (``meta/arguments.json``), or
    None for data generated before it recorded them."""
    path = os.path.join(data_dir, ARGUMENTS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _reuse(parser: argparse.ArgumentParser, out_dir: str, wanted: dict) -> int:
    """Keep ``out_dir``'s data if it was generated with ``wanted``; a parser error if not."""
    stored = recorded_arguments(out_dir)
    if stored is None:
        parser.error(f"{out_dir} holds demo data without {ARGUMENTS_FILE} (generated by an older version): "
                     f"delete it to regenerate")
    differing = [f"{key} {stored.get(key)!r} there, {value!r} asked" for key, value in wanted.items()
                 if stored.get(key) != value]
    if differing:
        parser.error(f"{out_dir} holds demo data generated with other arguments ({'; '.join(differing)}): "
                     f"delete it to regenerate, or give another --out")
    print(f"reusing {out_dir} (same arguments; delete it to regenerate)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ofa_mue.demo.generate",
                                description="Generate the synthetic ofa-mue demo data set.")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=int, default=DEFAULT_SIZES["train"], help="rows per task")
    p.add_argument("--valid", type=int, default=DEFAULT_SIZES["valid"], help="rows per task")
    p.add_argument("--test", type=int, default=DEFAULT_SIZES["test"], help="rows per task")
    p.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    p.add_argument("--snli-families", metavar="NAMES",
                   help=f"SNLI-VE hypotheses of these families only, comma-separated (a diagnostic; the "
                        f"vocabulary still covers demo.sh's grounding questions; default: all of "
                        f"{', '.join(FAMILIES)})")
    p.add_argument("--grounding", type=int, default=0, metavar="ROWS",
                   help="rows of grounding/train.tsv, statements of the grounding stage, image-text matching (\"there is a "
                        "<colour> shape\") on scenes of their own; 0: none [0]")
    p.add_argument("--caption-objects", type=_object_counts, default=list(CAPTION_OBJECTS), metavar="N,N,...",
                   help=f"numbers of objects a caption scene may hold, each equally likely (1 to {MAX_OBJECTS}) "
                        f"[{','.join(map(str, CAPTION_OBJECTS))}]")
    p.add_argument("--caption-words", type=int, default=MAX_CAPTION_WORDS, metavar="N",
                   help=f"longest caption reference in words, each one BPE token here (demo.sh trains with "
                        f"--max-tgt-length and generates with --max-len-b one more) [{MAX_CAPTION_WORDS}]")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--reuse", action="store_true",
                   help="keep the data already in --out if it was generated with these same arguments "
                        "(meta/arguments.json); stop with an error if with others")
    a = p.parse_args(argv)
    families = [name.strip() for name in a.snli_families.split(",")] if a.snli_families else None
    if a.reuse and os.path.isfile(os.path.join(a.out, "README.md")):
        wanted = generation_arguments(a.seed, {"train": a.train, "valid": a.valid, "test": a.test}, a.image_size,
                                      families, a.grounding, a.caption_objects, a.caption_words)
        return _reuse(p, a.out, wanted)
    start = time.time()
    try:
        s = generate_demo_data(a.out, seed=a.seed, train=a.train, valid=a.valid, test=a.test,
                               image_size=a.image_size, progress=not a.no_progress, snli_families=families,
                               grounding=a.grounding, caption_objects=a.caption_objects,
                               caption_words=a.caption_words)
    except ValueError as error:
        p.error(str(error))
    print(f"demo data in {a.out} ({time.time() - start:.1f} s, seed {a.seed}, "
          f"{a.image_size}px images)")
    for split in SPLITS:
        c, v = s["caption"][split], s["snli_ve"][split]
        labels = " ".join(f"{k[:3]} {n}" for k, n in v["labels"].items())
        print(f"  {split:5s}  caption {c['rows']:5d} rows / {c['images']:5d} images   "
              f"snli_ve {v['rows']:5d} rows / {v['images']:5d} images ({labels})")
    if GROUNDING in s:
        labels = " ".join(f"{k[:3]} {n}" for k, n in s[GROUNDING]["labels"].items())
        print(f"  train  grounding {s[GROUNDING]['rows']:5d} rows ({labels})")
    b = s["bpe"]
    print(f"  bpe: {b['merges']} merges, {b['encoder_size']} encoder entries, "
          f"{b['dict_size']} ids in dict.txt, {s['words']} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
