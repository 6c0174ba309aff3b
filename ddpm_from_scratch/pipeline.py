"""Text -> image: the lecture's three modules put together (chapters 03 and 04).

A text-to-image system is three separately trained modules:

    prompt --text encoder--> embedding --generation model--> compressed image --decoder--> image

``text_to_image(model, schedule, prompts)`` runs the first two: it tokenizes the prompts with
the model's own tokenizer (the vocabulary it was trained with travels in its checkpoint), and
runs the reverse process with classifier-free guidance. The text encoder is the generator's
``text_encoder``: trained with it in chapter 03, or trained elsewhere and frozen (the latent
generator of chapter 04 uses chapter 03's). ``TextToImage`` adds the decoder, so the three
routes of chapter 04 are one class with three decoders:

- ``pixel``: the generator draws the image itself (chapter 03's 16x16 model; no decoder);
- ``cascade`` (Imagen): the generator draws a 16x16 thumbnail, a super-resolution diffusion
  model (``SuperResolution``) draws the 32x32 image around it;
- ``latent`` (Stable Diffusion): the generator draws an 8x8x4 latent, the autoencoder's decoder
  (``LatentDecoder``) turns it into the 32x32 image;
- ``scenes`` (chapter 07's capstone): the latent route again, with its three modules trained
  separately: a contrastive text encoder (frozen), the scenes autoencoder (8x8x8 latents) and a
  cross-attention generator, on scenes of one to three objects with relations and counts.

``recipes.route(name)`` builds one of the book's routes from the shipped checkpoints; each stage can be
swapped for another object with the same call (for example ``Upsample("bicubic")`` as the cascade's decoder).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import diffusion
from .diffusion import Sampling
from .nn import channels_last_copy
from .schedules import NoiseSchedule


def generate(model, schedule, num_samples: int, sampling: Sampling = Sampling(), seed: int = 0,
             batch_size: int = 250, progress: bool = False, text: torch.Tensor | None = None,
             clip_x0: bool | None = None) -> torch.Tensor:
    """``num_samples`` samples of ``model`` (each of ``model.sample_shape``) in batches of ``batch_size``, on the CPU;
    one ``seed`` fixes them all, whatever the batch size. ``sampling`` (``diffusion.Sampling``): the sampler, its
    steps, DDIM's eta and the guidance scale; the default is DDIM's 50 steps, deterministic. ``text``: caption token
    ids, one row per sample (``text_to_image`` makes them from prompts). ``clip_x0`` (default: whenever the model has
    a data range; DDIM needs it with the cosine schedule, whose last alpha_bar of ~2e-9 magnifies any error of the
    first noise prediction ~2e4-fold in x0_hat).

    Images come back clamped to the model's data range ([-1, 1]); latents and points as they are. The model
    samples in the channels-last layout, the convolutions' fastest (``nn.channels_last_copy``; the same samples
    up to float rounding).
    """
    generator = torch.Generator().manual_seed(seed)
    model = channels_last_copy(model)
    batches = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        batches.append(diffusion.sample(model, schedule, n, sampler=sampling.sampler, steps=sampling.steps,
                                        eta=sampling.eta, guidance_scale=sampling.guidance_scale, generator=generator,
                                        clip_x0=clip_x0, progress=progress,
                                        text=None if text is None else text[start:start + n]).cpu())
    samples = torch.cat(batches)
    data_range = getattr(model, "data_range", None)
    return samples.clamp(*data_range) if data_range is not None else samples


TEXT_SAMPLING = Sampling(guidance_scale=3.0)  # text_to_image's: DDIM's 50 steps, deterministic, guidance w = 3


def text_to_image(model, schedule, prompts, seed: int = 0, batch_size: int = 250, progress: bool = False,
                  **sampling) -> torch.Tensor:
    """One sample per prompt, (N, *model.sample_shape), on the CPU: ``generate`` with the prompts' tokens.
    ``sampling``: any of ``diffusion.Sampling``'s settings (``guidance_scale``, ``steps``, ``sampler``, ``eta``) to
    change from ``TEXT_SAMPLING``, e.g. ``text_to_image(model, schedule, prompts, guidance_scale=5, steps=20)``.

    An empty prompt ("") generates unconditionally (the empty caption the model was trained with);
    unknown words are named in a warning and read as ``<unk>``; over-long prompts are truncated
    with a warning (see ``nn.text.Tokenizer``).
    """
    tokens = tokenize(model, prompts)
    return generate(model, schedule, len(tokens), TEXT_SAMPLING.but(**sampling), seed, batch_size, progress, tokens)


def tokenize(model, prompts) -> torch.Tensor:
    """The token ids of ``prompts`` (one string or a list), read by the text model's own tokenizer."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise ValueError("no prompts given")
    if not hasattr(model, "tokenizer"):
        raise TypeError(f"{type(model).__name__} is not text-conditioned (no tokenizer): "
                        "load a text-to-image checkpoint such as pretrained.load('shapes')")
    return model.tokenizer(prompts)  # warns here, once per prompt, about unknown words or truncation


def _to_model(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """``x`` on the device of ``model``'s weights (and, for floating-point inputs, in their dtype): the
    pipeline's stages take inputs from anywhere (CPU tensors from a notebook, a generator on the GPU)."""
    weight = next(model.parameters())
    return x.to(device=weight.device, dtype=weight.dtype if x.is_floating_point() else x.dtype)


def _check_finite(images: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.isfinite(images).all():
        raise FloatingPointError(f"the {what} produced non-finite values (NaN or inf); the checkpoint may be "
                                 "damaged or the input far outside what it was trained on")
    return images


class LatentDecoder:
    """Scaled latents f z (B, C, h, w) -> images (B, 3, S, S) in [-1, 1]: x = D(f z / f)."""

    def __init__(self, autoencoder, scale_factor: float):
        if not scale_factor or scale_factor <= 0:
            raise ValueError(f"the scale factor must be a positive number (1 / std of the latents), got {scale_factor}")
        self.autoencoder, self.scale_factor = autoencoder.eval(), float(scale_factor)

    def expects(self) -> tuple:
        return self.autoencoder.latent_shape

    @torch.no_grad()
    def __call__(self, scaled_latents: torch.Tensor, seed: int = 0, progress: bool = False) -> torch.Tensor:
        images = torch.cat([self.autoencoder.decode(_to_model(scaled_latents[i:i + 250], self.autoencoder)
                                                    / self.scale_factor).cpu()
                            for i in range(0, len(scaled_latents), 250)])
        return _check_finite(images, "autoencoder's decoder").clamp(-1, 1)


class SuperResolution:
    """Thumbnails (B, 3, s, s) -> images (B, 3, 2s, 2s): a diffusion model conditioned on the thumbnail.

    With noise conditioning augmentation the thumbnail is first noised to ``augmentation_level``
    (a step of the schedule) and the model is told that level: it then treats the thumbnail as
    a hint rather than the truth, and the small errors of a *generated* thumbnail no longer
    pass straight into the large image.

    The reverse process starts at ``START_STEP`` from the upsampled thumbnail noised to that
    step, not from pure noise at T-1: the network predicts noise, and at the last steps of the
    cosine schedule (alpha_bar ~ 2e-9) its clean-image estimate x0_hat = (x_t - sqrt(1 - abar) eps)
    / sqrt(abar) magnifies every error ~2e4-fold, so there it cannot express the image the
    thumbnail already pins down (measured in chapter 04: from pure noise the decoder misses
    the true image by far more than bicubic upsampling does). Starting part-way from a noised
    version of a guide image is SDEdit (Meng et al. 2021).

    ``start_from`` picks the thumbnail that start is made of: ``"clean"`` (the default, with which
    the shipped cards were measured) or ``"augmented"`` (the one noised to ``augmentation_level``,
    as the network sees it). Either way the start carries the thumbnail's content, its errors
    included; at ``START_STEP`` the augmentation noise is a small part of the start's noise.
    """

    START_STEP = 800      # alpha_bar 0.093: x_t = 0.31 x_0 + 0.95 eps
    SAMPLING_LEVEL = 100  # the thumbnail's noise level at sampling: alpha_bar 0.97, noise std 0.17 (cosine)

    START_FROM = ("clean", "augmented")

    def __init__(self, model, schedule: NoiseSchedule, augmentation_level: int = SAMPLING_LEVEL, steps: int = 50,
                 start_from: str = "clean", sampler: str = "ddim"):
        if start_from not in self.START_FROM:
            raise ValueError(f"start_from must be one of {', '.join(self.START_FROM)}, got {start_from!r}")
        self.model, self.schedule, self.steps, self.start_from = model.eval(), schedule, steps, start_from
        self.sampler = sampler  # from START_STEP down: "ddim" (deterministic) or "dpm++2m"
        self.augmentation_level = augmentation_level if model.config.augmentation_level else None

    def expects(self) -> tuple:
        channels, size, _ = self.model.sample_shape
        return (channels, size // 2, size // 2)

    def __call__(self, thumbnails: torch.Tensor, seed: int = 0, progress: bool = False) -> torch.Tensor:
        if thumbnails.ndim != 4 or tuple(thumbnails.shape[1:]) != self.expects():
            raise ValueError(f"the super-resolution decoder expects thumbnails of shape (B, "
                             f"{', '.join(map(str, self.expects()))}), got {tuple(thumbnails.shape)}")
        generator = torch.Generator().manual_seed(seed)
        thumbnails = thumbnails.detach().cpu().float()  # noise is drawn on the CPU (same numbers on every device)
        clean, conditions = thumbnails, {}
        if self.augmentation_level is not None:
            level = torch.full((len(thumbnails),), self.augmentation_level, dtype=torch.long)
            thumbnails = diffusion.add_noise(self.schedule, thumbnails, level, generator=generator)
            conditions["augmentation_level"] = level
        size = self.model.sample_shape[-1]
        guide = thumbnails if self.start_from == "augmented" else clean
        upsampled = F.interpolate(guide, size=(size, size), mode="bilinear", align_corners=False)
        x_start = diffusion.add_noise(self.schedule, upsampled, self.START_STEP, generator=generator)
        images = []
        for i in range(0, len(thumbnails), 250):
            chunk = {k: _to_model(v[i:i + 250], self.model) for k, v in {"low_res": thumbnails, **conditions}.items()}
            images.append(diffusion.sample(self.model, self.schedule, len(chunk["low_res"]), sampler=self.sampler,
                                           steps=self.steps, generator=generator, progress=progress,
                                           x_start=_to_model(x_start[i:i + 250], self.model),
                                           t_start=self.START_STEP, **chunk).cpu())
        return _check_finite(torch.cat(images), "super-resolution model").clamp(-1, 1)


class Upsample:
    """The baseline decoder for thumbnails: bilinear or bicubic interpolation to ``factor`` times the size."""

    def __init__(self, mode: str = "bicubic", factor: int = 2):
        self.mode, self.factor = mode, factor

    def __call__(self, thumbnails: torch.Tensor, seed: int = 0, progress: bool = False) -> torch.Tensor:
        return F.interpolate(thumbnails, scale_factor=self.factor, mode=self.mode, align_corners=False).clamp(-1, 1)


@dataclass
class TextToImage:
    """prompt -> text encoder (inside ``generator``) -> ``generator`` -> compressed version -> ``decoder`` -> image."""

    generator: object                    # a text-conditioned noise predictor (it holds its text encoder)
    schedule: NoiseSchedule
    decoder: object | None = None        # LatentDecoder, SuperResolution, Upsample, or None (pixel space)
    sampling: Sampling = TEXT_SAMPLING   # how the generator samples; a card's own (route_from_card)

    def __post_init__(self):
        wanted = getattr(self.decoder, "expects", lambda: None)()
        if wanted is not None and tuple(wanted) != tuple(self.generator.sample_shape):
            raise ValueError(f"the decoder expects inputs of shape {tuple(wanted)}, but the generator draws "
                             f"{tuple(self.generator.sample_shape)}: they were not made for each other")

    def compressed(self, prompts, seed: int = 0, progress: bool = False, **sampling) -> torch.Tensor:
        """What the generation model draws: a thumbnail, a latent, or (pixel route) the image itself. ``sampling``:
        settings that change the route's own (``self.sampling.but(**sampling)``)."""
        tokens = tokenize(self.generator, prompts)
        return generate(self.generator, self.schedule, len(tokens), self.sampling.but(**sampling), seed,
                        progress=progress, text=tokens)

    def decode(self, compressed: torch.Tensor, seed: int = 0, progress: bool = False) -> torch.Tensor:
        return compressed if self.decoder is None else self.decoder(compressed, seed=seed, progress=progress)

    def __call__(self, prompts, seed: int = 0, progress: bool = False, **sampling) -> torch.Tensor:
        """Images (N, 3, S, S) in [-1, 1], one per prompt (``sampling`` as for ``compressed``)."""
        return self.decode(self.compressed(prompts, seed, progress, **sampling), seed, progress)


def route_from_card(generator, decoder=None) -> TextToImage:
    """A loaded text-to-image checkpoint (``pretrained.Pretrained``) and a decoder, sampled as its card says
    (its ``sampler``, ``sampling_steps``, ``eta`` and ``guidance_scale``; ``TEXT_SAMPLING``'s where it names none)."""
    card = generator.card
    return TextToImage(generator.model, generator.schedule, decoder,
                       TEXT_SAMPLING.but(sampler=card.get("sampler"), steps=card.get("sampling_steps"),
                                         eta=card.get("eta"), guidance_scale=card.get("guidance_scale")))


def latent_route(generator, autoencoder) -> TextToImage:
    """The latent route from two loaded checkpoints (``pretrained.Pretrained``), checked to belong together:
    the generator must name this autoencoder in its ``requires`` and carry its scale factor."""
    from .checkpoints import CheckpointError, check_requirement, required

    # the recipe that made the autoencoder, else (an older file) the autoencoder the generator requires
    name = autoencoder.header.get("metadata", {}).get("recipe") or required(generator.header, "autoencoder")
    check_requirement(generator.header, generator.path, name, autoencoder.header, autoencoder.path)
    if generator.header.get("scale_factor") != autoencoder.header.get("scale_factor"):
        raise CheckpointError(f"{generator.path} was trained on latents scaled by {generator.header.get('scale_factor')}, "
                              f"but {autoencoder.path} has scale factor {autoencoder.header.get('scale_factor')}: "
                              "decoding would divide by the wrong number")
    return route_from_card(generator, LatentDecoder(autoencoder.model, autoencoder.header["scale_factor"]))


def with_its_autoencoder(generator, device=None) -> TextToImage:
    """The latent route of a loaded latent generator, decoded by the shipped autoencoder its ``requires`` names
    (``scenes_autoencoder`` for ``scenes_latent``, ``scenes64_autoencoder`` for ``scenes64_latent``)."""
    from . import pretrained
    from .checkpoints import CheckpointError, required

    name = required(generator.header, "autoencoder")
    if name is None:
        raise CheckpointError(f"{generator.path} requires no autoencoder: it is not a latent generator")
    return latent_route(generator, pretrained.load(name, device))


def cascade_route(generator, super_resolution, augmentation_level: int | None = None,
                  start_from: str = "clean") -> TextToImage:
    """The thumbnail route from two loaded checkpoints (augmentation level: ``SuperResolution.SAMPLING_LEVEL``;
    ``start_from``: see ``SuperResolution``)."""
    level = SuperResolution.SAMPLING_LEVEL if augmentation_level is None else augmentation_level
    decoder = SuperResolution(super_resolution.model, super_resolution.schedule, augmentation_level=level,
                              start_from=start_from)
    return route_from_card(generator, decoder)
