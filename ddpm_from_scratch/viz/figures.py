"""What every plot of this package shares: its inputs made CPU float tensors and checked (images (B, C, H, W),
points (n, 2)), and new figures that pyplot forgets at once, shown only as a cell's value (see the package
docstring, :mod:`ddpm_from_scratch.viz`)."""

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure


def _as_tensor(x) -> torch.Tensor:
    """A float CPU tensor from a tensor, a NumPy array, a number, or a list of these."""
    if isinstance(x, (list, tuple)):
        x = torch.stack([_as_tensor(item) for item in x])
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.array(x))
    return x.detach().cpu().float()


def _check_images(images: torch.Tensor) -> None:
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        hint = ""
        if images.ndim == 3:
            hint = ": add a channel dimension with x.unsqueeze(1)"
        raise ValueError(
            "expected images of shape (B, C, H, W) with C = 1 or 3, "
            f"got {tuple(images.shape)}{hint}"
        )


def _check_points(points: torch.Tensor) -> None:
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"expected points of shape (n, 2), got {tuple(points.shape)}")


def _new_figure(**kwargs) -> Figure:
    """A figure that pyplot forgets at once: displayed only as a return value."""
    fig = plt.figure(layout="constrained", **kwargs)  # via pyplot, so Jupyter can display it
    plt.close(fig)
    return fig


def _new_axes(ax, figsize):
    """(figure, axes): a new single-axes figure, or the figure that owns `ax`."""
    if ax is not None:
        return ax.figure, ax
    fig = _new_figure(figsize=figsize)
    return fig, fig.subplots()

