"""The chapter 02 exercise checkers accept right answers and reject wrong ones, with a helpful message."""

import math

import pytest
import torch

from ddpm_from_scratch import diffusion
from ddpm_from_scratch.exercises import ch02
from ddpm_from_scratch.schedules import NoiseSchedule


# ------------------------------------------------------------------------------------
# check_add_noise
# ------------------------------------------------------------------------------------
def add_noise_by_hand(schedule, x0, t, noise, mistake=None):
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise with plain floats; `mistake` makes a usual error."""
    ts = torch.as_tensor(t).long().expand(x0.shape[0]).tolist()
    betas = schedule.betas.tolist()
    out = torch.empty_like(x0)
    for i, step in enumerate(ts):
        if mistake == "off by one":
            step = max(step - 1, 0)
        abar = math.prod(1 - b for b in betas[: step + 1])
        if mistake == "alpha":
            abar = 1 - betas[step]
        a, s = math.sqrt(abar), math.sqrt(1 - abar)
        if mistake == "no sqrt on noise":
            s = 1 - abar
        out[i] = a * x0[i] + s * noise[i]
    if mistake == "own noise":
        out = add_noise_by_hand(schedule, x0, t, torch.randn_like(x0))
    return out


def test_add_noise_checker_accepts_a_hand_written_forward_process(capsys):
    assert ch02.check_add_noise(add_noise_by_hand)
    assert "Correct" in capsys.readouterr().out


def add_noise_solution(schedule, x0, t, noise):
    """The solution the book shows for exercise 1 of chapter 02."""
    alpha_bars = torch.cumprod(1 - schedule.betas, dim=0)  # abar_t = prod_{s<=t} (1 - beta_s)
    abar = alpha_bars[torch.as_tensor(t)].to(x0.dtype)  # () for an int t, (B,) for a tensor
    abar = abar.reshape(-1, *[1] * (x0.ndim - 1)) if abar.ndim else abar  # (B, 1, 1, 1): one number per image
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise  # x_t = sqrt(abar) x0 + sqrt(1-abar) eps


def test_add_noise_checker_accepts_the_books_solution(capsys):
    assert ch02.check_add_noise(add_noise_solution)
    assert ch02.check_add_noise(add_noise_solution, NoiseSchedule.cosine(1000))
    assert "Correct" in capsys.readouterr().out


def _alpha_bars_read(schedule, x0, t, noise):
    abar = schedule.alpha_bars[torch.as_tensor(t)].to(x0.dtype)
    abar = abar.reshape(-1, *[1] * (x0.ndim - 1)) if abar.ndim else abar
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


@pytest.mark.parametrize("shortcut", [
    lambda s, x0, t, noise: diffusion.add_noise(s, x0, t, noise),
    _alpha_bars_read,
])
def test_add_noise_checker_refuses_the_precomputed_alpha_bars(shortcut, capsys):
    """The exercise asks for alpha_bar computed from the betas: the package function and schedule.alpha_bars
    give the right numbers but are refused, with one line saying what to do."""
    assert not ch02.check_add_noise(shortcut)
    out = capsys.readouterr().out
    assert "Not yet" in out and "schedule.alpha_bars" in out and "schedule.betas" in out
    assert len(out.strip().splitlines()) == 1


def test_training_pairs_may_still_use_the_package_forward_process():
    def pairs(schedule, x0):
        t = torch.randint(0, schedule.num_steps, (x0.shape[0],))
        noise = torch.randn_like(x0)
        return diffusion.add_noise(schedule, x0, t, noise), t, noise

    assert ch02.check_training_pairs(pairs)


def test_add_noise_checker_rejects_alpha_instead_of_alpha_bar(capsys):
    assert not ch02.check_add_noise(lambda s, x0, t, n: add_noise_by_hand(s, x0, t, n, mistake="alpha"))
    assert "alpha_bar" in capsys.readouterr().out


def test_add_noise_checker_rejects_a_missing_square_root(capsys):
    assert not ch02.check_add_noise(lambda s, x0, t, n: add_noise_by_hand(s, x0, t, n, mistake="no sqrt on noise"))
    assert "sqrt(1 - alpha_bar_t)" in capsys.readouterr().out


def test_add_noise_checker_rejects_an_off_by_one_step(capsys):
    assert not ch02.check_add_noise(lambda s, x0, t, n: add_noise_by_hand(s, x0, t, n, mistake="off by one"))
    assert "t - 1" in capsys.readouterr().out


def test_add_noise_checker_rejects_noise_drawn_inside_the_function(capsys):
    assert not ch02.check_add_noise(lambda s, x0, t, n: add_noise_by_hand(s, x0, t, n, mistake="own noise"))
    assert "`noise` argument" in capsys.readouterr().out


def test_add_noise_checker_rejects_a_version_that_only_works_for_an_int_t(capsys):
    def int_only(schedule, x0, t, noise):
        abar = torch.cumprod(1 - schedule.betas, 0)[t].float()  # (B,) for a tensor t: broadcasts against the last axis
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    assert not ch02.check_add_noise(int_only)
    assert "(B,)" in capsys.readouterr().out


def test_add_noise_checker_names_a_float64_result(capsys):
    def float64(schedule, x0, t, noise):
        abar = torch.cumprod(1 - schedule.betas, 0)[torch.as_tensor(t)].reshape(-1, 1, 1, 1)  # float64
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    assert not ch02.check_add_noise(float64)
    assert "dtype" in capsys.readouterr().out


def test_add_noise_checker_reports_an_exception_instead_of_raising(capsys):
    def broken(schedule, x0, t, noise):
        raise NotImplementedError("write me")

    assert not ch02.check_add_noise(broken)
    assert "NotImplementedError" in capsys.readouterr().out


def test_add_noise_checker_says_not_yet_to_the_starter_placeholder(capsys):
    assert not ch02.check_add_noise(lambda s, x0, t, n: torch.zeros_like(x0))
    assert "Not yet" in capsys.readouterr().out


def test_add_noise_statistics_catch_a_wrong_variance_that_the_exact_check_would_also_catch(capsys):
    """The distribution check alone (what q(x_t | x_0) says) rejects a noise scale that is too small."""
    sched = NoiseSchedule.linear(1000)
    x0 = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4).expand(20000, -1, -1, -1)
    t = 500
    abar = ch02._alpha_bars(sched)[t].item()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    right = math.sqrt(abar) * x0 + math.sqrt(1 - abar) * noise
    wrong = math.sqrt(abar) * x0 + (1 - abar) * noise
    assert ch02._statistics_message(right, x0, abar, "test") is None
    assert "variance" in ch02._statistics_message(wrong, x0, abar, "test")
    wrong_mean = abar * x0 + math.sqrt(1 - abar) * noise
    assert "mean" in ch02._statistics_message(wrong_mean, x0, abar, "test")


# ------------------------------------------------------------------------------------
# check_training_pairs
# ------------------------------------------------------------------------------------
def pairs_by_hand(schedule, x0, low=0, high=None, one_t=False, uniform_noise=False, mismatch=False):
    T = schedule.num_steps
    high = T if high is None else high
    t = torch.randint(low, high, (x0.shape[0],))
    if one_t:
        t = t[:1].expand(x0.shape[0]).clone()
    noise = torch.rand_like(x0) if uniform_noise else torch.randn_like(x0)
    x_t = diffusion.add_noise(schedule, x0, t, torch.randn_like(x0) if mismatch else noise)
    return x_t, t, noise


def test_training_pairs_checker_accepts_the_package_function(capsys):
    assert ch02.check_training_pairs(lambda s, x0: diffusion.make_training_pairs(s, x0))
    assert "Correct" in capsys.readouterr().out


def test_training_pairs_checker_accepts_a_hand_written_version():
    assert ch02.check_training_pairs(pairs_by_hand)


def test_training_pairs_checker_rejects_t_that_never_reaches_zero(capsys):
    assert not ch02.check_training_pairs(lambda s, x0: pairs_by_hand(s, x0, low=1))
    assert "never equals 0" in capsys.readouterr().out


def test_training_pairs_checker_rejects_t_that_never_reaches_the_last_step(capsys):
    assert not ch02.check_training_pairs(lambda s, x0: pairs_by_hand(s, x0, high=s.num_steps - 1))
    assert "never equals T-1" in capsys.readouterr().out


def test_training_pairs_checker_rejects_one_step_for_the_whole_batch(capsys):
    assert not ch02.check_training_pairs(lambda s, x0: pairs_by_hand(s, x0, one_t=True))
    assert "share one step" in capsys.readouterr().out


def test_training_pairs_checker_rejects_a_target_that_is_not_the_added_noise(capsys):
    assert not ch02.check_training_pairs(lambda s, x0: pairs_by_hand(s, x0, mismatch=True))
    assert "do not fit together" in capsys.readouterr().out


def test_training_pairs_checker_rejects_uniform_noise(capsys):
    assert not ch02.check_training_pairs(lambda s, x0: pairs_by_hand(s, x0, uniform_noise=True))
    assert "standard normal" in capsys.readouterr().out


@pytest.mark.parametrize("name, draw", [
    ("uniform with variance 1", lambda x0: (torch.rand_like(x0) * 2 - 1) * math.sqrt(3)),
    ("Laplace with variance 1", lambda x0: torch.distributions.Laplace(0.0, 1 / math.sqrt(2)).sample(x0.shape)),
    ("+-1 coin flips", lambda x0: torch.randint(0, 2, x0.shape).float() * 2 - 1),
])
def test_training_pairs_checker_rejects_noise_with_the_right_mean_and_variance_that_is_not_normal(name, draw, capsys):
    def pairs(schedule, x0):
        t = torch.randint(0, schedule.num_steps, (x0.shape[0],))
        noise = draw(x0)
        return diffusion.add_noise(schedule, x0, t, noise), t, noise

    assert not ch02.check_training_pairs(pairs), name
    assert "not normally distributed" in capsys.readouterr().out


def test_training_pairs_checker_rejects_the_same_noise_in_every_call(capsys):
    def pairs(schedule, x0):
        generator = torch.Generator().manual_seed(0)  # re-seeded inside: every call draws the same numbers
        t = torch.randint(0, schedule.num_steps, (x0.shape[0],), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        return diffusion.add_noise(schedule, x0, t, noise), t, noise

    assert not ch02.check_training_pairs(pairs)
    assert "same noise in two calls" in capsys.readouterr().out


def test_training_pairs_checker_rejects_steps_that_are_not_uniform(capsys):
    def skewed(schedule, x0):
        u = torch.rand(x0.shape[0])
        t = (u**2 * schedule.num_steps).long().clamp(max=schedule.num_steps - 1)  # mostly small t
        t[0], t[1] = 0, schedule.num_steps - 1
        noise = torch.randn_like(x0)
        return diffusion.add_noise(schedule, x0, t, noise), t, noise

    assert not ch02.check_training_pairs(skewed)
    assert "not uniform" in capsys.readouterr().out


def test_training_pairs_checker_rejects_float_steps_and_wrong_return_values(capsys):
    assert not ch02.check_training_pairs(lambda s, x0: (x0, torch.zeros(x0.shape[0]), x0))
    assert "dtype" in capsys.readouterr().out
    assert not ch02.check_training_pairs(lambda s, x0: x0)
    assert "three things" in capsys.readouterr().out


# ------------------------------------------------------------------------------------
# check_training_step
# ------------------------------------------------------------------------------------
def training_step(model, optimizer, schedule, x0, generator, zero_grad=True, step=True, target="noise"):
    x_t, t, noise = diffusion.make_training_pairs(schedule, x0, generator)
    loss = torch.nn.functional.mse_loss(model(x_t, t), noise if target == "noise" else x0)
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    if step:
        optimizer.step()
    return loss.item()


def test_training_step_checker_accepts_the_algorithm(capsys):
    assert ch02.check_training_step(training_step)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (dict(zero_grad=False), "gradients were not zeroed"),
    (dict(step=False), "did not change"),
    (dict(target="x0"), "the target is the noise"),
])
def test_training_step_checker_names_each_plausible_slip(wrong, message, capsys):
    assert not ch02.check_training_step(lambda *args: training_step(*args, **wrong))
    assert message in capsys.readouterr().out


def test_training_step_checker_reports_pairs_not_drawn_from_the_generator(capsys):
    def own_pairs(model, optimizer, schedule, x0, generator):
        return training_step(model, optimizer, schedule, x0, torch.Generator().manual_seed(99))

    assert not ch02.check_training_step(own_pairs)
    assert "make_training_pairs(schedule, x0, generator)" in capsys.readouterr().out
