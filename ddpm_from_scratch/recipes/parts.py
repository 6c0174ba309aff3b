"""What the recipes are made of (chapters 01-07): their objectives, their training data, the sizes and ranges the
book quotes, and the modules a latent generator is built on (loaded from their recipes' checkpoints)."""

from dataclasses import replace
from typing import Callable

import torch
import torch.nn.functional as F

from .. import diffusion
from ..data import load_digits, load_toy, scenes, shapes
from ..data.seeding import python_rng
from ..metrics import quantize_to_8bit, vae_negative_elbo
from ..nn import ContrastiveConfig, TextUNetConfig
from ..schedules import NoiseSchedule
from ..train import OnTheFly, TrainConfig


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
    from ..data.digits import NOT_A_DIGIT, make_non_digits

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
AUGMENTATION_LEVELS = 300             # thumbnails are noised to a step s ~ U{0 .. 299} of the cosine schedule
# The range sampling clips the latent generator's x0_hat to: the scaled latents f z of 2,000 training scenes
# reach |f z| = 6.67 (0.5% lie beyond 4; tests/test_decoders.py checks the bound). Latents have no fixed range
# as pixels do, but without any bound the cosine schedule's last alpha_bar (~2e-9) magnifies the noise
# predictor's errors ~2e4-fold in the first steps and sampling diverges (chapter 04 shows it).
LATENT_RANGE = (-7.0, 7.0)


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


def scene_latents(scale_factor: float | None = None, num_scenes: int = 20000) -> Callable:
    """Captioned 32x32 scenes as latents of the shipped autoencoder, scaled: {"x0": f z, "text": token ids}.

    ``num_scenes`` training scenes (drawn from the seed) are encoded once, keeping each posterior's mean and
    std; every batch then draws z ~ q(z | x) anew and a fresh caption (10% empty), which is cheap next to
    running the encoder at every step. ``scale_factor`` None: the autoencoder's measured f (what the recipe
    trains on); 1.0: unscaled latents (chapter 04's comparison)."""
    def data(model, seed):
        from .. import pretrained

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
# scenes_text_hard: twice the steps (its objective, nn.contrastive.contrastive_objective_with_contradictions, adds
# a two-way term): the relations are learned after the objects' names (at 1,000 steps an image rejects its caption
# with the relation turned round by chance, 0.47 of the time)
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


def text_encoder_and_autoencoder(text_recipe: str, autoencoder_recipe: str, text_file=None,
                                 autoencoder_file=None) -> Callable:
    """A latent generator's modules trained elsewhere: the text encoder (copied in and frozen; chapter 03's model's,
    or the capstone's contrastive one) and the autoencoder whose latents it learns, both named with fingerprints in
    the checkpoint's ``requires``. They are the shipped checkpoints of the two recipes, or the files given (a
    reader's own, trained with ``on_folder``)."""
    def prepare(model) -> dict:
        from .. import pretrained
        from ..checkpoints import requirement

        text_model = pretrained.load_file(text_file) if text_file else pretrained.load(text_recipe)
        autoencoder = pretrained.load_file(autoencoder_file) if autoencoder_file else pretrained.load(autoencoder_recipe)
        if model.tokenizer.tokens != text_model.model.tokenizer.tokens:
            raise ValueError(f"the text encoder in {text_model.path} was trained with another vocabulary than this "
                             "model's: build the generator with its text encoder's vocabulary (data.shapes.vocabulary(), "
                             "data.scenes.vocabulary(), or the same captioned folder's)")
        model.text_encoder.load_state_dict(text_model.model.text_encoder.state_dict())
        return {"requires": [requirement(text_recipe, text_model.header, "text encoder"),
                             requirement(autoencoder_recipe, autoencoder.header, "autoencoder")],
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
        from .. import pretrained

        autoencoder = pretrained.load(autoencoder_recipe)
        size = autoencoder.model.config.image_size
        to_latents = encoded_to_latents(autoencoder.model, autoencoder.header["scale_factor"])

        def draw(batch_size, generator):
            rng = python_rng(generator)  # one random.Random draws the scenes, then their captions
            chosen = scenes.random_scenes(batch_size, rng, heldout=False)
            return {"scenes": chosen, "text": model.tokenizer(scenes.training_captions(chosen, rng, drop_caption))}

        def finish(batch, generator):
            images = scenes.render(batch["scenes"], size, device=batch["text"].device)
            return to_latents({"images": images, "text": batch["text"]}, generator)

        return OnTheFly(draw, finish)

    return data
