"""The recipes' evaluators measure the shipped checkpoints as their cards say they measured: every small model's
card figures, computed again through ``Recipe.evaluate`` (what ``evaluate --recipe NAME`` runs)."""

import math

import pytest

from ddpm_from_scratch import pretrained, recipes

# the shipped models whose card's metrics take seconds to measure again (the generators take minutes)
SMALL = ["digits_classifier", "digits_vae", "shapes_classifier", "shapes32_classifier", "shapes_autoencoder",
         "scenes_judge", "scenes_text", "scenes_text_hard", "scenes_autoencoder", "scenes64_autoencoder"]
TIMES = ("wall_time_s", "sampling_time_s", "bits_per_dim_time_s")


def _numbers(figures: dict, prefix: str = "") -> dict:
    """Every number in a (nested) dict of figures, by its dotted key; times left out (they measure the machine)."""
    found = {}
    for key, value in figures.items():
        if key in TIMES:
            continue
        if isinstance(value, dict):
            found |= _numbers(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[prefix + key] = value
    return found


@pytest.mark.parametrize("name", SMALL)
def test_a_shipped_model_measures_its_card_s_figures_again(name):
    card = pretrained.card(name)
    assert card["metrics_command"].endswith(f"evaluate --recipe {name} --write-card --quiet")  # the defaults
    measured = _numbers(recipes.get_recipe(name).evaluate(pretrained.load(name, "cpu"), "cpu"))
    expected = _numbers(card["metrics"])
    assert set(expected) <= set(measured), set(expected) - set(measured)
    # the same figures, up to the float rounding of another processor's kernels
    differ = {key: (value, measured[key]) for key, value in expected.items()
              if not math.isclose(measured[key], value, rel_tol=2e-3, abs_tol=2e-3)}
    assert not differ, differ
