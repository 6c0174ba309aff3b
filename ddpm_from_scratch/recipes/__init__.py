"""Named training recipes: everything needed to reproduce a model with one command.

``python -m ddpm_from_scratch train --recipe digits`` trains the model that the package
ships; the chapters use the same recipes (with fewer steps under small budgets), so the
book, the CLI and the shipped checkpoints cannot drift apart.

A recipe carries its parts as functions: ``data(model, seed)`` gives the training data
(batches are dicts: ``x0`` and the conditions for a noise predictor, ``images`` and
``labels`` for a classifier), ``loss(model, batch, generator)`` is the objective, and
``recipe.evaluate(loaded, **options)`` measures a trained checkpoint (``evaluate --recipe NAME``) with the
recipe's ``evaluator`` (a function of ``evaluation``) and the shipped judges it names. A recipe names every other
recipe it needs once, here: the judges it is measured with (``judges``) and the modules it is built on (``parts``).
``make_trainer`` seeds the global RNG from the recipe's seed *before* building the model,
so the seed fixes the initial weights too, and a recipe run twice on the same machine and
thread count gives bit-identical checkpoints.

Here: the table (``RECIPES``) and the book's routes (``ROUTES``, ``route``). Beside it: ``recipe`` (what a recipe
is), ``parts`` (objectives, training data, sizes), ``training`` (``make_trainer``) and ``folder`` (the capstone's
recipes on a reader's own captioned pictures).
"""

from .. import evaluation
from ..data import scenes, shapes
from ..nn import (AutoencoderConfig, ClassifierConfig, MLPConfig, SceneReaderConfig, TextUNetConfig, UNetConfig,
                  VAEConfig, autoencoder_loss, contrastive_objective, contrastive_objective_with_contradictions)
from ..train import TrainConfig
from .folder import FOLDER_RECIPES, folder_run, on_folder
from .parts import (AUGMENTATION_LEVELS, CAPSTONE_GENERATOR, CAPSTONE_GENERATOR_TRAINING, CAPSTONE_GPU_SIZE,
                    CAPSTONE_LATENT_RANGE, CAPSTONE_SAMPLING, CAPSTONE_SIZE, CAPSTONE_TEXT_ENCODER,
                    CAPSTONE_TEXT_HARD_TRAINING, CAPSTONE_TEXT_TRAINING, COSINE, LATENT_RANGE, LINEAR, SCENE_SIZE,
                    THUMBNAIL_SIZE, attributes_loss, captioned_scenes, classification_loss, denoising,
                    digits_with_non_digits, encoded_to_latents, labelled_scenes, labelled_scenes_v2,
                    latent_scale_factor, measure_scale_factor, measure_scene_scale_factor, scene_images,
                    scene_latents, scene_latents_on_the_fly, scene_pairs, scene_pairs_with_contradictions,
                    scene_reading_loss, scenes_for_autoencoder, text_encoder_and_autoencoder, thumbnail_pairs,
                    toy_points, train_digits, vae_loss)
from .recipe import Recipe
from .training import build_model, initialise_from, make_trainer


def capstone_autoencoder(name: str, description: str, image_size: int, channel_mults: tuple) -> Recipe:
    """A capstone autoencoder (chapter 07's second module): rendered scenes at ``image_size`` to 8x8x8 latents, one
    halving per level after the first (``channel_mults``); its reconstructions read by the scene judge."""
    return Recipe(name=name, description=description,
                  model_config=AutoencoderConfig(image_channels=3, image_size=image_size, latent_channels=8,
                                                 base_channels=32, channel_mults=channel_mults, num_res_blocks=1),
                  data=scene_images, loss=autoencoder_loss, measure=measure_scene_scale_factor,
                  evaluator=evaluation.evaluate_scenes_autoencoder, judges={"judge": "scenes_judge"},
                  train_config=TrainConfig(steps=4000, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=0.999,
                                           checkpoint_every=500, seed=0))


def capstone_generator(name: str, description: str, text_encoder: str, autoencoder: str, **settings) -> Recipe:
    """A capstone generator (chapter 07): a cross-attention U-Net learning the latents of the ``autoencoder`` recipe's
    model, reading captions through the ``text_encoder`` recipe's, frozen; judged end to end by the scene judge, its
    FID and CLIP-score read by ``scenes_text`` for every generator, its retrieval by its own text encoder."""
    return Recipe(name=name, description=description, model_config=CAPSTONE_GENERATOR,
                  data=scene_latents_on_the_fly(autoencoder), loss=denoising(COSINE), schedule=COSINE,
                  prepare=text_encoder_and_autoencoder(text_encoder, autoencoder),
                  parts={"text encoder": text_encoder, "autoencoder": autoencoder},
                  evaluator=evaluation.evaluate_scenes,
                  judges={"judge": "scenes_judge", "text_model": "scenes_text", "its_text_model": text_encoder},
                  sampling=CAPSTONE_SAMPLING, train_config=CAPSTONE_GENERATOR_TRAINING, **settings)


RECIPES = {
    "moons": Recipe(
        name="moons", description="2-D two-moons points, MLP noise predictor (chapter 01)",
        model_config=MLPConfig(), data=toy_points("moons"), loss=denoising(LINEAR), schedule=LINEAR,
        train_config=TrainConfig(steps=3000, batch_size=256, lr=1e-3, ema_decay=0.995, checkpoint_every=1000),
    ),
    "digits": Recipe(
        name="digits", description="unconditional 16x16 handwritten digits, U-Net noise predictor (chapters 01-02)",
        model_config=UNetConfig(image_channels=1, image_size=16, base_channels=32, channel_mults=(1, 2, 2),
                                num_res_blocks=1, attention_resolutions=(4,)),
        data=train_digits, loss=denoising(COSINE), schedule=COSINE, evaluator=evaluation.evaluate_digits,
        judges={"classifier": "digits_classifier"},
        train_config=TrainConfig(steps=12000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "digits_vae": Recipe(
        name="digits_vae",
        description="16x16 digits, a VAE (chapter 06): the baseline the diffusion model is compared with",
        model_config=VAEConfig(image_channels=1, image_size=16, latent_dim=16, base_channels=32),
        data=train_digits, loss=vae_loss, evaluator=evaluation.evaluate_digits_vae,
        judges={"classifier": "digits_classifier"},
        train_config=TrainConfig(steps=6000, batch_size=64, lr=1e-3, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "digits_classifier": Recipe(
        name="digits_classifier",
        description="CNN digit classifier on real 16x16 digits plus a 'not a digit' class (for evaluation)",
        model_config=ClassifierConfig(image_channels=1, image_size=16, num_classes=11),
        data=digits_with_non_digits, loss=classification_loss, evaluator=evaluation.evaluate_digits_classifier,
        train_config=TrainConfig(steps=2000, batch_size=128, lr=1e-3, weight_decay=1e-4, warmup_steps=100,
                                 ema_decay=0.99, checkpoint_every=500, seed=0),
    ),
    "shapes": Recipe(
        name="shapes",
        description="text-to-image: captioned 16x16 RGB shapes, text encoder + cross-attention U-Net, "
                    "10% empty captions for classifier-free guidance (chapter 03)",
        model_config=TextUNetConfig(vocabulary=shapes.vocabulary(), image_channels=3, image_size=16,
                                    base_channels=32, channel_mults=(1, 2, 2), num_res_blocks=1,
                                    attention_resolutions=(8, 4)),
        data=captioned_scenes, loss=denoising(COSINE), schedule=COSINE, evaluator=evaluation.evaluate_shapes,
        judges={"classifier": "shapes_classifier"},
        train_config=TrainConfig(steps=6000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "shapes_classifier": Recipe(
        name="shapes_classifier",
        description="CNN that reads shape, colour, size and position back from a 16x16 scene (for evaluation)",
        model_config=ClassifierConfig(image_channels=3, image_size=16, num_classes=shapes.NUM_ATTRIBUTE_VALUES,
                                      pool="flatten"),
        data=labelled_scenes, loss=attributes_loss, evaluator=evaluation.evaluate_shapes_classifier,
        train_config=TrainConfig(steps=4000, batch_size=128, lr=1e-3, weight_decay=1e-4, warmup_steps=100,
                                 ema_decay=0.99, checkpoint_every=500, seed=0),
    ),
    "shapes32_classifier": Recipe(
        name="shapes32_classifier",
        description="CNN that reads shape, colour, size and position back from a 32x32 scene (chapter 04's judge)",
        model_config=ClassifierConfig(image_channels=3, image_size=SCENE_SIZE, num_classes=shapes.NUM_ATTRIBUTE_VALUES,
                                      pool="flatten"),
        data=labelled_scenes, loss=attributes_loss, evaluator=evaluation.evaluate_shapes_classifier,
        train_config=TrainConfig(steps=2000, batch_size=64, lr=1e-3, weight_decay=1e-4, warmup_steps=100,
                                 ema_decay=0.99, checkpoint_every=500, seed=0),
    ),
    "shapes_autoencoder": Recipe(
        name="shapes_autoencoder",
        description="KL autoencoder, 32x32x3 scenes <-> 8x8x4 latents, no text (chapter 04's latent decoder)",
        model_config=AutoencoderConfig(image_channels=3, image_size=SCENE_SIZE, latent_channels=4, base_channels=32,
                                       channel_mults=(1, 2, 2), num_res_blocks=1),
        data=scenes_for_autoencoder, loss=autoencoder_loss, measure=measure_scale_factor,
        evaluator=evaluation.evaluate_autoencoder, judges={"judge": "shapes32_classifier"},
        train_config=TrainConfig(steps=3000, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "shapes_latent": Recipe(
        name="shapes_latent",
        description="text-to-latent: cross-attention U-Net on the autoencoder's scaled 8x8x4 latents, with chapter "
                    "03's text encoder frozen (chapter 04's latent route)",
        model_config=TextUNetConfig(vocabulary=shapes.vocabulary(), image_channels=4, image_size=8, base_channels=32,
                                    channel_mults=(1, 2, 2), num_res_blocks=1, attention_resolutions=(8, 4),
                                    data_range=LATENT_RANGE, train_text_encoder=False),
        data=scene_latents(), loss=denoising(COSINE), schedule=COSINE,
        prepare=text_encoder_and_autoencoder("shapes", "shapes_autoencoder"),
        parts={"text encoder": "shapes", "autoencoder": "shapes_autoencoder"},
        evaluator=evaluation.evaluate_latent_route, judges={"judge": "shapes32_classifier"},
        train_config=TrainConfig(steps=6000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "scenes_judge": Recipe(
        name="scenes_judge",
        description="finds every object of a 32x32 scene (v2) in an 8x8 grid of cells: shape, colour, size, centre "
                    "(chapter 07's judge)",
        model_config=SceneReaderConfig(image_size=CAPSTONE_SIZE, grid=scenes.GRID, width=32),
        data=labelled_scenes_v2, loss=scene_reading_loss, evaluator=evaluation.evaluate_scenes_judge,
        train_config=TrainConfig(steps=4000, batch_size=64, lr=1e-3, warmup_steps=100, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "scenes_text": Recipe(
        name="scenes_text",
        description="text encoder trained alone, contrastively against an image encoder on captioned 32x32 scenes "
                    "(CLIP-style; chapter 07's first module)",
        model_config=CAPSTONE_TEXT_ENCODER,
        data=scene_pairs, loss=contrastive_objective, evaluator=evaluation.evaluate_scenes_text,
        train_config=CAPSTONE_TEXT_TRAINING,
    ),
    "scenes_text_hard": Recipe(
        name="scenes_text_hard",
        description="scenes_text trained with hard negatives: each image must also reject its caption with one "
                    "claim made false (a relation inverted, colours swapped between objects), so that the text "
                    "encoder reads relations and which object has which colour (the text encoder of the `gpu` "
                    "configuration, scenes64_latent)",
        model_config=CAPSTONE_TEXT_ENCODER,
        data=scene_pairs_with_contradictions, loss=contrastive_objective_with_contradictions,
        evaluator=evaluation.evaluate_scenes_text,
        train_config=CAPSTONE_TEXT_HARD_TRAINING,
    ),
    "scenes_autoencoder": capstone_autoencoder(
        "scenes_autoencoder",
        "KL autoencoder, 32x32x3 scenes (v2) <-> 8x8x8 latents, no text (chapter 07's second module)",
        image_size=CAPSTONE_SIZE, channel_mults=(1, 2, 2),
    ),
    # its card's run: 5500 steps on one H200 (440 s, bf16); 2.7 s a step on a 2-core Intel Xeon (4 hours). The
    # card ships; the weights no longer do (scenes64_latent beats them on every split; see the card)
    "scenes_latent": capstone_generator(
        "scenes_latent",
        "text-to-image capstone (chapter 07): cross-attention U-Net on the 8x8x8 latents of 32x32 scenes "
        "(v2), the contrastive text encoder frozen, 10% empty captions for classifier-free guidance",
        text_encoder="scenes_text", autoencoder="scenes_autoencoder",
    ),
    # The `gpu` configuration: scenes at 64x64. One more level in the autoencoder brings them to the same 8x8x8
    # latents, so the generator (and its cost per step) is the 32x32 one; the judge and the contrastive image
    # encoder read 32x32, and evaluation averages 64x64 images over 2x2 blocks for them.
    "scenes64_autoencoder": capstone_autoencoder(
        "scenes64_autoencoder",
        "KL autoencoder, 64x64x3 scenes (v2) <-> 8x8x8 latents, no text (chapter 07's module 2 in the `gpu` "
        "configuration: scenes_autoencoder with one more level)",
        image_size=CAPSTONE_GPU_SIZE, channel_mults=(1, 2, 2, 2),
    ),
    # the shipped weights: 4,562 steps on one H200 (bash benchmarks/capstone_on_gpu.sh), then further runs on a
    # 2-core CPU from them (train --init-from); its card's runs list every one
    "scenes64_latent": capstone_generator(
        "scenes64_latent",
        "text-to-image capstone at 64x64 (chapter 07, `gpu` configuration): scenes_latent's U-Net on the "
        "8x8x8 latents of scenes64_autoencoder, reading captions through scenes_text_hard",
        text_encoder="scenes_text_hard", autoencoder="scenes64_autoencoder",  # it reads relations better
    ),
    "shapes_sr": Recipe(
        name="shapes_sr",
        description="super-resolution decoder 16x16 -> 32x32 scenes, no text, noise conditioning augmentation "
                    "(chapter 04's thumbnail route)",
        model_config=UNetConfig(image_channels=3, image_size=SCENE_SIZE, base_channels=32, channel_mults=(1, 2, 2),
                                num_res_blocks=1, attention_resolutions=(), cond_channels=3, augmentation_level=True),
        data=thumbnail_pairs(AUGMENTATION_LEVELS), loss=denoising(COSINE), schedule=COSINE,
        evaluator=evaluation.evaluate_super_resolution,
        train_config=TrainConfig(steps=3000, batch_size=32, lr=5e-4, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "shapes_cascade": Recipe(
        name="shapes_cascade",
        description="pipeline, not trained: chapter 03's 16x16 shapes model, then the shapes_sr decoder to 32x32 "
                    "(chapter 04's thumbnail route)",
        schedule=COSINE,  # its generator's, which --steps counts in
        parts={"generator": "shapes", "decoder": "shapes_sr"},
        evaluator=evaluation.evaluate_route,
        judges={"judge": "shapes32_classifier", "thumbnail_judge": "shapes_classifier"},
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


# The book's text-to-image routes by name (``generate --pipeline``; the first is its default), each a recipe's route
ROUTES = {"scenes64": "scenes64_latent", "pixel": "shapes", "cascade": "shapes_cascade", "latent": "shapes_latent"}


def route(name: str, device=None):
    """One of the book's routes from the shipped checkpoints: ``scenes64`` (chapter 07's 64x64 capstone), ``pixel``
    (chapter 03's 16x16 model), ``cascade`` (+ the super-resolution decoder to 32x32) or ``latent`` (the latent
    generator + the autoencoder's decoder, chapter 04)."""
    if name not in ROUTES:
        raise ValueError(f"unknown route {name!r}; choose one of {', '.join(ROUTES)}")
    return RECIPES[ROUTES[name]].route(device=device)
