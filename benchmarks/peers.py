"""Our U-Net against diffusers' ``UNet2DModel`` built to the same widths, in one process.

    pip install -e ".[peers]"                    # diffusers: for this benchmark only
    python benchmarks/peers.py                    # 16x16x1 and 32x32x3 on the CPU (64x64x3 too on a GPU)
    python benchmarks/peers.py --sizes 16x16x1 --repeats 20

Both networks get the shipped digits model's widths (base 32, channel mults 1-2-2, one residual
block per level, attention at the lowest resolution and in the middle, GroupNorm 8, 4 heads), and
the script checks that their parameter counts are equal before timing anything. Ours runs twice: as the
trainer runs it (contiguous weights) and with channels-last weights (as the bulk samplers run it,
``nn.channels_last_copy``). The models take turns on the same batches: a *training step* is forward + MSE loss + backward + AdamW; a *sampling
pass* is one forward call without gradients (what each of the T sampling steps costs). On CUDA both
run under bf16 autocast, on the CPU with ``--bf16``. Prints one line per size and task (medians in ms, ours/diffusers ratio as a
speed-up: > 1 means ours is faster) and, last, one JSON line with every figure.

A benchmark, not a test: it prints figures and never fails on time.
"""

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from ddpm_from_scratch.nn import UNet, UNetConfig, channels_last_copy, count_parameters


def our_unet(channels: int, size: int) -> UNet:
    return UNet(UNetConfig(image_channels=channels, image_size=size, base_channels=32, channel_mults=(1, 2, 2),
                           num_res_blocks=1, attention_resolutions=(size // 4,), num_heads=4, num_groups=8))


def diffusers_unet(channels: int, size: int):
    from diffusers import UNet2DModel  # the benchmark's own extra: pip install -e ".[peers]"

    # as diffusers' documentation builds one; widths and attention placed as in our_unet
    return UNet2DModel(sample_size=size, in_channels=channels, out_channels=channels, layers_per_block=1,
                       block_out_channels=(32, 64, 64), norm_num_groups=8, attention_head_dim=16,
                       down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"))


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=None, help="e.g. 16x16x1 32x32x3 (default: both, "
                        "and 64x64x3 on a GPU)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per model and task")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true",
                        help="bf16 autocast on the CPU too, for both models (on CUDA it is always on); pays on a CPU "
                             "with bf16 instructions (AVX512-BF16, AMX)")
    args = parser.parse_args()
    device = torch.device(args.device)
    sizes = args.sizes or (["16x16x1", "32x32x3", "64x64x3"] if device.type == "cuda" else ["16x16x1", "32x32x3"])
    bf16 = device.type == "cuda" or args.bf16
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads")
    print(f"{where}; torch {torch.__version__}; batch {args.batch_size}; {args.repeats} timed calls each; "
          f"{'bf16 autocast' if bf16 else 'float32'}")
    results = []
    for spec in sizes:
        size, _, channels = (int(n) for n in spec.split("x"))
        torch.manual_seed(0)
        models = {"ours": our_unet(channels, size).to(device), "diffusers": diffusers_unet(channels, size).to(device)}
        counts = {name: count_parameters(model) for name, model in models.items()}
        if counts["ours"] != counts["diffusers"]:
            raise SystemExit(f"{spec}: parameter counts differ ({counts}); the comparison needs equal widths")
        # ours as the bulk samplers run it (nn.channels_last_copy); the trainer keeps the contiguous layout
        models["ours, channels_last"] = channels_last_copy(models["ours"])
        calls = {"ours": lambda m, x, t: m(x, t), "ours, channels_last": lambda m, x, t: m(x, t),
                 "diffusers": lambda m, x, t: m(x, t).sample}
        optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-4) for name, model in models.items()}
        x = torch.randn(args.batch_size, channels, size, size, device=device)
        noise = torch.randn_like(x)
        t = torch.randint(0, 1000, (args.batch_size,), device=device)

        def train_step(name):
            model, optimizer = models[name], optimizers[name]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.mse_loss(calls[name](model, x, t).float(), noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def sampling_pass(name):
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                calls[name](models[name], x, t)

        for task, fn in (("training step", train_step), ("sampling pass", sampling_pass)):
            times = {name: [] for name in models}
            for name in models:  # warm-up, untimed
                for _ in range(3):
                    fn(name)
            for _ in range(args.repeats):
                for name in models:  # alternate, so drifts in clock or load hit both
                    times[name].append(timed(lambda: fn(name), device))
            median = {name: 1000 * statistics.median(ts) for name, ts in times.items()}
            speedup = median["diffusers"] / median["ours"]
            speedup_cl = median["diffusers"] / median["ours, channels_last"]
            print(f"{spec:8s} {counts['ours']:>10,} params  {task:13s}  ours {median['ours']:8.2f} ms  "
                  f"(channels_last {median['ours, channels_last']:8.2f} ms)  diffusers {median['diffusers']:8.2f} ms  "
                  f"speed-up {speedup:.2f}x (channels_last {speedup_cl:.2f}x)", flush=True)
            results.append({"size": spec, "params": counts["ours"], "task": task, "ours_ms": round(median["ours"], 3),
                            "ours_channels_last_ms": round(median["ours, channels_last"], 3),
                            "diffusers_ms": round(median["diffusers"], 3), "speedup": round(speedup, 3),
                            "speedup_channels_last": round(speedup_cl, 3)})
    print(json.dumps({"device": where, "torch": torch.__version__, "batch_size": args.batch_size,
                      "bf16": bf16, "results": results}))


if __name__ == "__main__":
    main()
