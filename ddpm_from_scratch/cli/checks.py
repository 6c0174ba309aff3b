"""The options every command shares, checked before any work; a mistake is one line, exit status 2 (chapter 07)."""

from pathlib import Path

import torch

from .. import diffusion, pretrained
from ..budget import default_device, device_present


class UsageError(Exception):
    """A mistake on the command line: printed as one line, exit status 2."""


def device_for(args) -> torch.device:
    """--device if given (checked: the name exists and the device is present), else the best available."""
    if not args.device:
        return default_device()
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise UsageError(f"--device {args.device!r} is not a device: use cpu, cuda, cuda:N or mps") from None
    if not device_present(device.type):
        raise UsageError(f"--device {args.device}: no such device on this machine (best available: {default_device()})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"--device {args.device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def checkpoint_for(args) -> Path:
    """--checkpoint if given, else the shipped checkpoint of the recipe."""
    if args.checkpoint:
        return Path(args.checkpoint)
    path = pretrained.CHECKPOINT_DIR / f"{args.recipe}.pt"
    if not path.exists():
        raise UsageError(f"no shipped checkpoint for recipe {args.recipe!r}; train one with "
                         f"`python -m ddpm_from_scratch train --recipe {args.recipe}` and pass --checkpoint")
    return path


IMAGE_FORMATS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def image_out(path: str) -> str:
    """An --out image file whose folder exists and whose format matplotlib writes, checked before any work."""
    out = Path(path)
    if out.suffix.lower() not in IMAGE_FORMATS:
        raise UsageError(f"--out {path}: name an image file ending in {', '.join(IMAGE_FORMATS)}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {path}: the folder {out.parent} does not exist; create it first")
    if out.is_dir():
        raise UsageError(f"--out {path} is a folder; name an image file in it")
    return path


def check_sampling(args, schedule) -> None:
    """--sampler, --steps and --eta against the model's reverse process, before any work, by the sampler's own rules
    (``diffusion.sampler_timesteps``: DDPM visits all T steps, DDIM and the solvers at most T); only DDIM takes an eta."""
    sampler = args.sampler or "ddim"
    try:
        diffusion.sampler_timesteps(schedule, sampler, args.steps)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if getattr(args, "eta", None) is not None and sampler != "ddim":  # sample has no --eta
        raise UsageError(f"--eta is DDIM's noise per step; --sampler {sampler} does not take it: drop --eta"
                         + (" (dpm++2m-sde adds fresh noise at every step)" if sampler.startswith("dpm") else ""))


def check_prompts(tokenizer, prompts) -> None:
    """A prompt the model cannot read is refused before any work (the library only warns)."""
    from ..nn.text import words_in

    for number, prompt in enumerate(prompts, 1):
        words = words_in(prompt)
        if not prompt.strip():
            raise UsageError(f"prompt {number} is empty; to generate without text pass --unconditional")
        if not words:
            raise UsageError(f"prompt {number} ({prompt[:40]!r}) has no word this model reads: it knows only "
                             "English words in a-z and digits, e.g. \"a small red circle in the top left\"")
        if len(words) >= tokenizer.max_length:
            raise UsageError(f"prompt {number} has {len(words)} words; the model reads at most "
                             f"{tokenizer.max_length - 1}: shorten it")
