"""`train`: a recipe's model in one process or N under torchrun, then its exported weights and card (chapters 02, 07)."""

import os
import shlex
from pathlib import Path

import torch

from .. import pretrained, train
from ..checkpoints import make_card, replace_atomically, write_card
from ..recipes import folder_run, get_recipe, make_trainer, on_folder
from .checks import UsageError, device_for


def cmd_train(args) -> None:
    recipe = get_recipe(args.recipe)
    if recipe.model_config is None:
        raise UsageError(f"recipe {recipe.name!r} is a pipeline of shipped models ({recipe.description}); "
                         "train its parts instead")
    if args.data is not None:  # a reader's captioned folder instead of the recipe's data (chapter 07)
        try:
            recipe = on_folder(recipe, args.data, args.image_size, args.text_encoder, args.autoencoder)
        except ValueError as error:  # also CaptionedFolderError: the folder itself
            raise UsageError(str(error)) from None
    elif args.image_size or args.text_encoder or args.autoencoder:
        raise UsageError("--image-size, --text-encoder and --autoencoder go with --data FOLDER (a captioned folder)")
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:  # started by torchrun: join the other processes
        if args.device and args.device.startswith("cuda:"):
            raise UsageError("under torchrun each process takes the GPU cuda:LOCAL_RANK; pass --device cuda or none")
        device = train.init_distributed(args.device and torch.device(args.device).type)
    else:
        device = device_for(args)
    rank, world_size = train.distributed()
    try:
        _train(args, recipe, device, rank, world_size)
    finally:
        if world_size > 1:
            torch.distributed.destroy_process_group()


def _train(args, recipe, device, rank: int, world_size: int) -> None:
    out = Path(args.out or (folder_run(recipe.name, args.data) if args.data else f"runs/{recipe.name}"))
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory for the run's checkpoints")
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists() and not args.resume:
        raise UsageError(f"{checkpoint} exists; pass --resume to continue it, or --out to start a new run")
    if checkpoint.exists() and args.init_from:
        raise UsageError(f"--init-from starts a new run, and {checkpoint} continues one (from the weights it began "
                         "with, which it records): pass --resume alone, or --out to start a new run")
    planned = recipe.train_config
    try:
        # --micro-batches, else the recipe's count, or under N processes the nearest above that they can share
        micro_batches = args.micro_batches or train.micro_batches_for(planned.batch_size, planned.micro_batches,
                                                                      world_size)
        trainer = make_trainer(recipe, checkpoint, resume=args.resume, device=device, steps=args.steps,
                               micro_batches=micro_batches, data_workers=args.data_workers,
                               compile=args.compile, seed=args.seed, init_from=args.init_from)
    except ValueError as error:  # a batch the processes cannot share; --init-from a file of other modules
        raise UsageError(str(error)) from None
    command = ("torchrun --nproc_per_node=" + str(world_size) + " -m ddpm_from_scratch " if world_size > 1
               else "python -m ddpm_from_scratch ") + " ".join(shlex.quote(a) for a in args.argv)
    say = print if rank == 0 else (lambda *_: None)  # one process speaks and writes
    if args.micro_batches is None and micro_batches != planned.micro_batches:
        say(f"{world_size} processes draw the global batch of {planned.batch_size} as {micro_batches} micro-batches of "
            f"{planned.batch_size // micro_batches} (the recipe's {planned.micro_batches} is not a multiple of "
            f"{world_size}; --micro-batches picks another)")
    processes = f" x {world_size} processes" if world_size > 1 else ""
    say(f"training recipe {recipe.name!r} ({recipe.description}) on {device}{processes}, "
        f"from step {trainer.step} to {trainer.config.steps}; checkpoints in {checkpoint}")
    trainer.fit(progress=not args.quiet, command=command)
    if rank != 0:
        return
    card = make_card(trainer, recipe, data=str(Path(args.data).resolve()) if args.data else None, half=args.half)
    measured = recipe.measure(trainer.ema) if recipe.measure else {}  # e.g. the autoencoder's scale factor
    exported, card_path = out / f"{recipe.name}.pt", out / f"{recipe.name}.json"
    trainer.export(exported, measured, half=args.half)
    write_card(card | measured, card_path)
    print(f"exported EMA weights to {exported} with card {card_path}")
    if args.ship:  # each file is written whole beside its place, then renamed over it: a crash leaves no half file
        import shutil

        shipped = pretrained.CHECKPOINT_DIR / exported.name
        replace_atomically(shipped, lambda tmp: shutil.copyfile(exported, tmp))
        replace_atomically(shipped.with_suffix(".json"), lambda tmp: shutil.copyfile(card_path, tmp))
        print(f"copied into {pretrained.CHECKPOINT_DIR}; run `evaluate --recipe {recipe.name} --write-card` next")
