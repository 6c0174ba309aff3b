"""The book's models measured with the book's own measures (chapters 02-07; ``evaluate --recipe NAME``), one module
per subject, in the order of the chapters:

- ``digits``: the digits' diffusion models and VAE against the held-out digits (chapters 02, 05, 06);
- ``shapes``: the captioned shapes' text-to-image model, chapter 04's routes, autoencoder and super-resolution
  decoder (chapters 03, 04);
- ``scenes``: the capstone's judge, text encoder, autoencoder and whole pipeline (chapter 07);
- ``folder``: the capstone's modules trained on a reader's own captioned pictures.

``evaluate_*`` take a model (or a route) and say everything in their arguments; the ``report_*`` functions are the
recipes' evaluators: a loaded checkpoint (``pretrained.Pretrained``) and the command line's options by name. The
measures themselves (FID, agreement, PSNR, bits/dim) live in ``metrics``.
"""

from .digits import (evaluate_digits, evaluate_digits_classifier, evaluate_digits_vae, report_digits,
                     report_digits_classifier, report_digits_vae)
from .folder import folder_autoencoder_report, folder_text_report
from .scenes import (CAPSTONE_SPLITS, evaluate_scenes, evaluate_scenes_autoencoder, evaluate_scenes_judge,
                     evaluate_scenes_text, read_scenes, report_scenes, report_scenes_autoencoder, report_scenes_judge,
                     report_scenes_text)
from .shapes import (evaluate_autoencoder, evaluate_route, evaluate_shapes, evaluate_shapes_classifier,
                     report_autoencoder, report_cascade, report_latent_route, report_shapes, report_shapes_classifier,
                     report_super_resolution, time_latent_against_pixel_space)
