"""How close a reconstruction is to its original (chapter 04's decoders and autoencoders, chapter 07's)."""

import math

import torch


def psnr_db(images: torch.Tensor, references: torch.Tensor) -> float:
    """Peak signal-to-noise ratio of a whole set of images in [-1, 1], in decibels, with pixels on [0, 1] (the
    usual convention): 10 log10(1 / MSE), the MSE over every pixel of every image. One number for the set, so
    a few bad images lower it less than averaging per-image PSNRs would show."""
    if images.shape != references.shape:
        raise ValueError(f"images {tuple(images.shape)} and references {tuple(references.shape)} differ in shape")
    mse = ((images.float() - references.float()) / 2).pow(2).mean().item()  # [-1, 1] -> [0, 1] halves each difference
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")
