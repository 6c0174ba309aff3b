"""Chapter 06's baseline: the VAE, its bound in bits/dim, its recipe, and its place in evaluate and the CLI."""

import math

import pytest
import torch

from ddpm_from_scratch import cli, evaluation, pretrained, recipes
from ddpm_from_scratch.data import load_digits
from ddpm_from_scratch.metrics import (bits_per_dim, bits_per_dim_importance, quantize_to_8bit, vae_bits_per_dim,
                                       vae_negative_elbo)
from ddpm_from_scratch.nn import MODELS, VAE, DiagonalGaussian, UNet, UNetConfig, VAEConfig
from ddpm_from_scratch.schedules import NoiseSchedule

SMALL = VAEConfig(latent_dim=4, base_channels=8, num_groups=4)


def small_vae(seed=0):
    torch.manual_seed(seed)
    return VAE(SMALL)


def digits(n, split="test"):
    return quantize_to_8bit(load_digits(split, image_size=16)[0][:n])


def test_the_vae_maps_images_to_a_vector_latent_and_back():
    vae = small_vae()
    x = digits(3)
    q = vae.encode(x)
    assert q.mean.shape == q.std.shape == (3, 4)                  # a vector latent per image
    mean, log_scale = vae.decode(q.sample(torch.Generator().manual_seed(0)))
    assert mean.shape == log_scale.shape == (3, 1, 16, 16)      # a mean and a scale for every pixel
    assert vae.sample_shape == (1, 16, 16) and vae.data_range == (-1.0, 1.0)
    samples = vae.sample(5, torch.Generator().manual_seed(0))
    assert samples.shape == (5, 1, 16, 16) and samples.min() >= -1 and samples.max() <= 1
    assert torch.equal(samples, vae.sample(5, torch.Generator().manual_seed(0)))  # the seed fixes them
    assert MODELS["VAE"] == (VAE, VAEConfig)
    with pytest.raises(ValueError, match=r"images of shape \(B, 1, 16, 16\)"):
        vae.encode(torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"latents of shape \(B, 4\)"):
        vae.decode(torch.zeros(3, 4, 1, 1))


def test_the_posterior_is_the_encoder_s_mean_and_log_variance_and_its_samples_follow_it():
    vae = small_vae()
    x = digits(1)
    moments = vae.encoder(x)                         # (1, 2 latent_dim) = [mean, log-variance]
    q = vae.encode(x)
    assert torch.equal(q.mean, moments[:, :4])
    assert torch.allclose(q.std, (0.5 * moments[:, 4:]).exp())
    n = 10000
    with torch.no_grad():
        z = vae.encode(x.expand(n, -1, -1, -1)).sample(torch.Generator().manual_seed(1))  # (n, 4): mean + std eps
    mean, std = moments[0, :4].detach(), (0.5 * moments[0, 4:]).exp().detach()
    assert ((z.mean(0) - mean).abs() < 4 * std / math.sqrt(n)).all()
    assert ((z.std(0) / std - 1).abs() < 4 / math.sqrt(2 * n)).all()   # the std of a sample std is ~ std / sqrt(2n)


def test_the_kl_to_the_prior_equals_a_monte_carlo_estimate():
    vae = small_vae()
    with torch.no_grad():
        vae.encoder[-1].bias.copy_(torch.tensor([0.8, -1.2, 0.3, 2.0, -1.5, 0.7, -0.4, 0.2]))  # far from N(0, I)
        q = vae.encode(digits(2))
    n = 40000
    draws = DiagonalGaussian(torch.cat([q.mean, q.logvar], 1).repeat(n, 1)).sample(torch.Generator().manual_seed(2))
    z = draws.reshape(n, 2, 4).double()
    # KL(q || p) = E_q[log q(z) - log p(z)], with both densities written out independently
    log_q = torch.distributions.Normal(q.mean.double(), q.std.double()).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    estimate, std_error = (log_q - log_p).mean(0), (log_q - log_p).std(0) / math.sqrt(n)
    assert ((q.kl().double() - estimate).abs() < 4 * std_error).all(), (q.kl(), estimate, std_error)


def _discretised_log_likelihood_by_hand(x, mean, scale):
    """log P(bin of x) under N(mean, scale^2), float64: the CDF at the bin's edges, open ends at -1 and 1."""
    normal = torch.distributions.Normal(mean.double(), scale.double())
    x = x.double()
    upper = torch.where(x > 1 - 1e-6, torch.ones_like(x), normal.cdf(x + 1 / 255))
    lower = torch.where(x < -1 + 1e-6, torch.zeros_like(x), normal.cdf(x - 1 / 255))
    return torch.log(upper - lower)


def test_the_negative_elbo_is_minus_the_binned_likelihood_of_the_decoded_mean_plus_the_kl():
    vae = small_vae()
    x = digits(4)
    elbo = vae_negative_elbo(vae, x, torch.Generator().manual_seed(5))
    # the same draw of z, by hand: z = mean + std eps with eps from the same seed
    q = vae.encode(x)
    z = q.mean + q.std * torch.randn(q.mean.shape, generator=torch.Generator().manual_seed(5))
    mean, log_scale = vae.decode(z)
    expected = -_discretised_log_likelihood_by_hand(x, mean, log_scale.exp()).flatten(1).sum(1)
    assert torch.isfinite(expected).all()  # untrained, no pixel lies in a far tail, where CDF differences underflow
    assert torch.allclose(elbo["reconstruction_nats"], expected, rtol=1e-5)
    assert torch.allclose(elbo["kl_nats"], q.kl().double())
    assert torch.allclose(elbo["total_nats"], expected + q.kl().double(), rtol=1e-5)
    assert elbo["total_nats"].requires_grad  # it is the training objective too


def test_bits_per_dim_of_a_vae_with_a_fixed_decoder_are_the_hand_computed_number():
    vae = small_vae()
    mu, logvar = torch.tensor([0.5, -1.0, 0.0, 2.0]), torch.tensor([-1.0, 0.5, 0.0, -2.0])
    m, s = -0.2, 0.3
    with torch.no_grad():  # q(z | x) = N(mu, diag(exp(logvar))) for every image; p(x | z) = N(m, s^2) per pixel
        vae.encoder[-1].weight.zero_()
        vae.encoder[-1].bias.copy_(torch.cat([mu, logvar]))
        vae.decoder[-1].weight.zero_()
        vae.decoder[-1].bias.copy_(torch.tensor([m, math.log(s)]))
    level = 140 / 127.5 - 1                                            # one of the 256 grey levels
    x = torch.full((3, 1, 16, 16), level)
    phi = lambda v: 0.5 * (1 + math.erf((v - m) / (s * math.sqrt(2))))
    reconstruction = -256 * math.log(phi(level + 1 / 255) - phi(level - 1 / 255))        # nats per image
    kl = 0.5 * sum(a**2 + math.exp(b) - 1 - b for a, b in zip(mu.tolist(), logvar.tolist()))
    bpd = vae_bits_per_dim(vae, x, torch.Generator().manual_seed(0))
    to_bits = 1 / (256 * math.log(2))
    assert bpd["reconstruction"] == pytest.approx(reconstruction * to_bits, rel=1e-6)
    assert bpd["kl"] == pytest.approx(kl * to_bits, rel=1e-5)
    assert bpd["total"] == pytest.approx((reconstruction + kl) * to_bits, rel=1e-5)
    assert bpd["std_error"] == pytest.approx(0, abs=1e-9) and bpd["num_dims"] == 256
    # the recipe's loss is the same bound in nats per dimension, on the digits rounded to 8 bit
    off_level = x + 0.3 / 255                                           # rounds back to the level
    loss = recipes.vae_loss(vae, {"x0": off_level}, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx((reconstruction + kl) / 256, rel=1e-5)


def test_a_few_hundred_training_steps_lower_the_bound():
    from ddpm_from_scratch.train import TrainConfig, Trainer

    x = digits(64, "train")
    vae = small_vae()
    before = vae_bits_per_dim(vae, x, torch.Generator().manual_seed(0))["total"]
    trainer = Trainer(vae, recipes.vae_loss, {"x0": x}, TrainConfig(steps=200, batch_size=32, lr=2e-3, warmup_steps=20),
                      device="cpu").fit(progress=False)
    after = vae_bits_per_dim(trainer.model, x, torch.Generator().manual_seed(0))["total"]
    print(f"bits/dim before {before:.3f}, after {after:.3f}")
    assert after < before - 0.5, (before, after)


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory):
    """The digits_vae recipe after 2 steps, exported as a shipped checkpoint would be; and its trainer."""
    out = tmp_path_factory.mktemp("digits_vae")
    trainer = recipes.make_trainer(recipes.get_recipe("digits_vae"), out / "checkpoint.pt", steps=2, device="cpu")
    trainer.fit(progress=False)
    return trainer.export(out / "digits_vae.pt"), trainer


def test_a_vae_checkpoint_loads_back_to_the_same_model(vae_checkpoint):
    path, trainer = vae_checkpoint
    loaded = pretrained.load_file(path)
    assert isinstance(loaded.model, VAE) and loaded.schedule is None
    assert loaded.header["data_range"] == [-1.0, 1.0] and loaded.header["metadata"]["recipe"] == "digits_vae"
    assert loaded.model.config == recipes.get_recipe("digits_vae").model_config
    x = digits(8)
    for a, b in [(loaded.model.sample(6, torch.Generator().manual_seed(3)),
                  trainer.ema.sample(6, torch.Generator().manual_seed(3))),
                 (vae_bits_per_dim(loaded.model, x, torch.Generator().manual_seed(3))["per_image"],
                  vae_bits_per_dim(trainer.ema, x, torch.Generator().manual_seed(3))["per_image"])]:
        assert torch.equal(a, b)


SHARED_FIELDS = {"fid", "fid_real_floor", "fid_num_images", "fid_infinity", "fid_real_floor_infinity", "kid",
                 "kid_std_error", "recognisable_fraction", "real_recognisable_fraction", "ratio_to_real",
                 "class_counts", "class_entropy_bits", "classifier_test_accuracy", "num_samples", "seed",
                 "sampling_time_s", "bits_per_dim", "bits_per_dim_images"}


def test_the_vae_report_has_the_diffusion_report_s_fields_and_the_same_test_digits(vae_checkpoint):
    loaded = pretrained.load_file(vae_checkpoint[0])
    report = recipes.get_recipe("digits_vae").evaluate(loaded, num_samples=40, seed=1, bpd_images=20)
    assert SHARED_FIELDS | {"bits_per_dim_reconstruction", "bits_per_dim_kl"} <= set(report)
    torch.manual_seed(0)  # any diffusion model gives the field names; a tiny one on a 10-step schedule is quick
    unet = UNet(UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(),
                           num_groups=4))
    diffusion_report = evaluation.evaluate_digits(unet, NoiseSchedule.cosine(10), pretrained.load("digits_classifier").model,
                                                  num_samples=8, steps=2, seed=1, bpd_images=2, bpd_steps=2)
    assert SHARED_FIELDS <= set(diffusion_report)  # the same names on both sides
    assert report["num_samples"] == 40 and sum(report["class_counts"]) <= 40 and report["fid_num_images"] == 20
    assert report["bits_per_dim_images"] == 20 and report["real_recognisable_fraction"] > 0.9
    assert report["bits_per_dim"] == pytest.approx(report["bits_per_dim_reconstruction"] + report["bits_per_dim_kl"],
                                                   abs=2e-4)
    # the bound is measured on the test digits evaluate_digits draws: a permutation from the seed, rounded to 8 bit
    test_images = load_digits("test", image_size=16)[0]
    pick = torch.randperm(len(test_images), generator=torch.Generator().manual_seed(1))[:20]
    expected = vae_bits_per_dim(loaded.model, quantize_to_8bit(test_images[pick]), torch.Generator().manual_seed(1))
    assert report["bits_per_dim"] == round(expected["total"], 4)


def test_the_diffusion_bound_refuses_a_vae_and_names_its_own_bound():
    vae, schedule, x = small_vae(), NoiseSchedule.cosine(10), digits(2)
    for estimator in (bits_per_dim, bits_per_dim_importance):
        with pytest.raises(ValueError, match=r"VAE is not a noise predictor.*vae_bits_per_dim"):
            estimator(vae, schedule, x)


def _cli_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv + ["--quiet", "--device", "cpu"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_the_cli_samples_a_vae_and_refuses_it_where_a_diffusion_model_is_wanted(vae_checkpoint, tmp_path, capsys):
    path = str(vae_checkpoint[0])
    png = tmp_path / "vae.png"
    cli.main(["sample", "--recipe", "digits_vae", "--checkpoint", path, "--num-samples", "8", "--out", str(png),
              "--quiet", "--device", "cpu"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    err = _cli_error(["sample", "--recipe", "digits_vae", "--checkpoint", path, "--steps", "5",
                      "--out", str(tmp_path / "a.png")], capsys)
    assert "one decoder pass" in err
    err = _cli_error(["evaluate", "--recipe", "digits", "--checkpoint", path], capsys)
    assert "holds a VAE" in err and "--recipe digits_vae" in err
    err = _cli_error(["evaluate", "--recipe", "digits_vae", "--checkpoint",
                      str(pretrained.CHECKPOINT_DIR / "digits.pt")], capsys)
    assert "holds a UNet" in err and "measures a VAE" in err
    err = _cli_error(["evaluate", "--recipe", "digits_vae", "--checkpoint", path, "--steps", "3"], capsys)
    assert "does not use --steps" in err
    err = _cli_error(["generate", "a red circle", "--checkpoint", path, "--out", str(tmp_path / "b.png")], capsys)
    assert "not a text-to-image model" in err
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()
