"""The chapter 01 exercise checkers accept right answers and reject wrong ones, with a helpful message."""

import math
import sys

import pytest
import torch
from torch import nn

from ddpm_from_scratch import diffusion
from ddpm_from_scratch.exercises import ch01
from ddpm_from_scratch.nn import MLPConfig, MLPDenoiser
from ddpm_from_scratch.schedules import NoiseSchedule


# ------------------------------------------------------------------------------------
# check_denoise_step
# ------------------------------------------------------------------------------------
def step_by_hand(schedule, eps, t, x_t, z, variance="posterior", noise_at_last_step=False,
                 divide_by="alpha", sign=-1.0):
    """A DDPM step written with plain floats; the keyword arguments make the usual mistakes."""
    beta = schedule.betas[t].item()
    alpha_bar = math.prod(1 - b for b in schedule.betas[: t + 1].tolist())
    alpha_bar_prev = math.prod(1 - b for b in schedule.betas[:t].tolist())  # 1 at t = 0
    divisor = math.sqrt(1 - beta) if divide_by == "alpha" else math.sqrt(alpha_bar)
    mean = (x_t + sign * beta / math.sqrt(1 - alpha_bar) * eps) / divisor
    var = beta * (1 - alpha_bar_prev) / (1 - alpha_bar) if variance == "posterior" else beta
    if t == 0 and not noise_at_last_step:
        return mean
    return mean + math.sqrt(var) * z


def test_denoise_checker_accepts_the_posterior_variance(capsys):
    assert ch01.check_denoise_step(step_by_hand)
    assert "Correct" in capsys.readouterr().out


def test_denoise_checker_accepts_beta_variance_and_says_which(capsys):
    assert ch01.check_denoise_step(lambda s, eps, t, x, z: step_by_hand(s, eps, t, x, z, variance="beta"))
    assert "beta_t" in capsys.readouterr().out


def denoise_step_solution(schedule, eps, t, x_t, z):
    """The solution the book shows for exercise 1 of chapter 01."""
    betas = schedule.betas.tolist()  # plain Python floats
    alpha_bar = 1.0
    for beta_s in betas[: t + 1]:  # alpha_bars[t] = (1 - betas[0]) ... (1 - betas[t])
        alpha_bar *= 1 - beta_s
    alpha_bar_prev = alpha_bar / (1 - betas[t])  # alpha_bars[t - 1]; 1 at t = 0 (the clean picture)
    beta = betas[t]
    mean = (x_t - beta / (1 - alpha_bar) ** 0.5 * eps) / (1 - beta) ** 0.5
    if t == 0:
        return mean  # the last step adds no noise
    sigma = (beta * (1 - alpha_bar_prev) / (1 - alpha_bar)) ** 0.5
    return mean + sigma * z


def test_denoise_checker_accepts_the_books_solution(capsys):
    assert ch01.check_denoise_step(denoise_step_solution)
    assert "Correct" in capsys.readouterr().out


def _ddpm_step_imported_by_name(s, eps, t, x, z):
    from ddpm_from_scratch.diffusion import ddpm_step

    return ddpm_step(s, eps, t, x, noise=z, variance="beta")


@pytest.mark.parametrize("shortcut, name", [
    (lambda s, eps, t, x, z: diffusion.ddpm_step(s, eps, t, x, noise=z), "diffusion.ddpm_step"),
    (_ddpm_step_imported_by_name, "diffusion.ddpm_step"),
    (lambda s, eps, t, x, z: diffusion.ddim_step(s, eps, t, t - 1, x, eta=1.0, noise=z), "diffusion.ddim_step"),
])
def test_denoise_checker_refuses_the_package_step(shortcut, name, capsys):
    """The package's step gives the right numbers, but the exercise is to write it: delegating is refused."""
    assert ch01.check_denoise_step(shortcut) is False
    out = capsys.readouterr().out
    assert "Not yet" in out and name in out and "write the step yourself" in out
    assert len(out.strip().splitlines()) == 1
    assert sys.getprofile() is None  # the checker's watch is removed
    assert ch01.check_denoise_step(step_by_hand)  # and nothing is left broken


def _alpha_bars_read(schedule, eps, t, x_t, z):
    beta, alpha_bar = schedule.betas[t].item(), schedule.alpha_bars[t].item()
    mean = (x_t - beta / (1 - alpha_bar) ** 0.5 * eps) / (1 - beta) ** 0.5
    return mean if t == 0 else mean + schedule.posterior_variance[t].item() ** 0.5 * z


def test_denoise_checker_refuses_the_precomputed_alpha_bars(capsys):
    """The exercise says: use only schedule.betas. Reading schedule.alpha_bars gives the right numbers but is
    refused, with one line saying what to do."""
    assert ch01.check_denoise_step(_alpha_bars_read) is False
    out = capsys.readouterr().out
    assert "Not yet" in out and "schedule.alpha_bars" in out and "only schedule.betas" in out
    assert len(out.strip().splitlines()) == 1


def test_denoise_checker_works_on_the_schedule_it_is_given():
    assert ch01.check_denoise_step(step_by_hand, NoiseSchedule.cosine(1000))


@pytest.mark.parametrize("wrong, words", [
    (lambda s, eps, t, x, z: step_by_hand(s, eps, t, x, z, variance="beta", noise_at_last_step=True),
     "last step"),
    (lambda s, eps, t, x, z: step_by_hand(s, eps, t, x, z, divide_by="alpha_bar"), "sqrt(alpha_t)"),
    (lambda s, eps, t, x, z: step_by_hand(s, eps, t, x, z, sign=+1.0), "instead of subtracting"),
    (lambda s, eps, t, x, z: step_by_hand(s, eps, t, x, z * 0), "left out the noise"),
    (lambda s, eps, t, x, z: step_by_hand(s, eps, min(t + 1, s.num_steps - 1), x, z), "t + 1"),
    (lambda s, eps, t, x, z: x, "unchanged"),
    (lambda s, eps, t, x, z: None, "None"),
    (lambda s, eps, t, x, z: step_by_hand(s, eps, t, x, z).double(), "dtype"),
    (lambda s, eps, t, x, z: step_by_hand(s, eps, t, x, z)[:1], "shape"),
    (lambda s, eps, t, x, z: x.sub_(eps), "in place"),
    (lambda s, eps, t, x, z: 1 / 0, "ZeroDivisionError"),
])
def test_denoise_checker_rejects_a_wrong_step_and_names_the_mistake(wrong, words, capsys):
    assert ch01.check_denoise_step(wrong) is False
    out = capsys.readouterr().out
    assert "Not yet" in out and words in out


def test_denoise_checker_rejects_mixing_the_two_variances(capsys):
    mixed = lambda s, eps, t, x, z: step_by_hand(s, eps, t, x, z, variance="beta" if t == 1 else "posterior")
    assert ch01.check_denoise_step(mixed) is False
    assert "different variances" in capsys.readouterr().out


# ------------------------------------------------------------------------------------
# check_reverse_process
# ------------------------------------------------------------------------------------
@pytest.fixture
def small():
    torch.manual_seed(0)
    return MLPDenoiser(MLPConfig(hidden=16, num_layers=1)).eval(), NoiseSchedule.linear(30)


def reverse_process(model, schedule, shape, generator, order="down", global_rng=False, skip_last=False):
    """The DDPM reverse process as a reader would write it; the keywords make the usual mistakes."""
    draw = (lambda: torch.randn(shape)) if global_rng else (lambda: torch.randn(shape, generator=generator))
    x = draw()
    steps = list(range(schedule.num_steps - 1, -1, -1))
    if order == "up":
        steps = steps[::-1]
    if skip_last:
        steps = steps[:-1]
    for t in steps:
        eps = model(x, torch.full((shape[0],), t))
        x = diffusion.ddpm_step(schedule, eps, t, x, noise=draw())
    return x


def test_reverse_process_checker_accepts_a_correct_loop(small, capsys):
    model, schedule = small
    assert ch01.check_reverse_process(reverse_process, model, schedule)
    assert "Correct" in capsys.readouterr().out


def reverse_process_solution(model, schedule, shape, generator):
    """The solution the book shows for exercise 2 of chapter 01."""
    x = torch.randn(shape, generator=generator)  # pure noise, x_T ~ N(0, I)
    for t in range(schedule.num_steps - 1, -1, -1):  # code t = T-1, ..., 0
        eps = model(x, torch.full((shape[0],), t))  # the noise predictor
        z = torch.randn(shape, generator=generator)  # fresh noise, drawn as sample() draws it
        x = diffusion.ddpm_step(schedule, eps, t, x, noise=z)  # mu + sigma z (no noise on the last step)
    return x


def test_reverse_process_checker_accepts_the_books_solution(small, capsys):
    model, schedule = small
    assert ch01.check_reverse_process(reverse_process_solution, model, schedule)
    assert "Correct" in capsys.readouterr().out


def test_reverse_process_checker_accepts_a_loop_of_denoise_steps(small):
    model, schedule = small

    def loop(model, schedule, shape, generator):
        x = torch.randn(shape, generator=generator)
        for t in range(schedule.num_steps - 1, -1, -1):
            x = diffusion.denoise(model, schedule, x, t, generator=generator)
        return x

    assert ch01.check_reverse_process(loop, model, schedule)


def _sample_imported_by_name(m, s, shape, g):
    from ddpm_from_scratch.diffusion import sample

    return sample(m, s, shape, sampler="ddpm", generator=g, clip_x0=False, progress=False)


def _sample_with_the_refusal_swallowed(m, s, shape, g):
    try:
        return diffusion.sample(m, s, shape, generator=g, clip_x0=False, progress=False)
    except Exception:
        return reverse_process(m, s, shape, g)


@pytest.mark.parametrize("shortcut", [
    lambda m, s, shape, g: diffusion.sample(m, s, shape, sampler="ddpm", generator=g, clip_x0=False, progress=False),
    _sample_imported_by_name,
    _sample_with_the_refusal_swallowed,
])
def test_reverse_process_checker_refuses_the_package_sampler(small, shortcut, capsys):
    """diffusion.sample gives exactly the reference, but the exercise is to write the loop: it is refused."""
    model, schedule = small
    assert ch01.check_reverse_process(shortcut, model, schedule) is False
    out = capsys.readouterr().out
    assert "Not yet" in out and "diffusion.sample" in out and "write the loop yourself" in out
    assert len(out.strip().splitlines()) == 1
    assert ch01.check_reverse_process(reverse_process_solution, model, schedule)  # nothing is left broken


def test_reverse_process_checker_accepts_letting_ddpm_step_draw_the_noise(small):
    model, schedule = small

    def loop(model, schedule, shape, generator):
        x = torch.randn(shape, generator=generator)
        for t in range(schedule.num_steps - 1, -1, -1):
            x = diffusion.ddpm_step(schedule, model(x, t=torch.full((shape[0],), t)), t, x, generator=generator)
        return x

    assert ch01.check_reverse_process(loop, model, schedule)


@pytest.mark.parametrize("kwargs, words", [
    (dict(global_rng=True), "Draw every random number from `generator`"),
    (dict(order="up"), "counting down"),
    (dict(skip_last=True), "calls it 30 times"),
])
def test_reverse_process_checker_rejects_a_wrong_loop(small, kwargs, words, capsys):
    model, schedule = small
    fn = lambda m, s, shape, g: reverse_process(m, s, shape, g, **kwargs)
    assert ch01.check_reverse_process(fn, model, schedule) is False
    out = capsys.readouterr().out
    assert "Not yet" in out and words in out


def test_reverse_process_checker_reports_a_placeholder_and_an_error_without_raising(small, capsys):
    model, schedule = small
    assert ch01.check_reverse_process(lambda m, s, shape, g: torch.zeros(shape), model, schedule) is False
    assert "never called the noise predictor" in capsys.readouterr().out
    assert ch01.check_reverse_process(lambda m, s, shape, g: m(torch.zeros(3)), model, schedule) is False
    assert "raised" in capsys.readouterr().out


def test_reverse_process_checker_leaves_the_model_unchanged(small):
    model, schedule = small
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ch01.check_reverse_process(reverse_process, model, schedule)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model._forward_pre_hooks


def test_reverse_process_checker_needs_a_known_noise_predictor():
    with pytest.raises(TypeError, match="MLPDenoiser or UNet"):
        ch01.check_reverse_process(reverse_process, nn.Linear(2, 2), NoiseSchedule.linear(5))


# ------------------------------------------------------------------------------------
# check_step_embedding
# ------------------------------------------------------------------------------------
def embedding(t, dim, swap=False, full=False, no_broadcast=False):
    half = dim // 2
    w = torch.exp(-math.log(10000.0) * torch.arange(half) / (dim if full else half))
    angles = t.float()[:, None] * (w[None, :] if not no_broadcast else w[:1][None, :])
    return torch.cat([angles.cos(), angles.sin()] if swap else [angles.sin(), angles.cos()], dim=1)


def test_step_embedding_checker_accepts_the_formula_and_the_package_function(capsys):
    from ddpm_from_scratch.nn.blocks import sinusoidal_embedding

    assert ch01.check_step_embedding(embedding)
    assert ch01.check_step_embedding(sinusoidal_embedding)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (dict(swap=True), "other order"),
    (dict(full=True), "use half of it"),
    (dict(no_broadcast=True), "shape"),
])
def test_step_embedding_checker_names_each_plausible_slip(wrong, message, capsys):
    assert not ch01.check_step_embedding(lambda t, dim: embedding(t, dim, **wrong))
    assert message in capsys.readouterr().out
