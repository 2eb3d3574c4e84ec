"""Synthetic scenes for the bundled demo data: sampling and drawing.

A scene is a 3x3 grid of cells (column 0 = left, 2 = right; row 0 = top, 2 = bottom). A
cell is empty, holds one coloured shape, or is *hidden* behind a striped cover (SNLI-VE
scenes only): whatever a hidden cell holds cannot be seen, which is what makes some
hypotheses undecidable from the image ("neutral"). Every object stays inside its cell,
so positions and relations are decided by the cells whatever the jitter inside the cell.
Sizes are two well separated classes (big radius about 1.6 times the small one).

Everything random comes from the ``random.Random`` passed in, so a scene (and its PNG)
is a pure function of that generator's seed. The language side (captions, hypotheses and
their truth values) is in :mod:`ofa_mue.demo.language`.
"""
from __future__ import annotations

import base64
import io
import math
import random
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star")
COLOURS = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (45, 85, 220),
    "yellow": (240, 205, 30),
    "purple": (140, 60, 190),
    "orange": (245, 135, 25),
}
BACKGROUNDS = {
    "white": (240, 240, 236),
    "gray": (150, 150, 150),
    "black": (28, 28, 32),
}
SIZES = ("small", "big")
GRID = 3
CELLS = tuple((col, row) for row in range(GRID) for col in range(GRID))  # reading order
# radius as a fraction of the image side; a cell is 1/3 of the side
RADIUS_RANGE = {"small": (0.080, 0.092), "big": (0.130, 0.148)}
COLOUR_JITTER = 14
SUPERSAMPLE = 4
COVER_STRIPES = 6  # dark/light diagonal stripe pairs across a hidden cell
COVER_RGB = ((20, 20, 20), (235, 235, 235))


@dataclass(frozen=True)
class Obj:
    """One shape in grid cell (col, row); centre and radius as fractions of the image side."""

    shape: str
    colour: str
    size: str
    col: int  # 0 left, 1 middle, 2 right
    row: int  # 0 top, 1 middle, 2 bottom
    cx: float = 0.0
    cy: float = 0.0
    radius: float = 0.0
    rgb: tuple[int, int, int] = (0, 0, 0)

    @property
    def cell(self) -> tuple[int, int]:
        return self.col, self.row

    def to_json(self) -> dict:
        return {
            "shape": self.shape, "colour": self.colour, "size": self.size,
            "col": self.col, "row": self.row, "cx": round(self.cx, 4),
            "cy": round(self.cy, 4), "radius": round(self.radius, 4), "rgb": list(self.rgb),
        }


@dataclass(frozen=True)
class Scene:
    """Objects (at most one per cell, in reading order), hidden cells and the background."""

    objects: tuple[Obj, ...]
    background: str
    bg_rgb: tuple[int, int, int]
    texture: float  # amplitude of the smooth background texture, 0 = plain
    texture_seed: int = field(default=0)
    hidden: tuple[tuple[int, int], ...] = ()  # cells behind a cover: content unknown

    def to_json(self) -> dict:
        return {
            "background": self.background, "bg_rgb": list(self.bg_rgb),
            "texture": round(self.texture, 3),
            "objects": [o.to_json() for o in self.objects],
            "hidden": [list(c) for c in self.hidden],
        }

    def free_cells(self) -> list[tuple[int, int]]:
        """Cells with neither an object nor a cover, in reading order."""
        used = {o.cell for o in self.objects} | set(self.hidden)
        return [c for c in CELLS if c not in used]

    def with_objects(self, objects: Iterable[Obj], hidden: Optional[Sequence] = None) -> "Scene":
        """The same background with other objects (sorted into reading order) and covers."""
        ordered = tuple(sorted(objects, key=lambda o: (o.row, o.col)))
        cells = [o.cell for o in ordered] + list(self.hidden if hidden is None else hidden)
        if len(set(cells)) != len(cells):
            raise ValueError(f"two things in one cell: {cells}")
        return Scene(ordered, self.background, self.bg_rgb, self.texture, self.texture_seed,
                     tuple(sorted(self.hidden if hidden is None else hidden, key=lambda c: (c[1], c[0]))))


def _jitter_rgb(rng: random.Random, rgb) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-COLOUR_JITTER, COLOUR_JITTER))) for c in rgb)


def make_object(rng: random.Random, shape: str, colour: str, size: str, col: int, row: int) -> Obj:
    """An object of the given kind in grid cell (col, row), at a random spot inside it."""
    radius = rng.uniform(*RADIUS_RANGE[size])
    half_cell = 0.5 / GRID
    slack = max(0.0, half_cell - radius - 0.015)  # keep clear of the cell's border
    cx = (col + 0.5) / GRID + rng.uniform(-slack, slack)
    cy = (row + 0.5) / GRID + rng.uniform(-slack, slack)
    return Obj(shape, colour, size, col, row, cx, cy, radius, _jitter_rgb(rng, COLOURS[colour]))


def random_object(rng: random.Random, cell: tuple[int, int], colour=None, shape=None, size=None) -> Obj:
    """An object in ``cell``; attributes not given are drawn at random."""
    return make_object(rng, shape or rng.choice(SHAPES), colour or rng.choice(tuple(COLOURS)),
                       size or rng.choice(SIZES), *cell)


def sample_background(rng: random.Random) -> Scene:
    """An empty scene: a background colour with a little brightness jitter, plain or textured."""
    background = rng.choice(tuple(BACKGROUNDS))
    texture = 0.0 if rng.random() < 0.5 else rng.uniform(5.0, 12.0)
    shade = rng.randint(-10, 10)  # brightness jitter; the hue stays neutral
    bg_rgb = tuple(max(0, min(255, c + shade + rng.randint(-3, 3)))
                   for c in BACKGROUNDS[background])
    return Scene((), background, bg_rgb, texture, rng.getrandbits(32))


def sample_scene(rng: random.Random, n_objects: Sequence[int] = (1, 2, 3), hidden: int = 0) -> Scene:
    """A random scene: ``n`` objects (``n`` drawn uniformly from ``n_objects``) in
    distinct cells, ``hidden`` covered cells, and now and then repeated shapes or colours
    (so that counting and attribute binding matter)."""
    n = rng.choice(tuple(n_objects))
    cells = rng.sample(CELLS, n + hidden)
    shapes = [rng.choice(SHAPES) for _ in range(n)]
    colours = [rng.choice(tuple(COLOURS)) for _ in range(n)]
    if n > 1 and rng.random() < 0.4:  # repeated objects, so that counting matters
        k = rng.randint(2, n)
        same_colour = rng.random() < 0.5
        for i in range(1, k):
            shapes[i] = shapes[0]
            if same_colour:
                colours[i] = colours[0]
    objects = [make_object(rng, s, c, rng.choice(SIZES), *cell)
               for s, c, cell in zip(shapes, colours, cells[:n])]
    return sample_background(rng).with_objects(objects, cells[n:])


# ---------------------------------------------------------------------------- drawing

def shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Outline of a (non-circle) shape of radius r centred at (cx, cy), in pixels."""
    if shape == "square":
        h = 0.85 * r
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        cy += 0.25 * r  # centre the bounding box vertically
        return [(cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a)))
                for a in (-90, 30, 150)]
    if shape == "star":
        cy += 0.095 * r
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else 0.45 * r
            a = math.radians(-90 + 36 * i)
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        return pts
    raise ValueError(f"unknown shape {shape!r}")


def _background(scene: Scene, size: int) -> np.ndarray:
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = scene.bg_rgb
    if scene.texture > 0:
        # smooth, low-frequency blotches: a light texture that PNG still compresses well
        nrng = np.random.default_rng(scene.texture_seed)
        low = nrng.standard_normal((6, 6)).astype(np.float32)
        lo, hi = float(low.min()), float(low.max())
        low8 = ((low - lo) / max(hi - lo, 1e-6) * 255).round().astype(np.uint8)
        smooth = np.asarray(Image.fromarray(low8).resize((size, size), Image.BICUBIC), np.float32)
        img += ((smooth / 255.0) - 0.5)[:, :, None] * (2 * scene.texture)
    return img.clip(0, 255).round().astype(np.uint8)


def _cover_tile(side: int) -> Image.Image:
    """A ``side`` x ``side`` tile of diagonal dark and light stripes: the cover of a hidden cell."""
    tile = Image.new("RGB", (side, side), COVER_RGB[1])
    draw = ImageDraw.Draw(tile)
    width = side / (2 * COVER_STRIPES)
    for i in range(-2 * COVER_STRIPES, 2 * COVER_STRIPES, 2):
        a = i * width
        draw.polygon([(a, 0), (a + width, 0), (a + width + side, side), (a + side, side)], fill=COVER_RGB[0])
    return tile


def render_scene(scene: Scene, size: int = 48) -> Image.Image:
    """Draw the scene as an RGB image of side ``size`` (anti-aliased by supersampling)."""
    big = size * SUPERSAMPLE
    canvas = Image.fromarray(_background(scene, size)).resize((big, big), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for o in scene.objects:
        cx, cy, r = o.cx * big, o.cy * big, o.radius * big
        if o.shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=o.rgb)
        else:
            draw.polygon(shape_polygon(o.shape, cx, cy, r), fill=o.rgb)
    for col, row in scene.hidden:
        x0, x1 = col * big // GRID, (col + 1) * big // GRID
        y0, y1 = row * big // GRID, (row + 1) * big // GRID
        canvas.paste(_cover_tile(max(x1 - x0, y1 - y0)).crop((0, 0, x1 - x0, y1 - y0)), (x0, y0))
    return canvas.resize((size, size), Image.BOX)


def encode_image(image: Image.Image) -> str:
    """PNG bytes of the image as OFA stores them: ``base64.urlsafe_b64encode``, as text."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.urlsafe_b64encode(buf.getvalue()).decode("ascii")
