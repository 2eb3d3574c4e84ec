"""Grounding questions about demo scenes: the demo's stand-in for OFA's pretraining on VQA and
visual grounding.

Six kinds, each a (question, answer) pair about one scene, with the cells the answer is read
from (its *focus*: the named object's, the named place, the counted objects', the anchor of a
relation, the object an existence question finds; none for "no" and "maybe"):

- ``where``: "red circle" -> the cell of the only red circle ("at the top left"): a lookup
  keyed by colour and shape, whose answer (a place) is read off the object found;
- ``what``: "at the top left" -> "a red circle": the same lookup keyed by place;
- ``exists``: "there is a red circle" -> "yes" (a red circle is visible), "no" (none is
  visible and nothing is covered) or "maybe" (none is visible and a cell is covered);
- ``region``: "there is a red circle in the top row" -> the same, within the region: "yes"
  (a red circle is visible there), "maybe" (none is, but a cell of the region is covered),
  "no" (otherwise);
- ``count``: "red circles" -> how many visible objects have that colour and shape ("two";
  either may be left out: "circles", "red shapes", "shapes"), never more than three;
- ``relation``: "the shapes left of the red circle" -> every visible object there, in
  reading order ("a blue square and a green star"), or "no shapes".

``where``, ``what``, ``count`` and ``relation`` give a learning signal from the start (the
answer names what the picture holds); SNLI-VE's yes/no/maybe alone does not (the label
follows from neither the text nor the picture alone), and a model fine-tuned on it from the
caption model stays at the text prior. ``exists`` and ``region`` trained beside the lookups
learn from what those teach.
"""
from __future__ import annotations

import random
from typing import Callable, Dict, List, Sequence, Tuple

from .language import CELL_PHRASES, COUNT_WORDS, REGIONS, RELATIONS, Filter, article, caption_list
from .scenes import CELLS, COLOURS, SHAPES, Scene, sample_scene

KINDS = ("where", "what", "exists", "region", "count", "relation")
"""Every kind; the demo trains on all of them unless told otherwise."""
EXISTS_ANSWERS = ("yes", "no", "maybe")
QUESTION = ' what does the image describe " {} "?'
"""The prompt of ``where`` and ``what`` (OFA's caption prompt with the phrase quoted)."""
EXISTS_QUESTION = ' does the image describe " there is {} {} {} "?'
"""The prompt of ``exists`` and ``region`` (OFA's SNLI-VE prompt)."""


Cell = Tuple[int, int]
Focus = Tuple[Cell, ...]
"""The cells (col, row) that a question's answer is read from."""


def where_question(rng: random.Random, scene: Scene) -> Tuple[str, str, Focus] | None:
    """``("red circle", "at the top left", focus)`` for an object whose colour and shape no
    other visible object has (the focus is its cell); None when there is none."""
    keys = [(o.colour, o.shape) for o in scene.objects]
    unique = [o for o in scene.objects if keys.count((o.colour, o.shape)) == 1]
    if not unique:
        return None
    o = rng.choice(unique)
    return QUESTION.format(f"{o.colour} {o.shape}"), CELL_PHRASES[o.cell], (o.cell,)


def what_question(rng: random.Random, scene: Scene) -> Tuple[str, str, Focus] | None:
    """``("at the top left", "a red circle", focus)`` for a visible object (the focus is the
    place named); None when there is none."""
    if not scene.objects:
        return None
    o = rng.choice(scene.objects)
    return QUESTION.format(CELL_PHRASES[o.cell]), object_answer(o.colour, o.shape), (o.cell,)


def object_answer(colour: str, shape: str) -> str:
    """The answer of ``what``: ``"a red circle"``, ``"an orange star"``."""
    return f"{article(colour)} {colour} {shape}"


def count_question(rng: random.Random, scene: Scene) -> Tuple[str, str, Focus] | None:
    """``("red circles", "two", focus)``: a colour and a shape (each kept or left out at
    random), mostly those of a visible object, and how many visible objects have them (the
    focus is their cells); None when more than three do."""
    model = rng.choice(scene.objects) if scene.objects and rng.random() < 0.75 else None
    colour = model.colour if model else rng.choice(sorted(COLOURS))
    shape = model.shape if model else rng.choice(SHAPES)
    keep = rng.choice(("colour", "shape", "both", "neither"))
    looked_for = Filter(colour if keep in ("colour", "both") else None, shape if keep in ("shape", "both") else None)
    counted = tuple(o.cell for o in scene.objects if looked_for.matches(o))
    if len(counted) > 3:
        return None
    return QUESTION.format(looked_for.words(plural=True)), COUNT_WORDS[len(counted)], counted


def relation_question(rng: random.Random, scene: Scene) -> Tuple[str, str, Focus] | None:
    """``("the shapes left of the red circle", "a blue square and a green star", focus)``: the visible
    objects in a relation of :data:`~ofa_mue.demo.language.RELATIONS` to an object whose colour
    and shape no other has ("no shapes" when none is: kept for half such draws, so that it is
    not the usual answer; the focus is the anchor's cell); None when no object is unique or an
    empty answer is dropped."""
    keys = [(o.colour, o.shape) for o in scene.objects]
    unique = [o for o in scene.objects if keys.count((o.colour, o.shape)) == 1]
    if not unique:
        return None
    anchor, relation = rng.choice(unique), rng.choice(sorted(RELATIONS))
    related = [o for o in scene.objects if o is not anchor and RELATIONS[relation](o, anchor)]
    if not related and rng.random() < 0.5:
        return None
    answer = caption_list(scene.with_objects(related)) if related else "no shapes"
    return QUESTION.format(f"the shapes {relation} the {anchor.colour} {anchor.shape}"), answer, (anchor.cell,)


LOOKUP_OBJECTS = (2, 3, 4)
"""How many objects the scene of a lookup question (``where``, ``what``, ``count``, ``relation``) holds."""
LOOKUPS = {"where": where_question, "what": what_question, "count": count_question, "relation": relation_question}
"""The kinds whose answer is read off a scene of 2-4 visible objects (None: ask another scene)."""


def _inside(region: str | None) -> Callable[[int, int], bool]:
    """Whether a cell (col, row) is in ``region`` (a phrase of :data:`~ofa_mue.demo.language.REGIONS`; None: anywhere)."""
    return REGIONS[region] if region is not None else (lambda col, row: True)


def found_cells(scene: Scene, colour: str, shape: str, region: str | None = None) -> Focus:
    """The cells of the visible ``colour`` ``shape`` objects (in ``region``): an existence question's focus."""
    inside = _inside(region)
    return tuple(o.cell for o in scene.objects if (o.colour, o.shape) == (colour, shape) and inside(*o.cell))


def exists_answer(scene: Scene, colour: str, shape: str, region: str | None = None) -> str:
    """"yes" if a ``colour`` ``shape`` is visible (in ``region``, a phrase of
    :data:`~ofa_mue.demo.language.REGIONS`; None: anywhere), else "maybe" when a covered
    cell (of the region) could hide one, else "no"."""
    if found_cells(scene, colour, shape, region):
        return "yes"
    return "maybe" if any(_inside(region)(*cell) for cell in scene.hidden) else "no"


def exists_question(rng: random.Random, want: str) -> Tuple[Scene, str, str, Focus]:
    """A scene and an existence question whose answer is ``want`` (one of :data:`EXISTS_ANSWERS`), and its focus."""
    if want not in EXISTS_ANSWERS:
        raise ValueError(f"want must be one of {EXISTS_ANSWERS}, got {want!r}")
    hidden = {"yes": rng.choice((0, 1)), "no": 0, "maybe": 1}[want]
    scene = sample_scene(rng, n_objects=(1, 2, 3, 4), hidden=hidden)
    visible = sorted({(o.colour, o.shape) for o in scene.objects})
    if want == "yes":
        colour, shape = rng.choice(visible)
    else:
        colour, shape = rng.choice([(c, s) for c in COLOURS for s in SHAPES if (c, s) not in visible])
    answer = exists_answer(scene, colour, shape)
    assert answer == want, (answer, want)
    return scene, EXISTS_QUESTION.format(article(colour), colour, shape), answer, found_cells(scene, colour, shape)


def region_question(rng: random.Random, want: str) -> Tuple[Scene, str, str, Focus]:
    """A scene and a question "there is a red circle in the top row" whose answer is ``want``
    (a region of :data:`~ofa_mue.demo.language.REGIONS`; scenes drawn until the answer fits),
    and its focus."""
    if want not in EXISTS_ANSWERS:
        raise ValueError(f"want must be one of {EXISTS_ANSWERS}, got {want!r}")
    while True:
        scene = sample_scene(rng, n_objects=(1, 2, 3, 4), hidden=rng.choice((0, 1)))
        region = rng.choice(sorted(REGIONS))
        inside = [o for o in scene.objects if REGIONS[region](*o.cell)]
        if want == "yes":
            if not inside:
                continue
            chosen = rng.choice(inside)
            colour, shape = chosen.colour, chosen.shape
        else:
            colour, shape = rng.choice(sorted(COLOURS)), rng.choice(SHAPES)
        if exists_answer(scene, colour, shape, region) == want:
            return (scene, EXISTS_QUESTION.format(article(colour), colour, f"{shape} {region}"), want,
                    found_cells(scene, colour, shape, region))


def question_texts() -> List[str]:
    """Strings that together hold every word a question or answer of any kind may use, each as
    :class:`~ofa_mue.demo.question_stage.QuestionBatches` encodes it (the prompt, or the answer
    after a space): what the demo's vocabulary must cover for the question stage to run."""
    texts = [" " + answer for answer in (*EXISTS_ANSWERS, *COUNT_WORDS[:4], "no shapes")]
    texts += [QUESTION.format(phrase) for phrase in CELL_PHRASES.values()]
    texts += [" " + phrase for phrase in CELL_PHRASES.values()]
    for colour in sorted(COLOURS):
        for shape in SHAPES:
            texts.append(QUESTION.format(f"{colour} {shape}"))
            texts.append(" " + object_answer(colour, shape))
            texts.append(QUESTION.format(Filter(colour, shape).words(plural=True)))
            texts.append(EXISTS_QUESTION.format(article(colour), colour, shape))
    texts += [QUESTION.format(Filter(colour).words(plural=True)) for colour in sorted(COLOURS)]
    texts += [QUESTION.format(Filter(shape=shape).words(plural=True)) for shape in (*SHAPES, None)]
    texts += [EXISTS_QUESTION.format("a", "red", f"circle {region}") for region in sorted(REGIONS)]
    texts += [QUESTION.format(f"the shapes {relation} the red circle") for relation in sorted(RELATIONS)]
    texts.append(" a red circle and a blue square")
    return texts


def sample_question(rng: random.Random, kinds: Sequence[str] = KINDS,
                    lookup_objects: Sequence[int] = LOOKUP_OBJECTS) -> Dict[str, object]:
    """``{"kind", "scene", "question", "answer", "focus"}``: a kind drawn uniformly from ``kinds``
    (existence answers uniform over yes/no/maybe), and for the others (:data:`LOOKUPS`) a
    scene whose number of objects is drawn from ``lookup_objects`` (default 2-4)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise ValueError(f"question kinds must be among {', '.join(KINDS)}, got {', '.join(kinds) or 'none'}")
    if not lookup_objects or any(not 1 <= n <= len(CELLS) for n in lookup_objects):
        raise ValueError(f"lookup_objects must be numbers of objects from 1 to {len(CELLS)}, got {tuple(lookup_objects)}")
    kind = rng.choice(list(kinds))
    if kind in ("exists", "region"):
        ask_exists = exists_question if kind == "exists" else region_question
        scene, question, answer, focus = ask_exists(rng, rng.choice(EXISTS_ANSWERS))
        return {"kind": kind, "scene": scene, "question": question, "answer": answer, "focus": focus}
    ask = LOOKUPS[kind]
    while True:
        scene = sample_scene(rng, n_objects=tuple(lookup_objects))
        asked = ask(rng, scene)
        if asked is not None:
            question, answer, focus = asked
            return {"kind": kind, "scene": scene, "question": question, "answer": answer, "focus": focus}
