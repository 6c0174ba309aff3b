"""Captioned scenes, version 2: up to three objects, where they are and how they relate (the capstone chapter).

Chapter 03's scenes (:mod:`..shapes`) hold one shape on black. The capstone's text-to-image
model needs captions that say more, so a scene here is

    background  flat dark colour, a gradient, low-contrast stripes or a checkerboard
    objects     one to three of  6 shapes x 8 colours x 3 sizes, at free positions

and its caption names every object and how they relate ("a small red circle to the left of
a big blue square", "two green triangles"), in many phrasings. Some combinations are held out
from training, so that generating them tests composition. One idea per module:

    world     what a scene is (SceneObject, Background, Scene), the held-out split, when a relation holds
    layout    random scenes of each kind (random_scene, random_scenes)
    captions  phrasings of a scene (caption, training_captions), contradictions, the vocabulary
    drawing   the image of a scene (render)
    judge     what a judge reads (scene_labels) and whether it matches a prompt (prompt_claims, parse_caption,
              claims_hold)
    batches   a fixed set (make_scenes) and the recipes' batch samplers (captioned_batches, pairs_batches,
              labelled_batches, image_batches)

Everything is importable from here (``data.scenes.render``). A scene is a plain description, so an
image is a deterministic function of it, and ``make_scenes`` of its seed. Whatever draws at random
takes a torch.Generator (or a random.Random seeded from one), as in ``data.shapes`` (:mod:`..seeding`).
"""

from .batches import captioned_batches, image_batches, labelled_batches, make_scenes, pairs_batches
from .captions import (MAX_CAPTION_WORDS, NUMBERS, PLURALS, SYNONYMS, TEMPLATES, caption, captions_and_contradictions,
                       contradicting_caption, contradiction, max_caption_words, training_captions, vocabulary)
from .drawing import render
from .judge import (ABSENT, ATTRIBUTES, GRID, claims_hold, named_objects, objects_from_labels, parse_caption,
                    prompt_claims, scene_labels)
from .layout import DIRECTIONS, random_scene, random_scenes
from .world import (BACKGROUNDS, COLOURS, EDGE, HELDOUT_PAIRS, HELDOUT_SHAPE_PAIRS, INVERSE, KIND_WEIGHTS, KINDS,
                    MIN_SEPARATION, POSITION_BINS, RELATION_GAP, RELATION_MARGIN, RELATIONS, SHAPES, SIZES, Background,
                    Scene, SceneObject, is_heldout, relation_holds)

__all__ = [
    # world
    "SHAPES", "COLOURS", "SIZES", "BACKGROUNDS", "RELATIONS", "INVERSE", "KINDS", "KIND_WEIGHTS", "HELDOUT_PAIRS",
    "HELDOUT_SHAPE_PAIRS", "EDGE", "MIN_SEPARATION", "RELATION_GAP", "RELATION_MARGIN", "POSITION_BINS",
    "SceneObject", "Background", "Scene", "is_heldout", "relation_holds",
    # layout
    "DIRECTIONS", "random_scene", "random_scenes",
    # captions
    "SYNONYMS", "PLURALS", "NUMBERS", "TEMPLATES", "caption", "training_captions", "contradiction",
    "contradicting_caption", "captions_and_contradictions", "vocabulary", "max_caption_words", "MAX_CAPTION_WORDS",
    # drawing
    "render",
    # judge
    "GRID", "ATTRIBUTES", "ABSENT", "scene_labels", "objects_from_labels", "named_objects", "prompt_claims",
    "claims_hold", "parse_caption",
    # batches
    "make_scenes", "captioned_batches", "pairs_batches", "labelled_batches", "image_batches",
]
