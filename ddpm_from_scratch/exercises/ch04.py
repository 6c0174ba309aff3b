"""Checkers for the exercises of chapter 04 (decoders).

- ``check_thumbnail_pairs(fn)``: the reader's ``fn(images, size) -> (thumbnails, images)``: the
  training pairs of a super-resolution decoder, each thumbnail the box-filter downscale of its
  image (every pixel the mean of the block it covers), compared with ``data.shapes.downscale``.
- ``check_posterior_kl(fn)``: the reader's ``fn(mean, logvar) -> kl`` (B,): KL(N(mean, exp(logvar))
  || N(0, I)) summed over each latent, compared with a closed form written independently here.
- ``check_scale_factor(fn)``: the reader's ``fn(latents) -> float``: the factor f that gives the
  latents unit standard deviation, on latents whose spread the checker chose.

Each returns True or False and prints what is right or what is wrong; none raises because of
the reader's code.
"""

import math

import torch

from . import call_reader_function


def _tensor_like(got, expected: torch.Tensor, what: str) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"Not yet: {what} should be a torch.Tensor, got {type(got).__name__}."
    if got.shape != expected.shape:
        return f"Not yet: {what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}."
    return None


def check_thumbnail_pairs(fn) -> bool:
    generator = torch.Generator().manual_seed(4)
    for shape, size in [((3, 3, 32, 32), 16), ((2, 1, 8, 8), 2), ((1, 3, 12, 12), 4)]:
        images = torch.rand(shape, generator=generator) * 2 - 1
        out, error = call_reader_function(fn, (images.clone(), size), f"images of shape {shape}, size {size}")
        if error:
            print(error)
            return False
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            print("Not yet: return a pair (thumbnails, images).")
            return False
        thumbnails, full = out
        blocks = images.reshape(shape[0], shape[1], size, shape[2] // size, size, shape[3] // size)
        expected = blocks.mean(dim=(3, 5))  # each thumbnail pixel: the mean of its block
        problem = _tensor_like(thumbnails, expected, "the thumbnails") or _tensor_like(full, images, "the images")
        if problem:
            print(problem)
            return False
        if not torch.allclose(full, images):
            print("Not yet: the second element must be the full images themselves, unchanged: they are the targets.")
            return False
        if not torch.allclose(thumbnails, expected, atol=1e-5):
            subsampled = images[:, :, ::shape[2] // size, ::shape[3] // size]
            hint = ("you kept one pixel of each block; average the whole block instead (F.avg_pool2d)"
                    if torch.allclose(thumbnails, subsampled) else
                    "each thumbnail pixel is the mean of the (S/size) x (S/size) block of pixels it covers")
            print(f"Not yet: the thumbnails differ from the block means by up to "
                  f"{(thumbnails - expected).abs().max().item():.3g} (size {size}). Hint: {hint}.")
            return False
    print("Right: each thumbnail pixel is the mean of the block it covers, and the full image is the target. "
          "These are the pairs the super-resolution decoder learns from; no text is needed.")
    return True


def check_posterior_kl(fn) -> bool:
    generator = torch.Generator().manual_seed(5)
    for shape in [(4, 2, 3, 3), (1, 4, 8, 8)]:
        mean = torch.randn(shape, generator=generator)
        logvar = torch.randn(shape, generator=generator) - 1
        # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2) / 2 - 1/2, per element
        per_element = -0.5 * logvar + 0.5 * (logvar.exp() + mean**2) - 0.5
        expected = per_element.flatten(1).sum(1)
        got, error = call_reader_function(fn, (mean.clone(), logvar.clone()), f"mean and logvar of shape {shape}")
        if error:
            print(error)
            return False
        problem = _tensor_like(got, expected, "the KL (one number per latent)")
        if problem:
            print(problem + " Sum over every dimension but the batch.")
            return False
        if not torch.allclose(got.double(), expected.double(), rtol=1e-4, atol=1e-4):
            hint = "1/2 sum(mean^2 + exp(logvar) - 1 - logvar) over all but the batch dimension"
            if torch.allclose(got, 2 * expected, rtol=1e-4):
                hint = "you forgot the factor 1/2"
            elif torch.allclose(got, expected / per_element[0].numel(), rtol=1e-4):
                hint = "sum over the latent's elements, do not average"
            print(f"Not yet: your KL differs from the closed form by up to {(got - expected).abs().max().item():.3g}. "
                  f"Hint: {hint}.")
            return False
    print("Right: KL(q(z | x) || N(0, I)) = 1/2 sum(mean^2 + var - 1 - log var). It is 0 only when every latent "
          "element has mean 0 and variance 1, the prior.")
    return True


def check_scale_factor(fn) -> bool:
    generator = torch.Generator().manual_seed(6)
    for spread in (0.05, 1.0, 7.5):
        latents = torch.randn(500, 4, 8, 8, generator=generator) * spread + 0.1
        expected = 1.0 / latents.std().item()
        got, error = call_reader_function(fn, (latents.clone(),), f"latents with standard deviation {spread}")
        if error:
            print(error)
            return False
        try:
            got = float(got)
        except (TypeError, ValueError):
            print(f"Not yet: return a number (a float), got {type(got).__name__}.")
            return False
        if not math.isfinite(got) or abs(got - expected) > 1e-3 * expected:
            hint = ("you returned the standard deviation; the factor is its inverse"
                    if abs(got - 1 / expected) < 1e-3 / expected else
                    "f = 1 / std of all latent values, so that f * z has standard deviation 1")
            print(f"Not yet: for latents of standard deviation {latents.std().item():.3g} you returned {got:.4g}, "
                  f"expected {expected:.4g}. Hint: {hint}.")
            return False
    print("Right: f = 1 / std(z). Multiplied by f, the latents have the spread of the N(0, I) noise the reverse "
          "process starts from, whatever scale the autoencoder happened to learn.")
    return True
