"""A reader's own captioned images: a folder of pictures and a ``captions.csv`` (the capstone chapter).

The capstone trains on rendered scenes (:mod:`.scenes`); this module lets a reader train
the same text-to-image model on pictures of their own. The folder format:

    my_pictures/
        captions.csv        the header  file,caption  then one row per image
        cat.png             PNG or JPEG files, any names, sub-folders allowed
        beach/0001.jpg

    captions.csv:
        file,caption
        cat.png,a grey cat asleep on a red sofa
        beach/0001.jpg,"waves, sand and a blue sky"

``file`` is relative to the folder; a caption that contains a comma is quoted (plain
CSV, as a spreadsheet writes it). An image may appear on several rows, one caption each.

``captioned_folder`` reads it all into memory: images become RGB tensors in [-1, 1].
Without ``image_size`` the images must all have one square size; with it, each image
is cropped to its centre square and resized (Lanczos filter). Every problem is reported
with the file it concerns and how to fix it (``CaptionedFolderError``).

``write_example_folder`` writes rendered scenes in this format, so the book and the tests
can show it without any download.
"""

import csv
import re
from pathlib import Path

import numpy as np
import torch

CAPTIONS_FILE = "captions.csv"
HEADER = ("file", "caption")
FORMAT = ("a folder of PNG or JPEG images plus a captions.csv whose first line is the header "
          "'file,caption', then one row per image: its path relative to the folder, then its caption")


class CaptionedFolderError(ValueError):
    """A captioned folder that cannot be read; the message names the files and the fix."""


def _some(names: list, limit: int = 5) -> str:
    """"a.png, b.png, c.png" or "a.png, ..., e.png and 7 more"."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _count(number: int, noun: str) -> str:
    """"1 image", "3 images"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _read_rows(folder: Path) -> list:
    """captions.csv -> [(line number, file, caption)], checking the header and the rows' shape."""
    table = folder / CAPTIONS_FILE
    if not table.is_file():
        raise CaptionedFolderError(f"no {CAPTIONS_FILE} in {folder}: a captioned folder is {FORMAT}")
    with open(table, newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: a spreadsheet's byte-order mark
        lines = list(csv.reader(handle))
    header = tuple(cell.strip().lower() for cell in lines[0]) if lines else ()
    if header != HEADER:
        raise CaptionedFolderError(f"{table} starts with {','.join(lines[0]) if lines else 'nothing'!r}, "
                                   f"expected the header 'file,caption': a captioned folder is {FORMAT}")
    rows, malformed = [], []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) != 2:
            malformed.append(f"line {number} ({len(cells)} cells)")
            continue
        rows.append((number, cells[0].strip(), cells[1].strip()))
    if malformed:
        raise CaptionedFolderError(f"{table}: rows need exactly two cells, file and caption (quote a caption that "
                                   f"contains a comma): {_some(malformed)}")
    if not rows:
        raise CaptionedFolderError(f"{table} has a header but no rows: add one row per image, 'file,caption'")
    empty = [f"line {number} ({name})" for number, name, text in rows if not text]
    if empty:
        raise CaptionedFolderError(f"{table}: {_count(len(empty), 'row')} with an empty caption: {_some(empty)}. "
                                   "Every image needs a caption (the empty text is kept for classifier-free guidance)")
    return rows


def _load_image(path: Path, image_size: int | None):
    """One image -> uint8 array (H, W, 3): RGB, and when ``image_size`` is given, its centre square resized."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")  # also forces the read: a truncated file fails here
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise CaptionedFolderError(f"cannot read the image {path.name} ({path}): {err}. "
                                   "Replace the file or remove its row from captions.csv") from err
    if image_size is not None:
        width, height = image.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))  # the centre square
        image = image.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def captioned_folder(path, image_size: int | None = None) -> dict:
    """Read a captioned folder (format: the module docstring).

    Returns {"images": float (N, 3, S, S) in [-1, 1], "captions": N texts, "files": N paths
    relative to the folder}, in captions.csv's order. ``image_size``: resize every image to
    S x S (after cropping it to its centre square); None: keep the size, which must be one
    square size for all.
    """
    folder = Path(path)
    if not folder.exists():
        raise CaptionedFolderError(f"no folder at {folder}: expected {FORMAT}")
    if not folder.is_dir():
        raise CaptionedFolderError(f"{folder} is a file; expected a folder: {FORMAT}")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise CaptionedFolderError(f"image_size must be a positive int (the side in pixels) or None, "
                                   f"got {image_size!r}")
    rows = _read_rows(folder)

    missing = [name for _, name, _ in rows if not (folder / name).is_file()]
    if missing:
        raise CaptionedFolderError(f"{folder / CAPTIONS_FILE} names {_count(len(missing), 'image')} not in "
                                   f"{folder}: {_some(missing)}. Paths are relative to the folder")

    pixels = [_load_image(folder / name, image_size) for _, name, _ in rows]
    sizes = {}  # (width, height) -> the files of that size
    for (_, name, _), array in zip(rows, pixels):
        sizes.setdefault((array.shape[1], array.shape[0]), []).append(name)
    if len(sizes) > 1:
        found = "; ".join(f"{w}x{h} ({_count(len(names), 'image')}, e.g. {names[0]})"
                          for (w, h), names in sizes.items())
        raise CaptionedFolderError(f"the images in {folder} have different sizes: {found}. Pass image_size= "
                                   "(e.g. image_size=32) to crop each to its centre square and resize it")
    width, height = next(iter(sizes))
    if width != height:
        raise CaptionedFolderError(f"the images in {folder} are {width}x{height}, not square. Pass image_size= "
                                   "(e.g. image_size=32) to crop each to its centre square and resize it")

    images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1  # 0..255 -> [-1, 1]
    return {"images": images, "captions": [text for _, _, text in rows], "files": [name for _, name, _ in rows]}


def vocabulary_of(captions) -> tuple:
    """Every word of these captions, sorted: runs of a-z and 0-9 in the lower-cased text, as the tokenizer reads
    them (``nn.text.words_in``; a test checks that the two agree)."""
    return tuple(sorted({word for text in captions for word in re.findall(r"[a-z0-9]+", text.lower())}))


def folder_batches(folder_data: dict, tokenizer=None, drop_caption: float = 0.0):
    """A batch sampler over a read folder, as ``scenes.pairs_batches`` and ``scenes.image_batches`` are over rendered
    scenes: ``sample_batch(batch_size, generator)`` -> {"images"} drawn with replacement, and with a ``tokenizer``
    also {"text": their captions' token ids}, a share ``drop_caption`` of them replaced by the empty text (for
    classifier-free guidance). The capstone's recipes train on it (``recipes.on_folder``)."""
    images, captions = folder_data["images"], folder_data["captions"]

    def sample_batch(batch_size, generator):
        index = torch.randint(0, len(captions), (batch_size,), generator=generator)
        if tokenizer is None:
            return {"images": images[index]}
        drop = torch.rand(batch_size, generator=generator) < drop_caption
        texts = ["" if d else captions[i] for i, d in zip(index.tolist(), drop.tolist())]
        return {"images": images[index], "text": tokenizer(texts)}

    return sample_batch


def write_example_folder(path, n: int = 16, image_size: int = 32, seed: int = 0) -> Path:
    """Write ``n`` rendered training scenes (``scenes.make_scenes``) as PNGs plus captions.csv into ``path``."""
    from PIL import Image

    from .scenes import make_scenes

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    images, captions, _ = make_scenes(n, image_size, seed=seed)
    pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    with open(folder / CAPTIONS_FILE, "w", newline="", encoding="utf-8") as handle:
        table = csv.writer(handle)
        table.writerow(HEADER)
        for index, (array, text) in enumerate(zip(pixels, captions)):
            name = f"scene_{index:04d}.png"
            Image.fromarray(array).save(folder / name)
            table.writerow((name, text))
    return folder
