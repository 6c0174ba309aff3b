"""The digits' models measured (chapters 02, 05 and 06): a diffusion model's or a VAE's samples against the held-out
digits (recognisable fraction, FID at matched sizes, FID_infinity, KID, bits/dim), and the judge that reads them.
Each measure takes the judge it reads with (the digit classifier) as an argument."""

import time

import numpy as np
import torch

from .. import diffusion
from ..data import load_digits
from ..metrics import (bits_per_dim, bits_per_dim_importance, class_entropy_bits, embed_images, fid_and_floor,
                       fid_infinity, kid, quantize_to_8bit, recognisable_fraction, vae_bits_per_dim)
from ..pipeline import generate


def evaluate_digits(model, schedule, classifier, num_samples: int = 1000, sampler: str = "ddim",
                    steps: int | None = 100, seed: int = 0, threshold: float = 0.9, clip_x0: bool | None = None,
                    bpd_images: int = 0, bpd_steps: int | None = 50, progress: bool = False,
                    eta: float = 0.0) -> dict:
    """Measure generated digits against the 1,000 held-out real (test) digits, as the digit ``classifier`` (the
    book's judge, trained on the train split only) sees them:

    - recognisable fraction (chapter 02): the classifier is >= ``threshold`` sure of a digit;
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
      (``metrics.bits_per_dim_importance``), or with every step when ``bpd_steps`` is 0 or None.
    """
    real_images, real_labels = load_digits("test", image_size=model.sample_shape[-1])
    start = time.perf_counter()
    sampling = diffusion.Sampling(sampler, None if sampler == "ddpm" else steps, eta)  # DDPM visits every step
    images = generate(model, schedule, num_samples, sampling, seed, progress=progress, clip_x0=clip_x0)
    sample_time = time.perf_counter() - start
    distances, recognition = _digit_sample_metrics(images, classifier, real_images, real_labels, threshold, seed)
    likelihood = {}
    if bpd_images:
        start = time.perf_counter()
        x0 = _likelihood_digits(real_images, bpd_images, seed).to(next(model.parameters()).device)
        generator = torch.Generator().manual_seed(seed)
        bpd = (bits_per_dim(model, schedule, x0, generator=generator, progress=progress) if not bpd_steps else
               bits_per_dim_importance(model, schedule, x0, steps_per_image=bpd_steps, generator=generator,
                                       pilot_images=min(8, len(x0)), progress=progress))
        likelihood = {"bits_per_dim": round(float(bpd["total"]), 4),
                      "bits_per_dim_std_error": round(float(bpd["std_error"]), 4),
                      "bits_per_dim_images": len(x0), "bits_per_dim_estimate":
                          "all steps" if not bpd_steps else f"{bpd_steps} importance-sampled steps per image",
                      "bits_per_dim_time_s": round(time.perf_counter() - start, 1)}
    return distances | likelihood | recognition | {
        "num_samples": num_samples,
        "sampler": sampler,
        "sampling_steps": len(sampling.timesteps(schedule)),
        "eta": eta if sampler == "ddim" else None,
        "clip_x0": diffusion.clip_for(model, clip_x0),
        "seed": seed,
        "sampling_time_s": round(sample_time, 1),
    }


def evaluate_digits_vae(vae, classifier, num_samples: int = 1000, seed: int = 0, bpd_images: int = 1000,
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
    images, labels = load_digits("test", image_size=classifier.config.image_size)
    noise = torch.randn((1000, *images.shape[1:]), generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)
    return {
        "test_accuracy": round((classifier.predict(images).argmax(1) == labels).float().mean().item(), 4),
        "test_recognisable_fraction": round(recognisable_fraction(classifier, images, threshold)["fraction"], 4),
        "pure_noise_recognisable_fraction": round(recognisable_fraction(classifier, noise, threshold)["fraction"], 4),
        "threshold": threshold,
        "test_images": len(labels),
    }
