"""Parsers from the published file formats to arrays: x uint8 [N, H, W, C], y int64 [N]."""

from __future__ import annotations

import bz2
import gzip
import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sharebench.datasets.errors import DataError
from sharebench.datasets.fine_grained import FINE_GRAINED_PARSERS
from sharebench.datasets.images import Member, archive_members, decode_image, decode_square

Arrays = dict[str, np.ndarray]


def read_idx(data: bytes) -> np.ndarray:
    """Parse an IDX file (the MNIST container): magic 0x00 0x00 <dtype> <ndim>, big-endian sizes."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError("not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise DataError(f"IDX file truncated: header says {expected} bytes, found {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _images_labels(images: np.ndarray, labels: np.ndarray) -> Arrays:
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    return {"x": np.ascontiguousarray(images[..., None]), "y": labels.astype(np.int64)}


def parse_idx(files: list[Path], options: dict) -> Arrays:
    by_kind = {("images" if "images" in f.name else "labels"): f for f in files}
    return _images_labels(read_idx(gzip.decompress(by_kind["images"].read_bytes())),
                          read_idx(gzip.decompress(by_kind["labels"].read_bytes())))


def parse_emnist(files: list[Path], options: dict) -> Arrays:
    """EMNIST's gzip.zip holds gzip/emnist-<split>-<train|test>-*-idx?-ubyte.gz.

    Images are kept as stored (not transposed), as the LWS authors' code does; letters are 1..26
    in the file and shifted to 0..25.
    """
    split, part = options["split"], options["part"]
    with zipfile.ZipFile(files[0]) as zf:
        def member(kind: str, dim: int) -> np.ndarray:
            return read_idx(gzip.decompress(zf.read(f"gzip/emnist-{split}-{part}-{kind}-idx{dim}-ubyte.gz")))
        out = _images_labels(member("images", 3), member("labels", 1))
    if split == "letters":
        out["y"] = out["y"] - 1
    return out


def parse_libsvm_usps(files: list[Path], options: dict) -> Arrays:
    """LIBSVM text, labels 1..10, 256 features in [-1, 1] (16x16 row-major) -> uint8 0..255."""
    rows, labels = [], []
    for line in bz2.decompress(files[0].read_bytes()).decode().splitlines():
        parts = line.split()
        if not parts:
            continue
        labels.append(int(float(parts[0])) - 1)
        row = np.full(256, -1.0, dtype=np.float64)
        for item in parts[1:]:
            idx, val = item.split(":")
            row[int(idx) - 1] = float(val)
        rows.append(row)
    x = np.clip(np.round((np.stack(rows) + 1.0) / 2.0 * 255.0), 0, 255).astype(np.uint8)
    return _images_labels(x.reshape(-1, 16, 16), np.asarray(labels))


def parse_esl_usps(files: list[Path], options: dict) -> Arrays:
    """ESL's zip.train.gz / zip.test.gz: one digit per line, its label then 256 values in [-1, 1] (16x16 row-major)
    -> uint8 round((x + 1) / 2 * 255), the scaling ADDA's loader applies before its own."""
    table = np.loadtxt(io.StringIO(gzip.decompress(files[0].read_bytes()).decode()), dtype=np.float64, ndmin=2)
    if table.shape[1] != 257:
        raise DataError(f"{files[0]}: want 257 columns (label + 16x16 pixels) per line, got {table.shape[1]}")
    x = np.clip(np.round((table[:, 1:] + 1.0) / 2.0 * 255.0), 0, 255).astype(np.uint8)
    return _images_labels(x.reshape(-1, 16, 16), table[:, 0].astype(np.int64))


def read_celeba_attribute(text: str, name: str) -> tuple[list[str], np.ndarray]:
    """list_attr_celeba.txt (a count, the 40 attribute names, then "<image> +-1 ...") -> image names and one
    attribute as 0 / 1."""
    lines = text.splitlines()
    names = lines[1].split()
    if name not in names:
        raise DataError(f"CelebA attributes have no {name!r} (found {len(names)} names)")
    column = names.index(name) + 1
    rows = [line.split() for line in lines[2:] if line.strip()]
    return [r[0] for r in rows], (np.array([int(r[column]) for r in rows]) > 0).astype(np.int64)


def _centre_crop_resize(data: bytes, crop: int, size: int) -> np.ndarray:
    """One image: its centre crop x crop square, resized to size x size (bilinear), RGB uint8."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        w, h = im.size
        left, top = (w - crop) // 2, (h - crop) // 2
        face = im.convert("RGB").crop((left, top, left + crop, top + crop))
        return np.asarray(face.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def parse_celeba_gender(files: list[Path], options: dict) -> Arrays:
    """The JAE paper's CelebA men / women: `per_gender` faces of each (RandomState(seed) permutation of each gender's
    images, first n), center crop `crop`, resized to `size` (bilinear, antialiased); y = Male (1) / not (0).
    Only the chosen images are decoded."""
    by_name = {f.name: f for f in files}
    images, male = read_celeba_attribute(by_name["list_attr_celeba.txt"].read_text(), "Male")
    rng = np.random.RandomState(options["seed"])
    chosen = np.concatenate([rng.permutation(np.flatnonzero(male == g))[:options["per_gender"]] for g in (0, 1)])
    out = np.empty((len(chosen), options["size"], options["size"], 3), dtype=np.uint8)
    with zipfile.ZipFile(by_name["img_align_celeba.zip"]) as zf:
        for i, k in enumerate(chosen):
            out[i] = _centre_crop_resize(zf.read(f"img_align_celeba/{images[k]}"), options["crop"], options["size"])
    return {"x": out, "y": male[chosen]}


def parse_celeba_faces(files: list[Path], options: dict) -> Arrays:
    """CelebA as unlabelled faces (GANs): the first `count` aligned images in the official order (all when None),
    the centre `crop` square resized to `size`; y = 0."""
    by_name = {f.name: f for f in files}
    images, _ = read_celeba_attribute(by_name["list_attr_celeba.txt"].read_text(), "Male")
    images = images[:options["count"]] if options.get("count") else images
    out = np.empty((len(images), options["size"], options["size"], 3), dtype=np.uint8)
    with zipfile.ZipFile(by_name["img_align_celeba.zip"]) as zf:
        for i, name in enumerate(images):
            out[i] = _centre_crop_resize(zf.read(f"img_align_celeba/{name}"), options["crop"], options["size"])
    return {"x": out, "y": np.zeros(len(images), np.int64)}


def parse_cifar(files: list[Path], options: dict) -> Arrays:
    """The python-pickle CIFAR tarballs; CIFAR-100 also gives coarse labels as `y_coarse`."""
    from sharebench.datasets.fetch import safe_extract

    folder = safe_extract(files[0], files[0].parent / files[0].name.replace(".tar.gz", ""))
    variant, part = options["variant"], options["part"]
    sub = next(p for p in folder.iterdir() if p.is_dir())
    if variant == "cifar10":
        names = [f"data_batch_{i}" for i in range(1, 6)] if part == "train" else ["test_batch"]
    else:
        names = [part]
    xs, ys, coarse = [], [], []
    for name in names:
        with open(sub / name, "rb") as f:
            d = pickle.load(f, encoding="latin1")
        xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(d["labels" if variant == "cifar10" else "fine_labels"]))
        if variant == "cifar100":
            coarse.append(np.asarray(d["coarse_labels"]))
    out = {"x": np.ascontiguousarray(np.concatenate(xs)), "y": np.concatenate(ys).astype(np.int64)}
    if coarse:
        out["y_coarse"] = np.concatenate(coarse).astype(np.int64)
    return out


STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")


def parse_stl10(files: list[Path], options: dict) -> Arrays:
    """STL-10's binary archive: `stl10_binary/{part}_X.bin` holds uint8 images as 3 x 96 x 96 column-major planes,
    `{part}_y.bin` labels 1..10 (STL10_CLASSES order; returned as 0..9). The two members are read from the
    archive as a stream, never extracting the 2.6 GB of unlabelled images."""
    import tarfile

    part = options["part"]
    wanted = {f"stl10_binary/{part}_X.bin": "x", f"stl10_binary/{part}_y.bin": "y"}
    raw: dict[str, bytes] = {}
    with tarfile.open(files[0], "r:*") as tf:
        for member in tf:
            if member.name in wanted and member.isfile():
                raw[wanted[member.name]] = tf.extractfile(member).read()
                if len(raw) == len(wanted):
                    break
    missing = [name for name, key in wanted.items() if key not in raw]
    if missing:
        raise DataError(f"{files[0]} is not STL-10's binary archive: it lacks {', '.join(missing)}")
    x = np.frombuffer(raw["x"], dtype=np.uint8)
    y = np.frombuffer(raw["y"], dtype=np.uint8).astype(np.int64) - 1
    if x.size != len(y) * 3 * 96 * 96 or y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise DataError(f"{files[0]}: {part}_X.bin holds {x.size} bytes for {len(y)} labels in "
                        f"[{y.min(initial=0) + 1}, {y.max(initial=0) + 1}]; want 27,648 bytes per image, labels 1..10")
    return {"x": np.ascontiguousarray(x.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)), "y": y}


def parse_svhn(files: list[Path], options: dict) -> Arrays:
    from scipy.io import loadmat

    m = loadmat(files[0])
    x = np.ascontiguousarray(m["X"].transpose(3, 0, 1, 2)).astype(np.uint8)
    y = m["y"].reshape(-1).astype(np.int64)
    y[y == 10] = 0
    return {"x": x, "y": y}


def read_omniglot_folder(folder: Path) -> Arrays:
    """The official layout <root>/<Alphabet>/characterNN/IIII_DD.png, 105x105 binary PNGs.

    Returns x, y (character index within the whole folder, in sorted order), `alphabet` (index
    into sorted alphabet names), `character` (index within its alphabet), plus the names.
    """
    from PIL import Image

    alphabets = sorted(p for p in folder.iterdir() if p.is_dir())
    if not alphabets:
        raise DataError(f"{folder} holds no alphabet folders (expected <Alphabet>/characterNN/*.png)")
    xs, ys, alpha, char = [], [], [], []
    label = 0
    for a_idx, a in enumerate(alphabets):
        for c_idx, c in enumerate(sorted(p for p in a.iterdir() if p.is_dir())):
            for png in sorted(c.glob("*.png")):
                with Image.open(png) as im:
                    xs.append(np.asarray(im.convert("L"), dtype=np.uint8))
                ys.append(label)
                alpha.append(a_idx)
                char.append(c_idx)
            label += 1
    return {"x": np.stack(xs)[..., None], "y": np.asarray(ys, dtype=np.int64),
            "alphabet": np.asarray(alpha, dtype=np.int64), "character": np.asarray(char, dtype=np.int64),
            "alphabet_names": np.asarray([a.name for a in alphabets])}


def parse_omniglot(files: list[Path], options: dict) -> Arrays:
    from sharebench.datasets.fetch import safe_extract

    folder = safe_extract(files[0], files[0].parent / files[0].stem)
    inner = folder / files[0].stem
    return read_omniglot_folder(inner if inner.is_dir() else folder)


def parse_npz(data: bytes | Path, part: str) -> Arrays:
    """The standard array layout: x_<part> uint8 [N,H,W,C] (or [N,H,W]), y_<part> int [N]."""
    with np.load(io.BytesIO(data) if isinstance(data, bytes) else data, allow_pickle=False) as z:
        if f"x_{part}" not in z or f"y_{part}" not in z:
            raise DataError(f"npz lacks x_{part} / y_{part}; has {sorted(z.files)}")
        x, y = z[f"x_{part}"], z[f"y_{part}"]
    if x.dtype != np.uint8:
        raise DataError(f"x_{part} must be uint8, got {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(f"x_{part} must be [N,H,W,C], got shape {x.shape}")
    return {"x": np.ascontiguousarray(x), "y": y.astype(np.int64)}


# ----------------------------------------------------------------------------- images of any size, by folder

def _strip_common_prefix(parts: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Drop the folders every image shares (an archive's wrapper), never the class folder: a split with a single
    class keeps it."""
    n = 0
    while all(len(p) > n + 2 for p in parts) and len({p[n] for p in parts}) == 1:
        n += 1
    return [p[n:] for p in parts]


def read_class_folders(members: list[Member], store_size: int | None, square: bool = False) -> Arrays:
    """One class per top folder (below the folders all images share), classes in sorted name order. `square`:
    the short side resized to `store_size` and the centre square kept (else the image is resized to a square)."""
    if not members:
        raise DataError("no images found (expected one folder per class holding .jpg/.png/.ppm/.pgm files)")
    rel = _strip_common_prefix([parts for parts, _ in members])
    if any(len(r) < 2 for r in rel):
        raise DataError("images must sit in one folder per class; found images outside class folders")
    names = sorted({r[0] for r in rel})
    index = {n: i for i, n in enumerate(names)}
    x = np.stack([decode_square(read(), store_size) if square and store_size else decode_image(read(), store_size)
                  for _, read in members])
    return {"x": x, "y": np.asarray([index[r[0]] for r in rel], dtype=np.int64), "class_names": np.asarray(names)}


def parse_class_folders(files: list[Path], options: dict) -> Arrays:
    """An archive of class folders (Caltech-256's tar, TU Berlin's sketches zip); the split is `all`."""
    return read_class_folders(archive_members(files[0]), options.get("store_size"))


def parse_gtsrb(files: list[Path], options: dict) -> Arrays:
    """GTSRB's official archives: training images in Final_Training/Images/<class 00000-00042>/*.ppm; test images
    in Final_Test/Images/*.ppm with classes in GT-final_test.csv (`Filename;...;ClassId`). Whole images are
    resized (the ROI columns are not used: the paper resizes images, it does not crop them)."""
    size = options.get("store_size")
    if options["part"] == "train":
        members = [(parts, read) for parts, read in archive_members(files[0]) if "Final_Training" in parts]
        x = [decode_image(read(), size) for _, read in members]
        y = [int(parts[-2]) for parts, _ in members]
    else:
        by_name = {f.name: f for f in files}
        with zipfile.ZipFile(by_name["GTSRB_Final_Test_GT.zip"]) as zf:
            csv_name = next(n for n in zf.namelist() if n.endswith(".csv"))
            lines = zf.read(csv_name).decode().splitlines()
        header = lines[0].split(";")
        label = {row[header.index("Filename")]: int(row[header.index("ClassId")])
                 for row in (line.split(";") for line in lines[1:] if line.strip())}
        members = archive_members(by_name["GTSRB_Final_Test_Images.zip"])
        unlabelled = [parts[-1] for parts, _ in members if parts[-1] not in label]
        if unlabelled:
            raise DataError(f"GTSRB test images without a class in GT-final_test.csv: {unlabelled[:3]}")
        x = [decode_image(read(), size) for _, read in members]
        y = [label[parts[-1]] for parts, _ in members]
    if not x:
        raise DataError(f"no GTSRB images found in {files[0]}")
    return {"x": np.stack(x), "y": np.asarray(y, dtype=np.int64)}


PARSERS: dict[str, Callable[[list[Path], dict], Arrays]] = {
    "gtsrb": parse_gtsrb,
    "class_folders": parse_class_folders,
    "idx": parse_idx,
    "emnist": parse_emnist,
    "libsvm_usps": parse_libsvm_usps,
    "esl_usps": parse_esl_usps,
    "celeba_gender": parse_celeba_gender,
    "celeba_faces": parse_celeba_faces,
    "cifar": parse_cifar,
    "stl10": parse_stl10,
    "svhn": parse_svhn,
    "omniglot": parse_omniglot,
    **FINE_GRAINED_PARSERS,
}
