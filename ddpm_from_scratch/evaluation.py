"""Evaluate the book's models with the book's own measures (chapters 02 and 05; ``cli evaluate``)."""

import time

import torch

from . import diffusion
from .metrics import (bits_per_dim, class_entropy_bits, embed_images, fid_from_features, kid, quantize_to_8bit,
                      recognisable_fraction)


def generate(model, schedule, num_samples: int, sampler: str = "ddim", steps: int | None = 100,
             seed: int = 0, batch_size: int = 250, clip_x0: bool = True, progress: bool = False) -> torch.Tensor:
    """``num_samples`` images from ``model``, in batches, on the CPU; one seed fixes them all.

    ``clip_x0`` keeps the predicted clean image in [-1, 1] at every step. DDIM needs it with
    the cosine schedule: its last alpha_bar is ~2e-9, so x0_hat = (x_t - sqrt(1 - abar) eps) / sqrt(abar)
    magnifies any error in eps by ~2e4 on the first step.
    """
    c = model.config
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        batches.append(diffusion.sample(model, schedule, (n, c.image_channels, c.image_size, c.image_size),
                                        sampler=sampler, steps=steps, generator=generator,
                                        clip_x0=clip_x0, progress=progress).cpu())
    return torch.cat(batches).clamp(-1, 1)


def evaluate_digits(model, schedule, num_samples: int = 1000, sampler: str = "ddim", steps: int | None = 100,
                    seed: int = 0, classifier=None, threshold: float = 0.9, clip_x0: bool = True,
                    bpd_images: int = 0, progress: bool = False) -> dict:
    """Measure generated digits against the 1,000 held-out real (test) digits.

    - recognisable fraction (chapter 02): the classifier (default: the shipped
      ``digits_classifier``, trained on the train split only) is >= ``threshold`` sure of a digit;
    - FID and KID (chapter 05) on the classifier's embeddings, generated vs test digits; the
      floor ``fid_real_floor`` is the FID of as many *real* train digits vs the same test digits;
    - ``bpd_images > 0``: bits/dim of the variational bound on that many test digits, all T steps.
    """
    from .data import load_digits

    if classifier is None:
        from . import pretrained

        classifier = pretrained.load("digits_classifier").model
    real_images, real_labels = load_digits("test", image_size=model.config.image_size)
    real = recognisable_fraction(classifier, real_images, threshold)
    accuracy = (classifier.predict(real_images).argmax(1) == real_labels).float().mean().item()

    start = time.perf_counter()
    if sampler == "ddpm":
        steps = None
    images = generate(model, schedule, num_samples, sampler, steps, seed, clip_x0=clip_x0, progress=progress)
    sample_time = time.perf_counter() - start
    fake = recognisable_fraction(classifier, images, threshold)
    # FID / KID: generated vs test, and the floor: as many real train digits vs the same test digits
    train_images, _ = load_digits("train", image_size=model.config.image_size)
    pick = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(seed))[:num_samples]
    test_features = embed_images(classifier, real_images)
    fake_features = embed_images(classifier, images)
    kid_mean, kid_se = kid(test_features, fake_features, subset_size=min(500, num_samples), seed=seed)
    extra = {
        "fid": round(fid_from_features(test_features, fake_features), 4),
        "fid_real_floor": round(fid_from_features(test_features, embed_images(classifier, train_images[pick])), 4),
        "kid": round(kid_mean, 5),
        "kid_std_error": round(kid_se, 5),
    }
    if bpd_images:
        start = time.perf_counter()
        device = next(model.parameters()).device
        x0 = quantize_to_8bit(real_images[:bpd_images])  # the resized digits, rounded back onto 256 grey levels
        bpd = bits_per_dim(model, schedule, x0.to(device),
                           generator=torch.Generator().manual_seed(seed), progress=progress)
        extra |= {"bits_per_dim": round(float(bpd["total"]), 4), "bits_per_dim_std_error": round(float(bpd["std_error"]), 4),
                  "bits_per_dim_images": bpd_images, "bits_per_dim_time_s": round(time.perf_counter() - start, 1)}
    return extra | {
        "recognisable_fraction": round(fake["fraction"], 4),
        "real_recognisable_fraction": round(real["fraction"], 4),
        "ratio_to_real": round(fake["fraction"] / real["fraction"], 4),
        "threshold": threshold,
        "class_counts": fake["class_counts"],
        "class_entropy_bits": round(class_entropy_bits(fake["class_counts"]), 3),
        "classifier_test_accuracy": round(accuracy, 4),
        "num_samples": num_samples,
        "sampler": sampler,
        "sampling_steps": (steps or 50) if sampler == "ddim" else schedule.num_steps,
        "clip_x0": clip_x0,
        "seed": seed,
        "sampling_time_s": round(sample_time, 1),
    }


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
