"""The chapter 04 exercise checkers accept right answers and reject plausible wrong ones, with a hint."""

import torch
import torch.nn.functional as F

from ddpm_from_scratch.exercises import ch04


def test_thumbnail_pairs_checker(capsys):
    assert ch04.check_thumbnail_pairs(lambda x, s: (F.avg_pool2d(x, x.shape[-1] // s), x))
    assert "Right" in capsys.readouterr().out
    step = lambda x, s: x.shape[-1] // s
    assert not ch04.check_thumbnail_pairs(lambda x, s: (x[:, :, ::step(x, s), ::step(x, s)], x))  # subsampling
    assert "average the whole block" in capsys.readouterr().out
    assert not ch04.check_thumbnail_pairs(lambda x, s: (F.interpolate(x, size=s, mode="bilinear"), x))
    assert not ch04.check_thumbnail_pairs(lambda x, s: (F.avg_pool2d(x, x.shape[-1] // s), x * 0.5))
    assert "targets" in capsys.readouterr().out
    assert not ch04.check_thumbnail_pairs(lambda x, s: F.avg_pool2d(x, x.shape[-1] // s))  # not a pair
    assert not ch04.check_thumbnail_pairs(lambda x, s: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def kl(mean, logvar):
    return 0.5 * (mean**2 + logvar.exp() - 1 - logvar).flatten(1).sum(1)


def test_posterior_kl_checker(capsys):
    assert ch04.check_posterior_kl(kl)
    assert "Right" in capsys.readouterr().out
    assert not ch04.check_posterior_kl(lambda m, lv: 2 * kl(m, lv))
    assert "factor 1/2" in capsys.readouterr().out
    assert not ch04.check_posterior_kl(lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 - lv).flatten(1).mean(1))
    assert "do not average" in capsys.readouterr().out
    assert not ch04.check_posterior_kl(lambda m, lv: 0.5 * (m**2 + lv - 1 - lv.exp()).flatten(1).sum(1))  # swapped
    assert not ch04.check_posterior_kl(lambda m, lv: kl(m, lv).sum())  # one number for the batch
    assert "one number per latent" in capsys.readouterr().out


def test_scale_factor_checker(capsys):
    assert ch04.check_scale_factor(lambda z: 1 / z.std().item())
    assert "Right" in capsys.readouterr().out
    assert not ch04.check_scale_factor(lambda z: z.std().item())
    assert "inverse" in capsys.readouterr().out
    assert not ch04.check_scale_factor(lambda z: 1 / z.abs().max().item())
    assert not ch04.check_scale_factor(lambda z: 0.18215)  # Stable Diffusion's number, not ours
    assert not ch04.check_scale_factor(lambda z: "1.0")
