"""Images of any size from folders and archives: listing them lazily, decoding and resizing them."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sharebench.datasets.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp")
Member = tuple[tuple[str, ...], Callable[[], bytes]]  # path parts inside the container, reader of the bytes


def archive_members(path: Path) -> list[Member]:
    """The image files in a folder, a zip or a tar, in sorted path order, read lazily (memory stays bounded)."""
    import tarfile

    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        return [(f.relative_to(path).parts, f.read_bytes) for f in files]
    if zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        names = sorted(n for n in zf.namelist() if n.lower().endswith(IMAGE_SUFFIXES))
        return [(tuple(n.split("/")), lambda n=n: zf.read(n)) for n in names]
    if tarfile.is_tarfile(path):
        tf = tarfile.open(path)
        members = sorted((m for m in tf.getmembers() if m.isfile() and m.name.lower().endswith(IMAGE_SUFFIXES)),
                         key=lambda m: m.name)
        return [(tuple(m.name.split("/")), lambda m=m: tf.extractfile(m).read()) for m in members]
    raise DataError(f"{path} is neither a folder, a zip nor a tar archive")


def decode_image(data: bytes, store_size: int | None) -> np.ndarray:
    """Any PIL-readable image -> uint8 RGB [S, S, 3]: resized to S x S (bilinear, antialiased when shrinking,
    aspect ratio not kept, as Bilen & Vedaldi's "resized to 64x64")."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        if store_size:
            im = im.resize((store_size, store_size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def decode_square(data: bytes, size: int, crop_bottom: int = 0) -> np.ndarray:
    """Any PIL-readable image -> uint8 RGB [size, size, 3]: `crop_bottom` rows dropped (FGVC-Aircraft's copyright
    banner), the short side resized to `size` (bilinear, antialiased when shrinking), the centre square kept (the
    large fine-grained suites, specs/zhang.md 3.2 item 9: the sides of wide images are lost)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        if crop_bottom:
            im = im.crop((0, 0, im.width, im.height - crop_bottom))
        scale = size / min(im.width, im.height)
        w, h = max(size, round(im.width * scale)), max(size, round(im.height * scale))
        im = im.resize((w, h), Image.BILINEAR)
        left, top = (w - size) // 2, (h - size) // 2
        return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)
