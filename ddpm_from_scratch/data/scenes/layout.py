"""Random scenes: how a scene of each kind is drawn, on either side of the held-out split (chapter 07).

A kind says what the caption will state:

    single    one object
    relation  two objects, "0 <r> 1"
    three     a chain around an anchor object: "0 <r> 1, and 2 <r'> 1"
    count     two or three look-alikes (same shape and colour); two may come with one more object

A layout is drawn by rejection: attributes first (a scene on the wrong side of the held-out
split costs almost nothing to reject), then positions, with the room ``world._clearly``
asks of a stated relation; a draw that does not fit is drawn again. Backgrounds are dark
and desaturated (every channel <= 0.36), objects saturated (one channel >= 0.9, see
``COLOURS``), so an object can never vanish into its background.

Scenes are drawn with Python's ``random``: ``random_scenes`` takes a torch.Generator (a Python
generator is seeded from it, ``seeding.python_rng``) or a random.Random to go on drawing from.
"""

import colorsys
import itertools
import math
import random

from ..seeding import python_rng
from .world import (BACKGROUNDS, COLOURS, EDGE, KIND_WEIGHTS, KINDS, POSITION_BINS, RELATION_GAP, RELATIONS,
                    SHAPES, SIZES, Background, Scene, SceneObject, _apart, _clearly, is_heldout)


def _random_background(rng: random.Random) -> Background:
    """A dark, desaturated background: grey levels 0.04..0.36, each with up to 40% of a random hue."""
    def dark_colour(level):
        hue = colorsys.hsv_to_rgb(rng.random(), 1.0, 1.0)
        tint = rng.uniform(0.0, 0.4)
        return tuple(round(level * (1 - tint + tint * h), 4) for h in hue)

    kind = rng.choice(BACKGROUNDS)
    level = rng.uniform(0.04, 0.2)
    # a gradient climbs by 0.08-0.16, a pattern's two colours differ by 0.04-0.08 (low contrast)
    step = rng.uniform(0.08, 0.16) if kind == "gradient" else rng.uniform(0.04, 0.08)
    colour, second = dark_colour(level), dark_colour(level + step)
    angle = rng.choice((0.0, math.pi / 2, math.pi / 4, -math.pi / 4)) if kind == "checkerboard" \
        else rng.uniform(0, 2 * math.pi)
    return Background(kind, colour, second, angle, period=rng.uniform(0.07, 0.2), phase=rng.random())


def _random_attributes(rng: random.Random) -> tuple:
    return rng.choice(SHAPES), rng.choice(tuple(COLOURS)), rng.choice(tuple(SIZES))


def _random_spot(radius: float, rng: random.Random) -> tuple:
    """A centre (x, y) that keeps a box of half-extent ``radius`` EDGE inside the image."""
    low, high = radius + EDGE, 1 - radius - EDGE
    return rng.uniform(low, high), rng.uniform(low, high)


def _least_distance(radius: float, anchor_radius: float) -> float:
    """The least centre distance, along the axis, of a stated relation (the gap, and one position bin)."""
    return max(radius + anchor_radius + RELATION_GAP, 1 / POSITION_BINS)


# From the anchor towards an object that is "<relation> the anchor": (sign, axis).
DIRECTIONS = {"left of": (-1, "x"), "right of": (1, "x"), "above": (-1, "y"), "below": (1, "y")}


def _place_related(attributes: tuple, relation: str, anchor: SceneObject, others: list,
                   rng: random.Random, tries: int = 20):
    """A SceneObject with ``attributes`` such that "it <relation> anchor" is clear (``_clearly``) and it
    keeps apart from ``others``, or None if no try fits.

    The distance along the axis runs from the least the rule allows to 0.45 more (as far as the
    image allows); the offset across is drawn within what the rule allows for that distance.
    """
    radius = SIZES[attributes[2]]
    low, high = radius + EDGE, 1 - radius - EDGE  # where its centre may lie, on either axis
    sign, axis = DIRECTIONS[relation]
    other_axis = "y" if axis == "x" else "x"
    start = {"x": anchor.x, "y": anchor.y}
    room = start[axis] - low if sign < 0 else high - start[axis]  # how far it may go from the anchor
    least = _least_distance(radius, anchor.radius)
    if room < least:
        return None
    for _ in range(tries):
        along = rng.uniform(least, min(least + 0.45, room))
        spread = min(along / 2, along - 1 / POSITION_BINS)  # the offset across that _clearly allows
        across = rng.uniform(max(-spread, low - start[other_axis]), min(spread, high - start[other_axis]))
        position = {axis: start[axis] + sign * along, other_axis: start[other_axis] + across}
        obj = SceneObject(*attributes, position["x"], position["y"])
        inside = all(low <= value <= high for value in position.values())
        if inside and _clearly(obj, relation, anchor) and all(_apart(obj, other) for other in others):
            return obj
    return None


def _place_freely(attributes: list, rng: random.Random, tries: int = 100):
    """SceneObjects anywhere, no two closer than MIN_SEPARATION, or None if no try fits."""
    for _ in range(tries):
        placed = [SceneObject(*a, *_random_spot(SIZES[a[2]], rng)) for a in attributes]
        if all(_apart(a, b) for a, b in itertools.combinations(placed, 2)):
            return placed
    return None


def _random_layout(kind: str, heldout: bool | None, rng: random.Random):
    """(objects, relations) of a random scene of ``kind`` on the ``heldout`` side of the split, or None
    when the drawn attributes are on the other side or do not fit (the caller draws again)."""
    def wanted(attributes):  # checked before placing anything: a rejection costs little
        return heldout is None or is_heldout(attributes) == heldout

    if kind == "single":
        attributes = _random_attributes(rng)
        if not wanted([attributes]):
            return None
        return [SceneObject(*attributes, *_random_spot(SIZES[attributes[2]], rng))], ()

    if kind == "count":
        shape, colour, size = _random_attributes(rng)
        number = rng.choice((2, 2, 3))
        same_size = rng.random() < 0.5  # "two small red circles" or, sizes mixed, "two red circles"
        group = [(shape, colour, size if same_size else rng.choice(tuple(SIZES))) for _ in range(number)]
        if number == 2 and rng.random() < 0.5:  # "... and a big blue star"
            group.append(_random_attributes(rng))
            if group[-1][:2] == (shape, colour):
                return None
        placed = wanted(group) and _place_freely(group, rng)
        return (placed, ()) if placed else None

    # "relation": objects 0 and 1, "0 <r> 1"; "three": the chain "0 <r> 1, and 2 <r'> 1" around the anchor 1.
    number = 2 if kind == "relation" else 3
    attributes = [_random_attributes(rng) for _ in range(number)]
    if len(set(attributes)) < number or (number == 3 and len({a[:2] for a in attributes}) < 3):
        return None  # two objects a caption could not tell apart (by colour and shape, for "the green box")
    if not wanted(attributes):
        return None
    relations = [(index, rng.choice(RELATIONS), 1) for index in (0, 2)[:number - 1]]
    # The anchor goes where each related object has room: for "it left of the anchor", the anchor's
    # centre lies at least the least distance further right than the leftmost centre it may have.
    anchor_radius = SIZES[attributes[1][2]]
    low = {"x": anchor_radius + EDGE, "y": anchor_radius + EDGE}
    high = {"x": 1 - anchor_radius - EDGE, "y": 1 - anchor_radius - EDGE}
    for index, relation, _ in relations:
        radius = SIZES[attributes[index][2]]
        need = radius + EDGE + _least_distance(radius, anchor_radius)
        sign, axis = DIRECTIONS[relation]
        if sign < 0:
            low[axis] = max(low[axis], need)
        else:
            high[axis] = min(high[axis], 1 - need)
    if low["x"] > high["x"] or low["y"] > high["y"]:
        return None
    anchor = SceneObject(*attributes[1], rng.uniform(low["x"], high["x"]), rng.uniform(low["y"], high["y"]))
    objects = [None, anchor, None][:number]
    for index, relation, _ in relations:
        objects[index] = _place_related(attributes[index], relation, anchor, [o for o in objects if o], rng)
        if objects[index] is None:
            return None
    return objects, tuple(relations)


def random_scene(rng: random.Random, kind: str | None = None, heldout: bool | None = False) -> Scene:
    """One random Scene of ``kind`` (None: drawn with KIND_WEIGHTS); ``heldout``: False a training scene, True one
    with a held-out combination, None either (``world``)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; use one of {', '.join(KINDS)} (or None for a mix)")
    this_kind = kind or rng.choices(KINDS, KIND_WEIGHTS)[0]
    while True:  # draw until the scene fits and is on the asked side of the held-out split
        layout = _random_layout(this_kind, heldout, rng)
        if layout is not None:
            objects, relations = layout
            return Scene(_random_background(rng), tuple(objects), relations, this_kind)


def random_scenes(n: int, generator, heldout: bool | None = False, kind: str | None = None) -> list:
    """A list of ``n`` random Scenes of ``kind`` (None: a mix) on the ``heldout`` side of the split, drawn from
    ``generator``: a torch.Generator, or a random.Random to go on drawing from (``seeding.python_rng``)."""
    rng = python_rng(generator)
    return [random_scene(rng, kind, heldout) for _ in range(n)]
