"""The diffusion math: forward process, training pairs, reverse steps, samplers (chapters 01, 02, 06).

Names follow the lecture: the *forward process* adds noise to a clean image; the
*reverse process* starts from pure noise and applies the same *Denoise* step again and
again; inside Denoise, a *noise predictor* (a network, see ``nn``) estimates the noise
and the step removes it.

Shapes: images ``x`` are (B, ...) tensors (images in [-1, 1], or 2-D points); the step
index ``t`` is an int or a long tensor of shape (B,). Time convention: ``t = 0 .. T-1``,
``t = 0`` is the first noising step; ``t = -1`` means the clean image. The book's formulas
count like the paper, steps 1 .. T with x_0 the clean image: code step t is formula step t + 1.
Equation numbers refer to Ho et al. 2020 ("DDPM") and Song et al. 2021 ("DDIM"); the solvers follow Lu et al.
2022a ("DPM-Solver") and 2022b ("DPM-Solver++").
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from .budget import progress_bar
from .schedules import NoiseSchedule


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like x, drawn on the generator's device (so a seed gives
    the same numbers on every device) and moved to x's device."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def _batched_t(t, batch_size: int, device) -> torch.Tensor:
    """An int or (B,) tensor of step indices as a (B,) long tensor."""
    t = torch.as_tensor(t, device=device).long()
    if t.ndim == 0:
        return t.expand(batch_size)
    if t.shape != (batch_size,):
        raise ValueError(f"t must be an int or a tensor of shape ({batch_size},), got shape {tuple(t.shape)}")
    return t


# ------------------------------------------------------------------------------------
# Forward process q(x_t | x_0)
# ------------------------------------------------------------------------------------
def add_noise(schedule: NoiseSchedule, x0: torch.Tensor, t, noise: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One-shot forward process: a sample of x_t ~ q(x_t | x_0)   (DDPM eq. 4).

    ``noise`` (shaped like x0) makes the result deterministic; otherwise it is drawn.
    """
    t = schedule.check_timesteps(t)
    if noise is None:
        noise = _randn_like(x0, generator)
    elif noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    alpha_bar = schedule.gather(schedule.alpha_bars, t, x0)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise  # x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps


def add_noise_step_by_step(schedule: NoiseSchedule, x0: torch.Tensor, t,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """The slow forward process: apply q(x_s | x_{s-1}) for formula steps s = 1 .. t + 1 (code steps 0 .. t),
    fresh noise each step  (DDPM eq. 2).

    Same distribution as ``add_noise`` (chapter 06 shows it); ``t`` may differ per example.
    """
    t = _batched_t(schedule.check_timesteps(t), x0.shape[0], x0.device)
    x = x0
    for s in range(int(t.max()) + 1):
        beta = schedule.gather(schedule.betas, s, x0)
        stepped = (1 - beta).sqrt() * x + beta.sqrt() * _randn_like(x0, generator)  # eq. 2 at code step s (formula step s + 1)
        active = (s <= t).reshape((-1,) + (1,) * (x0.ndim - 1))  # examples whose t is not yet reached
        x = torch.where(active, stepped, x)
    return x


def make_training_pairs(schedule: NoiseSchedule, x0: torch.Tensor, generator: torch.Generator | None = None):
    """The noise predictor's training data (lecture section 2): for each clean x0, a random
    step t and noise eps give the input (x_t, t) and the target eps.

    Returns ``(x_t, t, noise)`` with t of shape (B,).
    """
    device = generator.device if generator is not None else x0.device
    t = torch.randint(0, schedule.num_steps, (x0.shape[0],), generator=generator, device=device).to(x0.device)
    noise = _randn_like(x0, generator)
    return add_noise(schedule, x0, t, noise), t, noise


def denoising_loss(noise_predictor, schedule: NoiseSchedule, batch, generator: torch.Generator | None = None
                   ) -> torch.Tensor:
    """L_simple = E || eps - eps_theta(x_t, t, c) ||^2   (DDPM eq. 14, Algorithm 1).

    ``batch`` is the clean data ``x0`` (a tensor) or a dict ``{"x0": ..., **conditions}``: each
    condition (``text`` token ids, a ``low_res`` image, ``class_labels``) goes to the network
    under its own name, so one loss trains every noise predictor of the book.
    """
    conditions = dict(batch) if isinstance(batch, dict) else {"x0": batch}
    if "x0" not in conditions:
        raise ValueError(f"a diffusion batch needs the clean data under 'x0'; got keys {sorted(conditions)}")
    x_t, t, noise = make_training_pairs(schedule, conditions.pop("x0"), generator)
    return F.mse_loss(noise_predictor(x_t, t, **conditions), noise)


# ------------------------------------------------------------------------------------
# Reverse process p(x_{t-1} | x_t)
# ------------------------------------------------------------------------------------
def predict_x0(schedule: NoiseSchedule, x_t: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t): eq. 4 solved for x_0."""
    alpha_bar = schedule.gather(schedule.alpha_bars, t, x_t)
    return (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()


def posterior_mean_variance(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t):
    """Mean and variance of q(x_{t-1} | x_t, x_0)   (DDPM eq. 6-7)."""
    mean = (schedule.gather(schedule.posterior_mean_coef_x0, t, x_t) * x0
            + schedule.gather(schedule.posterior_mean_coef_xt, t, x_t) * x_t)
    return mean, schedule.gather(schedule.posterior_variance, t, x_t)


def ddpm_step(schedule: NoiseSchedule, eps: torch.Tensor, t, x_t: torch.Tensor,
              noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
              variance: str = "posterior", clip_x0: bool = False, data_range: tuple = (-1.0, 1.0)) -> torch.Tensor:
    """One reverse step x_t -> x_{t-1} given the predicted noise eps   (DDPM Algorithm 2).

    ``variance="posterior"`` uses beta~_t (eq. 7), ``"beta"`` uses beta_t; both are
    choices the DDPM paper found to work equally well. ``t`` is the code index (formula step t + 1):
    no noise is added at code t = 0, the last reverse step, whose output is x_0.
    ``noise`` given explicitly makes the step deterministic. ``clip_x0`` clamps the
    implied clean image to ``data_range`` (images: [-1, 1]) before forming the mean.
    """
    t = _batched_t(schedule.check_timesteps(t), x_t.shape[0], x_t.device)
    if clip_x0:
        # 1. predicted clean image (eq. 4 inverted), clipped; 2. posterior mean (eq. 7)
        x0_hat = predict_x0(schedule, x_t, t, eps).clamp(*data_range)
        mean, _ = posterior_mean_variance(schedule, x0_hat, x_t, t)
    else:
        # mu = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t) eps)   (eq. 11): "subtract the predicted noise"
        beta = schedule.gather(schedule.betas, t, x_t)
        alpha_bar = schedule.gather(schedule.alpha_bars, t, x_t)
        mean = (x_t - beta / (1 - alpha_bar).sqrt() * eps) / (1 - beta).sqrt()
    if variance == "posterior":
        var = schedule.gather(schedule.posterior_variance, t, x_t)
    elif variance == "beta":
        var = schedule.gather(schedule.betas, t, x_t)
    else:
        raise ValueError(f"variance must be 'posterior' or 'beta', got {variance!r}")
    if noise is None:
        noise = _randn_like(x_t, generator)
    not_last = (t > 0).reshape((-1,) + (1,) * (x_t.ndim - 1))  # no noise on the final step (code t = 0)
    return mean + torch.where(not_last, var.sqrt() * noise, torch.zeros_like(noise))  # x_{t-1} = mu + sigma z


def _check_eta(eta: float) -> None:
    if not 0.0 <= eta <= 1.0:  # also refuses nan
        raise ValueError(f"eta must be between 0 (deterministic DDIM) and 1 (DDPM's noise), got {eta}")


def ddim_step(schedule: NoiseSchedule, eps: torch.Tensor, t, t_prev, x_t: torch.Tensor, eta: float = 0.0,
              noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
              clip_x0: bool = False, data_range: tuple = (-1.0, 1.0)) -> torch.Tensor:
    """DDIM update from step t to an earlier step t_prev (``t_prev = -1``: the clean image)  (DDIM eq. 12).

    ``eta = 0`` is deterministic; ``eta = 1`` with ``t_prev = t - 1`` is the DDPM step
    with the posterior variance. ``clip_x0`` clamps the predicted clean image to ``data_range``.
    """
    _check_eta(eta)
    t = _batched_t(schedule.check_timesteps(t), x_t.shape[0], x_t.device)
    t_prev = _batched_t(t_prev, x_t.shape[0], x_t.device)
    if (t_prev >= t).any() or (t_prev < -1).any():
        raise ValueError("t_prev must satisfy -1 <= t_prev < t")
    alpha_bar = schedule.gather(schedule.alpha_bars, t, x_t)
    alpha_bar_prev = schedule.gather(schedule.alpha_bars_prev, t_prev + 1, x_t)  # abar at code -1 (clean) = 1
    # 1. predicted clean image ("predicted x_0", eq. 12)
    x0_hat = predict_x0(schedule, x_t, t, eps)
    if clip_x0:
        x0_hat = x0_hat.clamp(*data_range)
        eps = (x_t - alpha_bar.sqrt() * x0_hat) / (1 - alpha_bar).sqrt()  # keep eps consistent with the clipped x0
    # 2. sigma_t(eta)   (eq. 16)
    sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)).sqrt()
    # 3. "direction pointing to x_t" plus fresh noise   (eq. 12)
    direction = (1 - alpha_bar_prev - sigma**2).clamp(min=0).sqrt() * eps
    if noise is None:
        noise = _randn_like(x_t, generator) if eta > 0 else torch.zeros_like(x_t)
    return alpha_bar_prev.sqrt() * x0_hat + direction + sigma * noise


def log_snr(schedule: NoiseSchedule, t, like: torch.Tensor) -> torch.Tensor:
    """lambda_t = log(alpha_t / sigma_t) = 1/2 log(abar_t / (1 - abar_t)), the half log signal-to-noise ratio, in
    which DPM-Solver steps (Lu et al. 2022a, sec. 3.1). It grows as t falls; +inf at t = -1, the clean image."""
    alpha_bars = torch.cat([torch.ones(1, dtype=torch.float64), schedule.alpha_bars])  # abar at code -1 (clean) = 1
    alpha_bar = schedule.gather(alpha_bars, torch.as_tensor(t) + 1, like)
    return 0.5 * (alpha_bar.log() - (1 - alpha_bar).log())


def dpm_solver_step(schedule: NoiseSchedule, x0_hat: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor,
                    earlier: tuple | None = None, stochastic: bool = False, noise: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """One DPM-Solver++ step from step t to an earlier step t_prev (``-1``: the clean image), in data-prediction
    form: Lu et al. 2022b ("DPM-Solver++"), Algorithm 2 (2M); ``stochastic``: its SDE counterpart, the reverse SDE
    solved for the same D (k-diffusion's "DPM-Solver++(2M) SDE", midpoint form).

    ``x0_hat`` is the predicted clean image at (x_t, t), guided and clipped as for DDIM. ``earlier`` is
    ``(x0_hat, t)`` of the step before, at a noisier step: with it the step is second order. Without it (the
    first step) and on the last step (to t_prev = -1, where lambda is infinite) it is first order, and then it
    *is* DDIM's step: eta = 0, or eta = 1 when ``stochastic``. Each step solves the probability-flow ODE
    (or the reverse SDE) exactly for a clean-image estimate D that is constant (first order) or linear in lambda
    (second order) over the step.
    """
    alpha_bar_prev = schedule.gather(schedule.alpha_bars_prev, t_prev + 1, x_t)  # abar at code -1 (clean) = 1
    alpha_prev, sigma_prev = alpha_bar_prev.sqrt(), (1 - alpha_bar_prev).sqrt()
    sigma = (1 - schedule.gather(schedule.alpha_bars, t, x_t)).sqrt()
    h = log_snr(schedule, t_prev, x_t) - log_snr(schedule, t, x_t)  # h_i = lambda_{t_i} - lambda_{t_{i-1}} > 0
    # 1. the clean image the step integrates, D_i: x0_hat itself (first order), or the line through the last two
    #    estimates in lambda, D_i = (1 + 1/(2 r_i)) x0_hat_i - 1/(2 r_i) x0_hat_{i-1}, r_i = h_{i-1} / h_i  (Alg. 2)
    D = x0_hat
    if earlier is not None and t_prev >= 0:
        x0_hat_earlier, t_earlier = earlier
        r = (log_snr(schedule, t, x_t) - log_snr(schedule, t_earlier, x_t)) / h
        D = (1 + 1 / (2 * r)) * x0_hat - 1 / (2 * r) * x0_hat_earlier
    if not stochastic:
        # 2. x_{t_i} = sigma_{t_i} / sigma_{t_{i-1}} x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) D_i   (Alg. 2)
        return sigma_prev / sigma * x_t - alpha_prev * torch.expm1(-h) * D
    # 2'. the SDE step: x_{t_i} = sigma_{t_i} / sigma_{t_{i-1}} e^{-h_i} x_{t_{i-1}} + alpha_{t_i} (1 - e^{-2 h_i}) D_i
    #     + sigma_{t_i} sqrt(1 - e^{-2 h_i}) z: the x_t term shrinks by e^{-h} more than the ODE's, fresh noise refills it
    if noise is None:
        noise = _randn_like(x_t, generator)
    return (sigma_prev / sigma * torch.exp(-h) * x_t - alpha_prev * torch.expm1(-2 * h) * D
            + sigma_prev * (-torch.expm1(-2 * h)).sqrt() * noise)


def denoise(noise_predictor, schedule: NoiseSchedule, x_t: torch.Tensor, t: int,
            generator: torch.Generator | None = None, clip_x0: bool = False, data_range: tuple = (-1.0, 1.0),
            **model_kwargs) -> torch.Tensor:
    """The lecture's Denoise module: predict the noise in x_t, then take one DDPM step to x_{t-1}."""
    t_batch = torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long)
    eps = noise_predictor(x_t, t_batch, **model_kwargs).float()
    return ddpm_step(schedule, eps, t, x_t, generator=generator, clip_x0=clip_x0, data_range=data_range)


def guided_noise_predictor(noise_predictor, text, guidance_scale: float = 1.0, batched: bool | None = None):
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6): a noise predictor that mixes the
    conditional and the unconditional predictions of one network,

        eps~(x_t, t, c) = eps(x_t, t, empty) + w * (eps(x_t, t, c) - eps(x_t, t, empty)).

    w = 1 is the plain conditional model; w > 1 pushes samples further towards what the
    condition says; w = 0 ignores it. (Ho & Salimans write the same mix as (1 + w') eps_c - w' eps_u,
    so their w' is our w - 1.) The network's "empty" input is what it returns for ``text=None``
    (the empty caption it was trained on 10% of the time). ``batched``: make both predictions in one
    call on a doubled batch, captions then empty captions (same numbers; needs a network that spells
    the empty caption, ``empty_text``). Default: batched on a GPU, where one call of twice the batch
    costs about as much as one call; on a CPU two calls measured faster (``benchmarks/samplers.py
    --guidance``: 9.3 s against 10.6 s for 64 shapes samples, DDIM-50, 2 threads).
    """
    def predict(x_t, t, **model_kwargs):
        if guidance_scale == 1.0:
            return noise_predictor(x_t, t, text=text, **model_kwargs)
        one_call = x_t.device.type != "cpu" if batched is None else batched
        if one_call and hasattr(noise_predictor, "empty_text"):
            empty = noise_predictor.empty_text(len(text), text.device)
            width = max(text.shape[1], empty.shape[1])  # pad (id 0, masked out) to one length
            texts = torch.cat([F.pad(text, (0, width - text.shape[1])), F.pad(empty, (0, width - empty.shape[1]))])
            double = lambda v: torch.cat([v, v]) if isinstance(v, torch.Tensor) and v.ndim > 0 else v
            eps_cond, eps_uncond = noise_predictor(double(x_t), double(t), text=texts,
                                                   **{k: double(v) for k, v in model_kwargs.items()}).chunk(2)
        else:
            eps_cond = noise_predictor(x_t, t, text=text, **model_kwargs)
            eps_uncond = noise_predictor(x_t, t, **model_kwargs)
        return eps_uncond + guidance_scale * (eps_cond - eps_uncond)

    return predict


@dataclass
class Trajectory:
    """The states of one run of the reverse process.

    ``timesteps[i]`` is the code step index of ``states[i]``: the first is the starting noise
    x_T (code index ``T-1``), the last is ``-1``, the generated clean sample x_0.
    """

    timesteps: list
    states: torch.Tensor  # (S, B, ...)


def sampling_timesteps(schedule: NoiseSchedule, steps: int, first: int | None = None) -> list:
    """``steps`` evenly spaced step indices from ``first`` (default T-1) down to 0 (the DDIM sub-sequence tau)."""
    first = schedule.num_steps - 1 if first is None else first
    if not 1 <= steps <= first + 1:
        raise ValueError(f"steps must be between 1 and {first + 1} (the steps from t = {first} down to 0), got {steps}")
    return torch.linspace(first, 0, steps).round().long().unique_consecutive().tolist()


# samplers that visit a few evenly spaced steps, with their number of steps when none is asked for
STRIDED_SAMPLERS = {"ddim": 50, "dpm++2m": 20, "dpm++2m-sde": 20}
SAMPLERS = ("ddpm", *STRIDED_SAMPLERS)


def sampler_timesteps(schedule: NoiseSchedule, sampler: str, steps: int | None = None, first: int | None = None) -> list:
    """The steps ``sampler`` visits from ``first`` (default T-1) down to 0: all of them for DDPM, ``steps`` evenly
    spaced ones (default: ``STRIDED_SAMPLERS[sampler]``, or all there are when fewer) for DDIM and the solvers."""
    first = schedule.num_steps - 1 if first is None else first
    if sampler == "ddpm":
        if steps not in (None, schedule.num_steps):
            raise ValueError(f"the DDPM sampler visits all {schedule.num_steps} steps of the reverse process; "
                             "sample fewer with the ddim sampler or a dpm++ solver")
        return list(range(first, -1, -1))
    if sampler not in STRIDED_SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if steps is not None and steps > first + 1:
        raise ValueError(f"{sampler} with {steps} steps: the reverse process has only {first + 1} steps "
                         f"(t = {first} down to 0); ask for at most {first + 1}")
    return sampling_timesteps(schedule, min(steps or STRIDED_SAMPLERS[sampler], first + 1), first)


@dataclass(frozen=True)
class Sampling:
    """How the reverse process is run, as one value: the ``sampler``, the ``steps`` it visits (None: all T for DDPM,
    ``STRIDED_SAMPLERS[sampler]`` for the others), DDIM's ``eta`` and the classifier-free ``guidance_scale`` (1: no
    guidance). ``sample`` takes them one by one; the pipeline and the evaluations hand this value on."""

    sampler: str = "ddim"
    steps: int | None = None
    eta: float = 0.0
    guidance_scale: float = 1.0

    def but(self, **changes) -> "Sampling":
        """This sampling with the ``changes`` given (one left None stays as it is). Another sampler drops the steps
        unless they are given too: a route's 50 DDIM steps say nothing of how many DDPM visits."""
        changes = {key: value for key, value in changes.items() if value is not None}
        if changes.get("sampler", self.sampler) != self.sampler:
            changes.setdefault("steps", None)
        return replace(self, **changes)

    def timesteps(self, schedule: NoiseSchedule, first: int | None = None) -> list:
        """The steps it visits, from ``first`` (default T-1) down to 0 (``sampler_timesteps``)."""
        return sampler_timesteps(schedule, self.sampler, self.steps, first)


def clip_for(noise_predictor, clip_x0: bool | None) -> bool:
    """Whether to clip the predicted clean image to the model's ``data_range`` ([-1, 1] for images; the measured
    range of the scaled latents for a latent generator): ``clip_x0`` if given, else whenever the model has a
    range. A model without one (2-D points) cannot be clipped: asking for it is refused."""
    data_range = getattr(noise_predictor, "data_range", None)
    if clip_x0 is None:
        return data_range is not None
    if clip_x0 and data_range is None and hasattr(noise_predictor, "data_range"):
        raise ValueError(f"{type(noise_predictor).__name__} samples data without a fixed range (2-D points): "
                         "clip_x0=True would clamp them to [-1, 1] and distort them; leave clip_x0 unset")
    return clip_x0


def sample_shape(noise_predictor, shape) -> tuple:
    """``shape`` as a tuple: a number of samples becomes (n, *model.sample_shape)."""
    if isinstance(shape, int):
        if not hasattr(noise_predictor, "sample_shape"):
            raise TypeError(f"{type(noise_predictor).__name__} does not say what it samples (no sample_shape): "
                            "pass the full shape, e.g. (16, 1, 16, 16)")
        return (shape, *noise_predictor.sample_shape)
    return tuple(shape)


@torch.no_grad()
def sample(noise_predictor, schedule: NoiseSchedule, shape, sampler: str = "ddpm", steps: int | None = None,
           eta: float = 0.0, generator: torch.Generator | None = None, device=None, clip_x0: bool | None = None,
           progress: bool = True, return_trajectory: bool = False, text=None, guidance_scale: float = 1.0,
           x_start: torch.Tensor | None = None, t_start: int | None = None, **model_kwargs):
    """The reverse process: start from pure noise x_T ~ N(0, I) (code index T-1) and denoise step by step.

    ``shape`` is the number of samples (the model says the rest: ``model.sample_shape``) or a
    full shape. ``sampler="ddpm"`` visits all T steps (DDPM Algorithm 2); ``"ddim"`` visits
    ``steps`` evenly spaced ones (DDIM eq. 12, deterministic when eta = 0); ``"dpm++2m"`` and
    ``"dpm++2m-sde"`` visit the same steps with DPM-Solver++'s second-order steps (``dpm_solver_step``;
    the SDE one adds noise as eta = 1 does). ``clip_x0``
    (default: whenever the model has a ``data_range``) keeps the predicted clean image in
    that range. ``text`` (caption token ids, one row per sample) conditions a text model, with
    classifier-free ``guidance_scale`` (see ``guided_noise_predictor``); other conditions go
    to the network as keywords. ``x_start`` and ``t_start`` (together) start the reverse
    process from a given x_t at code step t_start instead of pure noise at code step T-1 (the super-resolution
    decoder of chapter 04 starts from its noised, upsampled thumbnail). Returns the samples,
    or ``(samples, Trajectory)`` when ``return_trajectory``.
    """
    if not getattr(noise_predictor, "predicts_noise", True):  # e.g. chapter 06's VAE
        raise TypeError(f"{type(noise_predictor).__name__} is not a noise predictor and has no reverse process: "
                        f"sample it with its own .sample(num_images)")
    shape = sample_shape(noise_predictor, shape)
    clip_x0 = clip_for(noise_predictor, clip_x0)
    data_range = getattr(noise_predictor, "data_range", None) or (-1.0, 1.0)
    if device is None:
        device = next(noise_predictor.parameters()).device
    if (x_start is None) != (t_start is None):
        raise ValueError("x_start and t_start go together: the state x_t to start from, and its step t")
    first = schedule.num_steps - 1 if t_start is None else int(schedule.check_timesteps(t_start))
    timesteps = sampler_timesteps(schedule, sampler, steps, first)
    if sampler == "ddim":
        _check_eta(eta)

    was_training = noise_predictor.training
    noise_predictor.eval()
    network = noise_predictor
    # conditions (a thumbnail, its augmentation level, ...) go where the network is, wherever the caller made them
    model_kwargs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in model_kwargs.items()}
    if text is not None:
        if len(text) != shape[0]:
            raise ValueError(f"text has {len(text)} rows but {shape[0]} samples were asked for: one caption per sample")
        noise_predictor = guided_noise_predictor(network, text.to(device), guidance_scale)
    elif guidance_scale != 1.0:
        raise ValueError("guidance_scale needs a condition: pass text=... (e.g. model.tokenizer(prompts))")
    if x_start is None:
        x_start = torch.randn(tuple(shape), generator=generator,
                              device=generator.device if generator is not None else device)
    elif tuple(x_start.shape) != tuple(shape):
        raise ValueError(f"x_start has shape {tuple(x_start.shape)}, but {tuple(shape)} samples were asked for")
    x = x_start.to(device)
    states = [x.cpu()] if return_trajectory else None
    earlier = None  # the solvers' clean-image estimate at the step before
    for i, t in enumerate(progress_bar(timesteps, progress, desc=f"{sampler} sampling", leave=False)):
        if sampler == "ddpm":
            x = denoise(noise_predictor, schedule, x, t, generator=generator, clip_x0=clip_x0, data_range=data_range,
                        **model_kwargs)
        else:
            t_batch = torch.full((x.shape[0],), t, device=device, dtype=torch.long)
            eps = noise_predictor(x, t_batch, **model_kwargs).float()
            t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
            if sampler == "ddim":
                x = ddim_step(schedule, eps, t, t_prev, x, eta=eta, generator=generator, clip_x0=clip_x0,
                              data_range=data_range)
            else:  # DPM-Solver++ steps on the clean image the prediction implies, clipped as DDIM clips it
                x0_hat = predict_x0(schedule, x, t, eps)
                if clip_x0:
                    x0_hat = x0_hat.clamp(*data_range)
                # first order into t = 0 too: lambda leaps there (4.4 at t = 0 from 1.7 at t = 111 on the cosine
                # schedule, 10 steps) while x0_hat has settled, and the line through two estimates would overshoot
                x, earlier = dpm_solver_step(schedule, x0_hat, t, t_prev, x, earlier if t_prev > 0 else None,
                                             stochastic=sampler == "dpm++2m-sde", generator=generator), (x0_hat, t)
        if return_trajectory:
            states.append(x.cpu())
    network.train(was_training)
    if return_trajectory:
        return x, Trajectory(timesteps=timesteps + [-1], states=torch.stack(states))
    return x
