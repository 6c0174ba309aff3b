"""The checkpoints the package ships, made by its own recipes (chapters 01-07).

Each ``NAME.pt`` in ``ddpm_from_scratch/checkpoints`` has a card ``NAME.json`` beside it:
the command and recipe that made it, seed, steps, wall time, hardware and the metrics
measured on it. Nothing is downloaded: the files are part of the installed package. A card
whose weights no longer ship (beaten by a later model) stays, with ``weights_not_shipped``
saying why, so that the book can still quote what was measured on them.
"""

from dataclasses import dataclass
from pathlib import Path

from .checkpoints import load_checkpoint, model_from_payload, read_card, schedule_of
from .schedules import NoiseSchedule

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"


@dataclass
class Pretrained:
    model: object                     # the network, EMA weights, eval mode
    schedule: NoiseSchedule | None    # the noise schedule it was trained with (None for a classifier)
    card: dict                        # recipe, seed, steps, wall time, hardware, metrics
    header: dict                      # the checkpoint's header: schedule, data_range, scale_factor, requires, ...
    path: Path                        # the file it came from


def available() -> list:
    """Names of the shipped checkpoints."""
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.pt"))


def card(name: str) -> dict:
    """The card of a shipped checkpoint ({} if it has none)."""
    return read_card(CHECKPOINT_DIR / f"{name}.pt")


def load(name: str, device=None) -> Pretrained:
    """Load a shipped checkpoint by name, e.g. ``load("digits")``."""
    path = CHECKPOINT_DIR / f"{name}.pt"
    kept = {} if path.exists() else card(name)
    if "weights_not_shipped" in kept:  # a card kept for its figures
        raise FileNotFoundError(
            f"the weights of {name!r} no longer ship: {kept['weights_not_shipped']} Its card, "
            f"{path.with_suffix('.json')}, keeps their figures. Make them with: python -m ddpm_from_scratch "
            f"train --recipe {name}")
    if not path.exists():
        raise FileNotFoundError(
            f"no shipped checkpoint named {name!r}; available: {', '.join(available()) or 'none'}. "
            f"Make it with: python -m ddpm_from_scratch train --recipe {name} --ship")
    return load_file(path, device)


def load_file(path, device=None) -> Pretrained:
    """Any checkpoint file (shipped, exported or a training checkpoint): EMA model, schedule, card."""
    path = Path(path)
    payload = load_checkpoint(path)
    header = {k: v for k, v in payload.items() if k not in ("model", "ema", "optimizer")}
    return Pretrained(model_from_payload(payload, path, device=device), schedule_of(payload), read_card(path),
                      header, path)
