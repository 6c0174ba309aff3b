"""Chapter 07's exercise checkers accept the right answers and name the usual mistakes."""

import torch
import torch.nn.functional as F

from ddpm_from_scratch.exercises.ch07 import check_batch_split, check_contrastive_loss
from ddpm_from_scratch.nn import contrastive_loss


def test_the_package_s_loss_passes_and_common_slips_fail_with_a_hint(capsys):
    assert check_contrastive_loss(contrastive_loss)
    assert not check_contrastive_loss(lambda logits, text: F.cross_entropy(logits, torch.arange(len(logits))))
    assert "two directions" in capsys.readouterr().out
    assert not check_contrastive_loss(lambda logits, text: contrastive_loss(logits))
    assert "repeated" in capsys.readouterr().out
    assert not check_contrastive_loss(lambda logits, text: contrastive_loss(logits, text).item())
    assert not check_contrastive_loss(lambda logits, text: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_the_batch_split_checker(capsys):
    def split(global_batch, world_size, micro_batches):
        if global_batch % micro_batches or micro_batches % world_size:
            raise ValueError("cannot share")
        return micro_batches // world_size, global_batch // micro_batches

    assert check_batch_split(split)
    assert not check_batch_split(lambda g, w, m: (m // w, g // m))  # never refuses
    assert "ValueError" in capsys.readouterr().out
    assert not check_batch_split(lambda g, w, m: (m, g // m))       # forgets the processes
