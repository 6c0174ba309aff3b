"""The scenes of chapter 07 as data: a fixed set (``make_scenes``), and the batch samplers its recipes train on.

A batch sampler is ``sample_batch(batch_size, generator)`` -> a dict of tensors, fresh scenes at
every call, drawn from the torch.Generator the trainer hands it (``seeding.python_rng`` seeds
Python's generator from it, which draws the scenes and then their captions):

    captioned_batches  {"x0", "text"}              the text-to-image generator (training scenes only)
    pairs_batches      {"images", "text", ...}     a contrastive text encoder (training scenes only)
    labelled_batches   {"images", scene_labels'}   the judge (every combination, held-out ones too)
    image_batches      {"images"}                  the autoencoder (every combination)

``make_scenes``, ``captioned_batches`` and ``labelled_batches`` take their namesakes' arguments in ``data.shapes``
(chapter 03), in the same order (``kind`` and ``device`` follow), and return the same: (images, captions, scenes);
{"x0", "text"}; {"images"} and the labels each chapter's judge learns.
"""

import random

from ..seeding import python_rng
from .captions import caption, captions_and_contradictions, training_captions
from .drawing import render
from .judge import scene_labels
from .layout import random_scenes


def make_scenes(n: int, image_size: int = 32, seed: int = 0, heldout: bool | None = False,
                kind: str | None = None, device=None) -> tuple:
    """A fixed set, deterministic in ``seed``: ``(images, captions, scenes)``, the images (n, 3, S, S) in [-1, 1],
    one caption (str) per image, and the n Scenes drawn (what ``render`` drew and ``caption`` phrased).

    ``kind``: "single", "relation" (two objects, one relation), "three", "count", or None (a mix);
    ``heldout``: False training scenes, True held-out ones, None both.
    """
    rng = random.Random(seed)
    scenes = random_scenes(n, rng, heldout, kind)
    return render(scenes, image_size, device=device), [caption(scene, rng) for scene in scenes], scenes


def captioned_batches(tokenizer, image_size: int = 32, drop_caption: float = 0.1, device=None,
                      kind: str | None = None):
    """A batch sampler for text-conditioned training: ``sample_batch(batch_size, generator)`` ->
    {"x0": images, "text": token ids} of fresh training scenes, a share ``drop_caption`` of them
    with the empty caption. The tokenizer needs max_length >= MAX_CAPTION_WORDS + 1."""
    def sample_batch(batch_size, generator):
        rng = python_rng(generator)
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
        rng = python_rng(generator)
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
        scenes = random_scenes(batch_size, generator, heldout=None)
        labels = {name: value.to(device) for name, value in scene_labels(scenes).items()}
        return {"images": render(scenes, image_size, device=device), **labels}

    return sample_batch


def image_batches(image_size: int = 32, device=None):
    """A batch sampler of images alone, {"images"}, from *all* combinations (the autoencoder never reads a caption)."""
    def sample_batch(batch_size, generator):
        return {"images": render(random_scenes(batch_size, generator, heldout=None), image_size, device=device)}

    return sample_batch
