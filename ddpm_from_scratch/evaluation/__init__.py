"""The book's models measured with the book's own measures (chapters 02-07; ``evaluate --recipe NAME``), one module
per subject, in the order of the chapters:

- ``digits``: the digits' diffusion models and VAE against the held-out digits (chapters 02, 05, 06);
- ``shapes``: the captioned shapes' text-to-image model, chapter 04's routes, autoencoder and super-resolution
  decoder (chapters 03, 04);
- ``scenes``: the capstone's judge, text encoder, autoencoder and whole pipeline (chapter 07);
- ``folder``: the capstone's modules trained on a reader's own captioned pictures.

Each ``evaluate_*`` takes what it measures (a model, or a route) and the judges it reads with, and says everything
else in its arguments. Which model a recipe is measured by, and with which judges, the recipe says
(``recipes.Recipe.evaluate``). The measures themselves (FID, agreement, PSNR, bits/dim) live in ``metrics``.
"""

from .digits import evaluate_digits, evaluate_digits_classifier, evaluate_digits_vae
from .folder import evaluate_folder_autoencoder, evaluate_folder_text
from .scenes import (CAPSTONE_SPLITS, evaluate_scenes, evaluate_scenes_autoencoder, evaluate_scenes_judge,
                     evaluate_scenes_text, read_scenes)
from .shapes import (evaluate_autoencoder, evaluate_latent_route, evaluate_route, evaluate_shapes,
                     evaluate_shapes_classifier, evaluate_super_resolution, time_latent_against_pixel_space)
