"""Chapter 07's judge: the scene reader's outputs, its loss, and the measures built on it."""

import pytest
import torch

from ddpm_from_scratch import evaluation, recipes
from ddpm_from_scratch.data import scenes
from ddpm_from_scratch.nn import SceneReader, SceneReaderConfig


def perfect_output(labels: dict) -> torch.Tensor:
    """The raw output a reader that is sure and right would give for these labels."""
    present = labels["present"][:, None] * 20 - 10  # logits of +-10
    blocks = [present]
    for name, values in scenes.ATTRIBUTES.items():
        index = labels[name].clamp(min=0)
        blocks.append(torch.nn.functional.one_hot(index, len(values)).permute(0, 3, 1, 2).float() * 10)
    blocks.append(torch.logit(labels["offset"].clamp(1e-4, 1 - 1e-4)))  # the sigmoid gives the offsets back
    return torch.cat(blocks, dim=1)


class Oracle(SceneReader):
    """A reader whose output is computed from the true scenes (set before each read)."""

    truth = None

    def forward(self, x):
        return perfect_output(scenes.scene_labels(self.truth[:len(x)])).to(x.device)


def test_a_reader_that_outputs_the_labels_reads_every_scene_and_every_caption_right():
    images, _, truth = scenes.make_scenes(200, image_size=32, seed=3, heldout=None)
    oracle = Oracle(SceneReaderConfig(image_size=32))
    oracle.truth = truth
    results = evaluation.read_scenes(oracle, images, truth)
    assert results["objects_right"] == 1.0 and results["prompt_right"] == 1.0
    assert results["centre_error"] < 1e-3


def test_a_wrong_colour_or_a_missing_object_is_counted_as_a_miss():
    images, _, truth = scenes.make_scenes(100, image_size=32, seed=4, kind="relation")
    oracle = Oracle(SceneReaderConfig(image_size=32))
    recoloured = []
    for scene in truth:  # the first object painted another colour
        first = scene.objects[0]
        other = next(c for c in scenes.COLOURS if c != first.colour)
        recoloured.append(scenes.Scene(scene.background, (type(first)(**{**first.__dict__, "colour": other}),
                                                          *scene.objects[1:]), scene.relations, scene.kind))
    oracle.truth = recoloured
    results = evaluation.read_scenes(oracle, images, truth)
    assert results["objects_right"] == 0.0 and results["prompt_right"] == 0.0
    assert results["colour_accuracy"] == pytest.approx(0.5) and results["shape_accuracy"] == 1.0
    oracle.truth = [scenes.Scene(s.background, s.objects[:1], (), "single") for s in truth]  # one object not found
    results = evaluation.read_scenes(oracle, images, truth)
    assert results["count_right"] == 0.0 and results["objects_right"] == 0.0


def test_the_loss_is_small_for_the_perfect_output_and_large_for_a_blank_one():
    batch = recipes.labelled_scenes_v2(recipes.build_model(recipes.get_recipe("scenes_judge")), 0)(
        16, torch.Generator().manual_seed(0))

    class Fixed(SceneReader):
        def __init__(self, output):
            super().__init__(SceneReaderConfig(image_size=32))
            self.output = output

        def forward(self, x):
            return self.output

    perfect = recipes.scene_reading_loss(Fixed(perfect_output(batch)), batch, None)
    blank = recipes.scene_reading_loss(Fixed(torch.zeros_like(perfect_output(batch))), batch, None)
    assert perfect.item() < 0.01 < 1 < blank.item()


def test_the_reader_refuses_images_of_another_size():
    reader = SceneReader(SceneReaderConfig(image_size=32))
    with pytest.raises(ValueError, match=r"expects images \(B, 3, 32, 32\), got \(2, 3, 64, 64\)"):
        reader(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match="grid 8 times a power of 2"):
        SceneReader(SceneReaderConfig(image_size=48))
