"""Captioned synthetic scenes: one coloured shape on black, and a sentence that says what it is (chapter 03).

Every scene has four attributes, each drawn uniformly:

    shape    circle, square, triangle, cross
    colour   red, green, blue, yellow, magenta, cyan
    size     small, large
    position top left, top right, bottom left, bottom right

and a caption that names all four in one of several phrasings, with synonyms ("a big
green box in the upper left", "bottom right: a tiny red circle"), so a text encoder has
to learn what words mean rather than which template was used.

Four (colour, shape) pairs, ``HELDOUT_PAIRS``, never appear in training scenes: every
colour and every shape is seen, but never together in those pairs. Generating "a green
triangle" then tests whether the model *composes* words it learned apart.

Images are rendered analytically at any resolution (4x4 supersampling for anti-aliased
edges), deterministically from a seed. Whatever draws at random takes ``generator``, a
torch.Generator (or a random.Random, from which one is seeded: :mod:`.seeding`), as the
capstone's :mod:`.scenes` do. The book uses 16x16 RGB: a U-Net at 32x32 trains
about 4x slower, more than the `cpu` budget can afford, and at 16x16 the shapes are still
told apart by the attribute classifier on more than 99% of fresh scenes.
"""

import itertools
import random
import re

import torch
import torch.nn.functional as F

from .seeding import python_rng, torch_generator


SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {  # RGB in [0, 1]
    "red": (1.0, 0.1, 0.1),
    "green": (0.1, 0.9, 0.1),
    "blue": (0.2, 0.3, 1.0),
    "yellow": (1.0, 0.95, 0.1),
    "magenta": (1.0, 0.1, 1.0),
    "cyan": (0.1, 0.95, 1.0),
}
SIZES = ("small", "large")
POSITIONS = ("top left", "top right", "bottom left", "bottom right")
ATTRIBUTES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": SIZES, "position": POSITIONS}
NUM_ATTRIBUTE_VALUES = sum(len(values) for values in ATTRIBUTES.values())  # 16 outputs of the attribute classifier

# (colour, shape) pairs that never appear in training scenes.
HELDOUT_PAIRS = (("green", "triangle"), ("red", "cross"), ("blue", "circle"), ("yellow", "square"))

# Words a caption may use for each attribute value.
SYNONYMS = {
    "circle": ("circle", "disc", "disk"), "square": ("square", "box"), "triangle": ("triangle",),
    "cross": ("cross", "plus"),
    "small": ("small", "little", "tiny"), "large": ("large", "big"),
    "top left": ("top left", "upper left"), "top right": ("top right", "upper right"),
    "bottom left": ("bottom left", "lower left"), "bottom right": ("bottom right", "lower right"),
}
TEMPLATES = (
    "a {size} {colour} {shape} in the {position}",
    "{size} {colour} {shape}, {position}",
    "the {position} holds a {size} {colour} {shape}",
    "{position}: a {colour} {shape}, {size}",
    "a {colour} {shape} in the {position} corner. it is {size}.",
    "there is a {size} {shape} in the {position}, coloured {colour}",
    "{colour} {shape} ({size}) at the {position}",
)


def all_combinations(heldout: bool | None = False) -> list:
    """Every attribute combination as a dict; ``heldout=True``: only the held-out ones, ``None``: all."""
    combos = [dict(zip(ATTRIBUTES, values)) for values in itertools.product(*ATTRIBUTES.values())]
    if heldout is None:
        return combos
    return [c for c in combos if ((c["colour"], c["shape"]) in HELDOUT_PAIRS) == heldout]


def caption(attributes: dict, rng: random.Random) -> str:
    """One random phrasing of a scene's attributes."""
    words = {name: rng.choice(SYNONYMS.get(value, (value,))) for name, value in attributes.items()}
    return rng.choice(TEMPLATES).format(**words)


def vocabulary() -> tuple:
    """Every word a training caption can contain, sorted (what the tokenizer is built from).

    Words are runs of letters, as ``nn.text.words_in`` reads them (a test checks that every
    caption tokenizes without an unknown word).
    """
    phrases = [template.format(size="", colour="", shape="", position="") for template in TEMPLATES]
    phrases += [phrase for value in itertools.chain(*ATTRIBUTES.values()) for phrase in SYNONYMS.get(value, (value,))]
    return tuple(sorted({word for phrase in phrases for word in re.findall(r"[a-z0-9]+", phrase.lower())}))


def render(attributes: list, image_size: int = 16, generator: torch.Generator | None = None,
           jitter: float = 0.5, supersample: int = 4) -> torch.Tensor:
    """Images (B, 3, S, S) in [-1, 1] of the scenes described by ``attributes`` (a list of dicts).

    The shape's centre is the middle of its quadrant, moved by up to ``jitter`` pixels
    (at 16x16; scaled with S) in each direction.
    """
    n, s = len(attributes), image_size * supersample
    index = {name: torch.tensor([values.index(a[name]) for a in attributes]) for name, values in ATTRIBUTES.items()}
    unit = image_size / 16  # lengths below are in pixels of a 16x16 image
    offset = (torch.rand(n, 2, generator=generator) * 2 - 1) * jitter * unit
    right = index["position"] % 2 == 1
    bottom = index["position"] >= 2
    cx = torch.where(right, 0.75, 0.25) * image_size + offset[:, 0]
    cy = torch.where(bottom, 0.75, 0.25) * image_size + offset[:, 1]
    r = torch.where(index["size"] == 1, 3.6, 2.3) * unit  # half-extent of a large / small shape

    coords = (torch.arange(s) + 0.5) / supersample  # sample points, in pixels
    dx = coords[None, None, :] - cx[:, None, None]   # (B, 1, s)
    dy = coords[None, :, None] - cy[:, None, None]   # (B, s, 1)
    r = r[:, None, None]
    inside = torch.stack([
        dx**2 + dy**2 <= r**2,                                                     # circle
        (dx.abs() <= 0.85 * r) & (dy.abs() <= 0.85 * r),                           # square
        (dy >= -r) & (dy <= 0.8 * r) & (dx.abs() <= (dy + r) / 1.8),               # triangle, apex up
        ((dx.abs() <= r) & (dy.abs() <= 0.35 * r)) | ((dy.abs() <= r) & (dx.abs() <= 0.35 * r)),  # cross
    ], dim=1)                                                                      # (B, 4, s, s)
    mask = inside[torch.arange(n), index["shape"]].float()[:, None]               # (B, 1, s, s)
    coverage = F.avg_pool2d(mask, supersample)                                     # anti-aliased, in [0, 1]
    colour = torch.tensor(list(COLOURS.values()))[index["colour"]][:, :, None, None]
    return coverage * colour * 2 - 1


def downscale(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images (B, C, S, S) -> (B, C, size, size), each pixel the mean of the block it covers (a box filter).

    The thumbnails of chapter 04: a 32x32 scene downscaled to 16x16 is the scene rendered at 16x16.
    """
    if images.shape[-1] % size:
        raise ValueError(f"cannot downscale {images.shape[-1]}x{images.shape[-1]} images to {size}x{size}: "
                         "the size must divide the image size")
    return F.avg_pool2d(images, images.shape[-1] // size)


def attribute_labels(attributes: list) -> torch.Tensor:
    """(B, 4) long: the index of each attribute value, columns in ATTRIBUTES order."""
    return torch.tensor([[values.index(a[name]) for name, values in ATTRIBUTES.items()] for a in attributes],
                        dtype=torch.long).reshape(len(attributes), len(ATTRIBUTES))


def split_logits(logits: torch.Tensor) -> tuple:
    """(B, 16) attribute-classifier logits -> one (B, n_values) block per attribute, in ATTRIBUTES order."""
    return logits.split([len(values) for values in ATTRIBUTES.values()], dim=1)


def random_scenes(n: int, generator, heldout: bool | None = False) -> list:
    """A list of ``n`` scenes, attribute dicts drawn uniformly from the combinations on the ``heldout`` side of the
    split (False training ones, True held-out ones, None all), drawn from ``generator``: a torch.Generator, or a
    random.Random (``seeding.torch_generator``)."""
    combos = all_combinations(heldout)
    return [combos[i] for i in torch.randint(0, len(combos), (n,), generator=torch_generator(generator)).tolist()]


def make_scenes(n: int, image_size: int = 16, seed: int = 0, heldout: bool | None = False) -> tuple:
    """A fixed set, deterministic in ``seed``: ``(images, captions, attributes)``, the images (n, 3, S, S) in
    [-1, 1], one caption (str) per image, and the n scenes drawn (attribute dicts: what ``render`` drew and
    ``caption`` phrased)."""
    generator = torch.Generator().manual_seed(seed)
    attributes = random_scenes(n, generator, heldout)
    rng = random.Random(seed)
    return render(attributes, image_size, generator), [caption(a, rng) for a in attributes], attributes


def training_captions(attributes: list, generator, drop_caption: float = 0.1) -> list:
    """A list of one random phrasing per scene (``caption``), a share ``drop_caption`` of them replaced by the empty
    text "", so that the same network also learns the unconditional noise predictor that classifier-free guidance
    needs. ``generator``: a torch.Generator, or a random.Random (``seeding.torch_generator``)."""
    generator = torch_generator(generator)
    rng = python_rng(generator, seed_bits=31)
    drop = torch.rand(len(attributes), generator=generator) < drop_caption
    return ["" if d else caption(a, rng) for a, d in zip(attributes, drop.tolist())]


def captioned_batches(tokenizer, image_size: int = 16, drop_caption: float = 0.1):
    """A batch sampler for text-conditioned training: {"x0": images, "text": token ids} of fresh training scenes,
    with a share ``drop_caption`` of empty captions (``training_captions``)."""
    def sample_batch(batch_size, generator):
        attributes = random_scenes(batch_size, generator)
        images = render(attributes, image_size, generator)
        return {"x0": images, "text": tokenizer(training_captions(attributes, generator, drop_caption))}

    return sample_batch


def labelled_batches(image_size: int = 16):
    """A batch sampler for the attribute classifier: {"images", "labels" (B, 4)} of scenes from
    *all* combinations (the judge must know green triangles even though the generator never sees one)."""
    def sample_batch(batch_size, generator):
        attributes = random_scenes(batch_size, generator, heldout=None)
        return {"images": render(attributes, image_size, generator), "labels": attribute_labels(attributes)}

    return sample_batch
