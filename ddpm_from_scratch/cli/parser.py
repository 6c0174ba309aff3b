"""The command line's options: one parser, the commands as subparsers, and the types that check each value
(a whole number, a fraction, a finite number) as argparse reads it (chapter 07 gathers every knob)."""

import argparse
import math

from ..recipes import RECIPES, ROUTES
from .evaluate import cmd_evaluate
from .sample import cmd_generate, cmd_sample
from .train import cmd_train


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
    p.set_defaults(run=cmd_generate)
    return parser
