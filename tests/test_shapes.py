"""Captioned scenes: deterministic rendering, attributes that can be read off the pixels, held-out pairs."""

import random

import pytest
import torch

from ddpm_from_scratch.data import shapes
from ddpm_from_scratch.nn.text import Tokenizer, words_in


def test_there_are_192_combinations_and_32_of_them_are_held_out():
    assert len(shapes.all_combinations(None)) == 4 * 6 * 2 * 4
    heldout = shapes.all_combinations(True)
    assert len(heldout) == len(shapes.HELDOUT_PAIRS) * 2 * 4
    assert all((c["colour"], c["shape"]) in shapes.HELDOUT_PAIRS for c in heldout)


def test_training_scenes_never_show_a_heldout_pair_but_show_every_colour_and_shape():
    scenes = shapes.random_scenes(3000, torch.Generator().manual_seed(0))
    pairs = {(s["colour"], s["shape"]) for s in scenes}
    assert not pairs & set(shapes.HELDOUT_PAIRS)
    assert {s["colour"] for s in scenes} == set(shapes.COLOURS)
    assert {s["shape"] for s in scenes} == set(shapes.SHAPES)


def test_rendering_is_deterministic_per_seed_and_works_at_any_resolution():
    a, captions_a, attrs_a = shapes.make_scenes(8, seed=3)
    b, captions_b, attrs_b = shapes.make_scenes(8, seed=3)
    assert torch.equal(a, b) and captions_a == captions_b and attrs_a == attrs_b
    c, _, _ = shapes.make_scenes(8, seed=4)
    assert not torch.equal(a, c)
    big, _, _ = shapes.make_scenes(2, image_size=32, seed=3)
    assert a.shape == (8, 3, 16, 16) and big.shape == (2, 3, 32, 32)
    assert a.min() >= -1 and a.max() <= 1


@pytest.mark.parametrize("position", shapes.POSITIONS)
def test_the_shape_is_drawn_in_its_quadrant_in_its_colour(position):
    attributes = [{"shape": s, "colour": col, "size": "small", "position": position}
                  for s in shapes.SHAPES for col in shapes.COLOURS]
    images = (shapes.render(attributes, 32, torch.Generator().manual_seed(0)) + 1) / 2  # [0, 1]
    mass = images.sum(1)  # (B, S, S) brightness
    rows = torch.arange(32.0)
    cy = (mass.sum(2) * rows).sum(1) / mass.sum((1, 2))
    cx = (mass.sum(1) * rows).sum(1) / mass.sum((1, 2))
    assert ((cy > 16) == position.startswith("bottom")).all()
    assert ((cx > 16) == position.endswith("right")).all()
    for image, attrs, brightness in zip(images, attributes, mass):
        centre = brightness.flatten().argmax()  # a pixel fully inside the shape
        colour = image.flatten(1)[:, centre]
        assert torch.allclose(colour, torch.tensor(shapes.COLOURS[attrs["colour"]]), atol=1e-5)


def test_large_shapes_cover_more_pixels_than_small_ones():
    for shape in shapes.SHAPES:
        scene = {"shape": shape, "colour": "red", "position": "top left"}
        small, large = shapes.render([scene | {"size": "small"}, scene | {"size": "large"}], jitter=0)
        area = ((small + 1) / 2).sum(), ((large + 1) / 2).sum()
        assert area[1] > 1.8 * area[0]


def test_the_four_shapes_look_different():
    scenes = [{"shape": s, "colour": "red", "size": "large", "position": "top left"} for s in shapes.SHAPES]
    coverage = (shapes.render(scenes, jitter=0)[:, 0] + 1) / 2 / shapes.COLOURS["red"][0]  # (4, S, S) in [0, 1]
    for i in range(4):
        for j in range(i):  # the pixels where two shapes differ are a good part of their union
            difference = (coverage[i] - coverage[j]).abs().sum() / torch.maximum(coverage[i], coverage[j]).sum()
            assert difference > 0.15, (shapes.SHAPES[i], shapes.SHAPES[j], difference)


def test_captions_vary_in_phrasing_name_every_attribute_and_use_only_the_vocabulary():
    rng = random.Random(0)
    scene = {"shape": "cross", "colour": "cyan", "size": "small", "position": "bottom right"}
    captions = [shapes.caption(scene, rng) for _ in range(300)]
    assert len(set(captions)) >= 20  # templates x synonyms
    vocabulary = set(shapes.vocabulary())
    for text in captions:
        words = words_in(text)
        assert "cyan" in words and ({"small", "little", "tiny"} & set(words))
        assert ({"cross", "plus"} & set(words)) and "right" in words
        assert set(words) <= vocabulary


def test_captioned_batches_drop_about_a_tenth_of_the_captions():
    tokenizer = Tokenizer(shapes.vocabulary())
    sample_batch = shapes.captioned_batches(tokenizer, drop_caption=0.1)
    batch = sample_batch(2000, torch.Generator().manual_seed(0))
    images, tokens = batch["x0"], batch["text"]
    assert images.shape == (2000, 3, 16, 16) and tokens.shape == (2000, tokenizer.max_length)
    empty = (tokens[:, 1] == 0).float().mean().item()  # only <start>: the empty text
    assert 0.08 < empty < 0.12
    assert (tokens[:, 0] == tokenizer.ids["<start>"]).all()
    assert not (tokens == tokenizer.ids["<unk>"]).any()


def test_labelled_batches_cover_heldout_pairs_too():
    labels = shapes.labelled_batches()(500, torch.Generator().manual_seed(0))["labels"]
    assert labels.shape == (500, 4)
    colour, shape = labels[:, 1], labels[:, 0]
    assert ((colour == list(shapes.COLOURS).index("green")) & (shape == shapes.SHAPES.index("triangle"))).any()
