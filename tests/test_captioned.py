"""A reader's captioned folder: the documented format round-trips, and every mistake is named with its fix."""

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_from_scratch.data import CaptionedFolderError, captioned_folder, scenes
from ddpm_from_scratch.data.captioned import folder_batches, vocabulary_of, write_example_folder
from ddpm_from_scratch.nn.text import Tokenizer


def save(folder, name, width, height, colour=(255, 0, 0)):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), colour).save(path)


def write_csv(folder, text):
    (folder / "captions.csv").write_text(text, encoding="utf-8")


def test_an_example_folder_reads_back_as_the_scenes_that_wrote_it(tmp_path):
    folder = write_example_folder(tmp_path / "example", n=6, image_size=16, seed=2)
    data = captioned_folder(folder)
    images, captions, _ = scenes.make_scenes(6, 16, seed=2)
    assert data["captions"] == captions
    assert data["files"] == [f"scene_{i:04d}.png" for i in range(6)]
    assert data["images"].shape == (6, 3, 16, 16) and data["images"].dtype == torch.float32
    assert (data["images"] - images).abs().max() <= 1 / 127.5 + 1e-6  # PNG keeps 8 bits per channel
    assert set(vocabulary_of(data["captions"])) <= set(scenes.vocabulary())


def test_quoted_captions_subfolders_jpegs_and_resizing(tmp_path):
    save(tmp_path, "beach/wide.jpg", 60, 30, colour=(0, 0, 255))
    save(tmp_path, "tall.png", 20, 40)
    write_csv(tmp_path, 'file,caption\nbeach/wide.jpg,"sea, sand and sky"\ntall.png,a red wall\n')
    data = captioned_folder(tmp_path, image_size=8)
    assert data["captions"] == ["sea, sand and sky", "a red wall"]
    assert data["images"].shape == (2, 3, 8, 8)
    assert data["images"][1, 0].min() > 0.99 and data["images"][1, 1:].max() < -0.99  # pure red in [-1, 1]
    assert data["images"][0, 2].mean() > 0.9  # (nearly) pure blue after JPEG


def test_a_missing_folder_or_captions_file_says_the_format(tmp_path):
    with pytest.raises(CaptionedFolderError, match="no folder at"):
        captioned_folder(tmp_path / "nowhere")
    with pytest.raises(CaptionedFolderError, match="no captions.csv .*'file,caption'"):
        captioned_folder(tmp_path)


def test_a_bad_header_is_refused(tmp_path):
    save(tmp_path, "a.png", 8, 8)
    write_csv(tmp_path, "image,text\na.png,a red square\n")
    with pytest.raises(CaptionedFolderError, match="'image,text'.*expected the header 'file,caption'"):
        captioned_folder(tmp_path)


def test_rows_naming_missing_images_are_named_and_counted(tmp_path):
    save(tmp_path, "here.png", 8, 8)
    rows = "".join(f"gone_{i}.png,a caption\n" for i in range(7))
    write_csv(tmp_path, "file,caption\nhere.png,present\n" + rows)
    listed = r"names 7 images not in .*: gone_0.png, gone_1.png, .*gone_4.png and 2 more"
    with pytest.raises(CaptionedFolderError, match=listed):
        captioned_folder(tmp_path)


def test_a_corrupt_image_is_named(tmp_path):
    save(tmp_path, "good.png", 8, 8)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    write_csv(tmp_path, "file,caption\ngood.png,fine\nbroken.png,broken\n")
    with pytest.raises(CaptionedFolderError, match="cannot read the image broken.png"):
        captioned_folder(tmp_path)


def test_mixed_sizes_are_listed_with_the_fix(tmp_path):
    save(tmp_path, "a.png", 16, 16)
    save(tmp_path, "b.png", 32, 32)
    write_csv(tmp_path, "file,caption\na.png,small\nb.png,large\n")
    with pytest.raises(CaptionedFolderError, match=r"16x16 \(1 image, e.g. a.png\); 32x32 .*image_size="):
        captioned_folder(tmp_path)
    assert captioned_folder(tmp_path, image_size=16)["images"].shape == (2, 3, 16, 16)


def test_non_square_images_without_a_size_and_empty_captions_are_refused(tmp_path):
    save(tmp_path, "a.png", 16, 8)
    write_csv(tmp_path, "file,caption\na.png,wide\n")
    with pytest.raises(CaptionedFolderError, match="16x8, not square.*image_size="):
        captioned_folder(tmp_path)
    write_csv(tmp_path, "file,caption\na.png,  \n")
    with pytest.raises(CaptionedFolderError, match=r"1 row with an empty caption: line 2 \(a.png\)"):
        captioned_folder(tmp_path, image_size=8)


def test_folder_batches_draw_images_with_their_captions_and_drop_some(tmp_path):
    colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
    for name, rgb in colours.items():
        save(tmp_path, f"{name}.png", 4, 4, colour=rgb)
    write_csv(tmp_path, "file,caption\n" + "".join(f"{name}.png,all {name}\n" for name in colours))
    data = captioned_folder(tmp_path)
    tokenizer = Tokenizer(vocabulary_of(data["captions"]), max_length=4)
    batch = folder_batches(data, tokenizer, drop_caption=0.2)(2000, torch.Generator().manual_seed(0))
    assert batch["images"].shape == (2000, 3, 4, 4) and batch["text"].shape == (2000, 4)
    empty = batch["text"][:, 1] == 0
    assert 0.16 < empty.float().mean() < 0.24
    for row in np.flatnonzero(~empty.numpy())[:50]:  # each kept caption names its image's colour
        colour = tokenizer.decode(batch["text"][row]).split()[-1]
        assert batch["images"][row, list(colours).index(colour)].min() > 0.99
    assert set(folder_batches(data)(8, torch.Generator().manual_seed(0))) == {"images"}  # no tokenizer: no text


def test_the_vocabulary_of_a_folder_is_what_the_tokenizer_reads():
    from ddpm_from_scratch.nn.text import words_in

    captions = ["Top-left: a RED box.", "naïve café, 3 cats", "x_y z9"]
    assert vocabulary_of(captions) == tuple(sorted({w for c in captions for w in words_in(c)}))
