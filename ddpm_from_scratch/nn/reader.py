"""The judge of chapter 07: a small fully convolutional network that finds every object in a scene.

Chapter 03's judge read four attributes of the one object in a scene. A scene of chapter 07
holds one to three objects, and its caption says how they relate, so the judge must say
*where* each object is, not only what it is. It does so the way early one-stage detectors
(YOLO, Redmon et al. 2016) do: the image is cut into a G x G grid of cells, and for every cell
the network answers

    is an object's centre in this cell?          1 logit
    which shape, colour, size is it?             one block of logits per attribute
    where in the cell is the centre?             2 numbers in [0, 1] (after a sigmoid)

Two objects' centres in these scenes lie more than a cell apart along x or along y (their
boxes keep a gap), so a cell holds at most one centre, and two centres are at least 0.22 of the
side apart: two findings much closer than that are one object seen from two cells (a centre
near a cell's border), and ``read`` keeps the surer one. There is no order among objects to learn (which one is "first"?): each is read
where it stands, and relations follow from the centres read.
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class SceneReaderConfig:
    image_channels: int = 3
    image_size: int = 32
    grid: int = 8                      # G: cells per side
    width: int = 32                    # channels of the first stage; doubled at each halving
    attributes: dict = field(default_factory=lambda: {"shape": 6, "colour": 8, "size": 3})  # values per attribute
    threshold: float = 0.3             # read(): a cell may hold a centre from this probability on (then merged)
    merge_distance: float = 0.1        # read(): findings closer than this (units of the side) are one object


class SceneReader(nn.Module):
    """images (B, C, S, S) in [-1, 1] -> per-cell outputs (B, 1 + sum(values) + 2, G, G): presence logit,
    attribute logits (in ``config.attributes`` order), centre offsets (before the sigmoid)."""

    predicts_noise = False

    def __init__(self, config: SceneReaderConfig = SceneReaderConfig()):
        super().__init__()
        self.config = c = config
        halvings = int(round(math.log2(c.image_size / c.grid)))
        if c.grid * 2 ** halvings != c.image_size:
            raise ValueError(f"image_size {c.image_size} must be grid {c.grid} times a power of 2")
        conv = lambda cin, cout: nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())
        layers, channels = [conv(c.image_channels, c.width), conv(c.width, c.width)], c.width
        for _ in range(halvings):  # each stage halves the resolution and doubles the channels (capped at 4x)
            out = min(2 * channels, 4 * c.width)
            layers += [nn.MaxPool2d(2), conv(channels, out), conv(out, out)]
            channels = out
        layers += [conv(channels, channels), conv(channels, channels)]  # wider context: an object spans cells
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, 1 + sum(c.attributes.values()) + 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.ndim != 4 or x.shape[1:] != (c.image_channels, c.image_size, c.image_size):
            raise ValueError(f"SceneReader expects images (B, {c.image_channels}, {c.image_size}, {c.image_size}), "
                             f"got {tuple(x.shape)}")
        return self.head(self.body(x))

    def split(self, out: torch.Tensor) -> dict:
        """The raw output -> {"present": (B, G, G) logits, each attribute: (B, n, G, G) logits, "offset": (B, 2, G, G)
        in [0, 1]}."""
        sizes = [1, *self.config.attributes.values(), 2]
        blocks = out.split(sizes, dim=1)
        parts = {"present": blocks[0][:, 0]}
        parts |= dict(zip(self.config.attributes, blocks[1:-1]))
        parts["offset"] = blocks[-1].sigmoid()
        return parts

    @torch.no_grad()
    def read(self, images: torch.Tensor, threshold: float | None = None, batch_size: int = 500) -> list:
        """Every object found in each image: a list (per image) of dicts {attribute: value index, ..., "x", "y",
        "p"}, the centre in units of the image side (0 = left / top), ``p`` the probability that it is there.

        A centre near a cell's border is claimed by both cells, each less sure: cells above ``threshold``
        (default ``config.threshold``) are found, the surest first, and a finding closer than
        ``config.merge_distance`` to one already kept is the same object (non-maximum suppression).
        """
        c = self.config
        threshold = c.threshold if threshold is None else threshold
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        found = []
        for start in range(0, len(images), batch_size):
            parts = self.split(self(images[start:start + batch_size].to(device)))
            probability = parts["present"].sigmoid().cpu()
            values = {name: parts[name].argmax(1).cpu() for name in c.attributes}
            offset = parts["offset"].cpu()
            for i in range(probability.shape[0]):
                candidates = []
                for row, column in (probability[i] > threshold).nonzero().tolist():
                    obj = {name: int(values[name][i, row, column]) for name in c.attributes}
                    obj["x"] = (column + float(offset[i, 0, row, column])) / c.grid
                    obj["y"] = (row + float(offset[i, 1, row, column])) / c.grid
                    obj["p"] = float(probability[i, row, column])
                    candidates.append(obj)
                kept = []
                for obj in sorted(candidates, key=lambda o: -o["p"]):  # the surest first
                    if all(math.hypot(obj["x"] - k["x"], obj["y"] - k["y"]) >= c.merge_distance for k in kept):
                        kept.append(obj)
                found.append(kept)
        self.train(was_training)
        return found
