"""Draw the README's figures from the shipped models: assets/reverse_process.png (digits) and
assets/text_to_image.png (the shapes model, including held-out colour-shape pairs)."""

from pathlib import Path

import torch

from ddpm_from_scratch import diffusion, pretrained, viz
from ddpm_from_scratch.pipeline import text_to_image

ASSETS = Path(__file__).parent.parent / "assets"


def main() -> None:
    digits = pretrained.load("digits")
    _, trajectory = diffusion.sample(digits.model, digits.schedule, 6, sampler="ddpm", clip_x0=False,
                                     generator=torch.Generator().manual_seed(0), return_trajectory=True,
                                     progress=False)
    fig = viz.reverse_process_strip(trajectory, num_columns=9, num_rows=6)
    fig.savefig(ASSETS / "reverse_process.png", dpi=110, bbox_inches="tight")

    shapes = pretrained.load("shapes")
    prompts = ["a big red circle in the top left", "a tiny blue box in the lower right",
               "upper right: a large yellow triangle", "a little magenta plus in the bottom left",
               "a big green triangle in the top left", "a small red cross in the bottom right"]  # last two: held out
    images = text_to_image(shapes.model, shapes.schedule, prompts, guidance_scale=shapes.card["guidance_scale"])
    fig = viz.show_captioned(images, prompts, ncols=6)
    fig.savefig(ASSETS / "text_to_image.png", dpi=110, bbox_inches="tight")
    print(f"wrote {ASSETS / 'reverse_process.png'} and {ASSETS / 'text_to_image.png'}")


if __name__ == "__main__":
    main()
