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
"""

import copy
import itertools
import math
import os
import socket
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .budget import default_device, hardware, progress_bar
from .checkpoints import CheckpointError, check_same_model, describe, load_checkpoint, save_checkpoint


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class RunLockedError(RuntimeError):
    """Another training process is writing to the same checkpoint."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _no_lock():
    yield None


@contextmanager
def run_lock(checkpoint_path: Path):
    """One training per checkpoint: a lock file beside it names the process that writes it, and is removed
    when that process stops. A lock left by a killed process (its pid is gone) is taken over."""
    lock = checkpoint_path.with_name(checkpoint_path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # atomic: only one process wins
            break
        except FileExistsError:
            try:
                owner = int(lock.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                owner = None
            if owner is not None and owner != os.getpid() and _process_alive(owner):
                raise RunLockedError(f"another training (process {owner}, see {lock}) is writing to "
                                     f"{checkpoint_path}; wait for it to finish, or train into another directory "
                                     "(--out)") from None
            lock.unlink(missing_ok=True)  # stale: its process was killed
    with os.fdopen(descriptor, "w") as file:
        file.write(f"{os.getpid()} {socket.gethostname()}\n")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    bf16: bool = True  # autocast to bfloat16 on CUDA; ignored elsewhere
    micro_batches: int = 1  # pieces the global batch is drawn in (see the module docstring); a multiple of the processes
    data_workers: int = 0   # processes that draw batches ahead of the step (OnTheFly or tensor data; see the docstring)


def distributed() -> tuple:
    """(rank, world_size) of this process: (0, 1) unless it belongs to an initialised process group (torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device_type: str | None = None) -> torch.device:
    """Join the process group that ``torchrun`` describes in the environment (RANK, WORLD_SIZE, ...) and return
    this process's device: ``cuda:LOCAL_RANK`` with NCCL where CUDA is present (or asked for), the CPU with Gloo."""
    use_cuda = torch.cuda.is_available() if device_type is None else device_type == "cuda"
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"process {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                               "start at most that many processes per node (torchrun --nproc_per_node)")
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")


def _stream_seed(*numbers: int) -> int:
    """A 64-bit seed for one random stream, e.g. (seed, step, piece, kind): independent streams for every tuple."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1, np.uint64)[0])


# ------------------------------------------------------------------------------------
# The trainer
# ------------------------------------------------------------------------------------
@dataclass
class OnTheFly:
    """Data made on the fly in two parts: ``draw(batch_size, generator)`` makes a batch of CPU tensors from a CPU
    generator (worker processes can run it ahead of the step: it must not touch the GPU), then ``finish(batch,
    generator)`` turns it into the training batch on the training device (e.g. images encoded to latents)."""

    draw: Callable
    finish: Callable = lambda batch, generator: batch


def on_the_fly(data) -> OnTheFly:
    """``data`` as OnTheFly (see the module docstring); a plain function is one ``draw`` with nothing to finish."""
    if isinstance(data, OnTheFly):
        return data
    if callable(data):
        return OnTheFly(data)
    tensors = data if isinstance(data, dict) else {"": data}
    lengths = {key: len(x) for key, x in tensors.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"all data tensors must have the same length, got {lengths}")
    n = next(iter(lengths.values()))

    def sample_rows(batch_size, generator):
        index = torch.randint(0, n, (batch_size,), generator=generator)
        return {key: x[index] for key, x in data.items()} if isinstance(data, dict) else data[index]

    return OnTheFly(sample_rows)


class _DrawnAhead(torch.utils.data.IterableDataset):
    """The batches this process will need, in order: piece p of step s drawn from the stream (seed, s, p, 0), exactly
    as ``Trainer._accumulate_pieces`` would draw it. Worker k of W draws every W-th one, starting with the k-th;
    the DataLoader asks the workers in turn, so the batches arrive in order."""

    def __init__(self, draw, seed: int, first_step: int, pieces: range, piece_size: int):
        self.draw, self.seed, self.first_step, self.pieces, self.piece_size = draw, seed, first_step, pieces, piece_size

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        keys = ((step, piece) for step in itertools.count(self.first_step) for piece in self.pieces)
        for step, piece in itertools.islice(keys, worker.id if worker else 0, None, worker.num_workers if worker else 1):
            generator = torch.Generator().manual_seed(_stream_seed(self.seed, step, piece, 0))
            yield (step, piece), self.draw(self.piece_size, generator)


def _check_batch_split(config: TrainConfig, world_size: int) -> None:
    """The global batch is cut into ``micro_batches`` equal pieces, shared equally by the processes."""
    if config.micro_batches < 1:
        raise ValueError(f"micro_batches must be 1 or more, got {config.micro_batches}")
    if config.batch_size % config.micro_batches:
        raise ValueError(f"the batch size {config.batch_size} cannot be cut into {config.micro_batches} equal micro-"
                         f"batches: choose micro_batches among {_divisors(config.batch_size)}")
    if config.micro_batches % world_size:
        fits = [m for m in _divisors(config.batch_size) if m % world_size == 0]
        raise ValueError(f"{world_size} processes cannot share a global batch of {config.batch_size} drawn as "
                         f"{config.micro_batches} micro-batch(es): micro_batches must be a multiple of the number of "
                         f"processes, e.g. {fits[:4] or 'none: change the batch size'} (--micro-batches); the global "
                         "batch stays the same")


def micro_batches_for(batch_size: int, micro_batches: int, world_size: int) -> int:
    """The micro-batch count ``world_size`` processes draw a global batch of ``batch_size`` in: ``micro_batches`` (the
    recipe's) when they share it equally, else the nearest count above it that they do (a multiple of the processes
    that divides the batch; above, so that no piece is larger than the recipe's). With 2 processes a batch of 256 in 1
    piece becomes 2 pieces of 128. There is none when the processes do not divide the batch: refused, naming process
    counts that do."""
    if micro_batches % world_size == 0:
        return micro_batches
    fits = [m for m in _divisors(batch_size) if m % world_size == 0]
    if not fits:
        raise ValueError(f"{world_size} processes cannot share a global batch of {batch_size} equally: start a number "
                         f"of processes that divides it (torchrun --nproc_per_node among {_divisors(batch_size)[1:7]})")
    return next((m for m in fits if m >= micro_batches), fits[-1])


def _divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


def _to_device(batch, device):
    """Copy a batch's tensors to the device (anything else, e.g. scenes that ``finish`` renders there, stays as it is);
    from pinned memory (the workers' batches on CUDA) without waiting for the copy."""
    move = lambda x: x.to(device, non_blocking=True) if torch.is_tensor(x) else x
    return {key: move(x) for key, x in batch.items()} if isinstance(batch, dict) else move(batch)


class Trainer:
    """Train ``model`` to minimise ``loss_fn(model, batch, generator)`` on ``data``.

    ``checkpoint_path`` (optional) is where checkpoints go; ``resume=True`` continues from
    it when it exists. ``header`` (from ``checkpoints.describe``: the noise schedule, the
    recipe's name, ...) is stored in every checkpoint; by default it describes the model alone.
    """

    def __init__(self, model: nn.Module, loss_fn, data, config: TrainConfig = TrainConfig(),
                 checkpoint_path=None, resume: bool = False, device=None, header: dict | None = None,
                 compile: bool = False):
        self.config = config
        self.rank, self.world_size = distributed()
        _check_batch_split(config, self.world_size)
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        # what the loss calls: the model itself, or its compiled version (same weights; chapter 07, optional)
        self.network = torch.compile(self.model) if compile else self.model
        self.loss_fn = loss_fn
        self.data = on_the_fly(data)
        if config.data_workers < 0:
            raise ValueError(f"data_workers must be 0 or more, got {config.data_workers}")
        if config.data_workers and not isinstance(data, (OnTheFly, torch.Tensor, dict)):
            raise ValueError("data_workers > 0 needs data that says which part may run in a worker process: give "
                             "tensors, or OnTheFly(draw, finish) with a draw that never touches the GPU")
        self._ahead = None  # the workers' batches, while fit() runs with data_workers > 0
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.header = header if header is not None else describe(model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)  # dropout and other layers that use the global RNG
        self.streams = config.micro_batches > 1 or config.data_workers > 0
        if self.streams:  # per-piece streams: data on the CPU, t and noise on the device
            self.data_generator = torch.Generator()
            self.noise_generator = torch.Generator(self.device)
        self.step = 0
        self.losses: list[float] = []
        self._pending_losses: list[torch.Tensor] = []  # losses still on the device, read by _read_losses()
        self.wall_time = 0.0  # seconds spent in fit(), summed over resumed runs
        self._rng_at_step_start = None
        if resume and self.checkpoint_path is not None and self.checkpoint_path.exists():
            self.load_state(self.checkpoint_path)

    # --- state -----------------------------------------------------------------------
    def state(self) -> dict:
        return {
            **self.header,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "losses": list(self.losses),
            "wall_time": self.wall_time,
            "generator_state": self.generator.get_state(),
            "torch_rng_state": torch.get_rng_state(),
            "train_config": asdict(self.config),
            "world_size": self.world_size,
        }

    def save(self, path=None, collective: bool = True) -> Path:
        path = path or self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: pass one to Trainer(checkpoint_path=...) or to save()")
        self._read_losses(collective)  # a non-finite loss stops here, before a bad checkpoint is written
        # every process holds the same weights; one writes them
        written = save_checkpoint(self.state(), path) if self.rank == 0 else Path(path)
        if self.world_size > 1 and collective:
            dist.barrier()  # no process goes on (or resumes from the file) before the checkpoint is on disk
        return written

    def load_state(self, path) -> None:
        payload = load_checkpoint(path, map_location=self.device)
        check_same_model(payload, self.model, path)
        for key in ("model", "ema", "optimizer", "step", "generator_state"):
            if key not in payload:
                raise CheckpointError(f"{path} is missing {key!r}: it is not a training checkpoint "
                                      "(exported weights cannot be resumed)")
        saved = payload.get("train_config", {})
        if saved.get("seed", self.config.seed) != self.config.seed:  # the batches of the steps to come depend on it
            raise ValueError(f"{path} was trained with seed {saved['seed']}, but this run has seed {self.config.seed}: "
                             "the batches drawn from here on would not be the uninterrupted run's. Resume with the "
                             f"same seed (train --seed {saved['seed']} --resume)")
        self.model.load_state_dict(payload["model"])
        self.ema.load_state_dict(payload["ema"])
        # where the run began and the fits behind it (``runs``) are the checkpoint's to say, whatever the call passed
        self.header = {**self.header, "metadata": {**self.header.get("metadata", {}), **payload.get("metadata", {})}}
        self.optimizer.load_state_dict(payload["optimizer"])
        self.step = payload["step"]
        self.losses = list(payload.get("losses", []))
        self.wall_time = payload.get("wall_time", 0.0)
        self.generator.set_state(payload["generator_state"].cpu())
        torch.set_rng_state(payload["torch_rng_state"].cpu())
        saved_streams = saved.get("micro_batches", 1) > 1 or saved.get("data_workers", 0) > 0
        if saved.get("micro_batches", 1) != self.config.micro_batches or saved_streams != self.streams:
            warnings.warn(f"{path} was trained with micro_batches={saved.get('micro_batches', 1)}, data_workers="
                          f"{saved.get('data_workers', 0)} and resumes with micro_batches={self.config.micro_batches}, "
                          f"data_workers={self.config.data_workers}: the batches drawn from here on differ from an "
                          "uninterrupted run's", stacklevel=2)

    def export(self, path, extra: dict | None = None, half: bool = False) -> Path:
        """Write the EMA weights alone (what a shipped checkpoint holds), with ``extra`` information; ``half``
        stores floating-point weights as float16 (half the file; loading casts them back to the model's float32)."""
        weights = self.ema.state_dict()
        if half:
            weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
        return save_checkpoint({**self.header, "ema": weights, "step": self.step,
                                "train_config": asdict(self.config), "world_size": self.world_size,
                                **(extra or {})}, path)

    def sample_batch(self, batch_size: int, generator: torch.Generator):
        """One batch on the training device, drawn and finished in this process."""
        return self.data.finish(_to_device(self.data.draw(batch_size, generator), self.device), generator)

    # --- one step ----------------------------------------------------------------------
    def _learning_rate(self) -> float:
        warmup = max(self.config.warmup_steps, 1)
        return self.config.lr * min(1.0, (self.step + 1) / warmup)  # linear warm-up, then constant

    @torch.no_grad()
    def _update_ema(self) -> None:
        # EMA with a warm-up: decay = min(decay, (1 + n) / (10 + n)), so short runs are not dominated by init
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        # ema <- ema + (1 - decay) (theta - ema) for every parameter, in one fused call (fewer launches on a GPU)
        torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()), 1 - decay)
        for ema_b, b in zip(self.ema.buffers(), self.model.buffers()):
            ema_b.copy_(b)

    def train_step(self) -> torch.Tensor:
        """One update of the weights on one global batch; returns its loss, left on the device (no wait for it)."""
        # RNG states at the start of the step: restored if Ctrl-C lands mid-step, so resuming repeats it exactly
        self._rng_at_step_start = (self.generator.get_state(), torch.get_rng_state())
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        self.optimizer.zero_grad(set_to_none=True)
        if not self.streams:  # the whole batch from the one generator (the book's runs)
            loss = self._forward_backward(self.sample_batch(self.config.batch_size, self.generator), self.generator)
        else:
            loss = self._accumulate_pieces()
        if self.world_size > 1:
            self._average_gradients()
        if self.config.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        self._update_ema()
        self._rng_at_step_start = None
        self._pending_losses.append(loss)  # read every 25 steps (_read_losses): no host sync per step
        return loss

    def _forward_backward(self, batch, generator, weight: float = 1.0) -> torch.Tensor:
        """Loss of one batch (on the device) and its gradient (times ``weight``), added to the parameters' .grad."""
        use_bf16 = self.config.bf16 and self.device.type == "cuda"
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = self.loss_fn(self.network, batch, generator)
        (loss * weight if weight != 1.0 else loss).backward()
        return loss.detach()

    def _accumulate_pieces(self) -> torch.Tensor:
        """Gradient accumulation: this process's pieces of the global batch (pieces rank, rank + N, ...), each drawn
        from its own streams seeded by (seed, step, piece), their gradients averaged in the parameters' .grad."""
        c = self.config
        mine = range(self.rank, c.micro_batches, self.world_size)
        total = 0.0
        for piece in mine:
            self.data_generator.manual_seed(_stream_seed(c.seed, self.step, piece, 0))
            self.noise_generator.manual_seed(_stream_seed(c.seed, self.step, piece, 1))
            torch.manual_seed(_stream_seed(c.seed, self.step, piece, 2))  # dropout
            if self._ahead is not None:  # drawn by a worker from the same stream
                key, drawn = next(self._ahead)
                if tuple(key) != (self.step, piece):  # the loader hands the pair back as a list
                    raise RuntimeError(f"a data worker sent the batch of step {key[0]}, piece {key[1]}, where step "
                                       f"{self.step}, piece {piece} was due")
            else:
                drawn = self.data.draw(c.batch_size // c.micro_batches, self.data_generator)
            batch = self.data.finish(_to_device(drawn, self.device), self.noise_generator)
            total = total + self._forward_backward(batch, self.noise_generator, 1 / len(mine))
        for p in self.model.parameters():  # a weight no piece used gets a zero gradient, whichever process holds it
            if p.requires_grad and p.grad is None:
                p.grad = torch.zeros_like(p)
        return total / len(mine)

    def _average_gradients(self) -> None:
        """Data parallelism's one collective: each process holds the mean gradient over its share of the global
        batch; the mean of these over the N processes is the gradient of the whole batch's loss. All gradients
        travel in one flat buffer (one message, not one per parameter)."""
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)  # the sum over processes (Gloo has no mean)
        flat /= self.world_size
        for g, averaged in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(averaged.view_as(g))

    def _read_losses(self, collective: bool = True) -> None:
        """Move the losses of the steps since the last read into ``self.losses`` (one host sync, averaged over the
        processes so that all of them see the same numbers), and stop at the first non-finite one."""
        if not self._pending_losses:
            return
        losses = torch.stack(self._pending_losses).float()
        first = self.step - len(self._pending_losses)
        self._pending_losses = []
        if self.world_size > 1 and collective:
            dist.all_reduce(losses)
            losses /= self.world_size
        for i, value in enumerate(losses.tolist()):
            if not math.isfinite(value):
                last = (f"the last good checkpoint is {self.checkpoint_path}" if self.checkpoint_path
                        and self.checkpoint_path.exists() else "no checkpoint was written")
                raise NonFiniteLossError(f"the loss became {value} at step {first + i}; training stopped and {last} "
                                         f"(the weights in memory are spoiled). Lower the learning rate (now "
                                         f"{self.config.lr}) or the gradient-clipping threshold, check the data for "
                                         "NaNs, then resume.")
            self.losses.append(value)

    # --- the loop ------------------------------------------------------------------------
    def fit(self, steps: int | None = None, progress: bool = True, command: str | None = None) -> "Trainer":
        """Train until ``steps`` total steps (default: config.steps), checkpointing on the way.

        Each call that trains appends one record to the header's ``runs`` (``new_run``), kept up to date at every
        checkpoint; ``command`` is the command line that called it (None: called from Python). Ctrl-C
        (KeyboardInterrupt) writes a checkpoint before stopping, so ``resume`` loses nothing.
        """
        total = self.config.steps if steps is None else steps
        writes = self.checkpoint_path is not None and self.rank == 0
        with run_lock(self.checkpoint_path) if writes else _no_lock():
            return self._fit(total, progress and self.rank == 0, command)

    def new_run(self, command: str | None = None) -> dict:
        """The record of one fit, appended to the header's ``runs``: the weights (or step) it began from, the command,
        seed, hardware, precision and torch that reproduce it, and the steps and seconds it trained (``_fit`` counts
        them). A model's card lists these records, the runs of the weights it started from first."""
        metadata = self.header.setdefault("metadata", {})
        started = metadata.get("initialised_from")  # recipes.initialise_from: {file, fingerprint, steps}
        cpu = self.device.type == "cpu"
        record = {
            "began": (f"resumed at step {self.step:,}" if self.step else
                      f"from the weights {started['fingerprint']} ({started['file']})" if started else
                      "from random weights"),
            "command": command or "Trainer.fit, called from Python",
            "seed": self.config.seed,
            "steps": 0,
            "wall_time_s": 0.0,
            "hardware": hardware(self.device) + (f" (x {self.world_size})" if self.world_size > 1 else ""),
            "threads": torch.get_num_threads(),
            "precision": "bf16 autocast" if self.device.type == "cuda" and self.config.bf16 else "float32",
            "torch": str(torch.__version__),  # a str subclass, which the safe loader would refuse
            "reproduces": ("bit for bit on this CPU model with this torch and thread count" if cpu else
                           "weights of the same quality, not the same bits (GPU kernels may sum in another order)"),
        }
        metadata.setdefault("runs", []).append(record)
        return record

    @contextmanager
    def data_ahead(self):
        """Inside the block, ``data_workers`` processes draw the batches of the coming steps (without workers: nothing
        changes). ``fit`` trains inside it."""
        if not self.config.data_workers:
            yield
            return
        c = self.config
        pieces = range(self.rank, c.micro_batches, self.world_size)
        loader = torch.utils.data.DataLoader(
            _DrawnAhead(self.data.draw, c.seed, self.step, pieces, c.batch_size // c.micro_batches),
            batch_size=None, num_workers=c.data_workers, pin_memory=self.device.type == "cuda",
            multiprocessing_context="fork")  # the workers inherit the data's functions; none of them uses the GPU
        self._ahead = iter(loader)
        try:
            yield
        finally:
            self._ahead = None  # the workers stop with their iterator

    def _fit(self, total: int, progress: bool, command: str | None) -> "Trainer":
        if self.step >= total:  # nothing to train: no run to record
            return self
        run, first_step = self.new_run(command), self.step
        bar = progress_bar(None, progress, total=total, initial=self.step, desc="training", leave=False)
        start = time.perf_counter()

        def clock() -> None:  # the seconds since the last call into wall_time, and this fit's steps and seconds
            nonlocal start
            seconds, start = time.perf_counter() - start, time.perf_counter()
            self.wall_time += seconds
            run["wall_time_s"] = round(run["wall_time_s"] + seconds, 3)
            run["steps"] = self.step - first_step

        try:
            with self.data_ahead():
                while self.step < total:
                    self.train_step()
                    bar.update(1)
                    if self.step % 25 == 0:
                        self._read_losses()
                        bar.set_postfix(loss=f"{sum(self.losses[-25:]) / len(self.losses[-25:]):.4f}")
                    if self.checkpoint_path and self.step % self.config.checkpoint_every == 0:
                        clock()
                        self.save()
        except KeyboardInterrupt:
            if self._rng_at_step_start is not None:  # the unfinished step will be redone
                self.generator.set_state(self._rng_at_step_start[0])
                torch.set_rng_state(self._rng_at_step_start[1])
            self._read_losses(collective=False)  # the other processes may be stopped anywhere: no collective now
            clock()
            run["interrupted"] = True  # a later fit with resume goes on from here
            if self.checkpoint_path:
                self.save(collective=False)
                print(f"interrupted at step {self.step}; checkpoint saved to {self.checkpoint_path}. "
                      "Run again with resume to continue.")
            raise
        finally:
            bar.close()
        self._read_losses()
        clock()
        if self.checkpoint_path:
            self.save()
        return self
