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


def card_of_continued_run(shipped: dict, run: dict, fingerprint: str, resumed: bool = False) -> dict:
    """The card of weights trained further from a shipped checkpoint, for ``train --ship``.

    ``run`` is the new run's card, ``shipped`` the card of the shipped weights and ``fingerprint`` theirs. Two ways
    lead here: the run began from the shipped weights (``train --init-from`` them: a new run, fresh optimiser), or
    ``resumed``: the shipped weights are this run's own, exported at an earlier step, and the run went on from its
    checkpoint (``train --resume``: optimiser, EMA and data stream carry on as if it had never stopped). The new card
    keeps what ``shipped`` says of the model (goals, sampling, notes), lists every stretch of training behind the
    weights in ``training_chunks`` (steps, hardware, wall time, seed, command), counts ``steps`` and ``wall_time_s``
    over all of them, and moves what was measured on the old weights (``metrics``, ``sampler_sweep``) under
    ``earlier_weights`` (which nests the still earlier ones): the new weights have none until ``evaluate
    --write-card`` measures them."""
    measured = ("metrics", "metrics_command", "metrics_hardware", "sampler_sweep", "sampler_sweep_command")
    before = run["steps_in_all"] - run["steps"]  # the steps behind the weights the run began from
    chunks = shipped.get("training_chunks") or [_chunk(shipped, before - shipped["steps"])]
    start = run["initialised_from"]
    runs_before = "run 1" if len(chunks) == 1 else f"runs 1-{len(chunks)}"
    if resumed:  # the stretch since the run last shipped: its steps, seconds and commands
        own = [c for c in chunks if c["steps"][0] >= before]  # the chunks this run made before
        done = chunks[-1]["steps"][1]
        commands = run["command"].split(", then ")[sum(len(c["command"].split(", then ")) for c in own):]
        stops = [s for s in run.get("interrupted_at_steps", []) if s > done - before]  # those of this stretch
        chunk = {k: v for k, v in _chunk(run, done).items() if k != "interrupted_at_steps"} | {
            "steps": [done, run["steps_in_all"]],
            "wall_time_s": round(run["wall_time_s"] - sum(c["wall_time_s"] for c in own), 1),
            "command": ", then ".join(commands),
            **({"interrupted_at_steps": stops} if stops else {}),
            "note": f"run {len(chunks) - len(own) + 1} resumed from its own checkpoint at its step {done - before:,} "
                    f"(`train --resume`): optimiser, EMA and data stream carry on as if it had never stopped; "
                    f"its steps and wall time here are those since it was last shipped"}
    else:
        chunk = _chunk(run, before) | {
            "note": f"`train --init-from` the weights of {runs_before} (fingerprint {start['fingerprint']}): a new "
                    f"run with a fresh optimiser and the recipe's warm-up, drawing other data (seed {run['seed']})"}
    chunks = chunks + [chunk]
    card = {k: v for k, v in shipped.items() if k not in measured + ("earlier_weights",)} | run
    card |= {
        "steps": run["steps_in_all"],
        "training_chunks": chunks,
        "wall_time_s": round(sum(chunk["wall_time_s"] for chunk in chunks), 1),
        "hardware": ", then ".join(f"{c['hardware']} ({c['steps'][1] - c['steps'][0]:,} steps, {c['wall_time_s']} s)"
                                   for c in chunks),
        "precision": ", then ".join(dict.fromkeys(str(chunk.get("precision")) for chunk in chunks)),
        "command": f"{len(chunks)} runs: " + "; ".join(f"({i}) on {c['hardware']}, {c['command']}"
                                                         for i, c in enumerate(chunks, 1)),
        "reproducibility": (f"run {len(chunks)}, resumed from the checkpoint that made the weights of {runs_before} "
                            f"(fingerprint {fingerprint}), with the commands of the run from its start: "
                            if resumed else
                            f"run {len(chunks)}, from the weights of {runs_before} (fingerprint {fingerprint}): ")
                           + f"{run['reproducibility']}. Before it: {shipped.get('reproducibility', 'not recorded')}",
        "earlier_weights": {"what": f"the weights of {runs_before} ({chunks[-2]['steps'][1]:,} steps), measured then",
                            "fingerprint": fingerprint, **{k: shipped[k] for k in measured if k in shipped},
                            "earlier": shipped.get("earlier_weights")},
    }
    return card


def _chunk(card: dict, first_step: int) -> dict:
    """One run behind a model, as ``training_chunks`` lists it: steps [from, to), hardware, wall time, seed,
    precision, command and the steps (counted within the run) where an interrupt stopped it before it resumed."""
    return {"steps": [first_step, first_step + card["steps"]],
            **{k: card.get(k) for k in ("hardware", "wall_time_s", "seed", "precision", "command")},
            **({"interrupted_at_steps": card["interrupted_at_steps"]} if "interrupted_at_steps" in card else {})}


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
