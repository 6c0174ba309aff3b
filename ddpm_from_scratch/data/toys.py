"""2-D toy data sets: clouds of points small enough to see every step of diffusion.

Chapter 1 noises and denoises these point clouds before the book moves to images;
chapter 5 uses :class:`GaussianMixture`, whose density (and so its score) is known
exactly, to check what a trained model learned.

Every function returns a float32 tensor of shape ``(n, 2)`` and is deterministic given a
``torch.Generator`` (``generator=None`` uses the global RNG, so ``torch.manual_seed``
works too).

Scaling. The noiseless curves are centred exactly (their mean is 0) and divided by one
common factor, chosen so that the *average* per-coordinate variance is exactly 1. One
factor for both axes keeps the shapes undistorted (moons stay round), so each coordinate
is only *roughly* unit-variance. ``noise`` is the standard deviation of Gaussian noise
added *after* scaling, i.e. in output units, so the per-coordinate variance averages
``1 + noise**2``.
"""

import math

import torch
from torch import Tensor

# ---------------------------------------------------------------------------------------
# Two moons: an upper half circle centred at (0, 0) and a lower one centred at (1, 0.5),
# both of radius 1, each holding half of the points, with angle s ~ U[0, pi].
# Mean: x = 1/2, y = 1/4. Total variance: Var x + Var y = 3/4 + (9/16 - 1/pi).
_MOONS_MEAN = (0.5, 0.25)
_MOONS_SCALE = math.sqrt((0.75 + 9 / 16 - 1 / math.pi) / 2)

# Swiss roll (2-D spiral): p = (t cos t, t sin t) with t ~ U[1.5 pi, 4.5 pi], as in
# sklearn's make_swiss_roll seen from above. Mean: E[t cos t] = 2, E[t sin t] = 2/(3 pi).
# Total variance: E[|p|^2] - |mean|^2 = E[t^2] - |mean|^2, and E[t^2] = 9.75 pi^2.
_ROLL_T_RANGE = (1.5 * math.pi, 4.5 * math.pi)
_ROLL_MEAN = (2.0, 2 / (3 * math.pi))
_ROLL_SCALE = math.sqrt((9.75 * math.pi**2 - _ROLL_MEAN[0] ** 2 - _ROLL_MEAN[1] ** 2) / 2)


def _check_n(n) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n is the number of points and must be a positive int, got {n!r}")


def _standardize(points: Tensor, mean, scale: float, noise: float, generator) -> Tensor:
    """(points - mean) / scale + noise * N(0, I), as float32 of shape (n, 2)."""
    if noise < 0:
        raise ValueError(f"noise is a standard deviation and must be >= 0, got {noise}")
    x = (points - torch.tensor(mean, dtype=points.dtype)) / scale
    x = x + noise * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return x.float()


def two_moons(n: int, noise: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """Two interleaving half circles (``n // 2`` points on the upper one, the rest below).

    Before scaling, the upper moon is ``(cos s, sin s)`` and the lower one
    ``(1 - cos s, 0.5 - sin s)`` with ``s ~ U[0, pi]``; the result is
    ``(p - (0.5, 0.25)) / 0.705...`` plus ``noise`` (see the module docstring).
    Points are shuffled, so any prefix mixes both moons. Returns float32 ``(n, 2)``.
    """
    _check_n(n)
    n_upper = n // 2
    s = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    upper = torch.stack([torch.cos(s[:n_upper]), torch.sin(s[:n_upper])], dim=1)
    lower = torch.stack([1 - torch.cos(s[n_upper:]), 0.5 - torch.sin(s[n_upper:])], dim=1)
    points = torch.cat([upper, lower])[torch.randperm(n, generator=generator)]
    return _standardize(points, _MOONS_MEAN, _MOONS_SCALE, noise, generator)


def swiss_roll(n: int, noise: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """A 2-D spiral: ``(t cos t, t sin t)`` with ``t ~ U[1.5 pi, 4.5 pi]`` (1.5 turns).

    The result is ``(p - (2, 2 / (3 pi))) / 6.789...`` plus ``noise`` (see the module
    docstring). Returns float32 ``(n, 2)``.
    """
    _check_n(n)
    low, high = _ROLL_T_RANGE
    t = low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)
    points = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    return _standardize(points, _ROLL_MEAN, _ROLL_SCALE, noise, generator)


class GaussianMixture:
    """A mixture of K isotropic 2-D Gaussians, with an exact density.

    p(x) = sum_k w_k N(x; mu_k, sigma_k^2 I)

    Args:
        means: ``(K, 2)`` component centres mu_k.
        std: one sigma for all components (a float) or one per component, shape ``(K,)``;
            all > 0.
        weights: ``(K,)`` non-negative, not all zero; normalised to sum to 1.
            ``None`` means equal weights.
    """

    def __init__(self, means: Tensor, std: float | Tensor = 1.0, weights: Tensor | None = None):
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim != 2 or means.shape[1] != 2 or means.shape[0] < 1:
            raise ValueError(
                f"means must have shape (K, 2), one 2-D centre per component, got "
                f"{tuple(means.shape)}; for a single component use means.reshape(1, 2)"
            )
        k = means.shape[0]

        std = torch.as_tensor(std, dtype=torch.float64)
        if std.ndim == 0:
            std = std.expand(k).clone()
        if std.shape != (k,):
            raise ValueError(f"std must be a float or have shape ({k},), got {tuple(std.shape)}")
        if not torch.all(std > 0) or not torch.all(torch.isfinite(std)):
            raise ValueError(f"every std must be positive and finite, got {std.tolist()}")

        if weights is None:
            weights = torch.ones(k, dtype=torch.float64)
        weights = torch.as_tensor(weights, dtype=torch.float64)
        if weights.shape != (k,):
            raise ValueError(
                f"weights must have shape ({k},), one per component, got {tuple(weights.shape)}"
            )
        if not torch.all(torch.isfinite(weights)) or torch.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(
                f"weights must be finite, non-negative and not all zero (they are then "
                f"normalised to sum to 1), got {weights.tolist()}"
            )

        self.means = means  # (K, 2), float64 so log_prob is accurate
        self.std = std  # (K,)
        self.weights = weights / weights.sum()  # (K,), sums to 1

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @classmethod
    def ring(cls, num_components: int = 8, radius: float = 2.0, std: float = 0.15) -> "GaussianMixture":
        """``num_components`` equal-weight Gaussians evenly spaced on a circle.

        Component k sits at angle ``2 pi k / K``. Each coordinate has variance
        ``radius**2 / 2 + std**2`` (about 2 for the defaults, std 1.42).
        """
        if num_components < 1 or radius < 0:
            raise ValueError(
                f"need num_components >= 1 and radius >= 0, got {num_components} and {radius}"
            )
        angles = 2 * math.pi * torch.arange(num_components, dtype=torch.float64) / num_components
        means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
        return cls(means, std)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` points: pick k ~ weights, then x = mu_k + sigma_k * eps. Float32 (n, 2)."""
        _check_n(n)
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return (self.means[k] + self.std[k, None] * eps).float()

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log density log p(x) for ``x`` of shape ``(n, 2)``; returns ``(n,)`` in x's dtype."""
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (n, 2), got {tuple(x.shape)}")
        x64 = x.to(torch.float64)
        sq_dist = ((x64[:, None, :] - self.means[None]) ** 2).sum(-1)  # (n, K)
        var = self.std**2
        # log N(x; mu_k, sigma_k^2 I) in 2-D = -|x - mu_k|^2 / (2 sigma_k^2) - log(2 pi sigma_k^2)
        log_normal = -sq_dist / (2 * var) - torch.log(2 * math.pi * var)
        # log p(x) = logsumexp_k [log w_k + log N_k(x)], stable even far from every centre
        return torch.logsumexp(torch.log(self.weights) + log_normal, dim=1).to(x.dtype)

    def __repr__(self) -> str:
        return f"GaussianMixture(num_components={self.num_components})"


def _ring_of_gaussians(n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points from ``GaussianMixture.ring()`` (8 Gaussians on a circle of radius 2)."""
    return GaussianMixture.ring().sample(n, generator)


TOYS = {
    "moons": two_moons,
    "swiss_roll": swiss_roll,
    "gaussian_mixture": _ring_of_gaussians,
}


def load_toy(name: str, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points, float32 ``(n, 2)``, from the toy data set called ``name`` (a key of TOYS)."""
    if name not in TOYS:
        raise ValueError(f"unknown toy data set {name!r}; known names: {', '.join(sorted(TOYS))}")
    return TOYS[name](n, generator=generator)
