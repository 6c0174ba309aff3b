"""Chapter 07's shipped modules and measures: the judge, the contrastive text encoder, the autoencoder, the generator."""

import json
from dataclasses import replace

import pytest
import torch

from ddpm_from_scratch import evaluation, pretrained, recipes
from ddpm_from_scratch.data import scenes, shapes
from ddpm_from_scratch.diffusion import Sampling
from ddpm_from_scratch.schedules import NoiseSchedule


@pytest.fixture(scope="module")
def judge():
    return pretrained.load("scenes_judge", "cpu").model


@pytest.fixture(scope="module")
def text_model():
    return pretrained.load("scenes_text", "cpu").model


class RenderingRoute:
    """A stand-in for a text-to-image route: draws each prompt as the real scene it was written for (or blank)."""

    sampling, schedule = Sampling(guidance_scale=0.0), NoiseSchedule.cosine()

    def __init__(self, by_caption: dict, blank: bool = False):
        self.by_caption, self.blank = by_caption, blank

    def __call__(self, prompts, seed=0, progress=False, **sampling):
        images = torch.stack([self.by_caption[p] for p in prompts])
        return torch.full_like(images, -1.0) if self.blank else images


def _real_images_of_the_prompts(num_samples: int, seed: int = 0, size: int = 32) -> dict:
    by_caption = {}
    for number, (kind, heldout) in enumerate(evaluation.CAPSTONE_SPLITS.values()):  # as evaluate_scenes draws them
        images, captions, _ = scenes.make_scenes(num_samples, size, seed=seed + 10 * number, heldout=heldout, kind=kind)
        by_caption.update(zip(captions, images))
    return by_caption


def test_prompt_agreement_is_high_for_real_scenes_and_zero_for_blank_images(judge, text_model):
    by_caption = _real_images_of_the_prompts(60)
    real = evaluation.evaluate_scenes(RenderingRoute(by_caption), judge, text_model, num_samples=60)
    for split in evaluation.CAPSTONE_SPLITS:
        assert real[f"agreement_{split}"] >= 0.9, (split, real)
    assert set(real["per_relation"]) == set(scenes.RELATIONS)
    assert real["clip_score"] == pytest.approx(real["clip_score_real"], abs=0.01)  # the same images
    blank = evaluation.evaluate_scenes(RenderingRoute(by_caption, blank=True), judge, text_model, num_samples=60)
    assert all(blank[f"agreement_{split}"] == 0.0 for split in evaluation.CAPSTONE_SPLITS)
    assert blank["fid"] > 10 * max(real["fid"], 1.0)


def test_64x64_images_are_judged_at_the_judge_s_32x32(judge, text_model):
    """The `gpu` configuration draws 64x64 scenes; the judge and the contrastive image encoder read them averaged
    over 2x2 blocks, so real 64x64 scenes agree with their prompts as real 32x32 ones do."""
    real = evaluation.evaluate_scenes(RenderingRoute(_real_images_of_the_prompts(40, size=64)), judge, text_model,
                                      num_samples=40)
    for split in evaluation.CAPSTONE_SPLITS:
        assert real[f"agreement_{split}"] >= 0.9, (split, real)
    images, _, truth = scenes.make_scenes(100, 64, seed=4321, heldout=True)
    assert evaluation.read_scenes(judge, images, truth)["objects_right"] >= 0.97
    with pytest.raises(ValueError, match="cannot downscale 48x48 images to 32x32: the size must divide the image size"):
        evaluation.read_scenes(judge, torch.zeros(1, 3, 48, 48), truth[:1])


def test_the_shipped_judge_reads_held_out_scenes_it_never_saw(judge):
    images, _, truth = scenes.make_scenes(200, 32, seed=12345, heldout=True)
    assert evaluation.read_scenes(judge, images, truth)["objects_right"] >= 0.97


def test_the_shipped_text_encoder_retrieves_images_from_captions(text_model):
    results = evaluation.evaluate_scenes_text(text_model, num_samples=100, seed=54321)
    assert results["retrieval_top1_seen"] > 20 * results["chance_top1"]
    assert results["clip_score_real_seen"] > results["clip_score_mismatched_seen"] + 5


def test_hard_negatives_teach_the_text_encoder_relations_that_the_plain_loss_leaves_at_chance(text_model):
    """200 scenes with relations: how often does an image's own caption score above the same caption with its
    relation turned round? The cards measure 0.48 (plain) and 0.98 (hard negatives) on 500."""
    hard = pretrained.load("scenes_text_hard", "cpu").model
    plain = evaluation.scenes._rejects_contradictions(text_model, 200, ("relation", "three"), False, seed=2)
    taught = evaluation.scenes._rejects_contradictions(hard, 200, ("relation", "three"), False, seed=2)
    assert plain < 0.6 and taught > 0.9, (plain, taught)
    assert recipes.get_recipe("scenes64_latent").parts["text encoder"] == "scenes_text_hard"


def test_the_capstone_recipes_name_the_modules_they_were_trained_with():
    for name in ("scenes_judge", "scenes_text", "scenes_text_hard", "scenes_autoencoder", "scenes_latent"):
        card = pretrained.card(name)
        assert card["recipe"] == name and card["steps"] == recipes.get_recipe(name).train_config.steps
        assert card["metrics"], name


def test_a_card_whose_weights_no_longer_ship_says_so_when_they_are_asked_for():
    """scenes_latent (the 32x32 generator) left the package, beaten on every split by scenes64_latent; its card
    stays for the figures chapter 07 quotes, and asking for its weights says where they went."""
    assert "scenes_latent" not in pretrained.available() and "scenes" not in recipes.ROUTES
    card = pretrained.card("scenes_latent")
    assert card["metrics"]["agreement_relation_seen"] < pretrained.card("scenes64_latent")["metrics"][
        "agreement_relation_seen"]
    with pytest.raises(FileNotFoundError, match="no longer ship.*git show 01ca98a.*train --recipe scenes_latent"):
        pretrained.load("scenes_latent")
    for card_path in pretrained.CHECKPOINT_DIR.glob("*.json"):  # every other card sits beside its weights
        assert card_path.with_suffix(".pt").exists() or "weights_not_shipped" in json.loads(card_path.read_text())


def test_the_gpu_check_runs_end_to_end_and_counts_the_flops_of_a_step():
    """benchmarks/gpu_check.py on this CPU, three steps: the JSON line it prints, and FLOPs that match the
    network's size (a training step costs about 3 forward passes: forward, and backward twice over)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(script), "--recipe", "digits", "--steps", "3", "--warmup", "1",
                             "--sample-batch", "2", "--device", "cpu"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["recipe"] == "digits" and figures["timed_steps"] == 3 and figures["mfu"] is None
    # the digits U-Net: about 0.2 GFLOP per 16x16 image forward, batch 64, x3 for a training step
    assert 10 < figures["gflop_per_step"] < 100, figures
    assert figures["sample_ms_per_image_ddim50"] > 0 and figures["images_per_s"] > 0


@pytest.mark.parametrize("name", ["scenes_autoencoder", "scenes64_autoencoder"])
def test_the_generator_clips_to_a_range_that_holds_the_scaled_latents(name):
    autoencoder = pretrained.load(name, "cpu")
    images, _, _ = scenes.make_scenes(1000, autoencoder.model.config.image_size, seed=77, heldout=False)
    with torch.no_grad():
        z = autoencoder.model.encode(images).sample(torch.Generator().manual_seed(0))
    scaled = autoencoder.header["scale_factor"] * z
    low, high = recipes.CAPSTONE_LATENT_RANGE
    assert low < scaled.min() and scaled.max() < high
    assert 0.9 < scaled.std() < 1.1  # the scale factor makes the latents' spread that of the noise


def test_the_three_shipped_capstone_modules_fit_in_40_mb_and_belong_together():
    names = ("scenes_text_hard", "scenes64_autoencoder", "scenes64_latent")
    assert sum((pretrained.CHECKPOINT_DIR / f"{name}.pt").stat().st_size for name in names) < 40e6
    route = recipes.route("scenes64", "cpu")  # checks the generator's requirements against the two modules
    generator = pretrained.load("scenes64_latent", "cpu")
    assert all(p.dtype == torch.float32 for p in generator.model.parameters())  # stored float16, runs float32
    assert route.decoder.autoencoder.config.image_size == 64
    text = pretrained.load("scenes_text_hard", "cpu").model
    frozen = generator.model.text_encoder.state_dict()
    assert all(torch.allclose(frozen[k], v, atol=1e-3) for k, v in text.text_encoder.state_dict().items())
    assert route.sampling.guidance_scale == generator.card["guidance_scale"]
    assert route.sampling.eta == generator.card["eta"] == generator.card["metrics"]["eta"]


def test_the_capstone_route_samples_with_its_card_s_eta_unless_told_otherwise():
    """The card's eta (1: DDIM with DDPM's noise) is the route's default; eta = 0 is the deterministic sampler."""
    route = recipes.route("scenes64", "cpu")
    prompts = ["a big red circle", "two small blue squares"]
    default = route.compressed(prompts, steps=4, seed=3)
    assert torch.equal(default, route.compressed(prompts, steps=4, seed=3, eta=route.sampling.eta))
    deterministic = route.compressed(prompts, steps=4, seed=3, eta=0.0)
    assert (default - deterministic).abs().max() > 0.1  # the noise added at each step changes the sample


def test_the_shipped_generator_draws_the_prompted_colour_far_more_often_than_chance(judge):
    """12 single-object prompts, DDIM-50 with the card's eta: the judge finds an object of the prompted colour in at
    least half of the images (chance: one colour in eight; the card measures about 0.9 at 500 per split)."""
    route = recipes.route("scenes64", "cpu")
    _, captions, truth = scenes.make_scenes(12, 32, seed=5, heldout=False, kind="single")
    images = route(captions, steps=50, seed=0)
    found = scenes.named_objects(judge.read(shapes.downscale(images, 32)))
    right = sum(any(o["colour"] == scene.objects[0].colour for o in objects) for scene, objects in zip(truth, found))
    assert right >= 6, right


def test_the_generator_s_scenes_are_rendered_where_it_trains_and_cross_worker_processes_intact(text_model):
    """scenes_latent's data: worker processes draw scenes and captions (no pixels), ``finish`` renders and encodes
    them on the training device. A batch drawn in a worker process (through the DataLoader that data_workers
    uses) is the batch drawn in this one: the same scenes, captions and latents."""
    from types import SimpleNamespace

    from ddpm_from_scratch.train import _DrawnAhead, _stream_seed

    data = recipes.get_recipe("scenes_latent").data(SimpleNamespace(tokenizer=text_model.tokenizer), 0)
    loader = torch.utils.data.DataLoader(_DrawnAhead(data.draw, 0, 0, range(1), 4), batch_size=None, num_workers=1,
                                         multiprocessing_context="fork")
    (key, in_worker), = [batch for _, batch in zip(range(1), loader)]
    here = data.draw(4, torch.Generator().manual_seed(_stream_seed(0, 0, 0, 0)))
    assert list(key) == [0, 0] and "images" not in here
    assert in_worker["scenes"] == here["scenes"] and torch.equal(in_worker["text"], here["text"])
    finished = [data.finish(batch, torch.Generator().manual_seed(1)) for batch in (in_worker, here)]
    assert torch.equal(finished[0]["x0"], finished[1]["x0"]) and finished[0]["x0"].shape == (4, 8, 8, 8)


def _same_weights(model, name):
    shipped = pretrained.load(name, "cpu").model.state_dict()
    return all(torch.equal(v, shipped[k]) for k, v in model.state_dict().items())


def test_the_capstone_recipe_reads_fid_with_scenes_text_and_retrieval_with_its_own_text_encoder():
    """scenes64_latent reads scenes_text_hard: its retrieval figures are that encoder's, while the CLIP-score figure
    and FID read scenes_text, the same for every generator; it is drawn through the autoencoder it requires."""
    given = {}

    def evaluate_scenes(route, judge, text_model, its_text_model=None, num_samples=500):  # no sampling
        given.update(route=route, text_model=text_model, its_text_model=its_text_model, num_samples=num_samples)
        return {}

    recipe = replace(recipes.get_recipe("scenes64_latent"), evaluator=evaluate_scenes)
    recipe.evaluate(pretrained.load("scenes64_latent", "cpu"), "cpu", num_samples=4)
    assert _same_weights(given["its_text_model"], "scenes_text_hard")
    assert not _same_weights(given["its_text_model"], "scenes_text")
    assert _same_weights(given["text_model"], "scenes_text") and given["num_samples"] == 4
    assert _same_weights(given["route"].decoder.autoencoder, "scenes64_autoencoder")


def test_evaluate_scenes_adds_the_retrieval_of_the_text_encoder_it_is_given(judge, text_model, monkeypatch):
    read_by = []

    def evaluate_scenes_text(model, num_samples):
        read_by.append((model, num_samples))
        return {"retrieval_top1_heldout": 0.25, "retrieval_top1_seen": 0.5}

    monkeypatch.setattr(evaluation.scenes, "evaluate_scenes_text", evaluate_scenes_text)
    route = RenderingRoute(_real_images_of_the_prompts(8))
    without = evaluation.evaluate_scenes(route, judge, text_model, num_samples=8)
    assert "retrieval_top1" not in without and not read_by
    marker = torch.nn.Linear(1, 1)
    results = evaluation.evaluate_scenes(route, judge, text_model, num_samples=8, its_text_model=marker)
    assert read_by == [(marker, 8)]
    assert results["retrieval_top1"] == 0.25 and results["retrieval_top1_seen"] == 0.5
