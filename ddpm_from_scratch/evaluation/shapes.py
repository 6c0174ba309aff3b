"""The captioned shapes' models measured (chapters 03 and 04): prompt agreement of a text-to-image model or route as
the attribute judge reads it, FID of a route's images, the autoencoder's and the super-resolution decoder's
reconstructions, and the judges themselves. Each measure takes the judges it reads with as arguments."""

import copy
import random
import time
from dataclasses import asdict, replace

import numpy as np
import torch

from .. import diffusion
from ..data import shapes
from ..metrics import embed_images, fid_from_features, prompt_agreement, psnr_db, read_attributes
from ..nn import TextConditionedUNet
from ..pipeline import TEXT_SAMPLING, SuperResolution, Upsample, generate, tokenize
from ..schedules import NoiseSchedule
from ..train import TrainConfig, Trainer
from .common import reconstruct


def seen_and_heldout_prompts(num_samples: int, seed: int) -> dict:
    """``{"seen": (attributes, captions), "heldout": ...}``: ``num_samples`` scenes of seen attribute combinations
    and as many of held-out ones (never in training), each phrased at random; the prompts every shapes measure asks."""
    generator, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    prompts = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        attributes = shapes.random_scenes(num_samples, generator, heldout=heldout)
        prompts[split] = (attributes, [shapes.caption(a, rng) for a in attributes])
    return prompts


def evaluate_shapes(model, schedule, classifier, num_samples: int = 500, guidance_scale: float = 3.0,
                    compare_scales=(1.0,), sampler: str = "ddim", steps: int | None = None, seed: int = 0,
                    progress: bool = False) -> dict:
    """Prompt agreement of a text-to-image model on the captioned scenes (chapter 03).

    ``num_samples`` prompts of *seen* attribute combinations and as many of the *held-out*
    ones (never in training), each phrased at random; one image per prompt; the attribute
    ``classifier`` (chapter 03's judge) reads the attributes back.
    Reports the agreement at ``guidance_scale`` and at each of ``compare_scales``, and the
    classifier's own accuracy on as many real scenes. ``sampler`` with ``steps`` (None: the sampler's default).
    """
    sampling = TEXT_SAMPLING.but(sampler=sampler, steps=steps)
    prompts = seen_and_heldout_prompts(num_samples, seed)
    results = {}
    for scale in dict.fromkeys([guidance_scale, *compare_scales]):  # the main scale first, no repeats
        start = time.perf_counter()
        for split, (attributes, captions) in prompts.items():
            images = generate(model, schedule, len(captions), sampling.but(guidance_scale=scale), seed,
                              progress=progress, text=tokenize(model, captions))
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
        "sampling_steps": len(sampling.timesteps(schedule)),
        "seed": seed,
        "heldout_pairs": [" ".join(pair) for pair in shapes.HELDOUT_PAIRS],
    }


def evaluate_shapes_classifier(classifier, num_samples: int = 2000, seed: int = 1) -> dict:
    """The judge judged: how often it reads all four attributes of fresh real scenes right."""
    results = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        images, _, attributes = shapes.make_scenes(num_samples, classifier.config.image_size, seed=seed, heldout=heldout)
        # real scenes: the judge's own accuracy
        accuracy = prompt_agreement(classifier, images, shapes.attribute_labels(attributes), shapes.ATTRIBUTES)
        results[f"accuracy_{split}"] = round(accuracy["agreement"], 4)
        results[f"per_attribute_{split}"] = {k: round(v, 4) for k, v in accuracy["per_attribute"].items()}
    return results | {"scenes_per_split": num_samples, "seed": seed}


def evaluate_autoencoder(autoencoder, scale_factor: float, judge, num_samples: int = 1000, seed: int = 0) -> dict:
    """Reconstructions of fresh 32x32 scenes (never in training: scenes are drawn anew from ``seed``).

    - ``psnr_db``: PSNR of the reconstructions (z = the posterior mean), pixels on [0, 1];
    - ``reconstruction_fid``: FID between the reconstructions of set A and the real set B, on the
      embeddings of the 32x32 ``judge`` (chapter 04's attribute classifier), next to ``fid_real_floor`` =
      FID(A, B) of the real sets; A and B
      render the same scenes with different jitter, so the floor is what jitter alone costs;
    - ``latent_std``: the standard deviation of z ~ q(z | x) before scaling, and the checkpoint's
      ``scale_factor`` (1 / the same on the training scenes), with ``scaled_latent_std`` = f * std here.
    """
    size = autoencoder.config.image_size
    # two renderings of the same scenes (positions jittered differently): what is left between them is the floor
    scenes = shapes.random_scenes(num_samples, torch.Generator().manual_seed(seed), heldout=None)
    set_a = shapes.render(scenes, size, torch.Generator().manual_seed(seed + 100))
    set_b = shapes.render(scenes, size, torch.Generator().manual_seed(seed + 200))
    reconstructions, latents = reconstruct(autoencoder, set_a, seed)
    features_b = embed_images(judge, set_b)
    return {
        "psnr_db": round(psnr_db(reconstructions, set_a), 2),
        "reconstruction_fid": round(fid_from_features(embed_images(judge, reconstructions), features_b), 4),
        "fid_real_floor": round(fid_from_features(embed_images(judge, set_a), features_b), 4),
        "latent_std": round(latents.std().item(), 4),
        "scale_factor": round(scale_factor, 4) if scale_factor else None,
        "scaled_latent_std": round(latents.std().item() * scale_factor, 4) if scale_factor else None,
        "latent_shape": list(autoencoder.latent_shape),
        "num_images": num_samples,
        "seed": seed,
    }


def evaluate_route(route, judge, thumbnail_judge=None, num_samples: int = 500, guidance_scale: float | None = None,
                   steps: int | None = None, seed: int = 0, progress: bool = False, sampler: str | None = None) -> dict:
    """A text-to-image route (``pipeline.TextToImage``) end to end at 32x32.

    ``num_samples`` prompts of seen and as many of held-out combinations, one image each;
    the 32x32 ``judge`` reads the attributes back (``attribute_accuracy_*``, as in ``evaluate_shapes``).
    FID on the judge's embeddings: all generated images against real scenes of the same
    attributes rendered from another seed, with ``fid_real_floor`` the FID of two such real
    renderings (same sizes). With a ``thumbnail_judge`` (16x16) and a route whose generator draws
    thumbnails, ``thumbnail_agreement`` is the fraction of images whose four attributes, read from
    the final image, are those read from its thumbnail. ``sampler``, ``steps`` and ``guidance_scale`` change how
    the generator's part is drawn from the route's own (``route.sampling``; None keeps it). A super-resolution decoder's ``augmentation_level`` is reported with the figures.
    """
    size = judge.config.image_size
    sampling = route.sampling.but(sampler=sampler, steps=steps, guidance_scale=guidance_scale)
    results, generated, wanted = {}, [], []
    start = time.perf_counter()
    for split, (attributes, captions) in seen_and_heldout_prompts(num_samples, seed).items():
        compressed = route.compressed(captions, seed, progress, **asdict(sampling))
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
        "guidance_scale": sampling.guidance_scale,
        "num_samples": num_samples,
        "sampler": sampling.sampler,
        "sampling_steps": len(sampling.timesteps(route.schedule)),
        "seed": seed,
        "sampling_time_s": round(sampling_time, 1),
    } | ({"augmentation_level": route.decoder.augmentation_level} if hasattr(route.decoder, "augmentation_level")
         else {})


def evaluate_latent_route(route, judge, num_samples: int = 500, guidance_scale: float | None = None,
                          steps: int | None = None, seed: int = 0, progress: bool = False,
                          sampler: str | None = None) -> dict:
    """The latent route end to end (``evaluate_route``), and its cost: a training step and a sampling pass of its
    generator against a pixel-space U-Net of the same widths drawing the image itself."""
    results = evaluate_route(route, judge, num_samples=num_samples, guidance_scale=guidance_scale, steps=steps,
                             seed=seed, progress=progress, sampler=sampler)
    return results | time_latent_against_pixel_space(route.generator)


def time_latent_against_pixel_space(latent_model, batch_size: int = 64, num_images: int = 16, steps: int = 50,
                                    repeats: int = 5) -> dict:
    """Training-step and DDIM sampling time of ``latent_model`` against a pixel-space text U-Net of the same
    widths drawing the 32x32 image directly, measured side by side here (same batch, same thread count): the median
    of ``repeats`` steps of a ``train.Trainer`` after one warm-up, on copies of the two models (``latent_model``
    keeps its weights, and the caller's random stream is left as it was)."""
    schedule = NoiseSchedule.cosine()
    pixel_model = TextConditionedUNet(replace(latent_model.config, image_channels=3, image_size=32,
                                              data_range=(-1.0, 1.0)))  # the same text encoder, trained or frozen alike
    text = latent_model.tokenizer(["a small red circle in the top left"] * batch_size)
    timings = {}
    with torch.random.fork_rng(devices=[]):  # a Trainer seeds the global generator
        for name, model in {"latent": latent_model, "pixel": pixel_model}.items():
            batch = {"x0": torch.randn(batch_size, *model.sample_shape), "text": text}
            trainer = Trainer(copy.deepcopy(model), lambda m, b, g: diffusion.denoising_loss(m, schedule, b, g), batch,
                              TrainConfig(batch_size=batch_size, lr=1e-4, warmup_steps=1), device="cpu")
            step_times = []
            for _ in range(repeats + 1):  # the first is a warm-up
                begin = time.perf_counter()
                trainer.train_step()
                step_times.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            diffusion.sample(trainer.model.eval(), schedule, num_images, sampler="ddim", steps=steps, progress=False,
                             text=text[:num_images], guidance_scale=3.0, generator=torch.Generator().manual_seed(0))
            timings[name] = {"train_step_s": float(np.median(step_times[1:])), "sampling_s": time.perf_counter() - begin}
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


def evaluate_super_resolution(model, schedule, num_samples: int = 500, seed: int = 0, progress: bool = False) -> dict:
    """The SR decoder on real thumbnails of fresh scenes: PSNR against the real 32x32 scene, with bicubic
    upsampling as the baseline, at its card's augmentation level and at level 0."""
    images = shapes.make_scenes(num_samples, model.sample_shape[-1], seed=seed + 300, heldout=None)[0]
    thumbnails = shapes.downscale(images, images.shape[-1] // 2)
    level = SuperResolution.SAMPLING_LEVEL
    results = {"psnr_db_bicubic": round(psnr_db(Upsample("bicubic")(thumbnails), images), 2),
               "psnr_db_bilinear": round(psnr_db(Upsample("bilinear")(thumbnails), images), 2)}
    for name, lvl in (("", level), ("_at_level_0", 0)):
        decoder = SuperResolution(model, schedule, augmentation_level=lvl)
        results[f"psnr_db{name}"] = round(psnr_db(decoder(thumbnails, seed=seed, progress=progress), images), 2)
    return results | {"augmentation_level": level, "num_images": num_samples, "seed": seed}
