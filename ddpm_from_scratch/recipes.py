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
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from . import diffusion, evaluation
from .checkpoints import describe, read_card
from .data import load_digits, load_toy, scenes, shapes
from .metrics import quantize_to_8bit, vae_negative_elbo
from .nn import (AutoencoderConfig, ClassifierConfig, ContrastiveConfig, MLPConfig, SceneReaderConfig, TextUNetConfig,
                 UNetConfig, VAEConfig, contrastive_loss, model_for_config)
from .schedules import NoiseSchedule
from .train import OnTheFly, TrainConfig, Trainer


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    model_config: object = None              # a config dataclass of nn (None: a pipeline of shipped models)
    train_config: TrainConfig | None = None
    data: Callable | None = None             # data(model, seed) -> a tensor, a dict of tensors, or a batch sampler
    loss: Callable | None = None             # loss(model, batch, generator) -> scalar
    evaluate: Callable | None = None         # evaluate(loaded: pretrained.Pretrained, **options) -> dict
    schedule: NoiseSchedule | None = None    # the noise schedule of a diffusion recipe
    prepare: Callable | None = None          # prepare(model) -> header fields: loads parts trained elsewhere
    measure: Callable | None = None          # measure(model) -> header fields measured after training
    sampling: dict | None = None             # a text-to-image recipe's sampler on its card: guidance_scale, eta


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


def vae_loss(model, batch, generator):
    """The VAE's objective (chapter 06): its negative ELBO in nats per dimension, averaged over the batch.

    The digits are rounded onto the 256 grey levels first, as evaluation rounds the test digits
    (the resized digits sit between levels, and the decoder gives probabilities of 8-bit levels):
    the loss is then exactly the bound that ``evaluate_digits_vae`` reports, in nats instead of bits.
    """
    x = quantize_to_8bit(batch["x0"])
    nats = vae_negative_elbo(model, x, generator)["total_nats"]  # -log p(x) <= E_q[-log p(x | z)] + KL(q || p(z))
    return nats.mean() / x[0].numel()


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


# --- chapter 04: the decoders and the latent generator --------------------------------------
LINEAR, COSINE = NoiseSchedule.linear(), NoiseSchedule.cosine()
SCENE_SIZE, THUMBNAIL_SIZE = 32, 16   # the full images of chapter 04, and the thumbnails of chapter 03's model
KL_WEIGHT = 1e-4                      # the autoencoder's KL term, per latent element, against L1 per pixel
AUGMENTATION_LEVELS = 300             # thumbnails are noised to a step s ~ U{0 .. 299} of the cosine schedule
# The range sampling clips the latent generator's x0_hat to: the scaled latents f z of 2,000 training scenes
# reach |f z| = 6.67 (0.5% lie beyond 4; tests/test_decoders.py checks the bound). Latents have no fixed range
# as pixels do, but without any bound the cosine schedule's last alpha_bar (~2e-9) magnifies the noise
# predictor's errors ~2e4-fold in the first steps and sampling diverges (chapter 04 shows it).
LATENT_RANGE = (-7.0, 7.0)


def autoencoder_loss(model, batch, generator):
    """The autoencoder's objective: reconstruct the image through a noisy latent, plus a small KL.

    The KL term is measured per latent element and the reconstruction per pixel, so KL_WEIGHT
    says how many units of L1 one nat of KL per element is worth.
    """
    x = batch["images"]
    # 1. encode: q(z | x) = N(mean, diag(std^2))
    posterior = model.encode(x)
    # 2. sample z = mean + std * eps   (the reparameterisation trick)
    z = posterior.sample(generator)
    # 3. decode: x_hat = D(z)
    x_hat = model.decode(z)
    # 4. reconstruction error, mean |x - x_hat| (L1 keeps edges sharper than the squared error)
    reconstruction = (x - x_hat).abs().mean()
    # 5. KL(q(z | x) || N(0, I)) per latent element: keeps the latents' scale in check
    kl = posterior.kl().mean() / z[0].numel()
    return reconstruction + KL_WEIGHT * kl


@torch.no_grad()
def latent_scale_factor(autoencoder, images: torch.Tensor, generator: torch.Generator | None = None) -> float:
    """1 / std of the latents z ~ q(z | x) of ``images``: scaled latents f z have unit standard deviation,
    the scale of the noise the reverse process starts from (Rombach et al. 2022, section G)."""
    autoencoder.eval()
    device = next(autoencoder.parameters()).device
    z = torch.cat([autoencoder.encode(images[i:i + 500].to(device)).sample(generator).cpu()
                   for i in range(0, len(images), 500)])
    return 1.0 / z.float().std().item()


def scenes_for_autoencoder(model, seed):
    """Fresh 32x32 scenes of every combination (no text: the autoencoder never sees a caption)."""
    return shapes.labelled_batches(model.config.image_size)


def measure_scale_factor(model, num_images: int = 2000, seed: int = 0) -> dict:
    images, _, _ = shapes.make_scenes(num_images, model.config.image_size, seed=seed, heldout=None)
    return {"scale_factor": latent_scale_factor(model, images, torch.Generator().manual_seed(seed))}


def thumbnail_pairs(max_level: int) -> Callable:
    """(thumbnail, scene) pairs for the super-resolution decoder, no text: ``x0`` a 32x32 scene, ``low_res``
    its 16x16 downscale noised to a random step s < ``max_level`` of the cosine schedule, and that
    ``augmentation_level`` s (noise conditioning augmentation, Ho et al. 2021). ``max_level=0``: clean thumbnails."""
    def data(model, seed):
        def sample_batch(batch_size, generator):
            images = shapes.render(shapes.random_scenes(batch_size, generator, heldout=None), SCENE_SIZE, generator)
            thumbnails = shapes.downscale(images, THUMBNAIL_SIZE)
            if max_level == 0:
                return {"x0": images, "low_res": thumbnails}
            level = torch.randint(0, max_level, (batch_size,), generator=generator)
            return {"x0": images, "low_res": diffusion.add_noise(COSINE, thumbnails, level, generator=generator),
                    "augmentation_level": level}

        return sample_batch

    return data


def frozen_text_encoder_and_autoencoder(model) -> dict:
    """The latent generator's parts trained elsewhere: chapter 03's text encoder (copied in, frozen) and the
    autoencoder whose latents it learns. Both are named, with fingerprints, in the checkpoint's ``requires``."""
    from . import pretrained
    from .checkpoints import requirement

    text_model, autoencoder = pretrained.load("shapes"), pretrained.load("shapes_autoencoder")
    if model.tokenizer.tokens != text_model.model.tokenizer.tokens:
        raise ValueError(f"the text encoder in {text_model.path} was trained with another vocabulary than this model's: "
                         "build the latent generator with the same vocabulary (data.shapes.vocabulary())")
    model.text_encoder.load_state_dict(text_model.model.text_encoder.state_dict())
    return {"requires": [requirement("shapes", text_model.header), requirement("shapes_autoencoder", autoencoder.header)],
            "scale_factor": autoencoder.header["scale_factor"]}


def scene_latents(scale_factor: float | None = None, num_scenes: int = 20000) -> Callable:
    """Captioned 32x32 scenes as latents of the shipped autoencoder, scaled: {"x0": f z, "text": token ids}.

    ``num_scenes`` training scenes (drawn from the seed) are encoded once, keeping each posterior's mean and
    std; every batch then draws z ~ q(z | x) anew and a fresh caption (10% empty), which is cheap next to
    running the encoder at every step. ``scale_factor`` None: the autoencoder's measured f (what the recipe
    trains on); 1.0: unscaled latents (chapter 04's comparison)."""
    def data(model, seed):
        from . import pretrained

        autoencoder = pretrained.load("shapes_autoencoder")
        f = autoencoder.header["scale_factor"] if scale_factor is None else scale_factor
        generator = torch.Generator().manual_seed(seed)
        attributes = shapes.random_scenes(num_scenes, generator)  # training combinations only
        means, stds = [], []
        with torch.no_grad():
            for start in range(0, num_scenes, 500):
                posterior = autoencoder.model.encode(shapes.render(attributes[start:start + 500], SCENE_SIZE, generator))
                means.append(posterior.mean)
                stds.append(posterior.std)
        mean, std = torch.cat(means), torch.cat(stds)

        def sample_batch(batch_size, generator):
            index = torch.randint(0, num_scenes, (batch_size,), generator=generator)
            z = mean[index] + std[index] * torch.randn(mean[index].shape, generator=generator)  # z ~ q(z | x)
            captions = shapes.training_captions([attributes[i] for i in index.tolist()], generator)
            return {"x0": f * z, "text": model.tokenizer(captions)}

        return sample_batch

    return data


# --- the recipes ---------------------------------------------------------------------------

# --- chapter 07: the capstone's modules, trained separately ------------------------------------
CAPSTONE_SIZE = 32  # scenes v2 at 32x32: what a CPU trains; a GPU's recipes render them at 64x64
CAPSTONE_GPU_SIZE = 64  # the `gpu` configuration (scenes64_*): 64x64 scenes, encoded to the same 8x8x8 latents
# x0_hat is clipped to this range when sampling: the scaled latents f z of 10,000 scenes reach |f z| = 9.40
# (0.01% lie beyond 6.4, 0.001% beyond 8; tests/test_capstone.py checks the bound), as chapter 04's LATENT_RANGE
CAPSTONE_LATENT_RANGE = (-12.0, 12.0)
# The capstone's text encoder (scenes_text, and scenes_text_hard with hard negatives)
CAPSTONE_TEXT_ENCODER = ContrastiveConfig(vocabulary=scenes.vocabulary(), max_length=scenes.MAX_CAPTION_WORDS + 1,
                                          text_dim=64, text_layers=3, text_heads=4, image_size=CAPSTONE_SIZE,
                                          image_width=16, image_features=256, embed_dim=128)
CAPSTONE_TEXT_TRAINING = TrainConfig(steps=3000, batch_size=128, lr=1e-3, weight_decay=0.1, warmup_steps=200,
                                     ema_decay=0.999, checkpoint_every=500, seed=0)
# scenes_text_hard: the weight of its two-way term (own caption or its contradiction; see its objective), and twice the
# steps: the relations are learned after the objects' names (at 1,000 steps an image rejects its caption with the
# relation turned round by chance, 0.47 of the time)
HARD_NEGATIVE_WEIGHT = 2.0
CAPSTONE_TEXT_HARD_TRAINING = replace(CAPSTONE_TEXT_TRAINING, steps=6000)
# The capstone's generator (scenes_latent, and scenes64_latent on the latents of 64x64 scenes): 10.8M parameters
CAPSTONE_GENERATOR = TextUNetConfig(vocabulary=scenes.vocabulary(), max_length=scenes.MAX_CAPTION_WORDS + 1,
                                    text_dim=64, text_layers=3, text_heads=4, image_channels=8, image_size=8,
                                    base_channels=96, channel_mults=(1, 2, 2), num_res_blocks=1,
                                    attention_resolutions=(8, 4), data_range=CAPSTONE_LATENT_RANGE,
                                    train_text_encoder=False)
CAPSTONE_GENERATOR_TRAINING = TrainConfig(steps=5500, batch_size=256, lr=5e-4, warmup_steps=500, ema_decay=0.999,
                                          checkpoint_every=1000, seed=0)
# How the capstone's generators sample by default (their cards): DDIM with DDPM's noise at every step (eta = 1)
# at guidance 5. Measured on scenes_latent's weights (its card), 100 prompts per split: eta = 1 got the whole prompt right
# for 0.81 / 0.19 / 0.30 of them, the deterministic eta = 0 for 0.46 / 0.09 / 0.12 (its card's sampler_sweep)
CAPSTONE_SAMPLING = {"guidance_scale": 5.0, "eta": 1.0}


def contrastive_objective(model, batch, generator):
    """CLIP's loss on a batch of caption-image pairs (``nn.contrastive``); repeated captions are shared matches."""
    return contrastive_loss(model(batch["images"], batch["text"]), batch["text"])


def contrastive_objective_with_contradictions(model, batch, generator):
    """CLIP's loss where each image must also reject its own caption with
    one claim made false (``data.scenes.contradiction``): hard negatives,
    as in NegCLIP. Random captions in a batch almost never differ from the
    right one only in a relation, so plain CLIP has no reason to learn
    relations. One wrong caption among B + 1 choices weighs little in
    CLIP's loss, so the two-way choice, own caption or its contradiction,
    is added on its own."""
    images = model.encode_image(batch["images"])
    captions = model.encode_text(batch["text"])
    wrong = model.encode_text(batch["contradiction"])
    logits = model.scale() * images @ captions.T  # (B, B), as CLIP
    # image i against its wrong caption; where none could be made
    # (contradicts is False), a logit that is never chosen
    made = batch["contradicts"]
    negatives = model.scale() * (images * wrong).sum(-1)
    negatives = torch.where(made, negatives, -1e4)
    clip = contrastive_loss(logits, batch["text"], negatives[:, None])
    # -log p(own | own, wrong) = softplus(wrong - own), images with one
    two_way = F.softplus(negatives - logits.diagonal())[made]
    two_way = HARD_NEGATIVE_WEIGHT * two_way.sum() / made.sum().clamp(min=1)
    return clip + two_way


def scene_pairs_with_contradictions(model, seed):
    """``scene_pairs`` and, for each image, its caption with one claim made false."""
    return scenes.pairs_batches(model.tokenizer, model.config.image_size, contradictions=True)


def scene_reading_loss(model, batch, generator):
    """The judge's loss, cell by cell (``nn.SceneReader``): is an object's centre here (binary cross-entropy
    over every cell), which shape, colour and size (cross-entropy, cells with a centre only: the others are
    ABSENT), and where in the cell (squared error, same cells; in cells, weighted 10)."""
    parts = model.split(model(batch["images"]))
    here = batch["present"]
    loss = F.binary_cross_entropy_with_logits(parts["present"], here)
    for name in scenes.ATTRIBUTES:
        loss = loss + F.cross_entropy(parts[name], batch[name])
    error = ((parts["offset"] - batch["offset"]) ** 2).sum(1)  # (B, G, G)
    return loss + 10 * (error * here).sum() / here.sum().clamp(min=1)


def scene_pairs(model, seed):
    """Fresh training scenes, each with one phrasing of its caption (held-out combinations never appear)."""
    return scenes.pairs_batches(model.tokenizer, model.config.image_size)


def labelled_scenes_v2(model, seed):
    """Fresh scenes of every combination, held-out ones included: the judge must read them all."""
    return scenes.labelled_batches(model.config.image_size)


def scene_images(model, seed):
    """Fresh scenes of every combination, images only (the autoencoder never sees a caption)."""
    return scenes.image_batches(model.config.image_size)


def measure_scene_scale_factor(model, num_images: int = 2000, seed: int = 0) -> dict:
    images, _, _ = scenes.make_scenes(num_images, model.config.image_size, seed=seed, heldout=None)
    return {"scale_factor": latent_scale_factor(model, images, torch.Generator().manual_seed(seed))}


def contrastive_text_encoder_and_autoencoder(text_recipe: str, autoencoder_recipe: str, text_file=None,
                                             autoencoder_file=None) -> Callable:
    """The capstone generator's modules trained elsewhere: the contrastive text encoder (copied in and frozen)
    and the autoencoder whose latents it learns, both named with fingerprints in ``requires``. They are the
    shipped checkpoints of the two recipes, or the files given (a reader's own, trained with ``on_folder``)."""
    def prepare(model) -> dict:
        from . import pretrained
        from .checkpoints import requirement

        text_model = pretrained.load_file(text_file) if text_file else pretrained.load(text_recipe)
        autoencoder = pretrained.load_file(autoencoder_file) if autoencoder_file else pretrained.load(autoencoder_recipe)
        if model.tokenizer.tokens != text_model.model.tokenizer.tokens:
            raise ValueError(f"the text encoder in {text_model.path} was trained with another vocabulary than this "
                             "model's: build the generator with the same vocabulary (data.scenes.vocabulary(), or "
                             "the same captioned folder)")
        model.text_encoder.load_state_dict(text_model.model.text_encoder.state_dict())
        return {"requires": [requirement(text_recipe, text_model.header),
                             requirement(autoencoder_recipe, autoencoder.header)],
                "scale_factor": autoencoder.header["scale_factor"]}

    return prepare


def encoded_to_latents(autoencoder, scale_factor: float) -> Callable:
    """``finish`` for ``OnTheFly`` data: {"images", "text"} -> {"x0": f z with z ~ q(z | x), "text"}, the images
    encoded on the training device (the autoencoder moves there with the first batch)."""
    def finish(batch, generator):
        images = batch["images"]
        if next(autoencoder.parameters()).device != images.device:
            autoencoder.to(images.device)
        with torch.no_grad():
            z = autoencoder.encode(images).sample(generator)
        return {"x0": scale_factor * z, "text": batch["text"]}

    return finish


def scene_latents_on_the_fly(autoencoder_recipe: str, drop_caption: float = 0.1) -> Callable:
    """Fresh training scenes (v2) at every batch, as ``OnTheFly`` data: ``draw`` (on the CPU, in worker processes when
    the trainer has ``data_workers``) picks scenes and captions and spells the captions as token ids, a share
    ``drop_caption`` of them empty (for classifier-free guidance); ``finish`` (on the training device) renders the
    scenes there and encodes the images: {"x0": f z with z ~ q(z | x), "text": token ids}. No held-out combination
    ever appears. Rendering is most of the data's cost (a batch of 256 scenes on one core of a 2-core Xeon: drawn and
    captioned in 0.03 s, rendered at 64x64 in 0.48 s), and on a GPU it is a few hundred batched tensor operations."""
    def data(model, seed):
        from . import pretrained

        autoencoder = pretrained.load(autoencoder_recipe)
        size = autoencoder.model.config.image_size
        to_latents = encoded_to_latents(autoencoder.model, autoencoder.header["scale_factor"])

        def draw(batch_size, generator):
            rng = scenes._rng_from(generator)
            chosen = scenes.random_scenes(batch_size, rng, heldout=False)
            return {"scenes": chosen, "text": model.tokenizer(scenes.training_captions(chosen, rng, drop_caption))}

        def finish(batch, generator):
            images = scenes.render(batch["scenes"], size, device=batch["text"].device)
            return to_latents({"images": images, "text": batch["text"]}, generator)

        return OnTheFly(draw, finish)

    return data


# each capstone generator and the recipes of the two modules it is built on (text encoder, autoencoder)
CAPSTONE_PARTS = {"scenes_latent": ("scenes_text", "scenes_autoencoder"),
                  "scenes64_latent": ("scenes_text_hard", "scenes64_autoencoder")}  # reads relations better

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
    "digits_vae": Recipe(
        name="digits_vae",
        description="16x16 digits, a VAE (chapter 06): the baseline the diffusion model is compared with",
        model_config=VAEConfig(image_channels=1, image_size=16, latent_dim=16, base_channels=32),
        data=train_digits, loss=vae_loss, evaluate=evaluation.report_digits_vae,
        train_config=TrainConfig(steps=6000, batch_size=64, lr=1e-3, warmup_steps=200, ema_decay=0.999,
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
    "shapes32_classifier": Recipe(
        name="shapes32_classifier",
        description="CNN that reads shape, colour, size and position back from a 32x32 scene (chapter 04's judge)",
        model_config=ClassifierConfig(image_channels=3, image_size=SCENE_SIZE, num_classes=shapes.NUM_ATTRIBUTE_VALUES,
                                      pool="flatten"),
        data=labelled_scenes, loss=attributes_loss, evaluate=evaluation.report_shapes_classifier,
        train_config=TrainConfig(steps=2000, batch_size=64, lr=1e-3, weight_decay=1e-4, warmup_steps=100,
                                 ema_decay=0.99, checkpoint_every=500, seed=0),
    ),
    "shapes_autoencoder": Recipe(
        name="shapes_autoencoder",
        description="KL autoencoder, 32x32x3 scenes <-> 8x8x4 latents, no text (chapter 04's latent decoder)",
        model_config=AutoencoderConfig(image_channels=3, image_size=SCENE_SIZE, latent_channels=4, base_channels=32,
                                       channel_mults=(1, 2, 2), num_res_blocks=1),
        data=scenes_for_autoencoder, loss=autoencoder_loss, measure=measure_scale_factor,
        evaluate=evaluation.report_autoencoder,
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
        data=scene_latents(), loss=denoising(COSINE), schedule=COSINE, prepare=frozen_text_encoder_and_autoencoder,
        evaluate=evaluation.report_latent_route,
        train_config=TrainConfig(steps=6000, batch_size=64, lr=5e-4, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "scenes_judge": Recipe(
        name="scenes_judge",
        description="finds every object of a 32x32 scene (v2) in an 8x8 grid of cells: shape, colour, size, centre "
                    "(chapter 07's judge)",
        model_config=SceneReaderConfig(image_size=CAPSTONE_SIZE, grid=scenes.GRID, width=32),
        data=labelled_scenes_v2, loss=scene_reading_loss, evaluate=evaluation.report_scenes_judge,
        train_config=TrainConfig(steps=4000, batch_size=64, lr=1e-3, warmup_steps=100, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "scenes_text": Recipe(
        name="scenes_text",
        description="text encoder trained alone, contrastively against an image encoder on captioned 32x32 scenes "
                    "(CLIP-style; chapter 07's first module)",
        model_config=CAPSTONE_TEXT_ENCODER,
        data=scene_pairs, loss=contrastive_objective, evaluate=evaluation.report_scenes_text,
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
        evaluate=evaluation.report_scenes_text,
        train_config=CAPSTONE_TEXT_HARD_TRAINING,
    ),
    "scenes_autoencoder": Recipe(
        name="scenes_autoencoder",
        description="KL autoencoder, 32x32x3 scenes (v2) <-> 8x8x8 latents, no text (chapter 07's second module)",
        model_config=AutoencoderConfig(image_channels=3, image_size=CAPSTONE_SIZE, latent_channels=8,
                                       base_channels=32, channel_mults=(1, 2, 2), num_res_blocks=1),
        data=scene_images, loss=autoencoder_loss, measure=measure_scene_scale_factor,
        evaluate=evaluation.report_scenes_autoencoder,
        train_config=TrainConfig(steps=4000, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "scenes_latent": Recipe(
        name="scenes_latent",
        description="text-to-image capstone (chapter 07): cross-attention U-Net on the 8x8x8 latents of 32x32 scenes "
                    "(v2), the contrastive text encoder frozen, 10% empty captions for classifier-free guidance",
        model_config=CAPSTONE_GENERATOR,
        data=scene_latents_on_the_fly("scenes_autoencoder"), loss=denoising(COSINE), schedule=COSINE,
        prepare=contrastive_text_encoder_and_autoencoder(*CAPSTONE_PARTS["scenes_latent"]),
        evaluate=evaluation.report_scenes,
        sampling=CAPSTONE_SAMPLING,
        # its card's run: 5500 steps on one H200 (440 s, bf16); 2.7 s a step on a 2-core Intel Xeon (4 hours). The
        # card ships; the weights no longer do (scenes64_latent beats them on every split; see the card)
        train_config=CAPSTONE_GENERATOR_TRAINING,
    ),
    # The `gpu` configuration: scenes at 64x64. One more level in the autoencoder brings them to the same 8x8x8
    # latents, so the generator (and its cost per step) is the 32x32 one; the judge and the contrastive image
    # encoder read 32x32, and evaluation averages 64x64 images over 2x2 blocks for them.
    "scenes64_autoencoder": Recipe(
        name="scenes64_autoencoder",
        description="KL autoencoder, 64x64x3 scenes (v2) <-> 8x8x8 latents, no text (chapter 07's module 2 in the "
                    "`gpu` configuration: scenes_autoencoder with one more level)",
        model_config=AutoencoderConfig(image_channels=3, image_size=CAPSTONE_GPU_SIZE, latent_channels=8,
                                       base_channels=32, channel_mults=(1, 2, 2, 2), num_res_blocks=1),
        data=scene_images, loss=autoencoder_loss, measure=measure_scene_scale_factor,
        evaluate=evaluation.report_scenes_autoencoder,
        train_config=TrainConfig(steps=4000, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "scenes64_latent": Recipe(
        name="scenes64_latent",
        description="text-to-image capstone at 64x64 (chapter 07, `gpu` configuration): scenes_latent's U-Net on the "
                    "8x8x8 latents of scenes64_autoencoder, reading captions through scenes_text_hard",
        model_config=CAPSTONE_GENERATOR,
        data=scene_latents_on_the_fly("scenes64_autoencoder"), loss=denoising(COSINE), schedule=COSINE,
        prepare=contrastive_text_encoder_and_autoencoder(*CAPSTONE_PARTS["scenes64_latent"]),
        evaluate=evaluation.report_scenes,
        sampling=CAPSTONE_SAMPLING,
        # the shipped weights: 4,562 steps on one H200 (bash benchmarks/capstone_on_gpu.sh), then further runs on a
        # 2-core CPU from them (train --init-from); its card's training_chunks list every run
        train_config=CAPSTONE_GENERATOR_TRAINING,
    ),
    "shapes_sr": Recipe(
        name="shapes_sr",
        description="super-resolution decoder 16x16 -> 32x32 scenes, no text, noise conditioning augmentation "
                    "(chapter 04's thumbnail route)",
        model_config=UNetConfig(image_channels=3, image_size=SCENE_SIZE, base_channels=32, channel_mults=(1, 2, 2),
                                num_res_blocks=1, attention_resolutions=(), cond_channels=3, augmentation_level=True),
        data=thumbnail_pairs(AUGMENTATION_LEVELS), loss=denoising(COSINE), schedule=COSINE,
        evaluate=evaluation.report_super_resolution,
        train_config=TrainConfig(steps=3000, batch_size=32, lr=5e-4, warmup_steps=200, ema_decay=0.999,
                                 checkpoint_every=500, seed=0),
    ),
    "shapes_cascade": Recipe(
        name="shapes_cascade",
        description="pipeline, not trained: chapter 03's 16x16 shapes model, then the shapes_sr decoder to 32x32 "
                    "(chapter 04's thumbnail route)",
        schedule=COSINE,  # its generator's, which --steps counts in
        evaluate=evaluation.report_cascade,
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


# --- a reader's own captioned folder: the capstone's recipes trained on it (chapter 07) --------------------------
FOLDER_RECIPES = ("scenes_text", "scenes_autoencoder", "scenes64_autoencoder", "scenes_latent", "scenes64_latent")


def folder_run(recipe_name: str, folder) -> Path:
    """Where ``train --recipe NAME --data FOLDER`` writes by default: runs/NAME-FOLDER."""
    return Path("runs") / f"{recipe_name}-{Path(folder).resolve().name}"


def on_folder(recipe: Recipe, folder, image_size: int | None = None, text_encoder=None, autoencoder=None) -> Recipe:
    """``recipe``, one of the capstone's (``FOLDER_RECIPES``), trained on a captioned folder (``data.captioned``)
    instead of rendered scenes; the networks and the training settings stay the recipe's.

    The vocabulary is the folder's words and the context its longest caption, so the text encoder and the
    generator trained on one folder read the same tokens. The text encoder and the autoencoder see the images at
    ``image_size`` (default: the recipe's), each cropped to its centre square and resized. The generator learns the
    latents of ``autoencoder`` and reads captions through ``text_encoder`` (frozen): two checkpoint files trained
    on the folder, by default those of their runs (``folder_run``). Scenes-only parts are dropped: the modules are
    measured on the folder's own images (``evaluation.folder_text_report``, ``folder_autoencoder_report``), and
    the generator not at all, as there is no judge for a folder's pictures.
    """
    from . import pretrained
    from .data import captioned
    from .nn.text import words_in

    if recipe.name not in FOLDER_RECIPES:
        raise ValueError(f"recipe {recipe.name!r} cannot train on a captioned folder; the capstone's recipes can: "
                         f"{', '.join(FOLDER_RECIPES)}")
    config, parts = recipe.model_config, CAPSTONE_PARTS.get(recipe.name)
    # a folder's captions follow no grammar that a rule could contradict: its generator reads the plain encoder
    parts = parts and tuple("scenes_text" if part == "scenes_text_hard" else part for part in parts)
    if parts:  # the generator: its two modules must have been trained on this folder first
        files = []
        for part, given, option in zip(parts, (text_encoder, autoencoder), ("--text-encoder", "--autoencoder")):
            path = Path(given) if given else folder_run(part, folder) / f"{part}.pt"
            if not path.is_file():
                raise FileNotFoundError(f"no {part} checkpoint at {path}: the generator learns on modules trained on "
                                        f"the same folder. Train it first (python -m ddpm_from_scratch train --recipe "
                                        f"{part} --data {folder}) or name its file with {option}")
            files.append(path)
        coder = pretrained.load_file(files[1])
        if image_size is not None and image_size != coder.model.config.image_size:
            raise ValueError(f"image_size {image_size}: the generator's images are its autoencoder's, "
                             f"{coder.model.config.image_size}x{coder.model.config.image_size} ({files[1]})")
        image_size = coder.model.config.image_size
    elif text_encoder or autoencoder:
        raise ValueError(f"recipe {recipe.name!r} is a module, not a generator: it needs no text encoder or autoencoder")
    size = image_size or config.image_size
    if isinstance(config, AutoencoderConfig) and size % 2 ** (len(config.channel_mults) - 1):
        raise ValueError(f"image_size {size}: {recipe.name} halves the image {len(config.channel_mults) - 1} times, so "
                         f"the size must be a multiple of {2 ** (len(config.channel_mults) - 1)}")
    folder_data = captioned.captioned_folder(folder, image_size=size)
    images, captions = folder_data["images"], folder_data["captions"]
    words = {"vocabulary": captioned.vocabulary_of(captions),
             "max_length": 1 + max(len(words_in(text)) for text in captions)}  # <start> + the longest caption
    described = (f"{recipe.description}; here trained on the captioned folder {folder} ({len(captions)} images at "
                 f"{size}x{size})")

    if isinstance(config, ContrastiveConfig):  # module 1: the text encoder, against an image encoder
        return replace(recipe, description=described, model_config=replace(config, image_size=size, **words),
                       data=lambda model, seed: captioned.folder_batches(folder_data, model.tokenizer),
                       evaluate=evaluation.folder_text_report(folder_data))
    if isinstance(config, AutoencoderConfig):  # module 2: images only
        def scale_factor(model) -> dict:
            return {"scale_factor": latent_scale_factor(model, images[:2000], torch.Generator().manual_seed(0))}

        return replace(recipe, description=described, model_config=replace(config, image_size=size),
                       data=lambda model, seed: captioned.folder_batches(folder_data), measure=scale_factor,
                       evaluate=evaluation.folder_autoencoder_report(folder_data))
    channels, latent_size, _ = coder.model.latent_shape  # module 3: the generator, on the autoencoder's latents

    def latents(model, seed):
        return OnTheFly(captioned.folder_batches(folder_data, model.tokenizer, drop_caption=0.1),
                        encoded_to_latents(coder.model, coder.header["scale_factor"]))

    return replace(recipe, description=described, evaluate=None, data=latents,
                   model_config=replace(config, image_channels=channels, image_size=latent_size, **words),
                   prepare=contrastive_text_encoder_and_autoencoder(*parts, *files))


def build_model(recipe: Recipe, seed: int | None = None):
    """The recipe's untrained model; its initial weights are fixed by ``seed`` (default: the recipe's)."""
    torch.manual_seed(recipe.train_config.seed if seed is None else seed)
    return model_for_config(recipe.model_config)


def make_trainer(recipe: Recipe, checkpoint_path=None, resume: bool = False, device=None,
                 steps: int | None = None, data=None, micro_batches: int | None = None,
                 data_workers: int | None = None, compile: bool = False, seed: int | None = None,
                 init_from=None) -> Trainer:
    """A Trainer set up exactly as the recipe says (``steps``, ``micro_batches``, ``data_workers`` and ``seed``
    override the recipe's; ``compile`` runs the network through ``torch.compile``). ``init_from``, a checkpoint
    file of the same recipe, starts the run from its weights instead of random ones (``initialise_from``).

    Everything random is seeded here from the recipe's seed, in this order: the model's
    initial weights, the training data (when the recipe draws it), then the trainer's own
    generator (batches, steps t, noise) and the global RNG (dropout).
    """
    if recipe.model_config is None:
        raise ValueError(f"recipe {recipe.name!r} is a pipeline of shipped models ({recipe.description}); "
                         "there is nothing to train")
    config = recipe.train_config if steps is None else replace(recipe.train_config, steps=steps)
    if micro_batches is not None:
        config = replace(config, micro_batches=micro_batches)
    if data_workers is not None:
        config = replace(config, data_workers=data_workers)
    if seed is not None:
        config = replace(config, seed=seed)
    if config.steps < 0:
        raise ValueError(f"steps must be 0 or more, got {config.steps}")
    model = build_model(recipe, config.seed)
    prepared = recipe.prepare(model) if recipe.prepare else {}
    metadata = {"recipe": recipe.name}
    if init_from is not None:
        metadata["initialised_from"] = initialise_from(model, init_from, prepared.get("requires", []))
    return Trainer(model, recipe.loss, recipe.data(model, config.seed) if data is None else data, config,
                   checkpoint_path=checkpoint_path, resume=resume, device=device, compile=compile,
                   header=describe(model, recipe.schedule, metadata=metadata, **prepared))


def initialise_from(model, path, requires=()) -> dict:
    """Copy the weights of the checkpoint at ``path`` (exported or a training checkpoint: its EMA weights; float16
    files load as float32) into ``model``, and say where they came from. This starts a new run from an earlier
    one's weights: the optimiser's moments, the learning-rate warm-up and the data stream start afresh, so it is
    not the run continued (``resume`` is), and a recipe's card then names the file it started from. The
    checkpoint must hold the same model, trained with the same modules (``requires``)."""
    from .checkpoints import check_same_model, load_checkpoint

    path = Path(path)
    payload = load_checkpoint(path)
    check_same_model(payload, model, path)
    wanted = {r["name"]: r["fingerprint"] for r in requires}
    saved = {r["name"]: r["fingerprint"] for r in payload.get("requires", [])}
    if saved != wanted:
        raise ValueError(f"{path} was trained with other modules ({saved or 'none'}) than this run reads "
                         f"({wanted or 'none'}): its weights would mean something else here. Start from a checkpoint "
                         "trained with the same text encoder and autoencoder")
    model.load_state_dict(payload["ema"] if "ema" in payload else payload["model"])
    card = read_card(path)  # its card, when it has one: how it was trained
    return {"file": path.name, "fingerprint": payload["fingerprint"], "steps": payload.get("step"),
            **{key: card.get(key) for key in ("command", "hardware", "wall_time_s")},
            "earlier": payload.get("metadata", {}).get("initialised_from")}


def steps_in_all(metadata: dict, steps: int) -> int:
    """The training steps behind a model: ``steps`` of its own run and those of each run it was initialised from."""
    started = metadata.get("initialised_from")
    while started:
        steps += started["steps"] or 0
        started = started.get("earlier")
    return steps
