"""Chapter 07's exercise checkers accept the right answers and name the usual mistakes."""

import torch
import torch.nn.functional as F

from ddpm_from_scratch.exercises.ch07 import check_contrastive_loss, check_latent_decode
from ddpm_from_scratch.nn import contrastive_loss


def test_the_package_s_loss_passes_and_common_slips_fail_with_a_hint(capsys):
    assert check_contrastive_loss(contrastive_loss)
    assert not check_contrastive_loss(lambda logits, text: F.cross_entropy(logits, torch.arange(len(logits))))
    assert "two directions" in capsys.readouterr().out
    assert not check_contrastive_loss(lambda logits, text: contrastive_loss(logits))
    assert "repeated" in capsys.readouterr().out
    assert not check_contrastive_loss(lambda logits, text: contrastive_loss(logits, text).item())
    assert not check_contrastive_loss(lambda logits, text: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_the_latent_decode_checker_accepts_the_pipeline_s_formula_and_names_each_slip(capsys):
    assert check_latent_decode(lambda decode, latents, f: decode(latents / f).clamp(-1, 1))
    capsys.readouterr()
    assert not check_latent_decode(lambda decode, latents, f: decode(latents * f).clamp(-1, 1))
    assert "multiplied" in capsys.readouterr().out
    assert not check_latent_decode(lambda decode, latents, f: decode(latents).clamp(-1, 1))
    assert "divide the generator's latents" in capsys.readouterr().out
    assert not check_latent_decode(lambda decode, latents, f: decode(latents / f))
    assert "clamp" in capsys.readouterr().out
    assert not check_latent_decode(lambda decode, latents, f: torch.zeros(len(latents), 3, 8, 8))  # never decodes
    assert "never ran" in capsys.readouterr().out
    assert not check_latent_decode(lambda decode, latents, f: decode(latents / f)[:, :1].clamp(-1, 1))
    assert "shape" in capsys.readouterr().out


def test_the_pipeline_s_latent_decoder_is_what_the_exercise_asks_for():
    """pipeline.LatentDecoder, handed the checker's stand-in as its autoencoder's decoder, passes the checker."""
    from ddpm_from_scratch.pipeline import LatentDecoder

    class StandIn(torch.nn.Module):
        latent_shape = (4, 4, 4)

        def __init__(self, decode):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))  # a parameter, so the decoder can find its device
            self.decode = decode

    assert check_latent_decode(lambda decode, latents, f: LatentDecoder(StandIn(decode), f)(latents))
