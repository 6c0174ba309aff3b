"""Command line: train, sample, evaluate (chapter 07 gathers every knob; chapters 01-02 use the recipes).

    python -m ddpm_from_scratch train --recipe digits            # writes runs/digits/
    python -m ddpm_from_scratch train --recipe digits --resume   # continue an interrupted run
    python -m ddpm_from_scratch sample --recipe digits --out digits.png
    python -m ddpm_from_scratch evaluate --recipe digits         # last line of output: one JSON object
    python -m ddpm_from_scratch generate "a small red circle in the top left" --out img.png

One idea per module:

    parser    the options of every command, and the types that check their values
    checks    UsageError and the checks the commands share (--device, --checkpoint, --out, sampling, prompts)
    train     train: a recipe's model, in one process or N under torchrun; its exported weights and card
    sample    sample: a model's draws; generate: text to image through a route
    evaluate  evaluate: a recipe's evaluator on a checkpoint that fits it; one JSON line, or the card's metrics
"""

import sys

from .. import pretrained  # re-exported: cli.pretrained.CHECKPOINT_DIR, where the commands find shipped files
from ..checkpoints import CheckpointError
from ..train import RunLockedError
from .checks import UsageError
from .parser import build_parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)  # the command, as a card records it
    try:
        args.run(args)
    except (UsageError, CheckpointError, FileNotFoundError, RunLockedError) as error:  # the reader's mistake
        parser.exit(2, f"error: {error}\n")
    except KeyboardInterrupt:  # Ctrl-C or timeout -s INT: a training run has saved its checkpoint and said so
        parser.exit(130, "stopped by an interrupt (Ctrl-C)\n")
