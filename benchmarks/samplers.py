"""Time the samplers on the shipped digits model: DDPM-1000 against DDIM with fewer steps.

    python benchmarks/samplers.py --num-samples 250     # prints seconds and the speed-up per sampler
    python benchmarks/samplers.py --guidance           # guided DDIM-50 of the shapes model: one batched
                                                       # call per step against two calls
    python benchmarks/samplers.py --layout --num-samples 1000   # DDIM-50 of 1,000 digits as `evaluate` draws
                                                       # them: channels-last weights against contiguous ones

A benchmark, not a test: it prints figures and never fails on time. Each sampler runs after
one warm-up call of the network, on the same batch size, one after the other.
"""

import argparse
import os
import time

import torch

from ddpm_from_scratch import diffusion, pipeline, pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=250)
    parser.add_argument("--ddim-steps", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument("--guidance", action="store_true", help="time classifier-free guidance instead")
    parser.add_argument("--layout", action="store_true", help="time DDIM-50 in both memory layouts instead")
    args = parser.parse_args()
    if args.guidance:
        return time_guidance(args.num_samples)
    if args.layout:
        return time_layouts(args.num_samples)
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


def time_guidance(num_samples: int, steps: int = 50, repeats: int = 3) -> None:
    """Guided DDIM sampling of the shipped shapes model, the two predictions in one call on a doubled batch
    against two calls (``guided_noise_predictor(batched=True/False)``), alternating, with the same seed:
    the samples must agree."""
    shapes = pretrained.load("shapes")
    model = shapes.model.eval()
    text = model.tokenizer(["a small red circle in the top left"] * num_samples)
    print(f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, {num_samples} samples, "
          f"DDIM-{steps}, guidance 3")
    timings, samples = {"one batched call": [], "two calls": []}, {}
    for _ in range(repeats):
        for name, batched in (("one batched call", True), ("two calls", False)):
            start = time.perf_counter()
            with torch.no_grad():
                guided = diffusion.guided_noise_predictor(model, text, guidance_scale=3.0, batched=batched)
                x = torch.randn((num_samples, *model.sample_shape), generator=torch.Generator().manual_seed(0))
                for i, t in enumerate(timesteps := diffusion.sampling_timesteps(shapes.schedule, steps)):
                    eps = guided(x, torch.full((num_samples,), t))
                    x = diffusion.ddim_step(shapes.schedule, eps, t, timesteps[i + 1] if i + 1 < steps else -1, x,
                                            clip_x0=True)
            timings[name].append(time.perf_counter() - start)
            samples[name] = x
    best = {name: min(ts) for name, ts in timings.items()}
    difference = (samples["one batched call"] - samples["two calls"]).abs().max().item()
    print(f"one batched call {best['one batched call']:.2f} s, two calls {best['two calls']:.2f} s (best of "
          f"{repeats}): {best['two calls'] / best['one batched call']:.2f}x; samples differ by at most {difference:.1e}")


def time_layouts(num_samples: int, repeats: int = 2) -> None:
    """DDIM-50 of the shipped digits model in batches of 250, as ``evaluate`` draws them: through
    ``pipeline.generate`` (the model's weights channels-last) and through ``diffusion.sample`` on the model as it is
    (contiguous), alternating, same seed: the samples must agree."""
    digits = pretrained.load("digits")
    print(f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, {num_samples} samples, DDIM-50")
    timings, samples = {"channels_last": [], "contiguous": []}, {}
    for _ in range(repeats):
        for name in timings:
            start = time.perf_counter()
            if name == "channels_last":
                samples[name] = pipeline.generate(digits.model, digits.schedule, num_samples, diffusion.Sampling(steps=50))
            else:
                generator = torch.Generator().manual_seed(0)
                samples[name] = torch.cat([diffusion.sample(digits.model, digits.schedule, min(250, num_samples - i),
                                                            sampler="ddim", steps=50, generator=generator,
                                                            progress=False) for i in range(0, num_samples, 250)]).clamp(-1, 1)
            timings[name].append(time.perf_counter() - start)
    best = {name: min(ts) for name, ts in timings.items()}
    difference = (samples["channels_last"] - samples["contiguous"]).abs().max().item()
    print(f"channels_last {best['channels_last']:.1f} s, contiguous {best['contiguous']:.1f} s (best of {repeats}): "
          f"{best['contiguous'] / best['channels_last']:.2f}x; samples differ by at most {difference:.1e}")


if __name__ == "__main__":
    main()
