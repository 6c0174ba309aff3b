"""One trainer for every model in the book (chapter 02 onwards).

The trainer knows a model only as an ``nn.Module`` and its objective only as a function
``loss_fn(model, batch, generator) -> scalar``. It adds what every run needs:

- AdamW with a linear warm-up, gradient clipping, bf16 autocast on CUDA;
- an exponential moving average (EMA) of the weights, which sampling uses;
- a progress bar showing the loss;
- checkpoints (format and atomic writes: ``checkpoints.py``) that hold the model, the EMA,
  the optimiser, the step, the loss history, the RNG states and the configuration;
- ``resume``: a run interrupted and resumed ends with the same weights as one that was
  never interrupted (on the CPU, where kernels are deterministic);
- a non-finite loss stops training, names the step, and leaves the last good checkpoint;
  the losses stay on the device and are read every 25 steps and before every checkpoint
  (``loss.item()`` every step would make the CPU wait for the GPU at every step);
- data parallelism over N processes (``torchrun --nproc_per_node=N``, chapter 07): each
  process draws and differentiates its own share of the global batch, and the gradients
  are averaged over the processes before the update. Process 0 alone writes.

Randomness. By default (``micro_batches=1``, one process) all randomness (batch indices,
steps t, noise) comes from one seeded CPU generator, whose state is saved: the book's
runs and the shipped checkpoints use this. With ``micro_batches=M > 1`` the global batch
is drawn as M pieces, piece p of step s from its own generators seeded by (seed, s, p):
data on the CPU, t and noise on the training device. A run is then the same whether its
M pieces are drawn by one process one after another (gradient accumulation) or by N
processes M/N each, and resuming needs no saved generator state. The model's initial
weights come from the global RNG before the trainer exists: ``recipes.make_trainer``
seeds it, so a recipe and its seed fix the whole run.

Data is a tensor (batches are rows of it), a dict of equally long tensors (indexed
together: a batch is a dict with the same keys), or a function ``(batch_size, generator)
-> batch`` for data made on the fly. Diffusion batches are dicts: ``x0`` and optional
conditions (``text``, ``low_res``, ``class_labels``), see ``diffusion.denoising_loss``.

Data ahead of the step (``data_workers=W > 0``, for a GPU). Data made on the fly in Python
(the capstone's scenes) can take longer than a GPU's step. Given as ``OnTheFly(draw,
finish)``, its CPU part ``draw`` runs in W worker processes that draw the next batches
while the GPU works; ``finish`` (e.g. encoding images to latents) runs on the training
device. Batches come from the per-piece streams, as with ``micro_batches > 1``, so a run is
the same with any W (and without workers, when ``micro_batches > 1``) and resumes exactly.

One idea per module:

    trainer    the Trainer: one step, the loop, checkpoints and resume
    config     what a run is given (TrainConfig) and the errors that stop one (NonFiniteLossError, RunLockedError)
    data       data as OnTheFly(draw, finish), the per-piece random streams, the workers that draw ahead
    processes  data parallelism's processes (distributed, init_distributed, micro_batches_for) and the run lock

Everything is importable from here (``train.Trainer``). A test that replaces a function the
Trainer calls replaces it where the Trainer looks it up: ``train.trainer.save_checkpoint``.
"""

from .config import NonFiniteLossError, RunLockedError, TrainConfig
from .data import OnTheFly, on_the_fly
from .data import _DrawnAhead, _stream_seed  # the workers' batches, checked by the tests against the step's own
from .processes import distributed, init_distributed, micro_batches_for, run_lock
from .processes import _check_batch_split  # the batch-split check, tested alone
from .trainer import Trainer

__all__ = [
    "Trainer", "TrainConfig", "NonFiniteLossError", "RunLockedError",
    "OnTheFly", "on_the_fly",
    "distributed", "init_distributed", "micro_batches_for", "run_lock",
]
