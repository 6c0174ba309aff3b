"""NoiseSchedule: every derived quantity against an independent computation."""

import math

import numpy as np
import pytest
import torch

from ddpm_from_scratch.schedules import NoiseSchedule


def test_linear_schedule_runs_from_beta_start_to_beta_end():
    s = NoiseSchedule.linear(1000, 1e-4, 0.02)
    assert s.num_steps == 1000
    assert s.betas[0].item() == pytest.approx(1e-4)
    assert s.betas[-1].item() == pytest.approx(0.02)
    assert np.allclose(np.diff(s.betas.numpy()), (0.02 - 1e-4) / 999)


def test_alpha_bar_is_the_product_of_alphas():
    s = NoiseSchedule.linear()
    # independent: a running product computed as exp(sum(log(1 - beta))) in numpy
    expected = np.exp(np.cumsum(np.log1p(-s.betas.numpy())))
    assert np.allclose(s.alpha_bars.numpy(), expected, rtol=1e-10)
    assert torch.allclose(s.alphas, 1 - s.betas)


def test_cosine_schedule_follows_its_closed_form_and_clips_beta():
    T, s_ = 1000, 0.008
    s = NoiseSchedule.cosine(T, s_)
    f = lambda t: math.cos((t / T + s_) / (1 + s_) * math.pi / 2) ** 2
    for t in [0, 10, 500, 900, 990]:  # alpha_bar after step t is f(t + 1) / f(0) where betas are unclipped
        assert s.alpha_bars[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert s.betas.max().item() <= 0.999
    assert s.betas[-1].item() == pytest.approx(0.999)  # the last step would be beta = 1 without clipping


def test_posterior_matches_bayes_rule_for_gaussians():
    """q(x_{t-1} | x_t, x_0) from Gaussian conditioning: prior N(sqrt(abar_{t-1}) x0, 1 - abar_{t-1}),
    likelihood x_t | x_{t-1} ~ N(sqrt(alpha_t) x_{t-1}, beta_t)."""
    s = NoiseSchedule.cosine(200)
    x0, xt = 0.7, -0.3
    for t in [1, 5, 100, 199]:
        beta = s.betas[t].item()
        abar_prev = s.alpha_bars[t - 1].item()
        precision = 1 / (1 - abar_prev) + (1 - beta) / beta
        var = 1 / precision
        mean = var * (math.sqrt(abar_prev) * x0 / (1 - abar_prev) + math.sqrt(1 - beta) * xt / beta)
        assert s.posterior_variance[t].item() == pytest.approx(var, rel=1e-9)
        got_mean = s.posterior_mean_coef_x0[t].item() * x0 + s.posterior_mean_coef_xt[t].item() * xt
        assert got_mean == pytest.approx(mean, rel=1e-9)


def test_posterior_at_the_first_step_is_the_clean_image():
    s = NoiseSchedule.linear()
    assert s.posterior_variance[0].item() == 0
    assert s.posterior_mean_coef_x0[0].item() == pytest.approx(1.0)
    assert s.posterior_mean_coef_xt[0].item() == pytest.approx(0.0)
    assert s.alpha_bars_prev[0].item() == 1.0


def test_out_of_range_steps_get_a_clear_error():
    s = NoiseSchedule.linear(100)
    with pytest.raises(ValueError, match=r"0\.\.99"):
        s.check_timesteps(100)
    with pytest.raises(ValueError, match="out of range"):
        s.check_timesteps(torch.tensor([3, -1]))
    with pytest.raises(TypeError):
        s.check_timesteps(torch.tensor([0.5]))


def test_invalid_betas_and_unknown_names_are_refused():
    with pytest.raises(ValueError):
        NoiseSchedule(torch.tensor([0.1, 1.5]))
    with pytest.raises(ValueError, match="linear, cosine"):
        NoiseSchedule.from_name("quadratic")
