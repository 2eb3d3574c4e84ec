"""Tests of the demo data generator (ofa_mue.demo.generate and its helper modules).

The label checks here do not reuse the generator's logic: they parse the generated English
with their own patterns and compare it with the scene recorded in meta/*.jsonl (or with
the scene object for direct API calls).
"""
import base64
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from ofa_mue.demo import language as L
from ofa_mue.demo.generate import (ANSWERS, CAPTION_PROMPT, SNLI_PROMPT,
                                    SNLI_PROMPT_NO_CAPTION, generate_demo_data, main)
from ofa_mue.demo.scenes import COLOURS, Scene, make_object, render_scene, sample_scene

SIZES = dict(train=60, valid=9, test=9, image_size=64)
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
    assert len(first) == 17
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
                assert len(ref.split()) <= 14
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
        assert len(rows) == SIZES[split]
        assert len({r[0] for r in rows}) == len(rows)
        for uid, image_id, b64, hypothesis, premise, label in rows:
            assert uid.isdigit() and image_id.isdigit()
            assert label in ANSWERS
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", hypothesis)
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", premise)
            assert hypothesis != premise
            assert _image(b64).size == (SIZES["image_size"],) * 2
        labels = Counter(r[5] for r in rows)
        assert max(labels.values()) - min(labels.values()) <= 1, labels
        assert labels == Counter(summary["snli_ve"][split]["labels"])
        # one row per label for each image
        per_image = {}
        for r in rows:
            per_image.setdefault(r[1], []).append(r[5])
        assert all(len(set(v)) == len(v) for v in per_image.values())


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
                    assert diff <= (2 if o["size"] == "big" else 40), (near, o)
                    dist = max(abs(a - b) for a, b in zip(o["rgb"], COLOURS[o["colour"]]))
                    assert dist <= 14
                corner = img.getpixel((0, 0))
                assert max(abs(a - b) for a, b in zip(corner, scene["bg_rgb"])) <= 20


def test_render_small_scene_by_hand():
    rng = random.Random(0)
    scene = Scene((make_object(rng, "circle", "red", "big", 0, 1),
                   make_object(rng, "square", "blue", "small", 2, 2)), "white",
                  (240, 240, 240), 0.0)
    img = render_scene(scene, 96)
    assert img.size == (96, 96)
    assert img.getpixel((16, 48))[0] > 150 and img.getpixel((16, 48))[2] < 100  # red, left
    assert img.getpixel((80, 80))[2] > 150 and img.getpixel((80, 80))[0] < 100  # blue, corner
    assert img.getpixel((48, 48)) == (240, 240, 240)  # empty centre


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


# ------------------------------------------------------------------ labels, checked independently

COLOUR_WORDS = "|".join(COLOURS)
NOUNS = "circles?|squares?|triangles?|stars?|cross(?:es)?|shapes?"
NUMBERS = {"a": None, "an": None, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "no": 0}
NP = rf"(a|an|one|two|three|four|five|no) (?:(big|small) )?(?:({COLOUR_WORDS}) )?({NOUNS})"
REF = rf"(?:(big|small) )?(?:({COLOUR_WORDS}) )?({NOUNS})"


def _singular(noun):
    if noun.startswith("cross"):
        return "cross"
    return noun[:-1] if noun.endswith("s") else noun


def _count(scene, size=None, colour=None, noun=None):
    shape = None if noun is None or _singular(noun) == "shape" else _singular(noun)
    return sum(1 for o in scene["objects"]
               if (size is None or o["size"] == size) and (colour is None or o["colour"] == colour)
               and (shape is None or o["shape"] == shape))


def _np_truth(scene, det, size, colour, noun):
    n = _count(scene, size, colour, noun)
    return n >= 1 if NUMBERS[det] is None else n == NUMBERS[det]


def _the(scene, size, colour, noun):
    shape = None if _singular(noun) == "shape" else _singular(noun)
    found = [o for o in scene["objects"]
             if (size is None or o["size"] == size) and (colour is None or o["colour"] == colour)
             and (shape is None or o["shape"] == shape)]
    assert len(found) == 1, f"definite reference must be unique: {size} {colour} {noun}"
    return found[0]


def _side(o, word):
    if word == "center" or word == "middle":
        return o["col"] == 1 and o["row"] == 1
    coord = o["col"] if word in ("left", "right") else o["row"]
    assert coord != 1, "side claims are only made for objects off the middle line"
    return coord == (0 if word in ("left", "top") else 2)


NEUTRAL_TAILS = (r"made of \w+|heavy|warm|cold|soft|new|old|moving .+|falling|spinning"
                 r"|drawn by an? \w+")


def independent_label(scene, h):
    """Label of hypothesis h from its words and the scene, or None if no pattern applies."""
    label = {True: "entailment", False: "contradiction"}
    m = re.fullmatch(rf"(?:there (?:is|are)|the picture (?:shows|has)) (?:only |exactly )?{NP}", h)
    if m:
        return label[_np_truth(scene, *m.groups())]
    m = re.fullmatch(rf"{NP} can be seen", h)
    if m:
        return label[_np_truth(scene, *m.groups())]
    m = re.fullmatch(rf"(?:there is )?{NP} (?:made of \w+|drawn by an? \w+)"
                     r"(?: is in the picture)?", h)
    if m:
        return "neutral" if _np_truth(scene, *m.groups()) else "contradiction"
    m = re.fullmatch(r"the background is (\w+)|the shapes are on an? (\w+) background", h)
    if m:
        return label[scene["background"] == (m.group(1) or m.group(2))]
    m = re.fullmatch(r"(?:all the shapes are|every shape is) (?:an? )?(\w+)", h)
    if m:
        w = m.group(1)
        key = "colour" if w in COLOURS else ("size" if w in ("big", "small") else "shape")
        value = _singular(w) if key == "shape" else w
        return label[all(o[key] == value for o in scene["objects"])]
    m = re.fullmatch(rf"the {REF} is (left of|to the left of|right of|to the right of|above|"
                     rf"below|under|bigger than|larger than|smaller than) the {REF}", h)
    if m:
        a, b = _the(scene, *m.groups()[:3]), _the(scene, *m.groups()[4:])
        rel = m.group(4)
        if "left" in rel or "right" in rel:
            assert a["col"] != b["col"]
            truth = (a["col"] < b["col"]) == ("left" in rel)
        elif rel in ("above", "below", "under"):
            assert a["row"] != b["row"]
            truth = (a["row"] < b["row"]) == (rel == "above")
        else:
            assert a["size"] != b["size"]
            truth = (a["size"] == "big") == (rel != "smaller than")
        return label[truth]
    m = re.fullmatch(rf"the {REF} is in the (top|bottom) (left|right) corner", h)
    if m:
        o = _the(scene, *m.groups()[:3])
        return label[_side(o, m.group(4)) and _side(o, m.group(5))]
    m = re.fullmatch(rf"the {REF} is (?:on|at|near|in) the (left|right|top|bottom|center|middle)"
                     r"(?: side)?", h)
    if m:
        return label[_side(_the(scene, *m.groups()[:3]), m.group(4))]
    m = re.fullmatch(rf"the {REF} is (?:({COLOUR_WORDS})|(big|small)|an? (\w+))", h)
    if m:
        o = _the(scene, *m.groups()[:3])
        colour, size, shape = m.groups()[3:]
        if colour:
            return label[o["colour"] == colour]
        if size:
            return label[o["size"] == size]
        return label[o["shape"] == shape]
    m = re.fullmatch(rf"the {REF} (?:is (?:{NEUTRAL_TAILS})|was drawn by an? \w+)", h) or \
        re.fullmatch(rf"another shape is hidden behind the {REF}", h)
    if m:
        _the(scene, *m.groups()[:3])
        return "neutral"
    m = re.fullmatch(rf"the {REF} was drawn (?:before|after) the {REF}", h)
    if m:
        _the(scene, *m.groups()[:3])
        _the(scene, *m.groups()[3:])
        return "neutral"
    if re.match(r"the shapes were drawn by|the picture (was|is)|someone likes", h):
        return "neutral"
    return None


def _check_caption(scene, caption):
    """Every counted noun phrase in a caption agrees with the scene."""
    for m in re.finditer(rf"\b{NP}\b", caption):
        assert _np_truth(scene, *m.groups()), (caption, m.group(0), scene)


def test_generated_labels_agree_with_independent_parser(demo):
    out, _ = demo
    checked = total = 0
    for split in SPLITS:
        rows = _tsv(out / "snli_ve" / f"{split}.tsv")
        meta = _jsonl(out / "meta" / f"snli_ve_{split}.jsonl")
        for r, m in zip(rows, meta):
            total += 1
            _check_caption(m["scene"], r[4])
            got = independent_label(m["scene"], r[3])
            if got is not None:
                checked += 1
                assert got == r[5], (r[3], r[5], m["scene"])
        for r, m in zip(_tsv(out / "caption" / f"{split}.tsv"),
                        _jsonl(out / "meta" / f"caption_{split}.jsonl")):
            for c in r[2].split("&&"):
                _check_caption(m["scene"], c)
    assert checked >= 0.75 * total


def test_many_scenes_labels_and_captions():
    """The API on many scenes (no rendering): parser agrees, kinds and difficulty vary."""
    kinds, difficulty, checked, total = Counter(), Counter(), 0, 0
    for i in range(400):
        rng = random.Random(f"test/{i}")
        scene = sample_scene(rng)
        sj = scene.to_json()
        caps = L.make_captions(scene, rng, 5)
        assert len(caps) == 5 and len({c for c, _ in caps}) == 5
        for c, lf in caps:
            assert L.evaluate(lf, scene) is True
            _check_caption(sj, c)
        for want in (True, False, None):
            h = L.make_hypothesis(scene, rng, want, premise=caps[0][0])
            assert h["label"] == L.LABELS[want]
            kinds[h["kind"]] += 1
            difficulty[h["difficulty"]] += 1
            total += 1
            got = independent_label(sj, h["text"])
            if got is not None:
                checked += 1
                assert got == h["label"], (h, sj)
    assert checked >= 0.8 * total
    assert set(kinds) == set(L.HYPOTHESIS_KINDS)
    assert difficulty["easy"] > 0.25 * total and difficulty["hard"] > 0.25 * total


def _scene(*objects, background="white"):
    rng = random.Random(1)
    return Scene(tuple(make_object(rng, *o) for o in objects), background, (240, 240, 240), 0.0)


def test_evaluator_on_hand_built_scenes():
    s = _scene(("circle", "red", "big", 0, 1), ("square", "blue", "small", 2, 1),
               ("circle", "red", "small", 1, 0))
    ev = L.evaluate
    big_red, square = ("red", "circle", "big"), (None, "square", None)
    assert ev(("rel", big_red, "left_of", square), s) is True
    assert ev(("rel", square, "left_of", big_red), s) is False
    assert ev(("rel", big_red, "above", square), s) == L.AMBIGUOUS  # same row
    assert ev(("rel", ("red", "circle", None), "left_of", square), s) == L.AMBIGUOUS  # 2 match
    assert ev(("rel", big_red, "bigger", square), s) is True
    assert ev(("region", big_red, "left"), s) is True
    assert ev(("region", square, "left"), s) is False
    assert ev(("region", ("red", "circle", "small"), "left"), s) == L.AMBIGUOUS  # middle column
    assert ev(("region", ("red", "circle", "small"), "top"), s) is True
    assert ev(("count", ("red", "circle", None), "eq", 2), s) is True
    assert ev(("count", ("red", "circle", None), "a", 1), s) == L.AMBIGUOUS
    assert ev(("count", (None, "star", None), "eq", 0), s) is True
    assert ev(("count", ("blue", "circle", None), "ge", 1), s) is False  # binding
    assert ev(("all", "colour", "red"), s) is False
    assert ev(("bg", "white"), s) is True
    unknown = ("unknown",)
    assert ev(("and", (("count", (None, "star", None), "ge", 1), unknown)), s) is False
    assert ev(("and", (("count", (None, "square", None), "ge", 1), unknown)), s) is None
    assert ev(("and", (("the", square), unknown)), s) is None
    assert ev(("and", (("the", (None, "circle", None)), unknown)), s) == L.AMBIGUOUS


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
