"""What the subjects' evaluators share: an autoencoder's reconstructions (chapters 04 and 07, and a folder's)."""

import torch


@torch.no_grad()
def reconstruct(autoencoder, images: torch.Tensor, seed: int) -> tuple:
    """(decoded posterior means, clamped to [-1, 1]; latents z ~ q(z | x) drawn from ``seed``), in batches of 250."""
    device = next(autoencoder.parameters()).device
    autoencoder.eval()
    posteriors = [autoencoder.encode(images[i:i + 250].to(device)) for i in range(0, len(images), 250)]
    reconstructions = torch.cat([autoencoder.decode(q.mode()).cpu() for q in posteriors]).clamp(-1, 1)
    latents = torch.cat([q.sample(torch.Generator(device).manual_seed(seed)).cpu() for q in posteriors])
    return reconstructions, latents
