"""Single-class tasks for the JAE paper's reconstruction experiments. Table 1: CIFAR-10 airplane (A), deer (D),
horse (H) and ship (S), one suite per pair (`cifar10-A-D`, ...), each task the class's 5,000 training and 1,000 test
images (label 0).

The autoencoder baseline of a pair is two independent class autoencoders, so a pair's AE error is "the mean AE
error" of its two classes, as the paper computes it. CIFAR-10 comes from the official archive or, offline, from an
explicit import (the mirror's WebP mosaics, marked not checksum-verified). Sec. 4.1's CelebA men / women
(`celeba-gender`, paper profile) are two such tasks too.
"""

from __future__ import annotations

import functools
from itertools import combinations

import numpy as np

from sharebench.datasets.load import load_split
from sharebench.datasets.suites import Suite, Task

CIFAR10_CLASSES = {"A": ("airplane", 0), "D": ("deer", 4), "H": ("horse", 7), "S": ("ship", 8)}
PAIRS = ["-".join(p) for p in combinations(CIFAR10_CLASSES, 2)]  # A-D, A-H, A-S, D-H, D-S, H-S


def build_cifar10_pair(pair: str, offline: bool | None = None) -> Suite:
    train, p_train = load_split("cifar10", "train", offline)
    test, p_test = load_split("cifar10", "test", offline)
    tasks = []
    for letter in pair.split("-"):
        name, label = CIFAR10_CLASSES[letter]
        xtr, xte = train["x"][train["y"] == label], test["x"][test["y"] == label]
        tasks.append(Task(name, xtr, np.zeros(len(xtr), np.int64), xte, np.zeros(len(xte), np.int64), 1,
                          {"source": "cifar10", "cifar10_class": label}))
    return Suite(f"cifar10-{pair}", tasks, notes=[f"CIFAR-10 classes {', '.join(t.name for t in tasks)}, one task "
                                                  "each (all images of the class, label 0)"],
                 provenance=[p_train.to_dict(), p_test.to_dict()])


def build_celeba_gender(train_per_gender: int = 10000, offline: bool | None = None) -> Suite:
    """The JAE paper's CelebA experiment: men and women as two tasks, 12,000 faces each (the source's draw), the first
    10,000 for training and the other 2,000 for testing (label 0); aligned faces, center crop 140, 32 x 32 RGB."""
    arrays, prov = load_split("celeba", "all", offline)
    tasks = []
    for name, g in (("women", 0), ("men", 1)):
        x = arrays["x"][arrays["y"] == g]
        zeros = np.zeros(len(x), np.int64)
        tasks.append(Task(name, x[:train_per_gender], zeros[:train_per_gender], x[train_per_gender:],
                          zeros[train_per_gender:], 1, {"source": "celeba", "male": g}))
    return Suite("celeba-gender", tasks, provenance=[prov.to_dict()],
                 notes=["CelebA aligned faces by the Male attribute, 12,000 per gender (RandomState(666)), center "
                        "crop 140, 32 x 32 RGB; the first 10,000 train, the other 2,000 test"])


PAIR_SUITES = {f"cifar10-{pair}": functools.partial(build_cifar10_pair, pair) for pair in PAIRS}
PAIR_SUITES["celeba-gender"] = build_celeba_gender
