"""Evaluate the book's models with the book's own measures (chapters 02-07; ``cli evaluate``).

``evaluate_*`` take a model and say everything in their arguments; the ``report_*``
functions are the recipes' evaluators behind ``evaluate --recipe NAME``: each takes a
loaded checkpoint (``pretrained.Pretrained``) and the command line's options by name.
"""

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import diffusion
from .metrics import (bits_per_dim, bits_per_dim_importance, class_entropy_bits, embed_images, fid_and_floor,
                      fid_from_features, fid_infinity, kid, quantize_to_8bit, recognisable_fraction,
                      vae_bits_per_dim)
from .nn import channels_last_copy


def generate(model, schedule, num_samples: int, sampler: str = "ddim", steps: int | None = 100,
             seed: int = 0, batch_size: int = 250, clip_x0: bool | None = None, progress: bool = False,
             eta: float = 0.0, channels_last: bool = True) -> torch.Tensor:
    """``num_samples`` samples from ``model`` (each of ``model.sample_shape``), in batches, on the CPU;
    one seed fixes them all. Images come back clamped to the model's ``data_range``.

    ``clip_x0`` (default: when the model has a data range) keeps the predicted clean image in
    [-1, 1] at every step. DDIM needs it with the cosine schedule: its last alpha_bar is ~2e-9,
    so x0_hat = (x_t - sqrt(1 - abar) eps) / sqrt(abar) magnifies any error in eps by ~2e4 on
    the first step. ``eta`` is DDIM's noise level (0: deterministic; 1: as much fresh noise
    per step as DDPM). ``channels_last``: sample with a copy of the model in that layout (faster,
    the same samples up to float rounding; ``nn.channels_last_copy``).
    """
    generator = torch.Generator().manual_seed(seed)
    model = channels_last_copy(model) if channels_last else model
    batches = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        batches.append(diffusion.sample(model, schedule, n, sampler=sampler, steps=steps, generator=generator,
                                        eta=eta, clip_x0=clip_x0, progress=progress).cpu())
    samples = torch.cat(batches)
    return samples.clamp(*model.data_range) if getattr(model, "data_range", None) is not None else samples


def evaluate_digits(model, schedule, num_samples: int = 1000, sampler: str = "ddim", steps: int | None = 100,
                    seed: int = 0, classifier=None, threshold: float = 0.9, clip_x0: bool | None = None,
                    bpd_images: int = 0, bpd_steps: int | None = 50, progress: bool = False,
                    eta: float = 0.0) -> dict:
    """Measure generated digits against the 1,000 held-out real (test) digits.

    - recognisable fraction (chapter 02): the classifier (default: the shipped
      ``digits_classifier``, trained on the train split only) is >= ``threshold`` sure of a digit;
    - FID (chapter 05) on the classifier's embeddings, at matched sample sizes
      (``metrics.fid_and_floor``): the test digits are split (seed ``seed``) into two disjoint
      halves A and B of m = min(1000, num_samples) // 2 digits; ``fid_real_floor`` = FID(A, B),
      and ``fid`` averages FID(G1, B) and FID(G2, A) over two halves G1, G2 of m generated
      digits, so that both compare m images with m images (``fid_num_images`` = m). The floor
      uses held-out digits only: the classifier was trained on the train split, and train
      digits would sit unusually well in its embedding, raising the floor;
    - ``fid_infinity``: FID extrapolated to infinitely many images (``metrics.fid_infinity``,
      generated vs test digits), and ``fid_real_floor_infinity`` the same for the two halves A, B
      (about 0): FID at one finite size carries a model-dependent bias that can reorder models;
    - KID on the same embeddings, all generated vs all test digits (KID is unbiased at any size);
    - ``bpd_images > 0``: bits/dim of the variational bound on that many test digits drawn at random
      (seed ``seed``), estimated without bias from ``bpd_steps`` importance-sampled steps per image
      (``metrics.bits_per_dim_importance``), or with every step when ``bpd_steps`` is None.
    """
    from .data import load_digits

    classifier = _load_judge("digits_classifier", classifier)
    real_images, real_labels = load_digits("test", image_size=model.sample_shape[-1])
    start = time.perf_counter()
    if sampler == "ddpm":
        steps = None
    images = generate(model, schedule, num_samples, sampler, steps, seed, clip_x0=clip_x0, progress=progress, eta=eta)
    sample_time = time.perf_counter() - start
    distances, recognition = _digit_sample_metrics(images, classifier, real_images, real_labels, threshold, seed)
    likelihood = {}
    if bpd_images:
        start = time.perf_counter()
        x0 = _likelihood_digits(real_images, bpd_images, seed).to(next(model.parameters()).device)
        generator = torch.Generator().manual_seed(seed)
        bpd = (bits_per_dim(model, schedule, x0, generator=generator, progress=progress) if bpd_steps is None else
               bits_per_dim_importance(model, schedule, x0, steps_per_image=bpd_steps, generator=generator,
                                       pilot_images=min(8, len(x0)), progress=progress))
        likelihood = {"bits_per_dim": round(float(bpd["total"]), 4),
                      "bits_per_dim_std_error": round(float(bpd["std_error"]), 4),
                      "bits_per_dim_images": len(x0), "bits_per_dim_estimate":
                          "all steps" if bpd_steps is None else f"{bpd_steps} importance-sampled steps per image",
                      "bits_per_dim_time_s": round(time.perf_counter() - start, 1)}
    return distances | likelihood | recognition | {
        "num_samples": num_samples,
        "sampler": sampler,
        "sampling_steps": len(diffusion.sampler_timesteps(schedule, sampler, steps)),
        "eta": eta if sampler == "ddim" else None,
        "clip_x0": diffusion.clip_for(model, clip_x0),
        "seed": seed,
        "sampling_time_s": round(sample_time, 1),
    }


def evaluate_digits_vae(vae, num_samples: int = 1000, seed: int = 0, bpd_images: int = 1000, classifier=None,
                        threshold: float = 0.9, batch_size: int = 250) -> dict:
    """A VAE (``nn.VAE``, chapter 06) measured as :func:`evaluate_digits` measures a diffusion model, field for
    field: the same judge, FID, FID_infinity, KID and recognisable fraction of ``num_samples`` samples
    (z ~ N(0, I), decoded means; ``seed`` fixes them) against the held-out digits, and the bits/dim of
    its bound on the same ``bpd_images`` test digits, rounded to 8 bit as there.

    The bound is the negative ELBO (``metrics.vae_bits_per_dim``, one z ~ q(z | x) per image, unbiased),
    an upper bound on -log p(x) like the diffusion model's; ``bits_per_dim_reconstruction`` and
    ``bits_per_dim_kl`` are its two terms, E_q[-log p(x | z)] and KL(q(z | x) || N(0, I)).
    ``bpd_images=0`` skips it.
    """
    from .data import load_digits

    classifier = _load_judge("digits_classifier", classifier)
    real_images, real_labels = load_digits("test", image_size=vae.sample_shape[-1])
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    images = torch.cat([vae.sample(min(batch_size, num_samples - i), generator).cpu()
                        for i in range(0, num_samples, batch_size)])
    sample_time = time.perf_counter() - start
    distances, recognition = _digit_sample_metrics(images, classifier, real_images, real_labels, threshold, seed)
    likelihood = {}
    if bpd_images:
        start = time.perf_counter()
        x0 = _likelihood_digits(real_images, bpd_images, seed)
        bpd = vae_bits_per_dim(vae, x0, generator=torch.Generator().manual_seed(seed))
        likelihood = {"bits_per_dim": round(bpd["total"], 4), "bits_per_dim_std_error": round(bpd["std_error"], 4),
                      "bits_per_dim_images": len(x0),
                      "bits_per_dim_estimate": "negative ELBO, one z ~ q(z | x) per image",
                      "bits_per_dim_time_s": round(time.perf_counter() - start, 1),
                      "bits_per_dim_reconstruction": round(bpd["reconstruction"], 4),
                      "bits_per_dim_kl": round(bpd["kl"], 4)}
    return distances | likelihood | recognition | {
        "num_samples": num_samples,
        "seed": seed,
        "sampling_time_s": round(sample_time, 1),
    }


def _digit_sample_metrics(images, classifier, real_images, real_labels, threshold: float, seed: int) -> tuple:
    """The measures every digits generator gets from its samples ``images`` (N, 1, S, S), against the
    held-out ``real_images``: (distances: FID at matched sizes and its floor, FID_infinity, KID;
    recognition: recognisable fraction, classes, the judge's own accuracy). See :func:`evaluate_digits`."""
    real = recognisable_fraction(classifier, real_images, threshold)
    accuracy = (classifier.predict(real_images).argmax(1) == real_labels).float().mean().item()
    fake = recognisable_fraction(classifier, images, threshold)
    # FID and its floor at matched sizes (m vs m, halves of the test digits); KID: generated vs test
    test_features = embed_images(classifier, real_images)
    fake_features = embed_images(classifier, images)
    matched = fid_and_floor(test_features, fake_features, seed=seed)
    kid_mean, kid_se = kid(test_features, fake_features, subset_size=min(500, len(images)), seed=seed)
    distances = {
        "fid": round(matched["fid"], 4),
        "fid_real_floor": round(matched["floor"], 4),
        "fid_num_images": matched["num_images"],
        "fid_infinity": round(fid_infinity(test_features, fake_features, seed=seed)["fid_infinity"], 4),
        "fid_real_floor_infinity": round(fid_infinity(*_halves(test_features, seed), seed=seed)["fid_infinity"], 4),
        "kid": round(kid_mean, 5),
        "kid_std_error": round(kid_se, 5),
    }
    recognition = {
        "recognisable_fraction": round(fake["fraction"], 4),
        "real_recognisable_fraction": round(real["fraction"], 4),
        "ratio_to_real": round(fake["fraction"] / real["fraction"], 4),
        "threshold": threshold,
        "class_counts": fake["class_counts"],
        "class_entropy_bits": round(class_entropy_bits(fake["class_counts"]), 3),
        "classifier_test_accuracy": round(accuracy, 4),
    }
    return distances, recognition


def _likelihood_digits(real_images, num_images: int, seed: int) -> torch.Tensor:
    """``num_images`` test digits drawn at random (seed ``seed``) for bits/dim, rounded back onto 256 grey levels
    (the resized digits sit between them; bits/dim are probabilities of 8-bit data)."""
    pick = torch.randperm(len(real_images), generator=torch.Generator().manual_seed(seed))[:num_images]
    return quantize_to_8bit(real_images[pick])


def _halves(features, seed: int):
    """Two disjoint random halves of a set of embeddings (the floor's two real sets)."""
    order = np.random.default_rng(seed).permutation(len(features))
    half = len(features) // 2
    return features[order[:half]], features[order[half:2 * half]]


def evaluate_digits_classifier(classifier, threshold: float = 0.9, seed: int = 0) -> dict:
    """The judge judged: accuracy on the 1,000 held-out digits, and how much pure noise it wrongly accepts."""
    from .data import load_digits

    images, labels = load_digits("test", image_size=classifier.config.image_size)
    noise = torch.randn((1000, *images.shape[1:]), generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)
    return {
        "test_accuracy": round((classifier.predict(images).argmax(1) == labels).float().mean().item(), 4),
        "test_recognisable_fraction": round(recognisable_fraction(classifier, images, threshold)["fraction"], 4),
        "pure_noise_recognisable_fraction": round(recognisable_fraction(classifier, noise, threshold)["fraction"], 4),
        "threshold": threshold,
        "test_images": len(labels),
    }


def evaluate_shapes(model, schedule, classifier=None, num_samples: int = 500, guidance_scale: float = 3.0,
                    compare_scales=(1.0,), sampler: str = "ddim", steps: int | None = 50, seed: int = 0,
                    progress: bool = False) -> dict:
    """Prompt agreement of a text-to-image model on the captioned scenes (chapter 03).

    ``num_samples`` prompts of *seen* attribute combinations and as many of the *held-out*
    ones (never in training), each phrased at random; one image per prompt; the attribute
    classifier (default: the shipped ``shapes_classifier``) reads the attributes back.
    Reports the agreement at ``guidance_scale`` and at each of ``compare_scales``, and the
    classifier's own accuracy on as many real scenes.
    """
    import random

    from .data import shapes
    from .metrics import prompt_agreement
    from .pipeline import text_to_image

    if classifier is None:
        from . import pretrained

        classifier = pretrained.load("shapes_classifier").model
    generator, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    prompts = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        attributes = shapes.random_scenes(num_samples, generator, heldout=heldout)
        prompts[split] = (attributes, [shapes.caption(a, rng) for a in attributes])
    results = {}
    for scale in dict.fromkeys([guidance_scale, *compare_scales]):  # the main scale first, no repeats
        start = time.perf_counter()
        for split, (attributes, captions) in prompts.items():
            images = text_to_image(model, schedule, captions, scale, sampler, steps, seed, progress=progress)
            agreement = prompt_agreement(classifier, images, shapes.attribute_labels(attributes), shapes.ATTRIBUTES)
            suffix = "" if scale == guidance_scale else f"_at_guidance_{scale:g}"
            results[f"attribute_accuracy_{split}{suffix}"] = round(agreement["agreement"], 4)
            results[f"per_attribute_{split}{suffix}"] = {k: round(v, 4) for k, v in agreement["per_attribute"].items()}
        results[f"sampling_time_s{'' if scale == guidance_scale else f'_at_guidance_{scale:g}'}"] = round(
            time.perf_counter() - start, 1)
    real = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        images, _, attributes = shapes.make_scenes(num_samples, model.sample_shape[-1], seed=seed + 1, heldout=heldout)
        real[split] = prompt_agreement(classifier, images, shapes.attribute_labels(attributes), shapes.ATTRIBUTES)
    return results | {
        "guidance_scale": guidance_scale,
        "classifier_accuracy_real_seen": round(real["seen"]["agreement"], 4),
        "classifier_accuracy_real_heldout": round(real["heldout"]["agreement"], 4),
        "num_samples": num_samples,
        "sampler": sampler,
        "sampling_steps": len(diffusion.sampler_timesteps(schedule, sampler, steps)),
        "seed": seed,
        "heldout_pairs": [" ".join(pair) for pair in shapes.HELDOUT_PAIRS],
    }


def evaluate_shapes_classifier(classifier, num_scenes: int = 2000, seed: int = 1) -> dict:
    """The judge judged: how often it reads all four attributes of fresh real scenes right."""
    from .data import shapes
    from .metrics import prompt_agreement

    results = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        images, _, attributes = shapes.make_scenes(num_scenes, classifier.config.image_size, seed=seed, heldout=heldout)
        # real scenes: the judge's own accuracy
        accuracy = prompt_agreement(classifier, images, shapes.attribute_labels(attributes), shapes.ATTRIBUTES)
        results[f"accuracy_{split}"] = round(accuracy["agreement"], 4)
        results[f"per_attribute_{split}"] = {k: round(v, 4) for k, v in accuracy["per_attribute"].items()}
    return results | {"scenes_per_split": num_scenes, "seed": seed}


# ------------------------------------------------------------------------------------
# The recipes' evaluators (``evaluate --recipe NAME``): a loaded checkpoint and options by name
# ------------------------------------------------------------------------------------
def report_digits(loaded, num_samples: int = 1000, sampler: str = "ddim", steps: int = 100, eta: float = 0.0,
                  seed: int = 0, bpd_images: int = 0, bpd_steps: int = 50, progress: bool = False) -> dict:
    """Generated digits against the held-out digits (``evaluate_digits``); ``bpd_steps=0``: every step."""
    return evaluate_digits(loaded.model, loaded.schedule, num_samples=num_samples, sampler=sampler, steps=steps,
                           seed=seed, bpd_images=bpd_images, bpd_steps=bpd_steps or None, progress=progress, eta=eta)


def report_digits_vae(loaded, num_samples: int = 1000, seed: int = 0, bpd_images: int = 1000) -> dict:
    """A VAE's samples against the held-out digits, and its negative ELBO in bits/dim (``evaluate_digits_vae``)."""
    return evaluate_digits_vae(loaded.model, num_samples=num_samples, seed=seed, bpd_images=bpd_images)


def report_digits_classifier(loaded, seed: int = 0) -> dict:
    return evaluate_digits_classifier(loaded.model, seed=seed)


def report_shapes(loaded, num_samples: int = 500, guidance_scale: float | None = None, sampler: str = "ddim",
                  steps: int = 50, seed: int = 0, progress: bool = False) -> dict:
    """Prompt agreement at the card's guidance scale (or ``guidance_scale``), and at 1 for comparison."""
    scale = guidance_scale if guidance_scale is not None else loaded.card.get("guidance_scale", 3.0)
    return evaluate_shapes(loaded.model, loaded.schedule, num_samples=num_samples, guidance_scale=scale,
                           compare_scales=(1.0,), sampler=sampler, steps=steps, seed=seed, progress=progress)


def report_shapes_classifier(loaded, seed: int = 1) -> dict:
    return evaluate_shapes_classifier(loaded.model, seed=seed)


# ------------------------------------------------------------------------------------
# Chapter 04: decoders and routes, measured on 32x32 scenes
# ------------------------------------------------------------------------------------
def _psnr_db(images: torch.Tensor, references: torch.Tensor) -> float:
    """Peak signal-to-noise ratio over a whole set, with pixels on [0, 1]: 10 log10(1 / MSE)."""
    mse = ((images - references) / 2).pow(2).mean().item()  # [-1, 1] -> [0, 1] halves every difference
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


def at_size(images: torch.Tensor, size: int) -> torch.Tensor:
    """``images`` as a reader of ``size`` x ``size`` images sees them: larger ones (64x64 for the 32x32 judge) are
    averaged over blocks, which is what rendering them at the small size with more sample points gives."""
    factor = images.shape[-1] // size
    if images.shape[-1] != factor * size or images.shape[-2] != images.shape[-1]:
        raise ValueError(f"images of {images.shape[-2]}x{images.shape[-1]} cannot be read at {size}x{size}: "
                         f"their side must be a multiple of {size}")
    return images if factor == 1 else F.avg_pool2d(images, factor)


def _load_judge(name: str, judge):
    if judge is not None:
        return judge
    from . import pretrained

    return pretrained.load(name).model


@torch.no_grad()
def _reconstruct(autoencoder, images: torch.Tensor, seed: int) -> tuple:
    """(decoded posterior means, clamped to [-1, 1]; latents z ~ q(z | x) drawn from ``seed``), in batches of 250."""
    device = next(autoencoder.parameters()).device
    autoencoder.eval()
    posteriors = [autoencoder.encode(images[i:i + 250].to(device)) for i in range(0, len(images), 250)]
    reconstructions = torch.cat([autoencoder.decode(q.mode()).cpu() for q in posteriors]).clamp(-1, 1)
    latents = torch.cat([q.sample(torch.Generator(device).manual_seed(seed)).cpu() for q in posteriors])
    return reconstructions, latents


def evaluate_autoencoder(autoencoder, scale_factor: float, judge=None, num_images: int = 1000, seed: int = 0) -> dict:
    """Reconstructions of fresh 32x32 scenes (never in training: scenes are drawn anew from ``seed``).

    - ``psnr_db``: PSNR of the reconstructions (z = the posterior mean), pixels on [0, 1];
    - ``reconstruction_fid``: FID between the reconstructions of set A and the real set B, on the
      32x32 judge's embeddings, next to ``fid_real_floor`` = FID(A, B) of the real sets; A and B
      render the same scenes with different jitter, so the floor is what jitter alone costs;
    - ``latent_std``: the standard deviation of z ~ q(z | x) before scaling, and the checkpoint's
      ``scale_factor`` (1 / the same on the training scenes), with ``scaled_latent_std`` = f * std here.
    """
    from .data import shapes

    judge = _load_judge("shapes32_classifier", judge)
    size = autoencoder.config.image_size
    # two renderings of the same scenes (positions jittered differently): what is left between them is the floor
    scenes = shapes.random_scenes(num_images, torch.Generator().manual_seed(seed), heldout=None)
    set_a = shapes.render(scenes, size, torch.Generator().manual_seed(seed + 100))
    set_b = shapes.render(scenes, size, torch.Generator().manual_seed(seed + 200))
    reconstructions, latents = _reconstruct(autoencoder, set_a, seed)
    features_b = embed_images(judge, set_b)
    return {
        "psnr_db": round(_psnr_db(reconstructions, set_a), 2),
        "reconstruction_fid": round(fid_from_features(embed_images(judge, reconstructions), features_b), 4),
        "fid_real_floor": round(fid_from_features(embed_images(judge, set_a), features_b), 4),
        "latent_std": round(latents.std().item(), 4),
        "scale_factor": round(scale_factor, 4) if scale_factor else None,
        "scaled_latent_std": round(latents.std().item() * scale_factor, 4) if scale_factor else None,
        "latent_shape": list(autoencoder.latent_shape),
        "num_images": num_images,
        "seed": seed,
    }


def evaluate_route(route, judge=None, thumbnail_judge=None, num_samples: int = 500, guidance_scale: float | None = None,
                   steps: int = 50, seed: int = 0, progress: bool = False, sampler: str | None = None) -> dict:
    """A text-to-image route (``pipeline.TextToImage``) end to end at 32x32.

    ``num_samples`` prompts of seen and as many of held-out combinations, one image each;
    the 32x32 judge reads the attributes back (``attribute_accuracy_*``, as in ``evaluate_shapes``).
    FID on the judge's embeddings: all generated images against real scenes of the same
    attributes rendered from another seed, with ``fid_real_floor`` the FID of two such real
    renderings (same sizes). With a ``thumbnail_judge`` (16x16) and a route whose generator draws
    thumbnails, ``thumbnail_agreement`` is the fraction of images whose four attributes, read from
    the final image, are those read from its thumbnail. ``sampler`` (with ``steps``) draws the generator's part:
    the route's own when None.
    """
    import random

    from .data import shapes
    from .metrics import prompt_agreement, read_attributes

    judge = _load_judge("shapes32_classifier", judge)
    size = judge.config.image_size
    generator, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    results, generated, wanted = {}, [], []
    start = time.perf_counter()
    for split, heldout in (("seen", False), ("heldout", True)):
        attributes = shapes.random_scenes(num_samples, generator, heldout=heldout)
        captions = [shapes.caption(a, rng) for a in attributes]
        compressed = route.compressed(captions, guidance_scale, steps, seed, progress, sampler)
        images = route.decode(compressed, seed, progress)
        if images.shape[-1] != size:
            raise ValueError(f"the route draws {images.shape[-1]}x{images.shape[-1]} images; the judge reads {size}x{size}")
        agreement = prompt_agreement(judge, images, shapes.attribute_labels(attributes), shapes.ATTRIBUTES)
        results[f"attribute_accuracy_{split}"] = round(agreement["agreement"], 4)
        results[f"per_attribute_{split}"] = {k: round(v, 4) for k, v in agreement["per_attribute"].items()}
        if thumbnail_judge is not None and route.decoder is not None and compressed.shape[1] == 3:
            same = (read_attributes(thumbnail_judge, compressed, shapes.ATTRIBUTES)
                    == read_attributes(judge, images, shapes.ATTRIBUTES)).all(dim=1)
            results[f"thumbnail_agreement_{split}"] = round(same.float().mean().item(), 4)
        generated.append(images)
        wanted += attributes
    sampling_time = time.perf_counter() - start
    real_a = shapes.render(wanted, size, torch.Generator().manual_seed(seed + 100))
    real_b = shapes.render(wanted, size, torch.Generator().manual_seed(seed + 200))
    features_b = embed_images(judge, real_b)
    if "thumbnail_agreement_seen" in results:
        results["thumbnail_agreement"] = round((results["thumbnail_agreement_seen"]
                                                + results["thumbnail_agreement_heldout"]) / 2, 4)
    return results | {
        "fid": round(fid_from_features(embed_images(judge, torch.cat(generated)), features_b), 4),
        "fid_real_floor": round(fid_from_features(embed_images(judge, real_a), features_b), 4),
        "fid_num_images": len(wanted),
        "guidance_scale": route.guidance_scale if guidance_scale is None else guidance_scale,
        "num_samples": num_samples,
        "sampler": sampler or route.sampler,
        "sampling_steps": steps,
        "seed": seed,
        "sampling_time_s": round(sampling_time, 1),
    }


def time_latent_against_pixel_space(latent_model, batch_size: int = 64, num_images: int = 16, steps: int = 50,
                                    repeats: int = 5) -> dict:
    """Training-step and DDIM sampling time of ``latent_model`` against a pixel-space text U-Net of the same
    widths drawing the 32x32 image directly, measured side by side here (same batch, same thread count)."""
    from dataclasses import replace

    from .nn import TextConditionedUNet
    from .schedules import NoiseSchedule

    schedule = NoiseSchedule.cosine()
    pixel_model = TextConditionedUNet(replace(latent_model.config, image_channels=3, image_size=32,
                                              data_range=(-1.0, 1.0)))  # the same text encoder, trained or frozen alike
    models = {"latent": latent_model, "pixel": pixel_model}
    text = latent_model.tokenizer(["a small red circle in the top left"] * batch_size)
    timings = {}
    for name, model in models.items():
        model = model.cpu().train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        batch = {"x0": torch.randn(batch_size, *model.sample_shape), "text": text}
        step_times = []
        for _ in range(repeats + 1):  # the first is a warm-up
            begin = time.perf_counter()
            loss = diffusion.denoising_loss(model, schedule, batch, torch.Generator().manual_seed(0))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step_times.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        diffusion.sample(model.eval(), schedule, num_images, sampler="ddim", steps=steps, progress=False,
                         text=text[:num_images], guidance_scale=3.0, generator=torch.Generator().manual_seed(0))
        timings[name] = {"train_step_s": float(np.median(step_times[1:])), "sampling_s": time.perf_counter() - begin}
    latent_model.eval()
    return {
        "train_step_s_latent": round(timings["latent"]["train_step_s"], 4),
        "train_step_s_pixel_32": round(timings["pixel"]["train_step_s"], 4),
        "train_step_speedup": round(timings["pixel"]["train_step_s"] / timings["latent"]["train_step_s"], 2),
        f"sampling_s_latent_ddim{steps}_{num_images}_images": round(timings["latent"]["sampling_s"], 2),
        f"sampling_s_pixel_32_ddim{steps}_{num_images}_images": round(timings["pixel"]["sampling_s"], 2),
        "sampling_speedup": round(timings["pixel"]["sampling_s"] / timings["latent"]["sampling_s"], 2),
        "timing_threads": torch.get_num_threads(),
        "timing_batch_size": batch_size,
    }


def report_autoencoder(loaded, num_samples: int = 1000, seed: int = 0) -> dict:
    return evaluate_autoencoder(loaded.model, loaded.header.get("scale_factor"), num_images=num_samples, seed=seed)


def report_latent_route(loaded, num_samples: int = 500, guidance_scale: float | None = None, steps: int = 50,
                        seed: int = 0, progress: bool = False, sampler: str | None = None) -> dict:
    """The latent route end to end (``shapes_latent`` + the autoencoder it requires), and its cost."""
    from . import pipeline, pretrained

    route = pipeline.latent_route(loaded, pretrained.load("shapes_autoencoder", next(loaded.model.parameters()).device))
    results = evaluate_route(route, None, None, num_samples, guidance_scale, steps, seed, progress, sampler)
    return results | time_latent_against_pixel_space(loaded.model)


def report_cascade(loaded, num_samples: int = 500, guidance_scale: float | None = None, steps: int = 50,
                   seed: int = 0, progress: bool = False, sampler: str | None = None) -> dict:
    """The thumbnail route end to end: chapter 03's 16x16 model, then ``shapes_sr``."""
    from . import pipeline, pretrained

    route = pipeline.load("cascade")  # a pipeline recipe: its parts are the shipped checkpoints
    thumbnail_judge = pretrained.load("shapes_classifier").model
    results = evaluate_route(route, None, thumbnail_judge, num_samples, guidance_scale, steps, seed, progress, sampler)
    return results | {"augmentation_level": route.decoder.augmentation_level}


def report_super_resolution(loaded, num_samples: int = 500, seed: int = 0, progress: bool = False) -> dict:
    """The SR decoder on real thumbnails of fresh scenes: PSNR against the real 32x32 scene, with bicubic
    upsampling as the baseline, at its card's augmentation level and at level 0."""
    from .data import shapes
    from .pipeline import SuperResolution, Upsample

    images = shapes.make_scenes(num_samples, loaded.model.sample_shape[-1], seed=seed + 300, heldout=None)[0]
    thumbnails = shapes.downscale(images, images.shape[-1] // 2)
    level = SuperResolution.SAMPLING_LEVEL
    results = {"psnr_db_bicubic": round(_psnr_db(Upsample("bicubic")(thumbnails), images), 2),
               "psnr_db_bilinear": round(_psnr_db(Upsample("bilinear")(thumbnails), images), 2)}
    for name, lvl in (("", level), ("_at_level_0", 0)):
        decoder = SuperResolution(loaded.model, loaded.schedule, augmentation_level=lvl)
        results[f"psnr_db{name}"] = round(_psnr_db(decoder(thumbnails, seed=seed, progress=progress), images), 2)
    return results | {"augmentation_level": level, "num_images": num_samples, "seed": seed}


# ------------------------------------------------------------------------------------
# Chapter 07: the capstone's modules, measured on scenes v2
# ------------------------------------------------------------------------------------
def read_scenes(judge, images: torch.Tensor, truth: list) -> dict:
    """What the judge (``nn.SceneReader``) reads in ``images``, against the scenes they should show (``truth``).

    Per image, the objects read are matched to the true ones, nearest centre first. Returns fractions:
    ``objects_right`` (as many objects as in the scene, each of the right shape, colour and size, its
    centre within half a cell), ``prompt_right`` (every claim of the scene's caption holds for what was
    read: ``data.scenes.claims_hold``), per-attribute accuracy over true objects, ``count_right``, and the
    mean centre error in units of the side (matched objects).
    """
    from .data import scenes

    read = scenes.named_objects(judge.read(at_size(images, judge.config.image_size)))
    half_cell = 0.5 / judge.config.grid
    totals = {"objects_right": 0, "prompt_right": 0, "count_right": 0, **{n: 0 for n in scenes.ATTRIBUTES}}
    num_objects, centre_errors = 0, []
    for scene, found in zip(truth, read):
        left = list(found)
        every = len(found) == len(scene.objects)
        for obj in scene.objects:  # nearest unmatched reading
            num_objects += 1
            if not left:
                every = False
                continue
            nearest = min(left, key=lambda o: (o["x"] - obj.x) ** 2 + (o["y"] - obj.y) ** 2)
            left.remove(nearest)
            error = max(abs(nearest["x"] - obj.x), abs(nearest["y"] - obj.y))
            centre_errors.append(error)
            for name in scenes.ATTRIBUTES:
                totals[name] += nearest[name] == getattr(obj, name)
            every &= error <= half_cell and all(nearest[n] == getattr(obj, n) for n in scenes.ATTRIBUTES)
        totals["objects_right"] += every
        totals["count_right"] += len(found) == len(scene.objects)
        totals["prompt_right"] += scenes.claims_hold(scenes.prompt_claims(scene), found)["prompt"]
    n = len(truth)
    return {"objects_right": totals["objects_right"] / n, "prompt_right": totals["prompt_right"] / n,
            "count_right": totals["count_right"] / n,
            **{f"{name}_accuracy": totals[name] / num_objects for name in scenes.ATTRIBUTES},
            "centre_error": float(np.mean(centre_errors)) if centre_errors else float("nan")}


def evaluate_scenes_judge(judge, num_scenes: int = 1000, seed: int = 1) -> dict:
    """The judge on real scenes it never saw: seen combinations and held-out ones (the goal: >= 0.99 of
    held-out scenes read fully right)."""
    from .data import scenes

    results = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        images, _, truth = scenes.make_scenes(num_scenes, judge.config.image_size, seed=seed + heldout, heldout=heldout)
        results[split] = {k: round(v, 4) for k, v in read_scenes(judge, images, truth).items()}
    return {"objects_right_heldout": results["heldout"]["objects_right"],
            "objects_right_seen": results["seen"]["objects_right"], **results,
            "scenes_per_split": num_scenes, "seed": seed}


def _pair_alignment(model, images, text) -> dict:
    """Text -> image retrieval (top-1) among the pairs given, and the CLIP-score of the true pairs against
    mismatched ones (the same images with the captions shifted by one)."""
    from .metrics import clip_score, retrieval_top1

    return {"retrieval_top1": round(retrieval_top1(model, images, text), 4),
            "clip_score_real": round(clip_score(model, images, text), 2),
            "clip_score_mismatched": round(clip_score(model, images, text.roll(1, 0)), 2)}


def evaluate_scenes_text(model, num_pairs: int = 500, seed: int = 1) -> dict:
    """The contrastive text encoder: text -> image retrieval among ``num_pairs`` real scenes (top-1; chance
    1 / num_pairs), seen and held-out, and the CLIP-score of real pairs against mismatched ones (the same
    images with the captions shifted by one): the levels a generator's CLIP-score sits between.

    ``rejects_inverted_relation`` / ``rejects_changed_colours``: how often an image's own caption scores above the
    same caption with its relation inverted / its colours swapped or changed (``scenes.contradiction``; chance
    0.5), on ``num_pairs`` scenes with a relation and ``num_pairs`` without: does the encoder read relations and
    which object has which colour, or only which words occur?"""
    from .data import scenes

    results = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        images, captions, _ = scenes.make_scenes(num_pairs, model.config.image_size, seed=seed + heldout,
                                                 heldout=heldout)
        figures = _pair_alignment(model, images, model.tokenizer(captions))
        results |= {f"{name}_{split}": value for name, value in figures.items()}
        for name, kinds in (("inverted_relation", ("relation", "three")), ("changed_colours", ("single", "count"))):
            results[f"rejects_{name}_{split}"] = _rejects_contradictions(model, num_pairs, kinds, heldout, seed)
    return results | {"pairs_per_split": num_pairs, "chance_top1": round(1 / num_pairs, 4), "seed": seed}


@torch.no_grad()
def _rejects_contradictions(model, num_scenes: int, kinds: tuple, heldout: bool, seed: int) -> float:
    import random

    from .data import scenes

    chosen = [scenes.random_scene(random.Random(seed * 1_000_003 + i), heldout=heldout, kind=kinds[i % len(kinds)])
              for i in range(num_scenes)]
    own, wrong = scenes.captions_and_contradictions(chosen, random.Random(seed))
    keep = [i for i, w in enumerate(wrong) if w is not None]
    model.eval()
    device = next(model.parameters()).device
    images = model.encode_image(scenes.render([chosen[i] for i in keep], model.config.image_size).to(device))
    right = (images * model.encode_text(model.tokenizer([own[i] for i in keep]).to(device))).sum(-1)
    false = (images * model.encode_text(model.tokenizer([wrong[i] for i in keep]).to(device))).sum(-1)
    return round((right > false).float().mean().item(), 4)


def evaluate_scenes_autoencoder(autoencoder, scale_factor: float | None, judge=None, num_images: int = 1000,
                                seed: int = 1) -> dict:
    """Reconstructions of fresh scenes (v2): PSNR, and whether the judge still reads every object right in
    the reconstruction (``objects_right_reconstructed``) next to the same in the originals."""
    from .data import scenes

    judge = _load_judge("scenes_judge", judge)
    images, _, truth = scenes.make_scenes(num_images, autoencoder.config.image_size, seed=seed, heldout=None)
    reconstructions, latents = _reconstruct(autoencoder, images, seed)
    return {
        "psnr_db": round(_psnr_db(reconstructions, images), 2),
        "objects_right_reconstructed": round(read_scenes(judge, reconstructions, truth)["objects_right"], 4),
        "objects_right_original": round(read_scenes(judge, images, truth)["objects_right"], 4),
        "latent_std": round(latents.std().item(), 4),
        "scale_factor": round(scale_factor, 4) if scale_factor else None,
        "latent_shape": list(autoencoder.latent_shape),
        "num_images": num_images,
        "seed": seed,
    }


def report_scenes_judge(loaded, num_samples: int = 1000, seed: int = 1) -> dict:
    return evaluate_scenes_judge(loaded.model, num_scenes=num_samples, seed=seed)


def report_scenes_text(loaded, num_samples: int = 500, seed: int = 1) -> dict:
    return evaluate_scenes_text(loaded.model, num_pairs=num_samples, seed=seed)


def report_scenes_autoencoder(loaded, num_samples: int = 1000, seed: int = 1) -> dict:
    return evaluate_scenes_autoencoder(loaded.model, loaded.header.get("scale_factor"), num_images=num_samples,
                                       seed=seed)


# --- the capstone's modules trained on a reader's captioned folder (train --data) -------------------------------
def _from_folder(folder_data: dict, num: int, seed: int) -> tuple:
    """Up to ``num`` of the folder's images and their captions, picked at random from ``seed``."""
    index = torch.randperm(len(folder_data["captions"]), generator=torch.Generator().manual_seed(seed))[:num]
    return folder_data["images"][index], [folder_data["captions"][i] for i in index.tolist()]


def folder_text_report(folder_data: dict):
    """``evaluate`` for a text encoder trained on a folder: retrieval and CLIP-score as ``evaluate_scenes_text``
    measures them, on the folder's own pairs. A folder has no held-out part, so these are figures on training
    pairs: they say what the two encoders learned, not how they carry over to new pictures."""
    def report(loaded, num_samples: int = 500, seed: int = 1) -> dict:
        images, captions = _from_folder(folder_data, num_samples, seed)
        figures = _pair_alignment(loaded.model, images, loaded.model.tokenizer(captions))
        figures["retrieval_top1_training_pairs"] = figures.pop("retrieval_top1")
        return figures | {"pairs": len(captions), "chance_top1": round(1 / len(captions), 4), "seed": seed}

    return report


def folder_autoencoder_report(folder_data: dict):
    """``evaluate`` for an autoencoder trained on a folder: PSNR of its reconstructions of the folder's images (the
    training images; a folder has no held-out part) and its latents' spread."""
    def report(loaded, num_samples: int = 1000, seed: int = 1) -> dict:
        images, _ = _from_folder(folder_data, num_samples, seed)
        reconstructions, latents = _reconstruct(loaded.model, images, seed)
        scale_factor = loaded.header.get("scale_factor")
        return {"psnr_db_training_images": round(_psnr_db(reconstructions, images), 2),
                "latent_std": round(latents.std().item(), 4),
                "scale_factor": round(scale_factor, 4) if scale_factor else None,
                "latent_shape": list(loaded.model.latent_shape), "num_images": len(images), "seed": seed}

    return report


CAPSTONE_SPLITS = {"single_seen": ("single", False), "relation_seen": ("relation", False), "heldout": (None, True)}


def evaluate_scenes(route, judge=None, text_model=None, num_samples: int = 500, guidance_scale: float | None = None,
                    steps: int | None = None, seed: int = 0, progress: bool = False, eta: float | None = None,
                    sampler: str | None = None) -> dict:
    """The capstone end to end: ``num_samples`` prompts of each split (seen single objects, seen pairs with a
    relation, held-out combinations of any kind), one image each, read by the judge (``read_scenes``).

    ``agreement_<split>``: the fraction of images for which the whole prompt holds (every object, count and
    relation; ``data.scenes.claims_hold``); ``per_attribute`` and ``per_relation`` over all splits. FID on the
    contrastive image encoder's features (128 numbers per image) against real scenes of the same splits
    drawn anew, next to ``fid_real_floor`` (two real sets); ``clip_score`` of the generated images with their
    prompts next to that of real pairs (``evaluate_scenes_text`` gives the mismatched level). ``sampler``
    with ``steps``, ``guidance_scale`` and ``eta`` (DDIM's noise per step): the route's own (its card's) unless given.
    """
    from .data import scenes
    from .metrics import clip_score

    judge = _load_judge("scenes_judge", judge)
    text_model = _load_judge("scenes_text", text_model)
    if sampler is None:  # the route's own, and its number of steps unless given
        sampler, steps = route.sampler, route.steps if steps is None else steps
    size = judge.config.image_size
    results, generated, real, real_other, prompts = {}, [], [], [], []
    attribute_hits = {name: [] for name in ("count", "shape", "colour", "size")}
    relation_hits = {relation: [] for relation in scenes.RELATIONS}
    start = time.perf_counter()
    for number, (split, (kind, heldout)) in enumerate(CAPSTONE_SPLITS.items()):
        real_images, captions, truth = scenes.make_scenes(num_samples, size, seed=seed + 10 * number, heldout=heldout,
                                                          kind=kind)
        images = route(captions, guidance_scale, steps, seed + number, progress, sampler=sampler, eta=eta).cpu()
        images = at_size(images, size)  # 64 -> 32
        read = scenes.named_objects(judge.read(images))
        verdicts = [scenes.claims_hold(scenes.prompt_claims(scene), found) for scene, found in zip(truth, read)]
        results[f"agreement_{split}"] = round(float(np.mean([v["prompt"] for v in verdicts])), 4)
        for verdict, scene in zip(verdicts, truth):
            for name in attribute_hits:
                if verdict[name] is not None:
                    attribute_hits[name].append(verdict[name])
            for (_, relation, _), held in zip(scenes.prompt_claims(scene)["relations"], verdict["relations"]):
                relation_hits[relation].append(held)
        generated.append(images)
        real.append(real_images)
        real_other.append(scenes.make_scenes(num_samples, size, seed=seed + 10 * number + 5, heldout=heldout,
                                             kind=kind)[0])
        prompts += captions
    sampling_time = time.perf_counter() - start
    generated, real, real_other = torch.cat(generated), torch.cat(real), torch.cat(real_other)

    @torch.no_grad()
    def features(images):
        text_model.eval()
        device = next(text_model.parameters()).device
        return torch.cat([text_model.image_encoder(images[i:i + 500].to(device)).float().cpu()
                          for i in range(0, len(images), 500)]).numpy()

    ids = text_model.tokenizer(prompts)
    reference = features(real_other)
    return results | {
        "per_attribute": {name: round(float(np.mean(hits)), 4) for name, hits in attribute_hits.items() if hits},
        "per_relation": {name: round(float(np.mean(hits)), 4) for name, hits in relation_hits.items() if hits},
        "fid": round(fid_from_features(features(generated), reference), 4),
        "fid_real_floor": round(fid_from_features(features(real), reference), 4),
        "clip_score": round(clip_score(text_model, generated, ids), 2),
        "clip_score_real": round(clip_score(text_model, real, ids), 2),
        "guidance_scale": route.guidance_scale if guidance_scale is None else guidance_scale,
        "sampler": sampler, "eta": (route.eta if eta is None else eta) if sampler == "ddim" else None,
        "num_samples_per_split": num_samples, "seed": seed,
        "sampling_steps": len(diffusion.sampler_timesteps(route.schedule, sampler, steps)),
        "sampling_time_s": round(sampling_time, 1),
    }


def report_scenes(loaded, num_samples: int = 500, guidance_scale: float | None = None, steps: int | None = None,
                  seed: int = 0, progress: bool = False, eta: float | None = None, sampler: str | None = None) -> dict:
    """The capstone pipeline (``scenes_latent`` or ``scenes64_latent`` + the autoencoder it requires), judged end to
    end, with the retrieval figures of the text encoder the generator reads (its ``requires``). The CLIP-score-like
    figure and FID read ``scenes_text``'s encoders for every generator, so that they compare."""
    from . import pipeline, pretrained
    from .checkpoints import required

    device = next(loaded.model.parameters()).device
    route = pipeline.with_its_autoencoder(loaded, device)
    text_model = pretrained.load("scenes_text", device).model
    results = evaluate_scenes(route, None, text_model, num_samples, guidance_scale, steps, seed, progress, eta,
                              sampler)
    its_text = required(loaded.header, "text encoder")
    its_text_model = text_model if its_text == "scenes_text" else pretrained.load(its_text, device).model
    retrieval = evaluate_scenes_text(its_text_model, num_pairs=num_samples)
    return results | {"retrieval_top1": retrieval["retrieval_top1_heldout"],
                      "retrieval_top1_seen": retrieval["retrieval_top1_seen"]}
