"""Checkers for the exercises of chapter 02 (the forward process and the training pairs).

- ``check_add_noise(fn)``: the one-shot forward process written by the reader,
  ``fn(schedule, x0, t, noise) -> x_t``, against alpha_bar computed here independently
  (a float64 running product of 1 - beta_t), with ``t`` an int and a (B,) tensor, and a
  statistical check that x_t has mean sqrt(alpha_bar_t) x_0 and variance 1 - alpha_bar_t.
  The exercise asks for alpha_bar computed from ``schedule.betas``: the schedule handed to ``fn``
  notes whether its precomputed ``alpha_bars`` were read (``diffusion.add_noise`` reads them), and
  that is refused.
- ``check_training_pairs(fn)``: the reader's ``fn(schedule, x0) -> (x_t, t, noise)``: t in
  0..T-1 and uniform, noise standard normal, and the three consistent with each other,
  x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise.

Each returns True or False and prints what is right or what is wrong; neither raises
because of the reader's code.
"""

import math

import torch

from ..schedules import NoiseSchedule
from . import betas_only, call_reader_function

# A test is failed only when a statistic is this many standard errors from its expected
# value: for a right answer that happens far less than once in a million runs.
_Z_LIMIT = 6.0


def _alpha_bars(schedule: NoiseSchedule) -> torch.Tensor:
    """alpha_bar_t = (1 - beta_0)(1 - beta_1)...(1 - beta_t), in float64, from the betas alone."""
    betas = torch.as_tensor(schedule.betas).detach().cpu().double()
    return torch.cumprod(1.0 - betas, dim=0)


def _per_example(values: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped (B, 1, ..., 1) to broadcast against ``like``; t an int or a (B,) tensor."""
    t = torch.as_tensor(t).long()
    v = values[t]
    if v.ndim == 0:
        v = v.expand(like.shape[0])
    return v.reshape((-1,) + (1,) * (like.ndim - 1))


def _expected_xt(schedule, x0, t, noise) -> torch.Tensor:
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps   (DDPM eq. 4), in float64."""
    abar = _per_example(_alpha_bars(schedule), t, x0)
    return abar.sqrt() * x0.double() + (1 - abar).sqrt() * noise.double()


# ------------------------------------------------------------------------------------
# Exercise 1: the forward process, one shot
# ------------------------------------------------------------------------------------
_USED_ALPHA_BARS = ("Not yet: your function reads schedule.alpha_bars (directly or through diffusion.add_noise); "
                    "this exercise asks you to compute alpha_bar_t yourself from schedule.betas, the product "
                    "(1 - beta_0)(1 - beta_1)...(1 - beta_t), e.g. with torch.cumprod.")


def _call_on_betas(fn, sched: NoiseSchedule, args: tuple, where: str):
    """``fn(watched schedule, *args)``: ``(result, message)``, the message also when alpha_bars were read."""
    watched = betas_only(sched)
    out, message = call_reader_function(fn, (watched, *args), where)
    if message is None and watched.alpha_bars_read:
        message = _USED_ALPHA_BARS
    return out, message

def _add_noise_variants(schedule, x0, t, noise) -> dict:
    """Common wrong answers for x_t, each with what to say about it (float64)."""
    abars = _alpha_bars(schedule)
    alphas = 1.0 - torch.as_tensor(schedule.betas).double()
    x0, noise = x0.double(), noise.double()
    abar = _per_example(abars, t, x0)
    alpha = _per_example(alphas, t, x0)
    variants = {
        "alpha_t instead of alpha_bar_t":
            (alpha.sqrt() * x0 + (1 - alpha).sqrt() * noise,
             "you used alpha_t = 1 - beta_t, the signal kept by ONE step. One-shot noising needs "
             "alpha_bar_t = (1 - beta_0)(1 - beta_1)...(1 - beta_t), the running product over the steps "
             "(torch.cumprod)."),
        "no square roots":
            (abar * x0 + (1 - abar) * noise,
             "the coefficients need square roots: sqrt(alpha_bar_t) for x_0 and sqrt(1 - alpha_bar_t) "
             "for the noise (alpha_bar_t and 1 - alpha_bar_t are the VARIANCES' shares)."),
        "no square root on the noise":
            (abar.sqrt() * x0 + (1 - abar) * noise,
             "the noise is scaled by sqrt(1 - alpha_bar_t), not by 1 - alpha_bar_t: the variance of "
             "c * noise is c^2, and it should be 1 - alpha_bar_t."),
        "no square root on x0":
            (abar * x0 + (1 - abar).sqrt() * noise,
             "x_0 is scaled by sqrt(alpha_bar_t), not by alpha_bar_t."),
        "noise weights swapped":
            ((1 - abar).sqrt() * x0 + abar.sqrt() * noise,
             "you swapped the two coefficients: the clean image gets sqrt(alpha_bar_t) (close to 1 at "
             "small t) and the noise gets sqrt(1 - alpha_bar_t)."),
        "noise subtracted":
            (abar.sqrt() * x0 - (1 - abar).sqrt() * noise,
             "you subtracted the noise; the forward process ADDS it (the distribution is the same, but "
             "the target the network learns would then be -noise)."),
    }
    t_tensor = torch.as_tensor(t).long()
    if bool((t_tensor >= 1).all()):
        prev = _per_example(abars, t_tensor - 1, x0)
        variants["off by one (t - 1)"] = (
            prev.sqrt() * x0 + (1 - prev).sqrt() * noise,
            "your numbers match alpha_bar at step t - 1. In code t runs 0..T-1 and x_t is the image "
            "AFTER step t, so index alpha_bars[t] (alpha_bar_0 = 1 - beta_0 already has one step of noise).")
    if bool((t_tensor + 1 < schedule.num_steps).all()):
        nxt = _per_example(abars, t_tensor + 1, x0)
        variants["off by one (t + 1)"] = (
            nxt.sqrt() * x0 + (1 - nxt).sqrt() * noise,
            "your numbers match alpha_bar at step t + 1: index alpha_bars[t] with t itself.")
    return variants


def _check_tensor_out(out, x0, where: str):
    """A message when ``out`` is not a tensor shaped and typed like x0, else None."""
    if out is None:
        return "Not yet: your function returned None; return x_t, a tensor shaped like x0."
    if not isinstance(out, torch.Tensor):
        return f"Not yet: your function returned a {type(out).__name__}; return a torch.Tensor shaped like x0."
    if out.shape != x0.shape:
        return (f"Not yet: x_t has shape {tuple(out.shape)} but x0 has shape {tuple(x0.shape)} ({where}). "
                "When t is a (B,) tensor, alpha_bar[t] has shape (B,): reshape it to (B, 1, 1, 1) "
                "(e.g. .view(-1, 1, 1, 1)) so that it multiplies each image by its own number.")
    if out.dtype != x0.dtype:
        return (f"Not yet: x_t has dtype {out.dtype} but x0 has dtype {x0.dtype} ({where}). The schedule is "
                "stored in float64: convert alpha_bar to x0's dtype (e.g. .to(x0.dtype)) before multiplying.")
    if not torch.isfinite(out).all():
        return f"Not yet: x_t contains NaN or infinite values ({where})."
    return None


def _statistics_message(out, x0, abar_t: float, where: str):
    """Compare per-pixel mean and variance over N samples with sqrt(abar) x0 and 1 - abar.

    ``out`` and ``x0`` have shape (N, ...) with every row of x0 the same image.
    """
    n = out.shape[0]
    got = out.detach().cpu().double()
    mean, var = got.mean(0), got.var(0)
    want_mean = math.sqrt(abar_t) * x0[0].double()
    want_var = 1.0 - abar_t
    mean_se = math.sqrt(want_var / n)                 # standard error of a mean of n draws
    var_se = want_var * math.sqrt(2.0 / (n - 1))      # standard error of a variance of n normal draws
    mean_z = ((mean - want_mean).abs() / mean_se).max().item()
    var_z = ((var - want_var).abs() / var_se).max().item()
    if mean_z > _Z_LIMIT:
        # what multiple of x0 is the mean? (least squares over the pixels)
        slope = ((mean * x0[0].double()).sum() / (x0[0].double() ** 2).sum()).item()
        return (f"Not yet: the mean of x_t is off ({where}). Over {n:,} draws of the noise, x_t should "
                f"average sqrt(alpha_bar_t) * x0 = {math.sqrt(abar_t):.4f} * x0; yours averages about "
                f"{slope:.4f} * x0. Scale x0 by sqrt(alpha_bar_t), with alpha_bar_t = "
                "(1 - beta_0)...(1 - beta_t).")
    if var_z > _Z_LIMIT:
        return (f"Not yet: the variance of x_t is off ({where}). It should be 1 - alpha_bar_t = {want_var:.4f} "
                f"at every pixel; yours averages {var.mean().item():.4f}. Scale the noise by "
                "sqrt(1 - alpha_bar_t) (its variance is then 1 - alpha_bar_t).")
    return None


def check_add_noise(fn, schedule: NoiseSchedule | None = None, num_draws: int = 20_000) -> bool:
    """Check ``fn(schedule, x0, t, noise) -> x_t``, the one-shot forward process.

    x_t must equal sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, with alpha_bar_t the
    product (1 - beta_0)...(1 - beta_t), the shape and dtype of x0, for ``t`` a Python int
    and for ``t`` a (B,) long tensor (one step per image). Checked on ``schedule`` (default:
    linear, T = 1000) and a short cosine schedule; then, with ``num_draws`` standard normal
    noises, that x_t has mean sqrt(alpha_bar_t) x0 and variance 1 - alpha_bar_t at every pixel,
    within a tolerance of a few standard errors for that many draws.
    """
    schedules = [schedule or NoiseSchedule.linear(1000), NoiseSchedule.cosine(20)]
    generator = torch.Generator().manual_seed(2024)

    # 1. exact values, t an int and t a (B,) tensor
    for sched in schedules:
        T = sched.num_steps
        batched = torch.tensor([0, T // 3, T // 2, T - 1, 1, 2 * T // 3])
        for t in (0, T // 4, T - 1, batched):
            x0 = torch.rand((6, 1, 5, 5), generator=generator) * 2 - 1
            noise = torch.randn(x0.shape, generator=generator)
            inputs = (x0.clone(), noise.clone())
            kind = "t a (B,) tensor " + str(t.tolist()) if isinstance(t, torch.Tensor) else f"t = {t}, an int"
            where = f"{kind}, T = {T}"
            out, message = _call_on_betas(fn, sched, (x0, t.clone() if isinstance(t, torch.Tensor) else t, noise),
                                          where)
            if message and message != _USED_ALPHA_BARS and isinstance(t, torch.Tensor):
                message += ("\n  With t a (B,) tensor, alpha_bar[t] has shape (B,): reshape it to (B, 1, 1, 1) "
                            "(e.g. .view(-1, 1, 1, 1)) so that each image is scaled by its own number.")
            if message is None and (not torch.equal(x0, inputs[0]) or not torch.equal(noise, inputs[1])):
                message = (f"Not yet: your function changed x0 or noise in place ({where}); compute a new "
                           "tensor instead (x_t = ... rather than x0 *= ...).")
            message = message or _check_tensor_out(out, x0, where)
            if message:
                print(message)
                return False
            got = out.detach().cpu().double()
            want = _expected_xt(sched, x0, t, noise)
            if torch.allclose(got, want, rtol=1e-4, atol=1e-5):
                continue
            if torch.allclose(got, x0.double(), atol=1e-6):
                print(f"Not yet: your function returns x0 unchanged ({where}). Add the noise: "
                      "x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise.")
                return False
            error = (got - want).abs().max().item()
            hint = next((h for name, (v, h) in _add_noise_variants(sched, x0, t, noise).items()
                         if torch.allclose(got, v, rtol=1e-4, atol=1e-5)), None)
            if hint is None and bool((got == 0).all()):
                hint = "your function returns zeros (the starter's placeholder?): write the forward process."
            if hint is None:
                # right for an int t only, or right in distribution but not using the given noise?
                stats_n = 4000
                x0_one = x0[:1].expand(stats_n, -1, -1, -1).contiguous()
                t_one = int(torch.as_tensor(t).flatten()[0])
                noise_many = torch.randn(x0_one.shape, generator=generator)
                many, _ = _call_on_betas(fn, sched, (x0_one, t_one, noise_many), where)
                if isinstance(t, torch.Tensor) and isinstance(many, torch.Tensor) and \
                        many.shape == x0_one.shape and torch.allclose(many.double(), _expected_xt(sched, x0_one, t_one, noise_many),
                                       rtol=1e-4, atol=1e-5):
                    hint = ("it is right for an int t but not for a (B,) tensor: give each image its own "
                            "alpha_bar, alpha_bars[t].view(-1, 1, 1, 1).")
                elif isinstance(many, torch.Tensor) and many.shape == x0_one.shape and \
                        _statistics_message(many, x0_one, _alpha_bars(sched)[t_one].item(), where) is None:
                    hint = ("the distribution looks right, but x_t must be made from the `noise` argument: "
                            "don't draw new noise inside the function (the training target is that noise).")
            print(f"Not yet: wrong x_t ({where}); the largest difference from sqrt(alpha_bar_t) x0 + "
                  f"sqrt(1 - alpha_bar_t) noise is {error:.3g}.")
            print("  " + (hint or "Check the formula and that alpha_bar_t = (1 - beta_0)(1 - beta_1)...(1 - beta_t) "
                                  "(computed from schedule.betas), with t indexing it directly."))
            return False

    # 2. statistics: the distribution q(x_t | x_0) over many draws of the noise
    sched = schedules[0]
    abars = _alpha_bars(sched)
    image = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    for t in (sched.num_steps // 10, sched.num_steps // 2):
        x0 = image.expand(num_draws, -1, -1, -1).contiguous()
        noise = torch.randn(x0.shape, generator=generator)
        where = f"t = {t}, {num_draws:,} noise draws"
        out, message = _call_on_betas(fn, sched, (x0, t, noise), where)
        message = message or _check_tensor_out(out, x0, where) or \
            _statistics_message(out, x0, abars[t].item(), where)
        if message:
            print(message)
            return False

    print("Correct! Your forward process gives x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise "
          "for t an int and a (B,) tensor, on a linear (T = 1000) and a cosine (T = 20) schedule, "
          f"and over {num_draws:,} noise draws x_t has mean sqrt(alpha_bar_t) x0 and variance "
          "1 - alpha_bar_t, as q(x_t | x_0) says.")
    return True


# ------------------------------------------------------------------------------------
# Exercise 2: the training pairs
# ------------------------------------------------------------------------------------
def check_training_pairs(fn, schedule: NoiseSchedule | None = None, batch_size: int = 4000,
                         num_calls: int = 5) -> bool:
    """Check ``fn(schedule, x0) -> (x_t, t, noise)``, the noise predictor's training pairs.

    For a batch x0 of shape (B, C, H, W): ``t`` a (B,) integer tensor, one random step per
    image, uniform on 0..T-1 (both ends included); ``noise`` standard normal, shaped like x0;
    and ``x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise`` image by image. ``fn``
    is called ``num_calls`` times on batches of ``batch_size`` so that the statistics have
    ``num_calls * batch_size`` draws.
    """
    sched = schedule or NoiseSchedule.linear(1000)
    T = sched.num_steps
    generator = torch.Generator().manual_seed(7)
    all_t, all_noise = [], []
    for call in range(num_calls):
        x0 = torch.rand((batch_size, 1, 4, 4), generator=generator) * 2 - 1
        x0_copy = x0.clone()
        where = f"call {call + 1}, x0 of shape {tuple(x0.shape)}"
        out, message = call_reader_function(fn, (sched, x0), where)
        if message:
            print(message)
            return False
        if not torch.equal(x0, x0_copy):
            print(f"Not yet: your function changed x0 in place ({where}).")
            return False
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            print("Not yet: return three things, (x_t, t, noise): the noisy images, their steps and the noise "
                  f"that was added. Yours returned {type(out).__name__}"
                  + (f" of length {len(out)}." if isinstance(out, (tuple, list)) else "."))
            return False
        x_t, t, noise = out
        if not all(isinstance(v, torch.Tensor) for v in out):
            print("Not yet: x_t, t and noise must all be torch tensors.")
            return False
        if t.is_floating_point() or t.dtype == torch.bool:
            print(f"Not yet: t has dtype {t.dtype}; step indices are integers "
                  "(torch.randint(0, T, (B,)) gives int64).")
            return False
        if t.shape != (batch_size,):
            print(f"Not yet: t has shape {tuple(t.shape)}; draw one step per image, shape ({batch_size},) "
                  "for a batch of that size.")
            return False
        for name, v in (("x_t", x_t), ("noise", noise)):
            if v.shape != x0.shape:
                print(f"Not yet: {name} has shape {tuple(v.shape)}; it must be shaped like x0, {tuple(x0.shape)}.")
                return False
            if v.dtype != x0.dtype:
                print(f"Not yet: {name} has dtype {v.dtype}; it must have x0's dtype, {x0.dtype}.")
                return False
            if not torch.isfinite(v).all():
                print(f"Not yet: {name} contains NaN or infinite values.")
                return False
        t = t.detach().cpu().long()
        if int(t.min()) < 0 or int(t.max()) >= T:
            print(f"Not yet: t ranges over {int(t.min())}..{int(t.max())}, but with T = {T} steps it must lie "
                  f"in 0..{T - 1} (t = 0 is the first noising step).")
            return False
        want = _expected_xt(sched, x0, t, noise.detach().cpu())
        got = x_t.detach().cpu().double()
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            error = (got - want).abs().max().item()
            hint = "check your forward process with check_add_noise first."
            if len(t.unique()) > 1:
                first = _expected_xt(sched, x0, t[:1].expand(batch_size), noise.detach().cpu())
                if torch.allclose(got, first, rtol=1e-4, atol=1e-5):
                    hint = "every image was noised with the step of the first one: use each image's own t."
            print(f"Not yet: x_t, t and noise do not fit together ({where}): x_t differs from "
                  f"sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise by up to {error:.3g}. The network is "
                  f"trained to find `noise` in x_t at step t, so x_t must be made from exactly that noise "
                  f"and that t; {hint}")
            return False
        all_t.append(t)
        all_noise.append(noise.detach().cpu().double().flatten())

    t = torch.cat(all_t)
    n = len(t)
    if all(len(ts.unique()) == 1 for ts in all_t):
        print("Not yet: all images in a batch share one step t. Draw one step per image, "
              "torch.randint(0, T, (B,)), so every batch teaches the network many noise levels.")
        return False
    if not bool((t == 0).any()):
        print(f"Not yet: t never equals 0 in {n:,} draws. torch.randint(low, high, ...) excludes `high` "
              f"but includes `low`: use torch.randint(0, T, ...) for t in 0..{T - 1}.")
        return False
    if not bool((t == T - 1).any()):
        print(f"Not yet: t never equals T-1 = {T - 1} in {n:,} draws. torch.randint's upper bound is "
              "excluded, so torch.randint(0, T, ...) gives 0..T-1; you probably used T - 1 as the bound.")
        return False
    # uniformity: chi-square over 10 equal bins of steps (9 degrees of freedom)
    bins = 10
    counts = torch.bincount(t * bins // T, minlength=bins).double()
    expected = torch.full((bins,), n / bins, dtype=torch.float64)
    for i in range(bins):  # the exact share of steps falling into each bin
        lo, hi = -(-i * T // bins), -(-(i + 1) * T // bins)
        expected[i] = n * (hi - lo) / T
    chi2 = (((counts - expected) ** 2) / expected).sum().item()
    if chi2 > 45.0:  # P(chi2_9 > 45) is about 1e-6
        shares = ", ".join(f"{c / n:.2f}" for c in counts.tolist())
        print(f"Not yet: t is not uniform on 0..{T - 1}. The shares of t in ten equal ranges of steps are "
              f"{shares}; each should be about {1 / bins:.2f}. Draw t = torch.randint(0, T, (B,)).")
        return False
    noise = torch.cat(all_noise)
    m, v = noise.mean().item(), noise.var().item()
    k = len(noise)
    if abs(m) > _Z_LIMIT / math.sqrt(k) or abs(v - 1) > _Z_LIMIT * math.sqrt(2 / (k - 1)):
        print(f"Not yet: the noise should be standard normal (mean 0, variance 1); over {k:,} values yours has "
              f"mean {m:.4f} and variance {v:.4f}. Use torch.randn_like(x0) (not torch.rand, which is uniform).")
        return False
    # normality, not only the first two moments: the Kolmogorov-Smirnov distance to N(0, 1)
    # (uniform noise with variance 1 has the right mean and variance but lies about 0.04 from it)
    ordered = noise.sort().values
    cdf = torch.special.ndtr(ordered)
    ranks = torch.arange(1, k + 1, dtype=torch.float64)
    distance = torch.maximum(ranks / k - cdf, cdf - (ranks - 1) / k).max().item()
    if distance > math.sqrt(math.log(2 / 1e-6) / (2 * k)):  # the KS bound at false-alarm rate 1e-6
        print(f"Not yet: the noise has mean {m:.4f} and variance {v:.4f}, but it is not normally distributed: "
              f"its distribution function lies up to {distance:.3f} from the standard normal's over {k:,} values. "
              "Draw it with torch.randn_like(x0).")
        return False
    if len(all_noise) > 1 and torch.equal(all_noise[0], all_noise[1]):
        print("Not yet: your function returned the same noise in two calls. Fresh noise every call is what "
              "gives the network new examples: do not re-seed inside the function.")
        return False
    print(f"Correct! Over {num_calls} batches ({n:,} images): t is uniform on 0..{T - 1}, the noise is standard "
          "normal, and every x_t equals sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise for its own t.")
    return True


# ------------------------------------------------------------------------------------
# Exercise 5: one training step
# ------------------------------------------------------------------------------------
def check_training_step(fn, num_steps: int = 3) -> bool:
    """Check ``fn(model, optimizer, schedule, x0, generator) -> loss``: one step of the lecture's training
    algorithm. It must draw its pairs with ``diffusion.make_training_pairs(schedule, x0, generator)``, compute
    the mean squared error between the noise and ``model(x_t, t)``, and update the model with ``optimizer``
    (gradients zeroed first). Compared, step by step, with that algorithm run here on a copy of the model."""
    import copy

    from .. import diffusion
    from ..nn import MLPDenoiser
    from ..nn.mlp import MLPConfig

    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(hidden=32, num_layers=2))
    reference = copy.deepcopy(model)
    schedule = NoiseSchedule.linear(100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2)
    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    generator, reference_generator = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    before = [p.detach().clone() for p in model.parameters()]
    for step in range(1, num_steps + 1):
        out, message = call_reader_function(fn, (model, optimizer, schedule, data, generator), f"step {step}")
        if message:
            print(message)
            return False
        # the algorithm, written out: pairs, L_simple, zero the gradients, backpropagate, update
        x_t, t, noise = diffusion.make_training_pairs(schedule, data, reference_generator)
        loss = torch.nn.functional.mse_loss(reference(x_t, t), noise)
        reference_optimizer.zero_grad()
        loss.backward()
        reference_optimizer.step()
        try:
            got_loss = float(out)
        except (TypeError, ValueError):
            print(f"Not yet: return the loss (a number or a one-element tensor), got {type(out).__name__}.")
            return False
        if step == 1 and all(torch.equal(a, b) for a, b in zip(before, model.parameters())):
            print("Not yet: the model did not change. After loss.backward(), call optimizer.step().")
            return False
        if not math.isclose(got_loss, loss.item(), rel_tol=1e-4, abs_tol=1e-6):
            print(f"Not yet: at step {step} your loss is {got_loss:.5f}, the algorithm's is {loss.item():.5f}. Draw "
                  "the pairs with diffusion.make_training_pairs(schedule, x0, generator), and take the mean squared "
                  "error between the noise and model(x_t, t): the target is the noise, not the clean data.")
            return False
        worst = max((a - b).abs().max().item() for a, b in zip(model.parameters(), reference.parameters()))
        if worst > 1e-5:
            hint = ("the gradients were not zeroed: call optimizer.zero_grad() before loss.backward(), or they add up "
                    "over the steps" if step > 1 else "update with the loss you return, once per call")
            print(f"Not yet: after step {step} your model's weights differ from the algorithm's by up to {worst:.3g}: "
                  f"{hint}.")
            return False
    print(f"Correct! {num_steps} of your training steps give exactly the weights of the lecture's training "
          "algorithm: draw (x_t, t, noise), predict the noise, and step down the gradient of the squared error.")
    return True
