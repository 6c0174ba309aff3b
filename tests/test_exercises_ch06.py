"""Chapter 06's checkers accept right answers and refuse the plausible wrong ones, each with its hint."""

import pytest
import torch

from ddpm_from_scratch import diffusion
from ddpm_from_scratch.exercises import ch06


def _loop(schedule, x0, t, generator, last=None, noise_shape=None, draw=torch.randn, reuse=False):
    x, fixed = x0, draw(x0.shape, generator=generator)
    for s in range(t + 1 if last is None else last):
        beta = schedule.betas[s]
        noise = fixed if reuse else draw(noise_shape or x.shape, generator=generator)
        x = (1 - beta).sqrt() * x + beta.sqrt() * noise
    return x


def _uniform(shape, generator):  # unit variance, not Gaussian
    return (torch.rand(shape, generator=generator) - 0.5) * 12**0.5


def test_noising_loop_checker(capsys):
    assert ch06.check_noising_loop(_loop)
    assert ch06.check_noising_loop(lambda s, x0, t, g: diffusion.add_noise_step_by_step(s, x0, t, generator=g))
    wrong = {
        "range(t + 1)": lambda s, x0, t, g: _loop(s, x0, t, g, last=t),
        "fresh noise": lambda s, x0, t, g: _loop(s, x0, t, g, reuse=True),
        "torch.randn, not torch.rand": lambda s, x0, t, g: _loop(s, x0, t, g, draw=_uniform),
        "whole shape": lambda s, x0, t, g: _loop(s, x0, t, g, noise_shape=(x0.shape[0], 1, 1, 1)),
        "mean sqrt(alpha_bar_t)": lambda s, x0, t, g: _loop(s, x0, t, g) + 0.5,
    }
    capsys.readouterr()
    for hint, fn in wrong.items():
        assert not ch06.check_noising_loop(fn), hint
        out = capsys.readouterr().out
        assert "Not yet" in out and hint in out, (hint, out)


def noising_loop_solution(schedule, x0, t, generator):
    """The solution the book shows for exercise 1 of chapter 06."""
    x = x0
    for s in range(t + 1):  # code steps 0 .. t: t + 1 steps
        beta = schedule.betas[s]
        noise = torch.randn(x.shape, generator=generator)
        x = (1 - beta).sqrt() * x + beta.sqrt() * noise  # x_s = sqrt(alpha_s) x_{s-1} + sqrt(beta_s) eps
    return x


def test_noising_loop_checker_accepts_the_books_solution(capsys):
    assert ch06.check_noising_loop(noising_loop_solution)
    assert "Right" in capsys.readouterr().out


def _one_shot_by_hand(schedule, x0, t, generator):
    abar = torch.cumprod(1 - schedule.betas, 0)[t]
    return abar.sqrt() * x0 + (1 - abar).sqrt() * torch.randn(x0.shape, generator=generator)


def _one_shot_after_t_draws(schedule, x0, t, generator):
    """Draws as often as the loop would, but noises in one shot with the last draw."""
    for _ in range(t + 1):
        noise = torch.randn(x0.shape, generator=generator)
    abar = torch.cumprod(1 - schedule.betas, 0)[t]
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


@pytest.mark.parametrize("shortcut", [
    lambda s, x0, t, g: diffusion.add_noise(s, x0, t, generator=g),
    _one_shot_by_hand,
    _one_shot_after_t_draws,
])
def test_noising_loop_checker_refuses_the_one_shot_formula(shortcut, capsys):
    """One-shot noising has the right distribution at every t, but the exercise is the step-by-step loop."""
    assert not ch06.check_noising_loop(shortcut)
    out = capsys.readouterr().out
    assert "Not yet" in out and "one more step" in out and "loop over s = 0 .. t" in out
    assert len(out.strip().splitlines()) == 1


def test_noising_loop_checker_asks_for_the_generator(capsys):
    global_rng = lambda s, x0, t, g: _loop(s, x0, t, None)
    assert not ch06.check_noising_loop(global_rng)
    out = capsys.readouterr().out
    assert "Not yet" in out and "from `generator`" in out


def test_ddim_step_checker(capsys):
    right = lambda s, eps, t, tp, x, eta, n: diffusion.ddim_step(s, eps, t, tp, x, eta=eta, noise=n)
    assert ch06.check_ddim_step(right)

    def alphas_not_alpha_bars(s, eps, t, tp, x, eta, n):
        a = s.alphas
        a_prev = a[tp] if tp >= 0 else torch.tensor(1.0)
        x0 = (x - (1 - a[t]).sqrt() * eps) / a[t].sqrt()
        return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps

    wrong = {
        "adds sigma * noise": lambda s, eps, t, tp, x, eta, n: diffusion.ddim_step(s, eps, t, tp, x, eta=0.0, noise=n),
        "cumulative products": alphas_not_alpha_bars,
        "alpha_bar_{-1} = 1": lambda s, eps, t, tp, x, eta, n: diffusion.ddim_step(s, eps, t, max(tp, 0), x,
                                                                                 eta=eta, noise=n),
        "should be a tensor": lambda *args: 0.0,
    }
    capsys.readouterr()
    for hint, fn in wrong.items():
        assert not ch06.check_ddim_step(fn), hint
        out = capsys.readouterr().out
        assert "Not yet" in out and hint in out, (hint, out)


@pytest.mark.parametrize("fn, hint", [
    (lambda m, lv, e: m + lv.exp() * e, "exp(logvar) is the variance"),
    (lambda m, lv, e: m + lv * e, "logvar is the log of the variance"),
    (lambda m, lv, e: (m + (0.5 * lv).exp() * e).detach(), "carries no gradient"),
    (lambda m, lv, e: m + (0.5 * lv).exp() * torch.randn_like(m), "z = mean + exp(logvar / 2) * eps"),
    (lambda m, lv, e: 1 / 0, "raised ZeroDivisionError"),
])
def test_reparameterised_sample_checker(fn, hint, capsys):
    assert ch06.check_reparameterised_sample(lambda m, lv, e: m + (0.5 * lv).exp() * e)
    capsys.readouterr()
    assert not ch06.check_reparameterised_sample(fn)
    out = capsys.readouterr().out
    assert "Not yet" in out and hint in out, out
