"""The noise predictor for images: a U-Net (chapters 01-03).

eps_theta(x_t, t) takes a noisy image and its step index and predicts the noise in it.
It is built from four pieces, each a few lines:

- a sinusoidal *step embedding* (Vaswani et al. 2017; DDPM section 4), so that one
  network serves every step;
- *residual blocks* with GroupNorm, into which the step embedding is added;
- *attention blocks* at low resolution: self-attention over the pixels, plus
  cross-attention to a sequence of condition tokens (text, chapter 03) when configured;
- a down path and an up path joined by skip connections.

Conditions beyond the step (all optional, off by default): a class label (its
embedding is added to the step embedding), a sequence of context tokens (cross-
attention), a pooled condition vector (added to the step embedding), and a low-resolution
image concatenated to the input (super-resolution decoders, chapter 04).
No diffusion math lives here: the network only maps (x_t, t, conditions) to a tensor.
The blocks themselves (step embedding, residual block, attention) are in ``blocks.py``.
"""

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from .blocks import AttentionBlock, ResBlock, sinusoidal_embedding


@dataclass
class UNetConfig:
    image_channels: int = 1
    image_size: int = 16
    base_channels: int = 32
    channel_mults: tuple = (1, 2, 2)      # one level per entry; each level but the last halves the size
    num_res_blocks: int = 2
    attention_resolutions: tuple = (8,)   # feature-map sizes that get attention blocks
    num_heads: int = 4
    dropout: float = 0.0
    num_groups: int = 8                   # GroupNorm groups
    num_classes: int | None = None        # class-label condition
    context_dim: int | None = None        # width of context tokens for cross-attention (text)
    pooled_dim: int | None = None         # width of a pooled condition vector (sentence embedding)
    cond_channels: int = 0                # channels of a low-resolution image condition
    augmentation_level: bool = False      # the low-res image's noise level is an input (noise conditioning augmentation)
    data_range: tuple | None = (-1.0, 1.0)  # what it samples: images in [-1, 1]; latents: their measured range


class UNet(nn.Module):
    """eps_theta(x_t, t, ...): images (B, C, S, S) in, tensor of the same shape out."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = c = config
        if c.data_range is not None and (len(c.data_range) != 2 or not c.data_range[0] < c.data_range[1]):
            raise ValueError(f"data_range must be (low, high) with low < high, or None, got {c.data_range!r}")
        emb_dim = 4 * c.base_channels
        self.step_embedding = nn.Sequential(
            nn.Linear(c.base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if c.num_classes is not None:
            self.class_embedding = nn.Embedding(c.num_classes, emb_dim)
        if c.pooled_dim is not None:
            self.pooled_projection = nn.Linear(c.pooled_dim, emb_dim)
        if c.augmentation_level:  # embedded like the step: how much noise was added to the low-res image
            self.augmentation_embedding = nn.Sequential(
                nn.Linear(c.base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        block = lambda cin, cout: ResBlock(cin, cout, emb_dim, c.num_groups, c.dropout)
        attention = lambda ch: AttentionBlock(ch, c.num_heads, c.num_groups, c.context_dim)

        self.conv_in = nn.Conv2d(c.image_channels + c.cond_channels, c.base_channels, 3, padding=1)
        self.down, skips, ch, size = nn.ModuleList(), [c.base_channels], c.base_channels, c.image_size
        for level, mult in enumerate(c.channel_mults):
            for _ in range(c.num_res_blocks):
                layers = [block(ch, c.base_channels * mult)]
                ch = c.base_channels * mult
                if size in c.attention_resolutions:
                    layers.append(attention(ch))
                self.down.append(nn.ModuleList(layers))
                skips.append(ch)
            if level < len(c.channel_mults) - 1:  # downsample between levels
                self.down.append(nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1)]))
                skips.append(ch)
                size //= 2
        self.middle = nn.ModuleList([block(ch, ch), attention(ch), block(ch, ch)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mults))):
            for _ in range(c.num_res_blocks + 1):
                layers = [block(ch + skips.pop(), c.base_channels * mult)]
                ch = c.base_channels * mult
                if size in c.attention_resolutions:
                    layers.append(attention(ch))
                self.up.append(nn.ModuleList(layers))
            if level > 0:  # upsample between levels
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(ch, ch, 3, padding=1)]))
                size *= 2
        self.norm_out = nn.GroupNorm(c.num_groups, ch)
        self.conv_out = nn.Conv2d(ch, c.image_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def sample_shape(self) -> tuple:
        """The shape of one sample, (C, S, S): what the reverse process starts from and returns."""
        return (self.config.image_channels, self.config.image_size, self.config.image_size)

    @property
    def data_range(self):
        """(low, high) of the data the model was trained on, or None: sampling clips x0_hat to it."""
        return self.config.data_range

    def _check_inputs(self, x, t, low_res):
        c = self.config
        expected = f"(B, {c.image_channels}, {c.image_size}, {c.image_size})"
        if x.ndim == 3 and c.image_channels == 1:
            raise ValueError(f"UNet expects images of shape {expected}, got {tuple(x.shape)}: "
                             "add a channel dimension with x.unsqueeze(1)")
        if x.ndim != 4 or x.shape[1] != c.image_channels:
            raise ValueError(f"UNet expects images of shape {expected}, got {tuple(x.shape)}"
                             f" (this model was built for {c.image_channels}-channel images)")
        factor = 2 ** (len(c.channel_mults) - 1)
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"image height and width must be divisible by {factor}, got {tuple(x.shape[2:])}")
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t must be a tensor of shape ({x.shape[0]},), one step per image, got {tuple(t.shape)}")
        if c.cond_channels and (low_res is None or low_res.shape[1] != c.cond_channels):
            raise ValueError(f"this UNet is conditioned on a {c.cond_channels}-channel low-resolution image: "
                             "pass low_res=...")

    def forward(self, x, t, class_labels=None, context=None, context_mask=None, pooled=None, low_res=None,
                augmentation_level=None):
        """x: (B, C, S, S); t: (B,) long; optional conditions as in UNetConfig; ``augmentation_level`` (B,)
        long: the step index of the noise that was added to ``low_res``."""
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        self._check_inputs(x, t, low_res)
        emb = self.step_embedding(sinusoidal_embedding(t, self.config.base_channels))
        if self.config.augmentation_level:
            if augmentation_level is None:
                raise ValueError("this UNet was trained with noise conditioning augmentation: pass "
                                 "augmentation_level=... (the step index of the noise added to low_res; 0 = almost none)")
            level = torch.as_tensor(augmentation_level, device=x.device).long().expand(x.shape[0])
            emb = emb + self.augmentation_embedding(sinusoidal_embedding(level, self.config.base_channels))
        if class_labels is not None:
            emb = emb + self.class_embedding(class_labels)
        if pooled is not None:
            emb = emb + self.pooled_projection(pooled)
        if low_res is not None:  # super-resolution: upsample the small image and stack it onto the input
            x = torch.cat([x, F.interpolate(low_res, size=x.shape[2:], mode="bilinear", align_corners=False)], dim=1)

        def run(layers, h):
            for layer in layers:
                if isinstance(layer, ResBlock):
                    h = layer(h, emb)
                elif isinstance(layer, AttentionBlock):
                    h = layer(h, context, context_mask)
                else:
                    h = layer(h)
            return h

        h = self.conv_in(x)
        skips = [h]
        for layers in self.down:
            h = run(layers, h)
            skips.append(h)
        h = run(self.middle, h)
        for layers in self.up:
            if isinstance(layers[0], ResBlock):
                h = torch.cat([h, skips.pop()], dim=1)  # skip connection from the down path
            h = run(layers, h)
        return self.conv_out(F.silu(self.norm_out(h)))
