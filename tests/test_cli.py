"""The command line: recipes, exit codes, resume, JSON output."""

import json
import subprocess
import sys

import pytest
import torch

from ddpm_from_scratch import cli, pretrained
from ddpm_from_scratch.checkpoints import load_checkpoint
from ddpm_from_scratch.recipes import RECIPES


def test_an_unknown_recipe_lists_the_known_ones_and_exits_with_status_2():
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "train", "--recipe", "cats"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    for name in RECIPES:
        assert name in result.stderr


def test_help_names_every_command_and_recipe(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ["train", "sample", "evaluate", *RECIPES]:
        assert word in out


def test_train_resume_and_sample_a_toy_recipe(tmp_path, capsys):
    out = tmp_path / "moons"
    cli.main(["train", "--recipe", "moons", "--steps", "20", "--out", str(out), "--quiet", "--device", "cpu"])
    assert (out / "checkpoint.pt").exists() and (out / "moons.pt").exists()
    card = json.loads((out / "moons.json").read_text())
    assert card["steps"] == 20 and card["runs"][0]["seed"] == RECIPES["moons"].train_config.seed
    with pytest.raises(SystemExit) as exit_info:  # refuses to overwrite a run silently
        cli.main(["train", "--recipe", "moons", "--steps", "30", "--out", str(out), "--quiet"])
    assert exit_info.value.code == 2 and "--resume" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="data_workers=1: the batches drawn from here on differ"):
        cli.main(["train", "--recipe", "moons", "--steps", "30", "--out", str(out), "--quiet", "--resume",
                  "--device", "cpu", "--data-workers", "1"])  # the batches from here on drawn by a worker process
    assert "from step 20 to 30" in capsys.readouterr().out
    assert json.loads((out / "moons.json").read_text())["data_workers"] == 1
    png = tmp_path / "moons.png"
    cli.main(["sample", "--recipe", "moons", "--checkpoint", str(out / "moons.pt"), "--num-samples", "50",
              "--steps", "5", "--out", str(png), "--quiet", "--device", "cpu"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_card_lists_every_run_behind_its_weights_one_record_a_fit(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    cli.main(["train", "--recipe", "moons", "--steps", "6", "--out", str(first), "--quiet", "--device", "cpu",
              "--half"])
    cli.main(["train", "--recipe", "moons", "--steps", "2", "--out", str(second), "--quiet", "--device", "cpu",
              "--init-from", str(first / "moons.pt"), "--seed", "1"])
    card = json.loads((second / "moons.json").read_text())
    fingerprint = load_checkpoint(first / "moons.pt")["fingerprint"]
    assert [(run["steps"], run["seed"]) for run in card["runs"]] == [(6, 0), (2, 1)] and card["steps"] == 8
    assert card["runs"][0]["began"] == "from random weights" and "--half" in card["runs"][0]["command"]
    assert card["runs"][1]["began"] == f"from the weights {fingerprint} (moons.pt)"
    with pytest.raises(SystemExit) as exit_info:  # resumed with another seed: other batches than the run's
        cli.main(["train", "--recipe", "moons", "--steps", "5", "--out", str(second), "--quiet", "--resume"])
    assert exit_info.value.code == 2 and "train --seed 1 --resume" in capsys.readouterr().err
    # continued with --resume: one more record; the runs behind the weights it began from stay first
    cli.main(["train", "--recipe", "moons", "--steps", "5", "--out", str(second), "--quiet", "--device", "cpu",
              "--resume", "--seed", "1"])
    card = json.loads((second / "moons.json").read_text())
    assert [run["steps"] for run in card["runs"]] == [6, 2, 3] and card["steps"] == 11
    assert card["runs"][2]["began"] == "resumed at step 2" and "--resume" in card["runs"][2]["command"]
    assert card["wall_time_s"] == pytest.approx(sum(run["wall_time_s"] for run in card["runs"]), abs=0.2)
    # shipped, then trained further from the shipped weights: the new card lists all four runs
    package = tmp_path / "package"  # stands for ddpm_from_scratch/checkpoints
    package.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pretrained, "CHECKPOINT_DIR", package)
        cli.main(["train", "--recipe", "moons", "--steps", "5", "--out", str(second), "--quiet", "--device", "cpu",
                  "--resume", "--seed", "1", "--ship"])  # nothing left to train: exports and ships
        assert json.loads((package / "moons.json").read_text()) == card
        cli.main(["train", "--recipe", "moons", "--steps", "1", "--out", str(tmp_path / "third"), "--quiet",
                  "--device", "cpu", "--init-from", str(package / "moons.pt"), "--seed", "2", "--ship"])
        shipped = pretrained.load("moons")
    assert [run["steps"] for run in shipped.card["runs"]] == [6, 2, 3, 1] and shipped.card["steps"] == 12
    assert "metrics" not in shipped.card  # the new weights are measured by evaluate --write-card
    with pytest.raises(SystemExit) as exit_info:  # --init-from would be ignored by a resumed run: refused
        cli.main(["train", "--recipe", "moons", "--steps", "7", "--out", str(second), "--quiet", "--resume",
                  "--seed", "1", "--init-from", str(first / "moons.pt")])
    assert exit_info.value.code == 2 and "pass --resume alone" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # another model's weights
        cli.main(["train", "--recipe", "digits", "--steps", "1", "--out", str(tmp_path / "digits"), "--quiet",
                  "--init-from", str(first / "moons.pt")])
    assert exit_info.value.code == 2 and "holds a MLPDenoiser, not a UNet" in capsys.readouterr().err


def test_evaluate_prints_one_json_object_as_its_last_line():
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "evaluate", "--recipe", "digits",
                             "--num-samples", "10", "--steps", "3", "--quiet", "--device", "cpu"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"recognisable_fraction", "real_recognisable_fraction", "class_counts", "fid", "fid_real_floor",
            "kid", "kid_std_error"} <= set(metrics)
    assert metrics["fid"] >= 0 and metrics["fid_real_floor"] >= 0
    assert 0 <= metrics["recognisable_fraction"] <= 1 and sum(metrics["class_counts"]) <= 10
    assert metrics["real_recognisable_fraction"] > 0.9  # the classifier recognises real held-out digits


@pytest.fixture(scope="module")
def tiny_shapes_checkpoint(tmp_path_factory):
    """The shapes recipe's model after 2 training steps: enough to exercise every text code path."""
    out = tmp_path_factory.mktemp("shapes")
    cli.main(["train", "--recipe", "shapes", "--steps", "2", "--out", str(out), "--quiet", "--device", "cpu"])
    return out / "shapes.pt"


def test_generate_writes_a_png_and_names_unknown_words(tiny_shapes_checkpoint, tmp_path):
    out = tmp_path / "img.png"
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "generate", "a small red circle in the top left",
                             "a purple star", "--unconditional", "--checkpoint", str(tiny_shapes_checkpoint), "--steps", "2",
                             "--out", str(out), "--quiet", "--device", "cpu"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "unknown words ['purple', 'star']" in result.stderr
    assert "3 prompt(s)" in result.stdout


def test_generate_refuses_a_model_without_text(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "a red circle", "--checkpoint",
                  str(cli.pretrained.CHECKPOINT_DIR / "digits.pt"), "--out", str(tmp_path / "x.png"), "--quiet"])
    assert exit_info.value.code == 2 and "not a text-to-image model" in capsys.readouterr().err


def test_evaluate_shapes_reports_seen_and_heldout_agreement(tiny_shapes_checkpoint):
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "evaluate", "--recipe", "shapes",
                             "--checkpoint", str(tiny_shapes_checkpoint), "--num-samples", "6", "--steps", "2",
                             "--guidance-scale", "2", "--quiet", "--device", "cpu"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["guidance_scale"] == 2.0
    for key in ("attribute_accuracy_seen", "attribute_accuracy_heldout", "attribute_accuracy_seen_at_guidance_1",
                "attribute_accuracy_heldout_at_guidance_1"):
        assert 0 <= metrics[key] <= 1
    # two training steps cannot draw the prompt; the shipped judge still reads real scenes right
    assert metrics["attribute_accuracy_seen"] < 0.5
    assert metrics["classifier_accuracy_real_seen"] >= 0.99 and metrics["classifier_accuracy_real_heldout"] >= 0.99


def test_evaluate_digits_reports_bits_per_dim_with_its_estimator():
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "evaluate", "--recipe", "digits",
                             "--num-samples", "8", "--steps", "2", "--bpd-images", "3", "--bpd-steps", "4",
                             "--quiet", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["bits_per_dim_images"] == 3 and "4 importance-sampled" in metrics["bits_per_dim_estimate"]
    assert 0 < metrics["bits_per_dim"] < 8  # far below a uniform model's 8 bits/dim


@pytest.mark.parametrize("route", ["latent", "cascade"])
def test_generate_draws_32px_scenes_through_a_route(route, tmp_path):
    out = tmp_path / f"{route}.png"
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "generate", "a big green triangle in the top left",
                             "--pipeline", route, "--steps", "2", "--out", str(out), "--quiet", "--device", "cpu"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"{route} pipeline" in result.stdout


def test_a_latent_generator_without_its_decoder_is_refused(tmp_path, capsys):
    from ddpm_from_scratch import pretrained

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "a red circle", "--checkpoint", str(pretrained.CHECKPOINT_DIR / "shapes_latent.pt"),
                  "--pipeline", "pixel", "--out", str(tmp_path / "x.png"), "--quiet"])
    assert exit_info.value.code == 2 and "use --pipeline scenes64 or latent" in capsys.readouterr().err


def test_an_image_generator_is_not_sent_through_a_decoder(tmp_path, capsys):
    from ddpm_from_scratch import pretrained

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "a red circle", "--checkpoint", str(pretrained.CHECKPOINT_DIR / "shapes.pt"),
                  "--pipeline", "scenes64", "--out", str(tmp_path / "x.png"), "--quiet"])
    assert exit_info.value.code == 2 and "draws images, not latents" in capsys.readouterr().err


def test_generate_draws_the_capstone_by_default(tmp_path):
    out = tmp_path / "scene.png"
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "generate",
                             "a big red star to the left of a small blue ring", "--steps", "2", "--out", str(out),
                             "--quiet", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "scenes64 pipeline" in result.stdout
    assert "eta 1" in result.stdout  # the card's sampler: DDIM with DDPM's noise at every step


@pytest.mark.parametrize("argv, message", [
    (["generate", "", "--out", "{tmp}/a.png"], "prompt 1 is empty; to generate without text pass --unconditional"),
    (["generate", "--out", "{tmp}/a.png"], "give at least one prompt"),
    (["generate", "a red circle", "   ", "--out", "{tmp}/a.png"], "prompt 2 is empty"),
    (["generate", "一个红色的圆", "--out", "{tmp}/a.png"], "has no word this model reads"),
    (["generate", "a red circle " * 50, "--out", "{tmp}/a.png"], "has 150 words; the model reads at most 24"),
    (["generate", "a red circle " * 50, "--pipeline", "pixel", "--out", "{tmp}/a.png"], "the model reads at most 15"),
    (["generate", "a red circle", "--out", "{tmp}/missing/a.png"], "does not exist; create it first"),
    (["generate", "a red circle", "--out", "{tmp}/a.txt"], "name an image file"),
    (["generate", "a red circle", "--out", "{tmp}"], "name an image file"),
    (["generate", "a red circle", "--guidance-scale", "nan"], "must be a finite number"),
    (["generate", "a red circle", "--pipeline", "jpeg"], "invalid choice: 'jpeg'"),
    (["generate", "a red circle", "--device", "gpu0"], "is not a device: use cpu, cuda"),
    (["generate", "a red circle", "--device", "cuda:7"], "--device cuda:7"),
    (["sample", "--recipe", "digits", "--out", "{tmp}/samples.bmp"], "name an image file"),
    (["sample", "--recipe", "digits", "--sampler", "euler"], "invalid choice: 'euler'"),
    (["sample", "--recipe", "cats"], "invalid choice: 'cats'"),
    (["evaluate", "--recipe", "digits", "--num-samples", "0"], "must be 1 or more"),
    (["evaluate", "--recipe", "digits", "--bpd-images", "-3"], "must be 0 or more"),
    (["evaluate", "--recipe", "shapes", "--guidance-scale", "inf"], "must be a finite number"),
    (["evaluate", "--recipe", "digits", "--checkpoint", "{tmp}/none.pt"], "no checkpoint at"),
    (["train", "--recipe", "moons", "--steps", "ten"], "expected a whole number, got 'ten'"),
    # sampling settings outside the model's reverse process of T = 1000 steps, refused once the checkpoint is read
    (["sample", "--recipe", "digits", "--steps", "100000", "--out", "{tmp}/a.png"],
     "ddim with 100000 steps: the reverse process has only 1000 steps (t = 999 down to 0); ask for at most 1000"),
    (["sample", "--recipe", "digits", "--sampler", "ddpm", "--steps", "10", "--out", "{tmp}/a.png"],
     "the DDPM sampler visits all 1000 steps of the reverse process; sample fewer with the ddim sampler"),
    (["evaluate", "--recipe", "digits", "--sampler", "dpm++2m", "--steps", "1001"], "ask for at most 1000"),
    (["evaluate", "--recipe", "shapes_cascade", "--steps", "100000"], "ask for at most 1000"),  # a pipeline recipe
    (["evaluate", "--recipe", "digits", "--sampler", "dpm++2m", "--eta", "0.5"], "--sampler dpm++2m does not take it"),
    (["generate", "a red circle", "--pipeline", "pixel", "--steps", "5000", "--out", "{tmp}/a.png"],
     "ask for at most 1000"),
    (["generate", "a red circle", "--sampler", "ddpm", "--steps", "50", "--out", "{tmp}/a.png"], "visits all 1000 steps"),
])
def test_every_bad_input_is_one_line_and_status_2_before_any_work(argv, message, tmp_path, capsys):
    """Each mistake is named in the last line of stderr, exit status 2, no traceback, and no file written."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--quiet"]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert message in err.strip().splitlines()[-1], err
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_a_step_count_beyond_the_schedule_is_one_line_and_status_2_in_a_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "sample", "--recipe", "digits", "--steps",
                             "100000", "--out", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("sampler", ["ddim", "dpm++2m", "dpm++2m-sde"])
def test_sample_and_generate_take_each_few_step_sampler_by_name(sampler, tmp_path, capsys):
    cli.main(["sample", "--recipe", "digits", "--sampler", sampler, "--steps", "3", "--num-samples", "2",
              "--out", str(tmp_path / "digits.png"), "--quiet", "--device", "cpu"])
    cli.main(["generate", "a red circle", "--pipeline", "pixel", "--sampler", sampler, "--steps", "3",
              "--out", str(tmp_path / "img.png"), "--quiet", "--device", "cpu"])
    assert (tmp_path / "digits.png").exists() and (tmp_path / "img.png").exists()
    assert f"(pixel pipeline, {sampler}, guidance scale" in capsys.readouterr().out


def test_the_unconditional_row_is_asked_for_by_name(tmp_path, capsys):
    out = tmp_path / "uncond.png"
    cli.main(["generate", "a red circle", "--unconditional", "--steps", "2", "--out", str(out), "--quiet"])
    assert out.exists() and "for 2 prompt(s)" in capsys.readouterr().out


def test_a_process_given_a_bad_prompt_prints_one_line_and_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "generate", "", "--out",
                             str(tmp_path / "a.png")], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr


def test_a_training_run_stopped_by_ctrl_c_says_how_to_resume_and_exits_130_without_a_traceback(tmp_path, capsys,
                                                                                                 monkeypatch):
    """What `timeout -s INT` does to a long run (chapter 07's CPU runs): the trainer checkpoints the step it reached,
    the command ends with one line and status 130, --resume goes on from there, and the card names the step."""
    from ddpm_from_scratch import train

    step = train.Trainer.train_step

    def interrupted_at_step_5(self):
        if self.step == 5:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(train.Trainer, "train_step", interrupted_at_step_5)
    out = tmp_path / "moons"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--recipe", "moons", "--steps", "20", "--out", str(out), "--quiet", "--device", "cpu"])
    printed = capsys.readouterr()
    assert exit_info.value.code == 130 and printed.err == "stopped by an interrupt (Ctrl-C)\n"
    assert "interrupted at step 5; checkpoint saved" in printed.out
    monkeypatch.undo()
    cli.main(["train", "--recipe", "moons", "--steps", "20", "--out", str(out), "--quiet", "--device", "cpu",
              "--resume"])
    assert "from step 5 to 20" in capsys.readouterr().out
    card = json.loads((out / "moons.json").read_text())  # the card says where the clock (or a hand) stopped it
    assert [(run["steps"], run.get("interrupted")) for run in card["runs"]] == [(5, True), (15, None)]
    assert card["runs"][1]["began"] == "resumed at step 5"


def test_train_half_stores_float16_weights_that_load_as_float32(tmp_path):
    from ddpm_from_scratch.checkpoints import load_checkpoint, load_model

    cli.main(["train", "--recipe", "moons", "--steps", "3", "--out", str(tmp_path), "--quiet", "--device", "cpu",
              "--half"])
    payload = load_checkpoint(tmp_path / "moons.pt")
    assert all(v.dtype == torch.float16 for v in payload["ema"].values() if v.is_floating_point())
    full = load_checkpoint(tmp_path / "checkpoint.pt")["ema"]
    model = load_model(tmp_path / "moons.pt")
    for key, value in model.state_dict().items():
        assert value.dtype == torch.float32 and torch.allclose(value, full[key], rtol=1e-3, atol=1e-4), key
    card = json.loads((tmp_path / "moons.json").read_text())
    assert card["weights_stored_as"] == "float16" and card["runs"][0]["precision"] == "float32"
