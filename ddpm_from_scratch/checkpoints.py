"""The checkpoint format: how a model is saved, read back and checked (chapters 02 and 04).

A checkpoint is one file written with ``torch.save`` that holds **tensors and plain data
only** (str, int, float, bool, None, lists, dicts). It is read with
``torch.load(weights_only=True)``, so loading a checkpoint never runs code from the file:
a file that would need to (a crafted pickle) is refused with a ``CheckpointError``.

What a checkpoint says about its model (format 2):

    format           "ddpm-from-scratch/2"
    package_version  the ddpm_from_scratch version that wrote it
    model_class      e.g. "UNet"; model_config: the config dataclass as a dict
    schedule         the whole noise schedule (``NoiseSchedule.spec()``: kind, T, parameters), or None
    data_range       [-1, 1] for images; None for latents, 2-D points and classifiers
    scale_factor     for a latent autoencoder (chapter 04): 1 / std of its latents, measured; else None
    requires         other checkpoints the model needs, each {"name", "fingerprint"}: a latent
                     generator names its autoencoder, so the wrong one is refused
    fingerprint      sha256 of the weights (the EMA weights where there are both)
    metadata         e.g. the recipe's name

and then the weights: ``ema`` (what sampling uses), and in a training checkpoint also
``model``, ``optimizer``, ``step``, ``losses``, RNG states and the train config.
Files of format 1 (the first shipped checkpoints) still load: the missing fields are
filled in from what format 1 stored. Writes are atomic: a crash leaves the old file or the
new one, never half of one.
"""

import hashlib
import json
import os
import pickle
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from . import __version__
from .nn import build_model, full_config
from .schedules import NoiseSchedule

FORMAT_PREFIX = "ddpm-from-scratch/"
FORMAT_VERSION = 2
CHECKPOINT_FORMAT = f"{FORMAT_PREFIX}{FORMAT_VERSION}"


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: unreadable, truncated, unsafe, or for another model."""


def fingerprint(state_dict: dict) -> str:
    """A short content hash of a set of weights: equal weights, equal fingerprint, on any device."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu()
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def model_spec(model: nn.Module) -> dict:
    """What a checkpoint records to rebuild ``model``: its class name and config."""
    return {"model_class": type(model).__name__, "model_config": asdict(model.config)}


def describe(model: nn.Module, schedule: NoiseSchedule | None = None, scale_factor: float | None = None,
             requires: list | tuple = (), metadata: dict | None = None) -> dict:
    """The header of a checkpoint of ``model``: everything but the weights (see the module docstring)."""
    data_range = getattr(model, "data_range", None)
    return {
        **model_spec(model),
        "schedule": schedule.spec() if schedule is not None else None,
        "data_range": list(data_range) if data_range is not None else None,
        "scale_factor": scale_factor,
        "requires": [dict(r) for r in requires],
        "metadata": dict(metadata or {}),
    }


ROLES = ("text encoder", "autoencoder")  # what a model's required checkpoints are to it


def requirement(name: str, payload: dict, role: str | None = None) -> dict:
    """An entry of ``requires``: the checkpoint ``name`` with the fingerprint of the weights in ``payload``, and the
    ``role`` it plays for the model (one of ``ROLES``)."""
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; a required checkpoint is a {' or an '.join(ROLES)}")
    return {"name": name, "fingerprint": payload["fingerprint"]} | ({"role": role} if role else {})


def required(header: dict, role: str) -> str | None:
    """The name of the checkpoint that a model's header ``requires`` for ``role`` (one of ``ROLES``); None when it
    requires none. An entry names its role; in files written before entries did (the shipped generators), an
    autoencoder's name ends in ``_autoencoder`` and the other entry is the text encoder."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; a model requires an 'autoencoder' or a 'text encoder'")
    names = [r["name"] for r in header.get("requires", [])
             if r.get("role", "autoencoder" if r["name"].endswith("_autoencoder") else "text encoder") == role]
    return names[0] if names else None


def make_card(trainer, recipe, data: str | None = None, half: bool = False) -> dict:
    """The card of the weights a ``train.Trainer`` made from ``recipe`` (``recipes.Recipe``): every run behind them
    (``runs``: one record per ``Trainer.fit``, those of the weights it started from first, each with its command,
    seed, steps, hardware and seconds), the steps and seconds in all, the batch, the last losses and the recipe's
    sampling settings. ``train`` writes it beside the exported weights (``half``: stored as float16; ``data``: the
    folder it learned from), and a notebook can too (``write_card(make_card(trainer, recipe), path)``)."""
    config = trainer.config
    runs = trainer.header.get("metadata", {}).get("runs", [])
    started = trainer.header.get("metadata", {}).get("initialised_from")  # {file, fingerprint, steps behind it}
    return {
        "name": recipe.name,
        "recipe": recipe.name,
        "description": recipe.description,
        "steps": trainer.step + (started["steps"] if started else 0),  # in all, the runs it started from included
        "wall_time_s": round(sum(run["wall_time_s"] for run in runs), 1),
        "runs": [run | {"wall_time_s": round(run["wall_time_s"], 1)} for run in runs],
        "batch_size": config.batch_size,
        "global_batch_size": config.batch_size,  # over all processes: each draws batch_size / world_size
        "micro_batches": config.micro_batches,
        "data_workers": config.data_workers,
        "world_size": trainer.world_size,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "weights_stored_as": "float16" if half else "float32",
        "final_loss_avg_last_100": sum(trainer.losses[-100:]) / max(len(trainer.losses[-100:]), 1),
        **({"data": data} if data else {}),
        **(recipe.sampling or {}),  # how generate and evaluate sample from it by default
    }


# ------------------------------------------------------------------------------------
# Writing and reading files
# ------------------------------------------------------------------------------------
def save_checkpoint(payload: dict, path) -> Path:
    """Write ``payload`` (a header from ``describe`` plus weights) to ``path`` atomically.

    The file is written next to its destination and renamed over it only when complete, so
    a crash, a full disk or a kill mid-write leaves the previous checkpoint as it was.
    """
    path = Path(path)
    weights = payload.get("ema", payload.get("model"))
    payload = {"format": CHECKPOINT_FORMAT, "package_version": __version__, **payload,
               "fingerprint": fingerprint(weights) if weights is not None else None}

    def write(tmp):
        with open(tmp, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, write)
    except OSError as error:
        kept = f"the previous checkpoint {path} is unchanged" if path.exists() else "no checkpoint was written"
        raise CheckpointError(f"could not write a checkpoint to {path} ({error.strerror or error}); {kept}. "
                              "Free some disk space or choose a writable output directory, then resume.") from error
    return path


def read_card(checkpoint_path) -> dict:
    """The card beside a checkpoint (``NAME.json`` beside ``NAME.pt``), or ``{}`` when it has none."""
    card_path = Path(checkpoint_path).with_suffix(".json")
    return json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}


def write_card(card: dict, path) -> Path:
    """Write a checkpoint's card (JSON) to ``path`` atomically, as ``save_checkpoint`` writes weights."""
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"   # cards carry prose: keep "×" and "—" readable
    return replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def replace_atomically(path, write) -> Path:
    """``write(tmp)`` a file beside ``path``, then rename it over ``path``: a crash or a full disk mid-write
    leaves the old file whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.is_file():
            tmp.unlink()
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint (format 1 or 2) as a format-2 payload, with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train one first "
                                "(python -m ddpm_from_scratch train --recipe NAME)")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file (a run directory holds "
                              "checkpoint.pt and the exported RECIPE.pt)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error):  # the file asks to import and call something: code would run
            raise CheckpointError(f"{path} contains objects other than tensors and plain data; loading it could "
                                  "run code from the file, so it was refused. Only load checkpoints written by "
                                  "ddpm-from-scratch, from a source you trust.") from error
        raise CheckpointError(_unreadable(path, "its bytes are not a saved checkpoint")) from error
    except Exception as error:
        raise CheckpointError(_unreadable(path, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")) from error
    if not isinstance(payload, dict) or not str(payload.get("format", "")).startswith(FORMAT_PREFIX):
        raise CheckpointError(f"{path} is not a ddpm-from-scratch checkpoint "
                              f"(expected format {CHECKPOINT_FORMAT!r})")
    version = payload["format"][len(FORMAT_PREFIX):]
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {payload['format']!r}, newer than this version of "
                              f"ddpm-from-scratch ({__version__}) reads (up to {CHECKPOINT_FORMAT!r}). "
                              "Upgrade the package: pip install -U ddpm-from-scratch")
    if int(version) == 1:
        payload = _upgrade_from_format_1(payload)
    weights = payload.get("ema", payload.get("model"))
    if weights is not None and payload.get("fingerprint") != fingerprint(weights):
        raise CheckpointError(f"{path}: its weights do not match the fingerprint stored with them "
                              f"({payload.get('fingerprint')}): the file was altered or damaged. "
                              "Restore it from a good copy or train again.")
    return payload


def _unreadable(path, reason: str) -> str:
    return (f"{path} is not a readable checkpoint ({reason}). It may be truncated or corrupt: "
            "delete it and train again, or restore it from a good copy.")


def _upgrade_from_format_1(payload: dict) -> dict:
    """Format 1 stored the schedule by name in the metadata and nothing about ranges or requirements."""
    schedule = payload.get("metadata", {}).get("schedule")
    config = full_config(payload["model_class"], payload["model_config"])
    data_range = config.get("data_range") if payload["model_class"] != "MLPDenoiser" else None
    weights = payload.get("ema", payload.get("model"))
    return {**payload, "format": CHECKPOINT_FORMAT, "package_version": payload.get("package_version", "0.1.0"),
            "schedule": NoiseSchedule.from_name(schedule).spec() if schedule else None,
            "data_range": list(data_range) if data_range is not None else None,
            "scale_factor": None, "requires": [],
            "fingerprint": fingerprint(weights) if weights is not None else None}


# ------------------------------------------------------------------------------------
# From a payload to a model
# ------------------------------------------------------------------------------------
def check_same_model(payload: dict, model: nn.Module, path) -> None:
    """Raise CheckpointError naming the differences when ``payload`` was saved from another model."""
    spec = model_spec(model)
    if payload.get("model_class") != spec["model_class"]:
        raise CheckpointError(f"{path} holds a {payload.get('model_class')}, not a {spec['model_class']}")
    saved = full_config(spec["model_class"], payload.get("model_config", {}))
    wanted = full_config(spec["model_class"], spec["model_config"])
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs model {wanted.get(k)!r}"
             for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]
    if diffs:
        raise CheckpointError(f"{path} was saved from a differently configured {spec['model_class']} ("
                              + "; ".join(diffs) + "). Build the model with the checkpoint's config, "
                              "or train a new checkpoint in another directory.")


def model_from_payload(payload: dict, path, weights: str = "ema", device=None) -> nn.Module:
    """The model described by a loaded checkpoint ``payload`` (read from ``path``, named in errors)."""
    try:
        model = build_model(payload["model_class"], payload["model_config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} describes a model this package cannot build: {error}") from error
    if weights not in payload:
        raise CheckpointError(f"{path} has no {weights!r} weights (it has: "
                              f"{', '.join(k for k in ('model', 'ema') if k in payload)})")
    try:
        model.load_state_dict(payload[weights])
    except (RuntimeError, ValueError) as error:  # wrong shapes, or (text models) another vocabulary
        raise CheckpointError(f"the weights in {path} do not fit the model they describe: {error}") from error
    return model.to(device or "cpu").eval()


def load_model(path, weights: str = "ema", device=None) -> nn.Module:
    """Rebuild the model stored in a checkpoint (a training checkpoint or an exported one), in eval mode."""
    return model_from_payload(load_checkpoint(path), path, weights, device)


def schedule_of(payload: dict) -> NoiseSchedule | None:
    """The noise schedule a loaded checkpoint was trained with (None for a classifier or autoencoder)."""
    return NoiseSchedule.from_spec(payload["schedule"]) if payload.get("schedule") else None


def check_requirement(payload: dict, path, name: str, dependency: dict, dependency_path) -> None:
    """Raise CheckpointError unless ``dependency`` (loaded from ``dependency_path``) is the ``name``
    checkpoint that the model in ``payload`` (from ``path``) was trained with."""
    wanted = {r["name"]: r["fingerprint"] for r in payload.get("requires", [])}
    if name not in wanted:
        raise CheckpointError(f"{path} does not use a {name!r} checkpoint (it requires: "
                              f"{', '.join(wanted) or 'nothing'}), so {dependency_path} cannot be paired with it")
    if dependency.get("fingerprint") != wanted[name]:
        raise CheckpointError(f"{path} was trained with the {name!r} checkpoint of fingerprint {wanted[name]}, but "
                              f"{dependency_path} has fingerprint {dependency.get('fingerprint')}: it is another "
                              f"model, and its outputs would mean something else to {path}. Load the {name!r} "
                              "checkpoint it was trained with, or retrain the model on this one.")
