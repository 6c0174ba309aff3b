"""The trainer: exact resume, atomic checkpoints, clear errors, EMA."""

import pytest
import torch

from ddpm_from_scratch import diffusion
from ddpm_from_scratch.nn import MLPConfig, MLPDenoiser
from ddpm_from_scratch.schedules import NoiseSchedule
from ddpm_from_scratch.checkpoints import CheckpointError, load_checkpoint, load_model
from ddpm_from_scratch.train import NonFiniteLossError, TrainConfig, Trainer

SCHEDULE = NoiseSchedule.linear(100)
DATA = torch.randn(512, 2, generator=torch.Generator().manual_seed(0))
CONFIG = TrainConfig(steps=30, batch_size=32, lr=1e-3, warmup_steps=5, checkpoint_every=10, seed=1)


def loss_fn(model, x0, generator):
    return diffusion.denoising_loss(model, SCHEDULE, x0, generator)


def make(path=None, resume=False, seed=0, hidden=32, loss=loss_fn):
    torch.manual_seed(seed)  # a different initialisation each time, so resume must restore the weights
    model = MLPDenoiser(MLPConfig(hidden=hidden, num_layers=2))
    return Trainer(model, loss, DATA, CONFIG, checkpoint_path=path, resume=resume, device="cpu")


def same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_interrupted_and_resumed_training_equals_uninterrupted(tmp_path):
    full = make(tmp_path / "a.pt").fit(progress=False)
    part = make(tmp_path / "b.pt").fit(steps=17, progress=False)  # stop mid-way (between checkpoints)
    assert part.step == 17
    resumed = make(tmp_path / "b.pt", resume=True, seed=123)
    assert resumed.step == 17
    resumed.fit(progress=False)
    assert same_weights(full.model, resumed.model)
    assert same_weights(full.ema, resumed.ema)
    assert full.losses == resumed.losses


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path):
    calls = {"n": 0}

    def interrupting_loss(model, x0, generator):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        return loss_fn(model, x0, generator)

    with pytest.raises(KeyboardInterrupt):
        make(tmp_path / "c.pt", loss=interrupting_loss).fit(progress=False)
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 12
    resumed = make(tmp_path / "c.pt", resume=True, seed=5).fit(progress=False)
    full = make().fit(progress=False)
    assert same_weights(full.model, resumed.model)


def test_checkpoints_are_written_atomically(tmp_path):
    make(tmp_path / "d.pt").fit(progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["d.pt"]  # no temporary file left behind


def test_a_corrupt_checkpoint_raises_an_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.pt"
    make(path).fit(steps=10, progress=False)
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as by an interrupted copy
    with pytest.raises(CheckpointError, match="broken.pt"):
        make(path, resume=True)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="broken.pt.*corrupt"):
        load_model(path)
    torch.save({"something": "else"}, path)
    with pytest.raises(CheckpointError, match="not a ddpm-from-scratch checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_from_another_model_is_refused_with_the_difference(tmp_path):
    path = tmp_path / "mlp.pt"
    make(path, hidden=32).fit(steps=10, progress=False)
    with pytest.raises(CheckpointError, match=r"mlp\.pt.*hidden: checkpoint 32 vs model 64"):
        make(path, resume=True, hidden=64)


def test_a_non_finite_loss_stops_training_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    calls = {"n": 0}

    def exploding_loss(model, x0, generator):
        calls["n"] += 1
        loss = loss_fn(model, x0, generator)
        return loss * float("nan") if calls["n"] == 15 else loss

    path = tmp_path / "e.pt"
    trainer = make(path, loss=exploding_loss)
    with pytest.raises(NonFiniteLossError, match=r"nan at step 14.*e\.pt"):
        trainer.fit(progress=False)
    good = load_checkpoint(path)
    assert good["step"] == 10
    assert all(torch.isfinite(v).all() for v in good["model"].values())


def test_ema_lags_the_raw_weights_and_load_model_returns_it(tmp_path):
    trainer = make(tmp_path / "f.pt").fit(progress=False)
    assert not same_weights(trainer.model, trainer.ema)
    loaded = load_model(tmp_path / "f.pt")
    assert same_weights(loaded, trainer.ema) and not loaded.training
    raw = load_model(tmp_path / "f.pt", weights="model")
    assert same_weights(raw, trainer.model)


def test_exported_weights_cannot_be_resumed_but_load(tmp_path):
    trainer = make().fit(steps=5, progress=False)
    trainer.export(tmp_path / "w.pt")
    assert same_weights(load_model(tmp_path / "w.pt"), trainer.ema)
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        make(tmp_path / "w.pt", resume=True)


def test_training_lowers_the_loss():
    trainer = make().fit(steps=200, progress=False)
    assert sum(trainer.losses[-20:]) / 20 < 0.8 * sum(trainer.losses[:20]) / 20


def test_initialising_from_a_checkpoint_copies_its_weights_and_refuses_one_of_other_modules(tmp_path):
    from ddpm_from_scratch.checkpoints import load_checkpoint, save_checkpoint
    from ddpm_from_scratch.recipes import RECIPES, make_trainer

    recipe = RECIPES["moons"]
    trainer = make_trainer(recipe, steps=3, device="cpu").fit(progress=False)
    exported = trainer.export(tmp_path / "moons.pt", half=True)
    started = make_trainer(recipe, steps=3, device="cpu", init_from=exported)
    for name, weight in started.model.state_dict().items():  # float16 weights, loaded as float32
        assert weight.dtype == torch.float32
        assert torch.equal(weight, trainer.ema.state_dict()[name].half().float())
    assert torch.equal(started.ema.state_dict()[name], weight)  # the EMA starts there too
    assert started.header["metadata"]["initialised_from"]["steps"] == 3
    (run,) = started.header["metadata"]["runs"]  # the fit behind those weights, which this run's fits will follow
    assert run["steps"] == 3 and run["began"] == "from random weights"
    payload = load_checkpoint(exported)
    payload["requires"] = [{"name": "scenes_text", "fingerprint": "0123456789abcdef"}]
    save_checkpoint(payload, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="trained with other modules"):
        make_trainer(recipe, steps=3, device="cpu", init_from=tmp_path / "other.pt")
