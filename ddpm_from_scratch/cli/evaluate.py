"""`evaluate`: a recipe's evaluator on a checkpoint that fits it; the last line printed is one JSON object, which
--write-card stores in the checkpoint's card (chapters 02-07)."""

import json
import shlex
import time
from dataclasses import asdict

from .. import pretrained
from ..budget import hardware
from ..checkpoints import load_checkpoint, read_card, write_card
from ..nn import MODELS
from ..recipes import FOLDER_RECIPES, RECIPES, folder_run, get_recipe, on_folder
from .checks import UsageError, check_sampling, checkpoint_for, device_for

# evaluate's options, as the evaluators name them (None: not given on the command line)
EVALUATE_OPTIONS = ("num_samples", "sampler", "steps", "eta", "seed", "guidance_scale", "bpd_images", "bpd_steps")


def cmd_evaluate(args) -> None:
    recipe = get_recipe(args.recipe)
    if args.data is not None:  # a module trained on a captioned folder, measured on the folder's images
        if recipe.name in FOLDER_RECIPES and "autoencoder" in recipe.parts:  # the capstone's generator
            raise UsageError(f"a {recipe.name} generator trained on a folder has no judge to read its pictures: "
                             "evaluate measures its modules (scenes_text, scenes_autoencoder) with --data, and "
                             "generate draws from it")
        if not args.checkpoint:
            args.checkpoint = str(folder_run(recipe.name, args.data) / f"{recipe.name}.pt")
        trained_at = load_checkpoint(args.checkpoint)["model_config"].get("image_size")  # as train --image-size set it
        try:
            recipe = on_folder(recipe, args.data, image_size=trained_at)
        except ValueError as error:
            raise UsageError(str(error)) from None
    if recipe.evaluator is None:
        known = ", ".join(name for name, r in RECIPES.items() if r.evaluator is not None)
        raise UsageError(f"recipe {recipe.name!r} has no evaluator; evaluate knows: {known}")
    accepted = recipe.evaluation_options()
    options = {name: getattr(args, name) for name in EVALUATE_OPTIONS if getattr(args, name) is not None}
    unused = [f"--{name.replace('_', '-')}" for name in options if name not in accepted]
    if unused:
        raise UsageError(f"evaluate --recipe {recipe.name} does not use {', '.join(unused)}")
    if "progress" in accepted:
        options["progress"] = not args.quiet
    device = device_for(args)
    start = time.perf_counter()
    if recipe.model_config is None:  # a pipeline of shipped checkpoints
        path, loaded = None, None
    else:
        path = checkpoint_for(args)
        loaded = pretrained.load_file(path, device)
        _check_fits(recipe, loaded.header, path)
    schedule = recipe.schedule if loaded is None else loaded.schedule
    if "steps" in accepted and schedule is not None:
        check_sampling(args, schedule)
    results = recipe.evaluate(loaded, device, **options)
    results["checkpoint"] = str(path) if path else recipe.description
    results["wall_time_s"] = round(time.perf_counter() - start, 1)
    if args.write_card:
        if path is None:
            raise UsageError(f"{recipe.name} is a pipeline: it has no card of its own to write")
        card = read_card(path)
        card["metrics"] = {k: v for k, v in results.items() if k != "checkpoint"}
        card["metrics_command"] = "python -m ddpm_from_scratch " + " ".join(shlex.quote(a) for a in args.argv)
        card["metrics_hardware"] = hardware(device)
        write_card(card, path.with_suffix(".json"))
    print(json.dumps(results))


def _check_fits(recipe, header: dict, path) -> None:
    """A checkpoint evaluated under a recipe must hold that recipe's kind of model, for the same data size."""
    wanted = next(name for name, (_, config) in MODELS.items() if isinstance(recipe.model_config, config))
    if header["model_class"] != wanted:
        held = MODELS[header["model_class"]][1]  # loading the file has built it: the class is known
        fitting = [name for name, r in RECIPES.items() if r.evaluator and isinstance(r.model_config, held)]
        hint = f", or evaluate it with --recipe {' or --recipe '.join(fitting)}" if fitting else ""
        raise UsageError(f"{path} holds a {header['model_class']}, but evaluate --recipe {recipe.name} measures a "
                         f"{wanted}: pass a checkpoint of that recipe{hint}")
    expected = asdict(recipe.model_config)
    for key in ("image_channels", "image_size", "data_dim", "latent_channels"):
        if key in expected and header["model_config"].get(key, expected[key]) != expected[key]:
            raise UsageError(f"{path} was trained on {key} = {header['model_config'][key]}, but evaluate --recipe "
                             f"{recipe.name} measures {key} = {expected[key]}")
    if "vocabulary" in expected and tuple(header["model_config"].get("vocabulary", ())) != tuple(expected["vocabulary"]):
        raise UsageError(f"{path} reads another vocabulary than the {recipe.name} recipe's: trained on your own "
                         "folder (train --data)? Measure it on that folder with evaluate --data FOLDER")
