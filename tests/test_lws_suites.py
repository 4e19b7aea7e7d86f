"""The LWS suites (DKL-MNIST, CIFAR-100 coarse, Omniglot alphabets), on small arrays in the real
layouts (the real EMNIST and CIFAR-100 files are not in the mirror) and on the mirror's Omniglot."""

from __future__ import annotations

import numpy as np
import pytest

from sharebench.datasets import suites
from sharebench.datasets.load import Provenance
from sharebench.datasets.suites import build_suite
from tests.conftest import MIRROR, needs_mirror


def fake_loader(arrays: dict):
    def load_split(name, split, offline=None):
        return arrays[(name, split)], Provenance(name, split, "test", True)
    return load_split


def _digits(n: int, classes: int, seed: int) -> dict:
    rng = np.random.RandomState(seed)
    return {"x": rng.randint(0, 256, (n, 28, 28, 1)).astype(np.uint8), "y": np.arange(n) % classes}


def test_dkl_mnist_takes_500_stratified_training_images_and_full_test_sets(monkeypatch):
    arrays = {}
    for i, (src, k) in enumerate((("emnist-digits", 10), ("emnist-letters", 26), ("kmnist", 10))):
        arrays[(src, "train")] = _digits(2600, k, i)
        arrays[(src, "test")] = _digits(520, k, 10 + i)
    monkeypatch.setattr(suites, "load_split", fake_loader(arrays))
    suite = build_suite("dkl-mnist")
    assert [(t.name, t.num_classes) for t in suite.tasks] == [("digits", 10), ("letters", 26), ("kmnist", 10)]
    for t in suite.tasks:
        assert len(t.y_train) == 500 and len(t.y_test) == 520
        counts = np.bincount(t.y_train, minlength=t.num_classes)
        assert counts.max() - counts.min() <= 1  # stratified
    assert build_suite("dkl-mnist").content_hash() == suite.content_hash()


def test_cifar100_coarse_relabels_fine_classes_in_sorted_order(monkeypatch):
    rng = np.random.RandomState(0)
    fine = np.tile(np.arange(100), 3)
    coarse = (fine * 7) % 20  # any fixed fine -> coarse map with 5 fine classes per coarse class
    x = rng.randint(0, 256, (300, 32, 32, 3)).astype(np.uint8)
    arrays = {("cifar100", s): {"x": x, "y": fine, "y_coarse": coarse} for s in ("train", "test")}
    monkeypatch.setattr(suites, "load_split", fake_loader(arrays))
    suite = build_suite("cifar100-coarse")
    assert len(suite.tasks) == 20 and all(t.num_classes == 5 for t in suite.tasks)
    t3 = suite.tasks[3]
    expected_fine = sorted(f for f in range(100) if (f * 7) % 20 == 3)
    assert t3.meta["fine_labels"] == expected_fine
    sel = coarse == 3
    assert np.array_equal(t3.y_train, np.searchsorted(expected_fine, fine[sel]))


def _omniglot(alphabets: list[str], seed: int, characters: int = 3, drawings: int = 20) -> dict:
    rng = np.random.RandomState(seed)
    n = len(alphabets) * characters * drawings
    alpha = np.repeat(np.arange(len(alphabets)), characters * drawings)
    char = np.tile(np.repeat(np.arange(characters), drawings), len(alphabets))
    return {"x": rng.randint(0, 256, (n, 105, 105, 1)).astype(np.uint8), "y": alpha * characters + char,
            "alphabet": alpha, "character": char, "alphabet_names": np.asarray(alphabets)}


def test_omniglot_alphabets_split_every_character_16_4(monkeypatch):
    arrays = {("omniglot", "background"): _omniglot(["A", "B", "C"], 0),
              ("omniglot", "evaluation"): _omniglot(["D", "E"], 1)}
    monkeypatch.setattr(suites, "load_split", fake_loader(arrays))
    suite = build_suite("omniglot-alphabets", num_tasks=4)
    order = np.random.RandomState(666).permutation(5)[:4]
    assert [t.name for t in suite.tasks] == [["A", "B", "C", "D", "E"][i] for i in order]
    for t in suite.tasks:
        assert t.num_classes == 3 and t.x_train.shape[1:] == (105, 105, 1)
        assert np.bincount(t.y_train).tolist() == [16, 16, 16] and np.bincount(t.y_test).tolist() == [4, 4, 4]
        train_rows = {x.tobytes() for x in t.x_train}
        assert not any(x.tobytes() in train_rows for x in t.x_test)
    again = build_suite("omniglot-alphabets", num_tasks=4)
    assert again.content_hash() == suite.content_hash()


@pytest.mark.slow
@needs_mirror("omniglot/images_background.zip", "omniglot/images_evaluation.zip")
def test_omniglot_alphabets_from_the_mirror():
    from sharebench.datasets.importer import import_source

    import_source("omniglot", MIRROR / "omniglot")
    suite = build_suite("omniglot-alphabets")
    assert len(suite.tasks) == 50
    assert sum(t.num_classes for t in suite.tasks) == 1623  # every Omniglot character once
    assert sum(len(t.y_train) for t in suite.tasks) == 1623 * 16
    assert sum(len(t.y_test) for t in suite.tasks) == 1623 * 4
    assert suite.image_shape == (105, 105, 1) and not suite.checksum_verified
