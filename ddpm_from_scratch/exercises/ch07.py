"""Checkers for the exercises of chapter 07 (the whole system).

- ``check_contrastive_loss(fn)``: the reader's ``fn(logits, text) -> scalar``, CLIP's symmetric
  cross-entropy on logits (B images, B captions) where captions with the same token ids are
  matches for each other, against a float64 reference written here with loops: distinct captions,
  repeated captions, a batch of one, and the gradient.
- ``check_latent_decode(fn)``: the reader's ``fn(decode, scaled_latents, scale_factor) -> images``, the last step
  of the latent route: undo the scale factor, decode, clamp to [-1, 1]; the common slips named.

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


def _stand_in_decoder(latents: torch.Tensor) -> torch.Tensor:
    """A decoder the checker can predict: latents (B, 4, h, w) -> images (B, 3, 2h, 2w), linear, so a latent
    scaled the wrong way gives visibly other images, and large enough that some pixels leave [-1, 1]."""
    mix = torch.tensor([[1.0, -0.5, 0.25, 0.0], [0.0, 1.0, -0.5, 0.25], [0.25, 0.0, 1.0, -0.5]])
    images = torch.einsum("oc,bchw->bohw", mix, latents)
    return torch.nn.functional.interpolate(images, scale_factor=2, mode="nearest")


def check_latent_decode(fn) -> bool:
    """The reader's ``fn(decode, scaled_latents, scale_factor) -> images``: the generator draws the scaled latents
    f z (unit spread), the decoder wants z; images in [-1, 1]. Checked against x = clamp(D(f z / f)) with a decoder
    whose output it can predict, at two scale factors, and against the usual slips by name."""
    generator = torch.Generator().manual_seed(7)
    for scale_factor in (1.217, 1 / 0.18215):
        scaled = torch.randn(3, 4, 4, 4, generator=generator)  # what a generator draws: unit spread
        calls = []

        def decode(latents, calls=calls):
            calls.append(latents.detach().clone())
            return _stand_in_decoder(latents)

        got, error = call_reader_function(fn, (decode, scaled, scale_factor), f"scale factor {scale_factor:.3f}")
        if error:
            print(error)
            return False
        if not calls:
            print("Not yet: call the decoder you are handed (`decode`) on the latents; it never ran.")
            return False
        if not isinstance(got, torch.Tensor) or got.shape != (3, 3, 8, 8):
            print(f"Not yet: return the decoded images, a tensor of shape (3, 3, 8, 8) here; got "
                  f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}.")
            return False
        wanted = _stand_in_decoder(scaled / scale_factor).clamp(-1, 1)
        if torch.allclose(got, wanted, atol=1e-5):
            continue
        slips = {
            "you multiplied by the scale factor: the generator's latents are f z, so divide by f to get z back":
                _stand_in_decoder(scaled * scale_factor).clamp(-1, 1),
            "the decoder was handed f z: divide the generator's latents by the scale factor first":
                _stand_in_decoder(scaled).clamp(-1, 1),
            "clamp the images to [-1, 1], the range every image in the book has: the decoder's output can leave it":
                _stand_in_decoder(scaled / scale_factor),
        }
        for hint, slip in slips.items():
            if slip.shape == got.shape and torch.allclose(got, slip, atol=1e-5):
                print(f"Not yet: {hint}.")
                return False
        print(f"Not yet: with scale factor {scale_factor:.3f} your images differ from clamp(decode(latents / f), -1, 1) "
              f"by up to {(got - wanted).abs().max().item():.3g}.")
        return False
    print("Right: the generator works on f z, the decoder on z, so x = clamp(D(f z / f), -1, 1): the scale factor is "
          "undone before decoding, at Stable Diffusion's f = 0.18215 as at this book's.")
    return True
