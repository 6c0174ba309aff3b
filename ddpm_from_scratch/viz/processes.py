"""A process as snapshots (chapters 01 and 02): a strip of evenly spaced states of the reverse process
(``reverse_process_strip``) or of the forward process (``forward_process_strip``), and an animation of the whole
batch along it (``animate_process``). The states are images (S, B, C, H, W) or 2-D points (S, B, 2), one timestep
per state; timestep -1 is the clean result."""

import matplotlib
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from .figures import _as_tensor, _new_figure
from .samples import _draw_image, image_grid, show_points


def _evenly_spaced(num_states: int, num: int) -> list[int]:
    """`num` evenly spaced indices into `num_states` states, first and last included."""
    if num >= num_states:
        return list(range(num_states))
    if num < 2:
        raise ValueError(f"need at least 2 states to show the first and the last, got {num}")
    return sorted(set(np.linspace(0, num_states - 1, num).round().astype(int).tolist()))


def _timestep_label(t: int) -> str:
    return "clean" if t == -1 else f"t = {t}"


def _process_strip(states, timesteps, num_columns, num_rows, title) -> Figure:
    """One column per chosen state: a vertical strip of `num_rows` images, or a scatter."""
    states = _as_tensor(states)
    timesteps = list(timesteps)
    if len(timesteps) != len(states):
        raise ValueError(f"got {len(states)} states but {len(timesteps)} timesteps")
    columns = _evenly_spaced(len(states), num_columns or len(states))
    is_points = states.ndim == 3

    if is_points:
        # one shared frame for every column: the largest |coordinate| shown
        lim = 1.05 * float(states[columns].abs().max())
        fig = _new_figure(figsize=(2.0 * len(columns), 2.3))
    else:
        num_rows = min(num_rows or 4, states.shape[1])
        height = 1.1 * num_rows + 0.4
        fig = _new_figure(figsize=(1.1 * len(columns), height))
    axes = fig.subplots(1, len(columns), squeeze=False)[0]

    for ax, s in zip(axes, columns):
        if is_points:
            show_points(states[s], ax=ax, lim=lim)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            _draw_image(ax, image_grid(states[s, :num_rows], nrow=1))
        ax.set_title(_timestep_label(timesteps[s]), fontsize=9)
    if title is not None:
        fig.suptitle(title)
    return fig


def reverse_process_strip(trajectory, num_columns=8, num_rows=None, title=None) -> Figure:
    """Snapshots of the reverse process, from pure noise (left) to the clean result (right).

    trajectory: has `timesteps` (e.g. [999, 998, ..., 0, -1]; -1 = clean) and `states`,
    (S, B, C, H, W) images or (S, B, 2) points. Shows `num_columns` evenly spaced states,
    always the first and the last; for images, the first `num_rows` samples (default 4)
    stacked in each column.
    """
    return _process_strip(trajectory.states, trajectory.timesteps, num_columns, num_rows, title)


def forward_process_strip(states, timesteps, num_columns=None, num_rows=None, title=None) -> Figure:
    """Snapshots of the forward (noising) process, e.g. timesteps [-1, 0, 99, ..., 999].

    states: (S, B, C, H, W) images or (S, B, 2) points, or a list of S such batches.
    Shows every given state unless `num_columns` asks for fewer.
    """
    return _process_strip(states, timesteps, num_columns, num_rows, title)


def animate_process(trajectory, num_frames=40, nrow=None, interval=100):
    """An animation of the whole batch along a process, as `IPython.display.HTML`.

    trajectory: as for `reverse_process_strip`. Each of `num_frames` evenly spaced states
    (first and last included) is one frame: a grid of all images (`nrow` per row) or a
    scatter of all points. Rendered with `to_jshtml`, so it needs no ffmpeg and embeds
    in a static HTML page; `interval` is the delay between frames in milliseconds.
    """
    from IPython.display import HTML  # only the book needs IPython

    states = _as_tensor(trajectory.states)
    timesteps = list(trajectory.timesteps)
    frames = _evenly_spaced(len(states), num_frames)
    fig = _new_figure(figsize=(4, 4.3), dpi=72)
    ax = fig.add_subplot()

    if states.ndim == 3:  # points: move one scatter
        lim = 1.05 * float(states[frames].abs().max())
        show_points(states[frames[0]], ax=ax, lim=lim)
        artist = ax.collections[0]

        def update(i):
            artist.set_offsets(states[frames[i]].numpy())
            ax.set_title(_timestep_label(timesteps[frames[i]]))
            return (artist,)

    else:  # images: replace the grid's pixels
        artist = _draw_image(ax, image_grid(states[frames[0]], nrow=nrow))

        def update(i):
            artist.set_data(image_grid(states[frames[i]], nrow=nrow))
            ax.set_title(_timestep_label(timesteps[frames[i]]))
            return (artist,)

    update(0)
    animation = FuncAnimation(fig, update, frames=len(frames), interval=interval)
    # Each frame is embedded as a base64 PNG; 40 frames of an 8x8 grid of 16x16 images
    # at this size are ~1 MB, well under 100 MB (the default limit is 20 MB).
    limit = max(matplotlib.rcParams["animation.embed_limit"], 100)
    with matplotlib.rc_context({"animation.embed_limit": limit}):
        html = animation.to_jshtml(default_mode="once")
    # `fig` is already closed in pyplot, so no static copy is displayed below the HTML.
    return HTML(html)
