"""How well a recipe uses a GPU: images/s, achieved TFLOP/s and MFU, peak memory, loss, sampling time.

    python benchmarks/gpu_check.py                          # the capstone's generator, 300 steps, bf16
    python benchmarks/gpu_check.py --recipe digits --steps 200 --compile
    python benchmarks/gpu_check.py --data-workers 6           # scenes drawn by 6 processes ahead of the step
    python benchmarks/gpu_check.py --recipe digits --steps 3 --device cpu   # the script itself, on a CPU

The recipe's trainer is built as ``train --recipe`` builds it (bf16 autocast on CUDA), takes warm-up
steps, then ``--steps`` timed ones. Where the step's time goes: the data alone (one batch drawn and
finished in this process) and the step on one fixed batch (the network and the optimiser alone) are
timed first; a training step that takes much longer than the second is waiting for its data. FLOPs are counted, not guessed: one training step (forward and
backward, the optimiser left out) runs under ``torch.utils.flop_counter.FlopCounterMode``, which adds
up the matrix products, convolutions and attention of the network as it runs. MFU = achieved FLOP/s
/ the device's dense bf16 peak (a table below, by device name; unknown devices get no MFU). Sampling:
DDIM-50 of one batch, per image. Prints what it does and, last, one JSON line. Made to finish within
8 minutes on one GPU; a benchmark, not a test.
"""

import argparse
import json
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ddpm_from_scratch import diffusion, recipes
from ddpm_from_scratch.budget import default_device
from ddpm_from_scratch.train import OnTheFly

# Dense bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets (without sparsity).
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 PCIe": 756.0, "H100": 756.0,
                    "A100": 312.0, "L40S": 362.1, "L4": 121.0, "A10G": 70.0, "RTX 4090": 165.2, "RTX 3090": 71.0}
DEFAULT_RECIPE = "scenes_latent"  # the capstone's generator on 32x32 scenes: scenes64_latent's network, cheaper data


def peak_tflops(device_name: str) -> float | None:
    for key, peak in PEAK_BF16_TFLOPS.items():  # the most specific names come first
        if key in device_name:
            return peak
    return None


def flops_per_step(trainer) -> int:
    """FLOPs of one forward and backward pass of the recipe's loss on one batch, as the network runs them."""
    batch = trainer.sample_batch(trainer.config.batch_size, torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)  # counts the network's FLOPs, not the data's (an encoder, say)
    with counter:
        use_bf16 = trainer.config.bf16 and trainer.device.type == "cuda"
        with torch.autocast(device_type=trainer.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = trainer.loss_fn(trainer.model, batch, torch.Generator().manual_seed(0))
        loss.backward()
    trainer.optimizer.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn, calls: int, device) -> float:
    fn()  # warm-up
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / calls


def where_the_step_goes(trainer, calls: int) -> tuple:
    """Seconds for one batch of data alone (drawn and finished in this process) and for one training step on one
    fixed batch (the network and the optimiser alone: its data costs nothing)."""
    c, device = trainer.config, trainer.device
    generator = torch.Generator().manual_seed(0)
    data_seconds = seconds_per_call(lambda: trainer.sample_batch(c.batch_size, generator), calls, device)
    fixed = trainer.sample_batch(c.batch_size // c.micro_batches, generator)
    data, trainer.data = trainer.data, OnTheFly(lambda batch_size, generator: fixed)
    step_seconds = seconds_per_call(trainer.train_step, calls, device)
    trainer.data = data
    return data_seconds, step_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=DEFAULT_RECIPE if DEFAULT_RECIPE in recipes.RECIPES else "shapes_latent")
    parser.add_argument("--steps", type=int, default=300, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--data-workers", type=int, default=None, help="processes that draw batches ahead of the "
                        "step (default: the recipe's)")
    parser.add_argument("--sample-batch", type=int, default=64)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else default_device()
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads")
    recipe = recipes.get_recipe(args.recipe)
    trainer = recipes.make_trainer(recipe, steps=args.warmup + args.steps, device=device, compile=args.compile,
                                   data_workers=args.data_workers)
    batch_size = trainer.config.batch_size
    print(f"{name}; torch {torch.__version__}; recipe {recipe.name} (batch {batch_size}, "
          f"{sum(p.numel() for p in trainer.model.parameters() if p.requires_grad):,} trained parameters)", flush=True)
    flops = flops_per_step(trainer)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    data_seconds, fixed_batch_seconds = where_the_step_goes(trainer, min(args.steps, 20))
    print(f"data alone: {1000 * data_seconds:.1f} ms/batch in this process; step on one fixed batch: "
          f"{1000 * fixed_batch_seconds:.1f} ms", flush=True)
    with trainer.data_ahead():  # the data workers, if any, start here
        for _ in range(args.warmup):  # compilation, cuDNN's algorithm search, the allocator's first requests
            trainer.train_step()
        synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
        synchronize(device)
    seconds = (time.perf_counter() - start) / args.steps
    trainer._read_losses()
    achieved = flops / seconds / 1e12
    peak = peak_tflops(name) if device.type == "cuda" else None
    peak_memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    print(f"training: {1000 * seconds:.1f} ms/step, {batch_size / seconds:.0f} images/s, "
          f"{flops / 1e9:.1f} GFLOP/step, {achieved:.2f} TFLOP/s"
          + (f", MFU {100 * achieved / peak:.1f}% of {peak} bf16 TFLOP/s" if peak else ""), flush=True)

    sample_seconds = None
    if recipe.schedule is not None:
        model = trainer.ema
        with torch.inference_mode():
            diffusion.sample(model, recipe.schedule, 2, sampler="ddim", steps=2, progress=False)  # warm-up
            synchronize(device)
            start = time.perf_counter()
            diffusion.sample(model, recipe.schedule, args.sample_batch, sampler="ddim", steps=50, progress=False,
                             generator=torch.Generator().manual_seed(0))
            synchronize(device)
        sample_seconds = (time.perf_counter() - start) / args.sample_batch
        print(f"sampling: DDIM-50, batch {args.sample_batch}: {1000 * sample_seconds:.2f} ms per image", flush=True)

    print(json.dumps({
        "device": name, "torch": torch.__version__, "recipe": recipe.name, "batch_size": batch_size,
        "compile": args.compile, "bf16": device.type == "cuda" and trainer.config.bf16, "timed_steps": args.steps,
        "data_workers": trainer.config.data_workers, "ms_per_step": round(1000 * seconds, 2),
        "ms_data_alone": round(1000 * data_seconds, 2), "ms_step_on_a_fixed_batch": round(1000 * fixed_batch_seconds, 2), "images_per_s": round(batch_size / seconds, 1),
        "gflop_per_step": round(flops / 1e9, 2), "achieved_tflops": round(achieved, 3),
        "peak_tflops": peak, "mfu": round(achieved / peak, 4) if peak else None,
        "peak_memory_gib": round(peak_memory, 2) if peak_memory is not None else None,
        "final_loss": round(sum(trainer.losses[-50:]) / len(trainer.losses[-50:]), 4),
        "sample_ms_per_image_ddim50": round(1000 * sample_seconds, 3) if sample_seconds else None,
    }))


if __name__ == "__main__":
    main()
