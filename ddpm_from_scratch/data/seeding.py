"""One seed drives every random draw of the rendered data sets (chapters 03 and 07).

A recipe's batch sampler is handed a ``torch.Generator``. Chapter 03's shapes draw with it directly; chapter 07's
scenes draw with Python's ``random`` (their layouts are drawn by rejection, one choice at a time). So each function
of :mod:`.shapes` and :mod:`.scenes` that draws at random takes ``generator``: a torch.Generator, or a random.Random
that goes on drawing from a stream already begun, and turns it into the kind it draws with:

    python_rng(generator)       a random.Random: the one given, or one seeded from a draw of the torch generator
    torch_generator(generator)  a torch.Generator: the one given, or one seeded from a draw of the random.Random

The seed is one draw of the generator, so a seeded generator gives the same data on every run.
"""

import random

import torch


def _check(generator) -> None:
    if not isinstance(generator, (torch.Generator, random.Random)):
        raise TypeError(f"expected a torch.Generator or a random.Random to draw from, got {generator!r}: "
                        f"for a seed s, pass torch.Generator().manual_seed(s)")


def python_rng(generator, seed_bits: int = 62) -> random.Random:
    """``generator`` itself if it is a random.Random; else a random.Random seeded with one draw of ``seed_bits``
    bits from the torch.Generator (chapter 03's captions were drawn with 31-bit seeds, chapter 07's with 62)."""
    _check(generator)
    if isinstance(generator, random.Random):
        return generator
    return random.Random(int(torch.randint(0, 2**seed_bits, (1,), generator=generator)))


def torch_generator(generator) -> torch.Generator:
    """``generator`` itself if it is a torch.Generator; else a torch.Generator seeded with 62 bits drawn from the
    random.Random."""
    _check(generator)
    if isinstance(generator, torch.Generator):
        return generator
    return torch.Generator().manual_seed(generator.getrandbits(62))
