"""Draw assets/reverse_process.png, the README's figure, from the shipped digits model."""

from pathlib import Path

import torch

from ddpm_from_scratch import diffusion, pretrained, viz


def main() -> None:
    digits = pretrained.load("digits")
    _, trajectory = diffusion.sample(digits.model, digits.schedule, (6, 1, 16, 16), sampler="ddpm",
                                     generator=torch.Generator().manual_seed(0), return_trajectory=True,
                                     progress=False)
    fig = viz.reverse_process_strip(trajectory, num_columns=9, num_rows=6)
    out = Path(__file__).parent.parent / "assets" / "reverse_process.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
