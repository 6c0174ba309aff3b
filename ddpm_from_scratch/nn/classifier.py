"""A small CNN image classifier (chapters 02 and 05).

It reads digits (or scene attributes) back from images. With its final layer removed
it is the embedding network of the lecture's FID recipe: ``embed`` returns the
penultimate activations, ``forward`` the logits (softmax is applied by the loss).
"""

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class ClassifierConfig:
    image_channels: int = 1
    image_size: int = 16
    num_classes: int = 10
    width: int = 32
    feature_dim: int = 128
    dropout: float = 0.2
    pool: str = "average"   # "average": position-blind features (digits); "flatten": keeps where things are (scenes)


class Classifier(nn.Module):
    """images (B, C, S, S) in [-1, 1] -> logits (B, num_classes)."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.config = c = config
        conv = lambda cin, cout: nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())
        w = c.width
        if c.pool not in ("average", "flatten"):
            raise ValueError(f"pool must be 'average' or 'flatten', got {c.pool!r}")
        pool = nn.AdaptiveAvgPool2d(1) if c.pool == "average" else nn.Identity()
        self.body = nn.Sequential(
            conv(c.image_channels, w), conv(w, w), nn.MaxPool2d(2),   # S -> S/2
            conv(w, 2 * w), conv(2 * w, 2 * w), nn.MaxPool2d(2),     # S/2 -> S/4
            conv(2 * w, 4 * w), pool, nn.Flatten(),
        )
        flat = 4 * w * (1 if c.pool == "average" else (c.image_size // 4) ** 2)
        self.features = nn.Sequential(nn.Linear(flat, c.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.feature_dim, c.num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, feature_dim): the classifier without its last layer (FID features)."""
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.image_channels:
            raise ValueError(f"Classifier expects images of shape (B, {c.image_channels}, {c.image_size}, "
                             f"{c.image_size}), got {tuple(x.shape)}")
        return self.features(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 500):
        """Class probabilities (B, num_classes), in eval mode and in batches."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        probs = torch.cat([F.softmax(self(x[i:i + batch_size].to(device)), dim=1).cpu()
                           for i in range(0, len(x), batch_size)])
        self.train(was_training)
        return probs
