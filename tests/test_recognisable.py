"""The recognisable-fraction judge: it must accept real digits and reject junk."""

import math

import torch

from ddpm_from_scratch import pretrained
from ddpm_from_scratch.data import load_digits
from ddpm_from_scratch.data.digits import make_non_digits
from ddpm_from_scratch.metrics import class_entropy_bits, recognisable_fraction


class FixedClassifier(torch.nn.Module):
    """Returns given probabilities, whatever the image."""

    def __init__(self, probs):
        super().__init__()
        self.probs = probs

    def predict(self, images):
        return self.probs


def test_confident_not_a_digit_answers_count_as_rejections_not_recognitions():
    probs = torch.zeros(4, 11)
    probs[0, 3] = probs[1, 3] = 0.95          # two confident threes
    probs[2, 7] = 0.5                         # an unsure seven
    probs[3, 10] = 0.99                       # confidently "not a digit"
    result = recognisable_fraction(FixedClassifier(probs), torch.zeros(4, 1, 16, 16))
    assert result["fraction"] == 0.5
    assert result["class_counts"] == [0, 0, 0, 2, 0, 0, 0, 0, 0, 0]
    assert result["rejected_fraction"] == 0.25


def test_class_entropy_of_a_uniform_histogram_is_log2_of_the_class_count():
    assert abs(class_entropy_bits([5] * 10) - math.log2(10)) < 1e-12
    assert class_entropy_bits([0, 7, 0]) == 0.0


def test_non_digits_are_deterministic_images_in_range():
    digits, _ = load_digits("test")
    a = make_non_digits(digits, 64, torch.Generator().manual_seed(0))
    b = make_non_digits(digits, 64, torch.Generator().manual_seed(0))
    assert a.shape == (64, 1, 16, 16) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1


def test_the_shipped_classifier_recognises_real_digits_and_rejects_noise():
    classifier = pretrained.load("digits_classifier").model
    digits, labels = load_digits("test")
    assert recognisable_fraction(classifier, digits)["fraction"] > 0.9
    assert (classifier.predict(digits).argmax(1) == labels).float().mean() > 0.95
    noise = torch.randn(500, 1, 16, 16, generator=torch.Generator().manual_seed(123)).clamp(-1, 1)
    assert recognisable_fraction(classifier, noise)["fraction"] < 0.05
    flat = torch.full((10, 1, 16, 16), -1.0)
    assert recognisable_fraction(classifier, flat)["fraction"] < 0.05
