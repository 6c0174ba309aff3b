"""Checkers for the chapters' exercises: each tells the reader whether their own code is right."""

import torch

from ..schedules import NoiseSchedule


def call_reader_function(fn, args, where: str):
    """Call the reader's ``fn(*args)``: ``(result, None)``, or ``(None, message)`` when it raised.

    A checker reports a failing exercise; it never raises because of the reader's code.
    """
    try:
        return fn(*args), None
    except Exception as error:  # the reader's code: report, never raise
        return None, f"Not yet: your function raised {type(error).__name__}: {error} ({where})."


class BetasOnlySchedule(NoiseSchedule):
    """A NoiseSchedule that notes whether its precomputed ``alpha_bars`` were read (``alpha_bars_read``).

    Everything derived from alpha_bar (``alpha_bars_prev``, the posterior coefficients,
    ``signal_to_noise``, ``diffusion.add_noise``) reads ``alpha_bars``, so this tells whether a
    function computed alpha_bar_t from ``betas`` itself.
    """

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "alpha_bars_read", False)

    @property
    def alpha_bars(self) -> torch.Tensor:
        object.__setattr__(self, "alpha_bars_read", True)
        return super().alpha_bars


def betas_only(schedule: NoiseSchedule) -> BetasOnlySchedule:
    """The same schedule (same betas, kind and parameters), watching its ``alpha_bars``."""
    return BetasOnlySchedule(schedule.betas.clone(), kind=schedule.kind, params=dict(schedule.params))
