"""The capstone's modules trained on a reader's captioned folder (``train --data``), measured on the folder's own
pictures (``folder_data``: ``data.captioned.captioned_folder``'s images and captions). A folder has no held-out
part, so these are figures on training pairs: they say what a module learned, not how it carries over to new
pictures."""

import torch

from ..metrics import psnr_db
from .common import reconstruct
from .scenes import pair_alignment


def _from_folder(folder_data: dict, num: int, seed: int) -> tuple:
    """Up to ``num`` of the folder's images and their captions, picked at random from ``seed``."""
    index = torch.randperm(len(folder_data["captions"]), generator=torch.Generator().manual_seed(seed))[:num]
    return folder_data["images"][index], [folder_data["captions"][i] for i in index.tolist()]


def evaluate_folder_text(model, folder_data: dict, num_samples: int = 500, seed: int = 1) -> dict:
    """A contrastive text encoder trained on a folder: retrieval and CLIP-score as ``evaluate_scenes_text``
    measures them, on up to ``num_samples`` of the folder's own pairs."""
    images, captions = _from_folder(folder_data, num_samples, seed)
    figures = pair_alignment(model, images, model.tokenizer(captions))
    figures["retrieval_top1_training_pairs"] = figures.pop("retrieval_top1")
    return figures | {"pairs": len(captions), "chance_top1": round(1 / len(captions), 4), "seed": seed}


def evaluate_folder_autoencoder(autoencoder, scale_factor: float | None, folder_data: dict, num_samples: int = 1000,
                                seed: int = 1) -> dict:
    """An autoencoder trained on a folder: PSNR of its reconstructions of up to ``num_samples`` of the folder's
    images, and its latents' spread."""
    images, _ = _from_folder(folder_data, num_samples, seed)
    reconstructions, latents = reconstruct(autoencoder, images, seed)
    return {"psnr_db_training_images": round(psnr_db(reconstructions, images), 2),
            "latent_std": round(latents.std().item(), 4),
            "scale_factor": round(scale_factor, 4) if scale_factor else None,
            "latent_shape": list(autoencoder.latent_shape), "num_images": len(images), "seed": seed}
