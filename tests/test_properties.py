"""Properties checked against values computed independently: the trainer's EMA, learning rate and RNG
state, each sampler option against its equation, the likelihood's prior term."""

import copy
import math

import pytest
import torch

from ddpm_from_scratch import diffusion
from ddpm_from_scratch.metrics import bits_per_dim
from ddpm_from_scratch.nn import MLPConfig, MLPDenoiser
from ddpm_from_scratch.schedules import NoiseSchedule
from ddpm_from_scratch.train import TrainConfig, Trainer

SCHEDULE = NoiseSchedule.linear(50)
DATA = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))


def trainer(config, path=None, resume=False, loss=None, dropout_model=False):
    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(hidden=16, num_layers=1))
    if dropout_model:
        model.output = torch.nn.Sequential(torch.nn.Dropout(0.5), model.output)
    loss = loss or (lambda m, x0, g: diffusion.denoising_loss(m, SCHEDULE, x0, g))
    return Trainer(model, loss, DATA, config, checkpoint_path=path, resume=resume, device="cpu")


def test_the_ema_is_the_average_written_out_by_hand():
    config = TrainConfig(steps=12, batch_size=16, lr=1e-2, warmup_steps=1, ema_decay=0.8)
    t = trainer(config)
    ema = {k: v.clone() for k, v in t.model.state_dict().items()}  # the EMA starts at the initial weights
    for k in range(1, config.steps + 1):
        t.train_step()
        decay = min(config.ema_decay, (1 + k) / (10 + k))  # warm-up: (1 + k) / (10 + k) after k steps
        ema = {name: decay * ema[name] + (1 - decay) * value for name, value in t.model.state_dict().items()}
    for name, value in t.ema.state_dict().items():
        assert torch.allclose(value, ema[name], atol=1e-6), name


def test_the_learning_rate_warms_up_linearly_then_stays_constant():
    config = TrainConfig(steps=20, batch_size=16, lr=3e-3, warmup_steps=8)
    t = trainer(config)
    seen = []
    original_step = t.optimizer.step

    def recording_step(*args, **kwargs):
        seen.append(t.optimizer.param_groups[0]["lr"])
        return original_step(*args, **kwargs)

    t.optimizer.step = recording_step
    t.fit(progress=False)
    expected = [3e-3 * min(1.0, (k + 1) / 8) for k in range(20)]  # step k (from 0) uses lr (k + 1) / warm-up
    assert seen == pytest.approx(expected, rel=1e-12)


def test_gradients_are_clipped_to_the_configured_norm():
    config = TrainConfig(steps=1, batch_size=16, lr=1.0, warmup_steps=1, grad_clip=1e-3)
    t = trainer(config, loss=lambda m, x0, g: 1e3 * diffusion.denoising_loss(m, SCHEDULE, x0, g))
    norms = []
    original_step = t.optimizer.step

    def recording_step(*args, **kwargs):
        norms.append(torch.sqrt(sum(p.grad.pow(2).sum() for p in t.model.parameters() if p.grad is not None)).item())
        return original_step(*args, **kwargs)

    t.optimizer.step = recording_step
    t.fit(progress=False)
    assert norms[0] == pytest.approx(1e-3, rel=1e-4)


def test_resuming_restores_the_global_rng_so_dropout_continues_as_if_never_stopped(tmp_path):
    config = TrainConfig(steps=16, batch_size=16, lr=1e-2, warmup_steps=1, checkpoint_every=8, seed=3)
    full = trainer(config, dropout_model=True).fit(progress=False)
    state_after_full = torch.get_rng_state()
    trainer(config, tmp_path / "a.pt", dropout_model=True).fit(steps=8, progress=False)
    torch.manual_seed(999)  # anything may have used the global RNG in between
    resumed = trainer(config, tmp_path / "a.pt", resume=True, dropout_model=True)
    resumed.fit(progress=False)
    assert full.losses == resumed.losses
    assert torch.equal(state_after_full, torch.get_rng_state())


def test_while_a_checkpoint_is_written_the_file_on_disk_is_the_previous_complete_one(tmp_path, monkeypatch):
    from ddpm_from_scratch import checkpoints

    path = tmp_path / "run.pt"
    config = TrainConfig(steps=20, batch_size=16, checkpoint_every=10)
    t = trainer(config, path)
    seen_on_disk = []
    real_save = torch.save

    def observing_save(obj, file, *args, **kwargs):
        if path.exists():
            seen_on_disk.append(checkpoints.load_checkpoint(path)["step"])
        return real_save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", observing_save)
    t.fit(progress=False)
    assert seen_on_disk == [10, 20]  # writing step 20's, then the final one: the old file stays whole until replaced


def test_a_checkpoint_holds_each_state_as_the_trainer_had_it_and_a_resumed_trainer_gets_each_back(tmp_path):
    """Weights, EMA, optimiser moments, step, losses and both RNG states, field by field: a field written from the
    wrong source, or not read back, shows here even when every run is wrong in the same way."""
    from ddpm_from_scratch.checkpoints import load_checkpoint

    config = TrainConfig(steps=12, batch_size=16, lr=1e-2, warmup_steps=3, checkpoint_every=100, ema_decay=0.9)
    t = trainer(config, tmp_path / "run.pt").fit(progress=False)
    saved = load_checkpoint(tmp_path / "run.pt")
    assert saved["step"] == 12 and saved["losses"] == t.losses
    for name, value in t.model.state_dict().items():
        assert torch.equal(saved["model"][name], value), name
    for name, value in t.ema.state_dict().items():
        assert torch.equal(saved["ema"][name], value), name
    assert any(not torch.equal(t.model.state_dict()[n], v) for n, v in t.ema.state_dict().items())  # they differ
    assert torch.equal(saved["generator_state"], t.generator.get_state())
    back = trainer(config, tmp_path / "run.pt", resume=True)
    for mine, theirs in [(back.model, t.model), (back.ema, t.ema)]:
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), name
    for a, b in zip(back.optimizer.state_dict()["state"].values(), t.optimizer.state_dict()["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    assert back.step == 12 and back.losses == t.losses
    assert torch.equal(back.generator.get_state(), t.generator.get_state())


def test_checkpoints_are_written_at_every_multiple_of_checkpoint_every_and_at_the_end(tmp_path, monkeypatch):
    from ddpm_from_scratch import checkpoints

    written = []
    real = checkpoints.save_checkpoint
    monkeypatch.setattr("ddpm_from_scratch.train.trainer.save_checkpoint",
                        lambda state, path: written.append(state["step"]) or real(state, path))
    trainer(TrainConfig(steps=25, batch_size=8, checkpoint_every=10), tmp_path / "run.pt").fit(progress=False)
    assert written == [10, 20, 25]


# --- samplers: each option against its equation, written out independently ---------------------
def _abar(t):
    return SCHEDULE.alpha_bars[t].item() if t >= 0 else 1.0


@pytest.mark.parametrize("eta", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("clip, data_range", [(False, (-1.0, 1.0)), (True, (-1.0, 1.0)), (True, (-3.0, 0.5))])
def test_ddim_step_is_equation_12_for_every_eta_with_and_without_clipping(eta, clip, data_range):
    g = torch.Generator().manual_seed(1)
    x_t, predicted, z = (torch.randn(64, 2, generator=g, dtype=torch.float64) * 2 for _ in range(3))
    t, t_prev = 30, 17
    a, a_prev = _abar(t), _abar(t_prev)
    x0 = (x_t - math.sqrt(1 - a) * predicted) / math.sqrt(a)
    eps = predicted
    if clip:  # the clean image clipped, and the noise made consistent with it
        x0 = x0.clamp(*data_range)  # the model's range: [-1, 1] for images, the measured one for latents
        eps = (x_t - math.sqrt(a) * x0) / math.sqrt(1 - a)
    sigma = eta * math.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))  # eq. 16
    expected = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev - sigma**2) * eps + sigma * z  # eq. 12
    got = diffusion.ddim_step(SCHEDULE, predicted, t, t_prev, x_t, eta=eta, noise=z, clip_x0=clip,
                              data_range=data_range)
    assert torch.allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize("variance", ["posterior", "beta"])
def test_ddpm_step_uses_the_chosen_variance(variance):
    g = torch.Generator().manual_seed(2)
    x_t, eps, z = (torch.randn(32, 2, generator=g, dtype=torch.float64) for _ in range(3))
    t = 20
    beta, a, a_prev = SCHEDULE.betas[t].item(), _abar(t), _abar(t - 1)
    mean = (x_t - beta / math.sqrt(1 - a) * eps) / math.sqrt(1 - beta)
    var = beta * (1 - a_prev) / (1 - a) if variance == "posterior" else beta
    got = diffusion.ddpm_step(SCHEDULE, eps, t, x_t, noise=z, variance=variance)
    assert torch.allclose(got, mean + math.sqrt(var) * z, atol=1e-10)


@pytest.mark.parametrize("data_range", [(-1.0, 1.0), (-3.0, 0.5)])
def test_ddpm_step_with_clipping_forms_the_posterior_mean_from_the_clipped_clean_image(data_range):
    g = torch.Generator().manual_seed(3)
    x_t, eps, z = (torch.randn(32, 2, generator=g, dtype=torch.float64) * 3 for _ in range(3))
    t = 25
    beta, a, a_prev = SCHEDULE.betas[t].item(), _abar(t), _abar(t - 1)
    x0 = ((x_t - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(*data_range)
    mean = math.sqrt(a_prev) * beta / (1 - a) * x0 + math.sqrt(1 - beta) * (1 - a_prev) / (1 - a) * x_t  # eq. 7
    var = beta * (1 - a_prev) / (1 - a)
    got = diffusion.ddpm_step(SCHEDULE, eps, t, x_t, noise=z, clip_x0=True, data_range=data_range)
    assert torch.allclose(got, mean + math.sqrt(var) * z, atol=1e-10)


def test_the_bounds_prior_term_is_the_kl_of_the_last_noised_marginal_from_a_standard_normal():
    # KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1)) per dimension, in bits, averaged over pixels
    x0 = torch.linspace(-1, 1, 8, dtype=torch.float64).reshape(1, 8)
    a = SCHEDULE.alpha_bars[-1].item()
    mean, var = math.sqrt(a) * x0, 1 - a
    kl_nats = 0.5 * (var + mean**2 - 1 - math.log(var))
    expected_bits = (kl_nats / math.log(2)).mean().item()

    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t):
            return torch.zeros_like(x)

    result = bits_per_dim(Oracle(), SCHEDULE, x0.float(), progress=False)
    assert result["prior"] == pytest.approx(expected_bits, rel=1e-6, abs=1e-12)


def test_training_steps_are_uniform_over_every_step_both_ends_included():
    """Algorithm 1 draws t ~ Uniform{1, ..., T} (code: 0 .. T-1): every step, the first and the last included."""
    schedule = NoiseSchedule.linear(10)
    x0 = torch.zeros(20_000, 2)
    _, t, noise = diffusion.make_training_pairs(schedule, x0, torch.Generator().manual_seed(0))
    counts = torch.bincount(t, minlength=10).double()
    assert counts.shape == (10,) and counts.min() > 0
    expected = len(t) / 10
    assert (((counts - expected) ** 2) / expected).sum() < 33.7  # chi-square, 9 degrees of freedom, p = 1e-4
    assert abs(noise.mean()) < 0.03 and abs(noise.var() - 1) < 0.03


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samples_of_a_model_with_a_data_range_end_inside_that_range(sampler):
    """With clipping on (the default for a model with a range), the last step returns the clipped estimate of the
    clean data, so every sample lies in the model's own range, whatever that range is."""

    class Wild(torch.nn.Module):  # a noise predictor whose guesses are far too large
        data_range, sample_shape = (-3.0, 0.5), (2,)

        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(40.0))

        def forward(self, x, t):
            return self.scale * torch.sin(7 * x)

    x = diffusion.sample(Wild(), SCHEDULE, 256, sampler=sampler, steps=10 if sampler == "ddim" else None,
                         generator=torch.Generator().manual_seed(0), progress=False)
    assert x.min() >= -3.0 - 1e-6 and x.max() <= 0.5 + 1e-6
    assert x.min() < -1.5  # the range used is the model's, not [-1, 1]
