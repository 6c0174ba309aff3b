"""Checkers for the exercises of chapter 06 (the details).

- ``check_noising_loop(fn)``: the reader's slow forward process ``fn(schedule, x0, t, generator) -> x_t``,
  which applies q(x_s | x_{s-1}) for s = 0 .. t with fresh noise each step, against the one-shot
  distribution N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) (alpha_bar computed here in float64):
  means, variances, normality and independence between pixels, on a short schedule whose steps
  are big enough that an off-by-one or reused noise shows; then that the steps are really taken one
  by one: with generators seeded alike, x_{t+1} - sqrt(1 - beta_{t+1}) x_t must be fresh noise of
  variance beta_{t+1}, independent of x_t (the one-shot formula, ``add_noise``, fails this).
- ``check_ddim_step(fn)``: the reader's ``fn(schedule, eps, t, t_prev, x_t, eta, noise) -> x_{t_prev}``
  (DDIM eq. 12 with sigma from eq. 16) against a float64 reference written here, for eta = 0, 0.5
  and 1, strided steps and the last step (t_prev = -1, alpha_bar_{-1} = 1).
- ``check_reparameterised_sample(fn)``: the reader's ``fn(mean, logvar, eps) -> z``, z = mean + std * eps
  with std = exp(logvar / 2), and a check that gradients reach mean and logvar.

Each returns True or False and prints what is right or what is wrong; none raises
because of the reader's code.
"""

import math

import torch

from ..schedules import NoiseSchedule
from . import call_reader_function

_Z_LIMIT = 6.0  # a statistic this many standard errors off fails; a right answer does so < once in 10^8 runs


def _alpha_bars(schedule: NoiseSchedule) -> torch.Tensor:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s), in float64, from the betas alone."""
    return torch.cumprod(1.0 - torch.as_tensor(schedule.betas).detach().cpu().double(), dim=0)


def _reader_tensor(fn, args, where: str, like: torch.Tensor, what: str):
    """The reader's ``fn(*args)`` if it returned a finite tensor shaped like ``like``; else print why, None."""
    got, error = call_reader_function(fn, args, where)
    if error:
        print(error)
    elif not isinstance(got, torch.Tensor):
        print(f"Not yet: {what} should be a tensor, got {type(got).__name__}.")
    elif got.shape != like.shape:
        print(f"Not yet: {what} should have shape {tuple(like.shape)}, got {tuple(got.shape)}.")
    elif not torch.isfinite(got).all():
        print(f"Not yet: {what} contains inf or nan.")
    else:
        return got
    return None


# ------------------------------------------------------------------------------------
# Exercise 1: noising step by step
# ------------------------------------------------------------------------------------
def check_noising_loop(fn) -> bool:
    # ten big steps: alpha_bar falls 1 -> 0.11, so every step (and every missing one) shows
    schedule = NoiseSchedule.linear(num_steps=10, beta_start=0.05, beta_end=0.35)
    alpha_bars = _alpha_bars(schedule)
    draws, pixels = 4000, 6
    x0 = torch.linspace(-1, 1, pixels).reshape(1, 1, 1, pixels).expand(draws, 1, 1, pixels).contiguous()
    for t in (0, 3, 9):
        generator = torch.Generator().manual_seed(10 + t)
        got = _reader_tensor(fn, (schedule, x0.clone(), t, generator), f"t = {t}", x0, f"x_t at t = {t}")
        if got is None:
            return False
        got = got.double()
        mean, var = alpha_bars[t].sqrt() * x0[0].double(), 1 - alpha_bars[t]
        z_mean = ((got.mean(0) - mean) / (var / draws).sqrt()).abs().max().item()
        z_var = ((got.var(0) - var) / (var * math.sqrt(2 / (draws - 1)))).abs().max().item()
        if z_var > _Z_LIMIT or z_mean > _Z_LIMIT:
            measured = got.var(0).mean().item()
            hint = "apply x_s = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) eps_s for every s from 0 to t, included"
            if measured > 1.1 * var:
                hint = ("your variance is too large: draw fresh noise at every step; one draw reused adds up "
                        "coherently instead of as independent noises")
            elif t == 0 and measured < 1e-12:
                hint = "at t = 0 one step is applied already (s = 0): loop over range(t + 1)"
            else:
                for s, abar in enumerate(alpha_bars.tolist()):
                    if abs(measured - (1 - abar)) < 0.02 * (1 - abar) and s != t:
                        hint = (f"your variance {measured:.3f} is 1 - alpha_bar at step {s}, not {t}: "
                                "loop over s = 0 .. t (range(t + 1))")
            print(f"Not yet: at t = {t}, x_t should have mean sqrt(alpha_bar_t) x_0 and variance 1 - alpha_bar_t = "
                  f"{var:.3f}; yours has variance {measured:.3f} (largest deviations: {z_mean:.1f} and "
                  f"{z_var:.1f} standard errors). Hint: {hint}.")
            return False
        # normal, not only the right mean and variance: the fraction beyond 2 standard deviations
        beyond = (((got - mean) / var.sqrt()).abs() > 2).double().mean().item()
        expected_beyond = math.erfc(2 / math.sqrt(2))
        if abs(beyond - expected_beyond) > _Z_LIMIT * math.sqrt(expected_beyond / (draws * pixels)):
            print(f"Not yet: at t = {t}, {beyond:.3%} of your x_t lie beyond two standard deviations; a Gaussian "
                  f"puts {expected_beyond:.2%} there. Hint: draw the noise from torch.randn, not torch.rand.")
            return False
        # fresh noise per step and per pixel: the pixels of one draw are uncorrelated
        centred = got.reshape(draws, pixels) - mean.reshape(1, pixels)
        correlation = torch.corrcoef(centred.T)[0, 1:].abs().max().item()
        if correlation > _Z_LIMIT / math.sqrt(draws):
            print(f"Not yet: at t = {t}, the pixels of one x_t are correlated ({correlation:.2f}). Hint: each step "
                  "needs fresh noise of x's whole shape, torch.randn(x.shape, generator=generator).")
            return False
    if not _steps_are_chained(fn, schedule, x0, t=3, seed=99):
        return False
    print("Right: applying q(x_s | x_{s-1}) t + 1 times gives x_t ~ N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I), "
          "the same distribution add_noise draws in one operation.")
    return True


def _steps_are_chained(fn, schedule: NoiseSchedule, x0: torch.Tensor, t: int, seed: int) -> bool:
    """Whether ``fn`` takes the steps one by one: with generators seeded alike, the loop to t + 1 repeats the
    loop to t and then takes one more step, so x_{t+1} - sqrt(1 - beta_{t+1}) x_t is that step's fresh noise,
    variance beta_{t+1} and independent of x_t. One-shot noising (sqrt(abar) x0 + sqrt(1 - abar) eps with
    one draw eps) fails: its x_t and x_{t+1} share that draw. Prints why when not."""
    runs = []
    for steps in (t, t, t + 1):
        got = _reader_tensor(fn, (schedule, x0.clone(), steps, torch.Generator().manual_seed(seed)), f"t = {steps}",
                             x0, f"x_t at t = {steps}")
        if got is None:
            return False
        runs.append(got.double())
    x_t, again, x_next = runs
    if not torch.allclose(x_t, again):
        print("Not yet: two calls with generators seeded alike gave different x_t: draw every step's noise from "
              "`generator`, torch.randn(x.shape, generator=generator), not from torch's global random state.")
        return False
    beta = schedule.betas[t + 1].item()
    step_noise = (x_next - math.sqrt(1 - beta) * x_t).reshape(x_t.shape[0], -1)
    centred = (x_t - x_t.mean(0)).reshape(x_t.shape[0], -1)
    draws = x_t.shape[0]
    correlation = max(abs(torch.corrcoef(torch.stack([step_noise[:, j], centred[:, j]]))[0, 1].item())
                      for j in range(centred.shape[1]))
    z_var = ((step_noise.var(0) - beta) / (beta * math.sqrt(2 / (draws - 1)))).abs().max().item()
    if correlation > _Z_LIMIT / math.sqrt(draws) or z_var > _Z_LIMIT:
        print(f"Not yet: your x_{{t+1}} is not one more step from your x_t (same seed, t = {t}): "
              f"x_{{t+1}} - sqrt(1 - beta_{{t+1}}) x_t should be fresh noise of variance {beta:.3f}, independent of "
              f"x_t, but has variance {step_noise.var(0).mean().item():.3f} and correlation {correlation:.2f} with "
              "x_t. The one-shot formula (add_noise) skips the exercise: loop over s = 0 .. t, one step "
              "x = sqrt(1 - beta_s) x + sqrt(beta_s) eps_s with a fresh draw from `generator` each.")
        return False
    return True


# ------------------------------------------------------------------------------------
# Exercise 2: one DDIM step
# ------------------------------------------------------------------------------------
def _reference_ddim(alpha_bars, eps, t, t_prev, x_t, eta, noise):
    """x_{t_prev} = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma z   (DDIM eq. 12, 16)."""
    abar = alpha_bars[t]
    abar_prev = alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0, dtype=torch.float64)
    x_t, eps, noise = x_t.double(), eps.double(), noise.double()
    x0_hat = (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()
    sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
    return abar_prev.sqrt() * x0_hat + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps + sigma * noise, sigma


def check_ddim_step(fn) -> bool:
    schedule = NoiseSchedule.cosine(num_steps=1000)
    alpha_bars = _alpha_bars(schedule)
    generator = torch.Generator().manual_seed(6)
    for t, t_prev, eta in [(999, 979, 0.0), (500, 480, 0.0), (500, 480, 0.5), (40, 39, 1.0), (20, -1, 0.0)]:
        x_t, eps, noise = (torch.randn(3, 1, 4, 4, generator=generator) for _ in range(3))
        expected, sigma = _reference_ddim(alpha_bars, eps, t, t_prev, x_t, eta, noise)
        where = f"t = {t}, t_prev = {t_prev}, eta = {eta}"
        got = _reader_tensor(fn, (schedule, eps.clone(), t, t_prev, x_t.clone(), eta, noise.clone()), where, x_t,
                             f"x_t_prev ({where})")
        if got is None:
            return False
        if not torch.allclose(got.double(), expected, atol=1e-4, rtol=1e-4):
            no_noise, _ = _reference_ddim(alpha_bars, eps, t, t_prev, x_t, 0.0, noise)
            if t_prev == -1:
                hint = "for the last step (t_prev = -1) use alpha_bar_{-1} = 1: the result is x0_hat itself"
            elif eta > 0 and torch.allclose(got.double(), no_noise, atol=1e-4):
                hint = (f"with eta = {eta} the step adds sigma * noise, sigma = eta sqrt((1 - abar_prev) / (1 - abar)"
                        f" (1 - abar / abar_prev)) = {sigma.item():.4f}, and the direction term shrinks to "
                        "sqrt(1 - abar_prev - sigma^2) eps")
            else:
                hint = ("x_t_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma noise, with "
                        "x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) and abar the cumulative products")
            print(f"Not yet: at {where} your step differs from DDIM's by up to "
                  f"{(got.double() - expected).abs().max().item():.3g}. Hint: {hint}.")
            return False
    print("Right: predict x_0, step to alpha_bar_{t_prev} along the predicted noise, and add sigma z, sigma set by "
          "eta. With eta = 0 the step is deterministic; with eta = 1 and t_prev = t - 1 it is DDPM's step.")
    return True


# ------------------------------------------------------------------------------------
# Exercise 3: the VAE's reparameterised sample
# ------------------------------------------------------------------------------------
def check_reparameterised_sample(fn) -> bool:
    generator = torch.Generator().manual_seed(7)
    for shape in [(5, 16), (2, 4, 3, 3)]:
        mean = torch.randn(shape, generator=generator, dtype=torch.float64)
        logvar = torch.randn(shape, generator=generator, dtype=torch.float64) - 1
        eps = torch.randn(shape, generator=generator, dtype=torch.float64)
        expected = mean + (0.5 * logvar).exp() * eps
        mean_in, logvar_in = mean.clone().requires_grad_(), logvar.clone().requires_grad_()
        got = _reader_tensor(fn, (mean_in, logvar_in, eps.clone()), f"shape {shape}", expected, "z")
        if got is None:
            return False
        if not torch.allclose(got.detach().double(), expected, atol=1e-6):
            if torch.allclose(got.detach().double(), mean + logvar.exp() * eps, atol=1e-6):
                hint = "exp(logvar) is the variance; the noise is scaled by the standard deviation exp(logvar / 2)"
            elif torch.allclose(got.detach().double(), mean + logvar * eps, atol=1e-6):
                hint = "logvar is the log of the variance: the standard deviation is exp(logvar / 2)"
            else:
                hint = "z = mean + exp(logvar / 2) * eps"
            print(f"Not yet: your z differs from mean + std * eps by up to "
                  f"{(got.detach().double() - expected).abs().max().item():.3g}. Hint: {hint}.")
            return False
        if not got.requires_grad:
            print("Not yet: z carries no gradient: build it from mean and logvar with tensor operations (no "
                  ".detach(), no torch.no_grad()), so that the encoder learns through the sample.")
            return False
        got.sum().backward()
        if mean_in.grad is None or logvar_in.grad is None or not torch.allclose(
                logvar_in.grad, 0.5 * (0.5 * logvar).exp() * eps, atol=1e-6):
            print("Not yet: the gradient of z with respect to logvar should be exp(logvar / 2) * eps / 2.")
            return False
    print("Right: z = mean + std * eps moves the randomness into eps, so the encoder's mean and log-variance get "
          "gradients: the reparameterisation trick that lets a VAE's encoder be trained.")
    return True
