"""The Trainer (chapter 02 onwards): one update of the weights (``train_step``), the loop with its checkpoints and
progress bar (``fit``), and the state that makes an interrupted run resume exactly (``state``, ``load_state``).

What every run gets, and where its batches and its randomness come from, is told in the package docstring,
:mod:`ddpm_from_scratch.train`.
"""

import copy
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..budget import default_device, hardware, progress_bar
from ..checkpoints import CheckpointError, check_same_model, describe, load_checkpoint, save_checkpoint
from .config import NonFiniteLossError, TrainConfig
from .data import OnTheFly, _DrawnAhead, _stream_seed, _to_device, on_the_fly
from .processes import _check_batch_split, _no_lock, distributed, run_lock


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
