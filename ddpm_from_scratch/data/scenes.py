"""Captioned scenes, version 2: up to three objects, where they are and how they relate (the capstone chapter).

Chapter 03's scenes (:mod:`.shapes`) hold one shape on black. The capstone's text-to-image
model needs captions that say more, so a scene here is

    background  flat dark colour, a gradient, low-contrast stripes or a checkerboard
    objects     one to three of  6 shapes x 8 colours x 3 sizes, at free positions
                (sizes: 5.8, 7.7 and 9.9 pixels across at 32x32)

and its caption names every object and how they relate:

    single    "there is a tiny cyan star"
    relation  "a small red circle to the left of a big blue square"
              "a big blue square is right of a small red circle"      (the same scene)
    three     "a small red ring above a big green box, and a huge pink star left of the green box"
              (a chain around one anchor object: A rel B, and C rel B; the three differ
              in colour or shape, so "the green box" names one object)
    count     "two green triangles", "three small yellow stars",
              "two pink crosses and a medium orange circle"

with synonyms (box / square, little / small / tiny, under / below / beneath ...) and
several templates, so a text encoder must learn what words mean, not which template
was used.

Positions are in units of the image side, (0, 0) the top left corner, y pointing down.
An object of half-extent r fits in the box [x - r, x + r] x [y - r, y + r]; two
objects' boxes never come closer than ``MIN_SEPARATION``, so objects never overlap.

How a relation is decided from positions (``relation_holds``): for d = (b's centre -
a's centre), "a left of b" holds when d_x >= ``RELATION_MARGIN`` and d_x >= |d_y| (the
horizontal axis dominates); "above", "right of", "below" alike (ties on the diagonal
satisfy both axes). Scenes that *state* a relation are generated with far more room
than that rule asks for, so that the relation is plain to the eye:

- along the relation's axis, a gap of at least ``RELATION_GAP`` between the two objects'
  boxes (about the size of a small object);
- the distance along the axis at least twice the offset across it, and at least one
  position bin (a quarter of the side) more than it, so that the relation is plain even
  to a judge whose reading of the centres is off by an eighth of the side.

Held out from training, so that generating them tests composition:

- ``HELDOUT_PAIRS``: six (colour, shape) pairs; every colour and every shape is seen,
  never together;
- ``HELDOUT_SHAPE_PAIRS``: three unordered pairs of shapes that never share a training
  scene (so never stand in a relation), though each shape is related to the four others.

``heldout=False`` gives training scenes, ``True`` scenes with at least one held-out
combination, ``None`` everything (what a judge is trained on: it must know them all).

To judge a generated image: a network trained on ``labelled_batches`` (``nn.SceneReader``)
finds every object in a grid of cells (``scene_labels``: is a centre in the cell, its
shape, colour, size, and where in the cell); ``claims_hold`` then checks them against what the prompt claims (``prompt_claims``
for a generated scene, ``parse_caption`` for a typed prompt): per attribute, per relation
and for the whole prompt.

Images are rendered analytically, in pure torch and batched (``render``): each sample
point of a ``supersample`` x ``supersample`` grid per pixel is inside or outside each
shape, and the pixel is their mean (an anti-aliased edge). A scene is a plain
description, so an image is a deterministic function of it, and ``make_scenes`` of its
seed. Backgrounds are dark and desaturated (every channel <= 0.36), objects saturated
(one channel >= 0.9), so an object can never vanish into its background. The book trains
at 32x32 (64x64 on a GPU); on one CPU thread ``render`` draws about 5,000 scenes/s at
32x32 and 1,200 at 64x64 (3 x 3 samples per pixel, batches of 256).
"""

import colorsys
import itertools
import math
import random
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

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
ABSENT = -100           # label of an empty slot: F.cross_entropy ignores it by default

# Words a caption may use for each value.
SYNONYMS = {
    "circle": ("circle", "disc", "disk"), "square": ("square", "box"), "triangle": ("triangle",),
    "cross": ("cross", "plus"), "star": ("star",), "ring": ("ring", "donut"),
    "small": ("small", "little", "tiny"), "medium": ("medium", "midsize"), "big": ("big", "large", "huge"),
    "purple": ("purple", "violet"),
    "left of": ("to the left of", "left of", "on the left of"),
    "right of": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over", "on top of"),
    "below": ("below", "under", "beneath", "underneath"),
}
PLURALS = {"circle": "circles", "disc": "discs", "disk": "disks", "square": "squares", "box": "boxes",
           "triangle": "triangles", "cross": "crosses", "plus": "pluses", "star": "stars",
           "ring": "rings", "donut": "donuts"}
NUMBERS = {2: "two", 3: "three"}

# Templates. {A} {B} {C} {X} {Y}: an object ("a small red circle"); {r_..}: a relation phrase;
# {N}: a counted group ("two green triangles"); {b}: B again ("green box", after "the").
# X is related to Y by the relation r_XY.
TEMPLATES = {
    "single": ("{A}", "there is {A}", "a picture of {A}", "just {A}", "{A} on its own"),
    "relation": ("{X} {r_XY} {Y}", "there is {X} {r_XY} {Y}", "{X} is {r_XY} {Y}",
                 "{X} sits {r_XY} {Y}", "{r_XY} {Y} there is {X}"),
    # The chain A rel B, C rel B, around the anchor B.
    "three": ("{A} {r_AB} {B}, and {C} {r_CB} the {b}", "{C} {r_CB} {B}, and {A} {r_AB} the {b}",
              "{B} with {A} {r_AB} it and {C} {r_CB} it", "{B} is {r_BA} {A} and {r_BC} {C}"),
    "count": ("{N}", "there are {N}"),
    "count_and_one": ("{N} and {A}", "there are {N} and {A}", "{A} and {N}"),
}


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
# Held-out combinations and relations from positions
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


# ---------------------------------------------------------------------------------------------
# Drawing scene descriptions
# ---------------------------------------------------------------------------------------------

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
    """One random Scene of ``kind`` (None: drawn with KIND_WEIGHTS); ``heldout`` as in the module docstring."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; use one of {', '.join(KINDS)} (or None for a mix)")
    this_kind = kind or rng.choices(KINDS, KIND_WEIGHTS)[0]
    while True:  # draw until the scene fits and is on the asked side of the held-out split
        layout = _random_layout(this_kind, heldout, rng)
        if layout is not None:
            objects, relations = layout
            return Scene(_random_background(rng), tuple(objects), relations, this_kind)


def random_scenes(n: int, rng, heldout: bool | None = False, kind: str | None = None) -> list:
    """``n`` random Scenes; ``rng`` is a random.Random or a seed."""
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    return [random_scene(rng, kind, heldout) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------

def _phrases(value: str) -> tuple:
    """The words a caption may use for a value: its synonyms, or the value itself."""
    return SYNONYMS.get(value, (value,))


def _word(value: str, rng: random.Random) -> str:
    return rng.choice(_phrases(value))


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _object_phrase(obj: SceneObject, rng: random.Random) -> str:
    """"a small red circle", "an orange box" ... (size always named for a single object)."""
    return _with_article(f"{_word(obj.size, rng)} {_word(obj.colour, rng)} {_word(obj.shape, rng)}")


def _group_phrase(group: list, rng: random.Random) -> str:
    """"two green triangles", "three small yellow stars": the size is named when all share it."""
    first = group[0]
    size = f"{_word(first.size, rng)} " if len({o.size for o in group}) == 1 else ""
    return f"{NUMBERS[len(group)]} {size}{_word(first.colour, rng)} {PLURALS[_word(first.shape, rng)]}"


def _counted_groups(scene: Scene) -> tuple:
    """A count scene's objects as (the group of look-alikes, the odd one out or None)."""
    group = [o for o in scene.objects if (o.shape, o.colour) == (scene.objects[0].shape, scene.objects[0].colour)]
    others = [o for o in scene.objects if o not in group]
    return group, (others[0] if others else None)


def caption(scene: Scene, rng: random.Random) -> str:
    """One random phrasing of what the scene shows (its objects, the counts and the stated relations)."""
    if scene.kind == "count":
        group, other = _counted_groups(scene)
        if other is None:
            return rng.choice(TEMPLATES["count"]).format(N=_group_phrase(group, rng))
        return rng.choice(TEMPLATES["count_and_one"]).format(N=_group_phrase(group, rng), A=_object_phrase(other, rng))
    template = rng.choice(TEMPLATES[scene.kind])
    names = dict(zip("ABC", scene.objects))
    words = {letter: _object_phrase(obj, rng) for letter, obj in names.items()}
    if "B" in words:  # "a little cyan donut" -> "cyan donut", for "the cyan donut"
        words["b"] = " ".join(words["B"].split()[-2:])
    for a, relation, b in scene.relations:  # "{r_AB}" and its inverse "{r_BA}"
        first, second = "ABC"[a], "ABC"[b]
        words[f"r_{first}{second}"] = _word(relation, rng)
        words[f"r_{second}{first}"] = _word(INVERSE[relation], rng)
    if scene.kind == "relation":  # both orders: "A left of B" or "B right of A"
        x, y = ("A", "B") if rng.random() < 0.5 else ("B", "A")
        words.update(X=words[x], Y=words[y], r_XY=words[f"r_{x}{y}"])
    return template.format(**words)


def contradiction(scene: Scene, rng: random.Random) -> Scene | None:
    """The scene with one claim of its caption turned false, for captions a text encoder must learn to reject
    (hard negatives): a stated relation inverted ("A left of B" -> "A right of B"); else, with objects of two
    colours, the colours swapped between them (binding: "a red circle and a blue square" -> "a blue circle and a
    red square"); else the prompted colour changed. A colour change never makes a held-out combination (so a
    training scene's contradiction is a training scene too); None if every one would. Captioned with the same
    random choices as the scene's own caption, the two differ only in the words that changed
    (``contradicting_caption``)."""
    objects = list(scene.objects)
    if scene.relations:
        relations = list(scene.relations)
        i = rng.randrange(len(relations))
        a, relation, b = relations[i]
        relations[i] = (a, INVERSE[relation], b)
        return Scene(scene.background, scene.objects, tuple(relations), scene.kind)
    colours = list(dict.fromkeys(o.colour for o in objects))
    swaps = [dict(zip(colours[:2], colours[1::-1]))] if len(colours) >= 2 else []
    swaps += [{colours[0]: c} for c in rng.sample(sorted(set(COLOURS) - set(colours)), len(COLOURS) - len(colours))]
    for swap in swaps:
        changed = tuple(SceneObject(o.shape, swap.get(o.colour, o.colour), o.size, o.x, o.y) for o in objects)
        if not is_heldout(changed):
            return Scene(scene.background, changed, scene.relations, scene.kind)
    return None


def contradicting_caption(scene: Scene, phrasing: tuple, rng: random.Random) -> str | None:
    """A caption of ``contradiction(scene, rng)`` phrased with the random choices that followed ``phrasing`` (the
    ``getstate()`` of the generator that phrased the scene's own caption, taken just before): the two captions
    then differ only in the changed words (or in order, where a changed word shifts the later choices)."""
    false = contradiction(scene, rng)
    if false is None:
        return None
    same_choices = random.Random()
    same_choices.setstate(phrasing)
    return caption(false, same_choices)


def captions_and_contradictions(scenes: list, rng: random.Random, contradict: bool = True) -> tuple:
    """One random phrasing per scene, and (``contradict``) each one's ``contradicting_caption`` (None where none
    can be made), drawn after all the captions: the captions are those ``contradict=False`` gives."""
    states, captions = [], []
    for scene in scenes:
        states.append(rng.getstate())
        captions.append(caption(scene, rng))
    if not contradict:
        return captions, None
    return captions, [contradicting_caption(scene, state, rng) for scene, state in zip(scenes, states)]


def vocabulary() -> tuple:
    """Every word a caption can contain, sorted (what the tokenizer is built from), as nn.text.words_in reads them."""
    texts = [t for templates in TEMPLATES.values() for t in templates]
    values = (*SHAPES, *COLOURS, *SIZES, *RELATIONS)
    texts += [phrase for value in values for phrase in _phrases(value)]
    texts += [*PLURALS.values(), *NUMBERS.values(), "a", "an"]
    words = {w for text in texts for w in re.findall(r"[a-z0-9]+", re.sub(r"\{\w+\}", " ", text.lower()))}
    return tuple(sorted(words))


def max_caption_words() -> int:
    """The most words any caption can have: each template's own words plus its placeholders' longest fillings."""
    def longest(values):
        return max(len(phrase.split()) for value in values for phrase in _phrases(value))

    obj = 1 + longest(SIZES) + longest(COLOURS) + longest(SHAPES)  # article size colour shape
    filling = {"A": obj, "B": obj, "C": obj, "X": obj, "Y": obj, "N": obj, "r": longest(RELATIONS),
               "b": longest(COLOURS) + longest(SHAPES)}  # placeholders by their first letter

    def words(template):
        own = re.findall(r"[a-z0-9]+", re.sub(r"\{\w+\}", " ", template))
        return len(own) + sum(filling[name[0]] for name in re.findall(r"\{(\w+)\}", template))

    return max(words(t) for templates in TEMPLATES.values() for t in templates)


MAX_CAPTION_WORDS = max_caption_words()  # 24: a tokenizer needs max_length = MAX_CAPTION_WORDS + 1 (<start>)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

def _star(u: torch.Tensor, v: torch.Tensor, inner: float = 0.48) -> torch.Tensor:
    """Inside a five-pointed star, point up, outer radius 1, inner radius ``inner`` (u right, v down)."""
    sector = 2 * math.pi / 5                                        # the points lie 72 degrees apart
    angle = torch.atan2(u, -v)                                      # 0 straight up, growing clockwise
    to_point = (torch.remainder(angle + sector / 2, sector) - sector / 2).abs()  # to the nearest point, 0..36 deg
    rho = torch.sqrt(u**2 + v**2)
    p, q = rho * torch.cos(to_point), rho * torch.sin(to_point)     # the point, with the nearest point on +p
    # inside when on the origin's side of the edge from the point (1, 0) to the inner corner (c, s)
    c, s = inner * math.cos(sector / 2), inner * math.sin(sector / 2)
    return (c - 1) * q - s * (p - 1) >= 0


def _inside_shape(shape: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Which points (u, v), in units of the object's half-extent r (u right, v down), lie in the shape.
    Every shape fits the box [-1, 1]^2."""
    if shape == "circle":
        return u**2 + v**2 <= 1
    if shape == "square":
        return (u.abs() <= 0.82) & (v.abs() <= 0.82)
    if shape == "triangle":  # apex up, base 2 wide, 1.8 high
        return (v >= -0.9) & (v <= 0.9) & (u.abs() <= (v + 0.9) / 1.8)
    if shape == "cross":  # two arms 0.68 thick
        return ((u.abs() <= 1) & (v.abs() <= 0.34)) | ((v.abs() <= 1) & (u.abs() <= 0.34))
    if shape == "star":  # its lower points reach only 0.81 below its centre: moved down by 0.095 to sit centred
        return _star(u, v - 0.095)
    if shape == "ring":
        rho2 = u**2 + v**2
        return (rho2 <= 1) & (rho2 >= 0.5**2)
    raise ValueError(f"unknown shape {shape!r}; use one of {', '.join(SHAPES)}")


def _background_pattern(kind: str, angle, period, phase, x, y) -> torch.Tensor:
    """(B, n, n) in [0, 1] at the points (x, y): how far each is from the background's first colour to its second."""
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    along = x * cos + y * sin                      # position along the pattern's direction
    if kind == "gradient":
        low = cos.clamp(max=0) + sin.clamp(max=0)  # along's least value over the unit square ...
        high = cos.clamp(min=0) + sin.clamp(min=0)  # ... and its greatest
        return (along - low) / (high - low)
    period, phase = period[:, None, None], phase[:, None, None]
    stripe = torch.floor(along / period + phase)   # which stripe each point is in
    if kind == "stripes":
        return torch.remainder(stripe, 2)
    across = -x * sin + y * cos
    return torch.remainder(stripe + torch.floor(across / period + phase), 2)  # checkerboard


def render(scenes: list, image_size: int = 32, supersample: int = 3, device=None) -> torch.Tensor:
    """Images (B, 3, S, S) in [-1, 1] of ``scenes`` (a list of Scene), rendered on ``device``.

    Each pixel is the mean of ``supersample`` x ``supersample`` sample points (anti-aliased
    edges). The work is batched over scenes; the Python loops run over the 3 object slots
    and the 6 shapes, never over pixels.
    """
    n, s = len(scenes), image_size * supersample
    if n == 0:
        return torch.empty(0, 3, image_size, image_size, device=device)
    coords = (torch.arange(s, device=device, dtype=torch.float32) + 0.5) / s  # sample points, units of the side
    x, y = coords[None, None, :], coords[None, :, None]                         # (1, 1, s) and (1, s, 1)

    def tensor(values):
        return torch.tensor(values, dtype=torch.float32).to(device)

    # 1. The background: colour + pattern * (second colour - colour), the pattern averaged over each pixel.
    #    A gradient is linear, so its mean over a pixel is its value at the centre: only the
    #    stripes' and the checks' edges need the sample points.
    backgrounds = [scene.background for scene in scenes]
    pattern = torch.zeros(n, 1, image_size, image_size, device=device)  # flat: 0 everywhere
    centres = (torch.arange(image_size, device=device, dtype=torch.float32) + 0.5) / image_size
    for kind in BACKGROUNDS[1:]:
        rows = [i for i, b in enumerate(backgrounds) if b.kind == kind]
        if not rows:
            continue
        angle, period, phase = (tensor([getattr(backgrounds[i], name) for i in rows])
                                for name in ("angle", "period", "phase"))
        if kind == "gradient":
            values = _background_pattern(kind, angle, period, phase, centres[None, None, :], centres[None, :, None])
        else:
            values = F.avg_pool2d(_background_pattern(kind, angle, period, phase, x, y), supersample)
        pattern[torch.tensor(rows, device=device), 0] = values
    first = tensor([b.colour for b in backgrounds])[:, :, None, None]             # (B, 3, 1, 1)
    second = tensor([b.second_colour for b in backgrounds])[:, :, None, None]
    image = first + pattern * (second - first)

    # 2. The objects, slot by slot: image = image * (1 - coverage) + colour * coverage.
    for slot in range(max((len(scene.objects) for scene in scenes), default=0)):
        rows = [i for i, scene in enumerate(scenes) if slot < len(scene.objects)]
        objects = [scenes[i].objects[slot] for i in rows]
        inside = torch.zeros(n, s, s, dtype=torch.bool, device=device)
        for shape in SHAPES:  # each shape computed only for the scenes whose object in this slot has it
            mine = [k for k, obj in enumerate(objects) if obj.shape == shape]
            if not mine:
                continue
            chosen = [objects[k] for k in mine]
            cx, cy, r = (tensor([getattr(o, name) for o in chosen])[:, None, None] for name in ("x", "y", "radius"))
            index = torch.tensor([rows[k] for k in mine], device=device)
            inside[index] = _inside_shape(shape, (x - cx) / r, (y - cy) / r)   # (u, v) in units of r
        coverage = F.avg_pool2d(inside[:, None].float(), supersample)         # (B, 1, S, S), anti-aliased
        colour = torch.zeros(n, 3, device=device)
        colour[rows] = tensor([COLOURS[obj.colour] for obj in objects])
        image = image * (1 - coverage) + colour[:, :, None, None] * coverage
    return image * 2 - 1  # [0, 1] -> [-1, 1]


# ---------------------------------------------------------------------------------------------
# Labels for a judge, the claims a caption makes, and whether a set of objects satisfies them
# ---------------------------------------------------------------------------------------------

GRID = 8                # the judge reads a scene as GRID x GRID cells (nn.SceneReader)
ATTRIBUTES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": tuple(SIZES)}  # the judge's blocks, in order


def scene_labels(scenes: list, grid: int = GRID) -> dict:
    """What the judge (``nn.SceneReader``) learns to read: for each of the grid x grid cells, whether an
    object's centre lies in it, and for such a cell the object's shape, colour and size and where in the
    cell its centre is:

    {"present": (B, G, G) float 0/1, "shape" / "colour" / "size": (B, G, G) long value indices (ABSENT
     in empty cells, which F.cross_entropy ignores), "offset": (B, 2, G, G) x and y within the cell, in [0, 1)}

    Two objects' boxes keep a gap of MIN_SEPARATION, so their centres are more than 1/8 of the side
    apart along x or along y: for G <= 8 a cell never holds two centres.
    """
    n = len(scenes)
    labels = {"present": torch.zeros(n, grid, grid)}
    labels |= {name: torch.full((n, grid, grid), ABSENT, dtype=torch.long) for name in ATTRIBUTES}
    labels["offset"] = torch.zeros(n, 2, grid, grid)
    for row, scene in enumerate(scenes):
        for obj in scene.objects:
            cx, cy = min(obj.x * grid, grid - 1e-6), min(obj.y * grid, grid - 1e-6)  # in cells
            column, line = int(cx), int(cy)
            if labels["present"][row, line, column]:
                raise ValueError(f"two objects in one cell of a {grid}x{grid} grid: {scene}")
            labels["present"][row, line, column] = 1
            for name, values in ATTRIBUTES.items():
                labels[name][row, line, column] = values.index(getattr(obj, name))
            labels["offset"][row, :, line, column] = torch.tensor([cx - column, cy - line])
    return labels


def objects_from_labels(labels: dict) -> list:
    """scene_labels' grids (or a judge's reading of them as hard values) -> per scene a list of object
    dicts {shape, colour, size, x, y}, positions in units of the side, as claims_hold takes them."""
    grid = labels["present"].shape[-1]
    scenes = []
    for row in range(labels["present"].shape[0]):
        objects = []
        for line, column in (labels["present"][row] > 0.5).nonzero().tolist():
            obj = {name: values[int(labels[name][row, line, column])] for name, values in ATTRIBUTES.items()}
            obj["x"] = (column + float(labels["offset"][row, 0, line, column])) / grid
            obj["y"] = (line + float(labels["offset"][row, 1, line, column])) / grid
            objects.append(obj)
        scenes.append(objects)
    return scenes


def named_objects(found: list) -> list:
    """``nn.SceneReader.read``'s output (value indices) -> the same objects with value names, for claims_hold."""
    return [[{**obj, **{name: values[obj[name]] for name, values in ATTRIBUTES.items()}} for obj in objects]
            for objects in found]


def prompt_claims(scene: Scene) -> dict:
    """What the scene's caption claims, whatever its phrasing:

    {"objects": [{"shape", "colour", "size" (None when not named), "count"}, ...],
     "relations": [(i, relation, j), ...]}   (i, j index "objects"; relations join objects of count 1)
    """
    if scene.kind != "count":
        return {"objects": [{"shape": o.shape, "colour": o.colour, "size": o.size, "count": 1}
                            for o in scene.objects],
                "relations": list(scene.relations)}
    group, other = _counted_groups(scene)
    sizes = {o.size for o in group}
    claims = [{"shape": group[0].shape, "colour": group[0].colour,
               "size": sizes.pop() if len(sizes) == 1 else None, "count": len(group)}]
    if other is not None:
        claims.append({"shape": other.shape, "colour": other.colour, "size": other.size, "count": 1})
    return {"objects": claims, "relations": []}


def claims_hold(claims: dict, objects: list) -> dict:
    """Do these objects (e.g. a judge's reading of a generated image) satisfy the claims?

    ``objects``: SceneObjects or dicts {shape, colour, size, x, y}. Claimed objects are
    matched one to one to the given ones, choosing the matching that agrees on the most
    attributes, then satisfies the most relations. Returns

    {"count": the number of objects is the number claimed,
     "shape" / "colour" / "size": every claimed object is matched to one with that value
                                  (size: None when no claim names a size),
     "relations": one bool per claimed relation (relation_holds on the matched positions),
     "prompt": all of the above}
    """
    objects = [_as_dict(o) for o in objects]
    wanted = [(index, claim) for index, claim in enumerate(claims["objects"]) for _ in range(claim["count"])]
    instance_of = {index: k for k, (index, _) in enumerate(wanted)}  # claims in relations have count 1

    def agrees(claim, obj, name):
        return obj is not None and (claim[name] is None or claim[name] == obj[name])

    best = None
    for order in itertools.permutations(list(range(len(objects))) + [None] * len(wanted), len(wanted)):
        matched = [objects[i] if i is not None else None for i in order]
        relations = tuple(matched[instance_of[a]] is not None and matched[instance_of[b]] is not None
                          and relation_holds(matched[instance_of[a]], relation, matched[instance_of[b]])
                          for a, relation, b in claims["relations"])
        score = (sum(agrees(claim, obj, name) for (_, claim), obj in zip(wanted, matched)
                     for name in ("shape", "colour", "size")), sum(relations))
        if best is None or score > best[0]:
            best = score, matched, relations
    _, matched, relations = best
    result = {"count": len(objects) == len(wanted)}
    for name in ("shape", "colour", "size"):
        result[name] = all(agrees(claim, obj, name) for (_, claim), obj in zip(wanted, matched))
    if all(claim["size"] is None for claim in claims["objects"]):
        result["size"] = None
    result["relations"] = relations
    result["prompt"] = (result["count"] and result["shape"] and result["colour"]
                        and result["size"] is not False and all(relations))
    return result


def parse_caption(text: str) -> dict:
    """A caption (or a reader's prompt in the captions' grammar) -> its claims, in prompt_claims' format.

    Reads object phrases ("a small red box", "two green triangles"), relation phrases ("to the
    left of", "under") and "it" (the anchor of a chain), in the orders the templates use.
    Raises ValueError when the text is not in that grammar.
    """
    words = re.findall(r"[a-z0-9]+", text.lower())
    value_of = {w: v for v in (*SHAPES, *COLOURS, *SIZES) for w in _phrases(v)}
    value_of.update({plural: value_of[singular] for singular, plural in PLURALS.items()})
    count_of = {"a": 1, "an": 1, **{word: n for n, word in NUMBERS.items()}}
    relation_phrases = sorted(((phrase.split(), relation) for relation in RELATIONS for phrase in _phrases(relation)),
                              key=lambda item: -len(item[0]))  # longest first: "on top of" before "over"
    items, i = [], 0  # the text as a sequence of ("O", claim), ("R", relation), ("I", None) for "it",
    #                   ("T", (colour, shape)) for "the green box"
    while i < len(words):
        relation = next(((p, r) for p, r in relation_phrases if words[i:i + len(p)] == p), None)
        if relation:
            items.append(("R", relation[1]))
            i += len(relation[0])
            continue
        colour, shape = (value_of.get(w) for w in (words[i + 1:i + 3] + [None, None])[:2])
        if words[i] == "it":
            items.append(("I", None))
        elif words[i] == "the" and colour in COLOURS and shape in SHAPES:
            items.append(("T", (colour, shape)))
            i += 3
            continue
        elif words[i] in count_of:  # an object phrase: count, [size], colour, shape
            start, count = i, count_of[words[i]]
            size = value_of.get(words[i + 1]) if i + 1 < len(words) else None
            j = i + 2 if size in SIZES else i + 1
            colour, shape = (value_of.get(w) for w in (words[j:j + 2] + [None, None])[:2])
            if colour in COLOURS and shape in SHAPES:
                items.append(("O", {"shape": shape, "colour": colour, "size": size if size in SIZES else None,
                                    "count": count}))
                i = j + 2
                continue
            if count > 1 or size in SIZES:  # "two ..." or "a big ..." must go on with a colour and a shape
                raise ValueError(f"cannot read {text!r}: expected a colour and a shape after "
                                 f"{' '.join(words[start:j])!r}")
        i += 1  # a filler word: there, is, are, and, with, sits, just, a (picture of) ...
    signature = "".join(kind for kind, _ in items)
    # (a, which relation phrase, b) for each caption form, indices into the object phrases in order
    forms = {"O": [], "OO": [],                            # a single object, a count (and one more)
             "ORO": [(0, 0, 1)],                           # X r Y
             "ROO": [(1, 0, 0)],                           # r Y there is X
             "OROORT": [(0, 0, 1), (2, 1, "T")],           # A r B, and C r' the b
             "OORIORI": [(1, 0, 0), (2, 1, 0)],            # B with A r it and C r' it
             "ORORO": [(0, 0, 1), (0, 1, 2)]}              # B is r A and r' C
    if signature not in forms:
        raise ValueError(f"cannot read {text!r} as a caption: it has object phrases (O), relations (R) and "
                         f"'it' (I) in the order {signature or 'none'}, none of the forms {', '.join(forms)}")
    objects = [claim for kind, claim in items if kind == "O"]
    found = [relation for kind, relation in items if kind == "R"]
    named = [value for kind, value in items if kind == "T"]
    if named:  # "the green box": the one object of that colour and shape
        named = [k for k, o in enumerate(objects) if (o["colour"], o["shape"]) == named[0]]
        if len(named) != 1:
            raise ValueError(f"cannot read {text!r}: 'the ...' must name exactly one of its objects")
    return {"objects": objects,
            "relations": [(a, found[r], named[0] if b == "T" else b) for a, r, b in forms[signature]]}


# ---------------------------------------------------------------------------------------------
# Fixed sets and batch samplers
# ---------------------------------------------------------------------------------------------

def make_scenes(n: int, image_size: int = 32, seed: int = 0, heldout: bool | None = False,
                kind: str | None = None, device=None):
    """A fixed set: ``(images (n, 3, S, S) in [-1, 1], captions, scenes)``, deterministic in ``seed``.

    ``kind``: "single", "relation" (two objects, one relation), "three", "count", or None (a mix);
    ``heldout``: False training scenes, True held-out ones, None both.
    """
    rng = random.Random(seed)
    scenes = random_scenes(n, rng, heldout, kind)
    return render(scenes, image_size, device=device), [caption(scene, rng) for scene in scenes], scenes


def _rng_from(generator: torch.Generator) -> random.Random:
    """A random.Random seeded from the torch generator: one seed drives both."""
    return random.Random(int(torch.randint(0, 2**62, (1,), generator=generator)))


def training_captions(scenes: list, rng: random.Random, drop_caption: float = 0.1) -> list:
    """One random phrasing per scene; a share ``drop_caption`` replaced by the empty text "", so that the
    same network also learns the unconditional noise predictor that classifier-free guidance needs."""
    return ["" if rng.random() < drop_caption else caption(scene, rng) for scene in scenes]


def captioned_batches(tokenizer, image_size: int = 32, drop_caption: float = 0.1, device=None,
                      kind: str | None = None):
    """A batch sampler for text-conditioned training: ``sample_batch(batch_size, generator)`` ->
    {"x0": images, "text": token ids} of fresh training scenes, a share ``drop_caption`` of them
    with the empty caption. The tokenizer needs max_length >= MAX_CAPTION_WORDS + 1."""
    def sample_batch(batch_size, generator):
        rng = _rng_from(generator)
        scenes = random_scenes(batch_size, rng, heldout=False, kind=kind)
        return {"x0": render(scenes, image_size, device=device),
                "text": tokenizer(training_captions(scenes, rng, drop_caption)).to(device)}

    return sample_batch


def pairs_batches(tokenizer, image_size: int = 32, device=None, contradictions: bool = False):
    """A batch sampler for contrastive text-image training (a CLIP-style text encoder):
    {"images", "text"}, each image with one phrasing of its own caption, training scenes only. With
    ``contradictions``, also "contradiction": for each image a caption in the same words with one claim made
    false (``contradiction``; the scene's own caption again where none can be made, masked by ``"contradicts"``)."""
    def sample_batch(batch_size, generator):
        rng = _rng_from(generator)
        scenes = random_scenes(batch_size, rng, heldout=False)
        batch = {"images": render(scenes, image_size, device=device)}
        captions, wrong = captions_and_contradictions(scenes, rng, contradictions)
        batch["text"] = tokenizer(captions).to(device)
        if contradictions:
            wrong = [false or own for false, own in zip(wrong, captions)]
            batch["contradiction"] = tokenizer(wrong).to(device)
            batch["contradicts"] = (batch["contradiction"] != batch["text"]).any(1)
        return batch

    return sample_batch


def labelled_batches(image_size: int = 32, device=None):
    """A batch sampler for the judge: {"images", and scene_labels' grids "present", "shape", "colour",
    "size", "offset"} of scenes from *all* combinations (the judge must know held-out ones too)."""
    def sample_batch(batch_size, generator):
        scenes = random_scenes(batch_size, _rng_from(generator), heldout=None)
        labels = {name: value.to(device) for name, value in scene_labels(scenes).items()}
        return {"images": render(scenes, image_size, device=device), **labels}

    return sample_batch


def image_batches(image_size: int = 32, device=None):
    """A batch sampler of images alone, {"images"}, from *all* combinations (the autoencoder never reads a caption)."""
    def sample_batch(batch_size, generator):
        return {"images": render(random_scenes(batch_size, _rng_from(generator), heldout=None), image_size,
                                 device=device)}

    return sample_batch
