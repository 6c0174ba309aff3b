"""Measuring generative models (chapters 02 and 05)."""

from .recognisable import class_entropy_bits, recognisable_fraction
