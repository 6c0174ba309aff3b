"""What a training run is given (``TrainConfig``), and the two errors that stop one: a loss that is no longer
finite (``NonFiniteLossError``) and another process writing the same checkpoint (``RunLockedError``)."""

from dataclasses import dataclass


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
    micro_batches: int = 1  # pieces the global batch is drawn in, a multiple of the processes (package docstring)
    data_workers: int = 0   # processes that draw batches ahead of the step (OnTheFly or tensors; package docstring)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class RunLockedError(RuntimeError):
    """Another training process is writing to the same checkpoint."""
