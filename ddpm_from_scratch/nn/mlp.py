"""A small noise predictor for 2-D points (chapter 01): the same idea as the U-Net, at toy size."""

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import sinusoidal_embedding


@dataclass
class MLPConfig:
    data_dim: int = 2
    hidden: int = 128
    num_layers: int = 3
    step_embedding_dim: int = 32


class MLPDenoiser(nn.Module):
    """eps_theta(x_t, t) for points: (B, data_dim) and (B,) step indices -> (B, data_dim)."""

    def __init__(self, config: MLPConfig = MLPConfig()):
        super().__init__()
        self.config = c = config
        self.step_embedding = nn.Sequential(nn.Linear(c.step_embedding_dim, c.hidden), nn.SiLU())
        self.input = nn.Linear(c.data_dim, c.hidden)
        self.layers = nn.ModuleList(nn.Linear(c.hidden, c.hidden) for _ in range(c.num_layers))
        self.output = nn.Linear(c.hidden, c.data_dim)

    @property
    def sample_shape(self) -> tuple:
        return (self.config.data_dim,)

    data_range = None  # points in the plane: nothing to clip to

    def forward(self, x, t):
        if x.ndim != 2 or x.shape[1] != self.config.data_dim:
            raise ValueError(f"MLPDenoiser expects points of shape (B, {self.config.data_dim}), got {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device)
        emb = self.step_embedding(sinusoidal_embedding(t.expand(x.shape[0]) if t.ndim == 0 else t,
                                                       self.config.step_embedding_dim))
        h = self.input(x) + emb
        for layer in self.layers:
            h = h + torch.nn.functional.silu(layer(h) + emb)  # residual MLP; the step enters every layer
        return self.output(h)
