"""The chapter 05 exercise checkers accept right answers and reject wrong ones, with a helpful message."""

import numpy as np
import scipy.linalg
import torch

from ddpm_from_scratch import metrics
from ddpm_from_scratch.exercises import ch05


# ------------------------------------------------------------------------------------
# check_frechet_distance
# ------------------------------------------------------------------------------------
def frechet_by_hand(mu1, s1, mu2, s2, mistake=None):
    """The textbook formula with scipy's sqrtm; `mistake` makes a usual error."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if mistake == "elementwise":
        covmean = np.sqrt(np.abs(s1 * s2))
    if mistake == "product of roots":
        covmean = scipy.linalg.sqrtm(s1) @ scipy.linalg.sqrtm(s2)
    if mistake != "complex":
        covmean = covmean.real
    factor = 1 if mistake == "no factor 2" else 2
    mean_term = 0.0 if mistake == "no mean term" else diff @ diff
    value = mean_term + np.trace(s1) + np.trace(s2) - factor * np.trace(covmean)
    if mistake == "complex":
        return value + 1e-3j
    return float(np.sqrt(value)) if mistake == "sqrt" else float(value)


def test_frechet_checker_accepts_the_textbook_formula_and_the_package_function(capsys):
    assert ch05.check_frechet_distance(frechet_by_hand)
    assert "Correct" in capsys.readouterr().out
    assert ch05.check_frechet_distance(metrics.frechet_distance)


def test_frechet_checker_rejects_an_elementwise_square_root(capsys):
    assert not ch05.check_frechet_distance(lambda *a: frechet_by_hand(*a, mistake="elementwise"))
    assert "matrix square root" in capsys.readouterr().out


def test_frechet_checker_rejects_a_product_of_square_roots(capsys):
    assert not ch05.check_frechet_distance(lambda *a: frechet_by_hand(*a, mistake="product of roots"))
    assert "commute" in capsys.readouterr().out


def test_frechet_checker_names_the_missing_factor_and_mean_term(capsys):
    assert not ch05.check_frechet_distance(lambda *a: frechet_by_hand(*a, mistake="no factor 2"))
    assert "factor 2" in capsys.readouterr().out
    assert not ch05.check_frechet_distance(lambda *a: frechet_by_hand(*a, mistake="no mean term"))
    assert "mean term" in capsys.readouterr().out


def test_frechet_checker_rejects_the_unsquared_distance(capsys):
    assert not ch05.check_frechet_distance(lambda *a: frechet_by_hand(*a, mistake="sqrt"))
    assert "squared" in capsys.readouterr().out


def test_frechet_checker_explains_a_complex_result_and_an_exception(capsys):
    assert not ch05.check_frechet_distance(lambda *a: frechet_by_hand(*a, mistake="complex"))
    assert ".real" in capsys.readouterr().out

    def broken(*args):
        raise RuntimeError("boom")

    assert not ch05.check_frechet_distance(broken)
    assert "raised RuntimeError: boom" in capsys.readouterr().out


# ------------------------------------------------------------------------------------
# check_gaussian_kl
# ------------------------------------------------------------------------------------
def kl_by_hand(m1, v1, m2, v2):
    """KL of two normals written from the definition of their log densities, element by element."""
    return torch.tensor([0.5 * (np.log(b / a) + (a + (x - y) ** 2) / b - 1)
                         for x, a, y, b in zip(m1.tolist(), v1.tolist(), m2.tolist(), v2.tolist())],
                        dtype=torch.float64)


def test_kl_checker_accepts_a_hand_written_kl_and_the_package_function(capsys):
    assert ch05.check_gaussian_kl(kl_by_hand)
    assert "Correct" in capsys.readouterr().out
    assert ch05.check_gaussian_kl(metrics.gaussian_kl)


def test_kl_checker_rejects_the_reversed_kl(capsys):
    assert not ch05.check_gaussian_kl(lambda m1, v1, m2, v2: kl_by_hand(m2, v2, m1, v1))
    assert "not symmetric" in capsys.readouterr().out


def test_kl_checker_rejects_standard_deviations_used_as_variances(capsys):
    def with_std(m1, v1, m2, v2):
        return 0.5 * (torch.log(v2 / v1) + (v1.sqrt() + (m1 - m2) ** 2) / v2.sqrt() - 1)

    assert not ch05.check_gaussian_kl(with_std)
    assert "variances" in capsys.readouterr().out


def test_kl_checker_rejects_a_summed_result(capsys):
    assert not ch05.check_gaussian_kl(lambda *a: kl_by_hand(*a).sum())
    assert "elementwise" in capsys.readouterr().out
