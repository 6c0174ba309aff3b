"""Does a classifier recognise the generated images? (chapter 02)

The simplest honest quality check for generated digits: a classifier trained on real
digits labels an image with confidence >= ``threshold``. Compare the fraction for
generated digits with the fraction for held-out real digits (the ceiling), and look at
the class histogram: a model that draws only ones is recognisable but not diverse.
"""

import torch


def recognisable_fraction(classifier, images: torch.Tensor, threshold: float = 0.9) -> dict:
    """images (N, C, S, S) in [-1, 1] -> {"fraction": float, "class_counts": list[int], "mean_confidence": float}."""
    probs = classifier.predict(images)
    confidence, label = probs.max(dim=1)
    confident = confidence >= threshold
    counts = torch.bincount(label[confident], minlength=probs.shape[1])
    return {
        "fraction": confident.float().mean().item(),
        "class_counts": counts.tolist(),
        "mean_confidence": confidence.mean().item(),
    }


def class_entropy_bits(class_counts) -> float:
    """Entropy (bits) of the class histogram: log2(10) = 3.32 when all ten digits are equally common."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log2()).sum())
