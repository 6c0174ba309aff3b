"""Curves against the step: the training loss, raw and smoothed (``plot_loss``; every chapter that trains), and the
signal a noise schedule leaves at each t, alpha_bar_t (``plot_schedules``; chapter 02)."""

import numpy as np
from matplotlib.figure import Figure

from .figures import _as_tensor, _new_axes


def plot_loss(losses, smooth=100, ax=None, title="training loss", log_scale=True) -> Figure:
    """Loss per step: the raw values faint, their moving average over `smooth` steps bold."""
    losses = _as_tensor(losses).flatten().numpy()
    steps = np.arange(len(losses))
    fig, ax = _new_axes(ax, (6, 3.5))
    ax.plot(steps, losses, alpha=0.3, linewidth=0.8, label="loss")
    window = min(smooth, len(losses))
    if window > 1:
        average = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], average, linewidth=2, label=f"moving average ({window} steps)")
    if log_scale and len(losses) > 0 and (losses > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def plot_schedules(schedules, ax=None) -> Figure:
    """alpha_bar_t against t for each named schedule, e.g. {"linear": ..., "cosine": ...}.

    Each value needs an attribute `alpha_bars`, a 1-D tensor of length T.
    """
    fig, ax = _new_axes(ax, (6, 3.5))
    for name, schedule in schedules.items():
        alpha_bars = _as_tensor(schedule.alpha_bars).numpy()
        ax.plot(np.arange(len(alpha_bars)), alpha_bars, label=name)
    ax.set_xlabel("t")
    ax.set_ylabel(r"$\bar{\alpha}_t$")
    ax.set_ylim(0, 1.02)
    ax.set_title(r"how much signal is left: $\bar{\alpha}_t$")
    ax.legend()
    return fig
