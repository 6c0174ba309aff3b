"""Chapter 04's parts: the KL autoencoder, thumbnails and noise augmentation, the three-stage pipeline."""

import math

import pytest
import torch

from ddpm_from_scratch import diffusion, recipes
from ddpm_from_scratch.checkpoints import CheckpointError, describe, requirement, save_checkpoint
from ddpm_from_scratch.data import shapes
from ddpm_from_scratch.nn import (Autoencoder, AutoencoderConfig, DiagonalGaussian, TextConditionedUNet,
                                  TextUNetConfig, UNet, UNetConfig)
from ddpm_from_scratch.nn.autoencoder import KL_WEIGHT, autoencoder_loss
from ddpm_from_scratch.pipeline import LatentDecoder, SuperResolution, TextToImage, Upsample, latent_route
from ddpm_from_scratch.pretrained import load_file
from ddpm_from_scratch.schedules import NoiseSchedule

SMALL_AE = AutoencoderConfig(image_size=16, latent_channels=2, base_channels=8, channel_mults=(1, 2), num_groups=4)


def small_autoencoder(seed=0):
    torch.manual_seed(seed)
    return Autoencoder(SMALL_AE)


def test_the_posterior_kl_is_the_closed_form_gaussian_kl():
    torch.manual_seed(0)
    moments = torch.randn(3, 4, 2, 2)
    q = DiagonalGaussian(moments)
    mean, logvar = moments.chunk(2, dim=1)
    normal = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    expected = torch.distributions.kl_divergence(normal, torch.distributions.Normal(0.0, 1.0)).flatten(1).sum(1)
    assert torch.allclose(q.kl(), expected, atol=1e-5)
    assert torch.equal(q.mode(), mean)


def test_posterior_samples_have_the_posterior_mean_and_std():
    moments = torch.cat([torch.full((1, 1, 1, 1), 0.7), torch.full((1, 1, 1, 1), math.log(0.3**2))], dim=1)
    q = DiagonalGaussian(moments.expand(20000, 2, 1, 1))
    z = q.sample(torch.Generator().manual_seed(0)).flatten()
    assert abs(z.mean().item() - 0.7) < 4 * 0.3 / math.sqrt(20000)
    assert abs(z.std().item() - 0.3) < 0.01


def test_the_autoencoder_compresses_to_its_latent_shape_and_back():
    ae = small_autoencoder()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    q = ae.encode(x)
    assert ae.latent_shape == (2, 8, 8) and q.mean.shape == (2, 2, 8, 8)
    reconstruction, posterior = ae(x, torch.Generator().manual_seed(0))
    assert reconstruction.shape == x.shape
    with pytest.raises(ValueError, match=r"images of shape \(B, 3, 16, 16\)"):
        ae.encode(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"latents of shape \(B, 2, 8, 8\).*scale factor"):
        ae.decode(torch.randn(2, 4, 8, 8))


def test_the_autoencoder_loss_is_reconstruction_plus_weighted_kl():
    ae = small_autoencoder()
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    loss = autoencoder_loss(ae, {"images": x}, torch.Generator().manual_seed(3))
    q = ae.encode(x)
    z = q.sample(torch.Generator().manual_seed(3))
    by_hand = (x - ae.decode(z)).abs().mean() + KL_WEIGHT * q.kl().mean() / z[0].numel()
    assert torch.allclose(loss, by_hand, atol=1e-6)


def test_the_scale_factor_gives_latents_of_unit_standard_deviation():
    ae = small_autoencoder()
    images = torch.rand(300, 3, 16, 16) * 2 - 1
    f = recipes.latent_scale_factor(ae, images, torch.Generator().manual_seed(0))
    z = ae.encode(images).sample(torch.Generator().manual_seed(0))
    assert abs((f * z).std().item() - 1) < 1e-4


def test_downscale_averages_each_block():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(shapes.downscale(x, 2), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    with pytest.raises(ValueError, match="must divide"):
        shapes.downscale(x, 3)


def test_thumbnail_pairs_noise_the_thumbnail_to_the_level_they_name():
    clean = recipes.thumbnail_pairs(0)(None, 0)(8, torch.Generator().manual_seed(0))
    assert set(clean) == {"x0", "low_res"} and torch.allclose(clean["low_res"], shapes.downscale(clean["x0"], 16))
    batch = recipes.thumbnail_pairs(300)(None, 0)(2000, torch.Generator().manual_seed(1))
    level, thumbnails = batch["augmentation_level"], shapes.downscale(batch["x0"], 16)
    assert level.min() >= 0 and level.max() < 300 and len(level.unique()) > 200
    # low_res = sqrt(abar_s) thumbnail + sqrt(1 - abar_s) eps: the recovered eps is standard normal
    alpha_bar = recipes.COSINE.alpha_bars[level].float()[:, None, None, None]
    eps = (batch["low_res"] - alpha_bar.sqrt() * thumbnails) / (1 - alpha_bar).sqrt()
    assert abs(eps.mean().item()) < 0.01 and abs(eps.std().item() - 1) < 0.01


def test_the_super_resolution_unet_needs_and_uses_the_augmentation_level():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(image_channels=3, image_size=8, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                           attention_resolutions=(), num_groups=4, cond_channels=3, augmentation_level=True))
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, t, low = torch.randn(2, 3, 8, 8), torch.tensor([5, 5]), torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="augmentation_level"):
        unet(x, t, low_res=low)
    assert (unet(x, t, low_res=low, augmentation_level=torch.tensor([0, 0]))
            - unet(x, t, low_res=low, augmentation_level=torch.tensor([200, 200]))).abs().max() > 1e-4


def test_a_frozen_text_encoder_does_not_move_in_training():
    config = TextUNetConfig(vocabulary=shapes.vocabulary(), image_channels=2, image_size=8, base_channels=16,
                            channel_mults=(1, 2), attention_resolutions=(4,), data_range=None, train_text_encoder=False)
    torch.manual_seed(0)
    model = TextConditionedUNet(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = {"x0": torch.randn(4, 2, 8, 8), "text": model.tokenizer(["a red circle in the top left"] * 4)}
    diffusion.denoising_loss(model, NoiseSchedule.cosine(50), batch, torch.Generator().manual_seed(0)).backward()
    optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("text_encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("unet."))


class Generator(torch.nn.Module):
    """A stand-in text generator of a given sample shape (the pipeline only needs its interface)."""

    def __init__(self, sample_shape, data_range=None):
        super().__init__()
        self.sample_shape, self.data_range = sample_shape, data_range
        self.scale = torch.nn.Parameter(torch.zeros(()))
        self.tokenizer = lambda prompts: torch.ones(len(prompts), 2, dtype=torch.long)

    def forward(self, x, t, text=None):
        return x * 0 + self.scale


def test_stages_that_do_not_fit_each_other_are_refused():
    ae = small_autoencoder()
    with pytest.raises(ValueError, match=r"decoder expects inputs of shape \(2, 8, 8\).*draws \(4, 8, 8\)"):
        TextToImage(Generator((4, 8, 8)), NoiseSchedule.cosine(20), LatentDecoder(ae, 1.0))
    sr = UNet(UNetConfig(image_channels=3, image_size=32, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                         attention_resolutions=(), num_groups=4, cond_channels=3))
    with pytest.raises(ValueError, match=r"\(3, 16, 16\).*\(3, 8, 8\)"):
        TextToImage(Generator((3, 8, 8), (-1.0, 1.0)), NoiseSchedule.cosine(20), SuperResolution(sr, NoiseSchedule.cosine(20)))
    with pytest.raises(ValueError, match="positive"):
        LatentDecoder(ae, 0.0)
    with pytest.raises(ValueError, match=r"thumbnails of shape \(B, 3, 16, 16\), got \(2, 3, 8, 8\)"):
        SuperResolution(sr, NoiseSchedule.cosine(20))(torch.zeros(2, 3, 8, 8))


def test_a_non_finite_decode_is_an_error_not_an_image():
    ae = small_autoencoder()
    with pytest.raises(FloatingPointError, match="non-finite"):
        LatentDecoder(ae, 1.0)(torch.full((1, 2, 8, 8), float("nan")))


def test_the_latent_route_runs_end_to_end_and_decodes_with_the_scale_factor():
    ae = small_autoencoder()
    route = TextToImage(Generator((2, 8, 8)), NoiseSchedule.cosine(20), LatentDecoder(ae, 2.0))
    latents = route.compressed(["a", "b"], guidance_scale=1.0, steps=3)
    images = route(["a", "b"], guidance_scale=1.0, steps=3)
    assert latents.shape == (2, 2, 8, 8) and images.shape == (2, 3, 16, 16)
    assert torch.allclose(images, ae.decode(latents / 2.0).clamp(-1, 1), atol=1e-5)
    assert Upsample("bicubic")(torch.zeros(1, 3, 4, 4)).shape == (1, 3, 8, 8)


def test_a_generator_paired_with_another_autoencoder_than_it_requires_is_refused(tmp_path):
    right, wrong = small_autoencoder(1), small_autoencoder(2)
    right_path = save_checkpoint({**describe(right, scale_factor=2.0), "ema": right.state_dict()}, tmp_path / "ae_right.pt")
    wrong_path = save_checkpoint({**describe(wrong, scale_factor=2.0), "ema": wrong.state_dict()}, tmp_path / "ae_wrong.pt")
    config = TextUNetConfig(vocabulary=("a",), image_channels=2, image_size=8, base_channels=8, channel_mults=(1, 2),
                            attention_resolutions=(), data_range=None)
    torch.manual_seed(0)
    generator = TextConditionedUNet(config)
    right_loaded = load_file(right_path)
    header = describe(generator, NoiseSchedule.cosine(20), scale_factor=2.0,
                      requires=[requirement("shapes_autoencoder", right_loaded.header)])
    generator_path = save_checkpoint({**header, "ema": generator.state_dict()}, tmp_path / "latent.pt")
    latent_route(load_file(generator_path), right_loaded)  # the pair it was trained with
    with pytest.raises(CheckpointError, match=r"latent\.pt.*ae_wrong\.pt"):
        latent_route(load_file(generator_path), load_file(wrong_path))
    other_scale = save_checkpoint({**describe(right, scale_factor=3.0), "ema": right.state_dict()}, tmp_path / "ae_3.pt")
    with pytest.raises(CheckpointError):  # same weights but another scale: the fingerprint matches, the scale does not
        latent_route(load_file(generator_path), load_file(other_scale))


# --- the shipped chapter-04 checkpoints ---------------------------------------------------
@pytest.mark.parametrize("name", ["shapes32_classifier", "shapes_autoencoder", "shapes_latent", "shapes_sr"])
def test_shipped_decoder_checkpoints_fit_the_size_budget_and_have_cards(name):
    from ddpm_from_scratch import pretrained

    path = pretrained.CHECKPOINT_DIR / f"{name}.pt"
    assert path.stat().st_size <= 8 * 2**20
    card = pretrained.card(name)
    for key in ("recipe", "steps", "wall_time_s", "runs", "metrics"):
        assert key in card, (name, key)
    for key in ("began", "command", "seed", "steps", "wall_time_s", "hardware", "threads", "torch", "reproduces"):
        assert all(key in run for run in card["runs"]), (name, key)
    assert sum(run["steps"] for run in card["runs"]) == card["steps"]


def test_the_shipped_autoencoder_reconstructs_fresh_scenes_and_carries_its_scale_factor():
    from ddpm_from_scratch import pretrained

    autoencoder = pretrained.load("shapes_autoencoder")
    images = shapes.make_scenes(100, 32, seed=77, heldout=None)[0]
    with torch.no_grad():
        reconstruction = autoencoder.model.decode(autoencoder.model.encode(images).mode()).clamp(-1, 1)
    mse = ((reconstruction - images) / 2).pow(2).mean().item()
    assert 10 * math.log10(1 / mse) >= 28  # the card's figure on 1,000 scenes is the measurement; this guards it
    f = autoencoder.header["scale_factor"]
    assert f > 0 and abs(f - autoencoder.card["scale_factor"]) < 1e-9
    z = autoencoder.model.encode(images).sample(torch.Generator().manual_seed(0))
    assert 0.8 < (f * z).std().item() < 1.25
    low, high = recipes.LATENT_RANGE  # the latent generator's clipping range holds the scaled latents
    assert low < (f * z).min() and (f * z).max() < high


def test_the_shipped_latent_route_is_assembled_from_checked_parts():
    from ddpm_from_scratch import pretrained

    route = recipes.route("latent")
    generator = pretrained.load("shapes_latent")
    assert {r["name"] for r in generator.header["requires"]} == {"shapes", "shapes_autoencoder"}
    text_model = pretrained.load("shapes").model  # one text encoder, two generators
    for key, value in text_model.text_encoder.state_dict().items():
        assert torch.equal(value, generator.model.text_encoder.state_dict()[key]), key
    images = route(["a big red circle in the top left", "a small blue square in the lower right"], steps=3)
    assert images.shape == (2, 3, 32, 32) and images.abs().max() <= 1


def test_the_shipped_32px_judge_reads_fresh_scenes():
    from ddpm_from_scratch import evaluation, pretrained

    judged = evaluation.evaluate_shapes_classifier(pretrained.load("shapes32_classifier").model, num_samples=500, seed=9)
    assert judged["accuracy_seen"] >= 0.99 and judged["accuracy_heldout"] >= 0.99


def test_sampling_can_start_from_a_given_state_at_a_given_step():
    class Zero(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t):
            return torch.zeros_like(x)

    schedule = NoiseSchedule.cosine(100)
    x_start = torch.full((3, 2), 0.5)
    # a predictor of zero noise: DDIM from x_t at step t lands on x_t / sqrt(abar_t), the implied clean data
    out, run = diffusion.sample(Zero(), schedule, (3, 2), sampler="ddim", steps=5, x_start=x_start, t_start=40,
                                progress=False, return_trajectory=True)
    assert run.timesteps[0] == 40 and torch.equal(run.states[0], x_start)
    assert torch.allclose(out, x_start / schedule.alpha_bars[40].sqrt().float(), atol=1e-5)
    with pytest.raises(ValueError, match="go together"):
        diffusion.sample(Zero(), schedule, (3, 2), x_start=x_start, progress=False)
    with pytest.raises(ValueError, match="x_start has shape"):
        diffusion.sample(Zero(), schedule, (4, 2), x_start=x_start, t_start=40, progress=False)


def test_the_decoders_move_their_inputs_to_the_models_device_and_dtype():
    # Only the CPU is here, so a real device mismatch (model on a GPU, inputs on the CPU) is not testable;
    # what is tested: inputs already on the model's device, and inputs of another dtype, give the same images.
    ae = small_autoencoder()
    decoder = LatentDecoder(ae, 2.0)
    latents = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    expected = decoder(latents)
    device = next(ae.parameters()).device
    assert torch.allclose(decoder(latents.to(device)), expected, atol=1e-6)
    assert torch.allclose(decoder(latents.double()), expected, atol=1e-5)
    assert expected.device.type == "cpu"
    torch.manual_seed(0)
    sr = UNet(UNetConfig(image_channels=3, image_size=16, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                         attention_resolutions=(), num_groups=4, cond_channels=3, augmentation_level=True))
    thumbnails = torch.rand(2, 3, 8, 8) * 2 - 1
    for start_from in SuperResolution.START_FROM:
        super_resolution = SuperResolution(sr, NoiseSchedule.cosine(), steps=2, start_from=start_from)
        images = super_resolution(thumbnails)
        assert images.shape == (2, 3, 16, 16) and images.device.type == "cpu"
        assert torch.allclose(super_resolution(thumbnails.double()), images, atol=1e-5)
    with pytest.raises(ValueError, match="start_from"):
        SuperResolution(sr, NoiseSchedule.cosine(), start_from="noise")


def test_the_augmented_start_departs_from_the_clean_one_as_the_augmentation_level_grows():
    torch.manual_seed(0)
    sr = UNet(UNetConfig(image_channels=3, image_size=16, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                         attention_resolutions=(), num_groups=4, cond_channels=3, augmentation_level=True))
    thumbnails = torch.rand(2, 3, 8, 8) * 2 - 1
    clean, augmented = (SuperResolution(sr, NoiseSchedule.cosine(), augmentation_level=0, steps=2, start_from=s)
                        for s in SuperResolution.START_FROM)
    # level 0 is the first noising step: the thumbnail is noised a little (noise std sqrt(1 - alpha_bar_0))
    near = (clean(thumbnails) - augmented(thumbnails)).abs().mean()
    clean.augmentation_level = augmented.augmentation_level = 100
    far = (clean(thumbnails) - augmented(thumbnails)).abs().mean()
    assert near < 0.05 and far > 2 * near


def test_a_shipped_route_takes_its_device_as_a_string_or_a_torch_device():
    prompts = ["a big red circle in the top left"]
    by_string = recipes.route("latent", "cpu")(prompts, steps=2)
    by_device = recipes.route("latent", torch.device("cpu"))(prompts, steps=2)
    assert by_string.device.type == "cpu" and torch.equal(by_string, by_device)
