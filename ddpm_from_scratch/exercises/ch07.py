"""Checkers for the exercises of chapter 07 (the whole system).

- ``check_contrastive_loss(fn)``: the reader's ``fn(logits, text) -> scalar``, CLIP's symmetric
  cross-entropy on logits (B images, B captions) where captions with the same token ids are
  matches for each other, against a float64 reference written here with loops: distinct captions,
  repeated captions, a batch of one, and the gradient.
- ``check_batch_split(fn)``: the reader's ``fn(global_batch, world_size, micro_batches) ->
  (pieces_per_process, examples_per_piece)``, and a ValueError where the batch cannot be shared.

Each returns True or False and prints what is right or what is wrong; none raises
because of the reader's code.
"""

import math

import torch

from . import call_reader_function


def _reference_contrastive_loss(logits: torch.Tensor, text: torch.Tensor) -> tuple:
    """Written out in float64: every image's cross-entropy over the captions (rows), every caption's over the
    images (columns), each against the spread of its matches (the rows with the same token ids).
    Returns (the loss, the images' side alone, the captions' side alone)."""
    logits = logits.double()
    n = len(logits)
    image_side = caption_side = 0.0
    for i in range(n):
        matches = [j for j in range(n) if bool((text[i] == text[j]).all())]
        row_log_softmax = logits[i] - torch.logsumexp(logits[i], 0)         # image i: which caption?
        column_log_softmax = logits[:, i] - torch.logsumexp(logits[:, i], 0)  # caption i: which image?
        image_side -= sum(row_log_softmax[j].item() for j in matches) / len(matches) / n
        caption_side -= sum(column_log_softmax[j].item() for j in matches) / len(matches) / n
    return 0.5 * (image_side + caption_side), image_side, caption_side


def check_contrastive_loss(fn) -> bool:
    generator = torch.Generator().manual_seed(7)
    cases = {
        "six different captions": torch.arange(6)[:, None].repeat(1, 3),
        "captions 0, 2 and 5 the same words": torch.tensor([[2, 5, 6], [2, 7, 0], [2, 5, 6], [2, 8, 9],
                                                             [2, 7, 1], [2, 5, 6]]),
        "a batch of one": torch.tensor([[2, 5, 6]]),  # one image, one caption: nothing to confuse, the loss is 0
    }
    for name, text in cases.items():
        logits = 5 * torch.randn(len(text), len(text), generator=generator)
        got, error = call_reader_function(fn, (logits.clone(), text.clone()), name)
        if error:
            print(error)
            return False
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            print(f"Not yet: the loss should be a scalar tensor ({name}); got {type(got).__name__}"
                  f"{' of shape ' + str(tuple(got.shape)) if isinstance(got, torch.Tensor) else ''}.")
            return False
        wanted, rows_only, columns_only = _reference_contrastive_loss(logits, text)
        if math.isclose(got.item(), wanted, rel_tol=1e-4, abs_tol=1e-5):
            continue
        close = lambda value: math.isclose(got.item(), value, rel_tol=1e-4, abs_tol=1e-5)
        if close(rows_only) or close(columns_only) or close(2 * wanted):
            hint = ("average the two directions: each image choosing among the captions (rows) and each caption "
                    "choosing among the images (columns)")
        elif close(_reference_contrastive_loss(logits, torch.arange(len(text))[:, None])[0]):
            hint = ("a caption repeated in the batch is a right answer for every image that has it: spread each "
                    "row's target evenly over the matching captions")
        else:
            hint = "the targets are the matching pairs: the diagonal, and any caption with the same ids"
        print(f"Not yet: with {name}, the loss should be {wanted:.5f}, got {got.item():.5f}: {hint}.")
        return False
    logits = torch.randn(4, 4, generator=generator, requires_grad=True)
    got, error = call_reader_function(fn, (logits, torch.arange(4)[:, None]), "gradient")
    if error or not isinstance(got, torch.Tensor) or not got.requires_grad:
        print(error or "Not yet: the loss must stay differentiable (no .item(), no detach) so training can use it.")
        return False
    got.backward()
    if logits.grad is None or not torch.isfinite(logits.grad).all() or logits.grad.abs().sum() == 0:
        print("Not yet: the loss has no useful gradient with respect to the logits.")
        return False
    print("Right: both directions, repeated captions as shared matches, and a gradient for training.")
    return True


def check_batch_split(fn) -> bool:
    for global_batch, world_size, micro_batches in ((256, 1, 8), (256, 4, 8), (256, 8, 8), (96, 2, 6), (64, 1, 1)):
        got, error = call_reader_function(fn, (global_batch, world_size, micro_batches),
                                          f"global batch {global_batch}, {world_size} processes, {micro_batches} "
                                          "micro-batches")
        if error:
            print(error)
            return False
        wanted = (micro_batches // world_size, global_batch // micro_batches)
        if tuple(got) != wanted:
            print(f"Not yet: a global batch of {global_batch} in {micro_batches} micro-batches over {world_size} "
                  f"process(es) gives each process {wanted[0]} piece(s) of {wanted[1]} examples; you returned "
                  f"{tuple(got)}.")
            return False
    for global_batch, world_size, micro_batches, why in ((64, 2, 1, "1 micro-batch cannot go to 2 processes"),
                                                         (100, 1, 8, "100 examples do not cut into 8 equal pieces"),
                                                         (96, 4, 6, "6 pieces cannot be shared by 4 processes")):
        try:
            got = fn(global_batch, world_size, micro_batches)
        except ValueError:
            continue
        except Exception as error:
            print(f"Not yet: raise a ValueError when {why}; yours raised {type(error).__name__}.")
            return False
        print(f"Not yet: {why}, so the split should raise a ValueError; it returned {got}.")
        return False
    print("Right: each process takes micro_batches / world_size pieces of global_batch / micro_batches examples, "
          "and impossible splits are refused.")
    return True
