"""`sample` and `generate`: images drawn from a model, or from text through a route, into one image file
(chapters 01-07; `generate` is chapter 07's text-to-image, the route of chapters 03 and 04)."""

from dataclasses import asdict
from pathlib import Path

import torch

from .. import diffusion, pipeline, pretrained
from ..checkpoints import CheckpointError
from ..nn import VAE
from ..recipes import RECIPES, ROUTES, get_recipe
from .checks import UsageError, check_prompts, check_sampling, checkpoint_for, device_for, image_out


def cmd_sample(args) -> None:
    from .. import viz

    recipe = get_recipe(args.recipe)
    image_out(args.out)
    path = checkpoint_for(args)
    device = device_for(args)
    loaded = pretrained.load_file(path, device)
    generator = torch.Generator().manual_seed(args.seed or 0)
    if isinstance(loaded.model, VAE):  # one pass of the decoder: no sampler, no steps
        if args.sampler or args.steps:
            raise UsageError(f"{path} holds a VAE, which samples in one decoder pass: drop --sampler and --steps")
        x = loaded.model.sample(args.num_samples, generator).cpu()
    elif loaded.schedule is None or not hasattr(loaded.model, "sample_shape"):
        raise UsageError(f"{path} (recipe {recipe.name!r}) is not a generative model: nothing to sample")
    else:  # the model says what it samples; a text model samples unconditionally here (see `generate`)
        check_sampling(args, loaded.schedule)
        x = diffusion.sample(loaded.model, loaded.schedule, args.num_samples, sampler=args.sampler or "ddim",
                             steps=args.steps, generator=generator, progress=not args.quiet)
    fig = viz.show_images(x) if x.ndim == 4 else viz.show_points(x)
    fig.savefig(args.out, dpi=150, bbox_inches="tight")
    print(f"wrote {args.num_samples} samples to {args.out}")


def cmd_generate(args) -> None:
    from .. import viz

    image_out(args.out)
    if not args.prompts and not args.unconditional:
        raise UsageError("give at least one prompt, e.g. \"a small red circle in the top left\" (or --unconditional)")
    device = device_for(args)
    if args.autoencoder and not args.checkpoint:
        raise UsageError("--autoencoder decodes a generator of your own: pass that generator with --checkpoint")
    if args.checkpoint:  # the generation model from a file; the decoder is the shipped one of the route
        route_name, route = _route_of_checkpoint(args, device)
    else:
        route_name = args.pipeline or next(iter(ROUTES))
        try:
            route = get_recipe(ROUTES[route_name]).route(device=device)
        except FileNotFoundError as error:
            raise UsageError(f"the {route_name} pipeline needs a checkpoint that is not shipped yet: {error}") from None
    check_prompts(route.generator.tokenizer, args.prompts)
    check_sampling(args, route.schedule)
    rows = args.prompts + ([""] if args.unconditional else [])  # "" = no text: the unconditional prediction
    prompts = [p for p in rows for _ in range(args.num_images)]
    # each option left out is the route's own (its card's)
    sampling = route.sampling.but(sampler=args.sampler, steps=args.steps, eta=args.eta,
                                  guidance_scale=args.guidance_scale)
    images = route(prompts, seed=args.seed or 0, progress=not args.quiet, **asdict(sampling))
    titles = [p or "(no text: unconditional)" for p in prompts]
    fig = viz.show_captioned(images, titles, ncols=args.num_images if len(rows) > 1 else min(len(prompts), 8))
    fig.savefig(args.out, dpi=150, bbox_inches="tight")
    settings = (f"{sampling.sampler}, guidance scale {sampling.guidance_scale:g}"
                + (f", eta {sampling.eta:g}" if sampling.sampler == "ddim" else ""))
    print(f"wrote {len(images)} image(s) for {len(rows)} prompt(s) to {args.out} ({route_name} pipeline, {settings})")


def _route_of_checkpoint(args, device) -> tuple:
    """--checkpoint's generation model in a route (its name, the route) whose decoder fits what it draws: the route's
    own, for latents the shipped autoencoder the generator names in its requirements, or --autoencoder's."""
    generator = pretrained.load_file(Path(args.checkpoint), device)
    if not hasattr(generator.model, "tokenizer"):
        generators = sorted({RECIPES[name].parts.get("generator", name) for name in ROUTES.values()})
        raise UsageError(f"{args.checkpoint} is not a text-to-image model; pass a checkpoint of a generator's recipe "
                         f"({', '.join(generators)})")
    draws_latents = generator.header.get("scale_factor") is not None
    # the checkpoint says what it draws, unless --pipeline does: a latent to decode, or the image itself
    route_name = args.pipeline or ("latent" if draws_latents else "pixel")
    decodes_latents = [name for name, recipe in ROUTES.items() if "autoencoder" in RECIPES[recipe].parts]
    if draws_latents and route_name not in decodes_latents:
        raise UsageError(f"{args.checkpoint} draws latents: use --pipeline {' or '.join(decodes_latents)}, which "
                         "decode them (each with the autoencoder the checkpoint names)")
    if not draws_latents and route_name in decodes_latents:
        raise UsageError(f"{args.checkpoint} draws images, not latents: use --pipeline "
                         f"{' or '.join(name for name in ROUTES if name not in decodes_latents)}")
    if draws_latents and args.autoencoder:  # the reader's own, e.g. trained on a captioned folder
        return route_name, pipeline.latent_route(generator, pretrained.load_file(Path(args.autoencoder), device))
    try:
        return route_name, get_recipe(ROUTES[route_name]).route(generator, device)
    except CheckpointError as error:
        raise UsageError(f"{error} (a generator trained on your own folder: pass its autoencoder's file "
                         "with --autoencoder)") from None
