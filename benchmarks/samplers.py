"""Time the samplers on the shipped digits model: DDPM-1000 against DDIM with fewer steps.

    python benchmarks/samplers.py --num-samples 250     # prints seconds and the speed-up per sampler

A benchmark, not a test: it prints figures and never fails on time. Each sampler runs after
one warm-up call of the network, on the same batch size, one after the other.
"""

import argparse
import os
import time

import torch

from ddpm_from_scratch import diffusion, pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=250)
    parser.add_argument("--ddim-steps", type=int, nargs="+", default=[10, 20, 50, 100])
    args = parser.parse_args()
    digits = pretrained.load("digits")
    with torch.no_grad():  # warm-up
        digits.model(torch.zeros(args.num_samples, *digits.model.sample_shape),
                     torch.zeros(args.num_samples, dtype=torch.long))
    print(f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, {args.num_samples} samples per run")
    timings = {}
    for name, sampler, steps in [("DDPM-1000", "ddpm", None)] + [(f"DDIM-{k}", "ddim", k) for k in args.ddim_steps]:
        start = time.perf_counter()
        diffusion.sample(digits.model, digits.schedule, args.num_samples, sampler=sampler, steps=steps,
                         generator=torch.Generator().manual_seed(0), progress=False)
        timings[name] = time.perf_counter() - start
        print(f"{name:10s} {timings[name]:8.1f} s   {timings['DDPM-1000'] / timings[name]:6.1f}x faster than DDPM-1000",
              flush=True)


if __name__ == "__main__":
    main()
