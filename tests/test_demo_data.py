"""Tests of the demo data generator (ofa_mue.demo.generate and its helper modules).

The label and caption checks here do not reuse the generator's logic: they parse the
generated English with their own patterns and judge it against the scene recorded in
meta/*.jsonl (or the scene object for direct API calls), trying every possible content
of the hidden cells themselves.
"""
import base64
import hashlib
import io
import itertools
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict

import pytest
from PIL import Image

from fork_server import fast_venv
from ofa_mue.data.vocabulary import OFAVocabulary
from ofa_mue.demo import language as L
from ofa_mue.demo.generate import (ANSWERS, CAPTION_PROMPT, SNLI_PROMPT,
                                    SNLI_PROMPT_NO_CAPTION, generate_demo_data, main)
from ofa_mue.demo.question_stage import QuestionBatches
from ofa_mue.demo.questions import question_texts, sample_question
from ofa_mue.demo.scenes import (COLOURS, COVER_RGB, SHAPES, SIZES as OBJECT_SIZES, Scene, make_object,
                                 render_scene, sample_scene)

SIZES = dict(train=60, valid=9, test=9, image_size=48)
SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    summary = generate_demo_data(out, seed=0, **SIZES)
    return out, summary


def _tsv(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


def _jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def _image(b64):
    img = Image.open(io.BytesIO(base64.urlsafe_b64decode(b64)))
    assert img.format == "PNG"
    return img.convert("RGB")


# ------------------------------------------------------------------ determinism

def test_same_seed_gives_identical_files(demo, tmp_path):
    out, _ = demo
    generate_demo_data(tmp_path / "again", seed=0, **SIZES)
    first, second = _digests(out), _digests(tmp_path / "again")
    assert len(first) == 18  # 17 data files and meta/arguments.json
    assert first == second
    generate_demo_data(tmp_path / "other", seed=1, **SIZES)
    other = _digests(tmp_path / "other")
    assert other["caption/train.tsv"] != first["caption/train.tsv"]
    assert other["snli_ve/test.tsv"] != first["snli_ve/test.tsv"]


def test_identical_in_a_fresh_process(demo, tmp_path):
    """Other hash seeds (Python sets, the tokenizers trainer) must not change anything."""
    out, _ = demo
    env = dict(os.environ, PYTHONHASHSEED="12345")
    cmd = [sys.executable, "-m", "ofa_mue.demo.generate", "--out", str(tmp_path / "cli"),
           "--seed", "0", "--train", str(SIZES["train"]), "--valid", str(SIZES["valid"]),
           "--test", str(SIZES["test"]), "--image-size", str(SIZES["image_size"]),
           "--no-progress"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "snli_ve" in res.stdout and "bpe:" in res.stdout
    assert _digests(tmp_path / "cli") == _digests(out)


# ------------------------------------------------------------------ TSV formats

def test_caption_tsv_format(demo):
    out, summary = demo
    for split in SPLITS:
        rows = _tsv(out / "caption" / f"{split}.tsv")
        assert len(rows) == SIZES[split] == summary["caption"][split]["rows"]
        assert len({r[0] for r in rows}) == len(rows)  # unique uniq-ids
        for uid, image_id, caption, objects, b64 in rows:
            assert uid.isdigit() and image_id.isdigit()
            refs = caption.split("&&")
            if split == "train":
                assert len(refs) == 1
            else:
                assert len(refs) == 5 and len(set(refs)) == 5
            for ref in refs:
                assert re.fullmatch(r"[a-z]+( [a-z]+)*", ref), ref
                assert len(ref.split()) <= 15
            assert objects and "\t" not in objects
            img = _image(b64)
            assert img.size == (SIZES["image_size"],) * 2
    train = _tsv(out / "caption" / "train.tsv")
    scst = _tsv(out / "caption" / "train_scst.tsv")
    assert len(scst) == len({r[1] for r in train})
    by_image = {r[1]: r[2].split("&&") for r in scst}
    for r in train:  # every train row is one of the image's references
        assert r[2] in by_image[r[1]]


def test_snli_tsv_format_and_balance(demo):
    out, summary = demo
    for split in SPLITS:
        rows = _tsv(out / "snli_ve" / f"{split}.tsv")
        meta = _jsonl(out / "meta" / f"snli_ve_{split}.jsonl")
        assert len(rows) == SIZES[split]
        assert len({r[0] for r in rows}) == len({r[1] for r in rows}) == len(rows)  # one image per row
        for (uid, image_id, b64, hypothesis, premise, label), m in zip(rows, meta):
            assert uid.isdigit() and image_id.isdigit()
            assert label in ANSWERS
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", hypothesis)
            # the premise only names the background, which no hypothesis mentions
            match = re.fullmatch(r"(?:a picture of shapes|an image of shapes|some shapes|shapes) "
                                 r"on an? (white|gray|black) background", premise)
            assert match and match.group(1) == m["scene"]["background"], premise
            assert "background" not in hypothesis
            assert _image(b64).size == (SIZES["image_size"],) * 2
        labels = Counter(r[5] for r in rows)
        assert labels == Counter({k: SIZES[split] // 3 for k in ANSWERS})
        assert labels == Counter(summary["snli_ve"][split]["labels"])


def test_readme_and_summary(demo):
    out, summary = demo
    text = (out / "README.md").read_text()
    assert "caption/{train,valid,test}.tsv" in text and "dict.txt" in text
    assert summary["snli_ve"]["train"]["rows"] == SIZES["train"]
    assert summary["bpe"]["dict_size"] > 20
    json.dumps(summary)  # plain data


# ------------------------------------------------------------------ images vs scenes

def test_images_show_the_scene(demo):
    out, _ = demo
    s = SIZES["image_size"]
    for task, col in (("caption", 4), ("snli_ve", 2)):
        for split in SPLITS:
            rows = _tsv(out / task / f"{split}.tsv")
            meta = _jsonl(out / "meta" / f"{task}_{split}.jsonl")
            assert [m["uniq_id"] for m in meta] == [int(r[0]) for r in rows]
            for row, m in zip(rows, meta):
                img = _image(row[col])
                scene = m["scene"]
                for o in scene["objects"]:
                    x, y = int(o["cx"] * s), int(o["cy"] * s)
                    near = [img.getpixel((x + dx, y + dy))
                            for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
                    diff = min(max(abs(a - b) for a, b in zip(px, o["rgb"])) for px in near)
                    assert diff <= 12, (near, o)
                    dist = max(abs(a - b) for a, b in zip(o["rgb"], COLOURS[o["colour"]]))
                    assert dist <= 14
                for col_, row_ in scene["hidden"]:  # a cover: dark and light stripes, no colour
                    cell = [img.getpixel((int((col_ + fx) * s / 3), int((row_ + fy) * s / 3)))
                            for fx in (0.2, 0.35, 0.5, 0.65, 0.8) for fy in (0.2, 0.35, 0.5, 0.65, 0.8)]
                    assert min(sum(p) for p in cell) < 200 and max(sum(p) for p in cell) > 500
                    assert all(max(p) - min(p) <= 12 for p in cell)
                if task == "caption":
                    assert scene["hidden"] == []
                corner_free = all((o["col"], o["row"]) != (0, 0) for o in scene["objects"]) and \
                    [0, 0] not in scene["hidden"]
                if corner_free:
                    corner = img.getpixel((0, 0))
                    assert max(abs(a - b) for a, b in zip(corner, scene["bg_rgb"])) <= 20


def test_render_small_scene_by_hand():
    rng = random.Random(0)
    scene = Scene((), "white", (240, 240, 240), 0.0).with_objects(
        [make_object(rng, "circle", "red", "big", 0, 1), make_object(rng, "square", "blue", "small", 2, 2)],
        hidden=[(2, 0)])
    img = render_scene(scene, 96)
    assert img.size == (96, 96)
    assert img.getpixel((16, 48))[0] > 150 and img.getpixel((16, 48))[2] < 100  # red, left
    assert img.getpixel((80, 80))[2] > 150 and img.getpixel((80, 80))[0] < 100  # blue, corner
    assert img.getpixel((48, 48)) == (240, 240, 240)  # empty centre
    cover = {img.getpixel((x, y)) for x in range(66, 94) for y in range(2, 30)}
    assert COVER_RGB[0] in cover and COVER_RGB[1] in cover  # the hidden top right cell


def test_big_shapes_are_drawn_bigger_than_small_ones():
    """The size words of captions and hypotheses are what the picture shows: a "big" shape's radius
    is about 1.6 times a "small" one's, and its drawn area about 2.6 times."""
    rng = random.Random(0)
    base = Scene((), "white", (240, 240, 240), 0.0)
    for shape in SHAPES:
        big = make_object(rng, shape, "blue", "big", 0, 0)
        small = make_object(rng, shape, "blue", "small", 2, 2)
        assert 1.4 < big.radius / small.radius < 1.9, shape
        img = render_scene(base.with_objects([big, small]), 96)
        def area(x0, y0):  # pixels of the cell that are clearly coloured (the background is gray)
            return sum(max(p) - min(p) > 60 for p in (img.getpixel((x, y)) for x in range(x0, x0 + 32)
                                                      for y in range(y0, y0 + 32)))
        assert area(0, 0) > 1.8 * area(64, 64) > 0, shape


# ------------------------------------------------------------------ BPE files

def test_bpe_files_gpt2_layout_and_round_trip(demo):
    from fairseq.data import Dictionary
    from fairseq.data.encoders.gpt2_bpe_utils import bytes_to_unicode, get_encoder

    out, _ = demo
    bpe_dir = out / "bpe"
    lines = (bpe_dir / "vocab.bpe").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "#version: 0.2" and lines[-1] == ""
    assert all(len(l.split(" ")) == 2 for l in lines[1:-1])
    encoder = json.loads((bpe_dir / "encoder.json").read_text())
    assert sorted(encoder.values()) == list(range(len(encoder)))
    byte_chars = list(bytes_to_unicode().values())
    assert [k for k, v in sorted(encoder.items(), key=lambda kv: kv[1])][:256] == byte_chars
    assert encoder["<|endoftext|>"] == len(encoder) - 1

    dict_rows = [l.split(" ") for l in (bpe_dir / "dict.txt").read_text().splitlines()]
    counts = [int(c) for _, c in dict_rows]
    assert counts == sorted(counts, reverse=True)
    dict_ids = {int(i) for i, _ in dict_rows}

    bpe = get_encoder(str(bpe_dir / "encoder.json"), str(bpe_dir / "vocab.bpe"))
    texts = [CAPTION_PROMPT, " yes", " no", " maybe"]
    for split in SPLITS:
        for r in _tsv(out / "caption" / f"{split}.tsv"):
            texts += [" " + c for c in r[2].split("&&")]
        for r in _tsv(out / "caption" / "train_scst.tsv"):
            texts += [" " + c for c in r[2].split("&&")]
        for r in _tsv(out / "snli_ve" / f"{split}.tsv"):
            texts += [SNLI_PROMPT.format(r[4], r[3]), SNLI_PROMPT_NO_CAPTION.format(r[3]),
                      " " + r[3], " " + r[4]]
    used = Counter()
    for t in texts:
        ids = bpe.encode(t)
        assert bpe.decode(ids) == t
        used.update(ids)
        assert set(ids) <= dict_ids, (t, set(ids) - dict_ids)
    # common words are single tokens
    assert len(bpe.encode(" circle")) == 1 and len(bpe.encode(" the")) == 1

    d = Dictionary.load(str(bpe_dir / "dict.txt"))
    for answer in ("yes", "no", "maybe"):
        ids = bpe.encode(" " + answer)
        assert all(d.index(str(i)) != d.unk() for i in ids)


def _small_corpus():
    """Strings as the demo encodes them (leading space): its prompts, answers and shape words,
    and some text with bytes that GPT-2's byte map moves (the euro sign's 0x82)."""
    words = [f" a {size} {colour} {shape}" for size in OBJECT_SIZES for colour in COLOURS for shape in SHAPES]
    return ([CAPTION_PROMPT, SNLI_PROMPT.format("two circles", "shapes on a gray background"), " yes", " no",
             " maybe", " the circles are left of the squares!", " café costs €5 ?"] + words) * 2


@pytest.fixture(scope="module")
def small_bpe(tmp_path_factory):
    """``(folder, corpus)``: the demo's BPE files written by ofa_mue.demo.bpe for a small corpus."""
    from ofa_mue.demo.bpe import build_bpe

    folder = tmp_path_factory.mktemp("small_bpe")
    corpus = _small_corpus()
    build_bpe(corpus, str(folder), vocab_size=320)
    return folder, corpus


def test_bpe_files_split_text_as_the_learnt_merges_do(small_bpe):
    """fairseq's GPT-2 encoder (OFA's code path) on the written encoder.json and vocab.bpe splits
    every string into the tokens that the BPE learnt by the ``tokenizers`` trainer gives: the
    merges keep their rank order, and every byte keeps GPT-2's symbol."""
    from fairseq.data.encoders.gpt2_bpe_utils import get_encoder
    from tokenizers import ByteLevelBPETokenizer

    folder, corpus = small_bpe
    learnt = ByteLevelBPETokenizer(add_prefix_space=False)
    learnt.train_from_iterator(corpus, vocab_size=320, min_frequency=2, show_progress=False, special_tokens=[])
    bpe = get_encoder(str(folder / "encoder.json"), str(folder / "vocab.bpe"))
    unseen = [" three big squares above a triangle", " where is the red star?", " naïve €uro ¿"]
    merged = 0
    for text in corpus + unseen:
        ids = bpe.encode(text)
        assert [bpe.decoder[i] for i in ids] == learnt.encode(text).tokens, text
        assert bpe.decode(ids) == text
        merged += sum(len(bpe.decoder[i]) > 1 for i in ids)
    assert merged > 50  # the merges are used, not just the byte symbols


def test_dict_txt_is_the_dictionary_fairseq_builds_from_the_encoded_corpus(small_bpe):
    """dict.txt holds the ids of the encoded corpus with their counts, in the order fairseq's
    Dictionary.finalize gives them (count descending, ties by the symbol string): the dictionary
    that fairseq would build from the same text, so every id has the same index."""
    from fairseq.data import Dictionary
    from fairseq.data.encoders.gpt2_bpe_utils import get_encoder

    folder, corpus = small_bpe
    bpe = get_encoder(str(folder / "encoder.json"), str(folder / "vocab.bpe"))
    built = Dictionary()
    for text in corpus:
        for i in bpe.encode(text):
            built.add_symbol(str(i))
    built.finalize(padding_factor=1)
    expected = [f"{symbol} {count}" for symbol, count in
                zip(built.symbols[built.nspecial:], built.count[built.nspecial:])]
    assert (folder / "dict.txt").read_text(encoding="utf-8").splitlines() == expected
    assert Dictionary.load(str(folder / "dict.txt")).symbols == built.symbols
    # the corpus has ties whose string order is not their numeric order (e.g. "82" after "256")
    counts = [(int(line.split()[1]), line.split()[0]) for line in expected]
    assert any(c == d and int(a) > int(b) for (c, a), (d, b) in zip(counts, counts[1:]))


# ------------------------------------------------------------------ labels, checked independently

COLOUR_WORDS = "|".join(COLOURS)
SHAPE_WORDS = "|".join(SHAPES)
NP = rf"(?:(big|small) )?(?:({COLOUR_WORDS}) )?({SHAPE_WORDS}|shape)"
NP_PLURAL = rf"(?:(big|small) )?(?:({COLOUR_WORDS}) )?({SHAPE_WORDS}|shape)s"
AREAS = {
    "in the top row": lambda c, r: r == 0, "in the middle row": lambda c, r: r == 1,
    "in the bottom row": lambda c, r: r == 2, "in the left column": lambda c, r: c == 0,
    "in the middle column": lambda c, r: c == 1, "in the right column": lambda c, r: c == 2,
    "in the top left corner": lambda c, r: c == 0 and r == 0,
    "in the top right corner": lambda c, r: c == 2 and r == 0,
    "in the bottom left corner": lambda c, r: c == 0 and r == 2,
    "in the bottom right corner": lambda c, r: c == 2 and r == 2,
    "in the center": lambda c, r: c == 1 and r == 1,
}
SIDES = {"left of": lambda a, b: a[3] < b[3], "right of": lambda a, b: a[3] > b[3],
         "above": lambda a, b: a[4] < b[4], "below": lambda a, b: a[4] > b[4]}


def _fits(obj, size, colour, shape):
    """obj: (colour, shape, size, col, row)."""
    return (size is None or obj[2] == size) and (colour is None or obj[0] == colour) and \
        (shape == "shape" or obj[1] == shape)


def parse_hypothesis(text):
    """A predicate on a full list of objects (colour, shape, size, col, row), from the words."""
    m = re.fullmatch(rf"there is an? {NP}(?: ({'|'.join(AREAS)}))?", text)
    if m:
        size, colour, shape, area = m.groups()
        inside = AREAS[area] if area else (lambda c, r: True)
        return lambda objs: any(_fits(o, size, colour, shape) and inside(o[3], o[4]) for o in objs)
    m = re.fullmatch(rf"there is no {NP}", text)
    if m:
        return lambda objs: not any(_fits(o, *m.groups()) for o in objs)
    m = re.fullmatch(rf"there is exactly one {NP}", text)
    if m:
        return lambda objs: sum(_fits(o, *m.groups()) for o in objs) == 1
    m = re.fullmatch(rf"there are (two|three) {NP_PLURAL}", text)
    if m:
        n = {"two": 2, "three": 3}[m.group(1)]
        return lambda objs: sum(_fits(o, *m.groups()[1:]) for o in objs) == n
    m = re.fullmatch(rf"there is an? {NP} ({'|'.join(SIDES)}) an? {NP}", text)
    if m:
        first, side, second = m.groups()[:3], m.group(4), m.groups()[4:]
        return lambda objs: any(_fits(a, *first) and _fits(b, *second) and SIDES[side](a, b)
                                for a, b in itertools.permutations(objs, 2))
    m = re.fullmatch(rf"all the shapes are (?:({COLOUR_WORDS})|(big|small)|({SHAPE_WORDS})s)", text)
    if m:
        colour, size, shape = m.groups()
        return lambda objs: all((colour is None or o[0] == colour) and (size is None or o[2] == size)
                                and (shape is None or o[1] == shape) for o in objs)
    raise AssertionError(f"hypothesis outside the grammar: {text!r}")


def judged_label(scene, text):
    """entailment / contradiction / neutral: the predicate over every content of the hidden cells."""
    predicate = parse_hypothesis(text)
    visible = [(o["colour"], o["shape"], o["size"], o["col"], o["row"]) for o in scene["objects"]]
    contents = [None] + list(itertools.product(COLOURS, SHAPES, OBJECT_SIZES))
    values = set()
    for fill in itertools.product(contents, repeat=len(scene["hidden"])):
        objs = visible + [(c[0], c[1], c[2], cell[0], cell[1]) for c, cell in zip(fill, scene["hidden"]) if c]
        values.add(predicate(objs))
    return "neutral" if len(values) == 2 else ("entailment" if values.pop() else "contradiction")


POSITION_WORDS = {(0, 0): "at the top left", (1, 0): "at the top", (2, 0): "at the top right",
                  (0, 1): "on the left", (1, 1): "in the center", (2, 1): "on the right",
                  (0, 2): "at the bottom left", (1, 2): "at the bottom", (2, 2): "at the bottom right"}
COUNTS = {"a": 1, "an": 1, "two": 2, "three": 3}


def check_caption(scene, caption):
    """Every object of the scene, in reading order, is named with its colour and shape (and,
    where given, its size and place); nothing else is named."""
    objs = sorted(scene["objects"], key=lambda o: (o["row"], o["col"]))
    body = re.sub(r"^(a picture of|an image of) ", "", caption)
    body = re.sub(r" on an? (white|gray|black) background$", lambda m: "", body)
    if body != caption and caption.endswith("background"):
        assert caption.endswith(f"on {'an' if scene['background'][0] in 'aeiou' else 'a'} "
                                f"{scene['background']} background"), caption
    named = []
    for m in re.finditer(rf"\b(a|an|two|three) (?:(big|small) )?({COLOUR_WORDS}) ({SHAPE_WORDS})s?"
                         rf"(?: ({'|'.join(sorted(POSITION_WORDS.values(), key=len, reverse=True))}))?(?=$| )", body):
        count, size, colour, shape, where = m.groups()
        named += [(colour, shape, size, where)] * COUNTS[count]
    assert len(named) == len(objs), (caption, objs)
    grouped = any(c in ("two", "three") for c in re.findall(r"\b(two|three)\b", body))
    if not grouped:  # lists go in reading order
        for (colour, shape, size, where), o in zip(named, objs):
            assert (colour, shape) == (o["colour"], o["shape"]), (caption, objs)
            assert size in (None, o["size"]) and where in (None, POSITION_WORDS[(o["col"], o["row"])])
    assert Counter((c, s) for c, s, _, _ in named) == Counter((o["colour"], o["shape"]) for o in objs)


def test_generated_labels_and_captions_agree_with_independent_judge(demo):
    out, _ = demo
    for split in SPLITS:
        rows = _tsv(out / "snli_ve" / f"{split}.tsv")
        meta = _jsonl(out / "meta" / f"snli_ve_{split}.jsonl")
        for r, m in zip(rows, meta):
            assert judged_label(m["scene"], r[3]) == r[5] == m["label"], (r[3], r[5], m["scene"])
        for r, m in zip(_tsv(out / "caption" / f"{split}.tsv"),
                        _jsonl(out / "meta" / f"caption_{split}.jsonl")):
            for c in r[2].split("&&"):
                check_caption(m["scene"], c)


def test_many_examples_labels_captions_and_variety():
    """The API on many examples (no rendering): the judge agrees; families, difficulties,
    labels with and without hidden cells all occur."""
    families, difficulty, hidden_labels = Counter(), Counter(), Counter()
    for i in range(300):
        rng = random.Random(f"test/{i}")
        want = ("entailment", "contradiction", "neutral")[i % 3]
        h, scene = L.make_example(rng, want)
        sj = scene.to_json()
        assert h["label"] == want == judged_label(sj, h["text"]), (h, sj)
        families[h["family"]] += 1
        difficulty[h["difficulty"]] += 1
        hidden_labels[(want, bool(scene.hidden))] += 1
        caption_scene = sample_scene(rng)
        for c in L.make_captions(caption_scene):
            check_caption(caption_scene.to_json(), c)
    assert set(families) == set(L.FAMILIES)
    assert min(difficulty[k] for k in ("easy", "medium", "hard")) > 0.07 * 300  # easy: about 12%
    # a hidden cell does not give the label away: it appears under every label
    assert all(hidden_labels[(want, True)] > 10 for want in ("entailment", "contradiction", "neutral"))
    assert hidden_labels[("neutral", False)] == 0


def _shortcut_accuracy(rows: list, view) -> float:
    """Accuracy of answering each row with the commonest label among rows that look the same
    through ``view``: what a model that sees only that much can reach at best."""
    by_view = defaultdict(Counter)
    for row in rows:
        by_view[view(row)][row["label"]] += 1
    return sum(max(labels.values()) for labels in by_view.values()) / len(rows)


def test_neither_the_wording_nor_the_picture_nor_both_without_the_objects_give_the_label():
    """A model that reads only the hypothesis' family, only the picture's layout (cover,
    number of objects), or both but not which objects there are, stays well short of what
    the image gives: under 0.5 on 1,200 examples each alone, under 0.55 both together (36
    views of 1,200 rows fit some noise). Chance is 1/3; not less, since the generator skips
    hypotheses that a cover rules out and a neutral needs a cover. The premise (it names the
    background only) alone stays under 0.4."""
    rng, rows = random.Random(11), []
    for i in range(1200):
        hypothesis, scene = L.make_example(rng, ("entailment", "contradiction", "neutral")[i % 3])
        rows.append({"form": hypothesis["family"], "premise": scene.background,
                     "layout": (bool(scene.hidden), len(scene.objects)), "label": hypothesis["label"]})
    wording = _shortcut_accuracy(rows, lambda r: r["form"])
    picture = _shortcut_accuracy(rows, lambda r: r["layout"])
    both = _shortcut_accuracy(rows, lambda r: (r["form"], r["layout"]))
    assert wording < 0.5 and picture < 0.5 and both < 0.55, (wording, picture, both)
    # the premise names only the background, drawn apart from the label: it alone is about chance
    assert _shortcut_accuracy(rows, lambda r: r["premise"]) < 0.4


def test_the_picture_alone_does_not_give_the_label():
    """The number of visible objects is drawn before the label (the same random state gives
    the same count whatever label is wanted), and a covered cell is in every neutral scene
    and in about three quarters of the others: neither the object count nor a cover decides
    the label."""
    covered, n = Counter(), 150
    for i in range(n):
        counts = set()
        for want in ("entailment", "contradiction", "neutral"):
            _, scene = L.make_example(random.Random(f"layout/{i}"), want)
            counts.add(len(scene.objects))
            covered[want] += bool(scene.hidden)
        assert len(counts) == 1 and counts <= set(L.VISIBLE_OBJECTS), counts
    assert covered["neutral"] == n
    assert all(0.6 * n < covered[want] < 0.9 * n for want in ("entailment", "contradiction")), covered


def test_hypotheses_ruled_out_under_a_cover_never_take_that_label():
    """What :func:`impossible_under_cover` rules out never comes up in covered scenes drawn
    for it, and every family and label it allows does come up (the generator skips only
    hypotheses that could not have been realized)."""
    rng = random.Random(7)
    seen = Counter()
    for _ in range(1500):
        hypothesis = L.sample_hypothesis(rng)
        lf = hypothesis["lf"]
        scene = L.propose_scene(rng, lf, rng.choice(L.VISIBLE_OBJECTS), hidden=1)
        label = L.label_of(lf, scene)
        assert not L.impossible_under_cover(lf, label), (hypothesis["text"], scene.to_json(), label)
        seen[(hypothesis["family"], label)] += 1
    representative = {"exists": ("exists", None, None), "region": ("exists", None, "in the center"),
                      "none": ("none",), "count": ("count",), "relation": ("rel",), "all": ("all",)}
    allowed = {(family, want) for family, lf in representative.items()
               for want in ("entailment", "contradiction", "neutral") if not L.impossible_under_cover(lf, want)}
    assert set(seen) == allowed, sorted(set(seen) ^ allowed)


def test_judge_and_generator_on_hand_built_scenes():
    rng = random.Random(1)
    base = Scene((), "white", (240, 240, 240), 0.0)
    F = L.Filter
    scene = base.with_objects([make_object(rng, "circle", "red", "big", 0, 1),
                               make_object(rng, "square", "blue", "small", 2, 1),
                               make_object(rng, "circle", "red", "small", 1, 0)], hidden=[(2, 2)])
    partly_hidden = base.with_objects([make_object(rng, "circle", "red", "big", 0, 0)], hidden=[(1, 1)])
    cases = [
        (scene, "there is a red circle", ("exists", F("red", "circle"), None), "entailment"),
        (scene, "there is a blue circle", ("exists", F("blue", "circle"), None), "neutral"),
        (scene, "there is a blue circle in the top row", ("exists", F("blue", "circle"), "in the top row"),
         "contradiction"),  # the cover is in the bottom row
        (scene, "there is a blue square in the bottom right corner",
         ("exists", F("blue", "square"), "in the bottom right corner"), "neutral"),
        (scene, "there is no red circle", ("none", F("red", "circle")), "contradiction"),
        (scene, "there is no green star", ("none", F("green", "star")), "neutral"),
        (scene, "there are two red circles", ("count", F("red", "circle"), 2), "neutral"),
        (scene, "there are three red circles", ("count", F("red", "circle"), 3), "neutral"),
        (scene, "there is exactly one big shape", ("count", F(None, None, "big"), 1), "neutral"),
        (scene, "there is a red circle left of a blue square",
         ("rel", F("red", "circle"), "left of", F("blue", "square")), "entailment"),
        (scene, "there is a blue square left of a red shape",
         ("rel", F("blue", "square"), "left of", F("red")), "contradiction"),  # nothing right of column 2
        (scene, "there is a small shape above a big shape",
         ("rel", F(size="small"), "above", F(size="big")), "entailment"),
        (scene, "all the shapes are red", ("all", "colour", "red"), "contradiction"),
        (scene, "all the shapes are small", ("all", "size", "small"), "contradiction"),
        (partly_hidden, "all the shapes are red", ("all", "colour", "red"), "neutral"),
        (partly_hidden, "all the shapes are circles", ("all", "shape", "circle"), "neutral"),
        (partly_hidden, "there is a red circle above a blue shape",
         ("rel", F("red", "circle"), "above", F("blue")), "neutral"),
        (partly_hidden, "there is a red circle below a shape", ("rel", F("red", "circle"), "below", F()),
         "neutral"),  # one may be hidden in row 1, below the visible one
        (partly_hidden, "there is a red circle below a blue shape",
         ("rel", F("red", "circle"), "below", F("blue")), "contradiction"),  # no blue shape can be above
        (partly_hidden, "there is exactly one red circle", ("count", F("red", "circle"), 1), "neutral"),
        (partly_hidden, "there are two stars", ("count", F(shape="star"), 2), "contradiction"),
    ]
    for scene_, text, lf, label in cases:
        assert judged_label(scene_.to_json(), text) == label, text
        assert L.label_of(lf, scene_) == label, text
    plain = base.with_objects([make_object(rng, "star", "green", "big", 1, 1)])
    assert L.label_of(("all", "colour", "green"), plain) == "entailment"
    assert L.label_of(("count", F("green"), 1), plain) == "entailment"
    assert L.label_of(("none", F(shape="circle")), plain) == "entailment"


def test_references_are_the_first_forms_that_fit_the_word_limit():
    """make_captions' references: the first k forms of at most max_words words (one of exactly
    max_words words fits)."""
    rng = random.Random(1)
    scene = Scene((), "white", (240, 240, 240), 0.0).with_objects([
        make_object(rng, "circle", "red", "big", 0, 0), make_object(rng, "circle", "red", "small", 2, 0),
        make_object(rng, "square", "blue", "small", 1, 2)])
    assert L.make_captions(scene, k=3, max_words=40) == [
        "a red circle a red circle and a blue square", "a big red circle a small red circle and a small blue square",
        "two red circles and a blue square"]
    plain = L.caption_list(scene)
    assert L.make_captions(scene, k=1, max_words=len(plain.split())) == [plain]


def test_hypothesis_families_are_drawn_by_their_weights():
    """sample_hypothesis draws a family with probability its weight over the weights of the
    families it draws from (all, or those asked for)."""
    rng, n = random.Random(5), 6000
    drawn = Counter(L.sample_hypothesis(rng)["family"] for _ in range(n))
    total = sum(weight for _, weight in L.FAMILIES.values())
    for family, (_, weight) in L.FAMILIES.items():
        assert drawn[family] / n == pytest.approx(weight / total, abs=0.02), (family, drawn)
    restricted = Counter(L.sample_hypothesis(rng, ("exists", "all"))["family"] for _ in range(n))
    assert set(restricted) == {"exists", "all"}
    exists, everything = L.FAMILIES["exists"][1], L.FAMILIES["all"][1]
    assert restricted["exists"] / n == pytest.approx(exists / (exists + everything), abs=0.02), restricted


def test_cli_main(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "d"), "--train", "6", "--valid", "3", "--test", "3",
                 "--image-size", "32", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "caption" in text and "snli_ve" in text
    assert len(_tsv(tmp_path / "d" / "snli_ve" / "train.tsv")) == 6
    assert len(_tsv(tmp_path / "d" / "caption" / "train.tsv")) == 6


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_demo_data(tmp_path, train=-1)
    with pytest.raises(ValueError):
        generate_demo_data(tmp_path, image_size=8)


def test_snli_families_restrict_the_hypotheses_and_nothing_else(demo, tmp_path, capsys):
    """``--snli-families exists`` (a diagnostic): every SNLI-VE row is an existence hypothesis,
    labels still balanced, captions as in the full data; an unknown family is refused by name."""
    root, _ = demo
    assert len({m["family"] for m in _jsonl(root / "meta" / "snli_ve_train.jsonl")}) > 1
    out = tmp_path / "exists"
    summary = generate_demo_data(out, seed=0, snli_families=["exists"], **SIZES)
    for split in SPLITS:
        assert {m["family"] for m in _jsonl(out / "meta" / f"snli_ve_{split}.jsonl")} == {"exists"}
        assert all(row[3].startswith("there is ") for row in _tsv(out / "snli_ve" / f"{split}.tsv"))
    assert summary["snli_ve"]["train"]["labels"] == {"contradiction": 20, "entailment": 20, "neutral": 20}
    assert (out / "caption" / "train.tsv").read_bytes() == (root / "caption" / "train.tsv").read_bytes()
    # demo.sh's question stage runs on any families: their vocabulary encodes every kind of question
    batches = QuestionBatches(OFAVocabulary.load(str(out / "bpe"), code_dict_size=0, num_bins=0), 32)
    rng = random.Random(0)
    batches.batch([sample_question(rng) for _ in range(300)])  # ValueError on a word outside the vocabulary
    for text in question_texts():
        batches.encode(text)
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--train", "3", "--valid", "3", "--test", "3", "--no-progress",
              "--snli-families", "exists,colour"])
    assert "unknown SNLI-VE hypothesis family 'colour' (known: exists, region" in capsys.readouterr().err


def test_grounding_statements_look_up_one_colour_with_computed_labels(demo, tmp_path, capsys):
    """``--grounding N``: N rows of "there is a <colour> shape" in the SNLI-VE format, true or
    false half the time each in scenes without covers (image-text matching), labels equal to
    the independent judge's on the row's own scene (images of their own, not the SNLI-VE
    ones); the caption and SNLI-VE files stay as without it; 0 writes no grounding folder
    and a negative count is refused."""
    root, _ = demo
    assert not (root / "grounding").exists()
    out = tmp_path / "grounded"
    summary = generate_demo_data(out, seed=0, grounding=30, **SIZES)
    rows, meta = _tsv(out / "grounding" / "train.tsv"), _jsonl(out / "meta" / "grounding_train.jsonl")
    assert len(rows) == len(meta) == 30
    assert summary["grounding"]["labels"] == {"contradiction": 15, "entailment": 15}
    colours = set()
    for r, m in zip(rows, meta):
        match = re.fullmatch(rf"there is an? ({COLOUR_WORDS}) shape", r[3])
        assert match, r[3]
        colours.add(match.group(1))
        assert judged_label(m["scene"], r[3]) == r[5] == m["label"]
        assert m["scene"]["hidden"] == [] and m["hidden_cells"] == 0
        assert r[5] in ANSWERS and len(r) == 6
    assert len(colours) > 3
    snli_ids = {r[1] for split in SPLITS for r in _tsv(root / "snli_ve" / f"{split}.tsv")}
    assert not snli_ids & {r[1] for r in rows}
    assert not {r[2] for r in _tsv(root / "snli_ve" / "train.tsv")} & {r[2] for r in rows}
    for task in ("caption", "snli_ve"):
        for split in SPLITS:
            assert (out / task / f"{split}.tsv").read_bytes() == (root / task / f"{split}.tsv").read_bytes()
    assert "## Grounding" in (out / "README.md").read_text()
    assert main(["--out", str(tmp_path / "cli"), "--train", "3", "--valid", "3", "--test", "3",
                 "--grounding", "6", "--no-progress"]) == 0
    assert "grounding     6 rows" in capsys.readouterr().out
    with pytest.raises(ValueError, match="grounding rows must be >= 0"):
        generate_demo_data(tmp_path / "bad", grounding=-1)


def test_caption_scenes_hold_the_asked_numbers_of_objects_in_references_of_the_asked_length(demo, tmp_path):
    """``--caption-objects 4,5 --caption-words 22``: every caption scene holds 4 or 5 objects
    (both occur), every reference fits in 22 words, SNLI-VE is untouched, and the data's README
    names the options; references that cannot fit are refused by the option's name."""
    root, _ = demo
    out = tmp_path / "more"
    generate_demo_data(out, seed=0, caption_objects=(5, 4), caption_words=22, **SIZES)
    counts = set()
    for split in SPLITS:
        for meta in _jsonl(out / "meta" / f"caption_{split}.jsonl"):
            counts.add(meta["n_objects"])
            assert len(meta["scene"]["objects"]) == meta["n_objects"]
            assert all(len(ref.split()) <= 22 for ref in meta["references"])
        assert _tsv(out / "snli_ve" / f"{split}.tsv") == _tsv(root / "snli_ve" / f"{split}.tsv")
    assert counts == {4, 5}
    readme = (out / "README.md").read_text()
    assert "--caption-objects 4,5 --caption-words 22`" in readme and "(4-5 per caption scene" in readme
    assert "--caption-objects" not in (root / "README.md").read_text()
    with pytest.raises(ValueError, match="--caption-words"):
        generate_demo_data(tmp_path / "short", seed=0, caption_objects=(5,), caption_words=15, **SIZES)
    with pytest.raises(ValueError, match="from 1 to 9"):
        generate_demo_data(tmp_path / "none", seed=0, caption_objects=(0, 2), **SIZES)


def test_reuse_keeps_data_of_the_same_arguments_and_refuses_other_arguments(tmp_path, capsys):
    """``--reuse`` (what demo.sh passes): the same arguments keep the files as they are; other
    arguments, or data without the record of its arguments, stop with an error naming them."""
    out = tmp_path / "d"
    args = ["--out", str(out), "--train", "20", "--valid", "3", "--test", "3", "--no-progress"]
    assert main(args + ["--reuse"]) == 0  # nothing there yet: generates
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(args + ["--reuse"]) == 0
    assert "reusing" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    with pytest.raises(SystemExit):
        main(args + ["--reuse", "--caption-objects", "1,2", "--train", "21"])
    error = capsys.readouterr().err
    assert "caption_objects [1, 2, 3] there, [1, 2] asked" in error and "'train': 21" in error
    (out / "meta" / "arguments.json").unlink()
    with pytest.raises(SystemExit):
        main(args + ["--reuse"])
    assert "without meta/arguments.json" in capsys.readouterr().err


@pytest.mark.parametrize("args, env, message", [
    (["--seed-list", "2,2"], {}, "names a seed twice"),
    (["--seed-list", "2,x"], {}, "positive integers separated by commas"),
    (["--seed-list=0"], {}, "positive integers separated by commas"),
    (["--seeds", "2", "--seed-list", "3"], {}, "not both"),
    (["--seed-list", "3"], {"DEMO_SEEDS": "2"}, "not both"),
    (["--seeds", "0"], {}, "--seeds must be a positive integer"),
    (["--seed"], {}, "unknown argument --seed"),
    ([], {"DEMO_ABLATIONS": "yes"}, "DEMO_ABLATIONS must be 0 or 1"),
    (["--ablations", "--seeds", "0"], {}, "--seeds must be a positive integer"),  # --ablations is known
])
def test_demo_script_refuses_arguments_it_cannot_honour(args, env, message):
    """demo.sh checks its arguments before it sets anything up: a seed list naming a seed
    twice, or given beside --seeds (which it would override), an ablation switch other than
    0 or 1, stops with one line and exit 2."""
    script = Path(__file__).resolve().parents[1] / "run_scripts" / "demo.sh"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")} | env
    done = subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                          env=environment, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "setup_env" not in done.stdout + done.stderr


def refused_demo_environment(tmp_path: Path, name: str, value: str) -> Dict[str, str]:
    """The environment of a demo.sh run that must stop at setting ``name``: the tests' venv, every
    folder under ``tmp_path``, and tiny data with no pretraining updates, so a demo.sh that goes on
    instead stops within seconds at its first training step (never at a test's timeout)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")} | {
        name: value, "DEMO_DATA": str(tmp_path / "data"), "DEMO_CHECKPOINTS": str(tmp_path / "checkpoints"),
        "DEMO_RESULTS": str(tmp_path / "results"), "DEMO_TRAIN_ROWS": "30", "DEMO_VALID_ROWS": "9",
        "DEMO_TEST_ROWS": "9", "DEMO_PRETRAIN_UPDATES": "0",
        "OFA_MUE_VENV": fast_venv()}  # the venv running the tests, its python forked from the fork server


@pytest.mark.parametrize("easy", ["2001", "-1", "07"])
def test_demo_script_refuses_easy_lookup_updates_it_cannot_honour(easy, tmp_path):
    """DEMO_EASY_LOOKUP_UPDATES is a whole number no larger than the question stage's updates:
    demo.sh stops with one line and exit 2 before it generates or trains anything."""
    script = Path(__file__).resolve().parents[1] / "run_scripts" / "demo.sh"
    environment = refused_demo_environment(tmp_path, "DEMO_EASY_LOOKUP_UPDATES", easy)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 2, done.stderr
    assert (f"DEMO_EASY_LOOKUP_UPDATES must be a whole number from 0 to DEMO_QUESTION_UPDATES (2000), got '{easy}'"
            in done.stderr)
    assert "demo data" not in done.stdout


def test_demo_script_starts_each_seed_afresh(tmp_path):
    """A rerun of demo.sh never resumes a previous run's models: in a seed folder a run left,
    fairseq-train would continue from its checkpoint_last.pt (ignoring --finetune-from-model and
    the DEMO_* settings of the rerun) and the calibration would refuse its tables. demo.sh
    deletes the seed's checkpoint and result folders when the seed starts, and keeps other
    seeds'. (The run is stopped at its first step after that, by a pretraining of 0 updates.)"""
    script = Path(__file__).resolve().parents[1] / "run_scripts" / "demo.sh"
    checkpoints, results = tmp_path / "checkpoints", tmp_path / "results"
    stale = [checkpoints / "seed1" / "snli_ve" / "checkpoint_last.pt",
             results / "seed1" / "caption" / "calibration_table.json.gz"]
    kept = [checkpoints / "seed2" / "snli_ve" / "checkpoint_last.pt", results / "seed2" / "run_time.json"]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("left by a previous run")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")} | {
        "DEMO_DATA": str(tmp_path / "data"), "DEMO_CHECKPOINTS": str(checkpoints), "DEMO_RESULTS": str(results),
        "DEMO_TRAIN_ROWS": "300", "DEMO_VALID_ROWS": "60", "DEMO_TEST_ROWS": "40", "DEMO_PRETRAIN_UPDATES": "0",
        "OFA_MUE_VENV": fast_venv()}  # the venv running the tests, its python forked from the fork server
    done = subprocess.run(["bash", str(script), "--seed-list", "1"], capture_output=True, text=True,
                          env=environment, timeout=300)
    assert done.returncode != 0 and "--updates must be at least 1" in done.stderr, done.stderr[-2000:]
    assert [path for path in stale if path.exists()] == []
    assert [path.read_text() for path in kept] == ["left by a previous run"] * 2


@pytest.mark.parametrize("name, value, message", [
    ("DEMO_FOCUS_WEIGHT", "-1", "DEMO_FOCUS_WEIGHT must be a number >= 0, got '-1'"),
    ("DEMO_FOCUS_WEIGHT", "one", "DEMO_FOCUS_WEIGHT must be a number >= 0, got 'one'"),
    ("DEMO_FOCUS_LR", "0", "DEMO_FOCUS_LR must be a number > 0, got '0'"),
    ("DEMO_FOCUS_LR", "fast", "DEMO_FOCUS_LR must be a number > 0, got 'fast'"),
    ("DEMO_FREEZE_ENCODER", "yes", "DEMO_FREEZE_ENCODER must be 0 or 1, got 'yes'"),
    ("DEMO_SNLI_LR", "0", "DEMO_SNLI_LR must be a number > 0, got '0'"),
    ("DEMO_SNLI_LR", "-1e-4", "DEMO_SNLI_LR must be a number > 0, got '-1e-4'"),
    ("DEMO_SNLI_LABEL_SMOOTHING", "1", "DEMO_SNLI_LABEL_SMOOTHING must be a number from 0 to below 1, got '1'"),
    ("DEMO_SNLI_LABEL_SMOOTHING", "none", "DEMO_SNLI_LABEL_SMOOTHING must be a number from 0 to below 1, got 'none'"),
], ids=["focus_weight_negative", "focus_weight_word", "focus_lr_zero", "focus_lr_word", "freeze_encoder_word",
        "snli_lr_zero", "snli_lr_negative", "snli_label_smoothing_one", "snli_label_smoothing_word"])
def test_demo_script_refuses_training_settings_it_cannot_honour(name, value, message, tmp_path):
    """The question stage's focus settings and SNLI-VE's learning rate and label smoothing are checked
    before demo.sh generates or trains anything."""
    script = Path(__file__).resolve().parents[1] / "run_scripts" / "demo.sh"
    environment = refused_demo_environment(tmp_path, name, value)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "demo data" not in done.stdout


# ------------------------------------------------------------------ splits, meta rows, wording

def judged_family_and_difficulty(text):
    """(family, difficulty) of a hypothesis from its words alone: the facts to find are the
    attributes each shape is named by, plus one for a region, an absence or a relation, plus two
    for an exact count; "all the shapes are ..." is two. Easy: one, medium: two, hard: more."""
    def named(size, colour, shape):
        return (size is not None) + (colour is not None) + (shape != "shape")
    if m := re.fullmatch(rf"there is an? {NP}(?: ({'|'.join(AREAS)}))?", text):
        family, steps = ("region", named(*m.groups()[:3]) + 1) if m.group(4) else ("exists", named(*m.groups()[:3]))
    elif m := re.fullmatch(rf"there is no {NP}", text):
        family, steps = "none", named(*m.groups()) + 1
    elif m := (re.fullmatch(rf"there is exactly one {NP}", text)
               or re.fullmatch(rf"there are (?:two|three) {NP_PLURAL}", text)):
        family, steps = "count", named(*m.groups()) + 2
    elif m := re.fullmatch(rf"there is an? {NP} (?:{'|'.join(SIDES)}) an? {NP}", text):
        family, steps = "relation", named(*m.groups()[:3]) + named(*m.groups()[3:]) + 1
    elif re.fullmatch(r"all the shapes are [a-z]+", text):
        family, steps = "all", 2
    else:
        raise AssertionError(f"hypothesis outside the grammar: {text!r}")
    return family, "easy" if steps <= 1 else ("medium" if steps == 2 else "hard")


def test_splits_share_no_image_scene_or_image_id(demo):
    """Train, valid and test hold different pictures of different scenes (each row draws from its own
    split's random state), every image id belongs to one task and split only, and every image is
    stored as OFA's files store them: ``base64.urlsafe_b64encode`` of the PNG."""
    out, _ = demo
    owners = defaultdict(set)
    for task, column in (("caption", 4), ("snli_ve", 2)):
        images, scenes = {}, {}
        for split in SPLITS:
            rows = _tsv(out / task / f"{split}.tsv")
            images[split] = {r[column] for r in rows}
            meta = _jsonl(out / "meta" / f"{task}_{split}.jsonl")
            scenes[split] = {json.dumps(m["scene"], sort_keys=True) for m in meta}
            for r in rows:
                owners[r[1]].add((task, split))
                assert base64.urlsafe_b64encode(base64.urlsafe_b64decode(r[column])).decode("ascii") == r[column]
        for first, second in itertools.combinations(SPLITS, 2):
            assert not images[first] & images[second], (task, first, second)
            assert not scenes[first] & scenes[second], (task, first, second)
    assert all(len(places) == 1 for places in owners.values()), {i: p for i, p in owners.items() if len(p) > 1}


def test_row_counts_not_a_multiple_of_the_blocks_and_labels_in_shuffled_blocks(demo, tmp_path):
    """Sizes count TSV rows whatever they are: an odd caption train size keeps one reference of its
    last image (7 rows, 4 images), and SNLI-VE labels come in blocks holding each label once, in an
    order drawn anew for each block (the row's place does not give its label)."""
    summary = generate_demo_data(tmp_path, seed=2, train=7, valid=4, test=5, image_size=32)
    for split, rows in (("train", 7), ("valid", 4), ("test", 5)):
        caption, snli = _tsv(tmp_path / "caption" / f"{split}.tsv"), _tsv(tmp_path / "snli_ve" / f"{split}.tsv")
        assert len(caption) == len(snli) == rows == summary["caption"][split]["rows"], split
        labels = [r[5] for r in snli]
        for start in range(0, rows, 3):
            assert len(set(labels[start:start + 3])) == len(labels[start:start + 3]), (split, labels)
    assert summary["caption"]["train"]["images"] == summary["caption"]["train"]["scst_rows"] == 4
    assert len(_tsv(tmp_path / "caption" / "train_scst.tsv")) == 4
    labels = [r[5] for r in _tsv(demo[0] / "snli_ve" / "train.tsv")]
    blocks = [tuple(labels[start:start + 3]) for start in range(0, len(labels), 3)]
    assert all(sorted(block) == sorted(ANSWERS) for block in blocks)
    assert len(set(blocks)) > 2, blocks


def test_meta_rows_describe_their_tsv_rows(demo):
    """meta/*.jsonl (what ofa_mue.demo.families groups predictions by) says of each row what the row
    and its scene are: the label, the number of visible objects and of covered cells, the hypothesis'
    family and its difficulty as its words give them; for captions the references and a difficulty
    by the number of objects (one easy, two medium, three hard). Every difficulty occurs."""
    out, summary = demo
    difficulties = Counter()
    for split in SPLITS:
        for r, m in zip(_tsv(out / "snli_ve" / f"{split}.tsv"), _jsonl(out / "meta" / f"snli_ve_{split}.jsonl")):
            assert (m["uniq_id"], m["image_id"], m["label"]) == (int(r[0]), int(r[1]), r[5])
            assert m["n_objects"] == len(m["scene"]["objects"]) and m["hidden_cells"] == len(m["scene"]["hidden"])
            assert (m["family"], m["difficulty"]) == judged_family_and_difficulty(r[3]), r[3]
            difficulties["snli_ve", m["difficulty"]] += 1
        meta = _jsonl(out / "meta" / f"caption_{split}.jsonl")
        for r, m in zip(_tsv(out / "caption" / f"{split}.tsv"), meta):
            objects = m["scene"]["objects"]
            assert m["n_objects"] == len(objects)
            assert m["difficulty"] == {1: "easy", 2: "medium", 3: "hard"}[len(objects)]
            assert r[3] == ",".join(f"{o['colour']} {o['shape']}" for o in objects)
            assert (r[2] in m["references"]) if split == "train" else (r[2].split("&&") == m["references"])
            difficulties["caption", m["difficulty"]] += 1
        assert summary["caption"][split]["difficulty"] == dict(Counter(m["difficulty"] for m in meta))
    assert all(difficulties[task, level] > 0 for task in ("caption", "snli_ve") for level in ("easy", "medium", "hard"))


def test_hypothesis_difficulty_is_the_number_of_facts_its_words_ask_for():
    """Each family's difficulty as the README defines it, on many drawn hypotheses (no scenes), and
    the grounding statements ("there is a red shape") are easy."""
    rng, seen = random.Random(9), Counter()
    for _ in range(1500):
        hypothesis = L.sample_hypothesis(rng)
        assert (hypothesis["family"], hypothesis["difficulty"]) == judged_family_and_difficulty(hypothesis["text"])
        seen[hypothesis["family"], hypothesis["difficulty"]] += 1
    assert {(family, level) for family, level in seen} >= {
        ("exists", "easy"), ("exists", "medium"), ("exists", "hard"), ("region", "medium"), ("region", "hard"),
        ("none", "medium"), ("none", "hard"), ("count", "hard"), ("relation", "hard"), ("all", "medium")}
    statement = L.sample_hypothesis(rng, registry=L.GROUNDING_FAMILIES)
    assert statement["difficulty"] == "easy"
    assert re.fullmatch(rf"there is an? ({COLOUR_WORDS}) shape", statement["text"])


def test_an_before_a_vowel_a_before_a_consonant(demo):
    """"an orange star", "a red circle": in every caption, hypothesis and premise of the data."""
    out, _ = demo
    texts = []
    for split in SPLITS:
        texts += [ref for r in _tsv(out / "caption" / f"{split}.tsv") for ref in r[2].split("&&")]
        texts += [field for r in _tsv(out / "snli_ve" / f"{split}.tsv") for field in (r[3], r[4])]
    assert any(" an orange " in f" {text} " for text in texts)
    assert not [t for t in texts if re.search(r"\ba [aeiou]|\ban [^aeiou]", t)]
    rng = random.Random(0)
    scene = Scene((), "white", (240, 240, 240), 0.0).with_objects([make_object(rng, "star", "orange", "big", 0, 0)])
    assert L.make_captions(scene, k=2) == ["an orange star", "a big orange star"]
    assert L.Filter("orange").with_article() == "an orange shape"


def test_objects_stay_inside_their_cells():
    """Whatever the jitter, a shape (its radius around its centre) stays inside its grid cell, so the
    cell its place words and relations are computed from is the one the picture shows it in."""
    from ofa_mue.demo.scenes import CELLS, random_object

    rng = random.Random(3)
    for _ in range(600):
        obj = random_object(rng, rng.choice(CELLS))
        for centre, index in ((obj.cx, obj.col), (obj.cy, obj.row)):
            assert index / 3 <= centre - obj.radius and centre + obj.radius <= (index + 1) / 3, obj


def test_scenes_repeat_shapes_and_colours_often_enough_to_count():
    """sample_scene repeats an object's shape (and half the time its colour) now and then, so that
    counts and grouped captions ("two red circles") matter: three-object scenes hold two objects of
    the same colour and shape about 30% of the time (about 12% if drawn independently)."""
    rng, n = random.Random(8), 1000
    repeats = 0
    for _ in range(n):
        keys = [(o.colour, o.shape) for o in sample_scene(rng, n_objects=(3,)).objects]
        repeats += len(set(keys)) < len(keys)
    assert 0.22 < repeats / n < 0.4, repeats / n


def test_bpe_corpus_holds_the_strings_ofas_datasets_encode():
    """The BPE is learnt on the strings OFA's SNLI-VE dataset encodes: the prompt with the premise
    first and the hypothesis second (``--add-caption``), the prompt without the premise, and the
    answer after a space; and the caption prompt and references after a space."""
    from ofa_mue.demo.generate import _bpe_corpus

    row = (10, 1, "image", "there is a red circle", "shapes on a white background", "neutral")
    corpus = _bpe_corpus(["a red circle"], [row])
    assert ' can image and text1 " shapes on a white background " imply text2 " there is a red circle "?' in corpus
    assert ' does the image describe " there is a red circle "?' in corpus
    assert " maybe" in corpus and " a red circle" in corpus and " what does the image describe?" in corpus


def test_a_covered_cell_may_be_empty_or_hold_any_object():
    """A cover hides nothing or any one object: with one visible shape and one covered cell, "there is
    exactly one shape" and "there are two shapes" are both undecided, and so is a shape in the covered
    cell."""
    rng = random.Random(2)
    scene = Scene((), "white", (240, 240, 240), 0.0).with_objects([make_object(rng, "circle", "red", "big", 0, 0)],
                                                                  hidden=[(1, 1)])
    F = L.Filter
    for lf, text in ((("count", F(), 1), "there is exactly one shape"), (("count", F(), 2), "there are two shapes"),
                     (("exists", F(), "in the center"), "there is a shape in the center"),
                     (("none", F("blue")), "there is no blue shape")):
        assert L.label_of(lf, scene) == "neutral" == judged_label(scene.to_json(), text), text
    assert len(L.ALL_CONTENTS) == 1 + len(COLOURS) * len(SHAPES) * len(OBJECT_SIZES)
