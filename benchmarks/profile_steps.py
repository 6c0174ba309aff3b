"""Where the time goes: one training step and one sampling step of the shipped models, by kind of operation.

    python benchmarks/profile_steps.py                     # digits and shapes, batch 64, on this machine
    python benchmarks/profile_steps.py --models digits --batch-size 256

A *training step* is forward + denoising loss + backward + AdamW on a batch of noisy training images;
a *sampling step* is one network call without gradients (guided, so on a doubled batch, for the text
model). Each is run a few times untimed, then ``--repeats`` times under ``torch.profiler``; the
operators' own time (self time, so nothing is counted twice) is summed into groups: convolution,
normalisation, attention, linear layers, elementwise and copies, the optimiser, the rest.
Prints one table per model and task. A benchmark, not a test: it prints figures and never fails on time.
"""

import argparse
import os

import torch
from torch.profiler import ProfilerActivity, profile

from ddpm_from_scratch import diffusion, pretrained

GROUPS = [  # (group, substrings of operator names), first match wins
    ("convolution", ("conv", "mkldnn")),
    ("normalisation", ("group_norm", "layer_norm", "batch_norm")),
    ("attention", ("attention", "softmax", "bmm", "baddbmm")),
    ("linear", ("addmm", "aten::mm", "aten::linear", "matmul")),
    ("optimiser", ("foreach", "adam", "optimizer")),
    ("elementwise and copies", ("add", "mul", "sub", "div", "silu", "sigmoid", "cat", "copy", "clone", "fill",
                                "zero", "pow", "sqrt", "exp", "neg", "where", "clamp", "randn", "normal", "upsample",
                                "index", "embedding", "sin", "cos", "mean", "sum", "to", "contiguous")),
]


def group_of(name: str) -> str:
    lowered = name.lower()
    return next((group for group, keys in GROUPS if any(key in lowered for key in keys)), "other")


def profiled(fn, repeats: int) -> dict:
    for _ in range(3):
        fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            fn()
    totals = {}
    for event in prof.key_averages():
        totals[group_of(event.key)] = totals.get(group_of(event.key), 0.0) + event.self_cpu_time_total / 1000
    return {group: ms / repeats for group, ms in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["digits", "shapes"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads; torch {torch.__version__}; "
          f"batch {args.batch_size}; milliseconds per step, operators' self time")
    for name in args.models:
        loaded = pretrained.load(name)
        model, schedule = loaded.model.train(), loaded.schedule
        generator = torch.Generator().manual_seed(0)
        batch = {"x0": torch.rand((args.batch_size, *model.sample_shape), generator=generator) * 2 - 1}
        text = None
        if hasattr(model, "tokenizer"):
            text = model.tokenizer(["a small red circle in the top left"] * args.batch_size)
            batch["text"] = text
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

        def train_step():
            loss = diffusion.denoising_loss(model, schedule, batch, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        x_t = torch.randn((args.batch_size, *model.sample_shape), generator=generator)
        t = torch.full((args.batch_size,), 500)
        network = model if text is None else diffusion.guided_noise_predictor(model, text, guidance_scale=3.0)

        def sampling_step():
            with torch.no_grad():
                network(x_t, t)

        for task, fn in (("training step", train_step), ("sampling step", sampling_step)):
            if task == "sampling step":
                model.eval()
            times = profiled(fn, args.repeats)
            total = sum(times.values())
            print(f"\n{name}, {task}: {total:.1f} ms")
            for group, ms in sorted(times.items(), key=lambda item: -item[1]):
                print(f"  {group:24s} {ms:7.1f} ms  {100 * ms / total:5.1f}%")


if __name__ == "__main__":
    main()
