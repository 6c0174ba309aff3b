"""Checkers for the exercises of chapter 01 (the overall idea: reverse process, Denoise).

- ``check_denoise_step(fn)``: one Denoise step written by the reader,
  ``fn(schedule, eps, t, x_t, z) -> x_{t-1}``, against the DDPM formula computed here
  independently, in float64, from ``schedule.betas`` alone. Handing the work to the package's
  ``diffusion.ddpm_step`` (or ``ddim_step``) is refused: the exercise is to write the step; so is
  reading the schedule's precomputed ``alpha_bars`` (the exercise computes alpha_bar_t from the betas).
- ``check_reverse_process(fn, model, schedule)``: the whole reverse process written by the
  reader, ``fn(model, schedule, shape, generator) -> x``, against ``diffusion.sample`` with
  the same seed, plus what can be checked without it (which steps the noise predictor saw,
  in which order). Calling ``diffusion.sample`` itself is refused: the exercise is to write the loop.
- ``check_step_embedding(fn)``: the U-Net's step embedding written by the reader,
  ``fn(t, dim) -> (B, dim)``, against the formula computed here in float64.

Each returns True or False and prints what is right or what is wrong; neither raises
because of the reader's code.
"""

import copy
import math
import os
import sys

import torch

from ..schedules import NoiseSchedule
from . import betas_only, call_reader_function


# ------------------------------------------------------------------------------------
# Exercise 1: one Denoise step
# ------------------------------------------------------------------------------------
def _alpha_bars_written_out(betas) -> list:
    """alpha_bar_t = (1 - beta_0)(1 - beta_1)...(1 - beta_t), as a running product of Python floats."""
    products, running = [], 1.0
    for beta in betas:
        running *= 1.0 - beta
        products.append(running)
    return products


def _step_variants(betas: list, eps, t: int, x_t, z, wrong_ones: bool = True) -> dict:
    """x_{t-1} computed the right ways and some common wrong ways, in float64.

    The right ways: mu + sigma z with sigma^2 = beta~_t (the posterior variance) or beta_t,
    and no noise at t = 0.
    """
    eps, x_t, z = (v.detach().cpu().double() for v in (eps, x_t, z))
    abar = _alpha_bars_written_out(betas)
    beta, abar_t = betas[t], abar[t]
    abar_prev = abar[t - 1] if t > 0 else 1.0                       # alpha_bar_{-1} = 1: the clean image
    alpha = 1.0 - beta

    mean = (x_t - beta / math.sqrt(1 - abar_t) * eps) / math.sqrt(alpha)   # DDPM eq. 11
    var_posterior = beta * (1 - abar_prev) / (1 - abar_t)                  # beta~_t, DDPM eq. 7
    last = t == 0
    variants = {
        "posterior": mean if last else mean + math.sqrt(var_posterior) * z,
        "beta": mean if last else mean + math.sqrt(beta) * z,
    }
    if not wrong_ones:
        return variants
    variants |= {  # wrong ones, each with what to say about it
        "noise at t = 0": mean + math.sqrt(beta) * z,
        "no noise": mean,
        "divided by sqrt(alpha_bar_t)": (x_t - beta / math.sqrt(1 - abar_t) * eps) / math.sqrt(abar_t)
        + (0 if last else math.sqrt(var_posterior) * z),
        "eps coefficient without square root": (x_t - beta / (1 - abar_t) * eps) / math.sqrt(alpha)
        + (0 if last else math.sqrt(var_posterior) * z),
        "added eps": (x_t + beta / math.sqrt(1 - abar_t) * eps) / math.sqrt(alpha)
        + (0 if last else math.sqrt(var_posterior) * z),
        "variance instead of standard deviation": mean + (0 if last else var_posterior * z),
        "all the noise removed": (x_t - math.sqrt(1 - abar_t) * eps) / math.sqrt(abar_t),
    }
    if t + 1 < len(betas):  # the schedule read one step too late (t + 1 for t)
        variants["off by one"] = _step_variants(betas, eps, t + 1, x_t, z, wrong_ones=False)["posterior"]
    return variants


_HINTS = {
    "noise at t = 0": "you added noise on the last step (t = 0). The last Denoise step returns the "
                      "final image, so it must return the mean mu alone: use z only when t > 0.",
    "no noise": "you returned the mean mu but left out the noise: x_{t-1} = mu + sigma_t * z for t > 0.",
    "divided by sqrt(alpha_bar_t)": "you divided by sqrt(alpha_bar_t); one step undoes one forward step's "
                                    "shrinking, so divide by sqrt(alpha_t) = sqrt(1 - beta_t).",
    "eps coefficient without square root": "the coefficient of eps should be beta_t / sqrt(1 - alpha_bar_t); "
                                           "you used beta_t / (1 - alpha_bar_t).",
    "added eps": "you added the predicted noise instead of subtracting it: x_t - beta_t / sqrt(1 - alpha_bar_t) * eps.",
    "variance instead of standard deviation": "you multiplied z by the variance sigma_t^2; multiply it by the "
                                              "standard deviation sigma_t (take the square root).",
    "all the noise removed": "you removed all of the predicted noise at once (that is the implied clean "
                             "image x0_hat); one Denoise step removes only the share beta_t / sqrt(1 - alpha_bar_t).",
    "off by one": "your numbers match the schedule at step t + 1: index betas and alpha_bars with t itself "
                  "(t runs 0..T-1 in code).",
}


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-4))


def _call_watching(fn, args, watched: dict):
    """``fn(*args)`` and the names of the ``watched`` functions ({code object: name}) it called, directly
    or not, under whatever name it reached them (``diffusion.ddpm_step``, an imported ``ddpm_step``, ...).

    Uses ``sys.setprofile`` for the duration of the call and restores the previous profiler afterwards.
    """
    called = []

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in watched:
            called.append(watched[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        return fn(*args), called
    finally:
        sys.setprofile(previous)


def check_denoise_step(fn, schedule: NoiseSchedule | None = None) -> bool:
    """Check ``fn(schedule, eps, t, x_t, z) -> x_{t-1}``, one DDPM reverse step.

    ``t`` is a Python int (the same step for the whole batch); ``eps`` is the predicted
    noise, ``z`` the fresh standard normal noise, both shaped like ``x_t``. The result must
    be ``mu + sigma_t z`` with ``mu = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t)``,
    ``sigma_t^2`` either the posterior variance beta~_t or beta_t, and no noise at ``t = 0``;
    same shape and dtype as ``x_t``. Checked on ``schedule`` (default: linear, T = 1000) and a
    short cosine schedule, at several steps including t = 0 and t = T-1, for points and images.
    """
    schedules = [schedule or NoiseSchedule.linear(1000), NoiseSchedule.cosine(20)]
    generator = torch.Generator().manual_seed(1234)
    cases = []
    for sched in schedules:
        T = sched.num_steps
        for t, shape in [(T - 1, (5, 2)), (T // 2, (3, 1, 4, 4)), (1, (5, 2)), (0, (4, 2)), (0, (2, 1, 3, 3))]:
            cases.append((sched, t, shape))

    from .. import diffusion

    # the package's own steps: the exercise is to write one, so handing the work to them is refused
    steps_of_the_package = {diffusion.ddpm_step.__code__: "diffusion.ddpm_step",
                            diffusion.ddim_step.__code__: "diffusion.ddim_step"}
    candidates = {"posterior", "beta"}  # the variances consistent with every step so far
    for sched, t, shape in cases:
        betas = sched.betas.tolist()
        x_t, eps, z = (torch.randn(shape, generator=generator) for _ in range(3))
        inputs = (x_t.clone(), eps.clone(), z.clone())
        where = f"at t = {t} (T = {sched.num_steps}, x_t of shape {tuple(shape)})"
        watched = betas_only(sched)  # notes whether its precomputed alpha_bars are read
        try:
            out, delegated = _call_watching(fn, (watched, eps, t, x_t, z), steps_of_the_package)
        except Exception as error:  # the reader's code: report, never raise
            print(f"Not yet: your function raised {type(error).__name__}: {error} {where}.")
            return False
        if delegated:
            print(f"Not yet: your function calls the package's {delegated[0]}; write the step yourself, "
                  "x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_t) + sigma_t * z, "
                  "from schedule.betas.")
            return False
        if watched.alpha_bars_read:
            print("Not yet: your function reads schedule.alpha_bars (directly or through a quantity made from it, "
                  "such as schedule.posterior_variance); use only schedule.betas and compute alpha_bar_t = "
                  "(1 - beta_0)...(1 - beta_t) yourself.")
            return False
        if out is None:
            print("Not yet: your function returned None; return x_{t-1}, a tensor shaped like x_t.")
            return False
        if not isinstance(out, torch.Tensor):
            print(f"Not yet: your function returned a {type(out).__name__}; return a torch.Tensor shaped like x_t.")
            return False
        if any(not torch.equal(a, b) for a, b in zip((x_t, eps, z), inputs)):
            print(f"Not yet: your function changed its inputs in place {where}; compute a new tensor instead "
                  "(for example x = x_t - ... rather than x_t -= ...).")
            return False
        if out.shape != x_t.shape:
            print(f"Not yet: the result has shape {tuple(out.shape)} but x_t has shape {tuple(x_t.shape)} {where}; "
                  "x_{t-1} must have the shape of x_t (check how the per-step numbers broadcast).")
            return False
        if out.dtype != x_t.dtype:
            print(f"Not yet: the result has dtype {out.dtype} but x_t has dtype {x_t.dtype} {where}. The schedule "
                  "is stored in float64: turn the numbers you take from it into Python floats (.item()) or "
                  "tensors of x_t's dtype, or the noise predictor will get the wrong dtype on the next step.")
            return False
        if not torch.isfinite(out).all():
            print(f"Not yet: the result contains NaN or infinite values {where}.")
            return False
        if torch.equal(out, x_t):
            print("Not yet: your function returns x_t unchanged. Subtract the scaled predicted noise, "
                  "divide by sqrt(alpha_t), and add sigma_t * z (except at t = 0).")
            return False

        got = out.detach().cpu().double()
        variants = _step_variants(betas, eps, t, x_t, z)
        matches = {name for name in ("posterior", "beta") if _close(got, variants[name])}
        if matches and not matches & candidates:
            print(f"Not yet: you used different variances sigma_t^2 at different steps (seen {where}); "
                  "use one choice, beta~_t or beta_t, for all steps.")
            return False
        if matches:
            candidates &= matches
            continue
        hint = next((_HINTS[name] for name in _HINTS if name in variants and _close(got, variants[name])), None)
        error = (got - variants["posterior"]).abs().max().item()
        print(f"Not yet: wrong x_{{t-1}} {where}; the largest difference from the DDPM formula is {error:.3g}.")
        print("  " + (hint or "Check the formula x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / "
                               "sqrt(alpha_t) + sigma_t * z, with alpha_bar_t = (1 - beta_0)...(1 - beta_t) "
                               "and no noise at t = 0."))
        return False

    which = ("the posterior variance beta~_t (ddpm_step's default)" if "posterior" in candidates
             else "sigma_t^2 = beta_t (ddpm_step's variance='beta')")
    print(f"Correct! Your Denoise step matches the DDPM formula at every step tried, including t = 0 "
          f"(no noise added) and t = T-1, for points and images, using {which}.")
    return True


# ------------------------------------------------------------------------------------
# Exercise 2: the whole reverse process
# ------------------------------------------------------------------------------------
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _PackageSamplerUsed(Exception):
    """Raised from the noise predictor's hook when the package's sampler, not the reader's loop, calls it."""


def _package_caller(frame):
    """The name of the first function of the package outside the networks (``nn``) on the call stack
    between ``frame`` and the checker that called the reader's function, or None. ``diffusion.denoise``
    (one Denoise step) is allowed: it is one step, not the loop."""
    networks, checkers = os.path.join(_PACKAGE_DIR, "nn") + os.sep, os.path.join(_PACKAGE_DIR, "exercises") + os.sep
    while frame is not None:
        code = frame.f_code
        filename = os.path.abspath(code.co_filename)
        if filename.startswith(checkers):  # the checker: everything in between was the reader's doing
            return None
        if filename.startswith(_PACKAGE_DIR + os.sep) and not filename.startswith(networks):
            module = os.path.splitext(os.path.relpath(filename, _PACKAGE_DIR))[0].replace(os.sep, ".")
            if (module, code.co_name) != ("diffusion", "denoise"):
                return f"{module}.{code.co_name}"
        frame = frame.f_back
    return None


def _record_steps(model, calls: list, sampler_used: list | None = None):
    """Record the step index of every call to ``model`` (t given by position or as ``t=``); when the
    call comes from the package's own sampler (``diffusion.sample`` ...), note its name in
    ``sampler_used`` and stop the run."""

    def hook(module, args, kwargs):
        if sampler_used is not None:
            caller = _package_caller(sys._getframe(1))
            if caller is not None:
                sampler_used.append(caller)
                raise _PackageSamplerUsed(caller)
        t = kwargs["t"] if "t" in kwargs else (args[1] if len(args) > 1 else None)
        if t is None:
            calls.append(None)
            return
        t = torch.as_tensor(t).flatten()
        calls.append(int(t[0]) if t.numel() and bool((t == t[0]).all()) else "mixed")

    return model.register_forward_pre_hook(hook, with_kwargs=True)


def check_reverse_process(fn, model, schedule: NoiseSchedule, num_samples: int = 16, seed: int = 0) -> bool:
    """Check ``fn(model, schedule, shape, generator) -> x``, the reverse process written by the reader.

    ``fn`` should start from ``torch.randn(shape, generator=generator)`` and call ``model`` (the
    noise predictor) once per step, t = T-1 down to 0, drawing each step's noise from the same
    generator; with the same seed it must then give exactly what ``diffusion.sample(...,
    sampler="ddpm")`` gives. Runs on a CPU copy of ``model``, with ``shape = (num_samples, ...)``.
    """
    from ..diffusion import sample  # the reference

    model = copy.deepcopy(model).cpu().eval().requires_grad_(False)
    data_shape = _data_shape(model)
    shape = (num_samples, *data_shape)
    T = schedule.num_steps

    reference = sample(model, schedule, shape, sampler="ddpm", generator=torch.Generator().manual_seed(seed),
                       device="cpu", clip_x0=False, progress=False)  # the lecture's plain Denoise, no clipping
    start = torch.randn(shape, generator=torch.Generator().manual_seed(seed))

    calls: list = []
    sampler_used: list = []
    handle = _record_steps(model, calls, sampler_used)
    try:
        with torch.no_grad():
            out = fn(model, schedule, shape, torch.Generator().manual_seed(seed))
    except Exception as error:  # the reader's code: report, never raise
        if not sampler_used:
            print(f"Not yet: your function raised {type(error).__name__}: {error}")
            return False
    finally:
        handle.remove()
    if sampler_used:
        print(f"Not yet: your function lets the package's {sampler_used[0]} run the reverse process; write the "
              "loop yourself: for t = T-1 down to 0, eps = model(x, t), then x = diffusion.ddpm_step(...).")
        return False

    if not isinstance(out, torch.Tensor):
        print(f"Not yet: your function returned {type(out).__name__}; return the final samples as a tensor "
              f"of shape {shape}.")
        return False
    if not calls:
        print("Not yet: your function never called the noise predictor. Each step calls "
              "model(x, t) with t a (B,) tensor of the step index, then takes a DDPM step.")
        return False
    if None in calls or "mixed" in calls:
        print("Not yet: call the noise predictor as model(x, t) with t the step index, the same for the whole "
              "batch (an int or a (B,) tensor filled with it).")
        return False
    expected = list(range(T - 1, -1, -1))
    if calls != expected:
        print(f"Not yet: your loop called the noise predictor {len(calls)} times, with t = "
              f"{_summary(calls)}; the reverse process calls it {T} times, with t = {_summary(expected)}, "
              "counting down from T-1 = schedule.num_steps - 1 to 0.")
        return False
    out = out.detach().cpu()
    if out.shape != reference.shape:
        print(f"Not yet: your samples have shape {tuple(out.shape)}; expected {tuple(reference.shape)}.")
        return False
    if out.dtype != reference.dtype:
        print(f"Not yet: your samples have dtype {out.dtype}; expected {reference.dtype}.")
        return False
    if not torch.isfinite(out).all():
        print("Not yet: your samples contain NaN or infinite values.")
        return False
    if torch.allclose(out, start):
        print("Not yet: you returned the starting noise; return x after the last step.")
        return False
    if not torch.allclose(out, reference, rtol=1e-4, atol=1e-4):
        error = (out - reference).abs().max().item()
        print(f"Not yet: the steps are right (t = {T - 1} down to 0) but the samples differ from "
              f"diffusion.sample with the same seed by up to {error:.3g}. Draw every random number from "
              "`generator`, in sample()'s order: first the start noise torch.randn(shape, generator=generator), "
              "then, at every step, one z = torch.randn(shape, generator=generator) passed to "
              "ddpm_step(..., noise=z) (or let ddpm_step draw it with generator=generator). No other draws.")
        return False
    print(f"Correct! Your reverse process visits t = {T - 1} .. 0, calls the same noise predictor at every "
          f"step, and reproduces diffusion.sample exactly with the same seed ({num_samples} samples).")
    return True


def _data_shape(model) -> tuple:
    """The shape of one sample: what the package's noise predictors say they sample."""
    if not hasattr(model, "sample_shape"):
        raise TypeError("check_reverse_process needs one of the package's noise predictors (MLPDenoiser or UNet)")
    return tuple(model.sample_shape)


def _summary(steps: list) -> str:
    if len(steps) <= 6:
        return ", ".join(map(str, steps))
    return f"{', '.join(map(str, steps[:3]))}, ..., {', '.join(map(str, steps[-3:]))}"


# ------------------------------------------------------------------------------------
# Exercise 5: the step embedding
# ------------------------------------------------------------------------------------
def _embedding_written_out(t: torch.Tensor, dim: int, swap=False, full_dim=False, max_period=10000.0):
    """[sin(t w_0), ..., sin(t w_{h-1}), cos(t w_0), ..., cos(t w_{h-1})], w_i = max_period^(-i/h), h = dim/2,
    in float64 (and the two common slips: cos before sin, and h replaced by dim in the exponent)."""
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64)
    w = max_period ** (-i / (dim if full_dim else half))
    angles = t.double()[:, None] * w[None, :]
    parts = [angles.cos(), angles.sin()] if swap else [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1)


def check_step_embedding(fn) -> bool:
    """Check ``fn(t, dim) -> (B, dim)``: for step indices ``t`` (a (B,) long tensor), sines then cosines of
    ``t * w_i`` with ``w_i = 10000 ** (-i / (dim / 2))``, i = 0 .. dim/2 - 1 (``nn.blocks.sinusoidal_embedding``)."""
    t = torch.tensor([0, 1, 7, 100, 999])
    for dim in (8, 32):
        out, message = call_reader_function(fn, (t.clone(), dim), f"t = {t.tolist()}, dim = {dim}")
        if message:
            print(message)
            return False
        if not isinstance(out, torch.Tensor):
            print(f"Not yet: return a tensor, got {type(out).__name__}.")
            return False
        if tuple(out.shape) != (len(t), dim):
            print(f"Not yet: for {len(t)} steps and dim = {dim} the embedding is ({len(t)}, {dim}); yours has "
                  f"shape {tuple(out.shape)}. Stack sines and cosines along dimension 1.")
            return False
        want = _embedding_written_out(t, dim)
        got = out.detach().double().cpu()
        if torch.allclose(got, want, atol=1e-4):
            continue
        if torch.allclose(got, _embedding_written_out(t, dim, swap=True), atol=1e-4):
            print("Not yet: your halves are in the other order: the sines come first, then the cosines.")
        elif torch.allclose(got, _embedding_written_out(t, dim, full_dim=True), atol=1e-4):
            print("Not yet: the frequencies use dim in the exponent; use half of it, w_i = 10000 ** (-i / (dim / 2)), "
                  "i = 0 .. dim/2 - 1: the frequencies then fall from 1 towards 1/10000, the slowest being "
                  "10000 ** (-(h - 1) / h) with h = dim/2 (1e-3 for dim = 8).")
        elif torch.allclose(got[0], want[0], atol=1e-4):
            print(f"Not yet: right at t = 0 but not for other steps (at t = 7 the first values are "
                  f"{[round(v, 3) for v in got[2, :3].tolist()]}, expected {[round(v, 3) for v in want[2, :3].tolist()]}). "
                  "Multiply each t by every frequency: angles = t[:, None] * w[None, :].")
        else:
            print(f"Not yet: the embedding differs from the formula by up to {(got - want).abs().max().item():.3g} "
                  f"(dim = {dim}).")
        return False
    print("Correct! Your embedding matches the formula: each step gets its own pattern of sines and cosines, from "
          "fast (w = 1) to slow (w = 10000 ** (-(h - 1) / h), h = dim/2) frequencies.")
    return True
