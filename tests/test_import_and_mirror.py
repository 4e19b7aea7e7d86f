"""The explicit import path, and the real files of the shared mirror (skipped where absent)."""

from __future__ import annotations

import gzip
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sharebench.datasets.errors import ChecksumError, DataError
from sharebench.datasets.fetch import fetch_split
from sharebench.datasets.importer import import_source
from sharebench.datasets.load import load_split
from sharebench.datasets.sources import get_source
from tests.conftest import MIRROR, needs_mirror
from tests.formats import write_omniglot_folder


def data() -> Path:
    return Path(os.environ["SHAREBENCH_DATA"])


@needs_mirror("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
def test_official_mnist_from_mirror_is_verified(monkeypatch):
    monkeypatch.setenv("SHAREBENCH_MIRROR", str(MIRROR))
    arrays, prov = load_split("mnist", "test")
    assert arrays["x"].shape == (10000, 28, 28, 1) and prov.checksum_verified and prov.origin == "mirror"
    assert np.bincount(arrays["y"]).tolist()[:2] == [980, 1135]


@needs_mirror("fashion-mnist/t10k-labels-idx1-ubyte.gz")
def test_recompressed_fashion_mnist_is_never_used_silently(monkeypatch):
    monkeypatch.setenv("SHAREBENCH_MIRROR", str(MIRROR))
    with pytest.raises(ChecksumError, match="fashion-mnist/t10k-images-idx3-ubyte.gz"):
        fetch_split(get_source("fashion-mnist"), "test")
    assert not (data() / "raw" / "fashion-mnist").exists() or not any((data() / "raw" / "fashion-mnist").iterdir())


@needs_mirror(*(f"fashion-mnist/{n}" for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")))
def test_import_checks_decompressed_content_and_marks_unverified(tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / n).write_bytes((MIRROR / "fashion-mnist" / n).read_bytes())
    lines = import_source("fashion-mnist", folder)
    assert len(lines) == 2 and all("content" in line for line in lines)
    arrays, prov = load_split("fashion-mnist", "test")
    assert arrays["x"].shape == (10000, 28, 28, 1)
    assert prov.origin == "imported" and not prov.checksum_verified
    provenance = json.loads((data() / "imported" / "fashion-mnist" / "provenance.json").read_text())
    assert str(folder.resolve()) in provenance["files"]["t10k-labels-idx1-ubyte.gz"]["imported_from"]


def test_import_refuses_gzip_with_wrong_content(tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not fashion"))
    with pytest.raises(ChecksumError, match="15d484375f8d13e6eb1aabb0c3f46965"):
        import_source("fashion-mnist", folder)
    assert not (data() / "imported" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    import_source("fashion-mnist", folder, unverified=True)  # explicit, and recorded as such
    prov = json.loads((data() / "imported" / "fashion-mnist" / "provenance.json").read_text())
    assert prov["files"]["t10k-labels-idx1-ubyte.gz"]["verification"].startswith("none")


def test_import_standard_arrays(tmp_path):
    npz = tmp_path / "usps.npz"
    np.savez(npz, x_train=np.zeros((4, 16, 16, 1), np.uint8), y_train=np.arange(4),
             x_test=np.ones((2, 16, 16, 1), np.uint8), y_test=np.arange(2))
    import_source("usps", npz)
    arrays, prov = load_split("usps", "train")  # no official train file offline -> the import
    assert arrays["x"].shape == (4, 16, 16, 1) and prov.origin == "imported" and not prov.checksum_verified


def test_import_omniglot_folder_unverified_fingerprint(tmp_path):
    write_omniglot_folder(tmp_path / "images_background")
    with pytest.raises(ChecksumError, match="fingerprint"):
        import_source("omniglot", tmp_path / "images_background")
    import_source("omniglot", tmp_path / "images_background", unverified=True)
    arrays, prov = load_split("omniglot", "background")
    assert arrays["x"].shape == (12, 105, 105, 1) and not prov.checksum_verified


def test_import_unknown_source_and_missing_path(tmp_path):
    with pytest.raises(KeyError, match="unknown source"):
        import_source("nonsense", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        import_source("mnist", tmp_path / "nope")


@pytest.mark.slow
@needs_mirror("omniglot/images_evaluation.zip")
def test_mirror_omniglot_zip_matches_official_pngs():
    with zipfile.ZipFile(MIRROR / "omniglot" / "images_evaluation.zip") as zf:
        assert sum(n.endswith(".png") for n in zf.namelist()) == 13180
    import_source("omniglot", MIRROR / "omniglot" / "images_evaluation.zip")  # fingerprint must match
    arrays, prov = load_split("omniglot", "evaluation")
    assert arrays["x"].shape == (13180, 105, 105, 1) and len(np.unique(arrays["y"])) == 659
    assert "fingerprint matches" in prov.note
