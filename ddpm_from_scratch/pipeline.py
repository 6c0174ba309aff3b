"""Text -> image: the pieces of chapter 03 put together (chapter 04 adds a decoder).

``text_to_image(model, schedule, prompts)`` tokenizes the prompts with the model's own
tokenizer (the vocabulary it was trained with travels in its checkpoint), runs the
reverse process with classifier-free guidance, and returns images in [-1, 1].
"""

import torch

from . import diffusion


def text_to_image(model, schedule, prompts, guidance_scale: float = 3.0, sampler: str = "ddim",
                  steps: int | None = 50, seed: int = 0, batch_size: int = 250,
                  progress: bool = False) -> torch.Tensor:
    """One image per prompt, (N, C, S, S) in [-1, 1], on the CPU; one seed fixes them all.

    An empty prompt ("") generates unconditionally (the empty caption the model was trained
    with); unknown words are named in a warning and read as ``<unk>``; over-long prompts are
    truncated with a warning (see ``nn.text.Tokenizer``).
    """
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise ValueError("no prompts given")
    if not hasattr(model, "tokenizer"):
        raise TypeError(f"{type(model).__name__} is not text-conditioned (no tokenizer): "
                        "load a text-to-image checkpoint such as pretrained.load('shapes')")
    tokens = model.tokenizer(prompts)  # warns here, once per prompt, about unknown words or truncation
    generator = torch.Generator().manual_seed(seed)
    images = []
    for start in range(0, len(prompts), batch_size):
        text = tokens[start:start + batch_size]
        images.append(diffusion.sample(model, schedule, len(text), sampler=sampler,
                                       steps=None if sampler == "ddpm" else steps, generator=generator,
                                       progress=progress, text=text, guidance_scale=guidance_scale).cpu())
    return torch.cat(images).clamp(*model.data_range)
