"""Checkers for the exercises of chapter 05 (evaluation).

- ``check_frechet_distance(fn)``: the reader's ``fn(mu1, sigma1, mu2, sigma2) -> float``, the
  squared Fréchet distance between two Gaussians (what FID reports),
  ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}),
  against an independent computation (the symmetric form Tr((S1^{1/2} S2 S1^{1/2})^{1/2}) from
  eigendecompositions), on diagonal, full and singular covariances (fewer samples than features).
- ``check_gaussian_kl(fn)``: the reader's ``fn(mean1, var1, mean2, var2)``, elementwise
  KL(N(mean1, var1) || N(mean2, var2)), against a Monte-Carlo estimate and the closed form.

Each returns True or False and prints what is right or what is wrong; neither raises
because of the reader's code.
"""

import math

import numpy as np
import torch

from . import call_reader_function


# ------------------------------------------------------------------------------------
# Exercise 1: the squared Fréchet distance (FID)
# ------------------------------------------------------------------------------------
def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _reference_frechet(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr((S1^{1/2} S2 S1^{1/2})^{1/2}).

    Tr((S1 S2)^{1/2}) equals the trace of the symmetric form: S1 S2 is similar to
    S1^{1/2} S2 S1^{1/2}, so the two have the same eigenvalues and their roots the same trace.
    """
    root1 = _sqrt_psd(s1)
    middle = root1 @ s2 @ root1
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)


def _frechet_cases():
    """(description, mu1, S1, mu2, S2) in float64: diagonal, full, and singular covariances."""
    rng = np.random.default_rng(5)
    d = 6
    cases = [("diagonal covariances, d = 6", rng.normal(size=d), np.diag(rng.uniform(0.2, 3, d)),
              rng.normal(size=d), np.diag(rng.uniform(0.2, 3, d)))]
    a, b = rng.normal(size=(40, 8)) @ rng.normal(size=(8, 8)), rng.normal(size=(40, 8)) * 1.5 + 0.3
    cases.append(("full covariances from 40 samples, d = 8", a.mean(0), np.cov(a, rowvar=False),
                  b.mean(0), np.cov(b, rowvar=False)))
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(10, 32)) * 1.2 + 0.1
    cases.append(("singular covariances from 10 samples, d = 32 (fewer samples than features, as with "
                  "small image sets)", a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))
    return cases


def _frechet_variants(mu1, s1, mu2, s2) -> dict:
    """Common wrong answers, each with what to say about it."""
    right = _reference_frechet(mu1, s1, mu2, s2)
    trace_root = (np.trace(s1) + np.trace(s2) + ((mu1 - mu2) ** 2).sum() - right) / 2
    mean_term = ((mu1 - mu2) ** 2).sum()
    elementwise = np.sqrt(np.clip(s1 * s2, 0, None))
    return {
        "no square on the means": (right - mean_term + np.sqrt(mean_term),
                                   "the mean term is the *squared* distance ||mu1 - mu2||^2."),
        "no mean term": (right - mean_term, "add the mean term ||mu1 - mu2||^2."),
        "no factor 2": (right + trace_root, "the cross term is 2 Tr((S1 S2)^{1/2}), with a factor 2."),
        "square root of the distance": (math.sqrt(max(right, 0.0)),
                                        "FID is the *squared* Fréchet distance: do not take a square root "
                                        "of the whole expression."),
        "elementwise root": (mean_term + np.trace(s1) + np.trace(s2) - 2 * np.trace(elementwise),
                             "(S1 S2)^{1/2} is a matrix square root of the matrix product S1 @ S2 "
                             "(scipy.linalg.sqrtm), not the elementwise root of S1 * S2."),
        "product of roots": (mean_term + np.trace(s1) + np.trace(s2) - 2 * np.trace(_sqrt_psd(s1) @ _sqrt_psd(s2)),
                             "S1^{1/2} S2^{1/2} equals (S1 S2)^{1/2} only when S1 and S2 commute: take the "
                             "square root of the product S1 @ S2 itself."),
    }


def check_frechet_distance(fn) -> bool:
    """Check ``fn(mu1, sigma1, mu2, sigma2) -> float`` (NumPy float64 arrays in) against an independent
    computation of ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}) on three pairs of Gaussians, and that
    it is 0 for identical statistics and symmetric in its two Gaussians."""
    for where, mu1, s1, mu2, s2 in _frechet_cases():
        out, message = call_reader_function(fn, (mu1.copy(), s1.copy(), mu2.copy(), s2.copy()), where)
        if message:
            print(message)
            return False
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            out = out.item()
        if np.iscomplexobj(out):
            print(f"Not yet: your function returned a complex number, {out} ({where}). The matrix square root "
                  "of S1 S2 can carry a tiny imaginary part from rounding: check that it is small, then keep "
                  "its real part (covmean.real) before taking the trace.")
            return False
        try:
            value = float(out)
        except (TypeError, ValueError):
            print(f"Not yet: return one number (a Python float); yours returned {type(out).__name__} ({where}).")
            return False
        want = _reference_frechet(mu1, s1, mu2, s2)
        if not math.isfinite(value):
            print(f"Not yet: your function returned {value} ({where}). If scipy.linalg.sqrtm gives non-finite "
                  "values for a singular product, add a small eps to both diagonals and try again.")
            return False
        if abs(value - want) <= 1e-6 * max(1.0, abs(want)):
            continue
        hint = next((h for v, h in _frechet_variants(mu1, s1, mu2, s2).values()
                     if abs(value - v) <= 1e-6 * max(1.0, abs(v))), None)
        print(f"Not yet: for {where} the squared Fréchet distance is {want:.6g}, yours gives {value:.6g}.")
        print("  " + (hint or "Check each of the terms ||mu1 - mu2||^2, Tr S1, Tr S2 and -2 Tr((S1 S2)^{1/2})."))
        return False

    _, mu1, s1, mu2, s2 = _frechet_cases()[1]
    same, message = call_reader_function(fn, (mu1.copy(), s1.copy(), mu1.copy(), s1.copy()), "identical Gaussians")
    if message:
        print(message)
        return False
    if abs(float(np.real(same))) > 1e-6:
        print(f"Not yet: the distance between a Gaussian and itself must be 0; yours gives {float(np.real(same)):.3g}.")
        return False
    forward, backward = (call_reader_function(fn, args, "swapped arguments")[0] for args in
                         ((mu1, s1, mu2, s2), (mu2, s2, mu1, s1)))
    if forward is None or backward is None or abs(float(np.real(forward)) - float(np.real(backward))) > 1e-6:
        print("Not yet: the distance must be symmetric, d(N1, N2) = d(N2, N1); yours changes when the two "
              "Gaussians swap places.")
        return False
    print("Correct! Your squared Fréchet distance matches an independent computation on diagonal, full and singular "
          "covariances (fewer samples than features), is 0 for identical Gaussians, and is symmetric.")
    return True


# ------------------------------------------------------------------------------------
# Exercise 2: the KL divergence between two Gaussians
# ------------------------------------------------------------------------------------
def check_gaussian_kl(fn, num_draws: int = 400_000) -> bool:
    """Check ``fn(mean1, var1, mean2, var2)``, elementwise KL(N(mean1, var1) || N(mean2, var2)) in nats,
    for float64 tensors that broadcast: against a Monte-Carlo estimate E_{x ~ N1}[log N1(x) - log N2(x)]
    from ``num_draws`` draws (within 6 standard errors), and against the closed form to 1e-9."""
    mean1 = torch.tensor([0.0, 0.3, 1.0, -2.0], dtype=torch.float64)
    var1 = torch.tensor([1.0, 0.5, 2.0, 0.01], dtype=torch.float64)
    mean2 = torch.tensor([0.0, -0.2, 0.0, -1.9], dtype=torch.float64)
    var2 = torch.tensor([1.0, 2.0, 0.7, 0.04], dtype=torch.float64)
    out, message = call_reader_function(fn, (mean1.clone(), var1.clone(), mean2.clone(), var2.clone()), "four pairs of Gaussians")
    if message:
        print(message)
        return False
    try:
        got = torch.as_tensor(out, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        print(f"Not yet: return a tensor of KLs, one per pair; yours returned {type(out).__name__}.")
        return False
    if got.shape != mean1.shape:
        print(f"Not yet: expected one KL per pair, shape {tuple(mean1.shape)}, got shape {tuple(got.shape)}: "
              "compute elementwise, without summing.")
        return False

    # Monte Carlo, independent of any formula: E_{x ~ N1}[log N1(x) - log N2(x)]
    generator = torch.Generator().manual_seed(0)
    x = mean1 + var1.sqrt() * torch.randn((num_draws, 4), generator=generator, dtype=torch.float64)
    log_ratio = (torch.distributions.Normal(mean1, var1.sqrt()).log_prob(x)
                 - torch.distributions.Normal(mean2, var2.sqrt()).log_prob(x))
    estimate, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(num_draws)
    closed = 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1)
    far = ((got - estimate).abs() > 6 * se + 1e-12) | ((got - closed).abs() > 1e-9 * (1 + closed.abs()))
    if far.any():
        i = int(far.nonzero()[0])
        hint = "KL = 1/2 [log(var2/var1) + (var1 + (mean1 - mean2)^2) / var2 - 1]."
        swapped = 0.5 * (torch.log(var1 / var2) + (var2 + (mean1 - mean2) ** 2) / var1 - 1)
        with_std = 0.5 * (torch.log(var2 / var1) + (var1.sqrt() + (mean1 - mean2) ** 2) / var2.sqrt() - 1)
        if torch.allclose(got, swapped, rtol=1e-6):
            hint = ("that is KL(N2 || N1): the KL is not symmetric, and the one wanted here averages over the first "
                    "Gaussian: " + hint)
        elif torch.allclose(got, with_std, rtol=1e-6):
            hint = "var1 and var2 are variances (sigma^2), not standard deviations: " + hint
        elif torch.allclose(got, 2 * closed, rtol=1e-6):
            hint = "yours is twice the KL: mind the factor 1/2. " + hint
        print(f"Not yet: for N({mean1[i]:.2f}, {var1[i]:.2f}) against N({mean2[i]:.2f}, {var2[i]:.2f}) the KL is "
              f"{closed[i]:.6f} nats (a Monte-Carlo estimate from {num_draws:,} draws gives {estimate[i]:.4f} "
              f"± {se[i]:.4f}); yours gives {got[i]:.6f}.")
        print("  " + hint)
        return False
    print(f"Correct! Your KL agrees with a Monte-Carlo estimate from {num_draws:,} draws and with the closed form "
          "on four pairs of Gaussians, including one with the same mean and variance (KL = 0).")
    return True
