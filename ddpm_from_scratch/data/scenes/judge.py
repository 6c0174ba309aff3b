"""The judge's view of a scene of chapter 07: the labels it learns to read, and whether what it read is what a
prompt claims.

To judge a generated image, a network trained on ``batches.labelled_batches`` (``nn.SceneReader``)
finds every object in a grid of cells (``scene_labels``: is a centre in the cell, its shape,
colour, size, and where in the cell; ``objects_from_labels`` and ``named_objects`` turn such
grids back into objects). ``claims_hold`` then checks the objects against what the prompt
claims (``prompt_claims`` for a generated scene, ``parse_caption`` for a typed prompt): per
attribute, per relation and for the whole prompt.
"""

import itertools
import re

import torch

from .captions import NUMBERS, PLURALS, _counted_groups, _phrases
from .world import COLOURS, RELATIONS, SHAPES, SIZES, Scene, _as_dict, relation_holds

GRID = 8                # the judge reads a scene as GRID x GRID cells (nn.SceneReader)
ATTRIBUTES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": tuple(SIZES)}  # the judge's blocks, in order
ABSENT = -100           # label of an empty slot: F.cross_entropy ignores it by default


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
