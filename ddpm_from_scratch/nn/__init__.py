"""Networks only, no diffusion math: noise predictors (U-Net, MLP, text-conditioned U-Net), a text encoder, a
classifier, an autoencoder, a VAE (its likelihood bound is in ``metrics``); the blocks they share are in
``blocks``. Nothing here imports the rest of the package."""

import copy
from dataclasses import asdict, fields

import torch

from .autoencoder import Autoencoder, AutoencoderConfig, DiagonalGaussian, autoencoder_loss
from .blocks import keep_attention_maps, sinusoidal_embedding
from .classifier import Classifier, ClassifierConfig
from .contrastive import (ContrastiveConfig, ContrastiveTextImage, contrastive_loss, contrastive_objective,
                          contrastive_objective_with_contradictions)
from .mlp import MLPConfig, MLPDenoiser
from .reader import SceneReader, SceneReaderConfig
from .text import TextConditionedUNet, TextEncoder, TextUNetConfig, Tokenizer
from .unet import UNet, UNetConfig
from .vae import VAE, VAEConfig

# Every model the package can save and rebuild: class name -> (class, its config dataclass).
MODELS = {
    "UNet": (UNet, UNetConfig),
    "MLPDenoiser": (MLPDenoiser, MLPConfig),
    "Classifier": (Classifier, ClassifierConfig),
    "TextConditionedUNet": (TextConditionedUNet, TextUNetConfig),
    "Autoencoder": (Autoencoder, AutoencoderConfig),
    "VAE": (VAE, VAEConfig),
    "ContrastiveTextImage": (ContrastiveTextImage, ContrastiveConfig),
    "SceneReader": (SceneReader, SceneReaderConfig),
}


def build_model(class_name: str, config: dict):
    """Rebuild a model from the class name and config dict stored in a checkpoint."""
    if class_name not in MODELS:
        raise ValueError(f"unknown model class {class_name!r}; known: {', '.join(MODELS)}")
    cls, config_cls = MODELS[class_name]
    known = {f.name for f in fields(config_cls)}
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"config for {class_name} has unknown fields {sorted(unknown)}")
    return cls(config_cls(**normalise_config(config)))


def normalise_config(config: dict) -> dict:
    """A config dict as the dataclass holds it: lists (as saved) back to tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


def full_config(class_name: str, config: dict) -> dict:
    """``config`` with every field of the class's config, defaults filled in (older checkpoints lack new fields)."""
    if class_name not in MODELS:
        raise ValueError(f"unknown model class {class_name!r}; known: {', '.join(MODELS)}")
    return normalise_config(asdict(MODELS[class_name][1](**normalise_config(config))))


def model_for_config(config):
    """Build the model that a config dataclass describes, e.g. ``model_for_config(UNetConfig())``."""
    for cls, config_cls in MODELS.values():
        if isinstance(config, config_cls):
            return cls(config)
    raise ValueError(f"no model takes a {type(config).__name__}; known: {', '.join(MODELS)}")


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def channels_last_copy(model):
    """A copy of ``model`` with its convolution weights stored channels-last, (N, H, W, C) in memory: the layout in
    which the CPU's convolutions (oneDNN) run fastest, and the layout then flows through the network. The same
    outputs up to float rounding; the bulk samplers use it (``benchmarks/samplers.py --layout``: DDIM-50 of 1,000
    digits 1.1-1.2x faster on a 2-core CPU). The copy, not the model: a model in training keeps its own layout."""
    return copy.deepcopy(model).to(memory_format=torch.channels_last)
