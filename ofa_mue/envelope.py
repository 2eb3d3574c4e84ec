"""Static truncation's best quality at a given expected time reduction, and MuE against it.

Static truncation is a cloud of points (expected time reduction, quality), one per
image/text/decoder depth combination. What static truncation can reach at a reduction
``x`` is the **upper envelope** of that cloud: the upper concave hull (a fixed depth, or a
random per-example mix of two fixed depths, which averages both their reductions and their
quality) taken at ``x`` or at any larger reduction (more saving at a better quality is
never worse). MuE beats a fixed depth at ``x`` when its quality is above that envelope.

Built from the split it is scored on, the envelope is an oracle: among dozens of depth
combinations the best one on a small split is partly lucky. :func:`held_out_choice` is what
a user can do instead: choose the depths on another split (the validation split) and score
that choice on the evaluated one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

Point = Tuple[float, float]
"""(expected time reduction, quality)."""

TOLERANCE = 1e-9
"""Qualities closer than this count as equal (rounding in the interpolation)."""


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def upper_hull(points: Sequence[Point]) -> List[Point]:
    """Vertices of the upper concave hull of ``points``, by increasing reduction (for equal
    reductions only the best quality counts)."""
    best = {}
    for x, y in points:
        best[x] = max(y, best.get(x, y))
    hull: List[Point] = []
    for point in sorted(best.items()):
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) >= 0:
            hull.pop()
        hull.append(point)
    return hull


@dataclass(frozen=True)
class EnvelopeValue:
    """The envelope at one reduction: its quality, the two hull vertices it lies between and the
    share of the mix that runs the right one (0 for a single vertex)."""

    quality: float
    left: Point
    right: Point
    share: float = 0.0


def envelope_at(hull: Sequence[Point], x: float) -> Optional[EnvelopeValue]:
    """The upper envelope of the points of ``hull`` (from :func:`upper_hull`) at reduction ``x``:
    the hull at ``x``, or a vertex at a larger reduction if that is better; ``None`` outside
    the reductions the points span."""
    if not hull or x < hull[0][0] - TOLERANCE or x > hull[-1][0] + TOLERANCE:
        return None
    x = min(max(x, hull[0][0]), hull[-1][0])
    value = None
    for left, right in zip(hull, hull[1:]):
        if left[0] <= x <= right[0]:
            share = (x - left[0]) / (right[0] - left[0])
            if share in (0.0, 1.0):  # at a vertex: that fixed depth alone, not a mix
                vertex = right if share else left
                value = EnvelopeValue(vertex[1], vertex, vertex)
            else:
                value = EnvelopeValue(left[1] + share * (right[1] - left[1]), left, right, share)
            break
    if value is None:  # a single vertex
        value = EnvelopeValue(hull[0][1], hull[0], hull[0])
    better = max((vertex for vertex in hull if vertex[0] >= x), key=lambda vertex: vertex[1])
    if better[1] > value.quality:
        return EnvelopeValue(better[1], better, better)
    return value


def envelope_vertices(hull: Sequence[Point]) -> List[Point]:
    """The vertices of the envelope as a line (for plotting): flat at the best quality up to the
    vertex that reaches it, then the hull."""
    if not hull:
        return []
    top = max(range(len(hull)), key=lambda index: (hull[index][1], hull[index][0]))
    head = [(hull[0][0], hull[top][1])] if top else []
    return head + list(hull[top:])


@dataclass(frozen=True)
class HeldOutChoice:
    """Static truncation chosen on one split at a reduction, scored on another: the chosen mix of
    (at most) two depth combinations, the share of the mix that runs ``right``, and its quality
    and reduction on the scored split."""

    quality: float
    reduction: float
    left: str
    right: str
    share: float


def held_out_choice(chosen_on: Dict[str, Point], scored_on: Dict[str, Point], x: float) -> Optional[HeldOutChoice]:
    """The envelope of the ``chosen_on`` points (``{setting: point}``, one split) at reduction ``x``
    picks a fixed depth or a mix of two (:func:`envelope_at`); the same settings, mixed in the
    same shares, are scored with their ``scored_on`` points (another split). ``None`` when ``x``
    is outside the reductions the chosen-on points span. Every chosen setting must have a
    scored point (a ``KeyError`` otherwise)."""
    by_point = {}
    for setting, point in chosen_on.items():
        by_point.setdefault(point, setting)
    envelope = envelope_at(upper_hull(list(chosen_on.values())), x)
    if envelope is None:
        return None
    left, right, share = by_point[envelope.left], by_point[envelope.right], envelope.share
    (x_left, q_left), (x_right, q_right) = scored_on[left], scored_on[right]
    return HeldOutChoice(q_left + share * (q_right - q_left), x_left + share * (x_right - x_left), left, right, share)
