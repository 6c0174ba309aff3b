"""Plotting helpers used by every chapter of the book.

This module depends on nothing else of ours (only torch, numpy, matplotlib and
IPython), so any chapter can import it first.

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

import inspect
import math
import textwrap

import matplotlib
import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

# -- inputs ------------------------------------------------------------------------


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


def _evenly_spaced(num_states: int, num: int) -> list[int]:
    """`num` evenly spaced indices into `num_states` states, first and last included."""
    if num >= num_states:
        return list(range(num_states))
    if num < 2:
        raise ValueError(f"need at least 2 states to show the first and the last, got {num}")
    return sorted(set(np.linspace(0, num_states - 1, num).round().astype(int).tolist()))


def _timestep_label(t: int) -> str:
    return "clean" if t == -1 else f"t = {t}"


# -- images and points -------------------------------------------------------------


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


# -- processes: a strip of snapshots and an animation ------------------------------


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


# -- training and schedules --------------------------------------------------------


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


# -- code --------------------------------------------------------------------------


def show_source(obj):
    """The source of a function, class or module as syntax-highlighted Markdown.

    Chapters use this to show the package's real code rather than a copy. myst-nb
    renders a `text/markdown` output as Markdown, so the fenced block below becomes an
    ordinary highlighted code block in the book.
    """
    from IPython.display import Markdown  # only the book needs IPython

    source = textwrap.dedent(inspect.getsource(obj)).rstrip("\n")
    fence = "```"
    while fence in source:  # a longer fence if the code itself contains one
        fence += "`"
    return Markdown(f"{fence}python\n{source}\n{fence}")


# -- the book's map ----------------------------------------------------------------


def _diagram(width: float, height: float):
    """An empty figure for a box-and-arrow diagram, in units of inches."""
    fig = _new_figure(figsize=(width, height))
    ax = fig.subplots()
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, w, h, label, colour, fontsize=9):
    ax.add_patch(matplotlib.patches.FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05",
                                                   facecolor=colour, edgecolor="black"))
    ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=fontsize)


def pipeline_diagram() -> Figure:
    """The text-to-image pipeline the book builds, with the chapter that builds each part."""
    fig, ax = _diagram(11, 3.2)
    boxes = [  # (x, label, chapter, colour)
        (0.1, '"a red circle"\n(prompt)', "", "#ffffff"),
        (2.35, "Text encoder", "ch. 03", "#dbe9f6"),
        (4.6, "Generation model\nDenoise x T\n(noise predictor)", "ch. 01-03, 06", "#fde2c8"),
        (6.85, "compressed image\n(thumbnail or latent)", "ch. 04", "#ffffff"),
        (9.1, "Decoder", "ch. 04", "#d9f2d9"),
    ]
    width, height, y = 1.75, 1.3, 1.2
    for x, label, chapter, colour in boxes:
        _box(ax, x, y, width, height, label, colour)
        ax.text(x + width / 2, y - 0.25, chapter, ha="center", va="top", fontsize=8, color="0.35")
    for (x0, *_), (x1, *_) in zip(boxes, boxes[1:]):
        ax.annotate("", xy=(x1 - 0.05, y + height / 2), xytext=(x0 + width + 0.05, y + height / 2),
                    arrowprops=dict(arrowstyle="->", lw=1.5))
    ax.annotate("pure noise", xy=(4.6 + width / 2, y + height + 0.05), xytext=(4.6 + width / 2, 3.05),
                ha="center", fontsize=9, arrowprops=dict(arrowstyle="->", lw=1.5))
    ax.text(10.9, 0.15, "evaluation (FID, likelihood): ch. 05", ha="right", fontsize=8, color="0.35")
    return fig


def three_modules_diagram() -> Figure:
    """The lecture's three separately trained modules (chapter 04): what each learns from, and how they chain, with
    the compressed version each of the three well-known systems draws (Imagen, Stable Diffusion, DALL-E 2)."""
    fig, ax = _diagram(11, 4.8)
    width, height = 2.3, 1.05

    def box(x, y, label, colour, w=width, h=height):
        _box(ax, x, y, w, h, label, colour)

    def arrow(x0, y0, x1, y1, style="->"):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle=style, lw=1.4))

    colours = {"text": "#dbe9f6", "generator": "#fde2c8", "decoder": "#d9f2d9"}
    ax.text(0.05, 4.6, "generation: one pass through three modules", fontsize=10, weight="bold", va="top")
    y = 2.85
    box(0.05, y, '"a big red circle\nin the top left"', "#ffffff", w=1.7)
    box(2.15, y, "Text encoder", colours["text"], w=1.7)
    box(4.25, y, "Generation model\n(Denoise x T,\nfrom pure noise)", colours["generator"])
    box(6.85, y - 0.2, "compressed version:\nthumbnail (Imagen),\nlatent (Stable Diffusion),\n"
        "CLIP image embedding\n(DALL-E 2's prior)", "#ffffff", w=2.1, h=1.45)
    box(9.25, y, "Decoder", colours["decoder"], w=1.7)
    for x0, x1 in [(1.8, 2.1), (3.9, 4.2), (6.6, 6.8), (9.0, 9.2)]:
        arrow(x0, y + height / 2, x1, y + height / 2)
    ax.text(0.05, 2.35, "training: each on its own data", fontsize=10, weight="bold", va="top")
    y = 0.15
    box(1.5, y, "caption-image pairs (CLIP;\nch. 03, contrastive in ch. 07),\nor text alone (Imagen:\n"
        "a frozen language model)", colours["text"], w=2.6, h=1.45)
    box(4.35, y, "(text, compressed image)\npairs: compress each\ntraining image first", colours["generator"],
        w=2.4, h=1.45)
    box(7.0, y, "(downscaled image, image) pairs,\nor an autoencoder on images alone;\n"
        "Imagen's super-resolution models\nand DALL-E 2's decoder\nread the text too", colours["decoder"], w=3.9, h=1.45)
    for x in (3.3, 5.55, 10.1):
        arrow(x, y + 1.5, x, 2.8, style="-|>")
    return fig


def vae_vs_diffusion_diagram() -> Figure:
    """Chapter 06: a VAE and a diffusion model as the same kind of bound, log p(x) >= E_q[log p(x | z)] - KL,
    with a learned encoder and one decoder step against fixed noise-adding and T decoder steps."""
    fig, ax = _diagram(11, 4.6)
    width, height = 1.9, 0.95

    def arrow(x0, x1, y, label, trained):
        ax.annotate("", xy=(x1, y), xytext=(x0, y), arrowprops=dict(arrowstyle="->", lw=1.5,
                                                                      color="black" if trained else "0.55"))
        ax.text((x0 + x1) / 2, y + 0.12, label, ha="center", va="bottom", fontsize=8,
                color="black" if trained else "0.4")

    ax.text(0.05, 4.5, "VAE: one latent z, encoder and decoder both trained", fontsize=10, weight="bold", va="top")
    y = 2.85
    _box(ax, 0.1, y, width, height, "image x\n16x16 = 256 numbers", "#ffffff")
    _box(ax, 4.55, y, width, height, "latent z\n16 numbers\nprior N(0, I)", "#fde2c8")
    _box(ax, 9.0, y, width, height, "image x", "#ffffff")
    arrow(2.1, 4.5, y + 0.65, "encoder q_phi(z | x)\n(a trained network)", True)
    arrow(6.55, 8.95, y + 0.65, "decoder p_theta(x | z)\n(a trained network)", True)
    ax.text(5.5, y - 0.12, "bound: E_q[log p(x | z)] - KL(q(z | x) || N(0, I))", ha="center", va="top", fontsize=8)
    ax.text(0.05, 2.05, "diffusion: T latents x_1 .. x_T, each as big as the image; only the decoder is trained",
            fontsize=10, weight="bold", va="top")
    y = 0.5
    _box(ax, 0.1, y, width, height, "image x_0", "#ffffff")
    _box(ax, 4.55, y, width, height, "x_1, ..., x_T\nnoisier and noisier\nx_T ~ N(0, I)", "#fde2c8")
    _box(ax, 9.0, y, width, height, "image x_0", "#ffffff")
    arrow(2.1, 4.5, y + 0.65, "\"encoder\" q(x_t | x_{t-1}):\nadd noise, nothing learned", False)
    arrow(6.55, 8.95, y + 0.65, "decoder p_theta(x_{t-1} | x_t),\nT steps of Denoise (trained)", True)
    ax.text(5.5, y - 0.12, "bound: E_q[log p(x_0 | x_1)] - sum_t KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))"
            " - KL(q(x_T | x_0) || N(0, I))   (ch. 05)", ha="center", va="top", fontsize=8)
    return fig


def _unet_stages(model) -> list:
    """Run ``model`` once on zeros and list its stages in the order the data flows: (path, kind, C, S), with kind
    'in', 'res', 'res+attn', 'down', 'middle', 'up' or 'out'. Layers are told apart by their class names, so that
    this module still imports nothing of the package. A text-conditioned model is drawn through its U-Net."""
    model = getattr(model, "unet", model)  # TextConditionedUNet holds a UNet (its text enters by cross-attention)
    shapes = {}
    groups = [("in", [model.conv_in])] + [("down", list(g)) for g in model.down] + [("middle", list(model.middle))]
    groups += [("up", list(g)) for g in model.up] + [("out", [model.conv_out])]
    hooks = [group[-1].register_forward_hook(lambda m, args, out, i=i: shapes.__setitem__(i, tuple(out.shape)))
             for i, (_, group) in enumerate(groups)]
    parameter = next(model.parameters())
    kwargs = {}
    if getattr(model.config, "cond_channels", 0):
        low = model.config.image_size // 2
        kwargs["low_res"] = torch.zeros(1, model.config.cond_channels, low, low, device=parameter.device)
    if getattr(model.config, "augmentation_level", False):
        kwargs["augmentation_level"] = 0
    try:
        with torch.no_grad():
            size = model.config.image_size
            model(torch.zeros(1, model.config.image_channels, size, size, device=parameter.device),
                  torch.zeros(1, dtype=torch.long, device=parameter.device), **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    stages = []
    for i, (path, group) in enumerate(groups):
        names = [type(layer).__name__ for layer in group]
        if path in ("in", "out", "middle"):
            kind = path
        elif names[0] == "ResBlock":
            kind = "res+attn" if "AttentionBlock" in names else "res"
        else:
            kind = "down" if path == "down" else "up"
        stages.append((path, kind, shapes[i][1], shapes[i][2]))
    return stages


def unet_diagram(model, title=None) -> Figure:
    """The U-Net's levels drawn from the real model: one box per stage (channels x size, measured by a forward
    pass), the skip connections from the down path to the up path, attention where the model has it, and the
    step embedding that enters every residual block."""
    stages = _unet_stages(model)
    attention = "self-attention and cross-attention to the text" if getattr(getattr(model, "unet", model).config, "context_dim", None) \
        else "self-attention"
    top = max(size for *_, size in stages)
    level = [int(round(math.log2(top / size))) for *_, size in stages]
    colours = {"in": "#ffffff", "out": "#ffffff", "res": "#fde2c8", "res+attn": "#f7b98b", "middle": "#f7b98b",
               "down": "#dbe9f6", "up": "#d9f2d9"}
    dx, dy, w, h = 0.78, 1.25, 0.68, 0.62
    width = dx * len(stages) + 0.4
    height = dy * max(level) + 2.2
    fig, ax = _diagram(width, height)
    y0 = height - 1.05  # the top level's row

    def centre(i):
        return 0.25 + dx * i + w / 2, y0 - dy * level[i]

    for i, (path, kind, channels, size) in enumerate(stages):
        x, y = centre(i)
        label = {"down": "down\n", "up": "up\n", "in": "conv\n", "out": "conv\n", "middle": "middle\n"}.get(kind, "")
        _box(ax, x - w / 2, y - h / 2, w, h, f"{label}{channels}×{size}²", colours[kind], fontsize=7)
        if i:
            ax.annotate("", xy=(x - w / 2 - 0.04, y), xytext=(centre(i - 1)[0] + w / 2 + 0.04, centre(i - 1)[1]),
                        arrowprops=dict(arrowstyle="->", lw=1.0, color="0.3"))
    # skip connections: every stage of the down path (and the input conv) is pushed; each up residual stage pops one
    stack = []
    for i, (path, kind, *_) in enumerate(stages):
        if path in ("in", "down"):
            stack.append(i)
        elif path == "up" and kind.startswith("res"):
            j = stack.pop()
            (xa, ya), (xb, yb) = centre(j), centre(i)
            ax.annotate("", xy=(xb, yb + h / 2 + 0.03), xytext=(xa, ya + h / 2 + 0.03),
                        arrowprops=dict(arrowstyle="->", lw=0.8, color="tab:purple", alpha=0.7,
                                        connectionstyle=f"arc3,rad={-(0.22 + 0.03 * abs(i - j)) / abs(xb - xa):.3f}"))
    ax.text(0.25, 0.55, "step t → sinusoidal embedding → MLP → added inside every residual block (orange boxes); "
            f"dark orange: + {attention}",
            fontsize=8, color="0.2")
    legend = [("residual blocks", colours["res"]), ("+ attention", colours["res+attn"]),
              ("downsample", colours["down"]), ("upsample", colours["up"])]
    for k, (name, colour) in enumerate(legend):
        _box(ax, 0.25 + 1.55 * k, 0.08, 0.22, 0.2, "", colour)
        ax.text(0.55 + 1.55 * k, 0.18, name, fontsize=8, va="center")
    ax.text(width - 0.2, 0.18, "purple arcs: skip connections (concatenated)", fontsize=8, va="center", ha="right",
            color="tab:purple")
    ax.text(width / 2, height - 0.05, title or f"{type(model).__name__}: {sum(p.numel() for p in model.parameters()):,} parameters, "
                 "boxes show channels × size² after each stage", fontsize=10, ha="center", va="top")
    return fig
