"""FID and KID: how far generated images are from real ones, seen by a classifier (chapter 05).

The lecture's recipe (section 5): take a CNN image classifier and remove its softmax (here,
its last layer: ``Classifier.embed``). What is left turns each image into an embedding
vector. Embed many real images and many generated images, fit a Gaussian to each cloud of
embeddings, and compare the two Gaussians with the squared Fréchet distance (the squared
2-Wasserstein distance between two Gaussians)

    FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})

(Heusel et al. 2017). Lower is better; 0 means the two Gaussians are identical. Two honest
sets of real images do not reach 0 either, because each is a finite sample:
``real_data_floor`` measures that floor at the sample size you use, and a model's FID
means something only next to it, at the same sample sizes (``fid_and_floor`` gives both). Our classifier is the book's own small digit
classifier, not Inception, so the numbers are not comparable with published FIDs.

KID (Bińkowski et al. 2018) compares the same embeddings without fitting Gaussians: an
unbiased estimate of the squared maximum mean discrepancy with a cubic polynomial kernel.
Unlike FID it is unbiased, so it comes with a standard error and is near 0 for two
samples of one distribution at any sample size.

Why float64: the trace term subtracts numbers of similar size, and the matrix square root
amplifies rounding in nearly singular covariances (we have as few as a few hundred images
for 128 features). In float32 the result can be off in the second digit or come out
complex; every statistic here is computed in float64, as pytorch-fid does.
"""

import warnings

import numpy as np
import scipy.linalg
import torch


def embed_images(classifier, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Embeddings of images (N, C, S, S) in [-1, 1] -> float64 array (N, D).

    Uses ``classifier.embed`` (the classifier without its last layer) in eval mode, without
    gradients, in batches; the classifier's training flag is restored afterwards.
    """
    if len(images) == 0:
        raise ValueError("embed_images got no images")
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    try:
        with torch.no_grad():
            features = [classifier.embed(images[i:i + batch_size].to(device)).cpu().double()
                        for i in range(0, len(images), batch_size)]
    finally:
        classifier.train(was_training)
    return torch.cat(features).numpy()


def gaussian_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian fitted to embeddings (N, D): mean mu (D,) and covariance S (D, D), float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"expected features of shape (N, D), got {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {features.shape[0]}; "
                         "embed more images (FID is only meaningful with hundreds or thousands)")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _imaginary_part(matrix: np.ndarray) -> float:
    """The largest |imaginary part| of a matrix's entries (0 for a real matrix)."""
    return float(np.max(np.abs(matrix.imag))) if np.iscomplexobj(matrix) else 0.0


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}): the squared Fréchet (squared 2-Wasserstein)
    distance between N(mu1, S1) and N(mu2, S2), in float64. FID is this squared distance.

    Correct also for singular covariances (fewer samples than features).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != mu2.shape or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"the two Gaussians must have the same dimension: got means of shapes {mu1.shape} and "
                         f"{mu2.shape}, covariances of shapes {sigma1.shape} and {sigma2.shape}")

    diff = mu1 - mu2
    with warnings.catch_warnings():
        # A singular product (fewer images than features, or features that are always 0) makes
        # sqrtm warn; its root is still accurate there, and we check finiteness and the
        # imaginary part ourselves below.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)  # (S1 S2)^{1/2}
        if not np.isfinite(covmean).all() or _imaginary_part(covmean) > 1e-3:
            # sqrtm failed on a (nearly) singular product: nudge both covariances away from
            # singularity by adding eps to their diagonals, and try again (as pytorch-fid does for
            # non-finite roots). A product of two low-rank covariances (a handful of images, as
            # few as 2 to 16 of them, with 128 features) is often defective, and sqrtm's root of
            # it can carry a large, spurious imaginary part; the nudged product is diagonalisable.
            offset = np.eye(d) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        # S1 S2 is similar to a positive semi-definite matrix, so its root is real up to
        # rounding; a large imaginary part means an input was not a covariance matrix.
        largest = _imaginary_part(covmean)
        if largest > 1e-3:
            raise ValueError(f"the matrix square root of S1 S2 has an imaginary component of size {largest:.3g}: "
                             "the covariances are not positive semi-definite (are they really covariances?)")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_features(features1, features2) -> float:
    """FID between two sets of embeddings (N1, D) and (N2, D)."""
    return frechet_distance(*gaussian_statistics(features1), *gaussian_statistics(features2))


def fid(real_images: torch.Tensor, generated_images: torch.Tensor, classifier, batch_size: int = 500) -> float:
    """The lecture's FID: embed both sets of images (N, C, S, S) in [-1, 1] with the classifier,
    fit a Gaussian to each, return the squared Fréchet distance between the Gaussians."""
    return fid_from_features(embed_images(classifier, real_images, batch_size),
                             embed_images(classifier, generated_images, batch_size))


def real_data_floor(real_images: torch.Tensor, classifier, seed: int = 0, batch_size: int = 500) -> float:
    """FID between two disjoint random halves of the real images: the best a model can hope for
    when its samples and the real set each have about N/2 images (with an odd N, one image is left out)."""
    features = embed_images(classifier, real_images, batch_size)
    order = np.random.default_rng(seed).permutation(len(features))
    half = len(features) // 2
    return fid_from_features(features[order[:half]], features[order[half:2 * half]])


def fid_and_floor(real_features, generated_features, seed: int = 0) -> dict:
    """A model's FID next to the real-data floor, both at the same sample size.

    FID is biased upward by an amount that shrinks with the number of samples, so a model's
    FID and the floor are comparable only when they compare sets of the same sizes. Here:

    - the real embeddings are shuffled (``seed``) and split into two disjoint halves A and B
      of m = min(N_real, N_generated) // 2 rows each, and the first 2m generated rows into
      G1 and G2 (generated samples are independent, so any m of them are a random m);
    - ``floor`` = FID(A, B): two honest samples of the real distribution, m images each;
    - ``fid`` = (FID(G1, B) + FID(G2, A)) / 2: each half of the generated images against the
      real half the other one is not compared with, m against m images, averaged.

    If the model's distribution were the data's, ``fid`` and ``floor`` would have the same
    expected value; a model can fall below the floor only by chance. Returns
    ``{"fid", "floor", "num_images"}`` with ``num_images`` = m, the size of every set compared.
    """
    real = np.asarray(real_features, np.float64)
    generated = np.asarray(generated_features, np.float64)
    m = min(len(real), len(generated)) // 2
    if m < 2:
        raise ValueError(f"need at least 4 real and 4 generated embeddings to split into halves, "
                         f"got {len(real)} and {len(generated)}")
    order = np.random.default_rng(seed).permutation(len(real))
    real_a, real_b = real[order[:m]], real[order[m:2 * m]]
    generated_1, generated_2 = generated[:m], generated[m:2 * m]
    return {
        "fid": (fid_from_features(generated_1, real_b) + fid_from_features(generated_2, real_a)) / 2,
        "floor": fid_from_features(real_a, real_b),
        "num_images": m,
    }


def fid_infinity(real_features, generated_features, sizes=None, draws: int = 5, seed: int = 0) -> dict:
    """FID extrapolated to infinitely many images ("FID_inf", Chong & Forsyth 2020).

    The bias of FID computed from m images per set is, to first order, proportional to 1/m
    (the covariance estimates are off by O(1/m)), and its size depends on the model, so two
    models compared at one finite m can swap places. Here FID is computed at several sizes m
    (random subsets of both sets, ``draws`` times each, averaged), a line FID_m = a + b / m is
    fitted by least squares, and its intercept a is the estimate for m -> infinity.

    ``sizes`` default: 6 sizes from N/4 to N, N = the smaller set. Returns ``{"fid_infinity": a,
    "slope": b, "sizes": [...], "fids": [...]}``.
    """
    real = np.asarray(real_features, np.float64)
    generated = np.asarray(generated_features, np.float64)
    n = min(len(real), len(generated))
    sizes = sorted(set(int(m) for m in (sizes if sizes is not None else np.linspace(n / 4, n, 6))))
    if sizes[0] < 2 or sizes[-1] > n or len(sizes) < 2:
        raise ValueError(f"need at least two sizes between 2 and {n} (the smaller set), got {sizes}")
    rng = np.random.default_rng(seed)
    fids = []
    for m in sizes:
        repeats = 1 if m == len(real) == len(generated) else draws  # the whole of both sets: one value
        fids.append(np.mean([fid_from_features(real[rng.choice(len(real), m, replace=False)],
                                               generated[rng.choice(len(generated), m, replace=False)])
                             for _ in range(repeats)]))
    slope, intercept = np.polyfit(1.0 / np.array(sizes), np.array(fids), 1)  # FID_m = a + b / m
    return {"fid_infinity": float(intercept), "slope": float(slope), "sizes": sizes, "fids": [float(f) for f in fids]}


def kid(features1, features2, num_subsets: int = 10, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance between embeddings (N1, D) and (N2, D): ``(mean, std_error)``.

    For each of ``num_subsets`` random subsets of m = min(subset_size, N1, N2) rows of each
    set (drawn without replacement within a subset), the unbiased estimate of MMD^2 with
    the kernel k(x, y) = (x.y / D + 1)^3 is

        1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(m(m-1)) sum_{i!=j} k(y_i, y_j) - 2/m^2 sum_{i,j} k(x_i, y_j).

    ``mean`` averages the subsets; ``std_error`` is their standard deviation (ddof = 1)
    over sqrt(num_subsets), which measures the spread of the subset estimates (when m is
    the whole of a set, subsets overlap and this understates the uncertainty). The mean
    can be slightly negative: the estimate is unbiased, and the true value is >= 0.
    """
    x_all, y_all = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if x_all.ndim != 2 or y_all.ndim != 2 or x_all.shape[1] != y_all.shape[1]:
        raise ValueError(f"expected features of shapes (N1, D) and (N2, D), got {x_all.shape} and {y_all.shape}")
    m = min(subset_size, len(x_all), len(y_all))
    if m < 2 or num_subsets < 1:
        raise ValueError(f"KID needs subsets of at least 2 samples and num_subsets >= 1; "
                         f"got subset size {m}, num_subsets {num_subsets}")
    d = x_all.shape[1]
    kernel = lambda a, b: (a @ b.T / d + 1) ** 3  # polynomial kernel k(x, y) = (x.y / d + 1)^3
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(num_subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))  # i != j only
        estimates.append(within - 2 * k_xy.mean())
    estimates = np.array(estimates)
    std_error = estimates.std(ddof=1) / np.sqrt(num_subsets) if num_subsets > 1 else float("nan")
    return float(estimates.mean()), float(std_error)
