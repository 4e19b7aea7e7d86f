"""Parsers for the five fine-grained datasets of Zhang et al.'s Figure 4 (paper profile): CUB-200-2011 birds, Stanford
Dogs, Oxford Flowers-102, FGVC-Aircraft (variants), and Stanford Cars (imported as class folders: its official URLs
are dead). Each official split is read from the published archives and stored as `store_size` px squares (short side
resized, centre kept: specs/zhang.md 3.2 item 9), so that the random crops of training have room and the central
87.5 % crop of evaluation is slim's. Archives are read in one sequential pass (a gzip tar read out of order would be
decompressed again for every image).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from sharebench.datasets.errors import DataError
from sharebench.datasets.images import decode_square

Arrays = dict[str, np.ndarray]
AIRCRAFT_BANNER = 20  # px: FGVC-Aircraft's copyright banner at the bottom of every image (its README)


def _name(member: str) -> str:
    return member[2:] if member.startswith("./") else member


def iter_tar(path: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of the wanted files of a (compressed) tar, in archive order, in one pass."""
    with tarfile.open(path) as tf:
        for m in tf:
            name = _name(m.name)
            if m.isfile() and wanted(name):
                yield name, tf.extractfile(m).read()


def read_members(path: Path, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    """The (small) files whose names end with one of `suffixes`, by name."""
    return dict(iter_tar(path, lambda n: n.endswith(suffixes)))


def decode_members(path: Path, order: dict[str, int], size: int, crop_bottom: int = 0) -> np.ndarray:
    """Images at the archive paths of `order` (path -> row) decoded into [N, size, size, 3] rows."""
    x = np.zeros((len(order), size, size, 3), np.uint8)
    seen = np.zeros(len(order), bool)
    for name, data in iter_tar(path, order.__contains__):
        x[order[name]] = decode_square(data, size, crop_bottom)
        seen[order[name]] = True
    if not seen.all():
        missing = [n for n, i in order.items() if not seen[i]]
        raise DataError(f"{path.name}: {len(missing)} images listed by the dataset are missing, e.g. {missing[:3]}")
    return x


def _by_name(files: list[Path]) -> dict[str, Path]:
    return {f.name: f for f in files}


def _lines(data: bytes) -> list[list[str]]:
    return [line.split() for line in data.decode().splitlines() if line.strip()]


def parse_cub(files: list[Path], options: dict) -> Arrays:
    """CUB_200_2011.tgz: images.txt (id, path below images/), image_class_labels.txt (id, class 1-200),
    train_test_split.txt (id, 1 = train): 5,994 training and 5,794 test images."""
    archive = files[0]
    found = read_members(archive, ("/images.txt", "image_class_labels.txt", "train_test_split.txt"))
    texts = {Path(n).name: data for n, data in found.items()}
    if len(texts) != 3:
        raise DataError(f"{archive.name}: images.txt, image_class_labels.txt or train_test_split.txt is missing")
    root = next(n for n in found if n.endswith("/images.txt")).rsplit("images.txt", 1)[0]
    paths = dict(_lines(texts["images.txt"]))
    labels = {i: int(c) - 1 for i, c in _lines(texts["image_class_labels.txt"])}
    is_train = {i: t == "1" for i, t in _lines(texts["train_test_split.txt"])}
    ids = sorted((i for i in paths if is_train[i] == (options["part"] == "train")), key=int)
    order = {f"{root}images/{paths[i]}": row for row, i in enumerate(ids)}
    return {"x": decode_members(archive, order, options["store_size"]),
            "y": np.asarray([labels[i] for i in ids], np.int64)}


def parse_flowers102(files: list[Path], options: dict) -> Arrays:
    """102flowers.tgz (jpg/image_NNNNN.jpg), imagelabels.mat (classes 1-102), setid.mat: training = trnid + valid
    (2,040 images, as the paper's 2K), test = tstid (6,149)."""
    from scipy.io import loadmat

    named = _by_name(files)
    labels = loadmat(named["imagelabels.mat"])["labels"].ravel().astype(np.int64) - 1
    sets = loadmat(named["setid.mat"])
    ids = np.sort(np.concatenate([sets["trnid"].ravel(), sets["valid"].ravel()]) if options["part"] == "train"
                  else sets["tstid"].ravel())
    order = {f"jpg/image_{i:05d}.jpg": row for row, i in enumerate(ids)}
    return {"x": decode_members(named["102flowers.tgz"], order, options["store_size"]), "y": labels[ids - 1]}


def _mat_strings(cell: np.ndarray) -> list[str]:
    return [str(np.asarray(c).ravel()[0]) for c in cell.ravel()]


def parse_stanford_dogs(files: list[Path], options: dict) -> Arrays:
    """images.tar (Images/<synset-breed>/<file>.jpg) and lists.tar (train_list.mat / test_list.mat: file_list and
    labels 1-120): 12,000 training and 8,580 test images."""
    from scipy.io import loadmat

    named = _by_name(files)
    wanted = f"{options['part']}_list.mat"
    lists = {Path(n).name: data for n, data in read_members(named["lists.tar"], (wanted,)).items()}
    if wanted not in lists:
        raise DataError(f"lists.tar holds no {wanted}")
    mat = loadmat(io.BytesIO(lists[wanted]))
    names = _mat_strings(mat["file_list"])
    order = {f"Images/{n}": row for row, n in enumerate(names)}
    return {"x": decode_members(named["images.tar"], order, options["store_size"]),
            "y": mat["labels"].ravel().astype(np.int64) - 1}


def parse_fgvc_aircraft(files: list[Path], options: dict) -> Arrays:
    """fgvc-aircraft-2013b.tar.gz at the variant level (100 classes in variants.txt order): trainval 6,667 and test
    3,333 images (images_variant_<split>.txt: "<id> <variant>"), the 20 px banner cropped off."""
    archive = files[0]
    split = "trainval" if options["part"] == "train" else "test"
    texts = read_members(archive, ("data/variants.txt", f"data/images_variant_{split}.txt"))
    by_file = {Path(n).name: (n, data) for n, data in texts.items()}
    if len(by_file) != 2:
        raise DataError(f"{archive.name}: data/variants.txt or data/images_variant_{split}.txt is missing")
    variants = [v.strip() for v in by_file["variants.txt"][1].decode().splitlines() if v.strip()]
    index = {v: i for i, v in enumerate(variants)}
    data_dir = by_file["variants.txt"][0].rsplit("variants.txt", 1)[0]
    rows = [line.split(" ", 1) for line in by_file[f"images_variant_{split}.txt"][1].decode().splitlines()
            if line.strip()]
    order = {f"{data_dir}images/{i}.jpg": row for row, (i, _) in enumerate(rows)}
    return {"x": decode_members(archive, order, options["store_size"], AIRCRAFT_BANNER),
            "y": np.asarray([index[v.strip()] for _, v in rows], np.int64)}


FINE_GRAINED_PARSERS = {"cub": parse_cub, "flowers102": parse_flowers102, "stanford_dogs": parse_stanford_dogs,
                        "fgvc_aircraft": parse_fgvc_aircraft}
