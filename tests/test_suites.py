"""Suites: deterministic, disjoint domains, stored with a hash that catches corruption."""

from __future__ import annotations

import numpy as np
import pytest

from sharebench.datasets.errors import DataError
from sharebench.datasets.suites import build_suite, load_suite, processed_dir, save_suite
from tests.conftest import MIRROR, needs_mirror


def test_embedded_suite_is_deterministic_and_disjoint():
    a, b = build_suite("embedded"), build_suite("embedded")
    assert a.content_hash() == b.content_hash()
    assert len(a.tasks) >= 4 and a.image_shape == (16, 16, 1)
    assert {t.num_classes for t in a.tasks} == {10, 2}  # one domain with a different label set
    plain = a.tasks[0]
    # disjoint images: the source images of different domains never coincide (compare plain shards)
    other = build_suite("embedded").tasks[0]
    assert np.array_equal(plain.x_train, other.x_train)
    for t in a.tasks:
        assert t.x_train.dtype == np.uint8 and t.y_train.dtype == np.int64
        assert set(np.unique(t.y_train)) == set(range(t.num_classes))


def test_embedded_shards_do_not_overlap():
    from sklearn.datasets import load_digits

    suite = build_suite("embedded")
    n_total = sum(len(t.y_train) + len(t.y_test) for t in suite.tasks)
    assert n_total == len(load_digits().target)


def test_save_load_roundtrip_and_corruption_detected():
    suite = build_suite("embedded")
    digest = save_suite(suite)
    loaded = load_suite("embedded")
    assert loaded.content_hash() == digest and [t.name for t in loaded.tasks] == [t.name for t in suite.tasks]
    npz = processed_dir() / "embedded.npz"
    arrays = dict(np.load(npz))
    arrays["t0_y_train"] = arrays["t0_y_train"][::-1].copy()
    np.savez(npz, **arrays)
    with pytest.raises(DataError, match="hash"):
        load_suite("embedded")


def test_unknown_suite():
    with pytest.raises(KeyError, match="unknown suite"):
        build_suite("nope")


def test_unprepared_suite_says_what_to_run():
    with pytest.raises(DataError, match="sharebench prepare"):
        load_suite("mnist-family")


@needs_mirror("mnist/train-images-idx3-ubyte.gz", "kmnist/t10k-images-idx3-ubyte.gz", "usps/usps.t.bz2",
              "fashion-mnist/train-images-idx3-ubyte.gz")
def test_mnist_family_from_mirror(monkeypatch):
    from sharebench.datasets.importer import import_source

    monkeypatch.setenv("SHAREBENCH_MIRROR", str(MIRROR))
    import_source("fashion-mnist", MIRROR / "fashion-mnist")
    suite = build_suite("mnist-family")
    assert [t.name for t in suite.tasks] == ["mnist", "kmnist", "fashion-mnist", "usps"]
    for t in suite.tasks:
        assert t.x_train.shape == (500, 28, 28, 1)
        pool = np.concatenate([t.y_train, t.y_test]) if t.name in ("kmnist", "usps") else None
        if pool is not None:  # stratified: class shares as in the split it was drawn from
            expected = 500 * np.bincount(pool) / len(pool)
            assert np.abs(np.bincount(t.y_train) - expected).max() <= 1
    assert len(suite.tasks[0].y_test) == 10000
    assert len(suite.tasks[1].y_test) == 9500  # KMNIST train drawn from its test split, said in notes
    assert any("kmnist" in n and "test split" in n for n in suite.notes)
    assert not suite.checksum_verified  # Fashion-MNIST was imported
    train_rows = {x.tobytes() for x in suite.tasks[1].x_train}
    assert not any(x.tobytes() in train_rows for x in suite.tasks[1].x_test[:2000])
    assert build_suite("mnist-family").content_hash() == suite.content_hash()


@needs_mirror("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz")
def test_mnist_halves(monkeypatch):
    monkeypatch.setenv("SHAREBENCH_MIRROR", str(MIRROR))
    suite = build_suite("mnist-halves", train_per_task=100)
    assert [t.num_classes for t in suite.tasks] == [5, 5]
    assert all(t.y_test.max() == 4 for t in suite.tasks) and len(suite.tasks[0].y_train) == 100
