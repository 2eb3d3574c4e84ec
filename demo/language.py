"""Language for the demo scenes: captions, SNLI-VE hypotheses, and their labels.

Captions name every object of the scene, in reading order (top row first, left to right),
in a few fixed forms (a plain list, with sizes, grouped with counts, with positions, with
the background), so that a caption is right only when every object's colour, shape and
place were seen.

A hypothesis is a sentence with a logical form (LF) from a small grammar:

- ``("exists", F, region)``: "there is a red circle [in the top row]" (``region`` None: anywhere);
- ``("none", F)``: "there is no red circle";
- ``("count", F, k)``: "there are two red circles" (exactly k);
- ``("rel", F1, rel, F2)``: "there is a red circle left of a blue square" (two different
  objects; left/right compare columns, above/below compare rows);
- ``("all", attribute, value)``: "all the shapes are red".

``F`` is a :class:`Filter` on colour, shape and size. An example starts from a scene
*layout* (how many objects are visible, whether a cell is covered: :func:`sample_layout`)
chosen so that the picture alone says little of the label; then a hypothesis is drawn
*without looking at the label* (redrawn only when the layout's cover rules the label out:
:func:`impossible_under_cover`), and the scene is drawn in that layout until the
hypothesis has the wanted label in it (:func:`realize`). Neither the hypothesis' family,
nor the layout, nor both together give the label more than half the time (chance: a
third); the objects the hypothesis names decide it. Labels are computed, never chosen:
a hidden cell may hold nothing or any object, and the label is entailment when the LF is
true for every possible content of the hidden cells, contradiction when it is false for
every one, and neutral otherwise (:func:`label_of`).
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from .scenes import COLOURS, SHAPES, SIZES, Obj, Scene, random_object, sample_scene

LABELS = {True: "entailment", False: "contradiction", None: "neutral"}
COUNT_WORDS = ("no", "one", "two", "three", "four", "five")
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars",
          "shape": "shapes"}
MAX_CAPTION_WORDS = 15
REFS_PER_IMAGE = 5

REGIONS = {
    "in the top row": lambda col, row: row == 0,
    "in the middle row": lambda col, row: row == 1,
    "in the bottom row": lambda col, row: row == 2,
    "in the left column": lambda col, row: col == 0,
    "in the middle column": lambda col, row: col == 1,
    "in the right column": lambda col, row: col == 2,
    "in the top left corner": lambda col, row: (col, row) == (0, 0),
    "in the top right corner": lambda col, row: (col, row) == (2, 0),
    "in the bottom left corner": lambda col, row: (col, row) == (0, 2),
    "in the bottom right corner": lambda col, row: (col, row) == (2, 2),
    "in the center": lambda col, row: (col, row) == (1, 1),
}
RELATIONS = {
    "left of": lambda a, b: a.col < b.col,
    "right of": lambda a, b: a.col > b.col,
    "above": lambda a, b: a.row < b.row,
    "below": lambda a, b: a.row > b.row,
}
CELL_PHRASES = {
    (0, 0): "at the top left", (1, 0): "at the top", (2, 0): "at the top right",
    (0, 1): "on the left", (1, 1): "in the center", (2, 1): "on the right",
    (0, 2): "at the bottom left", (1, 2): "at the bottom", (2, 2): "at the bottom right",
}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True)
class Filter:
    """Objects with the given attributes (None: any value)."""

    colour: Optional[str] = None
    shape: Optional[str] = None
    size: Optional[str] = None

    def matches(self, o: Obj) -> bool:
        return ((self.colour is None or o.colour == self.colour)
                and (self.shape is None or o.shape == self.shape)
                and (self.size is None or o.size == self.size))

    def words(self, plural: bool = False) -> str:
        """'big red circle', 'red shapes', 'circle' ..."""
        noun = self.shape or "shape"
        return " ".join([w for w in (self.size, self.colour) if w] + [PLURAL[noun] if plural else noun])

    def with_article(self) -> str:
        text = self.words()
        return f"{article(text)} {text}"

    def attributes(self) -> int:
        return sum(v is not None for v in (self.colour, self.shape, self.size))

    def to_json(self) -> list:
        return [self.colour, self.shape, self.size]


# --------------------------------------------------------------------------- logic

def truth(lf: tuple, objects: Sequence[Obj]) -> bool:
    """Truth of a logical form in a scene whose every object is known."""
    op = lf[0]
    if op == "exists":
        _, filt, region = lf
        inside = REGIONS[region] if region else (lambda col, row: True)
        return any(filt.matches(o) and inside(o.col, o.row) for o in objects)
    if op == "none":
        return not any(lf[1].matches(o) for o in objects)
    if op == "count":
        return sum(lf[1].matches(o) for o in objects) == lf[2]
    if op == "rel":
        _, first, rel, second = lf
        return any(first.matches(a) and second.matches(b) and RELATIONS[rel](a, b)
                   for a in objects for b in objects if a is not b)
    if op == "all":
        _, attribute, value = lf
        return all(getattr(o, attribute) == value for o in objects)
    raise ValueError(f"unknown logical form {lf!r}")


ALL_CONTENTS = (None,) + tuple(itertools.product(tuple(COLOURS), SHAPES, SIZES))
"""What a hidden cell may hold: nothing, or an object of any colour, shape and size."""


def completions(scene: Scene):
    """Every possible full list of objects of the scene (one per content of its hidden cells)."""
    for contents in itertools.product(ALL_CONTENTS, repeat=len(scene.hidden)):
        extra = [Obj(shape, colour, size, *cell) for cell, content in zip(scene.hidden, contents)
                 if content is not None for colour, shape, size in (content,)]
        yield list(scene.objects) + extra


def value_of(lf: tuple, scene: Scene) -> Optional[bool]:
    """True / False when every possible content of the hidden cells agrees, else None."""
    seen = set()
    for objects in completions(scene):
        seen.add(truth(lf, objects))
        if len(seen) == 2:
            return None
    return seen.pop()


def label_of(lf: tuple, scene: Scene) -> str:
    """The SNLI-VE label of a hypothesis with logical form ``lf`` in ``scene``."""
    return LABELS[value_of(lf, scene)]


# --------------------------------------------------------------------------- captions

def _object_words(o: Obj, sized: bool) -> str:
    return Filter(o.colour, o.shape, o.size if sized else None).with_article()


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else " ".join(parts[:-1]) + " and " + parts[-1]


def caption_list(scene: Scene, sized: bool = False) -> str:
    """'a red circle a blue square and a green star' (reading order)."""
    return _join([_object_words(o, sized) for o in scene.objects])


def caption_grouped(scene: Scene) -> str:
    """'two red circles and a blue square': equal colour and shape counted together."""
    groups: dict[tuple[str, str], int] = {}
    for o in scene.objects:
        groups[(o.colour, o.shape)] = groups.get((o.colour, o.shape), 0) + 1
    parts = [Filter(c, s).with_article() if n == 1 else f"{COUNT_WORDS[n]} {Filter(c, s).words(True)}"
             for (c, s), n in groups.items()]
    return _join(parts)


def caption_positions(scene: Scene) -> str:
    """'a red circle at the top left and a blue square on the right'."""
    return _join([f"{_object_words(o, False)} {CELL_PHRASES[o.cell]}" for o in scene.objects])


def make_captions(scene: Scene, k: int = REFS_PER_IMAGE, max_words: int = MAX_CAPTION_WORDS) -> list[str]:
    """``k`` distinct references of a scene without hidden cells: the first ``k`` forms of at
    most ``max_words`` words (a ValueError when fewer fit)."""
    if scene.hidden:
        raise ValueError("captions describe scenes without hidden cells")
    plain, grouped = caption_list(scene), caption_grouped(scene)
    background = f"on {article(scene.background)} {scene.background} background"
    forms = [plain, caption_list(scene, sized=True), grouped, caption_positions(scene),
             f"{plain} {background}", f"{grouped} {background}", f"a picture of {plain}",
             f"an image of {grouped}", f"a picture of {grouped} {background}"]
    out: list[str] = []
    for text in forms:
        if text not in out and len(text.split()) <= max_words:
            out.append(text)
    if len(out) < k:
        raise ValueError(f"only {len(out)} of {k} references of a scene of {len(scene.objects)} objects fit in "
                         f"{max_words} words: allow longer captions (--caption-words)")
    return out[:k]


# --------------------------------------------------------------------------- hypotheses

def _random_filter(rng: random.Random) -> Filter:
    """A filter naming one, two or three attributes."""
    kind = rng.choices(("c", "s", "cs", "zs", "zcs"), weights=(3, 3, 3, 1, 1))[0]
    return Filter(rng.choice(tuple(COLOURS)) if "c" in kind else None,
                  rng.choice(SHAPES) if "s" in kind else None,
                  rng.choice(SIZES) if "z" in kind else None)


def hyp_exists(rng):
    filt = _random_filter(rng)
    return f"there is {filt.with_article()}", ("exists", filt, None), filt.attributes()


def hyp_region(rng):
    filt = _random_filter(rng)
    region = rng.choice(tuple(REGIONS))
    return f"there is {filt.with_article()} {region}", ("exists", filt, region), filt.attributes() + 1


def hyp_none(rng):
    filt = _random_filter(rng)
    return f"there is no {filt.words()}", ("none", filt), filt.attributes() + 1


def hyp_count(rng):
    filt = _random_filter(rng)
    k = rng.choice((1, 2, 3))
    if k == 1:
        return f"there is exactly one {filt.words()}", ("count", filt, 1), filt.attributes() + 2
    return f"there are {COUNT_WORDS[k]} {filt.words(plural=True)}", ("count", filt, k), filt.attributes() + 2


def hyp_relation(rng):
    first, second = _random_filter(rng), _random_filter(rng)
    rel = rng.choice(tuple(RELATIONS))
    text = f"there is {first.with_article()} {rel} {second.with_article()}"
    return text, ("rel", first, rel, second), first.attributes() + second.attributes() + 1


def hyp_all(rng):
    attribute = rng.choices(("colour", "shape", "size"), weights=(2, 2, 1))[0]
    value = rng.choice({"colour": tuple(COLOURS), "shape": SHAPES, "size": SIZES}[attribute])
    if attribute == "shape":
        return f"all the shapes are {PLURAL[value]}", ("all", attribute, value), 2
    return f"all the shapes are {value}", ("all", attribute, value), 2


def hyp_colour(rng):
    filt = Filter(colour=rng.choice(tuple(COLOURS)))
    return f"there is {filt.with_article()}", ("exists", filt, None), filt.attributes()


FAMILIES: dict[str, tuple[Callable, int]] = {
    # family: (maker, weight)
    "exists": (hyp_exists, 4),
    "region": (hyp_region, 3),
    "none": (hyp_none, 2),
    "count": (hyp_count, 2),
    "relation": (hyp_relation, 3),
    "all": (hyp_all, 1),
}


GROUNDING_FAMILIES: dict[str, tuple[Callable, int]] = {"colour": (hyp_colour, 1)}
"""The statements of the grounding stage (``benchmarks/grounding_stage.py``, a stand-in for
OFA's pretraining on image-text matching): whether a shape of a colour is there, one
attribute to find, the first thing a model must learn to look up in the picture; not an
SNLI-VE family."""


def difficulty(steps: int) -> str:
    """easy: one attribute to find; medium: two facts to bind; hard: three or more."""
    return "easy" if steps <= 1 else ("medium" if steps == 2 else "hard")


def sample_hypothesis(rng: random.Random, families: Optional[Sequence[str]] = None,
                      registry: Mapping[str, tuple[Callable, int]] = FAMILIES) -> dict:
    """A hypothesis drawn independently of any label: dict(text, lf, family, difficulty);
    ``families``: drawn from these families of ``registry`` only (default: all), by their
    weights."""
    names = tuple(families) if families else tuple(registry)
    family = rng.choices(names, weights=[registry[n][1] for n in names])[0]
    text, lf, steps = registry[family][0](rng)
    return {"text": text, "lf": lf, "family": family, "difficulty": difficulty(steps)}


def _filters(lf: tuple) -> list[Filter]:
    if lf[0] == "rel":
        return [lf[1], lf[3]]
    if lf[0] == "all":
        return [Filter(**{lf[1]: lf[2]})]
    return [lf[1]]


VISIBLE_OBJECTS = (2, 3, 4)
"""How many objects an SNLI-VE scene shows: drawn before the label, so it says nothing of it."""
COVER_PROBABILITY = {"entailment": 0.75, "contradiction": 0.75, "neutral": 1.0}
"""Chance that an SNLI-VE scene has a covered cell, by label. A neutral needs a cover (only
what the picture cannot show is undecided), so the other labels get one often too: a cover
in the picture leaves the label 40% neutral and 30% each of the others, no cover half
entailment and half contradiction (more covers would rule out more hypotheses per label,
a cue in the wording instead)."""


def sample_layout(rng: random.Random, want: str) -> tuple[int, int]:
    """(visible objects, covered cells) of an SNLI-VE scene with label ``want``: the object
    count is drawn first and does not depend on ``want``."""
    n_visible = rng.choice(VISIBLE_OBJECTS)
    return n_visible, int(rng.random() < COVER_PROBABILITY[want])


def propose_scene(rng: random.Random, lf: tuple, n_visible: int, hidden: int) -> Scene:
    """A random scene for hypothesis ``lf`` with exactly ``n_visible`` objects and ``hidden``
    covered cells, drawn without looking at any label: 0-2 of the objects (up to all of them
    for counts and "all") match the hypothesis' filters, so that every label comes up often,
    and the others are random."""
    cap = n_visible if lf[0] in ("count", "all") else min(n_visible, 2)
    planted = rng.randint(0, cap)
    scene = sample_scene(rng, n_objects=(n_visible - planted,), hidden=hidden)
    objects = list(scene.objects)
    free = scene.free_cells()
    rng.shuffle(free)
    region = REGIONS.get(lf[2]) if lf[0] == "exists" and lf[2] else None
    if region is not None and rng.random() < 0.5:  # often inside the region the hypothesis names
        free.sort(key=lambda cell: not region(*cell))
    filters = _filters(lf)
    for i in range(planted):
        filt = filters[i % len(filters)]
        objects.append(random_object(rng, free[i], filt.colour, filt.shape, filt.size))
    return scene.with_objects(objects)


def realize(hypothesis: dict, want: str, rng: random.Random, n_visible: int, hidden: int,
            attempts: int = 50) -> Optional[Scene]:
    """A scene of the given layout in which ``hypothesis`` has label ``want``, or None if
    none came up."""
    for _ in range(attempts):
        scene = propose_scene(rng, hypothesis["lf"], n_visible, hidden)
        if label_of(hypothesis["lf"], scene) == want:
            return scene
    return None


def impossible_under_cover(lf: tuple, want: str) -> bool:
    """Whether no scene with a covered cell gives ``lf`` the label ``want``: the cell may
    hold a matching object (so "there is a red circle" anywhere is never false and "there is
    no red circle" never true, and an exact count is never certain) or a mismatching one (so
    "all the shapes are red" is never certain)."""
    op = lf[0]
    if want == "contradiction":
        return op == "exists" and lf[2] is None
    if want == "entailment":
        return op in ("none", "count", "all")
    return False


HYPOTHESES_PER_LAYOUT = 20
LAYOUTS = 50


def make_example(rng: random.Random, want: str, families: Optional[Sequence[str]] = None,
                 registry: Mapping[str, tuple[Callable, int]] = FAMILIES,
                 covers: bool = True) -> tuple[dict, Scene]:
    """A scene layout (:func:`sample_layout`; ``covers`` False: never a covered cell), then
    a hypothesis drawn without looking at ``want`` (from ``families`` of ``registry``,
    default all), then a scene of that layout where its label is ``want``.

    A hypothesis that cannot take that label in that layout (e.g. "there is a red shape"
    cannot be a contradiction when a cell is covered) is redrawn, keeping the layout, so the
    picture's object count and cover say nothing of the label. Hypotheses that
    :func:`impossible_under_cover` rules out are redrawn at once, without trying scenes, so
    even data of existence hypotheses alone (whose contradictions all need an uncovered
    scene) are quick to make. Only when ``HYPOTHESES_PER_LAYOUT`` hypotheses in a row fail
    is the layout redrawn.
    """
    for _ in range(LAYOUTS):
        n_visible, hidden = sample_layout(rng, want)
        hidden = hidden if covers else 0
        for _ in range(HYPOTHESES_PER_LAYOUT):
            hypothesis = sample_hypothesis(rng, families, registry)
            if hidden and impossible_under_cover(hypothesis["lf"], want):
                continue
            scene = realize(hypothesis, want, rng, n_visible, hidden)
            if scene is not None:
                return {**hypothesis, "label": want}, scene
    raise RuntimeError(f"no scene with label {want!r} after {LAYOUTS} layouts")


def premise_text(scene: Scene, rng: random.Random) -> str:
    """A premise that is true of the image but never decides a hypothesis: the background
    (no hypothesis mentions it)."""
    lead = rng.choice(("a picture of shapes", "some shapes", "an image of shapes", "shapes"))
    return f"{lead} on {article(scene.background)} {scene.background} background"
