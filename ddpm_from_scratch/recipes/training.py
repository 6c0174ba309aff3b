"""A recipe made into a ``train.Trainer``: everything random seeded from the recipe's seed, optionally started from
an earlier run's weights."""

from dataclasses import replace
from pathlib import Path

import torch

from ..checkpoints import check_same_model, describe, load_checkpoint, read_card
from ..nn import model_for_config
from ..train import Trainer
from .recipe import Recipe


def build_model(recipe: Recipe, seed: int | None = None):
    """The recipe's untrained model; its initial weights are fixed by ``seed`` (default: the recipe's)."""
    torch.manual_seed(recipe.train_config.seed if seed is None else seed)
    return model_for_config(recipe.model_config)


def make_trainer(recipe: Recipe, checkpoint_path=None, resume: bool = False, device=None, data=None,
                 compile: bool = False, init_from=None, **changes) -> Trainer:
    """A Trainer set up exactly as the recipe says. ``changes``: fields of the recipe's ``TrainConfig`` to change,
    e.g. ``steps=200, seed=1`` (one given as None keeps the recipe's); ``data`` replaces the recipe's data;
    ``compile`` runs the network through ``torch.compile``. ``init_from``, a checkpoint file of the same recipe,
    starts the run from its weights instead of random ones (``initialise_from``).

    Everything random is seeded here from the recipe's seed, in this order: the model's
    initial weights, the training data (when the recipe draws it), then the trainer's own
    generator (batches, steps t, noise) and the global RNG (dropout).
    """
    if recipe.model_config is None:
        raise ValueError(f"recipe {recipe.name!r} is a pipeline of shipped models ({recipe.description}); "
                         "there is nothing to train")
    config = replace(recipe.train_config, **{name: value for name, value in changes.items() if value is not None})
    if config.steps < 0:
        raise ValueError(f"steps must be 0 or more, got {config.steps}")
    model = build_model(recipe, config.seed)
    prepared = recipe.prepare(model) if recipe.prepare else {}
    metadata = {"recipe": recipe.name}
    if init_from is not None:  # where the run begins, and the runs behind those weights (Trainer.fit adds its own)
        metadata["initialised_from"], metadata["runs"] = initialise_from(model, init_from, prepared.get("requires", []))
    return Trainer(model, recipe.loss, recipe.data(model, config.seed) if data is None else data, config,
                   checkpoint_path=checkpoint_path, resume=resume, device=device, compile=compile,
                   header=describe(model, recipe.schedule, metadata=metadata, **prepared))


def initialise_from(model, path, requires=()) -> tuple:
    """Copy the weights of the checkpoint at ``path`` (exported or a training checkpoint: its EMA weights; float16
    files load as float32) into ``model``, and say where they came from: ``{file, fingerprint, steps}`` (the steps
    behind them in all) and the runs that made them (``Trainer.new_run``'s records). This starts a new run from an
    earlier one's weights: the optimiser's moments, the learning-rate warm-up and the data stream start afresh, so it
    is not the run continued (``resume`` is). The checkpoint must hold the same model, trained with the same modules
    (``requires``)."""
    path = Path(path)
    payload = load_checkpoint(path)
    check_same_model(payload, model, path)
    wanted = {r["name"]: r["fingerprint"] for r in requires}
    saved = {r["name"]: r["fingerprint"] for r in payload.get("requires", [])}
    if saved != wanted:
        raise ValueError(f"{path} was trained with other modules ({saved or 'none'}) than this run reads "
                         f"({wanted or 'none'}): its weights would mean something else here. Start from a checkpoint "
                         "trained with the same text encoder and autoencoder")
    model.load_state_dict(payload["ema"] if "ema" in payload else payload["model"])
    # the runs behind the file: its own record, else its card's (files written before records were), else its steps
    runs = (payload.get("metadata", {}).get("runs") or read_card(path).get("runs")
            or [{"began": "not recorded", "steps": payload.get("step", 0)}])
    steps = sum(run["steps"] for run in runs)
    return {"file": path.name, "fingerprint": payload["fingerprint"], "steps": steps}, list(runs)
