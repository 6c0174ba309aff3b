"""Captions: what a scene of chapter 07 is called, in many phrasings, and captions made false on purpose.

A caption names every object and how they relate:

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
was used. ``caption`` draws one phrasing; ``training_captions`` one per scene, a share of
them empty (for classifier-free guidance); ``contradiction`` and ``contradicting_caption``
make a claim false (hard negatives for a text encoder); ``vocabulary`` and
``MAX_CAPTION_WORDS`` size a tokenizer. Reading a caption back into claims is
``judge.parse_caption``.
"""

import random
import re

from ..seeding import python_rng
from .world import COLOURS, INVERSE, RELATIONS, SHAPES, SIZES, Scene, SceneObject, is_heldout

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


def training_captions(scenes: list, generator, drop_caption: float = 0.1) -> list:
    """A list of one random phrasing per scene (``caption``), a share ``drop_caption`` of them replaced by the empty
    text "", so that the same network also learns the unconditional noise predictor that classifier-free guidance
    needs. ``generator``: a torch.Generator, or a random.Random to go on drawing from (``seeding.python_rng``)."""
    rng = python_rng(generator)
    return ["" if rng.random() < drop_caption else caption(scene, rng) for scene in scenes]
