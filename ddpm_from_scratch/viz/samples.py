"""One batch of samples as one figure: images tiled into a grid (``image_grid``, ``show_images``; every chapter),
each image under its caption (``show_captioned``: text-to-image results, chapters 03 and 07), and 2-D points as a
scatter (``show_points``; chapters 01 and 05)."""

import math
import textwrap

import numpy as np
import torch
from matplotlib.figure import Figure

from .figures import _as_tensor, _check_images, _check_points, _new_axes, _new_figure


def image_grid(images, nrow=None, padding=1, value_range=(-1, 1)) -> np.ndarray:
    """Tile a batch of images into one picture.

    images: (B, C, H, W), C = 1 or 3, values in `value_range` (default [-1, 1]).
    nrow: images per row (default: a square-ish grid, ceil(sqrt(B))).
    padding: white pixels between tiles (none around the border).
    Returns a float array in [0, 1]: (H', W') for grey, (H', W', 3) for RGB.
    Values outside `value_range` are clamped.
    """
    images = _as_tensor(images)
    _check_images(images)
    low, high = value_range
    images = ((images - low) / (high - low)).clamp(0, 1)  # [low, high] -> [0, 1]

    b, c, h, w = images.shape
    ncols = nrow or math.ceil(math.sqrt(b))
    nrows = math.ceil(b / ncols)
    grid = torch.ones(c, nrows * (h + padding) - padding, ncols * (w + padding) - padding)
    for i, image in enumerate(images):
        top, left = (i // ncols) * (h + padding), (i % ncols) * (w + padding)
        grid[:, top : top + h, left : left + w] = image
    grid = grid.permute(1, 2, 0).numpy()  # (H', W', C) for imshow
    return grid[..., 0] if c == 1 else grid


def _draw_image(ax, picture: np.ndarray):
    """imshow a picture from `image_grid`; grey pictures use a grey colormap."""
    ax.set_xticks([])
    ax.set_yticks([])
    kwargs = {"cmap": "gray", "vmin": 0, "vmax": 1} if picture.ndim == 2 else {}
    return ax.imshow(picture, interpolation="nearest", **kwargs)


def show_images(images, nrow=None, title=None, ax=None, figsize=None) -> Figure:
    """Show a batch of images (B, C, H, W) in [-1, 1] as one grid, without ticks."""
    images = _as_tensor(images)
    picture = image_grid(images, nrow=nrow)
    if figsize is None:
        ncols = min(nrow or math.ceil(math.sqrt(len(images))), len(images))
        width = min(max(0.6 * ncols, 2.0), 8.0)
        figsize = (width, width * picture.shape[0] / picture.shape[1])
    fig, ax = _new_axes(ax, figsize)
    _draw_image(ax, picture)
    if title is not None:
        ax.set_title(title)
    return fig


def show_captioned(images, captions, ncols=4, width=2.0) -> Figure:
    """Each image with its caption (text-to-image results: prompt above picture), ``ncols`` per row."""
    images = _as_tensor(images)
    if len(images) != len(captions):
        raise ValueError(f"got {len(images)} images but {len(captions)} captions")
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    fig = _new_figure(figsize=(width * ncols, (width + 0.45) * nrows))
    for i, (image, caption) in enumerate(zip(images, captions)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _draw_image(ax, image_grid(image[None], padding=0))
        ax.set_title(textwrap.fill(caption, 24), fontsize=8)
    return fig


def show_points(points, ax=None, title=None, s=2, alpha=0.5, lim=None, **scatter_kwargs) -> Figure:
    """Scatter a 2-D data set (n, 2) with equal aspect; `lim` fixes both axes to [-lim, lim]."""
    points = _as_tensor(points)
    _check_points(points)
    fig, ax = _new_axes(ax, (4, 4))
    ax.scatter(points[:, 0], points[:, 1], s=s, alpha=alpha, **scatter_kwargs)
    ax.set_aspect("equal")
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    if title is not None:
        ax.set_title(title)
    return fig
