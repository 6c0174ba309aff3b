"""Seconds per training step of each recipe, on this machine's device (what a chapter's training cell costs).

    python benchmarks/train_steps.py                      # every trainable recipe, 50 timed steps each
    python benchmarks/train_steps.py --recipes digits shapes --steps 200

Each recipe's trainer is built exactly as ``train --recipe`` builds it (on CUDA with bf16 autocast), takes
10 untimed warm-up steps, then ``--steps`` timed ones (synchronised at both ends). Prints one line per
recipe and, last, one JSON line. A benchmark, not a test: it prints figures and never fails on time.
"""

import argparse
import json
import os
import time

import torch

from ddpm_from_scratch import recipes
from ddpm_from_scratch.budget import default_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trainable = [name for name, recipe in recipes.RECIPES.items() if recipe.model_config is not None]
    parser.add_argument("--recipes", nargs="+", default=trainable, choices=trainable)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    device = default_device()
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads")
    print(f"{where}; torch {torch.__version__}")
    seconds = {}
    for name in args.recipes:
        recipe = recipes.get_recipe(name)
        trainer = recipes.make_trainer(recipe, steps=args.steps + 10, device=device)
        for _ in range(10):
            trainer.train_step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds[name] = (time.perf_counter() - start) / args.steps
        full = seconds[name] * recipe.train_config.steps
        print(f"{name:20s} batch {recipe.train_config.batch_size:4d}  {1000 * seconds[name]:7.1f} ms/step  "
              f"recipe's {recipe.train_config.steps} steps: {full / 60:5.1f} min", flush=True)
    print(json.dumps({"device": where, "torch": torch.__version__,
                      "ms_per_step": {name: round(1000 * s, 2) for name, s in seconds.items()}}))


if __name__ == "__main__":
    main()
