"""Prompt agreement, and the shipped text-to-image model and its judge."""

import random

import pytest
import torch

from ddpm_from_scratch import pretrained
from ddpm_from_scratch.data import shapes
from ddpm_from_scratch.metrics import prompt_agreement, read_attributes


@pytest.fixture(scope="module")
def judge():
    return pretrained.load("shapes_classifier").model


def agreement(judge, images, attributes):
    return prompt_agreement(judge, images, shapes.attribute_labels(attributes), shapes.ATTRIBUTES)


def test_the_shipped_attribute_classifier_reads_fresh_real_scenes(judge):
    for heldout in (False, True):
        images, _, attributes = shapes.make_scenes(1000, seed=1234, heldout=heldout)
        result = agreement(judge, images, attributes)
        assert result["agreement"] >= 0.99, (heldout, result)


def test_agreement_counts_an_image_only_when_every_attribute_matches(judge):
    images, _, attributes = shapes.make_scenes(200, seed=5, heldout=None)
    recoloured = [a | {"colour": random.Random(i).choice([c for c in shapes.COLOURS if c != a["colour"]])}
                  for i, a in enumerate(attributes)]
    result = agreement(judge, images, recoloured)
    assert result["agreement"] < 0.05  # one wrong word and the image is a miss
    assert result["per_attribute"]["colour"] < 0.05
    assert result["per_attribute"]["shape"] > 0.95 and result["per_attribute"]["position"] > 0.95


def test_the_judge_does_not_read_attributes_into_pure_noise(judge):
    noise = torch.randn(500, 3, 16, 16, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    read = read_attributes(judge, noise, shapes.ATTRIBUTES)
    # noise matches a random prompt only by chance: 1 / (4 * 6 * 2 * 4) of the time if the judge guessed uniformly
    attributes = shapes.random_scenes(500, torch.Generator().manual_seed(1), heldout=None)
    assert agreement(judge, noise, attributes)["agreement"] < 0.05
    assert read.shape == (500, 4)


def test_mismatched_inputs_are_refused(judge):
    images, _, attributes = shapes.make_scenes(4, seed=0)
    with pytest.raises(ValueError, match="4 images but 3"):
        agreement(judge, images, attributes[:3])
    with pytest.raises(ValueError, match=r"\(N, 4\) attribute indices"):
        prompt_agreement(judge, images, shapes.attribute_labels(attributes)[:, :3], shapes.ATTRIBUTES)


def test_shipped_text_model_fits_the_size_budget_and_keeps_its_vocabulary():
    path = pretrained.CHECKPOINT_DIR / "shapes.pt"
    assert path.stat().st_size <= 8 * 2**20
    model = pretrained.load("shapes").model
    assert tuple(model.tokenizer.tokens[3:]) == shapes.vocabulary()
    card = pretrained.card("shapes")
    assert card.get("recipe") == "shapes" and "metrics" in card
