"""Noise schedules and every quantity derived from them (chapter 02).

A schedule is the list of per-step noise levels ``beta_t``. Everything the forward and
reverse processes need follows from it:

    alpha_t      = 1 - beta_t
    alpha_bar_t  = alpha_0 * alpha_1 * ... * alpha_t          (one-shot noising, chapter 06)
    q(x_{t-1} | x_t, x_0) = N(posterior_mean_coef_x0 * x_0 + posterior_mean_coef_xt * x_t,
                              posterior_variance)            (Ho et al. 2020, eq. 6-7)

Time convention: ``t`` runs ``0 .. T-1``; ``t = 0`` is the lecture's step 1. The
"previous" quantity at ``t = 0`` refers to the clean image, for which ``alpha_bar = 1``.
"""

import math
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """Per-step noise levels and their derived quantities, all float64 tensors of shape (T,)."""

    betas: torch.Tensor
    kind: str = "custom"
    params: dict = field(default_factory=dict)  # what the constructor was given (stored in checkpoints)

    def __post_init__(self):
        betas = torch.as_tensor(self.betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) == 0:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
        if not ((betas > 0) & (betas < 1)).all():
            raise ValueError("every beta_t must lie strictly between 0 and 1")
        object.__setattr__(self, "betas", betas)

    # --- constructors -------------------------------------------------------------
    @classmethod
    def linear(cls, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        """Ho et al. (2020): beta rises linearly from beta_start to beta_end."""
        return cls(torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64), kind="linear",
                   params={"beta_start": beta_start, "beta_end": beta_end})

    @classmethod
    def cosine(cls, num_steps: int = 1000, s: float = 0.008):
        """Nichol & Dhariwal (2021), eq. 17: alpha_bar(t) = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) * pi/2).

        betas are recovered as 1 - alpha_bar_t / alpha_bar_{t-1} and clipped at 0.999.
        """
        steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
        return cls(betas, kind="cosine", params={"s": s})

    @classmethod
    def from_name(cls, name: str, num_steps: int = 1000):
        """``"linear"`` or ``"cosine"`` with default parameters."""
        makers = {"linear": cls.linear, "cosine": cls.cosine}
        if name not in makers:
            raise ValueError(f"unknown schedule {name!r}; known schedules: {', '.join(makers)}")
        return makers[name](num_steps)

    def spec(self) -> dict:
        """Everything needed to rebuild this schedule, as plain data: kind, T, parameters (and the betas
        themselves for a custom schedule). ``NoiseSchedule.from_spec`` inverts it; checkpoints store it."""
        spec = {"kind": self.kind, "num_steps": self.num_steps, **self.params}
        if self.kind not in ("linear", "cosine"):
            spec["betas"] = self.betas.tolist()
        return spec

    @classmethod
    def from_spec(cls, spec: dict):
        """The schedule that ``spec()`` describes."""
        spec = dict(spec)
        kind, num_steps = spec.pop("kind"), spec.pop("num_steps")
        if kind == "linear":
            return cls.linear(num_steps, **spec)
        if kind == "cosine":
            return cls.cosine(num_steps, **spec)
        if "betas" not in spec:
            raise ValueError(f"a {kind!r} schedule needs its betas in the spec (known kinds: linear, cosine)")
        return cls(torch.tensor(spec["betas"], dtype=torch.float64), kind=kind)

    # --- derived quantities ---------------------------------------------------------
    @property
    def num_steps(self) -> int:
        """T, the number of noising steps."""
        return len(self.betas)

    @property
    def alphas(self) -> torch.Tensor:
        """alpha_t = 1 - beta_t."""
        return 1 - self.betas

    @property
    def alpha_bars(self) -> torch.Tensor:
        """alpha_bar_t = prod_{s <= t} alpha_s: the signal left after steps 0..t."""
        return torch.cumprod(self.alphas, dim=0)

    @property
    def alpha_bars_prev(self) -> torch.Tensor:
        """alpha_bar_{t-1}, with alpha_bar_{-1} = 1 (the clean image)."""
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars[:-1]])

    @property
    def posterior_variance(self) -> torch.Tensor:
        """beta~_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)    (Ho et al. eq. 7). Zero at t = 0."""
        return self.betas * (1 - self.alpha_bars_prev) / (1 - self.alpha_bars)

    @property
    def posterior_mean_coef_x0(self) -> torch.Tensor:
        """Coefficient of x_0 in mu~_t: sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t)   (eq. 7)."""
        return self.alpha_bars_prev.sqrt() * self.betas / (1 - self.alpha_bars)

    @property
    def posterior_mean_coef_xt(self) -> torch.Tensor:
        """Coefficient of x_t in mu~_t: sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)   (eq. 7)."""
        return self.alphas.sqrt() * (1 - self.alpha_bars_prev) / (1 - self.alpha_bars)

    def signal_to_noise(self) -> torch.Tensor:
        """SNR(t) = alpha_bar_t / (1 - alpha_bar_t)."""
        return self.alpha_bars / (1 - self.alpha_bars)

    def check_timesteps(self, t) -> torch.Tensor:
        """Return ``t`` as a long tensor, raising a clear error when it is outside 0 .. T-1."""
        t = torch.as_tensor(t)
        if t.is_floating_point():
            raise TypeError(f"step indices must be integers, got dtype {t.dtype}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_steps):
            raise ValueError(
                f"step index out of range: got {t.min().item()}..{t.max().item()}, but this schedule "
                f"has T = {self.num_steps} steps, so t must lie in 0..{self.num_steps - 1} "
                "(t = 0 is the first noising step)"
            )
        return t.long()

    def gather(self, values: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
        """values[t] reshaped to broadcast against ``like`` (B, ...), in like's dtype and device.

        ``t`` is an int or a tensor of shape (B,).
        """
        t = torch.as_tensor(t, device=values.device)
        out = values[t].to(like.dtype).to(like.device)  # the dtype first: MPS has no float64
        return out.reshape(out.shape + (1,) * (like.ndim - out.ndim))
