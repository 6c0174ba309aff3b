"""The capstone's recipes trained on a reader's own captioned folder (chapter 07; ``train --data FOLDER``)."""

from dataclasses import replace
from functools import partial
from pathlib import Path

import torch

from .. import evaluation
from ..nn import AutoencoderConfig, ContrastiveConfig
from ..train import OnTheFly
from .parts import encoded_to_latents, latent_scale_factor, text_encoder_and_autoencoder
from .recipe import Recipe


FOLDER_RECIPES = ("scenes_text", "scenes_autoencoder", "scenes64_autoencoder", "scenes_latent", "scenes64_latent")


def folder_run(recipe_name: str, folder) -> Path:
    """Where ``train --recipe NAME --data FOLDER`` writes by default: runs/NAME-FOLDER."""
    return Path("runs") / f"{recipe_name}-{Path(folder).resolve().name}"


def on_folder(recipe: Recipe, folder, image_size: int | None = None, text_encoder=None, autoencoder=None) -> Recipe:
    """``recipe``, one of the capstone's (``FOLDER_RECIPES``), trained on a captioned folder (``data.captioned``)
    instead of rendered scenes; the networks and the training settings stay the recipe's.

    The vocabulary is the folder's words and the context its longest caption, so the text encoder and the
    generator trained on one folder read the same tokens. The text encoder and the autoencoder see the images at
    ``image_size`` (default: the recipe's), each cropped to its centre square and resized. The generator learns the
    latents of ``autoencoder`` and reads captions through ``text_encoder`` (frozen): two checkpoint files trained
    on the folder, by default those of their runs (``folder_run``). Scenes-only parts are dropped: the modules are
    measured on the folder's own images (``evaluation.evaluate_folder_text``, ``evaluate_folder_autoencoder``), and
    the generator not at all, as there is no judge for a folder's pictures.
    """
    from .. import pretrained
    from ..data import captioned
    from ..nn.text import words_in

    if recipe.name not in FOLDER_RECIPES:
        raise ValueError(f"recipe {recipe.name!r} cannot train on a captioned folder; the capstone's recipes can: "
                         f"{', '.join(FOLDER_RECIPES)}")
    config = recipe.model_config
    # a folder's captions follow no grammar that a rule could contradict: its generator reads the plain encoder
    parts = recipe.parts and ("scenes_text", recipe.parts["autoencoder"])
    if parts:  # the generator: its two modules must have been trained on this folder first
        files = []
        for part, given, option in zip(parts, (text_encoder, autoencoder), ("--text-encoder", "--autoencoder")):
            path = Path(given) if given else folder_run(part, folder) / f"{part}.pt"
            if not path.is_file():
                raise FileNotFoundError(f"no {part} checkpoint at {path}: the generator learns on modules trained on "
                                        f"the same folder. Train it first (python -m ddpm_from_scratch train --recipe "
                                        f"{part} --data {folder}) or name its file with {option}")
            files.append(path)
        coder = pretrained.load_file(files[1])
        if image_size is not None and image_size != coder.model.config.image_size:
            raise ValueError(f"image_size {image_size}: the generator's images are its autoencoder's, "
                             f"{coder.model.config.image_size}x{coder.model.config.image_size} ({files[1]})")
        image_size = coder.model.config.image_size
    elif text_encoder or autoencoder:
        raise ValueError(f"recipe {recipe.name!r} is a module, not a generator: it needs no text encoder or autoencoder")
    size = image_size or config.image_size
    if isinstance(config, AutoencoderConfig) and size % 2 ** (len(config.channel_mults) - 1):
        raise ValueError(f"image_size {size}: {recipe.name} halves the image {len(config.channel_mults) - 1} times, so "
                         f"the size must be a multiple of {2 ** (len(config.channel_mults) - 1)}")
    folder_data = captioned.captioned_folder(folder, image_size=size)
    images, captions = folder_data["images"], folder_data["captions"]
    words = {"vocabulary": captioned.vocabulary_of(captions),
             "max_length": 1 + max(len(words_in(text)) for text in captions)}  # <start> + the longest caption
    described = (f"{recipe.description}; here trained on the captioned folder {folder} ({len(captions)} images at "
                 f"{size}x{size})")

    if isinstance(config, ContrastiveConfig):  # module 1: the text encoder, against an image encoder
        return replace(recipe, description=described, model_config=replace(config, image_size=size, **words),
                       data=lambda model, seed: captioned.folder_batches(folder_data, model.tokenizer),
                       evaluator=partial(evaluation.evaluate_folder_text, folder_data=folder_data))
    if isinstance(config, AutoencoderConfig):  # module 2: images only
        def scale_factor(model) -> dict:
            return {"scale_factor": latent_scale_factor(model, images[:2000], torch.Generator().manual_seed(0))}

        return replace(recipe, description=described, model_config=replace(config, image_size=size),
                       data=lambda model, seed: captioned.folder_batches(folder_data), measure=scale_factor,
                       evaluator=partial(evaluation.evaluate_folder_autoencoder, folder_data=folder_data), judges={})
    channels, latent_size, _ = coder.model.latent_shape  # module 3: the generator, on the autoencoder's latents

    def latents(model, seed):
        return OnTheFly(captioned.folder_batches(folder_data, model.tokenizer, drop_caption=0.1),
                        encoded_to_latents(coder.model, coder.header["scale_factor"]))

    return replace(recipe, description=described, evaluator=None, judges={}, data=latents,
                   model_config=replace(config, image_channels=channels, image_size=latent_size, **words),
                   prepare=text_encoder_and_autoencoder(*parts, *files))
