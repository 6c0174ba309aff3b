"""The full MNIST set (60,000 + 10,000 digits), downloaded on request.

The book never calls this: every chapter runs on the offline digits of
:func:`ddpm_from_scratch.data.load_digits`. It is here for readers who want to train on
all of MNIST (LeCun, Cortes and Burges): ``load_mnist_tensors("~/data/mnist")`` downloads
four files once, checks their md5 against the published checksums, and returns images in
the same format as ``load_digits``.

The files use the IDX format, read by :func:`read_idx`:
two zero bytes, a type byte, a byte for the number of dimensions d, then d big-endian
int32 sizes, then the values (big-endian), row-major.
"""

import gzip
import hashlib
import http.client
import math
import os
import urllib.request

import numpy as np
import torch
from torch import Tensor

from .digits import check_image_size, prepare_images

DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# The md5 checksums published with torchvision's MNIST.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

# IDX type byte -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class ChecksumError(ValueError):
    """A downloaded file's checksum differs from the published one."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-endian numpy array of its shape."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":  # gzip's magic number: decompress transparently
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: broken gzip data ({err}); delete it and download again") from err

    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file: it should start with two zero bytes and a type byte "
            f"in {[hex(code) for code in IDX_DTYPES]}, but starts with {data[:4].hex(' ')}"
        )
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated header ({len(data)} bytes for {ndim} dimensions)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))

    count = math.prod(shape)
    expected, actual = count * dtype.itemsize, len(data) - header
    if actual != expected:
        raise ValueError(
            f"{path}: the header promises shape {shape} of {dtype.name} ({expected} bytes) "
            f"but {actual} bytes follow it; the file is truncated or corrupt: "
            "delete it and download again"
        )
    values = np.frombuffer(data, dtype=dtype, count=count, offset=header)
    return values.reshape(shape).astype(dtype.newbyteorder("="))  # a writable native copy


def _md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stream_to_file(url: str, path: str, progress: bool) -> str:
    """Copy ``url`` into ``path`` chunk by chunk; return the md5 of what was written."""
    from tqdm.auto import tqdm

    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as f:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(path),
                  disable=not progress) as bar:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                f.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


def _download_file(root: str, name: str, base_url: str, checksums, progress: bool) -> str:
    """Make ``root/name`` a verified copy of ``base_url + name``; return its path."""
    expected = None
    if checksums is not None:
        if name not in checksums:
            raise ValueError(f"checksums has no entry for {name}; pass checksums=None to skip checking")
        expected = checksums[name]

    path = os.path.join(root, name)
    if os.path.exists(path):
        if expected is None or _md5(path) == expected:
            return path  # already downloaded and intact
        print(f"{path} does not match its checksum; deleting it and downloading again")
        os.remove(path)

    url = (base_url if base_url.endswith("/") else base_url + "/") + name
    part = path + ".part"  # written first, renamed only once verified: never a half file
    try:
        try:
            actual = _stream_to_file(url, part, progress)
        except (OSError, http.client.HTTPException) as err:
            raise OSError(
                f"could not download {url}: {err}. Check your connection or pass another "
                "base_url. The book itself never needs this download: load_digits() gives "
                "handwritten digits offline."
            ) from err
        if expected is not None and actual != expected:
            raise ChecksumError(
                f"{name} from {url} has md5 {actual}, expected {expected}. The download was "
                "deleted; retry, and if it fails again the mirror serves a different file: "
                "check it or pass another base_url."
            )
        os.replace(part, path)  # atomic: path is either absent or complete
    finally:
        if os.path.exists(part):
            os.remove(part)
    return path


def download_mnist(
    root: str | os.PathLike,
    split: str = "train",
    base_url: str = DEFAULT_MIRROR,
    checksums: dict[str, str] | None = MNIST_MD5,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Download (once) and read one split of MNIST.

    Files already in ``root`` with the right md5 are not fetched again. ``checksums``
    maps file names to md5 hex digests (``None`` skips checking).

    Returns:
        ``(images, labels)``: images uint8 ``(N, 28, 28)`` in 0..255, labels uint8 ``(N,)``,
        N = 60,000 for "train" and 10,000 for "test".
    """
    if split not in MNIST_FILES:
        raise ValueError(f"unknown MNIST split {split!r}; use one of {', '.join(MNIST_FILES)}")
    root = os.path.expanduser(os.fspath(root))
    os.makedirs(root, exist_ok=True)
    image_path, label_path = (
        _download_file(root, name, base_url, checksums, progress) for name in MNIST_FILES[split]
    )
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise ValueError(
            f"{image_path} and {label_path} hold shapes {images.shape} and {labels.shape}; "
            "expected (N, 28, 28) images and (N,) labels: these are not MNIST files"
        )
    return images, labels


def load_mnist_tensors(
    root: str | os.PathLike, split: str = "train", image_size: int = 16, **download_kwargs
) -> tuple[Tensor, Tensor]:
    """Full MNIST in ``load_digits``'s format: images float32 ``(N, 1, S, S)`` in [-1, 1]
    (same crop and resize), labels int64 ``(N,)``. Keyword arguments go to download_mnist."""
    check_image_size(image_size)  # before a download, not after
    images, labels = download_mnist(root, split, **download_kwargs)
    return prepare_images(images, image_size), torch.from_numpy(labels.astype(np.int64))
