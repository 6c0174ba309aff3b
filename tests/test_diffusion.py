"""Forward process, reverse steps and samplers, each checked against an independent computation."""

import math

import pytest
import torch

from ddpm_from_scratch import diffusion
from ddpm_from_scratch.schedules import NoiseSchedule


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_add_noise_is_the_closed_form_with_the_given_noise():
    s = NoiseSchedule.linear()
    x0, noise = torch.randn(4, 1, 8, 8, generator=gen(1)), torch.randn(4, 1, 8, 8, generator=gen(2))
    abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)[123].item()
    expected = math.sqrt(abar) * x0 + math.sqrt(1 - abar) * noise
    assert torch.allclose(diffusion.add_noise(s, x0, 123, noise), expected, atol=1e-6)


def test_batched_t_matches_one_step_at_a_time():
    s = NoiseSchedule.cosine()
    x0, noise = torch.randn(3, 2, generator=gen(1)), torch.randn(3, 2, generator=gen(2))
    t = torch.tensor([0, 500, 999])
    batched = diffusion.add_noise(s, x0, t, noise)
    for i in range(3):
        single = diffusion.add_noise(s, x0[i:i + 1], int(t[i]), noise[i:i + 1])
        assert torch.allclose(batched[i:i + 1], single)


@pytest.mark.parametrize("t", [0, 40, 499])
def test_one_shot_noising_matches_step_by_step_in_distribution(t):
    s = NoiseSchedule.linear(500)
    n = 20000
    x0 = torch.full((n, 1), 0.8)
    one_shot = diffusion.add_noise(s, x0, t, generator=gen(1))
    slow = diffusion.add_noise_step_by_step(s, x0, t, generator=gen(2))
    abar = torch.cumprod(1 - s.betas, 0)[t].item()
    mean, var = math.sqrt(abar) * 0.8, 1 - abar
    for x in (one_shot, slow):  # both against the theory, 5 standard errors
        assert abs(x.mean().item() - mean) < 5 * math.sqrt(var / n)
        assert abs(x.var().item() - var) < 5 * var * math.sqrt(2 / (n - 1))


def test_step_by_step_noising_handles_a_different_t_per_example():
    s = NoiseSchedule.linear(100)
    x0 = torch.zeros(2, 5000)
    x = diffusion.add_noise_step_by_step(s, x0, torch.tensor([0, 99]), generator=gen(0))
    abar = torch.cumprod(1 - s.betas, 0)
    assert x[0].var().item() == pytest.approx(1 - abar[0].item(), rel=0.1)
    assert x[1].var().item() == pytest.approx(1 - abar[99].item(), rel=0.1)


def test_training_pairs_are_consistent_and_t_covers_every_step():
    s = NoiseSchedule.linear(10)
    x0 = torch.randn(5000, 2, generator=gen(0))
    x_t, t, noise = diffusion.make_training_pairs(s, x0, generator=gen(1))
    abar = s.alpha_bars.float()[t][:, None]
    assert torch.allclose(x_t, abar.sqrt() * x0 + (1 - abar).sqrt() * noise, atol=1e-6)
    assert set(t.tolist()) == set(range(10))


def test_ddpm_step_with_the_true_noise_gives_the_posterior_mean():
    """If eps is the noise that made x_t from x0, the step's mean is mu~(x_t, x0) (DDPM eq. 7),
    here computed by Bayes' rule for Gaussians."""
    s = NoiseSchedule.linear()
    x0, eps = torch.randn(6, 3, generator=gen(1)), torch.randn(6, 3, generator=gen(2))
    t = 300
    x_t = diffusion.add_noise(s, x0, t, eps)
    beta, abar_prev = s.betas[t].item(), s.alpha_bars[t - 1].item()
    var = 1 / (1 / (1 - abar_prev) + (1 - beta) / beta)
    mean = var * (math.sqrt(abar_prev) * x0 / (1 - abar_prev) + math.sqrt(1 - beta) * x_t / beta)
    zero = torch.zeros_like(x_t)
    for clip in (False, True):
        out = diffusion.ddpm_step(s, eps, t, x_t, noise=zero, clip_x0=clip)
        if clip:  # clipping changes nothing where x0 already lies in [-1, 1]
            inside = (x0.abs() <= 1).all(dim=1)
            assert torch.allclose(out[inside], mean[inside], atol=1e-5)
        else:
            assert torch.allclose(out, mean, atol=1e-5)
    # the noise enters with the posterior standard deviation, or sqrt(beta_t) on request
    one = torch.ones_like(x_t)
    diff = diffusion.ddpm_step(s, eps, t, x_t, noise=one) - diffusion.ddpm_step(s, eps, t, x_t, noise=zero)
    assert torch.allclose(diff, torch.full_like(diff, math.sqrt(var)), atol=1e-6)
    diff = (diffusion.ddpm_step(s, eps, t, x_t, noise=one, variance="beta")
            - diffusion.ddpm_step(s, eps, t, x_t, noise=zero, variance="beta"))
    assert torch.allclose(diff, torch.full_like(diff, math.sqrt(beta)), atol=1e-6)


def test_ddpm_step_adds_no_noise_at_the_last_step():
    s = NoiseSchedule.linear()
    x_t, eps = torch.randn(4, 2), torch.randn(4, 2)
    a = diffusion.ddpm_step(s, eps, 0, x_t, noise=torch.randn(4, 2))
    b = diffusion.ddpm_step(s, eps, 0, x_t, noise=torch.randn(4, 2))
    assert torch.equal(a, b)
    # batched t: only the examples at t = 0 are noise-free
    t = torch.tensor([0, 0, 5, 5])
    a = diffusion.ddpm_step(s, eps, t, x_t, noise=torch.zeros(4, 2))
    b = diffusion.ddpm_step(s, eps, t, x_t, noise=torch.ones(4, 2))
    assert torch.equal(a[:2], b[:2]) and not torch.equal(a[2:], b[2:])


def test_ddim_with_eta_one_has_the_ddpm_posterior_variance():
    s = NoiseSchedule.cosine()
    x_t, eps = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    zeros, ones = torch.zeros_like(x_t), torch.ones_like(x_t)
    for t in [1, 10, 600, 999]:
        a = diffusion.ddim_step(s, eps, t, t - 1, x_t, eta=1.0, noise=zeros)
        b = diffusion.ddim_step(s, eps, t, t - 1, x_t, eta=1.0, noise=ones)
        sigma2 = ((b - a) ** 2).mean().item()
        assert sigma2 == pytest.approx(s.posterior_variance[t].item(), rel=1e-4)
        # and its mean is the DDPM mean
        ddpm = diffusion.ddpm_step(s, eps, t, x_t, noise=zeros)
        assert torch.allclose(a, ddpm, atol=1e-8)


def test_deterministic_ddim_with_the_true_noise_lands_on_the_noised_clean_image():
    """With eps exact, eta = 0 moves along x = sqrt(abar) x0 + sqrt(1 - abar) eps; t_prev = -1 gives x0."""
    s = NoiseSchedule.linear()
    x0, eps = torch.rand(4, 3) * 2 - 1, torch.randn(4, 3)
    x_t = diffusion.add_noise(s, x0, 800, eps)
    assert torch.allclose(diffusion.ddim_step(s, eps, 800, 200, x_t), diffusion.add_noise(s, x0, 200, eps), atol=1e-5)
    assert torch.allclose(diffusion.ddim_step(s, eps, 800, -1, x_t), x0, atol=1e-4)


class GaussianOracle(torch.nn.Module):
    """The optimal noise predictor for data ~ N(0, std^2 I): E[eps | x_t] = sqrt(1 - abar) x_t / (abar std^2 + 1 - abar)."""

    def __init__(self, schedule, std):
        super().__init__()
        self.schedule, self.std = schedule, std
        self.dummy = torch.nn.Parameter(torch.zeros(()))
        self.calls = 0

    def forward(self, x, t):
        self.calls += 1
        abar = self.schedule.alpha_bars.float()[t].reshape(-1, *([1] * (x.ndim - 1)))
        return (1 - abar).sqrt() * x / (abar * self.std**2 + 1 - abar)


@pytest.mark.parametrize("sampler,steps", [("ddpm", None), ("ddim", 50)])
def test_samplers_with_the_optimal_predictor_reproduce_gaussian_data(sampler, steps):
    s = NoiseSchedule.linear(200)
    oracle = GaussianOracle(s, std=0.5)
    x = diffusion.sample(oracle, s, (20000, 1), sampler=sampler, steps=steps, generator=gen(0), progress=False)
    assert x.mean().item() == pytest.approx(0, abs=0.02)
    assert x.std().item() == pytest.approx(0.5, rel=0.05)
    assert oracle.calls == (200 if sampler == "ddpm" else 50)


def test_seeded_sampling_is_deterministic_and_returns_the_trajectory():
    s = NoiseSchedule.linear(50)
    oracle = GaussianOracle(s, std=1.0)
    a, traj = diffusion.sample(oracle, s, (8, 2), generator=gen(3), progress=False, return_trajectory=True)
    b = diffusion.sample(oracle, s, (8, 2), generator=gen(3), progress=False)
    assert torch.equal(a, b)
    assert traj.timesteps[0] == 49 and traj.timesteps[-1] == -1
    assert traj.states.shape == (51, 8, 2) and torch.equal(traj.states[-1], a)
    c = diffusion.sample(oracle, s, (8, 2), generator=gen(4), progress=False)
    assert not torch.equal(a, c)


def test_bad_sampler_arguments_are_explained():
    s = NoiseSchedule.linear(50)
    oracle = GaussianOracle(s, std=1.0)
    with pytest.raises(ValueError, match="ddim"):
        diffusion.sample(oracle, s, (2, 2), sampler="ddpm", steps=10, progress=False)
    with pytest.raises(ValueError, match="unknown sampler"):
        diffusion.sample(oracle, s, (2, 2), sampler="euler", progress=False)
    with pytest.raises(ValueError, match="out of range"):
        diffusion.add_noise(s, torch.zeros(2, 2), 50)
    with pytest.raises(ValueError, match="t_prev"):
        diffusion.ddim_step(s, torch.zeros(2, 2), 10, 10, torch.zeros(2, 2))
    ts = diffusion.sampling_timesteps(s, 5)  # evenly spaced from T-1 down to 0
    assert len(ts) == 5 and ts[0] == 49 and ts[-1] == 0
    assert all(11 <= a - b <= 14 for a, b in zip(ts, ts[1:]))


def test_ddim_refuses_more_steps_than_the_process_has_and_eta_outside_0_1():
    from ddpm_from_scratch.nn import MLPConfig, MLPDenoiser

    schedule = NoiseSchedule.linear(num_steps=20)
    model = MLPDenoiser(MLPConfig())
    with pytest.raises(ValueError, match="ddim with 21 steps: the reverse process has only 20 steps"):
        diffusion.sample(model, schedule, (4, 2), sampler="ddim", steps=21, progress=False)
    assert diffusion.sample(model, schedule, (4, 2), sampler="ddim", steps=20, progress=False).shape == (4, 2)
    for eta in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="eta must be between 0"):
            diffusion.sample(model, schedule, (4, 2), sampler="ddim", steps=5, eta=eta, progress=False)
        with pytest.raises(ValueError, match="eta must be between 0"):
            diffusion.ddim_step(schedule, torch.zeros(4, 2), 5, 4, torch.zeros(4, 2), eta=eta)


def test_a_network_that_is_not_a_noise_predictor_is_refused_by_the_sampler():
    class NotANoisePredictor(torch.nn.Module):
        predicts_noise = False

        def forward(self, x, t):
            return x

    with pytest.raises(TypeError, match="is not a noise predictor"):
        diffusion.sample(NotANoisePredictor(), NoiseSchedule.linear(num_steps=5), (2, 2), progress=False)


# ------------------------------------------------------------------------------------
# DPM-Solver++ against exact math: Gaussian data N(mu, s^2), whose optimal noise predictor is known in closed
# form and whose probability-flow ODE keeps each sample's standard score z = (x_t - alpha_t mu) / sd_t fixed
# ------------------------------------------------------------------------------------
class ShiftedGaussianOracle(torch.nn.Module):
    """E[eps | x_t] = sigma_t (x_t - alpha_t mu) / (alpha_t^2 s^2 + sigma_t^2) for data ~ N(mu, s^2 I)."""

    def __init__(self, schedule, mu, std):
        super().__init__()
        self.schedule, self.mu, self.std = schedule, mu, std
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        abar = self.schedule.alpha_bars[t].to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        return (1 - abar).sqrt() * (x - abar.sqrt() * self.mu) / (abar * self.std**2 + 1 - abar)


def exact_flow(schedule, x_T, t, mu, std):
    """Where the probability-flow ODE takes x_T (at code step T-1) by code step t (t = -1: the clean image)."""
    abar = schedule.alpha_bars.double()
    z = (x_T - abar[-1].sqrt() * mu) / (abar[-1] * std**2 + 1 - abar[-1]).sqrt()
    a = torch.tensor(1.0, dtype=torch.float64) if t == -1 else abar[t]
    return a.sqrt() * mu + (a * std**2 + 1 - a).sqrt() * z


def test_a_first_order_solver_step_is_ddims_step_and_the_last_returns_the_clean_estimate():
    s = NoiseSchedule.cosine()
    x_t, eps, noise = torch.randn(6, 3, generator=gen(0)), torch.randn(6, 3, generator=gen(1)), torch.randn(6, 3)
    x0_hat = diffusion.predict_x0(s, x_t, 800, eps)
    assert torch.allclose(diffusion.dpm_solver_step(s, x0_hat, 800, 600, x_t),
                          diffusion.ddim_step(s, eps, 800, 600, x_t, eta=0.0), atol=1e-5)
    assert torch.allclose(diffusion.dpm_solver_step(s, x0_hat, 800, 600, x_t, stochastic=True, noise=noise),
                          diffusion.ddim_step(s, eps, 800, 600, x_t, eta=1.0, noise=noise), atol=1e-5)
    for stochastic in (False, True):
        assert torch.allclose(diffusion.dpm_solver_step(s, x0_hat, 5, -1, x_t, (x_t, 40), stochastic=stochastic), x0_hat)
    # the second-order step only adds the change between the two clean-image estimates: none, no change
    assert torch.allclose(diffusion.dpm_solver_step(s, x0_hat, 800, 600, x_t, earlier=(x0_hat, 900)),
                          diffusion.dpm_solver_step(s, x0_hat, 800, 600, x_t), atol=1e-6)


def test_with_a_constant_clean_image_estimate_the_solver_walks_ddims_path():
    """Data all at mu: eps = (x_t - alpha_t mu) / sigma_t, x0_hat = mu at every step, so the line through two
    estimates is flat and every 2M step equals DDIM's."""
    s = NoiseSchedule.cosine()
    point = ShiftedGaussianOracle(s, mu=0.3, std=0.0)
    x_T = torch.randn(5, 2, generator=gen(2))
    runs = [diffusion.sample(point, s, (5, 2), sampler=name, steps=12, x_start=x_T, t_start=999, progress=False,
                             return_trajectory=True)[1].states for name in ("ddim", "dpm++2m")]
    assert torch.allclose(runs[0], runs[1], atol=1e-5)


def test_ddim_is_first_order_and_dpm_solver_2m_second_order_on_the_probability_flow_ode():
    """Error at t = 0 against the exact flow: halves (DDIM, Euler in lambda) or quarters (2M) as the steps double.
    Here every 2M step is second order (the sampler makes the one into t = 0 first order, see its comment)."""
    s, mu, std = NoiseSchedule.cosine(), 0.5, 0.3
    oracle = ShiftedGaussianOracle(s, mu, std)
    x_T = torch.randn(500, 1, generator=gen(0), dtype=torch.float64)
    exact = exact_flow(s, x_T, 0, mu, std)

    def error(second_order: bool, steps: int) -> float:
        x, earlier, ts = x_T, None, diffusion.sampling_timesteps(s, steps)
        for t, t_prev in zip(ts, ts[1:]):
            eps = oracle(x, torch.full((len(x),), t))
            if second_order:
                x0_hat = diffusion.predict_x0(s, x, t, eps)
                x, earlier = diffusion.dpm_solver_step(s, x0_hat, t, t_prev, x, earlier), (x0_hat, t)
            else:
                x = diffusion.ddim_step(s, eps, t, t_prev, x)
        return (x - exact).abs().mean().item()

    for second_order, (low, high) in ((False, (1.8, 2.2)), (True, (3.5, 4.5))):
        errors = [error(second_order, steps) for steps in (40, 80, 160)]
        assert all(low < a / b < high for a, b in zip(errors, errors[1:])), (second_order, errors)


def test_the_2m_sampler_at_20_steps_lands_closer_to_the_exact_flow_than_ddim_at_50():
    s, mu, std = NoiseSchedule.cosine(), 0.5, 0.3
    oracle = ShiftedGaussianOracle(s, mu, std)
    x_T = torch.randn(2000, 1, generator=gen(0))
    exact = exact_flow(s, x_T.double(), -1, mu, std)
    error = lambda name, steps: (diffusion.sample(oracle, s, (2000, 1), sampler=name, steps=steps, x_start=x_T,
                                                  t_start=999, progress=False).double() - exact).abs().mean().item()
    assert error("dpm++2m", 20) < error("ddim", 50) / 1.3
    assert error("dpm++2m", 10) < error("ddim", 10)


def test_the_sde_solver_samples_the_gaussian_data_and_its_error_falls_with_the_steps():
    s, mu, std = NoiseSchedule.cosine(), 0.5, 0.3
    oracle = ShiftedGaussianOracle(s, mu, std)
    draw = lambda steps: diffusion.sample(oracle, s, (100_000, 1), sampler="dpm++2m-sde", steps=steps,
                                          generator=gen(0), progress=False)
    x = draw(20)  # sampling error of the mean 0.001, of the std 0.0007
    assert x.mean().item() == pytest.approx(mu, abs=0.005)
    assert x.std().item() == pytest.approx(std, rel=0.03)
    errors = [abs(draw(steps).std().item() - std) for steps in (10, 40, 160)]
    assert errors[0] > errors[1] > errors[2], errors


def test_sampling_changes_only_what_is_given_and_another_sampler_drops_the_steps():
    from ddpm_from_scratch.diffusion import Sampling

    route = Sampling("ddim", steps=20, eta=1.0, guidance_scale=5.0)
    assert route.but(steps=None, eta=None) == route  # None keeps a setting
    assert route.but(guidance_scale=1.0) == Sampling("ddim", 20, 1.0, 1.0)
    assert route.but(sampler="ddpm").steps is None  # 20 DDIM steps say nothing of DDPM's
    assert route.but(sampler="dpm++2m", steps=10).steps == 10
    schedule = NoiseSchedule.cosine(100)
    assert len(route.timesteps(schedule)) == 20 and len(route.but(sampler="ddpm").timesteps(schedule)) == 100
    assert len(Sampling("dpm++2m").timesteps(schedule)) == diffusion.STRIDED_SAMPLERS["dpm++2m"]
