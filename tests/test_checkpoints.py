"""The checkpoint format: safe loading, the whole schedule, old files, requirements, failed writes."""

import json
import os
import shutil

import pytest
import torch

from ddpm_from_scratch import __version__, checkpoints, pretrained
from ddpm_from_scratch.checkpoints import (CheckpointError, check_requirement, describe, load_checkpoint, load_model,
                                           requirement, save_checkpoint, schedule_of)
from ddpm_from_scratch.nn import MLPConfig, MLPDenoiser, UNet, UNetConfig
from ddpm_from_scratch.schedules import NoiseSchedule


def small_mlp(seed=0):
    torch.manual_seed(seed)
    return MLPDenoiser(MLPConfig(hidden=16, num_layers=1))


def exported(model, path, **header):
    return save_checkpoint({**describe(model, **header), "ema": model.state_dict()}, path)


class RunsCode:
    """Unpickling this object would call os.system: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_whose_unpickling_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pt"
    model = small_mlp()
    torch.save({**describe(model), "format": checkpoints.CHECKPOINT_FORMAT, "ema": model.state_dict(),
                "payload": RunsCode(marker)}, path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"evil\.pt.*could run code.*refused"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="refused"):
        pretrained.load_file(path)
    assert not marker.exists()
    assert path.read_bytes() == before  # the file is left as it was


def test_the_whole_schedule_travels_with_the_model(tmp_path):
    for schedule in (NoiseSchedule.linear(50, beta_start=2e-4, beta_end=0.05), NoiseSchedule.cosine(80, s=0.02),
                     NoiseSchedule(torch.linspace(0.01, 0.2, 7), kind="custom")):
        path = exported(small_mlp(), tmp_path / "m.pt", schedule=schedule)
        loaded = schedule_of(load_checkpoint(path))
        assert loaded.kind == schedule.kind and loaded.num_steps == schedule.num_steps
        assert torch.equal(loaded.betas, schedule.betas)


def test_a_checkpoint_records_version_range_and_a_fingerprint_of_its_weights(tmp_path):
    model = UNet(UNetConfig(image_size=8, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                            attention_resolutions=(), num_groups=4))
    payload = load_checkpoint(exported(model, tmp_path / "u.pt", schedule=NoiseSchedule.cosine(10)))
    assert payload["package_version"] == __version__
    assert payload["data_range"] == [-1.0, 1.0] and payload["scale_factor"] is None and payload["requires"] == []
    assert payload["fingerprint"] == checkpoints.fingerprint(model.state_dict())
    other = small_mlp(seed=1)
    assert checkpoints.fingerprint(other.state_dict()) != checkpoints.fingerprint(small_mlp(seed=2).state_dict())
    assert load_checkpoint(exported(other, tmp_path / "o.pt"))["data_range"] is None  # points: no range


@pytest.mark.parametrize("name", ["digits", "shapes", "digits_classifier"])
def test_shipped_files_of_format_1_still_load_with_every_field_filled_in(name):
    path = pretrained.CHECKPOINT_DIR / f"{name}.pt"
    raw = torch.load(path, weights_only=True)
    payload = load_checkpoint(path)
    if raw["format"] == "ddpm-from-scratch/1":
        assert payload["format"] == checkpoints.CHECKPOINT_FORMAT
    if name == "digits_classifier":
        assert payload["schedule"] is None and payload["data_range"] is None
    else:
        assert payload["schedule"] == NoiseSchedule.cosine().spec()
        assert payload["data_range"] == [-1.0, 1.0]
    model = load_model(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), raw["ema"].values()))


def test_a_checkpoint_from_a_newer_format_says_to_upgrade_and_is_left_alone(tmp_path):
    path = exported(small_mlp(), tmp_path / "future.pt")
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "format": "ddpm-from-scratch/99"}, path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"future\.pt.*newer.*Upgrade"):
        load_checkpoint(path)
    assert path.read_bytes() == before


def test_weights_changed_after_saving_are_caught_by_the_fingerprint(tmp_path):
    path = exported(small_mlp(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["ema"]["input.weight"][0, 0] += 1e-3
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"m\.pt.*fingerprint"):
        load_checkpoint(path)


def test_a_model_loaded_with_another_than_the_checkpoint_it_requires_is_refused_naming_both(tmp_path):
    encoder_a = load_checkpoint(exported(small_mlp(seed=1), tmp_path / "encoder_a.pt"))
    path_b = exported(small_mlp(seed=2), tmp_path / "encoder_b.pt")
    generator_path = exported(small_mlp(seed=3), tmp_path / "generator.pt",
                              requires=[requirement("encoder", encoder_a)])
    generator = load_checkpoint(generator_path)
    check_requirement(generator, generator_path, "encoder", encoder_a, tmp_path / "encoder_a.pt")  # the right one
    with pytest.raises(CheckpointError, match=r"generator\.pt.*encoder_b\.pt"):
        check_requirement(generator, generator_path, "encoder", load_checkpoint(path_b), path_b)
    with pytest.raises(CheckpointError, match="does not use a 'decoder'"):
        check_requirement(generator, generator_path, "decoder", encoder_a, tmp_path / "encoder_a.pt")


def test_a_failed_write_keeps_the_last_good_checkpoint_and_says_what_to_do(tmp_path, monkeypatch):
    path = exported(small_mlp(seed=1), tmp_path / "run" / "checkpoint.pt")
    good = path.read_bytes()

    def disk_full(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match=r"No space left.*checkpoint\.pt is unchanged.*disk space"):
        exported(small_mlp(seed=2), path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt"]  # no temporary file left
    load_checkpoint(path)


def test_a_card_is_replaced_whole_or_not_at_all(tmp_path):
    """Cards are written like checkpoints: beside their place, then renamed over it (train --ship, evaluate
    --write-card), so a crash mid-write leaves the old card readable."""
    path = checkpoints.write_card({"steps": 1}, tmp_path / "m.json")

    def crash(tmp):
        tmp.write_text('{"steps": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        checkpoints.replace_atomically(path, crash)
    assert json.loads(path.read_text()) == {"steps": 1} and [p.name for p in tmp_path.iterdir()] == ["m.json"]
    checkpoints.write_card({"steps": 2, "note": "64×64 — resumed"}, path)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"steps": 2, "note": "64×64 — resumed"} and "64×64 — resumed" in text  # prose stays readable


def test_writing_into_a_path_that_cannot_be_a_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the run directory should be")
    with pytest.raises(CheckpointError, match="could not write a checkpoint.*writable output directory"):
        exported(small_mlp(), blocker / "checkpoint.pt")


def test_a_directory_or_a_text_file_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.txt is not a readable checkpoint"):
        load_checkpoint(text)
    shutil.copy(pretrained.CHECKPOINT_DIR / "digits.json", tmp_path / "card.pt")
    with pytest.raises(CheckpointError, match=r"card\.pt"):
        load_checkpoint(tmp_path / "card.pt")


def test_the_modules_a_model_requires_are_found_by_their_role():
    from ddpm_from_scratch.checkpoints import required

    capstone = {"requires": [{"name": "scenes_text_hard", "fingerprint": "a"},
                             {"name": "scenes64_autoencoder", "fingerprint": "b"}]}
    chapter_04 = {"requires": [{"name": "shapes", "fingerprint": "c"},
                               {"name": "shapes_autoencoder", "fingerprint": "d"}]}
    assert required(capstone, "text encoder") == "scenes_text_hard"
    assert required(capstone, "autoencoder") == "scenes64_autoencoder"
    assert required(chapter_04, "text encoder") == "shapes"
    assert required({"requires": []}, "autoencoder") is None
    with pytest.raises(ValueError, match="unknown role 'decoder'"):
        required(capstone, "decoder")
    # entries written with their role are found by it, whatever their names
    from ddpm_from_scratch.checkpoints import requirement

    named = {"requires": [requirement("my_codec", {"fingerprint": "e"}, "autoencoder"),
                          requirement("words", {"fingerprint": "f"}, "text encoder")]}
    assert required(named, "autoencoder") == "my_codec" and required(named, "text encoder") == "words"
    with pytest.raises(ValueError, match="unknown role 'decoder'"):
        requirement("x", {"fingerprint": "g"}, "decoder")


def test_a_model_trained_in_python_gets_the_card_train_writes():
    from ddpm_from_scratch import recipes
    from ddpm_from_scratch.checkpoints import make_card

    recipe = recipes.get_recipe("moons")
    trainer = recipes.make_trainer(recipe, steps=3, device="cpu").fit(progress=False)
    card = make_card(trainer, recipe)
    (run,) = card["runs"]  # one fit, from random weights
    assert card["recipe"] == "moons" and card["steps"] == run["steps"] == 3 and run["seed"] == recipe.train_config.seed
    assert run["began"] == "from random weights" and run["command"].startswith("Trainer.fit, called from Python")
    assert "CPU" in run["hardware"] and card["wall_time_s"] == run["wall_time_s"] == round(trainer.wall_time, 1)
    assert card["parameters"] == sum(p.numel() for p in trainer.model.parameters())
    assert card["final_loss_avg_last_100"] == pytest.approx(sum(trainer.losses) / len(trainer.losses))
    assert "initialised_from" not in card and "data" not in card
