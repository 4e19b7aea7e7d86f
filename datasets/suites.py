"""Task suites: ordered lists of tasks built reproducibly from sources, stored once with a hash.

A suite is written by `sharebench prepare` to `data/processed/<suite>.npz` (+ `.json` with its
metadata, options and content hash) and read back by training jobs. All tasks of a suite share one
image shape (H, W, C) so one network can serve them; per-task class counts may differ.

A task whose images are smaller than the suite's (USPS' 16 x 16 beside MNIST's 28 x 28, kept at its native size
as the JAE paper does) is stored in the top-left corner of a zero canvas of the suite's shape, its own shape in
`meta["native_shape"]`; only methods that declare `NATIVE_SHAPES` read such suites, cropping each task back.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from sharebench.datasets.atomic import atomic_write, atomic_write_text
from sharebench.datasets.errors import DataError, MissingDataError
from sharebench.datasets.fetch import data_root
from sharebench.datasets.load import Provenance, load_split

log = logging.getLogger(__name__)


@dataclass
class Task:
    name: str
    x_train: np.ndarray  # uint8 [N, H, W, C]
    y_train: np.ndarray  # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    meta: dict = field(default_factory=dict)


@dataclass
class Suite:
    name: str
    tasks: list[Task]
    options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.tasks[0].x_train.shape[1:])  # type: ignore[return-value]

    @property
    def native_shapes(self) -> tuple[tuple[int, int, int], ...]:
        """Each task's own (H, W, C); the suite's shape unless the task sits on a canvas."""
        return tuple(tuple(t.meta.get("native_shape") or self.image_shape) for t in self.tasks)  # type: ignore

    @property
    def checksum_verified(self) -> bool:
        return all(p.get("checksum_verified", True) for p in self.provenance)

    def content_hash(self) -> str:
        h = hashlib.md5()
        for t in self.tasks:
            h.update(f"{t.name}:{t.num_classes}".encode())
            for a in (t.x_train, t.y_train, t.x_test, t.y_test):
                h.update(str(a.shape).encode())
                h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def validate(self) -> None:
        shapes = {t.x_train.shape[1:] for t in self.tasks} | {t.x_test.shape[1:] for t in self.tasks}
        if len(shapes) != 1:
            raise DataError(f"suite {self.name}: tasks have different image shapes {shapes}")
        canvas = self.image_shape
        for t, native in zip(self.tasks, self.native_shapes):
            if any(n > c for n, c in zip(native, canvas)):
                raise DataError(f"suite {self.name}, task {t.name}: native shape {native} exceeds the canvas {canvas}")
            for x in (t.x_train, t.x_test) if native != canvas else ():
                outside = x.copy()
                outside[:, :native[0], :native[1], :native[2]] = 0
                if outside.any():
                    raise DataError(f"suite {self.name}, task {t.name}: pixels outside its native {native} corner")
            for y in (t.y_train, t.y_test):
                if y.min() < 0 or y.max() >= t.num_classes:
                    raise DataError(f"suite {self.name}, task {t.name}: labels outside 0..{t.num_classes - 1}")


# ----------------------------------------------------------------------------- helpers

def resize(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of uint8 [N,H,W,C] images to size x size (PIL, per image)."""
    from PIL import Image

    if x.shape[1] == size and x.shape[2] == size:
        return x
    out = np.empty((x.shape[0], size, size, x.shape[3]), dtype=np.uint8)
    for i, img in enumerate(x):
        for c in range(x.shape[3]):
            out[i, :, :, c] = np.asarray(Image.fromarray(img[:, :, c]).resize((size, size), Image.BILINEAR))
    return out


def on_canvas(x: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 [N, h, w, c] -> [N, H, W, C] with the images in the top-left corner and zeros elsewhere."""
    out = np.zeros((len(x), *shape), dtype=x.dtype)
    out[:, :x.shape[1], :x.shape[2], :x.shape[3]] = x
    return out


def stratified_subset(y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified subset of size n and of the rest (sklearn, as the LWS code does)."""
    idx = np.arange(len(y))
    if n is None or n >= len(y):
        return idx, idx[:0]
    chosen, rest = train_test_split(idx, train_size=n, stratify=y, random_state=seed)
    return np.sort(chosen), np.sort(rest)


# ----------------------------------------------------------------------------- embedded suite

def _dilate(x: np.ndarray) -> np.ndarray:
    from scipy.ndimage import grey_dilation

    return grey_dilation(x, size=(1, 2, 2, 1))


def build_embedded(size: int = 16, test_fraction: float = 0.4, split_seed: int = 0,
                   noise_std: float = 48.0) -> Suite:
    """scikit-learn's 8x8 digits (ships with the package, so no network) as 5 domains.

    The 1,797 images are shuffled once (split_seed) and dealt into 5 disjoint shards; each shard is
    upsampled to size x size and given one deterministic transform. The `noisy-parity` domain has a
    different label set (even / odd), so heads of different widths are exercised.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.clip(np.round(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    x = resize(x, size)
    y = digits.target.astype(np.int64)
    rng = np.random.RandomState(split_seed)
    shards = np.array_split(rng.permutation(len(y)), 5)
    noise = np.random.RandomState(split_seed + 1)
    domains: list[tuple[str, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray], int]] = [
        ("plain", lambda a: a, lambda t: t, 10),
        ("inverted", lambda a: 255 - a, lambda t: t, 10),
        ("rotated", lambda a: np.ascontiguousarray(np.rot90(a, k=1, axes=(1, 2))), lambda t: t, 10),
        ("thick", _dilate, lambda t: t, 10),
        ("noisy-parity",
         lambda a: np.clip(a + noise.normal(0, noise_std, a.shape), 0, 255).astype(np.uint8),
         lambda t: t % 2, 2),
    ]
    tasks = []
    for shard, (name, fx, fy, k) in zip(shards, domains):
        xs, ys = fx(x[shard]), fy(y[shard])
        tr, te = train_test_split(np.arange(len(ys)), test_size=test_fraction, stratify=ys,
                                  random_state=split_seed)
        tasks.append(Task(name, xs[tr], ys[tr], xs[te], ys[te], k,
                          {"source": "sklearn-digits", "label_semantics": "digits" if k == 10 else ""}))
    return Suite("embedded", tasks, notes=["scikit-learn 8x8 digits, 5 disjoint shards, one transform each"],
                 provenance=[{"source": "sklearn-digits", "split": "all", "origin": "package",
                              "checksum_verified": True, "note": "ships with scikit-learn"}])


# ----------------------------------------------------------------------------- real suites

def _train_test(source: str, train_per_task: int | None, split_seed: int, offline: bool | None,
                allow_test_fallback: bool, notes: list[str], provenance: list[dict]):
    """Official train (stratified subset) and full official test; optionally carve train from test."""
    test, p_test = load_split(source, "test", offline)
    provenance.append(p_test.to_dict())
    try:
        train, p_train = load_split(source, "train", offline)
        provenance.append(p_train.to_dict())
        chosen, _ = stratified_subset(train["y"], train_per_task, split_seed)
        return train["x"][chosen], train["y"][chosen], test["x"], test["y"]
    except MissingDataError as err:
        if not allow_test_fallback:
            raise
        missing = ", ".join(line.split()[0] for line in str(err).splitlines()[1:] if "md5" in line)
        chosen, rest = stratified_subset(test["y"], train_per_task, split_seed)
        notes.append(f"{source}: official train files unavailable ({missing}); {len(chosen)} training images drawn "
                     f"(stratified, seed {split_seed}) from the official test split, the other {len(rest)} "
                     "are the test set")
        provenance.append(Provenance(source, "train", "test-split", p_test.checksum_verified,
                                     "drawn from the official test split").to_dict())
        return test["x"][chosen], test["y"][chosen], test["x"][rest], test["y"][rest]


def build_mnist_family(train_per_task: int | None = 500, split_seed: int = 666, size: int = 28,
                       sources: tuple[str, ...] = ("mnist", "kmnist", "fashion-mnist", "usps"),
                       allow_test_fallback: bool = True, offline: bool | None = None,
                       name: str = "mnist-family") -> Suite:
    """MNIST, KMNIST, Fashion-MNIST and USPS (16 px, resized to 28): 10 classes each."""
    notes: list[str] = []
    provenance: list[dict] = []
    tasks = []
    for src in sources:
        xtr, ytr, xte, yte = _train_test(src, train_per_task, split_seed, offline, allow_test_fallback,
                                         notes, provenance)
        if xtr.shape[1] != size:
            notes.append(f"{src}: resized from {xtr.shape[1]} px to {size} px (bilinear)")
        tasks.append(Task(src, resize(xtr, size), ytr, resize(xte, size), yte, 10, {"source": src}))
    return Suite(name, tasks, notes=notes, provenance=provenance)


def build_dkl_mnist(train_per_task: int | None = 500, split_seed: int = 666, offline: bool | None = None) -> Suite:
    """DKL-MNIST (LWS Sec. IV-A): EMNIST digits (10), EMNIST letters (26), KMNIST (10); 500 stratified
    training images each (sklearn, random_state 666, as the released code), the full official test sets
    (40,000 / 20,800 / 10,000). EMNIST images are not transposed, as in the released code."""
    notes: list[str] = []
    provenance: list[dict] = []
    tasks = []
    for src, name, k in (("emnist-digits", "digits", 10), ("emnist-letters", "letters", 26), ("kmnist", "kmnist", 10)):
        xtr, ytr, xte, yte = _train_test(src, train_per_task, split_seed, offline, False, notes, provenance)
        tasks.append(Task(name, xtr, ytr, xte, yte, k, {"source": src}))
    return Suite("dkl-mnist", tasks, notes=notes, provenance=provenance)


def build_dkl_mnist_offline(train_per_task: int | None = 500, split_seed: int = 666,
                            offline: bool | None = None) -> Suite:
    """The DKL-MNIST setting on the MNIST-family data available offline (the mirror has no EMNIST):
    MNIST, KMNIST and Fashion-MNIST, 500 stratified training images each, full test sets."""
    suite = build_mnist_family(train_per_task, split_seed, 28, ("mnist", "kmnist", "fashion-mnist"), True, offline,
                               name="dkl-mnist-offline")
    suite.notes.insert(0, "stands in for DKL-MNIST (EMNIST digits, EMNIST letters, KMNIST): EMNIST is not available "
                          "offline, so MNIST and Fashion-MNIST replace the two EMNIST tasks")
    return suite


def build_cifar100_coarse(offline: bool | None = None) -> Suite:
    """CIFAR-100 as 20 tasks (LWS Sec. IV-B): task t = coarse class t, its 5 fine classes relabelled
    0..4 in increasing fine-label order (released code); 2,500 training and 500 test images per task."""
    train, p_train = load_split("cifar100", "train", offline)
    test, p_test = load_split("cifar100", "test", offline)
    tasks = []
    for t in range(20):
        fine = np.unique(train["y"][train["y_coarse"] == t])
        mtr, mte = train["y_coarse"] == t, test["y_coarse"] == t
        ytr, yte = np.searchsorted(fine, train["y"][mtr]), np.searchsorted(fine, test["y"][mte])  # fine -> 0..4
        tasks.append(Task(f"coarse-{t:02d}", train["x"][mtr], ytr.astype(np.int64), test["x"][mte],
                          yte.astype(np.int64), 5, {"source": "cifar100", "fine_labels": fine.tolist()}))
    return Suite("cifar100-coarse", tasks, provenance=[p_train.to_dict(), p_test.to_dict()])


def _alphabet_seed(name: str) -> int:
    return int(hashlib.md5(name.encode()).hexdigest(), 16) % 2**32


def build_omniglot_alphabets(num_tasks: int = 50, split_seed: int = 666, test_per_character: int = 4,
                             offline: bool | None = None) -> Suite:
    """Omniglot as one task per alphabet (LWS Sec. IV-C; released code): the 30 background and 20
    evaluation alphabets (each in sorted order) concatenated, permuted with RandomState(666), the first
    `num_tasks` taken; every character's 20 drawings split 16 train / 4 test by a RandomState seeded
    with md5(alphabet name) mod 2^32 (a permutation per character, in character order; the first 16
    train). Full 105x105 resolution."""
    parts = []
    provenance = []
    for split in ("background", "evaluation"):
        arrays, prov = load_split("omniglot", split, offline)
        parts.append(arrays)
        provenance.append(prov.to_dict())
    alphabets = [(p, i, str(n)) for p in parts for i, n in enumerate(p["alphabet_names"])]
    order = np.random.RandomState(split_seed).permutation(len(alphabets))[:num_tasks]
    tasks = []
    for idx in order:
        arrays, a_idx, name = alphabets[idx]
        rng = np.random.RandomState(_alphabet_seed(name))
        sel = np.flatnonzero(arrays["alphabet"] == a_idx)
        chars = arrays["character"][sel]
        train_idx, test_idx = [], []
        for c in np.unique(chars):
            members = sel[chars == c]
            perm = rng.permutation(len(members))
            n_test = test_per_character if len(members) > test_per_character else 0
            train_idx += members[perm[: len(members) - n_test]].tolist()
            test_idx += members[perm[len(members) - n_test:]].tolist()
        x, y = arrays["x"], arrays["character"]
        tasks.append(Task(name, x[train_idx], y[train_idx], x[test_idx], y[test_idx], int(chars.max()) + 1,
                          {"source": "omniglot"}))
    return Suite("omniglot-alphabets", tasks, provenance=provenance)


def build_mnist_halves(train_per_task: int | None = None, split_seed: int = 666, offline: bool | None = None,
                       train_sizes: tuple[int | None, int | None] | None = None, name: str = "mnist-halves") -> Suite:
    """MNIST digits 0-4 and 5-9 as two 5-class tasks (labels 5-9 mapped to 0-4); `train_sizes` gives each half its
    own stratified training subset (the JAE paper's transfer: "2000 and 500 samples"), test halves in full."""
    train, p_train = load_split("mnist", "train", offline)
    test, p_test = load_split("mnist", "test", offline)
    sizes = train_sizes or (train_per_task, train_per_task)
    tasks = []
    for (task_name, lo), size in zip((("digits-0-4", 0), ("digits-5-9", 5)), sizes):
        mtr = (train["y"] >= lo) & (train["y"] < lo + 5)
        mte = (test["y"] >= lo) & (test["y"] < lo + 5)
        xtr, ytr = train["x"][mtr], train["y"][mtr] - lo
        chosen, _ = stratified_subset(ytr, size, split_seed)
        tasks.append(Task(task_name, xtr[chosen], ytr[chosen], test["x"][mte], test["y"][mte] - lo, 5,
                          {"source": "mnist", "label_semantics": f"digits {lo}-{lo + 4} as 0-4"}))
    counts = ", ".join(str(len(t.y_train)) for t in tasks)
    notes = [f"training images per half (stratified, seed {split_seed}): {counts}"] if train_sizes else []
    return Suite(name, tasks, notes=notes, provenance=[p_train.to_dict(), p_test.to_dict()])


def build_embedded_halves(size: int = 16, test_fraction: float = 0.4, split_seed: int = 0) -> Suite:
    """scikit-learn's digits (all 1,797, untransformed) as two 5-class tasks, 0-4 and 5-9 (labels 5-9 -> 0-4): the
    offline stand-in for the JAE paper's MNIST halves; each half split train/test stratified (split_seed)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = resize(np.clip(np.round(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None], size)
    y = digits.target.astype(np.int64)
    tasks = []
    for name, lo in (("digits-0-4", 0), ("digits-5-9", 5)):
        idx = np.flatnonzero((y >= lo) & (y < lo + 5))
        tr, te = train_test_split(idx, test_size=test_fraction, stratify=y[idx], random_state=split_seed)
        tr, te = np.sort(tr), np.sort(te)
        tasks.append(Task(name, x[tr], y[tr] - lo, x[te], y[te] - lo, 5,
                          {"source": "sklearn-digits", "label_semantics": f"digits {lo}-{lo + 4} as 0-4"}))
    return Suite("embedded-halves", tasks, notes=["scikit-learn 8x8 digits split into 0-4 and 5-9, stands in for "
                                                  "the MNIST halves"],
                 provenance=[{"source": "sklearn-digits", "split": "all", "origin": "package",
                              "checksum_verified": True, "note": "ships with scikit-learn"}])


SUITE_BUILDERS: dict[str, Callable[..., Suite]] = {
    "embedded": build_embedded,
    "embedded-halves": build_embedded_halves,
    "mnist-family": build_mnist_family,
    "mnist-halves": build_mnist_halves,
    # the JAE paper's transfer between the halves: 2,000 source and 500 target training images
    "mnist-halves-2000-500": functools.partial(build_mnist_halves, train_sizes=(2000, 500),
                                               name="mnist-halves-2000-500"),
    "mnist-halves-500-2000": functools.partial(build_mnist_halves, train_sizes=(500, 2000),
                                               name="mnist-halves-500-2000"),
    "dkl-mnist": build_dkl_mnist,
    "dkl-mnist-offline": build_dkl_mnist_offline,
    "cifar100-coarse": build_cifar100_coarse,
    "omniglot-alphabets": build_omniglot_alphabets,
}


def _register_domain_suites() -> None:
    """Bilen & Vedaldi's multi-domain suites live in domains.py, the JAE paper's class pairs in class_pairs.py and
    its digit transfer suites in digit_transfer.py, Zhang et al.'s stand-ins in zhang_suites.py, CETL's transfer
    suites in cetl_suites.py (all build on the helpers above)."""
    from sharebench.datasets.cetl_suites import CETL_SUITES
    from sharebench.datasets.class_pairs import PAIR_SUITES
    from sharebench.datasets.digit_transfer import DIGIT_TRANSFER_SUITES
    from sharebench.datasets.domains import DOMAIN_SUITES
    from sharebench.datasets.zhang_suites import ZHANG_SUITES

    SUITE_BUILDERS.update(DOMAIN_SUITES)
    SUITE_BUILDERS.update(PAIR_SUITES)
    SUITE_BUILDERS.update(DIGIT_TRANSFER_SUITES)
    SUITE_BUILDERS.update(ZHANG_SUITES)
    SUITE_BUILDERS.update(CETL_SUITES)


_register_domain_suites()


def suite_names() -> list[str]:
    return sorted(SUITE_BUILDERS)


def build_suite(name: str, **options) -> Suite:
    if name not in SUITE_BUILDERS:
        raise KeyError(f"unknown suite {name!r}; known: {', '.join(suite_names())}")
    suite = SUITE_BUILDERS[name](**options)
    suite.options = dict(options)
    suite.validate()
    return suite


# ----------------------------------------------------------------------------- storage

def processed_dir() -> Path:
    return data_root() / "processed"


def save_suite(suite: Suite, folder: Path | None = None) -> str:
    """Write `<suite>.npz` and `<suite>.json` atomically; returns the content hash."""
    folder = folder or processed_dir()
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, t in enumerate(suite.tasks):
        for key in ("x_train", "y_train", "x_test", "y_test"):
            arrays[f"t{i}_{key}"] = getattr(t, key)
    digest = suite.content_hash()
    meta = {"name": suite.name, "content_hash": digest, "options": suite.options, "notes": suite.notes,
            "provenance": suite.provenance, "checksum_verified": suite.checksum_verified,
            "image_shape": list(suite.image_shape),
            "tasks": [{"name": t.name, "num_classes": t.num_classes, "n_train": len(t.y_train),
                       "n_test": len(t.y_test), "meta": t.meta} for t in suite.tasks]}
    atomic_write(folder / f"{suite.name}.npz", lambda tmp: np.savez(tmp, **arrays))
    atomic_write_text(folder / f"{suite.name}.json", json.dumps(meta, indent=2))
    return digest


def read_suite_meta(name: str, folder: Path | None = None) -> dict:
    path = (folder or processed_dir()) / f"{name}.json"
    if not path.exists():
        raise MissingDataError(f"suite {name!r} is not prepared ({path} missing); run `sharebench prepare`")
    return json.loads(path.read_text())


def load_suite(name: str, folder: Path | None = None) -> Suite:
    folder = folder or processed_dir()
    meta = read_suite_meta(name, folder)
    with np.load(folder / f"{name}.npz", allow_pickle=False) as z:
        tasks = [Task(t["name"], z[f"t{i}_x_train"], z[f"t{i}_y_train"], z[f"t{i}_x_test"],
                      z[f"t{i}_y_test"], t["num_classes"], t["meta"]) for i, t in enumerate(meta["tasks"])]
    suite = Suite(meta["name"], tasks, meta["options"], meta["notes"], meta["provenance"])
    if suite.content_hash() != meta["content_hash"]:
        raise DataError(f"suite {name!r} in {folder} does not match its recorded hash; run `sharebench prepare`")
    return suite
