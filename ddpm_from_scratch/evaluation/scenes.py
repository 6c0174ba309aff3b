"""The capstone measured (chapter 07): what the scene judge reads in an image against the scene asked for
(``read_scenes``), each of the three modules (judge, contrastive text encoder, autoencoder), and the whole pipeline
on three splits of prompts (``evaluate_scenes``). Each measure takes the judges it reads with as arguments."""

import random
import time
from dataclasses import asdict

import numpy as np
import torch

from ..data import scenes, shapes
from ..metrics import clip_score, fid_from_features, psnr_db, retrieval_top1
from .common import reconstruct


def read_scenes(judge, images: torch.Tensor, truth: list) -> dict:
    """What the judge (``nn.SceneReader``) reads in ``images``, against the scenes they should show (``truth``).

    Per image, the objects read are matched to the true ones, nearest centre first. Returns fractions:
    ``objects_right`` (as many objects as in the scene, each of the right shape, colour and size, its
    centre within half a cell), ``prompt_right`` (every claim of the scene's caption holds for what was
    read: ``data.scenes.claims_hold``), per-attribute accuracy over true objects, ``count_right``, and the
    mean centre error in units of the side (matched objects).
    """
    read = scenes.named_objects(judge.read(shapes.downscale(images, judge.config.image_size)))
    half_cell = 0.5 / judge.config.grid
    totals = {"objects_right": 0, "prompt_right": 0, "count_right": 0, **{n: 0 for n in scenes.ATTRIBUTES}}
    num_objects, centre_errors = 0, []
    for scene, found in zip(truth, read):
        left = list(found)
        every = len(found) == len(scene.objects)
        for obj in scene.objects:  # nearest unmatched reading
            num_objects += 1
            if not left:
                every = False
                continue
            nearest = min(left, key=lambda o: (o["x"] - obj.x) ** 2 + (o["y"] - obj.y) ** 2)
            left.remove(nearest)
            error = max(abs(nearest["x"] - obj.x), abs(nearest["y"] - obj.y))
            centre_errors.append(error)
            for name in scenes.ATTRIBUTES:
                totals[name] += nearest[name] == getattr(obj, name)
            every &= error <= half_cell and all(nearest[n] == getattr(obj, n) for n in scenes.ATTRIBUTES)
        totals["objects_right"] += every
        totals["count_right"] += len(found) == len(scene.objects)
        totals["prompt_right"] += scenes.claims_hold(scenes.prompt_claims(scene), found)["prompt"]
    n = len(truth)
    return {"objects_right": totals["objects_right"] / n, "prompt_right": totals["prompt_right"] / n,
            "count_right": totals["count_right"] / n,
            **{f"{name}_accuracy": totals[name] / num_objects for name in scenes.ATTRIBUTES},
            "centre_error": float(np.mean(centre_errors)) if centre_errors else float("nan")}


def evaluate_scenes_judge(judge, num_samples: int = 1000, seed: int = 1) -> dict:
    """The judge on real scenes it never saw: seen combinations and held-out ones (the goal: >= 0.99 of
    held-out scenes read fully right)."""
    results = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        images, _, truth = scenes.make_scenes(num_samples, judge.config.image_size, seed=seed + heldout, heldout=heldout)
        results[split] = {k: round(v, 4) for k, v in read_scenes(judge, images, truth).items()}
    return {"objects_right_heldout": results["heldout"]["objects_right"],
            "objects_right_seen": results["seen"]["objects_right"], **results,
            "scenes_per_split": num_samples, "seed": seed}


def pair_alignment(model, images, text) -> dict:
    """Text -> image retrieval (top-1) among the pairs given, and the CLIP-score of the true pairs against
    mismatched ones (the same images with the captions shifted by one)."""
    return {"retrieval_top1": round(retrieval_top1(model, images, text), 4),
            "clip_score_real": round(clip_score(model, images, text), 2),
            "clip_score_mismatched": round(clip_score(model, images, text.roll(1, 0)), 2)}


def evaluate_scenes_text(model, num_samples: int = 500, seed: int = 1) -> dict:
    """The contrastive text encoder: text -> image retrieval among ``num_samples`` real scenes (top-1; chance
    1 / num_samples), seen and held-out, and the CLIP-score of real pairs against mismatched ones (the same
    images with the captions shifted by one): the levels a generator's CLIP-score sits between.

    ``rejects_inverted_relation`` / ``rejects_changed_colours``: how often an image's own caption scores above the
    same caption with its relation inverted / its colours swapped or changed (``scenes.contradiction``; chance
    0.5), on ``num_samples`` scenes with a relation and ``num_samples`` without: does the encoder read relations and
    which object has which colour, or only which words occur?"""
    results = {}
    for split, heldout in (("seen", False), ("heldout", True)):
        images, captions, _ = scenes.make_scenes(num_samples, model.config.image_size, seed=seed + heldout,
                                                 heldout=heldout)
        figures = pair_alignment(model, images, model.tokenizer(captions))
        results |= {f"{name}_{split}": value for name, value in figures.items()}
        for name, kinds in (("inverted_relation", ("relation", "three")), ("changed_colours", ("single", "count"))):
            results[f"rejects_{name}_{split}"] = _rejects_contradictions(model, num_samples, kinds, heldout, seed)
    return results | {"pairs_per_split": num_samples, "chance_top1": round(1 / num_samples, 4), "seed": seed}


@torch.no_grad()
def _rejects_contradictions(model, num_scenes: int, kinds: tuple, heldout: bool, seed: int) -> float:


    chosen = [scenes.random_scene(random.Random(seed * 1_000_003 + i), heldout=heldout, kind=kinds[i % len(kinds)])
              for i in range(num_scenes)]
    own, wrong = scenes.captions_and_contradictions(chosen, random.Random(seed))
    keep = [i for i, w in enumerate(wrong) if w is not None]
    model.eval()
    device = next(model.parameters()).device
    images = model.encode_image(scenes.render([chosen[i] for i in keep], model.config.image_size).to(device))
    right = (images * model.encode_text(model.tokenizer([own[i] for i in keep]).to(device))).sum(-1)
    false = (images * model.encode_text(model.tokenizer([wrong[i] for i in keep]).to(device))).sum(-1)
    return round((right > false).float().mean().item(), 4)


def evaluate_scenes_autoencoder(autoencoder, scale_factor: float | None, judge, num_samples: int = 1000,
                                seed: int = 1) -> dict:
    """Reconstructions of fresh scenes (v2): PSNR, and whether the judge still reads every object right in
    the reconstruction (``objects_right_reconstructed``) next to the same in the originals."""
    images, _, truth = scenes.make_scenes(num_samples, autoencoder.config.image_size, seed=seed, heldout=None)
    reconstructions, latents = reconstruct(autoencoder, images, seed)
    return {
        "psnr_db": round(psnr_db(reconstructions, images), 2),
        "objects_right_reconstructed": round(read_scenes(judge, reconstructions, truth)["objects_right"], 4),
        "objects_right_original": round(read_scenes(judge, images, truth)["objects_right"], 4),
        "latent_std": round(latents.std().item(), 4),
        "scale_factor": round(scale_factor, 4) if scale_factor else None,
        "latent_shape": list(autoencoder.latent_shape),
        "num_images": num_samples,
        "seed": seed,
    }


CAPSTONE_SPLITS = {"single_seen": ("single", False), "relation_seen": ("relation", False), "heldout": (None, True)}


def evaluate_scenes(route, judge, text_model, num_samples: int = 500, guidance_scale: float | None = None,
                    steps: int | None = None, seed: int = 0, progress: bool = False, eta: float | None = None,
                    sampler: str | None = None, its_text_model=None) -> dict:
    """The capstone end to end: ``num_samples`` prompts of each split (seen single objects, seen pairs with a
    relation, held-out combinations of any kind), one image each, read by the judge (``read_scenes``).

    ``agreement_<split>``: the fraction of images for which the whole prompt holds (every object, count and
    relation; ``data.scenes.claims_hold``); ``per_attribute`` and ``per_relation`` over all splits. FID on the
    contrastive image encoder's features (128 numbers per image) against real scenes of the same splits
    drawn anew, next to ``fid_real_floor`` (two real sets); ``clip_score`` of the generated images with their
    prompts next to that of real pairs (``evaluate_scenes_text`` gives the mismatched level). ``sampler``
    with ``steps``, ``guidance_scale`` and ``eta`` (DDIM's noise per step): the route's own (its card's) unless given.

    ``text_model``, the contrastive model whose encoders give FID and the CLIP-score, is best the same for every
    route, so that their figures compare. ``its_text_model``: the one whose text encoder the generator reads, if
    another; its retrieval figures (``evaluate_scenes_text``) come with the results as ``retrieval_top1``
    (held-out) and ``retrieval_top1_seen``.
    """
    sampling = route.sampling.but(sampler=sampler, steps=steps, eta=eta, guidance_scale=guidance_scale)
    size = judge.config.image_size
    results, generated, real, real_other, prompts = {}, [], [], [], []
    attribute_hits = {name: [] for name in ("count", "shape", "colour", "size")}
    relation_hits = {relation: [] for relation in scenes.RELATIONS}
    start = time.perf_counter()
    for number, (split, (kind, heldout)) in enumerate(CAPSTONE_SPLITS.items()):
        real_images, captions, truth = scenes.make_scenes(num_samples, size, seed=seed + 10 * number, heldout=heldout,
                                                          kind=kind)
        images = route(captions, seed + number, progress, **asdict(sampling)).cpu()
        images = shapes.downscale(images, size)  # 64 -> 32: a 32x32 reader's view, the block means
        read = scenes.named_objects(judge.read(images))
        verdicts = [scenes.claims_hold(scenes.prompt_claims(scene), found) for scene, found in zip(truth, read)]
        results[f"agreement_{split}"] = round(float(np.mean([v["prompt"] for v in verdicts])), 4)
        for verdict, scene in zip(verdicts, truth):
            for name in attribute_hits:
                if verdict[name] is not None:
                    attribute_hits[name].append(verdict[name])
            for (_, relation, _), held in zip(scenes.prompt_claims(scene)["relations"], verdict["relations"]):
                relation_hits[relation].append(held)
        generated.append(images)
        real.append(real_images)
        real_other.append(scenes.make_scenes(num_samples, size, seed=seed + 10 * number + 5, heldout=heldout,
                                             kind=kind)[0])
        prompts += captions
    sampling_time = time.perf_counter() - start
    generated, real, real_other = torch.cat(generated), torch.cat(real), torch.cat(real_other)

    @torch.no_grad()
    def features(images):
        text_model.eval()
        device = next(text_model.parameters()).device
        return torch.cat([text_model.image_encoder(images[i:i + 500].to(device)).float().cpu()
                          for i in range(0, len(images), 500)]).numpy()

    ids = text_model.tokenizer(prompts)
    reference = features(real_other)
    return results | {
        "per_attribute": {name: round(float(np.mean(hits)), 4) for name, hits in attribute_hits.items() if hits},
        "per_relation": {name: round(float(np.mean(hits)), 4) for name, hits in relation_hits.items() if hits},
        "fid": round(fid_from_features(features(generated), reference), 4),
        "fid_real_floor": round(fid_from_features(features(real), reference), 4),
        "clip_score": round(clip_score(text_model, generated, ids), 2),
        "clip_score_real": round(clip_score(text_model, real, ids), 2),
        "guidance_scale": sampling.guidance_scale,
        "sampler": sampling.sampler, "eta": sampling.eta if sampling.sampler == "ddim" else None,
        "num_samples_per_split": num_samples, "seed": seed,
        "sampling_steps": len(sampling.timesteps(route.schedule)),
        "sampling_time_s": round(sampling_time, 1),
    } | _retrieval(its_text_model, num_samples)


def _retrieval(its_text_model, num_samples: int) -> dict:
    if its_text_model is None:
        return {}
    retrieval = evaluate_scenes_text(its_text_model, num_samples=num_samples)
    return {"retrieval_top1": retrieval["retrieval_top1_heldout"], "retrieval_top1_seen": retrieval["retrieval_top1_seen"]}
