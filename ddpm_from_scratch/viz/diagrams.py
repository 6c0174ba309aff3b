"""The book's map as box-and-arrow diagrams: the text-to-image pipeline and the chapter that builds each part
(``pipeline_diagram``, the introduction), the three separately trained modules (``three_modules_diagram``, chapters
04 and 07), a VAE beside a diffusion model (``vae_vs_diffusion_diagram``, chapter 06), and a U-Net's levels drawn
from the real model (``unet_diagram``, chapter 01)."""

import math

import matplotlib.patches
import torch
from matplotlib.figure import Figure

from .figures import _new_figure


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
