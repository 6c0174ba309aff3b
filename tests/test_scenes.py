"""Captioned scenes, version 2: held-out combinations, captions true to the picture, relations a judge can check."""

import itertools
import random
import warnings

import pytest
import torch

from ddpm_from_scratch.data import scenes
from ddpm_from_scratch.nn.text import Tokenizer, words_in

SIDE = 32  # the book's image size


def one_object(shape, colour="red", size="big", x=0.5, y=0.5):
    """A scene of one object on a flat black background."""
    black = scenes.Background("flat", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    return scenes.Scene(black, (scenes.SceneObject(shape, colour, size, x, y),))


def canonical(claims):
    """Claims as a comparable value: the multiset of objects and the set of relations between them,
    each relation written with "left of" / "above" (so "B right of A" equals "A left of B")."""
    objects = [(o["shape"], o["colour"], o["size"], o["count"]) for o in claims["objects"]]
    relations = set()
    for a, relation, b in claims["relations"]:
        if relation in ("right of", "below"):
            a, relation, b = b, {"right of": "left of", "below": "above"}[relation], a
        relations.add((objects[a], relation, objects[b]))
    return sorted(objects), relations


def test_there_are_six_shapes_eight_colours_three_sizes_and_every_held_out_part_is_seen_elsewhere():
    assert len(scenes.SHAPES) == 6 and len(scenes.COLOURS) == 8 and len(scenes.SIZES) == 3
    assert 4 <= len(scenes.HELDOUT_PAIRS) <= 6
    assert {c for c, _ in scenes.HELDOUT_PAIRS} <= set(scenes.COLOURS)
    for shape in scenes.SHAPES:  # each shape keeps colours, and partners in relations, in training
        assert sum((c, shape) not in scenes.HELDOUT_PAIRS for c in scenes.COLOURS) >= 6
        partners = [s for s in scenes.SHAPES if s != shape and {shape, s} not in map(set, scenes.HELDOUT_SHAPE_PAIRS)]
        assert len(partners) >= 4


def test_scenes_are_deterministic_per_seed_at_any_size():
    a, captions_a, scenes_a = scenes.make_scenes(8, 16, seed=3)
    b, captions_b, scenes_b = scenes.make_scenes(8, 16, seed=3)
    assert torch.equal(a, b) and captions_a == captions_b and scenes_a == scenes_b
    c, captions_c, _ = scenes.make_scenes(8, 16, seed=4)
    assert not torch.equal(a, c) and captions_a != captions_c
    for size in (16, 32, 64):
        images = scenes.make_scenes(3, size, seed=3)[0]
        assert images.shape == (3, 3, size, size) and images.dtype == torch.float32
        assert images.min() >= -1 and images.max() <= 1


def test_render_on_a_named_device_gives_the_same_images():
    chosen = scenes.random_scenes(6, random.Random(0), heldout=None)
    assert torch.equal(scenes.render(chosen, 16, device="cpu"), scenes.render(chosen, 16))


def test_training_scenes_never_show_a_held_out_combination_and_held_out_scenes_always_do():
    def held_out_parts(scene):
        pairs = {(o.colour, o.shape) for o in scene.objects} & set(scenes.HELDOUT_PAIRS)
        shapes = {o.shape for o in scene.objects}
        together = [pair for pair in scenes.HELDOUT_SHAPE_PAIRS if set(pair) <= shapes]
        return pairs, together

    training = scenes.random_scenes(2000, random.Random(0), heldout=False)
    related = set()
    for scene in training:
        assert held_out_parts(scene) == (set(), [])
        related |= {frozenset((scene.objects[a].shape, scene.objects[b].shape)) for a, _, b in scene.relations}
    assert {o.colour for s in training for o in s.objects} == set(scenes.COLOURS)
    assert {o.shape for s in training for o in s.objects} == set(scenes.SHAPES)
    for shape in scenes.SHAPES:  # related to at least four other shapes in training
        assert sum(1 for pair in related if shape in pair and len(pair) == 2) >= 4
    for scene in scenes.random_scenes(500, random.Random(1), heldout=True):
        assert held_out_parts(scene) != (set(), [])
    for kind in scenes.KINDS:
        chosen = scenes.random_scenes(20, random.Random(2), heldout=True, kind=kind)
        assert all(s.kind == kind and s.heldout for s in chosen)


def test_every_kind_has_its_number_of_objects_and_relations():
    expected = {"single": ({1}, 0), "relation": ({2}, 1), "three": ({3}, 2), "count": ({2, 3}, 0)}
    for kind, (numbers, relations) in expected.items():
        for scene in scenes.random_scenes(50, random.Random(5), heldout=None, kind=kind):
            assert len(scene.objects) in numbers and len(scene.relations) == relations
    mixed = {s.kind for s in scenes.random_scenes(200, random.Random(6))}
    assert mixed == set(scenes.KINDS)
    with pytest.raises(ValueError, match="unknown scene kind"):
        scenes.random_scenes(1, random.Random(0), kind="pairs")


def test_captions_use_only_the_vocabulary_fit_the_tokenizer_and_vary():
    rng = random.Random(0)
    tokenizer = Tokenizer(scenes.vocabulary(), max_length=scenes.MAX_CAPTION_WORDS + 1)
    assert scenes.MAX_CAPTION_WORDS <= 24
    captions = [scenes.caption(s, rng) for s in scenes.random_scenes(1500, random.Random(7), heldout=None)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unknown word or a cut caption warns: make it fail
        ids = tokenizer(captions)
    assert not (ids == tokenizer.ids["<unk>"]).any()
    assert max(len(words_in(c)) for c in captions) <= scenes.MAX_CAPTION_WORDS
    scene = scenes.random_scenes(1, random.Random(8), kind="relation")[0]
    assert len({scenes.caption(scene, rng) for _ in range(200)}) >= 40  # templates x synonyms x both orders


def test_captions_say_exactly_what_the_scene_shows():
    """Read back by the parser (a grammar separate from the templates), every caption claims the
    scene's objects, counts and relations, in any phrasing."""
    rng = random.Random(1)
    for scene in scenes.random_scenes(600, random.Random(9), heldout=None):
        claims = scenes.prompt_claims(scene)
        for _ in range(3):
            text = scenes.caption(scene, rng)
            assert canonical(scenes.parse_caption(text)) == canonical(claims), text
        described = sorted((o["shape"], o["colour"]) for o in claims["objects"] for _ in range(o["count"]))
        assert described == sorted((o.shape, o.colour) for o in scene.objects)


def test_counts_in_captions_match_the_objects():
    rng = random.Random(2)
    numbers = {"two": 2, "three": 3}
    for scene in scenes.random_scenes(200, random.Random(10), kind="count"):
        words = words_in(scenes.caption(scene, rng))
        counted = next(numbers[w] for w in words if w in numbers)
        look_alikes = max(sum((o.shape, o.colour) == (p.shape, p.colour) for o in scene.objects) for p in scene.objects)
        assert counted == look_alikes
        size_words = [w for w in words if any(w in scenes.SYNONYMS[size] for size in scenes.SIZES)]
        group_size_named = len({o.size for o in scene.objects[:counted]}) == 1  # the look-alikes come first
        assert len(size_words) == group_size_named + (len(scene.objects) - counted)


def test_stated_relations_hold_with_a_clear_gap_and_a_dominant_axis():
    related = (scenes.random_scenes(600, random.Random(11), heldout=None, kind="three")
               + scenes.random_scenes(600, random.Random(12), kind="relation"))
    for scene in related:
        for a, relation, b in scene.relations:
            first, second = scene.objects[a], scene.objects[b]
            dx, dy = second.x - first.x, second.y - first.y  # from a to b; y points down
            along, across = {"left of": (dx, dy), "right of": (-dx, dy),
                             "above": (dy, dx), "below": (-dy, dx)}[relation]
            gap = along - first.radius - second.radius  # empty space between the two along the axis
            assert gap >= 0.15 - 1e-9, (scene, relation)  # about a small object's width (0.18)
            assert along >= 2 * abs(across) and along >= abs(across) + 0.25
            assert scenes.relation_holds(first, relation, second)
            assert not scenes.relation_holds(second, relation, first)


def test_objects_lie_inside_the_image_and_never_overlap():
    chosen = [s for s in scenes.random_scenes(300, random.Random(13), heldout=None) if len(s.objects) > 1]
    flat = scenes.Background("flat", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    for scene in chosen:
        alone = [scenes.Scene(flat, (obj,)) for obj in scene.objects]  # each object drawn by itself
        coverage = (scenes.render(alone, SIDE) > -1).any(dim=1).float()  # (n, S, S): pixels it touches
        assert (coverage.sum(0) <= 1).all(), scene  # no pixel touched by two objects
        for obj in scene.objects:
            assert obj.radius <= obj.x <= 1 - obj.radius and obj.radius <= obj.y <= 1 - obj.radius


@pytest.mark.parametrize("size", [32, 64])
def test_every_object_shows_its_own_colour_against_any_background(size):
    chosen = scenes.random_scenes(150, random.Random(14), heldout=None)
    images = (scenes.render(chosen, size) + 1) / 2  # [0, 1]
    for image, scene in zip(images, chosen):
        background = max(max(scene.background.colour), max(scene.background.second_colour))
        assert background <= 0.36
        for obj in scene.objects:
            # a point well inside the shape: the centre, or half-way into a ring's band
            x = obj.x + (0.75 * obj.radius if obj.shape == "ring" else 0)
            pixel = image[:, int(obj.y * size), int(x * size)]
            colour = torch.tensor(scenes.COLOURS[obj.colour])
            if obj.shape != "ring":  # the pixel lies wholly inside the shape
                assert torch.allclose(pixel, colour, atol=0.02), (obj, pixel)
            else:  # a small ring's band is 1.4 pixels wide at 32x32: the pixel is mostly the ring's
                assert (pixel - colour).norm() < (pixel - torch.tensor(scene.background.colour)).norm()
            assert (pixel - background).max() >= 0.4


def test_sizes_grow_and_the_six_shapes_look_different():
    shapes = scenes.SHAPES
    coverage = {}
    for size in scenes.SIZES:
        images = scenes.render([one_object(s, size=size) for s in shapes], SIDE)
        coverage[size] = (images[:, 0] + 1) / 2  # red channel = the shape's coverage (red is 1.0, on black)
    for k, shape in enumerate(shapes):
        small, medium, big = (coverage[size][k].sum() for size in scenes.SIZES)
        assert small * 1.3 < medium and medium * 1.3 < big, shape
    big = coverage["big"]
    for i, j in itertools.combinations(range(len(shapes)), 2):  # the pixels where two shapes differ
        difference = (big[i] - big[j]).abs().sum() / torch.maximum(big[i], big[j]).sum()
        assert difference > 0.15, (shapes[i], shapes[j], difference)


def test_relation_holds_uses_the_dominant_axis_and_a_margin():
    def at(x, y):
        return {"x": x, "y": y}
    assert scenes.relation_holds(at(0.2, 0.3), "left of", at(0.7, 0.6))
    assert not scenes.relation_holds(at(0.2, 0.3), "above", at(0.7, 0.6))   # 0.3 lower, but 0.5 further right
    assert scenes.relation_holds(at(0.5, 0.8), "below", at(0.4, 0.3))
    assert not scenes.relation_holds(at(0.4, 0.5), "left of", at(0.5, 0.5))  # 0.1 apart: below the margin
    assert scenes.relation_holds(at(0.25, 0.25), "left of", at(0.75, 0.75))  # a diagonal satisfies both axes
    assert scenes.relation_holds(at(0.25, 0.25), "above", at(0.75, 0.75))


def test_scene_labels_mark_each_object_in_the_cell_of_its_centre():
    chosen = scenes.random_scenes(300, random.Random(15), heldout=None)
    labels = scenes.scene_labels(chosen)
    g = scenes.GRID
    assert labels["present"].shape == (300, g, g) and labels["offset"].shape == (300, 2, g, g)
    for row, scene in enumerate(chosen):
        assert labels["present"][row].sum() == len(scene.objects)  # one cell per object: none shares a cell
        for obj in scene.objects:
            line, column = int(obj.y * g), int(obj.x * g)
            assert labels["present"][row, line, column] == 1
            assert scenes.SHAPES[labels["shape"][row, line, column]] == obj.shape
            assert tuple(scenes.COLOURS)[labels["colour"][row, line, column]] == obj.colour
            x, y = labels["offset"][row, :, line, column].tolist()
            assert (column + x) / g == pytest.approx(obj.x, abs=1e-5) and (line + y) / g == pytest.approx(obj.y, abs=1e-5)
        empty = labels["present"][row] == 0
        assert (labels["shape"][row][empty] == scenes.ABSENT).all() and (labels["size"][row][empty] == scenes.ABSENT).all()


def test_a_judge_that_reads_every_label_right_confirms_every_caption():
    """Objects read back from the labels' grids confirm every caption, as the scenes' own objects do."""
    chosen = scenes.random_scenes(1000, random.Random(16), heldout=None)
    read = scenes.objects_from_labels(scenes.scene_labels(chosen))
    for scene, objects in zip(chosen, read):
        result = scenes.claims_hold(scenes.prompt_claims(scene), objects)
        assert result["prompt"] and all(result["relations"]), (scene, result)
        assert result == scenes.claims_hold(scenes.prompt_claims(scene), scene.objects)


def test_claims_fail_when_one_attribute_or_the_relation_is_changed():
    others = {"shape": scenes.SHAPES, "colour": tuple(scenes.COLOURS), "size": tuple(scenes.SIZES)}
    for scene in scenes.random_scenes(40, random.Random(17), kind="relation"):
        claims = scenes.prompt_claims(scene)
        first, second = scene.objects
        assert scenes.claims_hold(claims, [first, second])["prompt"]
        for name, values in others.items():
            for wrong in values:
                if wrong == getattr(first, name):
                    continue
                changed = vars(first) | {name: wrong}
                if (changed["shape"], changed["colour"], changed["size"]) == (second.shape, second.colour, second.size):
                    continue  # then it is the other object's double: the claims may still match
                result = scenes.claims_hold(claims, [changed, second])
                assert result[name] is False and not result["prompt"], (name, wrong)
                assert all(result[other] for other in others if other != name)
        mirrored = [vars(o) | {"x": 1 - o.x, "y": 1 - o.y} for o in (first, second)]  # left <-> right, up <-> down
        result = scenes.claims_hold(claims, mirrored)
        assert result["relations"] == (False,) and not result["prompt"]
        assert result["shape"] and result["colour"] and result["size"]
        assert scenes.claims_hold(claims, [first])["count"] is False
        assert scenes.claims_hold(claims, [first, second, first])["count"] is False


def test_claims_on_counts_without_a_named_size_leave_size_unjudged():
    claims = scenes.parse_caption("two green triangles")
    triangle = {"shape": "triangle", "colour": "green", "x": 0.3, "y": 0.3}
    result = scenes.claims_hold(claims, [triangle | {"size": "small"}, triangle | {"size": "big", "x": 0.7}])
    assert result["prompt"] and result["size"] is None and result["relations"] == ()
    assert not scenes.claims_hold(claims, [triangle | {"size": "small"}])["prompt"]


def test_parse_caption_reads_a_readers_prompt_and_refuses_other_grammar():
    claims = scenes.parse_caption("A tiny violet box is under a huge orange disk.")
    assert claims == {"objects": [{"shape": "square", "colour": "purple", "size": "small", "count": 1},
                                  {"shape": "circle", "colour": "orange", "size": "big", "count": 1}],
                      "relations": [(0, "below", 1)]}
    with pytest.raises(ValueError, match="cannot read"):
        scenes.parse_caption("a red circle and a blue square and a green star")
    with pytest.raises(ValueError, match="cannot read"):
        scenes.parse_caption("two big")


def test_batch_samplers_give_training_scenes_with_dropped_captions_and_the_judge_everything():
    tokenizer = Tokenizer(scenes.vocabulary(), max_length=scenes.MAX_CAPTION_WORDS + 1)
    generator = torch.Generator().manual_seed(0)
    batch = scenes.captioned_batches(tokenizer, 16, drop_caption=0.1, device="cpu")(1000, generator)
    assert batch["x0"].shape == (1000, 3, 16, 16) and batch["text"].shape == (1000, tokenizer.max_length)
    empty = (batch["text"][:, 1] == 0).float().mean().item()  # only <start>: the empty text
    assert 0.07 < empty < 0.13
    pairs = scenes.pairs_batches(tokenizer, 16)(64, generator)
    assert pairs["images"].shape == (64, 3, 16, 16) and (pairs["text"][:, 1] != 0).all()
    first, second = (scenes.pairs_batches(tokenizer, 16)(8, torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(first["images"], second["images"]) and torch.equal(first["text"], second["text"])
    labelled = scenes.labelled_batches(16)(600, torch.Generator().manual_seed(1))
    assert labelled["images"].shape == (600, 3, 16, 16)
    present = labelled["present"] == 1
    shown = {(scenes.SHAPES[s], tuple(scenes.COLOURS)[c])
             for s, c in zip(labelled["shape"][present].tolist(), labelled["colour"][present].tolist())}
    assert {(shape, colour) for colour, shape in scenes.HELDOUT_PAIRS} <= shown  # the judge sees them all


def test_a_contradiction_makes_exactly_the_caption_false_and_never_a_held_out_combination():
    """The hard negatives of scenes_text_hard: the original caption's claims hold for the scene, the
    contradiction's do not; a relation is inverted where there is one, else colours change; nothing held out."""
    rng = random.Random(0)
    made = 0
    for scene in scenes.random_scenes(400, random.Random(3), heldout=False):
        false = scenes.contradiction(scene, rng)
        if false is None:
            continue
        made += 1
        assert not false.heldout and false.objects is not None
        assert scenes.claims_hold(scenes.prompt_claims(scene), scene.objects)["prompt"]
        assert not scenes.claims_hold(scenes.prompt_claims(false), scene.objects)["prompt"]
        if scene.relations:  # the same objects, one relation turned round
            assert false.objects == scene.objects and false.relations != scene.relations
        else:
            assert [o.shape for o in false.objects] == [o.shape for o in scene.objects]
            assert [o.colour for o in false.objects] != [o.colour for o in scene.objects]
    assert made >= 390  # None only when every colour change would make a held-out pair


def test_contradicting_captions_use_the_same_words_but_the_changed_ones():
    tokenizer = Tokenizer(scenes.vocabulary(), scenes.MAX_CAPTION_WORDS + 1)
    batch = scenes.pairs_batches(tokenizer, 16, contradictions=True)(64, torch.Generator().manual_seed(0))
    assert batch["contradiction"].shape == batch["text"].shape and batch["contradicts"].float().mean() > 0.95
    same_words = [set(tokenizer.decode(a).split()) ^ set(tokenizer.decode(b).split())
                  for a, b in zip(batch["text"], batch["contradiction"])]
    assert sum(len(diff) <= 4 for diff in same_words) >= 48  # most differ in a word or two (phrasing may reorder)
    again = scenes.pairs_batches(tokenizer, 16)(64, torch.Generator().manual_seed(0))
    assert torch.equal(again["text"], batch["text"])  # the captions themselves are those of plain pairs
