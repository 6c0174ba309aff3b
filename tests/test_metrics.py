"""FID, KID and the likelihood bound, each checked against an independent computation."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from ddpm_from_scratch import metrics
from ddpm_from_scratch.nn.classifier import Classifier, ClassifierConfig
from ddpm_from_scratch.schedules import NoiseSchedule


def rng(seed=0):
    return np.random.default_rng(seed)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_covariance(d, seed, n=None):
    """A sample covariance of n points in d dimensions (singular when n <= d)."""
    points = rng(seed).normal(size=(n or 3 * d, d)) * rng(seed + 100).uniform(0.5, 2, size=d)
    return np.cov(points, rowvar=False)


def symmetric_trace_sqrt(s1, s2):
    """Tr((S1^{1/2} S2 S1^{1/2})^{1/2}) from symmetric eigendecompositions: equals Tr((S1 S2)^{1/2})."""
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ s2 @ root1
    return np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()


# ------------------------------------------------------------------------------------
# Fréchet distance and FID
# ------------------------------------------------------------------------------------
def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    mu1, mu2 = rng(1).normal(size=6), rng(2).normal(size=6)
    a, b = rng(3).uniform(0.1, 3, size=6), rng(4).uniform(0.1, 3, size=6)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_identical_statistics_is_zero():
    mu, sigma = rng(1).normal(size=32), random_covariance(32, seed=5)
    assert abs(metrics.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_frechet_distance_is_symmetric():
    mu1, mu2 = rng(1).normal(size=16), rng(2).normal(size=16)
    s1, s2 = random_covariance(16, seed=3), random_covariance(16, seed=4)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        metrics.frechet_distance(mu2, s2, mu1, s1), rel=1e-9)


def test_fid_from_features_ignores_the_order_of_samples():
    f1, f2 = rng(1).normal(size=(300, 8)), rng(2).normal(size=(200, 8)) + 0.3
    shuffled = f1[rng(3).permutation(300)]
    assert metrics.fid_from_features(f1, f2) == pytest.approx(metrics.fid_from_features(shuffled, f2), rel=1e-9)


@pytest.mark.parametrize("n, d", [(20, 50), (5, 128), (100, 128)])
def test_frechet_distance_with_fewer_samples_than_features_matches_the_symmetric_formula(n, d):
    f1 = rng(1).normal(size=(n, d))
    f2 = 1.3 * rng(2).normal(size=(n, d)) + 0.2
    mu1, s1 = f1.mean(0), np.cov(f1, rowvar=False)
    mu2, s2 = f2.mean(0), np.cov(f2, rowvar=False)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * symmetric_trace_sqrt(s1, s2)
    assert metrics.fid_from_features(f1, f2) == pytest.approx(expected, rel=1e-6, abs=1e-4)


@pytest.mark.parametrize("seed, n", [(0, 2), (0, 4), (1, 5), (2, 5)])
def test_frechet_distance_of_a_few_rectified_features_matches_the_symmetric_formula(seed, n):
    # Like a classifier's embeddings of a handful of images: ReLU features of rank <= n - 1 in
    # 128 dimensions, three of them always 0. For these, sqrtm(S1 S2) comes back with a large
    # spurious imaginary part (hundreds) unless the covariances are nudged by eps.
    r = rng(seed)
    weights = r.normal(size=(16, 128))
    f1, f2 = np.maximum(r.normal(size=(n, 16)) @ weights, 0), np.maximum(r.normal(size=(n, 16)) @ weights + 0.5, 0)
    f1[:, :3] = f2[:, :3] = 0
    mu1, s1 = f1.mean(0), np.cov(f1, rowvar=False)
    mu2, s2 = f2.mean(0), np.cov(f2, rowvar=False)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * symmetric_trace_sqrt(s1, s2)
    assert metrics.fid_from_features(f1, f2) == pytest.approx(expected, rel=1e-5)


def test_frechet_distance_raises_on_a_large_imaginary_part():
    not_a_covariance = np.diag([-1.0, 1.0])  # a negative variance: (S1 S2)^{1/2} has imaginary part 1
    with pytest.raises(ValueError, match="imaginary"):
        metrics.frechet_distance(np.zeros(2), not_a_covariance, np.zeros(2), np.eye(2))


def test_frechet_distance_names_the_shapes_when_they_differ():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_gaussian_statistics_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.gaussian_statistics(np.zeros((1, 5)))


def tiny_classifier():
    torch.manual_seed(0)
    return Classifier(ClassifierConfig(image_size=8, width=4, feature_dim=6))


def test_embed_images_is_float64_independent_of_batch_size_and_restores_the_training_flag():
    classifier = tiny_classifier().train()
    images = torch.rand(10, 1, 8, 8, generator=gen(1)) * 2 - 1
    batched = metrics.embed_images(classifier, images, batch_size=3)
    assert batched.dtype == np.float64 and batched.shape == (10, 6)
    assert classifier.training
    classifier.eval()
    with torch.no_grad():
        direct = classifier.embed(images).double().numpy()
    np.testing.assert_allclose(batched, direct, rtol=1e-5, atol=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_the_real_data_floor_lies_below_a_shifted_set():
    classifier = tiny_classifier()
    real = torch.rand(400, 1, 8, 8, generator=gen(1)) * 2 - 1
    assert abs(metrics.fid(real, real, classifier)) < 1e-6
    floor = metrics.real_data_floor(real, classifier, seed=0)
    assert floor > 0
    assert floor == metrics.real_data_floor(real, classifier, seed=0)  # the seed fixes the halves
    assert floor != metrics.real_data_floor(real, classifier, seed=1)
    shifted = (real[:200] * 0.5 + 0.4).clamp(-1, 1)
    assert metrics.fid(real[200:], shifted, classifier) > 5 * floor


def test_fid_and_floor_compare_the_documented_halves_at_one_size():
    real, generated = rng(1).normal(size=(101, 5)), rng(2).normal(size=(60, 5)) + 0.2
    result = metrics.fid_and_floor(real, generated, seed=3)
    m = 30  # min(101, 60) // 2
    order = np.random.default_rng(3).permutation(101)
    a, b = real[order[:m]], real[order[m:2 * m]]
    stats = lambda f: (f.mean(0), np.cov(f, rowvar=False))
    assert result["num_images"] == m
    assert result["floor"] == pytest.approx(metrics.frechet_distance(*stats(a), *stats(b)), rel=1e-12)
    expected = (metrics.frechet_distance(*stats(generated[:m]), *stats(b))
                + metrics.frechet_distance(*stats(generated[m:2 * m]), *stats(a))) / 2
    assert result["fid"] == pytest.approx(expected, rel=1e-12)


def test_a_perfect_model_scores_at_the_matched_floor_but_below_an_unmatched_one():
    # generated = fresh draws from the real distribution. At matched sizes its FID and the floor
    # have the same expectation; comparing all 2m generated with all 2m real images (the unmatched
    # design) halves the small-sample bias and puts a perfect model clearly below the floor.
    gaps, unmatched_gaps = [], []
    for seed in range(30):
        real, generated = rng(seed).normal(size=(200, 8)), rng(1000 + seed).normal(size=(200, 8))
        result = metrics.fid_and_floor(real, generated, seed=seed)
        gaps.append(result["fid"] - result["floor"])
        unmatched_gaps.append(metrics.fid_from_features(real, generated) - result["floor"])
    gaps, unmatched_gaps = np.array(gaps), np.array(unmatched_gaps)
    assert abs(gaps.mean()) < 4 * gaps.std(ddof=1) / np.sqrt(len(gaps))
    assert unmatched_gaps.mean() < -4 * unmatched_gaps.std(ddof=1) / np.sqrt(len(unmatched_gaps))


def test_fid_and_floor_needs_two_images_in_every_half():
    with pytest.raises(ValueError, match="at least 4"):
        metrics.fid_and_floor(rng(1).normal(size=(100, 3)), rng(2).normal(size=(3, 3)))


# ------------------------------------------------------------------------------------
# KID
# ------------------------------------------------------------------------------------
def unbiased_mmd2_by_loops(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as explicit sums over pairs."""
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b / d + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def test_kid_on_whole_sets_is_the_unbiased_mmd():
    x, y = rng(1).normal(size=(30, 4)), rng(2).normal(size=(30, 4)) + 0.5
    mean, _ = metrics.kid(x, y, num_subsets=1, subset_size=1000)  # subset capped at 30: the whole sets
    assert mean == pytest.approx(unbiased_mmd2_by_loops(x, y), rel=1e-9)


def test_kid_is_near_zero_for_one_distribution_and_clearly_positive_for_shifted_ones():
    same1, same2 = rng(1).normal(size=(2000, 16)), rng(2).normal(size=(2000, 16))
    mean, se = metrics.kid(same1, same2, num_subsets=20, subset_size=500)
    assert abs(mean) < 4 * se
    shifted_mean, shifted_se = metrics.kid(same1, same2 + 0.3, num_subsets=20, subset_size=500)
    assert shifted_mean > 10 * shifted_se and shifted_mean > 10 * abs(mean)


# ------------------------------------------------------------------------------------
# KL divergences and the discretised decoder
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("m1, v1, m2, v2", [(0.0, 1.0, 0.0, 1.0), (0.3, 0.5, -0.2, 2.0), (1.0, 2.0, 0.0, 0.7)])
def test_gaussian_kl_matches_a_monte_carlo_estimate(m1, v1, m2, v2):
    p = torch.distributions.Normal(m1, math.sqrt(v1))
    q = torch.distributions.Normal(m2, math.sqrt(v2))
    samples = p.sample((200_000,)).double()
    log_ratio = p.log_prob(samples) - q.log_prob(samples)
    std_error = log_ratio.std().item() / math.sqrt(len(samples))
    estimate = metrics.kl_from_samples(p.log_prob, q.log_prob, samples)
    exact = metrics.gaussian_kl(m1, v1, m2, v2).item()
    assert abs(estimate - exact) <= 4 * std_error + 1e-12


EIGHT_BIT_LEVELS = torch.arange(256, dtype=torch.float64) / 127.5 - 1


@pytest.mark.parametrize("mean", [-3.0, -1.0, 0.2, 0.999, 1.7])
@pytest.mark.parametrize("scale", [1e-3, 0.05, 1.0, 30.0])
def test_discretized_decoder_probabilities_sum_to_one_over_the_256_bins(mean, scale):
    log_p = metrics.discretized_gaussian_log_likelihood(EIGHT_BIT_LEVELS, mean, math.log(scale))
    assert torch.isfinite(log_p).all()
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def test_discretized_decoder_matches_normal_cdf_differences_and_tails():
    mean, scale = 0.1, 0.2
    log_p = metrics.discretized_gaussian_log_likelihood(EIGHT_BIT_LEVELS, mean, math.log(scale))
    x = EIGHT_BIT_LEVELS.numpy()
    cdf = lambda z: scipy.stats.norm.cdf(z, loc=mean, scale=scale)
    expected = cdf(x + 1 / 255) - cdf(x - 1 / 255)
    expected[0], expected[-1] = cdf(-1 + 1 / 255), 1 - cdf(1 - 1 / 255)
    np.testing.assert_allclose(log_p.exp().numpy(), expected, rtol=1e-8, atol=1e-15)
    # far in the tails the probability underflows, but its logarithm stays right
    far = metrics.discretized_gaussian_log_likelihood(torch.tensor([1.0, 0.5]), -1.0, math.log(1e-3))
    assert far[0].item() == pytest.approx(scipy.stats.norm.logsf(1 - 1 / 255, loc=-1, scale=1e-3), rel=1e-9)
    log_sf_lo = scipy.stats.norm.logsf(0.5 - 1 / 255, loc=-1, scale=1e-3)
    log_sf_hi = scipy.stats.norm.logsf(0.5 + 1 / 255, loc=-1, scale=1e-3)
    inner = log_sf_lo + np.log(-np.expm1(log_sf_hi - log_sf_lo))  # log(sf(lo) - sf(hi))
    assert far[1].item() == pytest.approx(inner, rel=1e-9)


def test_quantize_to_8bit_lands_on_the_levels():
    x = torch.rand(1000, generator=gen(1), dtype=torch.float64) * 2.4 - 1.2
    k = (metrics.quantize_to_8bit(x) + 1) * 127.5
    assert torch.allclose(k, k.round(), atol=1e-9) and k.min() >= 0 and k.max() <= 255


# ------------------------------------------------------------------------------------
# bits/dim: the ELBO on Gaussian data, where everything is known in closed form
# ------------------------------------------------------------------------------------
def optimal_noise_predictor(schedule, s):
    """E[eps | x_t] for data x0 ~ N(0, s^2 I): sqrt(1 - abar_t) x_t / (abar_t s^2 + 1 - abar_t)."""
    abar = torch.cumprod(1 - schedule.betas, 0)

    def predict(x_t, t):
        a = abar[t].reshape((-1,) + (1,) * (x_t.ndim - 1)).to(x_t.dtype)
        return (1 - a).sqrt() * x_t / (a * s**2 + 1 - a)
    return predict


def expected_gap_bits(schedule, s, variance):
    """E[bound] - H(data) for the optimal mean, per dimension, in bits, computed from the betas alone.

    For a model whose reverse means are the true ones, the bound exceeds the data's entropy by
    the KL between the joint distributions, KL(q(x_{T-1}) || N(0, 1)) + sum_t E KL(q(x_{t-1} | x_t)
    || p(x_{t-1} | x_t)), and with equal means each reverse KL is the variance mismatch
    (r - 1 - log r) / 2, r = true reverse variance / model variance. With Var x_t = v_t =
    abar_t s^2 + 1 - abar_t (v_{-1} = s^2), the true reverse variance is v_{t-1} beta_t / v_t.
    """
    betas = schedule.betas
    abar = torch.cumprod(1 - betas, 0)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    v = abar * s**2 + 1 - abar
    v_prev = torch.cat([torch.tensor([s**2], dtype=torch.float64), v[:-1]])
    true_var = v_prev * betas / v
    model_var = betas * (1 - abar_prev) / (1 - abar) if variance == "posterior" else betas.clone()
    model_var[0] = betas[0]  # the decoder's variance
    r = true_var / model_var
    nats = 0.5 * (r - 1 - r.log()).sum() + 0.5 * (v[-1] - 1 - v[-1].log())
    return nats.item() / math.log(2)


def gaussian_elbo_vs_exact(variance, s=1.0):
    schedule = NoiseSchedule.linear(1000)
    x0 = s * torch.randn(400, 64, generator=gen(0), dtype=torch.float64)
    result = metrics.bits_per_dim(optimal_noise_predictor(schedule, s), schedule, x0, generator=gen(1),
                                     decoder="gaussian", variance=variance)
    exact = -torch.distributions.Normal(0.0, s).log_prob(x0).sum(1) / (64 * math.log(2))  # -log2 N(x0; 0, s^2) per dim
    excess = result["per_image"] - exact  # paired per image, so the data's own randomness cancels
    return schedule, excess.mean().item(), excess.std().item() / math.sqrt(len(x0)), exact.mean().item()


def test_elbo_upper_bounds_the_gaussian_nll_by_the_fixed_variance_gap():
    """With the optimal noise predictor and DDPM's fixed variance beta~_t, the bound sits above
    the exact NLL of N(0, 1) data (2.06 bits/dim) by 0.67 bits/dim, about 33 %.

    That gap is not an error of the optimal mean: for smooth data the true reverse variance
    is close to beta_t, about twice beta~_t in the first steps, and every step pays
    (r - 1 - log r) / 2 nats per dimension for it. The test computes that gap in closed form
    from the betas and requires the measured excess (paired with the exact NLL of the same
    images) to match it within 4 Monte-Carlo standard errors (about 0.013 bits/dim each:
    400 images x 64 dimensions, one noise draw per step).
    """
    schedule, excess, se, exact = gaussian_elbo_vs_exact("posterior")
    gap = expected_gap_bits(schedule, 1.0, "posterior")
    assert gap > 0.5 and excess > 20 * se  # a real upper bound, far above the noise
    assert abs(excess - gap) < 4 * se


def test_elbo_with_the_true_reverse_variance_is_tight_for_gaussian_data():
    """With variance beta_t, the true reverse variance for N(0, 1) data, the model's reverse
    process is the true one and the closed-form gap is 0: the measured excess over the exact
    NLL must be within 4 standard errors (about 0.009 bits/dim each) of 0, which is within
    2 % of the NLL (2.06 bits/dim)."""
    schedule, excess, se, exact = gaussian_elbo_vs_exact("beta")
    gap = expected_gap_bits(schedule, 1.0, "beta")
    assert gap < 1e-12
    assert abs(excess - gap) < 4 * se and 4 * se < 0.02 * exact


def test_a_zero_noise_predictor_is_finite_positive_and_worse_than_the_optimal_one():
    schedule = NoiseSchedule.linear(1000)
    s = 0.4
    x0 = metrics.quantize_to_8bit(s * torch.randn(64, 1, 4, 4, generator=gen(0))).float()
    good = metrics.bits_per_dim(optimal_noise_predictor(schedule, s), schedule, x0, num_timesteps=50, generator=gen(1))
    bad = metrics.bits_per_dim(lambda x, t: torch.zeros_like(x), schedule, x0, num_timesteps=50, generator=gen(1))
    assert math.isfinite(bad["total"]) and bad["total"] > 0
    assert bad["total"] > good["total"] + 1


def test_strided_estimate_evaluates_the_decoder_and_k_midpoints_and_scales_their_sum():
    schedule = NoiseSchedule.linear(1000)
    x0 = metrics.quantize_to_8bit(0.5 * torch.randn(8, 1, 4, 4, generator=gen(0)))
    r = metrics.bits_per_dim(lambda x, t: torch.zeros_like(x), schedule, x0, num_timesteps=10, generator=gen(1))
    assert r["timesteps"].tolist() == [0, 50, 150, 250, 350, 450, 550, 650, 750, 850, 950]
    terms = r["terms"]
    assert r["total"] == pytest.approx(r["prior"] + terms[0].item() + 999 / 10 * terms[1:].sum().item(), rel=1e-9)
    with pytest.raises(ValueError, match="num_timesteps"):
        metrics.bits_per_dim(lambda x, t: x, schedule, x0, num_timesteps=1000)


def test_bits_per_dim_restores_the_training_flag_of_a_module():
    class Zero(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t):
            return self.scale * x
    model = Zero().train()
    metrics.bits_per_dim(model, NoiseSchedule.linear(100), torch.zeros(2, 3), num_timesteps=5)
    assert model.training


def test_importance_sampled_bits_per_dim_is_unbiased_where_the_strided_sum_is_not():
    """On N(0, 1) data with the optimal noise predictor, the bound with every step is known to
    match the closed-form gap (test above). The importance-sampled estimate with 20 steps per
    image must agree with the all-steps bound of the same images within 4 combined standard
    errors, while the strided midpoint sum with 20 steps is far below it (the quadrature bias)."""
    schedule = NoiseSchedule.linear(1000)
    x0 = torch.randn(300, 16, generator=gen(0), dtype=torch.float64)
    predictor = optimal_noise_predictor(schedule, 1.0)
    every = metrics.bits_per_dim(predictor, schedule, x0, generator=gen(1), decoder="gaussian")
    sampled = metrics.bits_per_dim_importance(predictor, schedule, x0, steps_per_image=20, pilot_images=10,
                                              generator=gen(2), decoder="gaussian")
    strided = metrics.bits_per_dim(predictor, schedule, x0, num_timesteps=20, generator=gen(3), decoder="gaussian")
    both = math.hypot(every["std_error"], sampled["std_error"])
    assert abs(sampled["total"] - every["total"]) < 4 * both, (sampled["total"], every["total"], both)
    assert every["total"] - strided["total"] > 10 * both
    assert torch.isclose(sampled["proposal"].sum(), torch.tensor(1.0, dtype=torch.float64))
    assert (sampled["proposal"] >= 0.1 / 999 - 1e-12).all()  # the uniform share keeps every step possible


def test_importance_sampling_rejects_bad_options():
    schedule = NoiseSchedule.linear(100)
    with pytest.raises(ValueError, match="pilot_images"):
        metrics.bits_per_dim_importance(lambda x, t: x, schedule, torch.zeros(3, 2), pilot_images=5)
    with pytest.raises(ValueError, match="decoder"):
        metrics.bits_per_dim_importance(lambda x, t: x, schedule, torch.zeros(3, 2), decoder="bins")


def test_fid_infinity_removes_the_finite_sample_bias():
    """Two known Gaussians in 32 dimensions: FID from 600 samples each is biased upward (by about
    0.7 here, in every one of 5 draws), while the extrapolation to m -> infinity is off by about 0
    on average (its errors of either sign cancel over the draws)."""
    errors_full, errors_inf = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        d = 32
        a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        s1, s2 = a @ a.T / d + 0.1 * np.eye(d), b @ b.T / d + 0.1 * np.eye(d)
        mu1, mu2 = np.zeros(d), np.full(d, 0.1)
        true = metrics.frechet_distance(mu1, s1, mu2, s2)
        x, y = rng.multivariate_normal(mu1, s1, 600), rng.multivariate_normal(mu2, s2, 600)
        errors_full.append(metrics.fid_from_features(x, y) - true)
        errors_inf.append(metrics.fid_infinity(x, y, seed=seed)["fid_infinity"] - true)
    assert min(errors_full) > 0 and np.mean(errors_full) > 0.4
    assert abs(np.mean(errors_inf)) < 0.2


def test_fid_infinity_needs_two_sizes():
    x = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(ValueError, match="two sizes"):
        metrics.fid_infinity(x, x, sizes=[50])


def test_the_bound_does_its_float64_arithmetic_off_apples_gpu_which_has_none():
    from ddpm_from_scratch.metrics import likelihood

    assert likelihood.math_device(torch.device("mps")) == torch.device("cpu")
    assert likelihood.math_device(torch.device("cpu")) == torch.device("cpu")
    assert likelihood.math_device(torch.device("cuda", 0)) == torch.device("cuda", 0)


# ------------------------------------------------------------------------------------
# PSNR, prompt agreement, retrieval and the CLIP-score: each against figures worked out by hand
# ------------------------------------------------------------------------------------
def test_psnr_is_ten_log10_of_one_over_the_mse_on_the_0_to_1_scale():
    references = torch.zeros(2, 1, 2, 2)
    images = references.clone()
    images[0, 0, 0, 1] = 0.8  # one pixel of eight off by 0.8 on [-1, 1]: 0.4 on [0, 1], MSE 0.16 / 8 = 0.02
    assert metrics.psnr_db(images, references) == pytest.approx(10 * math.log10(1 / 0.02))
    assert metrics.psnr_db(references + 0.2, references) == pytest.approx(20.0)  # 0.1 everywhere: MSE 0.01
    assert metrics.psnr_db(references, references) == float("inf")
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr_db(images, references[:1])


class _TableReader(torch.nn.Module):
    """A stand-in judge: image i (all pixels equal to i) gets row i of a fixed table of logits."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.as_tensor(logits, dtype=torch.float32), requires_grad=False)

    def forward(self, images):
        return self.logits[images[:, 0, 0, 0].long()]


def test_prompt_agreement_counts_images_with_every_attribute_right_and_each_attribute_alone():
    schema = {"colour": ["red", "blue"], "shape": ["circle", "square", "star"]}
    # the judge reads (red, star), (blue, circle), (blue, square), (red, circle): logits, one block per attribute
    reads = [[0, 2], [1, 0], [1, 1], [0, 0]]
    logits = [[5.0 * (c == 0), 5.0 * (c == 1)] + [5.0 * (s == k) for k in range(3)] for c, s in reads]
    images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    wanted = torch.tensor([[0, 2], [1, 1], [1, 1], [1, 0]])
    result = metrics.prompt_agreement(_TableReader(logits), images, wanted, schema)
    # rows 0 and 2 fully right; colour wrong in row 3 only, shape wrong in row 1 only
    assert result["agreement"] == pytest.approx(0.5)
    assert result["per_attribute"] == pytest.approx({"colour": 0.75, "shape": 0.75})


class _FixedEncoders(torch.nn.Module):
    """A stand-in contrastive model: image i and caption i get given unit vectors."""

    def __init__(self, image_vectors, text_vectors):
        super().__init__()
        self.image_vectors = torch.nn.Parameter(torch.as_tensor(image_vectors, dtype=torch.float32), requires_grad=False)
        self.text_vectors = torch.nn.Parameter(torch.as_tensor(text_vectors, dtype=torch.float32), requires_grad=False)

    def encode_image(self, images):
        return self.image_vectors[images[:, 0, 0, 0].long()]

    def encode_text(self, text):
        return self.text_vectors[text[:, -1]]  # the last token is the pair's number


def test_retrieval_top1_and_clip_score_on_vectors_worked_out_by_hand():
    images = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 2, 2)
    image_vectors = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]
    # caption 0 is image 0 itself (cos 1); caption 1 leans to image 0 (cos 0.8 with it, 0.6 with its own);
    # caption 2 points away from its image (cos -0.6 with it, 0.8 with image 1)
    text_vectors = [[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]]
    model = _FixedEncoders(image_vectors, text_vectors)
    text = torch.tensor([[7, 0], [8, 1], [9, 2]])
    assert metrics.retrieval_top1(model, images, text) == pytest.approx(1 / 3)  # only caption 0 finds its image
    assert metrics.clip_score(model, images, text) == pytest.approx(100 * (1.0 + 0.6 + 0.0) / 3)  # -0.6 counts as 0
    # an image whose caption has the same words as the query's counts as found: captions 0 and 1 both find image 0
    same_words = torch.tensor([[7, 0], [7, 0], [9, 2]])
    assert metrics.retrieval_top1(model, images, same_words) == pytest.approx(2 / 3)
