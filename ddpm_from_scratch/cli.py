"""Command line: train, sample, evaluate (chapter 07 gathers every knob; chapters 01-02 use the recipes).

    python -m ddpm_from_scratch train --recipe digits            # writes runs/digits/
    python -m ddpm_from_scratch train --recipe digits --resume   # continue an interrupted run
    python -m ddpm_from_scratch sample --recipe digits --out digits.png
    python -m ddpm_from_scratch evaluate --recipe digits         # last line of output: one JSON object
    python -m ddpm_from_scratch generate "a small red circle in the top left" --out img.png
"""

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from . import diffusion, pipeline, pretrained, train
from .budget import default_device, device_present, hardware
from .checkpoints import CheckpointError, load_checkpoint, make_card, read_card, replace_atomically, write_card
from .nn import VAE
from .recipes import FOLDER_RECIPES, RECIPES, ROUTES, folder_run, get_recipe, make_trainer, on_folder
from .train import RunLockedError


class UsageError(Exception):
    """A mistake on the command line: printed as one line, exit status 2."""


def _device(args) -> torch.device:
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


IMAGE_FORMATS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def _image_out(path: str) -> str:
    """An --out image file whose folder exists and whose format matplotlib writes, checked before any work."""
    out = Path(path)
    if out.suffix.lower() not in IMAGE_FORMATS:
        raise UsageError(f"--out {path}: name an image file ending in {', '.join(IMAGE_FORMATS)}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {path}: the folder {out.parent} does not exist; create it first")
    if out.is_dir():
        raise UsageError(f"--out {path} is a folder; name an image file in it")
    return path


def _check_prompts(tokenizer, prompts) -> None:
    """A prompt the model cannot read is refused before any work (the library only warns)."""
    from .nn.text import words_in

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


def _checkpoint_for(args) -> Path:
    """--checkpoint if given, else the shipped checkpoint of the recipe."""
    if args.checkpoint:
        return Path(args.checkpoint)
    path = pretrained.CHECKPOINT_DIR / f"{args.recipe}.pt"
    if not path.exists():
        raise UsageError(f"no shipped checkpoint for recipe {args.recipe!r}; train one with "
                         f"`python -m ddpm_from_scratch train --recipe {args.recipe}` and pass --checkpoint")
    return path


def _check_sampling(args, schedule) -> None:
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


def cmd_train(args) -> None:
    recipe = get_recipe(args.recipe)
    if recipe.model_config is None:
        raise UsageError(f"recipe {recipe.name!r} is a pipeline of shipped models ({recipe.description}); "
                         "train its parts instead")
    if args.data is not None:  # a reader's captioned folder instead of the recipe's data (chapter 07)
        try:
            recipe = on_folder(recipe, args.data, args.image_size, args.text_encoder, args.autoencoder)
        except ValueError as error:  # also CaptionedFolderError: the folder itself
            raise UsageError(str(error)) from None
    elif args.image_size or args.text_encoder or args.autoencoder:
        raise UsageError("--image-size, --text-encoder and --autoencoder go with --data FOLDER (a captioned folder)")
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:  # started by torchrun: join the other processes
        if args.device and args.device.startswith("cuda:"):
            raise UsageError("under torchrun each process takes the GPU cuda:LOCAL_RANK; pass --device cuda or none")
        device = train.init_distributed(args.device and torch.device(args.device).type)
    else:
        device = _device(args)
    rank, world_size = train.distributed()
    try:
        _train(args, recipe, device, rank, world_size)
    finally:
        if world_size > 1:
            torch.distributed.destroy_process_group()


def _train(args, recipe, device, rank: int, world_size: int) -> None:
    out = Path(args.out or (folder_run(recipe.name, args.data) if args.data else f"runs/{recipe.name}"))
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory for the run's checkpoints")
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists() and not args.resume:
        raise UsageError(f"{checkpoint} exists; pass --resume to continue it, or --out to start a new run")
    if checkpoint.exists() and args.init_from:
        raise UsageError(f"--init-from starts a new run, and {checkpoint} continues one (from the weights it began "
                         "with, which it records): pass --resume alone, or --out to start a new run")
    planned = recipe.train_config
    try:
        # --micro-batches, else the recipe's count, or under N processes the nearest above that they can share
        micro_batches = args.micro_batches or train.micro_batches_for(planned.batch_size, planned.micro_batches,
                                                                      world_size)
        trainer = make_trainer(recipe, checkpoint, resume=args.resume, device=device, steps=args.steps,
                               micro_batches=micro_batches, data_workers=args.data_workers,
                               compile=args.compile, seed=args.seed, init_from=args.init_from)
    except ValueError as error:  # a batch the processes cannot share; --init-from a file of other modules
        raise UsageError(str(error)) from None
    command = ("torchrun --nproc_per_node=" + str(world_size) + " -m ddpm_from_scratch " if world_size > 1
               else "python -m ddpm_from_scratch ") + " ".join(shlex.quote(a) for a in args.argv)
    say = print if rank == 0 else (lambda *_: None)  # one process speaks and writes
    if args.micro_batches is None and micro_batches != planned.micro_batches:
        say(f"{world_size} processes draw the global batch of {planned.batch_size} as {micro_batches} micro-batches of "
            f"{planned.batch_size // micro_batches} (the recipe's {planned.micro_batches} is not a multiple of "
            f"{world_size}; --micro-batches picks another)")
    processes = f" x {world_size} processes" if world_size > 1 else ""
    say(f"training recipe {recipe.name!r} ({recipe.description}) on {device}{processes}, "
        f"from step {trainer.step} to {trainer.config.steps}; checkpoints in {checkpoint}")
    trainer.fit(progress=not args.quiet, command=command)
    if rank != 0:
        return
    card = make_card(trainer, recipe, data=str(Path(args.data).resolve()) if args.data else None, half=args.half)
    measured = recipe.measure(trainer.ema) if recipe.measure else {}  # e.g. the autoencoder's scale factor
    exported, card_path = out / f"{recipe.name}.pt", out / f"{recipe.name}.json"
    trainer.export(exported, measured, half=args.half)
    write_card(card | measured, card_path)
    print(f"exported EMA weights to {exported} with card {card_path}")
    if args.ship:  # each file is written whole beside its place, then renamed over it: a crash leaves no half file
        import shutil

        shipped = pretrained.CHECKPOINT_DIR / exported.name
        replace_atomically(shipped, lambda tmp: shutil.copyfile(exported, tmp))
        replace_atomically(shipped.with_suffix(".json"), lambda tmp: shutil.copyfile(card_path, tmp))
        print(f"copied into {pretrained.CHECKPOINT_DIR}; run `evaluate --recipe {recipe.name} --write-card` next")


def cmd_sample(args) -> None:
    from . import viz

    recipe = get_recipe(args.recipe)
    _image_out(args.out)
    path = _checkpoint_for(args)
    device = _device(args)
    loaded = pretrained.load_file(path, device)
    generator = torch.Generator().manual_seed(args.seed or 0)
    if isinstance(loaded.model, VAE):  # one pass of the decoder: no sampler, no steps
        if args.sampler or args.steps:
            raise UsageError(f"{path} holds a VAE, which samples in one decoder pass: drop --sampler and --steps")
        x = loaded.model.sample(args.num_samples, generator).cpu()
    elif loaded.schedule is None or not hasattr(loaded.model, "sample_shape"):
        raise UsageError(f"{path} (recipe {recipe.name!r}) is not a generative model: nothing to sample")
    else:  # the model says what it samples; a text model samples unconditionally here (see `generate`)
        _check_sampling(args, loaded.schedule)
        x = diffusion.sample(loaded.model, loaded.schedule, args.num_samples, sampler=args.sampler or "ddim",
                             steps=args.steps, generator=generator, progress=not args.quiet)
    fig = viz.show_images(x) if x.ndim == 4 else viz.show_points(x)
    fig.savefig(args.out, dpi=150, bbox_inches="tight")
    print(f"wrote {args.num_samples} samples to {args.out}")


def _check_fits(recipe, header: dict, path) -> None:
    """A checkpoint evaluated under a recipe must hold that recipe's kind of model, for the same data size."""
    from dataclasses import asdict

    from .nn import MODELS

    wanted = next(name for name, (_, config) in MODELS.items() if isinstance(recipe.model_config, config))
    if header["model_class"] != wanted:
        held = MODELS[header["model_class"]][1]  # loading the file has built it: the class is known
        fitting = [name for name, r in RECIPES.items() if r.evaluator and isinstance(r.model_config, held)]
        hint = f", or evaluate it with --recipe {' or --recipe '.join(fitting)}" if fitting else ""
        raise UsageError(f"{path} holds a {header['model_class']}, but evaluate --recipe {recipe.name} measures a "
                         f"{wanted}: pass a checkpoint of that recipe{hint}")
    expected = asdict(recipe.model_config)
    for key in ("image_channels", "image_size", "data_dim", "latent_channels"):
        if key in expected and header["model_config"].get(key, expected[key]) != expected[key]:
            raise UsageError(f"{path} was trained on {key} = {header['model_config'][key]}, but evaluate --recipe "
                             f"{recipe.name} measures {key} = {expected[key]}")
    if "vocabulary" in expected and tuple(header["model_config"].get("vocabulary", ())) != tuple(expected["vocabulary"]):
        raise UsageError(f"{path} reads another vocabulary than the {recipe.name} recipe's: trained on your own "
                         "folder (train --data)? Measure it on that folder with evaluate --data FOLDER")


# evaluate's options, as the evaluators name them (None: not given on the command line)
EVALUATE_OPTIONS = ("num_samples", "sampler", "steps", "eta", "seed", "guidance_scale", "bpd_images", "bpd_steps")


def cmd_evaluate(args) -> None:
    recipe = get_recipe(args.recipe)
    if args.data is not None:  # a module trained on a captioned folder, measured on the folder's images
        if recipe.name in FOLDER_RECIPES and "autoencoder" in recipe.parts:  # the capstone's generator
            raise UsageError(f"a {recipe.name} generator trained on a folder has no judge to read its pictures: "
                             "evaluate measures its modules (scenes_text, scenes_autoencoder) with --data, and "
                             "generate draws from it")
        if not args.checkpoint:
            args.checkpoint = str(folder_run(recipe.name, args.data) / f"{recipe.name}.pt")
        trained_at = load_checkpoint(args.checkpoint)["model_config"].get("image_size")  # as train --image-size set it
        try:
            recipe = on_folder(recipe, args.data, image_size=trained_at)
        except ValueError as error:
            raise UsageError(str(error)) from None
    if recipe.evaluator is None:
        known = ", ".join(name for name, r in RECIPES.items() if r.evaluator is not None)
        raise UsageError(f"recipe {recipe.name!r} has no evaluator; evaluate knows: {known}")
    accepted = recipe.evaluation_options()
    options = {name: getattr(args, name) for name in EVALUATE_OPTIONS if getattr(args, name) is not None}
    unused = [f"--{name.replace('_', '-')}" for name in options if name not in accepted]
    if unused:
        raise UsageError(f"evaluate --recipe {recipe.name} does not use {', '.join(unused)}")
    if "progress" in accepted:
        options["progress"] = not args.quiet
    device = _device(args)
    start = time.perf_counter()
    if recipe.model_config is None:  # a pipeline of shipped checkpoints
        path, loaded = None, None
    else:
        path = _checkpoint_for(args)
        loaded = pretrained.load_file(path, device)
        _check_fits(recipe, loaded.header, path)
    schedule = recipe.schedule if loaded is None else loaded.schedule
    if "steps" in accepted and schedule is not None:
        _check_sampling(args, schedule)
    results = recipe.evaluate(loaded, device, **options)
    results["checkpoint"] = str(path) if path else recipe.description
    results["wall_time_s"] = round(time.perf_counter() - start, 1)
    if args.write_card:
        if path is None:
            raise UsageError(f"{recipe.name} is a pipeline: it has no card of its own to write")
        card = read_card(path)
        card["metrics"] = {k: v for k, v in results.items() if k != "checkpoint"}
        card["metrics_command"] = "python -m ddpm_from_scratch " + " ".join(shlex.quote(a) for a in args.argv)
        card["metrics_hardware"] = hardware(device)
        write_card(card, path.with_suffix(".json"))
    print(json.dumps(results))


def cmd_generate(args) -> None:
    from . import viz

    _image_out(args.out)
    if not args.prompts and not args.unconditional:
        raise UsageError("give at least one prompt, e.g. \"a small red circle in the top left\" (or --unconditional)")
    device = _device(args)
    if args.autoencoder and not args.checkpoint:
        raise UsageError("--autoencoder decodes a generator of your own: pass that generator with --checkpoint")
    if args.checkpoint:  # the generation model from a file; the decoder is the shipped one of the route
        generator = pretrained.load_file(Path(args.checkpoint), device)
        if not hasattr(generator.model, "tokenizer"):
            raise UsageError(f"{args.checkpoint} is not a text-to-image model; pass a checkpoint of the "
                             "scenes64_latent, scenes_latent, shapes or shapes_latent recipe")
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
            route = pipeline.latent_route(generator, pretrained.load_file(Path(args.autoencoder), device))
        else:  # the route's decoder: for latents the shipped autoencoder the generator names in its requirements
            try:
                route = get_recipe(ROUTES[route_name]).route(generator, device)
            except CheckpointError as error:
                raise UsageError(f"{error} (a generator trained on your own folder: pass its autoencoder's file "
                                 "with --autoencoder)") from None
    else:
        route_name = args.pipeline or next(iter(ROUTES))
        try:
            route = get_recipe(ROUTES[route_name]).route(device=device)
        except FileNotFoundError as error:
            raise UsageError(f"the {route_name} pipeline needs a checkpoint that is not shipped yet: {error}") from None
    _check_prompts(route.generator.tokenizer, args.prompts)
    _check_sampling(args, route.schedule)
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


def _whole_number(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {value}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


positive, non_negative = _whole_number(1), _whole_number(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ddpm_from_scratch",
        description="Train, sample from and evaluate the diffusion models of the book "
                    "'ddpm-from-scratch'. Every model comes from a named recipe: "
                    + "; ".join(f"{name}: {r.description}" for name, r in RECIPES.items()) + ".",
        epilog="Example: python -m ddpm_from_scratch sample --recipe digits --out digits.png")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_text, parents=()):
        p = commands.add_parser(name, help=help_text, description=help_text, parents=list(parents))
        p.add_argument("--recipe", required=True, choices=list(RECIPES), help="which model (see the list above)")
        p.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        return p

    sampling = argparse.ArgumentParser(add_help=False)  # options shared by sample, evaluate and generate
    sampling.add_argument("--checkpoint", help="a checkpoint file (default: the shipped one)")
    sampling.add_argument("--sampler", choices=["ddpm", "ddim", "dpm++2m", "dpm++2m-sde"], default=None,
                          help="default: ddim (chapter 05); ddpm: all T steps of the reverse process (chapter 01); "
                               "dpm++2m: DPM-Solver++ (2M), the second-order solver, good at 10-20 steps; "
                               "dpm++2m-sde: its stochastic version, fresh noise at every step")
    sampling.add_argument("--steps", type=positive, default=None,
                          help="sampling steps of ddim and the dpm++ solvers, at most the model's T (ddpm visits all "
                               "T). Default: 50 for ddim, 20 for dpm++ (evaluate: its recipe's, 100 for digits)")
    sampling.add_argument("--seed", type=non_negative, default=None, help="default: 0")

    p = add("train", "Train a recipe's model; checkpoints go to runs/RECIPE/ (or --out).")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in the output directory")
    p.add_argument("--steps", type=positive, help="total training steps (default: the recipe's)")
    p.add_argument("--seed", type=non_negative, default=None,
                   help="seed of the initial weights, the data and the noise (default: the recipe's)")
    p.add_argument("--init-from", metavar="FILE",
                   help="start from this checkpoint's weights (the same recipe's, e.g. a shipped one) instead of random "
                        "ones; a new run with a fresh optimiser, not the old run resumed; the card lists the runs "
                        "behind those weights, then this one's")
    p.add_argument("--out", help="output directory (default: runs/RECIPE)")
    p.add_argument("--ship", action="store_true", help="copy the exported weights and their card into the package, "
                   "over the shipped ones (git keeps the old card and its metrics); measure them with evaluate "
                   "--write-card next")
    p.add_argument("--half", action="store_true",
                   help="store the exported weights in float16 (half the size; they load as float32)")
    p.add_argument("--micro-batches", type=positive, default=None,
                   help="draw the global batch in this many pieces (a multiple of torchrun's processes; default: "
                        "the recipe's, or the nearest count above it that torchrun's processes can share)")
    p.add_argument("--data-workers", type=non_negative, default=None,
                   help="processes that draw the next batches while the GPU trains (data made on the fly, e.g. the "
                        "capstone's scenes; default: the recipe's, 0)")
    p.add_argument("--compile", action="store_true", help="run the network through torch.compile (GPU speed-up)")
    p.add_argument("--data", metavar="FOLDER",
                   help="train on a captioned folder (images + captions.csv) instead of the recipe's scenes; for "
                        "scenes_text and scenes_autoencoder, then scenes_latent (default --out: runs/RECIPE-FOLDER)")
    p.add_argument("--image-size", type=positive, default=None,
                   help="with --data: crop and resize the folder's images to this size (default: the recipe's)")
    p.add_argument("--text-encoder", metavar="FILE",
                   help="with --data, for scenes_latent: the text encoder trained on the folder "
                        "(default: runs/scenes_text-FOLDER/scenes_text.pt)")
    p.add_argument("--autoencoder", metavar="FILE",
                   help="with --data, for scenes_latent: the autoencoder trained on the folder "
                        "(default: runs/scenes_autoencoder-FOLDER/scenes_autoencoder.pt)")
    p.set_defaults(run=cmd_train)

    p = add("sample", "Draw samples from a trained model and save them as a PNG grid.", [sampling])
    p.add_argument("--num-samples", type=positive, default=64)
    p.add_argument("--out", default="samples.png", help="PNG file to write")
    p.set_defaults(run=cmd_sample)

    p = add("evaluate", "Measure a model; the last line printed is one JSON object.", [sampling])
    p.add_argument("--num-samples", type=positive, default=None,
                   help="generated images (default: 1000 for digits; 500 seen + 500 held-out prompts for shapes)")
    p.add_argument("--guidance-scale", type=_finite, default=None,
                   help="classifier-free guidance for shapes (default: the card's; the figure at 1 is always added)")
    p.add_argument("--bpd-images", type=non_negative, default=None,
                   help="bits/dim on this many random test digits (default: none for digits, all 1000 for digits_vae)")
    p.add_argument("--bpd-steps", type=non_negative, default=None,
                   help="importance-sampled steps per image for bits/dim (unbiased; 0: every one of the 1000 steps, "
                        "~0.5 s per image on a CPU; default 50)")
    p.add_argument("--eta", type=_fraction, default=None,
                   help="DDIM noise per step: 0 deterministic, 1 as noisy as DDPM (chapter 05); default 0 for "
                        "digits, the card's for the capstone")
    p.add_argument("--write-card", action="store_true", help="store the metrics in the checkpoint's card")
    p.add_argument("--data", metavar="FOLDER",
                   help="a text encoder or autoencoder trained on this captioned folder (train --data), measured on "
                        "the folder's images (default --checkpoint: its run's, runs/RECIPE-FOLDER)")
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser("generate", parents=[sampling],
                            help="Text to image with the shipped models (or --checkpoint); writes a PNG.",
                            description="Text to image with the shipped models (or --checkpoint); writes a PNG. "
                                        "Words the model never saw are named in a warning; --unconditional "
                                        "adds a row generated without text.")
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help='e.g. "a small red circle in the top left"')
    p.add_argument("--unconditional", action="store_true", help="also generate a row without text")
    p.add_argument("--out", default="generated.png", help="PNG file to write")
    p.add_argument("--num-images", type=positive, default=1, help="images per prompt (one row each)")
    p.add_argument("--autoencoder", metavar="FILE",
                   help="with --checkpoint: the autoencoder that decodes its latents (default: the shipped one it names)")
    p.add_argument("--guidance-scale", type=_finite, default=None, help="classifier-free guidance (default: the card's)")
    p.add_argument("--eta", type=_fraction, default=None,
                   help="DDIM noise per step, 0 (deterministic) to 1 (as noisy as DDPM); default: the card's, else 0")
    p.add_argument("--pipeline", choices=list(ROUTES), default=None,
                   help="default: scenes64, or with --checkpoint what the checkpoint draws. "
                        "scenes64: chapter 07's capstone (64x64 scenes of 1-3 objects with relations and counts, "
                        "trained on a GPU, then on a CPU); "
                        "pixel: chapter 03's 16x16 model; cascade: + the super-resolution decoder to 32x32; "
                        "latent: latent generator + autoencoder decoder, 32x32 (chapter 04). --checkpoint replaces "
                        "the route's generation model")
    p.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=cmd_generate, recipe="shapes")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)  # the command, as a card records it
    try:
        args.run(args)
    except (UsageError, CheckpointError, FileNotFoundError, RunLockedError) as error:  # the reader's mistake: one line, status 2
        parser.exit(2, f"error: {error}\n")
    except KeyboardInterrupt:  # Ctrl-C or timeout -s INT: a training run has saved its checkpoint and said so
        parser.exit(130, "stopped by an interrupt (Ctrl-C)\n")


if __name__ == "__main__":
    main()
