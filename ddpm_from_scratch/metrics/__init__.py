"""Measuring generative models (chapters 02, 03, 05, 06 and 07)."""

from .alignment import clip_score, prompt_agreement, read_attributes, retrieval_top1

from .reconstruction import psnr_db
from .recognisable import class_entropy_bits, recognisable_fraction
from .fid import (embed_images, fid, fid_and_floor, fid_infinity, fid_from_features, frechet_distance, gaussian_statistics, kid,
                  real_data_floor)
from .likelihood import (bits_per_dim, bits_per_dim_importance, discretized_gaussian_log_likelihood, gaussian_kl, gaussian_log_likelihood,
                         kl_from_samples, quantize_to_8bit, vae_bits_per_dim, vae_negative_elbo)
