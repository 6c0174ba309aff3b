"""The maximum-likelihood view: KL divergences, the ELBO and bits per dimension (chapter 05).

The lecture's second view of evaluation (section 5): a good generative model gives the
real data high probability. Maximising the likelihood is the same as minimising the KL
divergence KL(p_data || p_model), because that KL is the cross-entropy
E_data[-log p_model(x)] minus the data's own entropy, which no model can change.

A diffusion model's likelihood has no closed form, but it has an upper bound on
-log p(x_0), the negative ELBO (Ho et al. 2020, eq. 5), that splits into one term per step:

    L = L_T + sum_{t=2}^{T} L_{t-1} + L_0
    L_T     = KL(q(x_T | x_0) || N(0, I))                        the prior: is the noise pure?
    L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))      one reverse step, t = 2 .. T
    L_0     = -log p(x_0 | x_1)                                  the decoder: the last step to the data

(formula notation, as in the paper: x_t is the image after t noising steps, t = 1 .. T. In the
package's code the step index runs 0 .. T-1 and code index t is formula step t + 1: the decoder
L_0 is computed at code ``t = 0``, the reverse-step term of code step t >= 1 is L_t, and the prior
uses abar_T = ``schedule.alpha_bars[T-1]``). Divided by
the number of dimensions and by ln 2 it is *bits per dimension*, the number reported for
image likelihoods (DDPM on CIFAR-10: at most 3.70 when trained on this bound, 3.75 with
the simple noise-prediction loss; Nichol & Dhariwal 2021 improve it by learning the
variances). Lower is better.

A VAE (chapter 06) has a bound of the same kind with two terms, the negative ELBO
E_q[-log p(x | z)] + KL(q(z | x) || p(z)) (:func:`vae_negative_elbo`); its decoder p(x | z) is the
same discretised Gaussian as L_0, so :func:`vae_bits_per_dim` and :func:`bits_per_dim` can be
read side by side.
"""

import contextlib
import math

import torch

from .. import diffusion
from ..budget import progress_bar
from ..schedules import NoiseSchedule

BIN_HALF_WIDTH = 1 / 255  # 8-bit data in [-1, 1]: 256 levels 2/255 apart, each owning +-1/255 around it


def gaussian_kl(mean1, var1, mean2, var2) -> torch.Tensor:
    """Elementwise KL(N(mean1, var1) || N(mean2, var2)) in nats; arguments broadcast.

    KL = 1/2 [ log(var2 / var1) + (var1 + (mean1 - mean2)^2) / var2 - 1 ].
    """
    mean1, var1, mean2, var2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mean1, var1, mean2, var2))
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1)


def gaussian_log_likelihood(x, mean, var) -> torch.Tensor:
    """Elementwise log N(x; mean, var), a continuous density, in nats."""
    x, mean, var = (torch.as_tensor(a, dtype=torch.float64) for a in (x, mean, var))
    return -0.5 * (torch.log(2 * math.pi * var) + (x - mean) ** 2 / var)


def _log1mexp(z: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(z)) for z <= 0, accurate both near 0 and for very negative z (Maechler 2012)."""
    return torch.where(z > -math.log(2), torch.log(-torch.expm1(z)), torch.log1p(-torch.exp(z)))


def discretized_gaussian_log_likelihood(x, mean, log_scale) -> torch.Tensor:
    """Elementwise log-probability of 8-bit data under a Gaussian cut into 256 bins (Ho et al. 2020, eq. 13).

    ``x`` in [-1, 1] is one of the 256 levels k / 127.5 - 1; its bin is [x - 1/255, x + 1/255],
    except that the first bin (x = -1) extends to -inf and the last (x = 1) to +inf, so the
    256 probabilities sum to 1 for any ``mean`` (inside [-1, 1] or not) and any scale.
    ``log_scale`` is the log of the standard deviation. Arguments broadcast; float64 result.

    Data between the levels (for example the 16x16 digits, whose area resizing leaves
    about a quarter of the pixels between grey levels) get the probability of a bin of
    the same width centred on them; round them first with :func:`quantize_to_8bit` for a
    proper probability of 8-bit data.
    """
    x, mean, log_scale = (torch.as_tensor(a, dtype=torch.float64) for a in (x, mean, log_scale))
    inv_std = torch.exp(-log_scale)
    upper = (x - mean + BIN_HALF_WIDTH) * inv_std  # the bin's edges, standardised
    lower = (x - mean - BIN_HALF_WIDTH) * inv_std
    # Inner bins: log(Phi(upper) - Phi(lower)). A bin above the mean is mirrored below it,
    # Phi(b) - Phi(a) = Phi(-a) - Phi(-b), so both CDFs are small and log_ndtr keeps their digits.
    above = (upper + lower) > 0
    hi = torch.where(above, -lower, upper)
    lo = torch.where(above, -upper, lower)
    log_hi = torch.special.log_ndtr(hi)
    # log(Phi(hi) - Phi(lo)) = log Phi(hi) + log(1 - Phi(lo) / Phi(hi))
    log_inner = log_hi + _log1mexp(torch.clamp(torch.special.log_ndtr(lo) - log_hi, max=0.0))
    log_first = torch.special.log_ndtr(upper)   # x = -1: P(X < -1 + 1/255)
    log_last = torch.special.log_ndtr(-lower)   # x = +1: P(X > 1 - 1/255)
    return torch.where(x < -1 + BIN_HALF_WIDTH, log_first,
                       torch.where(x > 1 - BIN_HALF_WIDTH, log_last, log_inner))


def quantize_to_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round images in [-1, 1] to the nearest of the 256 levels k / 127.5 - 1."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def kl_from_samples(log_p, log_q, samples_from_p: torch.Tensor) -> float:
    """Monte-Carlo KL(p || q) = E_{x ~ p}[log p(x) - log q(x)] when both densities are known.

    ``log_p`` and ``log_q`` map samples (n, ...) to log densities (n,); ``samples_from_p``
    are draws from p (for example ``GaussianMixture.sample``). The estimate is unbiased;
    its standard error is the standard deviation of log p - log q over sqrt(n).
    """
    return float((log_p(samples_from_p) - log_q(samples_from_p)).cpu().double().mean())


def _evaluated_steps(num_steps: int, num_timesteps) -> tuple[list, float]:
    """The steps t >= 1 at which the reverse-step terms are evaluated, and the factor that scales their sum."""
    if num_timesteps is None or num_timesteps == num_steps - 1:
        return list(range(1, num_steps)), 1.0
    if not 1 <= num_timesteps <= num_steps - 1:
        raise ValueError(f"num_timesteps counts the steps t = 1 .. T-1 to evaluate and must lie in "
                         f"1..{num_steps - 1} (or be None for all of them); got {num_timesteps}")
    stride = (num_steps - 1) / num_timesteps
    # the midpoint of each of K equal strata of 1 .. T-1: a deterministic quadrature (midpoint rule)
    return [1 + int((j + 0.5) * stride) for j in range(num_timesteps)], stride


@contextlib.contextmanager
def _in_eval_mode(noise_predictor, default_device):
    """Run a network in eval mode and give back its training flag afterwards; yields its device
    (a plain function, as in the tests, runs on ``default_device``)."""
    is_module = isinstance(noise_predictor, torch.nn.Module)
    param = next(noise_predictor.parameters(), None) if is_module else None
    was_training = is_module and noise_predictor.training
    if is_module:
        noise_predictor.eval()
    try:
        yield param.device if param is not None else default_device
    finally:
        if is_module:
            noise_predictor.train(was_training)


def math_device(device: torch.device) -> torch.device:
    """Where the bound's float64 arithmetic runs: the network's device, except Apple's MPS, which has no
    float64 (there the network still runs on the GPU, in its own precision, and the sums on the CPU)."""
    return torch.device("cpu") if torch.device(device).type == "mps" else torch.device(device)


def _check_noise_predictor(noise_predictor) -> None:
    """The diffusion bound needs a noise predictor; a VAE (``predicts_noise = False``) has a bound of its own."""
    if not getattr(noise_predictor, "predicts_noise", True):
        raise ValueError(f"a {type(noise_predictor).__name__} is not a noise predictor, so the diffusion bound does "
                         "not apply to it; a VAE's bound is its negative ELBO: use metrics.vae_bits_per_dim(vae, x0)")


def _check_options(decoder: str, variance: str) -> None:
    if variance not in ("posterior", "beta"):
        raise ValueError(f"variance must be 'posterior' (beta~_t) or 'beta' (beta_t), got {variance!r}")
    if decoder not in ("discretized", "gaussian"):
        raise ValueError(f"decoder must be 'discretized' (8-bit images) or 'gaussian' (continuous data), "
                         f"got {decoder!r}")


@torch.no_grad()
def bits_per_dim(noise_predictor, schedule: NoiseSchedule, x0: torch.Tensor, num_timesteps: int | None = None,
                 batch_size: int = 500, generator: torch.Generator | None = None, progress: bool = False,
                 decoder: str = "discretized", variance: str = "posterior", **model_kwargs) -> dict:
    """The negative ELBO of images x0 (N, ...) in [-1, 1], in bits per dimension (Ho et al. 2020, eq. 5).

    Formulas here count like the paper (x_t after t noising steps, t = 1 .. T); "code t" is the
    package's step index, code t = formula step t + 1.

    The model is the DDPM reverse process with a fixed variance, by default beta~_t:
    p(x_{t-1} | x_t) = N(mu_theta, beta~_t), where mu_theta is the posterior mean (eq. 7)
    with the clean image predicted from the noise predictor's output (eq. 11 says the
    same). For each image and each evaluated step, one noise draw gives x_t ~ q(x_t | x_0);
    the model sees x_t in x0's dtype; everything else is computed in float64. The cost is
    one pass of the noise predictor over all the images per evaluated step.

    Terms, all in bits/dim (nats divided by D ln 2, D = dimensions per image):

    - ``prior``: L_T = KL(q(x_T | x_0) || N(0, I)), exact (no noise draw).
    - code t = 1 .. T-1 (formula steps 2 .. T): L_{t-1} = KL(q(x_{t-1} | x_t, x_0) ||
      p(x_{t-1} | x_t)) for formula t = 2 .. T; with the variance beta~_t on both sides this
      is ||mu~ - mu_theta||^2 / (2 beta~_t).
    - code t = 0 (formula step 1), the decoder: L_0 = -log p(x_0 | x_1) with mean mu_theta
      (which at this step is the predicted clean image) and variance beta_1
      (``schedule.betas[0]``; the posterior variance beta~_1 is 0, so DDPM uses beta there;
      Ho et al.'s code uses beta~_2, at code index 1, about beta_1 / 2).
      ``decoder="discretized"`` (the default, for 8-bit images) gives the
      probability of the pixel's bin (:func:`discretized_gaussian_log_likelihood`);
      ``decoder="gaussian"`` uses the continuous density, for continuous data such as
      the Gaussian data of the tests (its bits/dim are not comparable with discrete ones).

    ``variance="posterior"`` (DDPM's fixed beta~_t, the default) or ``"beta"`` (beta_t, DDPM's
    other choice, as in ``diffusion.ddpm_step``) picks the reverse steps' variance. beta~_t
    is the true reverse variance when the data is a single point, beta_t when it is
    N(0, I); the distance between the chosen and the true reverse variance is part of the
    bound however good the noise predictor is, which is why Nichol & Dhariwal learn it.

    ``num_timesteps=None`` evaluates every step: the result is then an unbiased estimate of
    the bound, with one noise draw per image and step. An integer K evaluates only K
    evenly spaced steps among code t = 1 .. T-1 (the midpoints of K equal strata) and scales
    their sum by (T-1)/K; the decoder term and the prior are always included exactly.
    This strided sum is a deterministic quadrature (midpoint rule), not a Monte-Carlo
    estimate: it would be unbiased for the sum only if the K steps were drawn uniformly
    at random, which costs variance instead. Its bias depends on how smooth the terms are
    in t, and they are not smooth near code t = 0, where they are largest and change fastest,
    and the midpoints skip the first steps, so the strided sum usually comes out too low.
    On N(0, 1) data with the optimal noise predictor and the linear schedule (T = 1000),
    all steps give 2.73 bits/dim, K = 100 gives 1.99 and K = 20 gives 0.45, below the
    data's exact NLL of 2.06: no longer a bound. The last step can matter too: with the
    cosine schedule, beta_T (code index T-1) is clipped at 0.999 and an error in the predicted
    noise at formula step T (code t = T-1) enters L_{T-1} amplified about 30 times; for a briefly trained (300-step)
    digits model, that one term was 4.9 of the 9.4 bits/dim that all steps give, and
    K = 100 (which skips it and the first four steps) gave 3.8. Evaluate all steps once to
    learn the size of the bias for your model, and report which estimate a number is.

    ``model_kwargs`` go to the noise predictor (a text embedding, for example).

    Returns a dict: ``total`` (float, averaged over the images), ``per_image`` (N,),
    ``std_error`` (of ``total`` over images and noise draws; it does not include the
    quadrature bias), ``prior`` (float), ``terms`` (1-D float64 tensor, averaged over the
    images, one per entry of ``timesteps``, unscaled), ``timesteps`` (long tensor: 0, then
    the evaluated steps >= 1), ``decoder``, ``variance``, ``num_dims``.
    """
    _check_noise_predictor(noise_predictor)
    _check_options(decoder, variance)
    T = schedule.num_steps
    middle, scale = _evaluated_steps(T, num_timesteps)
    timesteps = [0] + middle
    with _in_eval_mode(noise_predictor, x0.device) as device:
        nats = _step_terms(noise_predictor, schedule, x0, timesteps, batch_size, generator, progress,
                           decoder, variance, device, model_kwargs)

    return _summary(schedule, x0, nats[0], scale * nats[1:].sum(0), nats.mean(1),
                    torch.tensor(timesteps, dtype=torch.long), decoder, variance)


def _summary(schedule, x0, decoder_nats, reverse_nats, terms, timesteps, decoder, variance) -> dict:
    """The bound per image in bits/dim: the exact prior L_T + the decoder L_0 + the reverse steps
    (all nats per image), and the fields both estimators return."""
    # L_T: q(x_T | x_0) = N(sqrt(abar_T) x_0, 1 - abar_T) against N(0, I); abar_T is alpha_bars[T-1]
    abar_last = schedule.alpha_bars[-1]
    prior = gaussian_kl(abar_last.sqrt() * x0.cpu().double(), 1 - abar_last, 0.0, 1.0).flatten(1).sum(1)
    n, num_dims = x0.shape[0], x0[0].numel()
    to_bits = 1 / (num_dims * math.log(2))
    per_image = (prior + decoder_nats + reverse_nats) * to_bits
    return {
        "total": per_image.mean().item(),
        "per_image": per_image,
        "std_error": (per_image.std() / math.sqrt(n)).item() if n > 1 else float("nan"),
        "prior": (prior.mean() * to_bits).item(),
        "terms": terms * to_bits,
        "timesteps": timesteps,
        "decoder": decoder,
        "variance": variance,
        "num_dims": num_dims,
    }


def _step_terms(noise_predictor, schedule, x0, timesteps, batch_size, generator, progress,
                decoder, variance, device, model_kwargs) -> torch.Tensor:
    """The bound's terms at ``timesteps`` in nats, summed over each image's dimensions: (steps, N)."""
    n = x0.shape[0]
    nats = torch.zeros(len(timesteps), n, dtype=torch.float64)
    for i, t in enumerate(progress_bar(timesteps, progress, desc="bits/dim", leave=False)):
        for start in range(0, n, batch_size):
            x_start = x0[start:start + batch_size].to(math_device(device)).double()
            t_batch = torch.full((x_start.shape[0],), t, dtype=torch.long, device=x_start.device)
            nats[i, start:start + x_start.shape[0]] = _terms_at(noise_predictor, schedule, x_start, t_batch, x0.dtype,
                                                                generator, decoder, variance, model_kwargs,
                                                                device).cpu()
    return nats


def _terms_at(noise_predictor, schedule, x_start, t_batch, model_dtype, generator, decoder, variance,
              model_kwargs, model_device=None) -> torch.Tensor:
    """One term of the bound per image, each at its own code step t_batch[i] (all 0, or all >= 1), in nats.
    ``x_start`` (float64) and ``t_batch`` are on the device of the arithmetic; the network runs on ``model_device``.
    In the comments below the variable ``x_t`` and abar_t, beta_t are at code index t, formula step t + 1."""
    model_device = x_start.device if model_device is None else model_device
    noise_device = generator.device if generator is not None else x_start.device
    noise = torch.randn(x_start.shape, generator=generator, device=noise_device, dtype=torch.float64).to(x_start.device)
    # x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps   (eq. 4)
    x_t = diffusion.add_noise(schedule, x_start, t_batch, noise)
    eps = noise_predictor(x_t.to(model_dtype).to(model_device), t_batch.to(model_device), **model_kwargs)
    eps = eps.to(x_start.device).double()  # move, then widen: MPS has no float64
    x0_hat = diffusion.predict_x0(schedule, x_t, t_batch, eps)
    # mu_theta = mu~(x_t, x0_hat)   (eq. 7 with the predicted clean image; eq. 11)
    model_mean, _ = diffusion.posterior_mean_variance(schedule, x0_hat, x_t, t_batch)
    if (t_batch == 0).all():
        var = schedule.betas[0].to(x_start.device)  # decoder variance beta_1 (code index 0)
        if decoder == "discretized":
            term = -discretized_gaussian_log_likelihood(x_start, model_mean, 0.5 * torch.log(var))  # L_0
        else:
            term = -gaussian_log_likelihood(x_start, model_mean, var)
    elif (t_batch >= 1).all():
        # the posterior of the step before, q(x_{t-1} | x_t, x_0) in the paper's notation   (eq. 6-7)
        true_mean, true_var = diffusion.posterior_mean_variance(schedule, x_start, x_t, t_batch)
        model_var = true_var if variance == "posterior" else schedule.gather(schedule.betas, t_batch, x_t)
        term = gaussian_kl(true_mean, true_var, model_mean, model_var)  # formula L_t at code step t
    else:
        raise ValueError("a batch of terms must be all decoder terms (t = 0) or all reverse steps (t >= 1)")
    return term.flatten(1).sum(1)


@torch.no_grad()
def bits_per_dim_importance(noise_predictor, schedule: NoiseSchedule, x0: torch.Tensor, steps_per_image: int = 50,
                            pilot_images: int = 8, uniform_share: float = 0.1, batch_size: int = 500,
                            generator: torch.Generator | None = None, progress: bool = False,
                            decoder: str = "discretized", variance: str = "posterior", **model_kwargs) -> dict:
    """The same bound as :func:`bits_per_dim`, estimated without bias from a few steps per image.

    The sum of the reverse-step terms, L_1 + ... + L_{T-1} in the paper's notation (code step t
    >= 1 gives L_t), is an expectation under any distribution q(t) > 0 on code t = 1 .. T-1
    (importance sampling; Nichol & Dhariwal 2021, section 3.3):

        sum_t L_t = E_{t ~ q} [ L_t / q(t) ],

    so K steps drawn from q per image, each with one noise draw, give an unbiased estimate
    (1/K) sum_k L(t_k) / q(t_k). Its variance is small when q(t) follows the size of the terms:
    a pilot evaluates every step on the first ``pilot_images`` images and sets
    q(t) proportional to sqrt(mean L_t^2) (the variance-minimising choice for the pilot),
    mixed with a ``uniform_share`` of the uniform distribution so that no step is nearly
    never drawn. The decoder term L_0 and the prior L_T are computed exactly for every image.
    Cost: pilot_images x (T-1) + N x (K + 1) network evaluations, against N x T for every step.
    ``std_error`` is over the images and includes the sampling noise of the steps.

    Returns the keys of :func:`bits_per_dim` (``terms`` and ``timesteps``: the pilot's
    per-step terms, in bits/dim) plus ``proposal`` (q over code t = 1 .. T-1) and
    ``steps_per_image``.
    """
    _check_noise_predictor(noise_predictor)
    _check_options(decoder, variance)
    if not 1 <= pilot_images <= x0.shape[0]:
        raise ValueError(f"pilot_images must lie in 1..{x0.shape[0]} (the number of images), got {pilot_images}")
    if steps_per_image < 1 or not 0 < uniform_share <= 1:
        raise ValueError("steps_per_image must be >= 1 and uniform_share in (0, 1]")
    T, n = schedule.num_steps, x0.shape[0]
    with _in_eval_mode(noise_predictor, x0.device) as device:
        # 1. the pilot: every term on a few images
        pilot = _step_terms(noise_predictor, schedule, x0[:pilot_images], list(range(T)), batch_size, generator,
                            progress, decoder, variance, device, model_kwargs)  # (T, P), row 0 = L_0
        size = pilot[1:].pow(2).mean(1).sqrt()
        proposal = (1 - uniform_share) * size / size.sum() + uniform_share / (T - 1)  # q(t), t = 1 .. T-1
        # 2. K steps per image from q, in batches of (image, step) pairs
        draws = torch.multinomial(proposal.float(), n * steps_per_image, replacement=True, generator=generator) + 1
        images = torch.arange(n).repeat_interleave(steps_per_image)
        weighted = torch.zeros(n * steps_per_image, dtype=torch.float64)
        for start in progress_bar(range(0, len(draws), batch_size), progress, desc="bits/dim", leave=False):
            x_start = x0[images[start:start + batch_size]].to(math_device(device)).double()
            t_batch = draws[start:start + batch_size].to(x_start.device)
            terms = _terms_at(noise_predictor, schedule, x_start, t_batch, x0.dtype, generator, decoder, variance,
                              model_kwargs, device).cpu()
            weighted[start:start + len(terms)] = terms / proposal[draws[start:start + batch_size] - 1]  # L(t) / q(t)
        reverse = weighted.reshape(n, steps_per_image).mean(1)
        decoder_nats = _step_terms(noise_predictor, schedule, x0, [0], batch_size, generator, False, decoder,
                                   variance, device, model_kwargs)[0]
    return _summary(schedule, x0, decoder_nats, reverse, pilot.mean(1), torch.arange(T), decoder, variance) | {
        "proposal": proposal, "steps_per_image": steps_per_image}


# ------------------------------------------------------------------------------------
# The VAE's bound (chapter 06): the negative ELBO, in the same units as the diffusion bound
# ------------------------------------------------------------------------------------
def vae_negative_elbo(vae, x0: torch.Tensor, generator: torch.Generator | None = None) -> dict:
    """The negative ELBO of images x0 (B, C, S, S) in [-1, 1] under a VAE (``nn.VAE``), per image, in nats:

        -log p(x) <= E_{z ~ q(z | x)}[-log p(x | z)] + KL(q(z | x) || N(0, I))

    with one draw z ~ q(z | x) per image (an unbiased estimate of the expectation) and p(x | z)
    the decoder's discretised Gaussian (:func:`discretized_gaussian_log_likelihood`: give x0 on
    the 256 grey levels, :func:`quantize_to_8bit`, for a probability of 8-bit data). Gradients
    flow (this is also the VAE's training objective). Returns float64 tensors (B,):
    ``reconstruction_nats`` (-log p(x | z), summed over the pixels), ``kl_nats``, ``total_nats``.
    """
    # 1. encode: q(z | x) = N(mean, diag(std^2))
    posterior = vae.encode(x0)
    # 2. z = mean + std * eps, eps ~ N(0, I)   (the reparameterisation trick)
    z = posterior.sample(generator)
    # 3. decode: p(x | z), a Gaussian per pixel cut into the 256 bins
    mean, log_scale = vae.decode(z)
    # 4. the reconstruction term -log p(x | z), summed over the pixels (float64: on the CPU for Apple's MPS)
    device = math_device(mean.device)
    reconstruction = -discretized_gaussian_log_likelihood(x0.to(device), mean.to(device),
                                                          log_scale.to(device)).flatten(1).sum(1)
    # 5. the prior term KL(q(z | x) || N(0, I)), in closed form
    kl = posterior.kl().to(device).double()
    return {"reconstruction_nats": reconstruction, "kl_nats": kl, "total_nats": reconstruction + kl}


@torch.no_grad()
def vae_bits_per_dim(vae, x0: torch.Tensor, generator: torch.Generator | None = None, batch_size: int = 500) -> dict:
    """The VAE's negative ELBO (:func:`vae_negative_elbo`) of images x0 (N, C, S, S) in bits per dimension,
    nats / (D ln 2) with D = C S S, the units of :func:`bits_per_dim`. One z ~ q(z | x) per image.

    Returns ``total``, ``reconstruction`` and ``kl`` (floats, averaged over the images; total =
    reconstruction + kl), ``std_error`` (of ``total`` over the images and the draws of z),
    ``per_image`` (N,) and ``num_dims``.
    """
    with _in_eval_mode(vae, x0.device) as device:
        terms = [vae_negative_elbo(vae, x0[start:start + batch_size].to(device), generator)
                 for start in range(0, len(x0), batch_size)]
    n, num_dims = x0.shape[0], x0[0].numel()
    to_bits = 1 / (num_dims * math.log(2))
    bits = {key: torch.cat([t[f"{key}_nats"].cpu() for t in terms]) * to_bits
            for key in ("total", "reconstruction", "kl")}
    return {
        "total": bits["total"].mean().item(),
        "reconstruction": bits["reconstruction"].mean().item(),
        "kl": bits["kl"].mean().item(),
        "std_error": (bits["total"].std() / math.sqrt(n)).item() if n > 1 else float("nan"),
        "per_image": bits["total"],
        "num_dims": num_dims,
    }
