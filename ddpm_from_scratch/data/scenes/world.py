"""The scene world: what a scene of chapter 07 is, which of them training never shows, and when a relation holds.

A scene is a background and one to three objects, each one of 6 shapes x 8 colours x 3 sizes
(5.8, 7.7 and 9.9 pixels across at 32x32), with the relations its caption states between them.
It is a plain description (``Scene``, ``SceneObject``, ``Background``): the image is drawn from it
(:mod:`.drawing`), and random ones are drawn by :mod:`.layout`.

Positions are in units of the image side, (0, 0) the top left corner, y pointing down.
An object of half-extent r fits in the box [x - r, x + r] x [y - r, y + r]; two
objects' boxes never come closer than ``MIN_SEPARATION``, so objects never overlap (``_apart``).

How a relation is decided from positions (``relation_holds``): for d = (b's centre -
a's centre), "a left of b" holds when d_x >= ``RELATION_MARGIN`` and d_x >= |d_y| (the
horizontal axis dominates); "above", "right of", "below" alike (ties on the diagonal
satisfy both axes). Scenes that *state* a relation are generated with far more room
than that rule asks for, so that the relation is plain to the eye (``_clearly``):

- along the relation's axis, a gap of at least ``RELATION_GAP`` between the two objects'
  boxes (about the size of a small object);
- the distance along the axis at least twice the offset across it, and at least one
  position bin (a quarter of the side) more than it, so that the relation is plain even
  to a judge whose reading of the centres is off by an eighth of the side.

Held out from training, so that generating them tests composition (``is_heldout``):

- ``HELDOUT_PAIRS``: six (colour, shape) pairs; every colour and every shape is seen,
  never together;
- ``HELDOUT_SHAPE_PAIRS``: three unordered pairs of shapes that never share a training
  scene (so never stand in a relation), though each shape is related to the four others.

``heldout=False`` gives training scenes, ``True`` scenes with at least one held-out
combination, ``None`` everything (what a judge is trained on: it must know them all).
"""

from dataclasses import dataclass

SHAPES = ("circle", "square", "triangle", "cross", "star", "ring")
COLOURS = {  # RGB in [0, 1]: saturated and far apart, so still told apart after anti-aliasing at 32x32
    "red": (1.0, 0.1, 0.1),
    "orange": (1.0, 0.55, 0.0),
    "yellow": (1.0, 0.95, 0.1),
    "green": (0.1, 0.85, 0.1),
    "cyan": (0.0, 0.9, 1.0),
    "blue": (0.15, 0.3, 1.0),
    "purple": (0.6, 0.15, 1.0),
    "pink": (1.0, 0.45, 0.8),
}
SIZES = {"small": 0.09, "medium": 0.12, "big": 0.155}  # half-extent r, in units of the side
BACKGROUNDS = ("flat", "gradient", "stripes", "checkerboard")
RELATIONS = ("left of", "right of", "above", "below")  # "a <relation> b"
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
KINDS = ("single", "relation", "three", "count")
KIND_WEIGHTS = (0.25, 0.35, 0.2, 0.2)  # how often each kind is drawn when none is asked for

# Held out from training (see the module docstring).
HELDOUT_PAIRS = (("green", "triangle"), ("red", "cross"), ("blue", "circle"),
                 ("yellow", "square"), ("purple", "star"), ("orange", "ring"))
HELDOUT_SHAPE_PAIRS = (("circle", "star"), ("square", "triangle"), ("cross", "ring"))

# Layout, in units of the image side.
EDGE = 0.03             # an object's box stays this far inside the image
MIN_SEPARATION = 0.04   # the least gap between any two objects' boxes
RELATION_GAP = 0.15     # the least gap, along the axis, between two objects in a stated relation (~ a small object)
RELATION_MARGIN = 0.2   # the least centre distance along the axis for relation_holds to say yes
POSITION_BINS = 4       # stated relations: the axis distance exceeds the cross one by a quarter of the side


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    x: float  # centre, in units of the side: 0 = left edge, 1 = right edge
    y: float  # 0 = top edge, 1 = bottom edge

    @property
    def radius(self) -> float:
        return SIZES[self.size]


@dataclass(frozen=True)
class Background:
    kind: str                # one of BACKGROUNDS
    colour: tuple            # RGB in [0, 1], dark: the flat colour, or where a gradient / pattern starts
    second_colour: tuple     # the gradient's other end / the pattern's other colour (unused when flat)
    angle: float = 0.0       # radians: the direction the gradient runs / the stripes' normal
    period: float = 0.25     # the width of one stripe / one check, in units of the side
    phase: float = 0.0       # shifts the pattern, in periods


@dataclass(frozen=True)
class Scene:
    background: Background
    objects: tuple           # of SceneObject, at most 3
    relations: tuple = ()    # (index_a, relation, index_b): "objects[a] <relation> objects[b]"
    kind: str = "single"     # one of KINDS

    @property
    def heldout(self) -> bool:
        return is_heldout(self.objects)


# ---------------------------------------------------------------------------------------------
# Held-out combinations, and the rules positions follow
# ---------------------------------------------------------------------------------------------

def is_heldout(objects) -> bool:
    """True if the objects (SceneObjects, or (shape, colour, ...) tuples) show a held-out (colour, shape)
    pair, or both shapes of a held-out shape pair."""
    pairs = [(o[0], o[1]) if isinstance(o, tuple) else (o.shape, o.colour) for o in objects]
    shapes = {shape for shape, _ in pairs}
    return (any((colour, shape) in HELDOUT_PAIRS for shape, colour in pairs)
            or any(a in shapes and b in shapes for a, b in HELDOUT_SHAPE_PAIRS))


def _along_and_across(a, relation: str, b) -> tuple:
    """(distance along the relation's axis, |offset| across it), both from a's centre to b's: positive
    along when "a <relation> b" points the right way ("a left of b": b lies to the right of a)."""
    dx, dy = b["x"] - a["x"], b["y"] - a["y"]
    return {"left of": (dx, abs(dy)), "right of": (-dx, abs(dy)),
            "above": (dy, abs(dx)), "below": (-dy, abs(dx))}[relation]


def _as_dict(obj) -> dict:
    return obj if isinstance(obj, dict) else vars(obj)


def relation_holds(a, relation: str, b) -> bool:
    """Does "a <relation> b" hold for these positions? The relation's axis must dominate (distance
    along it >= offset across it) and the distance along it be at least RELATION_MARGIN.

    ``a`` and ``b`` are SceneObjects or dicts with "x" and "y" (units of the side, y down).
    """
    along, across = _along_and_across(_as_dict(a), relation, _as_dict(b))
    return along >= RELATION_MARGIN and along >= across


def _clearly(a: SceneObject, relation: str, b: SceneObject) -> bool:
    """The stricter rule a generated scene follows when its caption states "a <relation> b"."""
    along, across = _along_and_across(vars(a), relation, vars(b))
    gap = along - a.radius - b.radius  # empty space between the two boxes along the axis
    return gap >= RELATION_GAP and along >= 2 * across and along >= across + 1 / POSITION_BINS


def _apart(a: SceneObject, b: SceneObject) -> bool:
    """True if the two boxes are at least MIN_SEPARATION apart along x or along y (so no overlap)."""
    reach = a.radius + b.radius + MIN_SEPARATION
    return abs(a.x - b.x) >= reach or abs(a.y - b.y) >= reach
