"""Plotting helpers used by every chapter of the book.

This package depends on nothing else of ours (only torch, numpy, matplotlib and
IPython), so any chapter can import it first. One subject per module:

    samples    one batch as one figure: image_grid, show_images, show_captioned, show_points
    processes  a process as snapshots: reverse_process_strip, forward_process_strip, animate_process
    curves     against the step: plot_loss, plot_schedules
    source     the package's own code in a chapter: show_source
    diagrams   the book's map: pipeline_diagram, three_modules_diagram, vae_vs_diffusion_diagram, unet_diagram
    figures    what they all share: inputs checked, figures that pyplot forgets

Everything is importable from here (``viz.show_images``).

Conventions:

- Images are tensors of shape (B, C, H, W) with C = 1 (grey) or 3 (RGB) and values
  in [-1, 1], the package convention. NumPy arrays are accepted too.
- 2-D data sets are tensors of shape (n, 2).
- A *process* (the reverse process that generates, or the forward process that
  adds noise) is a stack of states (S, B, C, H, W) or (S, B, 2) with one timestep
  per state; timestep -1 stands for the clean result and is labelled "clean".
- Every function returns its matplotlib Figure, already closed in pyplot: in a
  notebook it is shown exactly once, when it is the cell's value (or passed to
  ``display``), and no figure piles up in pyplot's list of open ones. With ``ax=``
  the drawing goes onto your axes and the returned figure is yours (pyplot shows it
  at the end of the cell; end the line with ``;`` to avoid a second copy).
"""

from .curves import plot_loss, plot_schedules
from .diagrams import pipeline_diagram, three_modules_diagram, unet_diagram, vae_vs_diffusion_diagram
from .diagrams import _unet_stages  # the stages unet_diagram draws (tests read them)
from .processes import animate_process, forward_process_strip, reverse_process_strip
from .samples import image_grid, show_captioned, show_images, show_points
from .source import show_source

__all__ = [
    "image_grid", "show_images", "show_captioned", "show_points",
    "reverse_process_strip", "forward_process_strip", "animate_process",
    "plot_loss", "plot_schedules",
    "show_source",
    "pipeline_diagram", "three_modules_diagram", "vae_vs_diffusion_diagram", "unet_diagram",
]
