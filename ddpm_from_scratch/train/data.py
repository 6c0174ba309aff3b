"""Where a run's batches come from (chapter 02 onwards; drawn ahead by workers in chapter 07): any data as
``OnTheFly(draw, finish)`` (``on_the_fly``), the seeded random stream of each piece of each step
(``_stream_seed``), and the worker processes that draw the coming batches while the device trains (``_DrawnAhead``).
The package docstring, :mod:`ddpm_from_scratch.train`, says which data and which randomness a run uses."""

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


def _stream_seed(*numbers: int) -> int:
    """A 64-bit seed for one random stream, e.g. (seed, step, piece, kind): independent streams for every tuple."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1, np.uint64)[0])


@dataclass
class OnTheFly:
    """Data made on the fly in two parts: ``draw(batch_size, generator)`` makes a batch of CPU tensors from a CPU
    generator (worker processes can run it ahead of the step: it must not touch the GPU), then ``finish(batch,
    generator)`` turns it into the training batch on the training device (e.g. images encoded to latents)."""

    draw: Callable
    finish: Callable = lambda batch, generator: batch


def on_the_fly(data) -> OnTheFly:
    """``data`` as OnTheFly (see the package docstring); a plain function is one ``draw`` with nothing to finish."""
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


def _to_device(batch, device):
    """Copy a batch's tensors to the device (anything else, e.g. scenes that ``finish`` renders there, stays as it is);
    from pinned memory (the workers' batches on CUDA) without waiting for the copy."""
    move = lambda x: x.to(device, non_blocking=True) if torch.is_tensor(x) else x
    return {key: move(x) for key, x in batch.items()} if isinstance(batch, dict) else move(batch)
