"""Specifications of the one contract chapters 03 and 07 draw scenes by (ddpm_from_scratch.data.seeding):
``random_scenes(n, generator, heldout)`` and ``training_captions(scenes, generator, drop_caption)`` take a
torch.Generator or a random.Random, and the kind a module does not draw with is seeded from one draw of the other."""

import random

import pytest
import torch

from ddpm_from_scratch.data import scenes, shapes


def test_scenes_drawn_from_a_torch_generator_are_those_of_python_s_generator_seeded_from_its_first_draw():
    seed = int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(4)))
    assert scenes.random_scenes(5, torch.Generator().manual_seed(4)) == scenes.random_scenes(5, random.Random(seed))


def test_shapes_drawn_from_a_python_generator_are_those_of_a_torch_generator_seeded_from_62_of_its_bits():
    bits = random.Random(4).getrandbits(62)
    assert shapes.random_scenes(5, random.Random(4)) == shapes.random_scenes(5, torch.Generator().manual_seed(bits))


@pytest.mark.parametrize("module", [shapes, scenes], ids=["shapes", "scenes"])
def test_both_modules_draw_scenes_and_training_captions_alike(module):
    drawn = module.random_scenes(6, torch.Generator().manual_seed(0), heldout=None)
    assert len(drawn) == 6
    captions = module.training_captions(drawn, torch.Generator().manual_seed(1), drop_caption=0.5)
    assert len(captions) == 6 and all(isinstance(c, str) for c in captions)
    assert captions == module.training_captions(drawn, torch.Generator().manual_seed(1), drop_caption=0.5)
    assert module.training_captions(drawn, random.Random(1), drop_caption=0.0).count("") == 0
    with pytest.raises(TypeError, match=r"torch\.Generator\(\)\.manual_seed"):
        module.random_scenes(3, 0)
