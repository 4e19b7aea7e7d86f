"""Tiny files in the real published formats, for parser tests of datasets we have no copy of."""

from __future__ import annotations

import bz2
import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> Path:
    path.write_bytes(gzip.compress(idx_bytes(array)))
    return path


def write_mnist_like(folder: Path, n_train: int = 20, n_test: int = 10, size: int = 28, seed: int = 0) -> dict:
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": rng.randint(0, 256, (n_train, size, size)), "y_train": np.arange(n_train) % 10,
              "x_test": rng.randint(0, 256, (n_test, size, size)), "y_test": np.arange(n_test) % 10}
    write_idx_gz(folder / "train-images-idx3-ubyte.gz", arrays["x_train"])
    write_idx_gz(folder / "train-labels-idx1-ubyte.gz", arrays["y_train"])
    write_idx_gz(folder / "t10k-images-idx3-ubyte.gz", arrays["x_test"])
    write_idx_gz(folder / "t10k-labels-idx1-ubyte.gz", arrays["y_test"])
    return arrays


def write_emnist_zip(path: Path, split: str, n: int = 12, seed: int = 0) -> dict:
    rng = np.random.RandomState(seed)
    out = {}
    with zipfile.ZipFile(path, "w") as zf:
        for part in ("train", "test"):
            x = rng.randint(0, 256, (n, 28, 28))
            y = (np.arange(n) % 26) + (1 if split == "letters" else 0)
            zf.writestr(f"gzip/emnist-{split}-{part}-images-idx3-ubyte.gz", gzip.compress(idx_bytes(x)))
            zf.writestr(f"gzip/emnist-{split}-{part}-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(y)))
            out[part] = (x, y)
    return out


def write_usps_bz2(path: Path, n: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """LIBSVM lines 'label idx:value ...' with labels 1..10 and values in [-1, 1]."""
    rng = np.random.RandomState(seed)
    values = rng.uniform(-1, 1, (n, 256)).round(6)
    labels = np.arange(n) % 10 + 1
    lines = [f"{lab} " + " ".join(f"{i + 1}:{v}" for i, v in enumerate(row)) for lab, row in zip(labels, values)]
    path.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return values, labels


def write_cifar_tar(path: Path, variant: str = "cifar10", n: int = 4, seed: int = 0) -> dict:
    rng = np.random.RandomState(seed)
    inner = "cifar-10-batches-py" if variant == "cifar10" else "cifar-100-python"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if variant == "cifar10" else ["train", "test"]
    out = {}
    with tarfile.open(path, "w:gz") as tf:
        for name in names:
            data = rng.randint(0, 256, (n, 3072)).astype(np.uint8)
            d = {"data": data}
            if variant == "cifar10":
                d["labels"] = list(range(n))
            else:
                d["fine_labels"], d["coarse_labels"] = list(range(n)), [i % 20 for i in range(n)]
            blob = pickle.dumps(d)
            info = tarfile.TarInfo(f"{inner}/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
            out[name] = d
    return out


def write_omniglot_folder(root: Path, alphabets: int = 2, characters: int = 2, drawings: int = 3) -> Path:
    from PIL import Image

    rng = np.random.RandomState(0)
    for a in range(alphabets):
        for c in range(characters):
            folder = root / f"Alphabet_{a}" / f"character{c + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for d in range(drawings):
                img = (rng.rand(105, 105) > 0.5).astype(np.uint8) * 255
                Image.fromarray(img).convert("1").save(folder / f"{a * characters + c + 1:04d}_{d + 1:02d}.png")
    return root


def _image_bytes(rng: np.random.RandomState, fmt: str, size: tuple[int, int] = (20, 14), grey: bool = False) -> bytes:
    from PIL import Image

    shape = (size[1], size[0]) if grey else (size[1], size[0], 3)
    buf = io.BytesIO()
    Image.fromarray(rng.randint(0, 256, shape).astype(np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def write_gtsrb_zips(folder: Path, classes: int = 3, per_class: int = 2, n_test: int = 4) -> dict:
    """The official GTSRB archives: Final_Training/Images/<class>/*.ppm (+ a CSV per class), Final_Test/Images/*.ppm
    and GT-final_test.csv (semicolon-separated) in its own zip."""
    rng = np.random.RandomState(0)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "GTSRB_Final_Training_Images.zip", "w") as zf:
        for c in range(classes):
            base = f"GTSRB/Final_Training/Images/{c:05d}/"
            zf.writestr(base + f"GT-{c:05d}.csv", "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n")
            for i in range(per_class):
                zf.writestr(base + f"00000_{i:05d}.ppm", _image_bytes(rng, "PPM"))
    test_labels = [(i * 2) % classes for i in range(n_test)]
    with zipfile.ZipFile(folder / "GTSRB_Final_Test_Images.zip", "w") as zf:
        for i in range(n_test):
            zf.writestr(f"GTSRB/Final_Test/Images/{i:05d}.ppm", _image_bytes(rng, "PPM"))
    rows = "".join(f"{i:05d}.ppm;20;14;1;1;19;13;{c}\n" for i, c in enumerate(test_labels))
    with zipfile.ZipFile(folder / "GTSRB_Final_Test_GT.zip", "w") as zf:
        zf.writestr("GT-final_test.csv", "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n" + rows)
    return {"train": [c for c in range(classes) for _ in range(per_class)], "test": test_labels}


def write_class_folders(root: Path, classes: list[str], per_class: int = 3, fmt: str = "JPEG",
                        grey: bool = False) -> Path:
    """<root>/<class>/<i>.<ext>, images of odd sizes (the suite resizes them)."""
    rng = np.random.RandomState(1)
    ext = {"JPEG": "jpg", "PNG": "png", "PPM": "pgm" if grey else "ppm"}[fmt]
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / name / f"{i}.{ext}").write_bytes(_image_bytes(rng, fmt, (30 + i, 17), grey))
    return root


def write_class_folders_tar(path: Path, top: str, classes: list[str], per_class: int = 5) -> Path:
    """Caltech-256's layout: one tar, <top>/<NNN.name>/<NNN_iiii>.jpg."""
    rng = np.random.RandomState(2)
    with tarfile.open(path, "w") as tf:
        for name in classes:
            for i in range(per_class):
                data = _image_bytes(rng, "JPEG", (25, 40))
                info = tarfile.TarInfo(f"{top}/{name}/{name[:3]}_{i:04d}.jpg")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def write_stl10_tar(path: Path, n_train: int = 3, n_test: int = 2, seed: int = 0) -> dict:
    """STL-10's binary archive: `stl10_binary/{train,test}_{X,y}.bin`, images as 3 x 96 x 96 column-major planes,
    labels 1..10; an unlabelled file beside them that a reader must skip. Returns the HWC images and 0-based labels."""
    rng = np.random.RandomState(seed)
    out = {}
    with tarfile.open(path, "w:gz") as tf:
        for part, n in (("train", n_train), ("test", n_test), ("unlabeled", 1)):
            hwc = rng.randint(0, 256, (n, 96, 96, 3)).astype(np.uint8)
            y = rng.randint(1, 11, n).astype(np.uint8)
            members = {"X": hwc.transpose(0, 3, 2, 1).tobytes()}  # channel planes, each column-major
            if part != "unlabeled":
                members["y"] = y.tobytes()
                out[part] = {"x": hwc, "y": y.astype(np.int64) - 1}
            for kind, blob in members.items():
                info = tarfile.TarInfo(f"stl10_binary/{part}_{kind}.bin")
                info.size = len(blob)
                tf.addfile(info, io.BytesIO(blob))
    return out
