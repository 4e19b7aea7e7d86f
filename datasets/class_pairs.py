"""Single-class tasks for the JAE paper's Table 1: CIFAR-10 airplane (A), deer (D), horse (H) and ship (S), one
suite per pair (`cifar10-A-D`, ...), each task the class's 5,000 training and 1,000 test images (label 0).

The autoencoder baseline of a pair is two independent class autoencoders, so a pair's AE error is "the mean AE
error" of its two classes, as the paper computes it. CIFAR-10 comes from the official archive or, offline, from an
explicit import (the mirror's WebP mosaics, marked not checksum-verified).
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


PAIR_SUITES = {f"cifar10-{pair}": functools.partial(build_cifar10_pair, pair) for pair in PAIRS}
