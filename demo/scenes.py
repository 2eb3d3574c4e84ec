"""Synthetic scenes for the bundled demo data: sampling and drawing.

A scene is 1-4 coloured shapes on a plain or lightly textured background. Every object
sits in its own cell of a 3x3 grid (column 0 = left, 2 = right; row 0 = top, 2 = bottom)
and never leaves it, so positions and relations ("on the left", "left of", "above") are
decided by the cells and stay unambiguous whatever the jitter inside the cell. Sizes are
two well separated classes (big radius about twice the small one).

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

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star", "cross")
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
    "gray": (135, 135, 135),
    "black": (28, 28, 32),
}
SIZES = ("small", "big")
GRID = 3
# radius as a fraction of the image side; a cell is 1/3 of the side
RADIUS_RANGE = {"small": (0.060, 0.078), "big": (0.122, 0.150)}
COLOUR_JITTER = 14
SUPERSAMPLE = 4
# probability of 1, 2, 3, 4 objects: a mix of easy (one big object) and hard scenes
N_OBJECTS_WEIGHTS = (0.30, 0.25, 0.25, 0.20)


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: str
    col: int  # 0 left, 1 middle, 2 right
    row: int  # 0 top, 1 middle, 2 bottom
    cx: float  # centre, as a fraction of the image side
    cy: float
    radius: float  # fraction of the image side
    rgb: tuple[int, int, int]

    def to_json(self) -> dict:
        return {
            "shape": self.shape, "colour": self.colour, "size": self.size,
            "col": self.col, "row": self.row, "cx": round(self.cx, 4),
            "cy": round(self.cy, 4), "radius": round(self.radius, 4), "rgb": list(self.rgb),
        }


@dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...]
    background: str
    bg_rgb: tuple[int, int, int]
    texture: float  # amplitude of the smooth background texture, 0 = plain
    texture_seed: int = field(default=0)

    def to_json(self) -> dict:
        return {
            "background": self.background, "bg_rgb": list(self.bg_rgb),
            "texture": round(self.texture, 3),
            "objects": [o.to_json() for o in self.objects],
        }

    def replace_objects(self, objects) -> "Scene":
        return Scene(tuple(objects), self.background, self.bg_rgb, self.texture, self.texture_seed)


def _jitter_rgb(rng: random.Random, rgb) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-COLOUR_JITTER, COLOUR_JITTER))) for c in rgb)


def make_object(rng: random.Random, shape: str, colour: str, size: str, col: int, row: int) -> Obj:
    """An object of the given kind in grid cell (col, row), at a random spot inside it."""
    radius = rng.uniform(*RADIUS_RANGE[size])
    half_cell = 0.5 / GRID
    slack = max(0.0, half_cell - radius - 0.02)  # keep clear of the cell's border
    cx = (col + 0.5) / GRID + rng.uniform(-slack, slack)
    cy = (row + 0.5) / GRID + rng.uniform(-slack, slack)
    return Obj(shape, colour, size, col, row, cx, cy, radius, _jitter_rgb(rng, COLOURS[colour]))


def sample_scene(rng: random.Random) -> Scene:
    """A random scene: 1-4 objects, some scenes with repeated shapes/colours for counting."""
    n = rng.choices((1, 2, 3, 4), weights=N_OBJECTS_WEIGHTS)[0]
    cells = rng.sample([(c, r) for r in range(GRID) for c in range(GRID)], n)
    shapes = [rng.choice(SHAPES) for _ in range(n)]
    colours = [rng.choice(tuple(COLOURS)) for _ in range(n)]
    if n == 1:
        sizes = ["big" if rng.random() < 0.8 else "small"]
    else:
        sizes = [rng.choice(SIZES) for _ in range(n)]
        if rng.random() < 0.4:  # repeated objects, so that counting matters
            k = rng.randint(2, n)
            same_colour = rng.random() < 0.5
            for i in range(1, k):
                shapes[i] = shapes[0]
                if same_colour:
                    colours[i] = colours[0]
    objects = [make_object(rng, s, c, z, col, row)
               for s, c, z, (col, row) in zip(shapes, colours, sizes, cells)]
    background = rng.choice(tuple(BACKGROUNDS))
    texture = 0.0 if rng.random() < 0.4 else rng.uniform(6.0, 16.0)
    shade = rng.randint(-12, 12)  # brightness jitter; the hue stays neutral
    bg_rgb = tuple(max(0, min(255, c + shade + rng.randint(-3, 3)))
                   for c in BACKGROUNDS[background])
    return Scene(tuple(objects), background, bg_rgb, texture, rng.getrandbits(32))


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
    if shape == "cross":
        w, e = 0.33 * r, 0.92 * r
        return [(cx - w, cy - e), (cx + w, cy - e), (cx + w, cy - w), (cx + e, cy - w),
                (cx + e, cy + w), (cx + w, cy + w), (cx + w, cy + e), (cx - w, cy + e),
                (cx - w, cy + w), (cx - e, cy + w), (cx - e, cy - w), (cx - w, cy - w)]
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


def render_scene(scene: Scene, size: int = 128) -> Image.Image:
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
    return canvas.resize((size, size), Image.BOX)


def encode_image(image: Image.Image) -> str:
    """PNG bytes of the image as OFA stores them: ``base64.urlsafe_b64encode``, as text."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.urlsafe_b64encode(buf.getvalue()).decode("ascii")
