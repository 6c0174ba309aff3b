"""Does a classifier recognise the generated images? (chapter 02)

The simplest honest quality check for generated digits: a classifier trained on real
digits labels an image with confidence >= ``threshold``. Compare the fraction for
generated digits with the fraction for held-out real digits (the ceiling), and look at
the class histogram: a model that draws only ones is recognisable but not diverse.
"""

import torch


def recognisable_fraction(classifier, images: torch.Tensor, threshold: float = 0.9, num_classes: int = 10) -> dict:
    """images (N, C, S, S) in [-1, 1] -> {"fraction", "class_counts", "rejected_fraction", "mean_confidence"}.

    An image is recognisable when the classifier gives one of the first ``num_classes``
    classes a probability >= ``threshold``. Classes beyond those (the digits classifier's
    "not a digit") count as rejections.
    """
    probs = classifier.predict(images)
    confidence, label = probs.max(dim=1)
    confident = (confidence >= threshold) & (label < num_classes)
    counts = torch.bincount(label[confident], minlength=num_classes)
    return {
        "fraction": confident.float().mean().item(),
        "class_counts": counts.tolist(),
        "rejected_fraction": (label >= num_classes).float().mean().item(),
        "mean_confidence": confidence.mean().item(),
    }


def class_entropy_bits(class_counts) -> float:
    """Entropy (bits) of the class histogram: log2(10) = 3.32 when all ten digits are equally common."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log2()).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
