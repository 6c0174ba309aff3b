"""A KL autoencoder: the encoder-decoder whose decoder half is the latent route's decoder (chapter 04).

The lecture's third module turns a compressed version of the image back into the image. In
the latent route (Stable Diffusion's) the compressed version is a small tensor that no
person can read, made by an *encoder* network and turned back by a *decoder*, trained
together as an autoencoder, without any text:

    image x (B, 3, 32, 32) --encoder--> q(z | x) = N(mean, diag(std^2))   z: (B, 4, 8, 8)
    z ~ q(z | x)            --decoder--> x_hat (B, 3, 32, 32)

The encoder outputs a diagonal Gaussian rather than a point (Kingma & Welling 2014); a small
KL term towards N(0, I) keeps the latents from drifting to huge or tiny scales, without
asking them to look like noise. Each level halves the size with a strided convolution
(encoder) or doubles it with nearest upsampling + convolution (decoder), as in the U-Net,
but without skip connections: everything must pass through z.
"""

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import ResBlock


@dataclass
class AutoencoderConfig:
    image_channels: int = 3
    image_size: int = 32
    latent_channels: int = 4
    base_channels: int = 32
    channel_mults: tuple = (1, 2, 2)   # one level per entry; each level but the last halves the size
    num_res_blocks: int = 1
    num_groups: int = 8


class DiagonalGaussian:
    """q(z | x) = N(mean, diag(exp(logvar))), one per image; ``moments`` (B, 2C, h, w) = [mean, logvar]."""

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)  # keeps exp() finite early in training
        self.std = (0.5 * self.logvar).exp()

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps, eps ~ N(0, I): the reparameterisation trick, so gradients reach the encoder."""
        device = generator.device if generator is not None else self.mean.device
        eps = torch.randn(self.mean.shape, generator=generator, device=device).to(self.mean)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q(z | x) || N(0, I)) per image, summed over the latent: 1/2 sum(mean^2 + var - 1 - log var)."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).flatten(1).sum(1)


class Autoencoder(nn.Module):
    """encode: images (B, C, S, S) in [-1, 1] -> DiagonalGaussian over (B, latent_channels, S/f, S/f);
    decode: latents -> images. f = 2^(levels - 1)."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()):
        super().__init__()
        self.config = c = config
        block = lambda cin, cout: ResBlock(cin, cout, None, c.num_groups)
        widths = [c.base_channels * m for m in c.channel_mults]

        encoder = [nn.Conv2d(c.image_channels, widths[0], 3, padding=1)]
        ch = widths[0]
        for level, width in enumerate(widths):
            for _ in range(c.num_res_blocks):
                encoder.append(block(ch, width))
                ch = width
            if level < len(widths) - 1:
                encoder.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))  # halve the size
        encoder += [block(ch, ch), nn.GroupNorm(c.num_groups, ch), nn.SiLU(),
                    nn.Conv2d(ch, 2 * c.latent_channels, 3, padding=1)]   # mean and log-variance
        self.encoder = nn.Sequential(*encoder)

        decoder = [nn.Conv2d(c.latent_channels, ch, 3, padding=1), block(ch, ch)]
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(c.num_res_blocks + 1):
                decoder.append(block(ch, width))
                ch = width
            if level > 0:
                decoder += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1)]
        decoder += [nn.GroupNorm(c.num_groups, ch), nn.SiLU(), nn.Conv2d(ch, c.image_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*decoder)

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.config.channel_mults) - 1)

    @property
    def latent_shape(self) -> tuple:
        """The shape of one latent, (latent_channels, S/f, S/f)."""
        size = self.config.image_size // self.downsampling
        return (self.config.latent_channels, size, size)

    @property
    def image_shape(self) -> tuple:
        return (self.config.image_channels, self.config.image_size, self.config.image_size)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"the autoencoder expects images of shape (B, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}")
        return DiagonalGaussian(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 4 or tuple(z.shape[1:]) != self.latent_shape:
            raise ValueError(f"the decoder expects latents of shape (B, {', '.join(map(str, self.latent_shape))}), "
                             f"got {tuple(z.shape)} (scaled latents from a generator are divided by the scale "
                             "factor before decoding: see pipeline)")
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """(reconstruction, posterior): x -> q(z | x) -> z ~ q -> x_hat."""
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior


KL_WEIGHT = 1e-4  # the KL term, per latent element, against L1 per pixel


def autoencoder_loss(model, batch, generator):
    """The autoencoder's objective: reconstruct the image through a noisy latent, plus a small KL.

    The KL term is measured per latent element and the reconstruction per pixel, so KL_WEIGHT
    says how many units of L1 one nat of KL per element is worth.
    """
    x = batch["images"]
    # 1. encode: q(z | x) = N(mean, diag(std^2))
    posterior = model.encode(x)
    # 2. sample z = mean + std * eps   (the reparameterisation trick)
    z = posterior.sample(generator)
    # 3. decode: x_hat = D(z)
    x_hat = model.decode(z)
    # 4. reconstruction error, mean |x - x_hat| (L1 keeps edges sharper than the squared error)
    reconstruction = (x - x_hat).abs().mean()
    # 5. KL(q(z | x) || N(0, I)) per latent element: keeps the latents' scale in check
    kl = posterior.kl().mean() / z[0].numel()
    return reconstruction + KL_WEIGHT * kl
