"""Language for the demo scenes: captions, SNLI-VE hypotheses, and their truth values.

Every generated sentence comes with a logical form (LF) and the label is *computed* by
evaluating that LF on the scene, never chosen at random:

- ``("count", (colour, shape, size), op, n)``: the number of objects matching the filter
  (``None`` = any) is ``== n`` (``op == "eq"``), ``>= n`` (``"ge"``; "there is a red
  circle"), or, for ``"a"`` ("a red circle" in a description), exactly one (true), none
  (false) or several (ambiguous).
- ``("attr", ref, attr, value)``: the one object matching ``ref`` has ``attr == value``.
- ``("region", ref, region)``: left/right (column 0/2), top/bottom (row 0/2), center.
- ``("rel", ref_a, rel, ref_b)``: left_of, right_of, above, below, bigger, smaller.
- ``("all", attr, value)``, ``("bg", colour)``, ``("the", ref)`` (definite reference),
  ``("unknown",)`` (a property no image settles: material, author, drawing order, ...),
  ``("and", (lf, ...))``.

Values are three-valued: True (entailment), False (contradiction), None (neutral, not
determined by the image), plus ``AMBIGUOUS`` for statements a careful annotator could not
label (a definite reference matching 0 or several objects, "on the left" for an object in
the middle column, "left of" for two objects in the same column, an understated count
such as "a red circle" when there are two). Ambiguous statements are never emitted.

A neutral hypothesis is either purely non-visual ("the shapes were drawn by a child":
decidable from the text), or a non-visual property of a *definite* object that exists, or
an existential claim joined with a non-visual property ("there is a green star made of
wood"): that one is neutral when a green star is in the image and a contradiction when
there is none, so the same wording appears under both labels and only the image decides.
"""
from __future__ import annotations

import random

from .scenes import BACKGROUNDS, COLOURS, GRID, SHAPES, SIZES, Obj, Scene, make_object

AMBIGUOUS = "ambiguous"
LABELS = {True: "entailment", False: "contradiction", None: "neutral"}

COUNT_WORDS = ("no", "one", "two", "three", "four", "five")
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles",
          "star": "stars", "cross": "crosses", "shape": "shapes"}
MATERIALS = ("wood", "metal", "paper", "glass", "plastic", "stone")
AGENTS = ("a child", "an artist", "a student", "a teacher")
QUALITIES = ("heavy", "warm", "cold", "soft", "new", "old")
MOTIONS = ("moving to the left", "moving to the right", "moving up", "moving down",
           "falling", "spinning")
PURE_NEUTRAL = (
    "the shapes were drawn by {agent}",
    "the picture was drawn by {agent}",
    "the picture was made yesterday",
    "the picture was made last week",
    "the picture is part of a game",
    "the picture is from a school book",
    "someone likes this picture",
    "the picture is very old",
)
MAX_CAPTION_WORDS = 14


# --------------------------------------------------------------------------- words

def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def desc(colour=None, shape=None, size=None, plural=False) -> str:
    """'big red circle', 'red shapes', 'circle' ..."""
    noun = shape or "shape"
    words = [w for w in (size, colour) if w] + [PLURAL[noun] if plural else noun]
    return " ".join(words)


def counted(n: int, colour=None, shape=None, size=None, one="a") -> str:
    """'a red circle', 'one red circle', 'two red circles', 'no stars'."""
    if n == 1:
        d = desc(colour, shape, size)
        return f"{article(d) if one == 'a' else one} {d}"
    return f"{COUNT_WORDS[n]} {desc(colour, shape, size, plural=True)}"


def ref_text(ref) -> str:
    return desc(ref[0], ref[1], ref[2])


def with_article(ref) -> str:
    d = ref_text(ref)
    return f"{article(d)} {d}"


REGION_PHRASES = {
    "left": ("on the left", "on the left side"),
    "right": ("on the right", "on the right side"),
    "top": ("at the top", "near the top"),
    "bottom": ("at the bottom", "near the bottom"),
    "center": ("in the center", "in the middle"),
}
REL_PHRASES = {
    "left_of": ("left of", "to the left of"),
    "right_of": ("right of", "to the right of"),
    "above": ("above",),
    "below": ("below", "under"),
    "bigger": ("bigger than", "larger than"),
    "smaller": ("smaller than",),
}


def cell_phrase(col: int, row: int, rng: random.Random) -> tuple[str, tuple]:
    """Position phrase of a grid cell and the region atoms it asserts."""
    v = {0: "top", 2: "bottom"}.get(row)
    h = {0: "left", 2: "right"}.get(col)
    if v and h:
        text = rng.choice((f"in the {v} {h} corner", f"at the {v} {h}"))
        return text, (("region", None, v), ("region", None, h))
    if v or h:
        region = v or h
        return rng.choice(REGION_PHRASES[region][:1]), (("region", None, region),)
    return rng.choice(REGION_PHRASES["center"]), (("region", None, "center"),)


# --------------------------------------------------------------------------- logic

def matches(o: Obj, filt) -> bool:
    colour, shape, size = filt
    return ((colour is None or o.colour == colour) and (shape is None or o.shape == shape)
            and (size is None or o.size == size))


def count(scene: Scene, filt) -> int:
    return sum(matches(o, filt) for o in scene.objects)


def referent(scene: Scene, ref):
    found = [o for o in scene.objects if matches(o, ref)]
    return found[0] if len(found) == 1 else None


def _region(o: Obj, region: str):
    if region == "center":
        return o.col == 1 and o.row == 1
    coord, lo = {"left": (o.col, True), "right": (o.col, False),
                 "top": (o.row, True), "bottom": (o.row, False)}[region]
    if coord == 1:
        return AMBIGUOUS  # middle column/row: neither clearly on a side nor clearly not
    return (coord == 0) == lo


def _relation(a: Obj, rel: str, b: Obj):
    if rel in ("left_of", "right_of"):
        d = a.col - b.col
    elif rel in ("above", "below"):
        d = a.row - b.row
    else:
        d = SIZES.index(b.size) - SIZES.index(a.size)  # < 0 when a is bigger
    if d == 0:
        return AMBIGUOUS
    return (d < 0) == (rel in ("left_of", "above", "bigger"))


def evaluate(lf, scene: Scene):
    """Truth of a logical form in a scene: True, False, None (unknown) or AMBIGUOUS."""
    op = lf[0]
    if op == "count":
        _, filt, how, n = lf
        c = count(scene, filt)
        if how == "ge":
            return c >= n
        if how == "a":  # "a red circle" in a description: false if none, unclear if several
            return True if c == 1 else (False if c == 0 else AMBIGUOUS)
        return c == n
    if op == "attr":
        _, ref, attr, value = lf
        o = referent(scene, ref)
        return AMBIGUOUS if o is None else getattr(o, attr) == value
    if op == "region":
        _, ref, region = lf
        o = referent(scene, ref)
        return AMBIGUOUS if o is None else _region(o, region)
    if op == "rel":
        _, ref_a, rel, ref_b = lf
        a, b = referent(scene, ref_a), referent(scene, ref_b)
        if a is None or b is None or a is b:
            return AMBIGUOUS
        return _relation(a, rel, b)
    if op == "all":
        _, attr, value = lf
        return all(getattr(o, attr) == value for o in scene.objects)
    if op == "bg":
        return scene.background == lf[1]
    if op == "the":
        return True if referent(scene, lf[1]) is not None else AMBIGUOUS
    if op == "unknown":
        return None
    if op == "and":
        values = [evaluate(x, scene) for x in lf[1]]
        if AMBIGUOUS in values:
            return AMBIGUOUS
        if False in values:
            return False
        if None in values:
            return None
        return True
    raise ValueError(f"unknown logical form {lf!r}")


def unique_refs(scene: Scene, o: Obj, need=("shape",)) -> list[tuple]:
    """Descriptions (colour, shape, size) that pick out exactly ``o`` in the scene."""
    out = []
    for keep in (("shape",), ("colour",), ("colour", "shape"), ("size", "shape"),
                 ("size", "colour"), ("size", "colour", "shape")):
        if not all(k in keep for k in need):
            continue
        ref = tuple(getattr(o, k) if k in keep else None for k in ("colour", "shape", "size"))
        if referent(scene, ref) is o:
            out.append(ref)
    return out


def _groups(objects, keys):
    """Objects grouped by the given attributes, in order of first appearance."""
    groups: dict[tuple, int] = {}
    for o in objects:
        k = tuple(getattr(o, a) if a in keys else None for a in ("colour", "shape", "size"))
        groups[k] = groups.get(k, 0) + 1
    return list(groups.items())


def _join(parts: list[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2 or rng.random() < 0.5:
        return " ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] + " with " + " ".join(parts[1:-1]) + " and " + parts[-1]


# --------------------------------------------------------------------------- captions

def _cap_listing(scene, rng, keys=("colour", "shape")):
    objs = list(scene.objects)
    rng.shuffle(objs)
    groups = _groups(objs, keys)
    text = _join([counted(n, *g) for g, n in groups], rng)
    atoms = [("count", g, "a" if n == 1 else "eq", n) for g, n in groups]
    prefix = rng.choice(("", "", "a picture of ", "an image of "))
    return prefix + text, atoms


def _with_bg(scene, rng, text, atoms, p=0.5):
    if rng.random() < p:
        return f"{text} on {article(scene.background)} {scene.background} background", \
            atoms + [("bg", scene.background)]
    return text, atoms


def cap_listing(scene, rng):
    return _with_bg(scene, rng, *_cap_listing(scene, rng))


def cap_sized(scene, rng):
    return _with_bg(scene, rng, *_cap_listing(scene, rng, ("size", "colour", "shape")), p=0.3)


def cap_shapes(scene, rng):
    if len(scene.objects) < 2:
        return None
    text, atoms = _cap_listing(scene, rng, ("shape",))
    return _with_bg(scene, rng, text, atoms, p=0.6)


def cap_total(scene, rng):
    n = len(scene.objects)
    atoms = [("count", (None, None, None), "eq", n)]
    colours = {o.colour for o in scene.objects}
    shapes = {o.shape for o in scene.objects}
    if n == 1:
        o = scene.objects[0]
        text = f"{rng.choice(('a single', 'one', 'only one'))} {desc(o.colour, o.shape)}"
        atoms = [("count", (o.colour, o.shape, None), "eq", 1)] + atoms
    elif len(colours) == 1 and rng.random() < 0.7:
        c = next(iter(colours))
        text = f"{COUNT_WORDS[n]} {c} shapes"
        atoms.append(("all", "colour", c))
    elif len(shapes) == 1 and rng.random() < 0.7:
        s = next(iter(shapes))
        text = f"{COUNT_WORDS[n]} {PLURAL[s]}"
        atoms.append(("all", "shape", s))
    else:
        text = rng.choice((f"{COUNT_WORDS[n]} shapes", f"a picture with {COUNT_WORDS[n]} shapes",
                           f"{COUNT_WORDS[n]} different shapes" if len(shapes) == n
                           else f"{COUNT_WORDS[n]} shapes"))
    return _with_bg(scene, rng, text, atoms, p=0.7)


def _related_pair(scene, rng):
    """Two objects with unique descriptions and a definite spatial relation, or None."""
    objs = list(scene.objects)
    pairs = [(a, b) for a in objs for b in objs if a is not b
             and (a.col != b.col or a.row != b.row)]
    rng.shuffle(pairs)
    for a, b in pairs:
        ra = [r for r in unique_refs(scene, a) if r[0]]
        rb = [r for r in unique_refs(scene, b) if r[0]]
        if ra and rb:
            rels = [r for r in ("left_of", "right_of", "above", "below")
                    if _relation(a, r, b) is True]
            if rels:
                return rng.choice(ra), rng.choice(rels), rng.choice(rb)
    return None


def cap_relation(scene, rng):
    pair = _related_pair(scene, rng)
    if pair is None:
        return None
    ra, rel, rb = pair
    text = f"{with_article(ra)} {rng.choice(REL_PHRASES[rel])} {with_article(rb)}"
    atoms = [("rel", ra, rel, rb)]
    rest = len(scene.objects) - 2
    if rest:
        other = "another shape" if rest == 1 else f"{COUNT_WORDS[rest]} other shapes"
        text += f" and {other}"
        atoms.append(("count", (None, None, None), "eq", len(scene.objects)))
    return text, atoms


def cap_position(scene, rng):
    if len(scene.objects) > 2:
        return None
    parts, atoms = [], []
    for o in sorted(scene.objects, key=lambda o: (o.row, o.col)):
        refs = [r for r in unique_refs(scene, o) if r[0] and r[1]]
        if not refs:
            return None
        ref = refs[0] if len(scene.objects) == 1 or rng.random() < 0.7 else rng.choice(refs)
        if len(scene.objects) == 1 and rng.random() < 0.5:
            ref = (o.colour, o.shape, o.size)
        phrase, regions = cell_phrase(o.col, o.row, rng)
        parts.append(f"{with_article(ref)} {phrase}")
        atoms += [("count", ref, "ge", 1)] + [(r[0], ref, r[2]) for r in regions]
    return " and ".join(parts), atoms


CAPTION_TEMPLATES = (
    (cap_listing, 3), (cap_sized, 2), (cap_shapes, 2), (cap_total, 2),
    (cap_relation, 3), (cap_position, 3),
)


def caption_candidate(scene: Scene, rng: random.Random):
    """One random caption of the scene as (text, lf), or None (template not applicable)."""
    fns, weights = zip(*CAPTION_TEMPLATES)
    out = rng.choices(fns, weights=weights)[0](scene, rng)
    if out is None:
        return None
    text, atoms = out
    if len(text.split()) > MAX_CAPTION_WORDS:
        return None
    return text, ("and", tuple(atoms))


def make_captions(scene: Scene, rng: random.Random, k: int = 5) -> list[tuple[str, tuple]]:
    """k distinct captions (fewer only if the scene allows no more), all true of the scene."""
    seen: dict[str, tuple] = {}
    bags = set()  # sorted words: no two references that only differ in word order
    for _ in range(60 * k):
        cand = caption_candidate(scene, rng)
        if cand is None or tuple(sorted(cand[0].split())) in bags:
            continue
        if evaluate(cand[1], scene) is not True:  # self-check: a caption must be true
            raise AssertionError(f"caption {cand[0]!r} is not true of {scene.to_json()}")
        seen[cand[0]] = cand[1]
        bags.add(tuple(sorted(cand[0].split())))
        if len(seen) == k:
            break
    return list(seen.items())


# --------------------------------------------------------------------------- hypotheses

def _pick_object(scene, rng):
    return rng.choice(scene.objects)


def _random_filter(scene, rng, want_present: bool):
    """A (colour, shape, size) filter; present in the scene or (probably) absent."""
    mode = rng.choices(("cs", "s", "c", "zcs"), weights=(5, 2, 2, 1))[0]
    if want_present:
        o = _pick_object(scene, rng)
        colour, shape, size = o.colour, o.shape, o.size
    else:
        # absent combinations: mostly built from attributes that ARE in the image, so that
        # "there is a blue circle" next to a red circle and a blue square needs binding
        colour = rng.choice([o.colour for o in scene.objects] + list(COLOURS))
        shape = rng.choice([o.shape for o in scene.objects] + list(SHAPES))
        size = rng.choice(SIZES)
    return (colour if "c" in mode else None, shape if "s" in mode else None,
            size if "z" in mode else None)


def _is_binding(scene, filt) -> bool:
    colour, shape, _ = filt
    return (colour is not None and shape is not None and count(scene, filt) == 0
            and count(scene, (colour, None, None)) > 0 and count(scene, (None, shape, None)) > 0)


def hyp_exists(scene, rng, want):
    if want is None:
        return None
    filt = _random_filter(scene, rng, want_present=want)
    d = desc(*filt)
    text = rng.choice((f"there is {article(d)} {d}", f"the picture shows {article(d)} {d}",
                       f"{article(d)} {d} can be seen"))
    hard = _is_binding(scene, filt) or filt[2] is not None
    return text, ("count", filt, "ge", 1), hard


def _count_text(n, filt, rng):
    d_pl = desc(*filt, plural=True)
    if n == 0:
        return rng.choice((f"there are no {d_pl}", f"the picture has no {d_pl}"))
    if n == 1:
        d = desc(*filt)
        return rng.choice((f"there is one {d}", f"there is only one {d}",
                           f"there is exactly one {d}"))
    w = COUNT_WORDS[n]
    return rng.choice((f"there are {w} {d_pl}", f"the picture shows {w} {d_pl}",
                       f"there are exactly {w} {d_pl}"))


def hyp_count(scene, rng, want, total=False):
    if want is None:
        return None
    if total:
        filt = (None, None, None)
    else:
        filt = _random_filter(scene, rng, want_present=rng.random() < 0.8)
        filt = (filt[0], filt[1], None)  # counts ignore size
    actual = count(scene, filt)
    if want:
        n = actual
    else:
        n = actual + rng.choice((-2, -1, -1, 1, 1, 2))
        if total and n <= 0:
            n = actual + rng.choice((1, 2))
    if not 0 <= n <= 5 or (total and n == 0):
        return None
    hard = not (total and actual <= 1) and not (n == 0 and actual == 0)
    return _count_text(n, filt, rng), ("count", filt, "eq", n), hard


def hyp_total(scene, rng, want):
    return hyp_count(scene, rng, want, total=True)


def hyp_attr(scene, rng, want):
    if want is None:
        return None
    o = _pick_object(scene, rng)
    attr = rng.choices(("colour", "shape", "size"), weights=(4, 3, 2))[0]
    slot = ("colour", "shape", "size").index(attr)
    refs = [r for r in unique_refs(scene, o, need=()) if r[slot] is None]
    if not refs:
        return None
    ref = rng.choice(refs)
    true_value = getattr(o, attr)
    options = {"colour": tuple(COLOURS), "shape": SHAPES, "size": SIZES}[attr]
    value = true_value if want else rng.choice([v for v in options if v != true_value])
    if attr == "shape":
        text = f"the {ref_text(ref)} is {article(value)} {value}"
    else:
        text = f"the {ref_text(ref)} is {value}"
    return text, ("attr", ref, attr, value), len(scene.objects) > 1


def hyp_region(scene, rng, want):
    if want is None:
        return None
    o = _pick_object(scene, rng)
    refs = unique_refs(scene, o)
    if not refs:
        return None
    ref = rng.choice(refs)
    corners = [(v, h) for v in ("top", "bottom") for h in ("left", "right")
               if _corner_value(o, v, h) is want]
    regions = [r for r in REGION_PHRASES if _region(o, r) is want]
    if corners and (not regions or rng.random() < 0.3):  # corner claims: two atoms
        v, h = rng.choice(corners)
        text = f"the {ref_text(ref)} is in the {v} {h} corner"
        lf = ("and", (("region", ref, v), ("region", ref, h)))
    elif regions:
        region = rng.choice(regions)
        text = f"the {ref_text(ref)} is {rng.choice(REGION_PHRASES[region])}"
        lf = ("region", ref, region)
    else:
        return None
    return text, lf, len(scene.objects) > 1


def _corner_value(o, v, h):
    a, b = _region(o, v), _region(o, h)
    if AMBIGUOUS in (a, b):
        return AMBIGUOUS
    return a and b


def hyp_relation(scene, rng, want):
    if want is None or len(scene.objects) < 2:
        return None
    options = []
    for a in scene.objects:
        for b in scene.objects:
            if a is b:
                continue
            rels = [r for r in REL_PHRASES if _relation(a, r, b) is want]
            if rels and unique_refs(scene, a) and unique_refs(scene, b):
                options.append((a, b, rels))
    if not options:
        return None
    a, b, rels = rng.choice(options)
    ra, rb = rng.choice(unique_refs(scene, a)), rng.choice(unique_refs(scene, b))
    rel = rng.choice(rels)
    text = f"the {ref_text(ra)} is {rng.choice(REL_PHRASES[rel])} the {ref_text(rb)}"
    return text, ("rel", ra, rel, rb), True


def hyp_all(scene, rng, want):
    if want is None or len(scene.objects) < 2:
        return None
    attr = rng.choices(("colour", "shape", "size"), weights=(2, 2, 1))[0]
    value = getattr(_pick_object(scene, rng), attr)
    if attr == "colour":
        text = rng.choice((f"all the shapes are {value}", f"every shape is {value}"))
    elif attr == "shape":
        text = rng.choice((f"all the shapes are {PLURAL[value]}",
                           f"every shape is {article(value)} {value}"))
    else:
        text = f"all the shapes are {value}"
    return text, ("all", attr, value), True


def hyp_background(scene, rng, want):
    if want is None:
        return None
    bg = scene.background if want else rng.choice([b for b in BACKGROUNDS if b != scene.background])
    text = rng.choice((f"the background is {bg}",
                       f"the shapes are on {article(bg)} {bg} background"))
    return text, ("bg", bg), False


def perturb(scene: Scene, rng: random.Random) -> Scene:
    """A slightly different scene (one object recoloured/reshaped/moved/added/removed)."""
    objs = list(scene.objects)
    op = rng.choice(("colour", "shape", "move", "add", "remove"))
    i = rng.randrange(len(objs))
    o = objs[i]
    free = [(c, r) for r in range(GRID) for c in range(GRID)
            if all((x.col, x.row) != (c, r) for x in objs)]
    if op == "colour":
        objs[i] = make_object(rng, o.shape, rng.choice([c for c in COLOURS if c != o.colour]),
                              o.size, o.col, o.row)
    elif op == "shape":
        objs[i] = make_object(rng, rng.choice([s for s in SHAPES if s != o.shape]), o.colour,
                              o.size, o.col, o.row)
    elif op == "move" and free:
        objs[i] = make_object(rng, o.shape, o.colour, o.size, *rng.choice(free))
    elif op == "add" and free and len(objs) < 4:
        objs.append(make_object(rng, rng.choice(SHAPES), rng.choice(tuple(COLOURS)),
                                rng.choice(SIZES), *rng.choice(free)))
    elif op == "remove" and len(objs) > 1:
        objs.pop(i)
    else:
        objs[i] = make_object(rng, o.shape, rng.choice([c for c in COLOURS if c != o.colour]),
                              o.size, o.col, o.row)
    return scene.replace_objects(objs)


def hyp_caption(scene, rng, want, premise=""):
    """Entailment: another true caption. Contradiction: a caption of a perturbed scene."""
    if want is None:
        return None
    source = scene if want else perturb(scene, rng)
    cand = caption_candidate(source, rng)
    if cand is None or cand[0] == premise:
        return None
    return cand[0], cand[1], not want


def hyp_definite_unknown(scene, rng, want):
    if want is not None:
        return None
    o = _pick_object(scene, rng)
    refs = unique_refs(scene, o)
    if not refs:
        return None
    ref = rng.choice(refs)
    r = ref_text(ref)
    text = rng.choice((f"the {r} is made of {rng.choice(MATERIALS)}",
                       f"the {r} is {rng.choice(QUALITIES)}",
                       f"the {r} is {rng.choice(MOTIONS)}",
                       f"the {r} was drawn by {rng.choice(AGENTS)}",
                       f"another shape is hidden behind the {r}"))
    return text, ("and", (("the", ref), ("unknown",))), False


def hyp_pure_unknown(scene, rng, want):
    if want is not None:
        return None
    text = rng.choice(PURE_NEUTRAL).format(agent=rng.choice(AGENTS))
    return text, ("unknown",), False


def hyp_drawing_order(scene, rng, want):
    if want is not None or len(scene.objects) < 2:
        return None
    a, b = rng.sample(scene.objects, 2)
    ra, rb = unique_refs(scene, a), unique_refs(scene, b)
    if not ra or not rb:
        return None
    ra, rb = rng.choice(ra), rng.choice(rb)
    text = f"the {ref_text(ra)} was drawn {rng.choice(('before', 'after'))} the {ref_text(rb)}"
    return text, ("and", (("the", ra), ("the", rb), ("unknown",))), False


def hyp_exists_unknown(scene, rng, want):
    """'there is a green star made of wood': neutral if present, contradiction if absent."""
    if want is True:
        return None
    filt = _random_filter(scene, rng, want_present=want is None)
    d = desc(*filt)
    text = rng.choice((f"there is {article(d)} {d} made of {rng.choice(MATERIALS)}",
                       f"there is {article(d)} {d} drawn by {rng.choice(AGENTS)}",
                       f"{article(d)} {d} made of {rng.choice(MATERIALS)} is in the picture"))
    return text, ("and", (("count", filt, "ge", 1), ("unknown",))), True


HYPOTHESIS_KINDS = {
    # kind: (maker, weight for entailment, contradiction, neutral)
    "exists": (hyp_exists, 3, 3, 0),
    "count": (hyp_count, 3, 3, 0),
    "total": (hyp_total, 2, 2, 0),
    "attribute": (hyp_attr, 2, 2, 0),
    "region": (hyp_region, 2, 2, 0),
    "relation": (hyp_relation, 3, 3, 0),
    "all": (hyp_all, 1, 1, 0),
    "background": (hyp_background, 1, 1, 0),
    "caption": (hyp_caption, 2, 3, 0),
    "exists_unknown": (hyp_exists_unknown, 0, 6, 3),
    "definite_unknown": (hyp_definite_unknown, 0, 0, 3),
    "pure_unknown": (hyp_pure_unknown, 0, 0, 2),
    "drawing_order": (hyp_drawing_order, 0, 0, 2),
}
_WANT_COLUMN = {True: 1, False: 2, None: 3}


def make_hypothesis(scene: Scene, rng: random.Random, want, premise: str = "",
                    avoid=()) -> dict:
    """A hypothesis whose computed truth value in ``scene`` is ``want`` (True/False/None).

    Returns dict(text, label, kind, difficulty, lf).
    """
    names = [k for k, v in HYPOTHESIS_KINDS.items() if v[_WANT_COLUMN[want]] > 0]
    weights = [HYPOTHESIS_KINDS[k][_WANT_COLUMN[want]] for k in names]
    for attempt in range(400):
        kind = rng.choices(names, weights=weights)[0] if attempt < 300 else \
            {True: "total", False: "total", None: "pure_unknown"}[want]
        maker = HYPOTHESIS_KINDS[kind][0]
        out = maker(scene, rng, want, premise) if kind == "caption" else maker(scene, rng, want)
        if out is None:
            continue
        text, lf, hard = out
        if text == premise or text in avoid or evaluate(lf, scene) is not want:
            continue
        hard = hard and not (len(scene.objects) == 1 and kind not in ("exists_unknown",))
        return {"text": text, "label": LABELS[want], "kind": kind,
                "difficulty": "hard" if hard else "easy", "lf": lf}
    raise RuntimeError(f"no hypothesis with value {want!r} for scene {scene.to_json()}")
