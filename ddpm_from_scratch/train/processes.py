"""The processes of a run (chapter 07): which one this is among N (``distributed``, and ``init_distributed`` from
torchrun's environment), how N processes share the global batch (``micro_batches_for``, ``_check_batch_split``),
and the lock that lets one process at a time write a checkpoint (``run_lock``)."""

import os
import socket
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist

from .config import RunLockedError, TrainConfig


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
