"""Named training recipes: everything needed to reproduce a model with one command.

``python -m ddpm_from_scratch train --recipe digits`` trains the model that the package
ships; the chapters use the same recipes (with fewer steps under small budgets), so the
book, the CLI and the shipped checkpoints cannot drift apart.

A recipe carries its parts as functions: ``data(model, seed)`` gives the training data
(batches are dicts: ``x0`` and the conditions for a noise predictor, ``images`` and
``labels`` for a classifier), ``loss(model, batch, generator)`` is the objective, and
``evaluate(loaded, **options)`` measures a trained checkpoint (``evaluate --recipe NAME``).
``make_trainer`` seeds the global RNG from the recipe's seed *before* building the model,
so the seed fixes the initial weights too, and a recipe run twice on the same machine and
thread count gives bit-identical checkpoints.
"""

from dataclasses import dataclass, replace
from typing import Callable

import torch
import torch.nn.functional as F

from . import diffusion, evaluation
from .checkpoints import describe
from .data import load_digits, load_toy, shapes
from .nn import ClassifierConfig, MLPConfig, TextUNetConfig, UNetConfig, model_for_config
from .schedules import NoiseSchedule
from .train import TrainConfig, Trainer


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    model_config: object                     # a UNetConfig, TextUNetConfig, MLPConfig or ClassifierConfig
    train_config: TrainConfig
    data: Callable                           # data(model, seed) -> a tensor, a dict of tensors, or a batch sampler
    loss: Callable                           # loss(model, batch, generator) -> scalar
    evaluate: Callable | None = None         # evaluate(loaded: pretrained.Pretrained, **options) -> dict
    schedule: NoiseSchedule | None = None    # the noise schedule of a diffusion recipe


# --- objectives -------------------------------------------------------------------------
def denoising(schedule: NoiseSchedule) -> Callable:
    """The objective of every noise predictor: L_simple on a batch dict (``diffusion.denoising_loss``)."""
    def loss(model, batch, generator):
        return diffusion.denoising_loss(model, schedule, batch, generator)

    return loss


def classification_loss(model, batch, generator):
    return F.cross_entropy(model(batch["images"]), batch["labels"])


def attributes_loss(model, batch, generator):
    """Sum of one cross-entropy per attribute: the logits are split into the attributes' groups."""
    logits = shapes.split_logits(model(batch["images"]))
    return sum(F.cross_entropy(block, batch["labels"][:, i]) for i, block in enumerate(logits))


# --- data -------------------------------------------------------------------------------
def toy_points(name: str) -> Callable:
    """20,000 points of a 2-D toy (``data.load_toy``), drawn from the recipe's seed."""
    return lambda model, seed: load_toy(name, 20000, generator=torch.Generator().manual_seed(seed))


def train_digits(model, seed):
    return {"x0": load_digits("train", image_size=16)[0]}


def digits_with_non_digits(model, seed, non_digit_share: float = 0.2):
    """A batch sampler for the digits classifier: real digits, and a share of non-digits labelled
    NOT_A_DIGIT (noise, blobs, shuffled and drowned digits), so the judge can say "no"."""
    from .data.digits import NOT_A_DIGIT, make_non_digits

    images, labels = load_digits("train", image_size=16)

    def sample_batch(batch_size, generator):
        num_junk = int(round(non_digit_share * batch_size))
        index = torch.randint(0, len(images), (batch_size - num_junk,), generator=generator)
        junk = make_non_digits(images, num_junk, generator)
        return {"images": torch.cat([images[index], junk]),
                "labels": torch.cat([labels[index], torch.full((num_junk,), NOT_A_DIGIT, dtype=labels.dtype)])}

    return sample_batch


def captioned_scenes(model, seed):
    """Scenes rendered on the fly, captions tokenized by the model's own tokenizer."""
    return shapes.captioned_batches(model.tokenizer, model.config.image_size)


def labelled_scenes(model, seed):
    return shapes.labelled_batches(model.config.image_size)


# --- the recipes ---------------------------------------------------------------------------
LINEAR, COSINE = NoiseSchedule.linear(), NoiseSchedule.cosine()

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
        data=train_digits, loss=denoising(COSINE), schedule=COSINE, evaluate=evaluation.report_digits,
        train_config=TrainConfig(steps=12000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "digits_classifier": Recipe(
        name="digits_classifier",
        description="CNN digit classifier on real 16x16 digits plus a 'not a digit' class (for evaluation)",
        model_config=ClassifierConfig(image_channels=1, image_size=16, num_classes=11),
        data=digits_with_non_digits, loss=classification_loss, evaluate=evaluation.report_digits_classifier,
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
        data=captioned_scenes, loss=denoising(COSINE), schedule=COSINE, evaluate=evaluation.report_shapes,
        train_config=TrainConfig(steps=6000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "shapes_classifier": Recipe(
        name="shapes_classifier",
        description="CNN that reads shape, colour, size and position back from a 16x16 scene (for evaluation)",
        model_config=ClassifierConfig(image_channels=3, image_size=16, num_classes=shapes.NUM_ATTRIBUTE_VALUES,
                                      pool="flatten"),
        data=labelled_scenes, loss=attributes_loss, evaluate=evaluation.report_shapes_classifier,
        train_config=TrainConfig(steps=4000, batch_size=128, lr=1e-3, weight_decay=1e-4, warmup_steps=100,
                                 ema_decay=0.99, checkpoint_every=500, seed=0),
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def build_model(recipe: Recipe, seed: int | None = None):
    """The recipe's untrained model; its initial weights are fixed by ``seed`` (default: the recipe's)."""
    torch.manual_seed(recipe.train_config.seed if seed is None else seed)
    return model_for_config(recipe.model_config)


def make_trainer(recipe: Recipe, checkpoint_path=None, resume: bool = False, device=None,
                 steps: int | None = None, data=None) -> Trainer:
    """A Trainer set up exactly as the recipe says (``steps`` overrides the number of steps).

    Everything random is seeded here from the recipe's seed, in this order: the model's
    initial weights, the training data (when the recipe draws it), then the trainer's own
    generator (batches, steps t, noise) and the global RNG (dropout).
    """
    config = recipe.train_config if steps is None else replace(recipe.train_config, steps=steps)
    if config.steps < 0:
        raise ValueError(f"steps must be 0 or more, got {config.steps}")
    model = build_model(recipe, config.seed)
    return Trainer(model, recipe.loss, recipe.data(model, config.seed) if data is None else data, config,
                   checkpoint_path=checkpoint_path, resume=resume, device=device,
                   header=describe(model, recipe.schedule, metadata={"recipe": recipe.name}))
