"""A variational autoencoder on the 16x16 digits: the baseline that chapter 06 sets beside diffusion.

A VAE (Kingma & Welling 2014) draws a code z ~ p(z) = N(0, I) and turns it into an image
with a decoder p(x | z). Its likelihood log p(x) = log E_{p(z)}[p(x | z)] has no closed form,
but an encoder q(z | x) gives a lower bound on it, the ELBO, which training maximises:

    log p(x) >= E_{z ~ q(z | x)}[log p(x | z)] - KL(q(z | x) || p(z))

    image x (B, 1, 16, 16) --encoder--> q(z | x) = N(mean, diag(std^2))    z: (B, latent_dim), a vector
    z                      --decoder--> p(x | z): per pixel, a Gaussian of the decoded mean and
                                        scale, cut into the 256 bins of 8-bit grey levels

The decoder is the discretised Gaussian of DDPM's last step L_0 (chapter 05), so the VAE's
negative ELBO and the diffusion model's bound are both upper bounds on -log p(x) of the same
8-bit digits, in the same bits per dimension. The bound itself is computed outside the
network, with the other likelihoods: ``metrics.vae_negative_elbo`` and ``metrics.vae_bits_per_dim``.

The decoder gives every pixel of every image both its mean and its log standard deviation
(two output channels per image channel): how sure the model may be of a pixel depends on the
digit (the middle of a stroke is surer than its edge). A learned scale is safe only because
of the bins: a continuous density would grow without bound as a scale shrank onto a pixel,
a bin's probability cannot exceed 1. Sampling takes z ~ N(0, I) and shows the decoded *mean*:
a draw from p(x | z) would add independent noise to every pixel, the model's uncertainty,
not a better digit.
"""

from dataclasses import dataclass

import torch
from torch import nn

from .autoencoder import DiagonalGaussian
from .blocks import ResBlock


@dataclass
class VAEConfig:
    image_channels: int = 1
    image_size: int = 16
    latent_dim: int = 16                   # z is a vector of this many numbers
    base_channels: int = 32                # widths: base at S, 2 x base at S/2 and S/4
    num_groups: int = 8                    # GroupNorm groups
    data_range: tuple = (-1.0, 1.0)        # images in [-1, 1]; samples are clamped to it


class VAE(nn.Module):
    """encode: images (B, C, S, S) in [-1, 1] -> q(z | x) over (B, latent_dim);
    decode: z (B, latent_dim) -> (mean, log_scale) of p(x | z), each (B, C, S, S). S must be divisible by 4."""

    predicts_noise = False  # not a noise predictor: ``diffusion.sample`` and the diffusion bound refuse it

    def __init__(self, config: VAEConfig = VAEConfig()):
        super().__init__()
        self.config = c = config
        if c.image_size % 4:
            raise ValueError(f"the VAE halves the image twice: image_size must be divisible by 4, got {c.image_size}")
        wide, small = 2 * c.base_channels, c.image_size // 4
        block = lambda cin, cout: ResBlock(cin, cout, None, c.num_groups)
        self.encoder = nn.Sequential(
            nn.Conv2d(c.image_channels, c.base_channels, 3, padding=1), block(c.base_channels, c.base_channels),
            nn.Conv2d(c.base_channels, c.base_channels, 3, stride=2, padding=1),   # S -> S/2
            block(c.base_channels, wide),
            nn.Conv2d(wide, wide, 3, stride=2, padding=1),                         # S/2 -> S/4
            block(wide, wide), nn.GroupNorm(c.num_groups, wide), nn.SiLU(), nn.Flatten(),
            nn.Linear(wide * small * small, 2 * c.latent_dim))                     # [mean, log-variance] of q(z | x)
        self.decoder = nn.Sequential(
            nn.Linear(c.latent_dim, wide * small * small), nn.Unflatten(1, (wide, small, small)),
            block(wide, wide),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(wide, wide, 3, padding=1),  # S/4 -> S/2
            block(wide, c.base_channels),
            nn.Upsample(scale_factor=2, mode="nearest"),                                       # S/2 -> S
            nn.Conv2d(c.base_channels, c.base_channels, 3, padding=1), block(c.base_channels, c.base_channels),
            nn.GroupNorm(c.num_groups, c.base_channels), nn.SiLU(),
            nn.Conv2d(c.base_channels, 2 * c.image_channels, 3, padding=1))        # [mean, log std] of p(x | z)

    @property
    def sample_shape(self) -> tuple:
        """The shape of one image, (C, S, S)."""
        return (self.config.image_channels, self.config.image_size, self.config.image_size)

    @property
    def data_range(self) -> tuple:
        return tuple(self.config.data_range)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """q(z | x) = N(mean, diag(std^2)), one per image."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"the VAE expects images of shape (B, {', '.join(map(str, self.sample_shape))}), "
                             f"got {tuple(x.shape)}")
        return DiagonalGaussian(self.encoder(x))  # moments (B, 2 latent_dim) = [mean, logvar]

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(x | z) per pixel: the mean (B, C, S, S), unbounded, and the log standard deviation (B, C, S, S)."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"the decoder expects latents of shape (B, {self.config.latent_dim}), "
                             f"got {tuple(z.shape)}")
        mean, log_scale = self.decoder(z).chunk(2, dim=1)
        return mean, log_scale

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """((mean, log_scale) of p(x | z), q(z | x)): x -> q(z | x) -> z ~ q -> p(x | z)."""
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num_images`` new images (N, C, S, S): z ~ N(0, I), decoded; the mean, clamped to ``data_range``."""
        device = next(self.parameters()).device
        z = torch.randn((num_images, self.config.latent_dim), generator=generator,
                        device=generator.device if generator is not None else device).to(device)
        mean, _ = self.decode(z)
        return mean.clamp(*self.data_range)
