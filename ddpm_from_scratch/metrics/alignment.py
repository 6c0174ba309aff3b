"""Does the image say what the prompt says? (chapter 03)

An attribute classifier, trained on real rendered scenes, reads shape, colour, size and
position back from an image. *Prompt agreement* is the fraction of generated images whose
every attribute, as read back, is the one the prompt asked for: one wrong colour and the
image counts as a miss. Per-attribute accuracies say which word the model gets wrong.

The metric is only as good as its reader, so the same function checks the classifier
itself on real scenes first (the book asks for >= 0.99).
"""

import torch

from ..data.shapes import ATTRIBUTES, attribute_labels, split_logits


@torch.no_grad()
def read_attributes(classifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """images (N, 3, S, S) in [-1, 1] -> (N, 4) long: the most likely value of each attribute."""
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    labels = []
    for i in range(0, len(images), batch_size):
        logits = classifier(images[i:i + batch_size].to(device)).cpu()
        labels.append(torch.stack([block.argmax(dim=1) for block in split_logits(logits)], dim=1))
    classifier.train(was_training)
    return torch.cat(labels) if labels else torch.zeros(0, len(ATTRIBUTES), dtype=torch.long)


def prompt_agreement(classifier, images: torch.Tensor, attributes: list) -> dict:
    """Compare what the classifier reads in ``images`` with the ``attributes`` (dicts) they were asked for.

    Returns {"agreement": fraction with all four attributes right, "per_attribute": {name: accuracy}}.
    """
    if len(images) != len(attributes):
        raise ValueError(f"got {len(images)} images but {len(attributes)} attribute sets")
    if len(images) == 0:
        raise ValueError("no images to measure")
    correct = read_attributes(classifier, images) == attribute_labels(attributes)  # (N, 4) bool
    return {
        "agreement": correct.all(dim=1).float().mean().item(),
        "per_attribute": {name: correct[:, i].float().mean().item() for i, name in enumerate(ATTRIBUTES)},
    }

