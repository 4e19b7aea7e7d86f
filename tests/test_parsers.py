"""Parsers against tiny files generated in each published format."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from sharebench.datasets.errors import DataError
from sharebench.datasets.parsers import (
    parse_cifar,
    parse_emnist,
    parse_idx,
    parse_libsvm_usps,
    parse_npz,
    parse_stl10,
    parse_svhn,
    read_idx,
    read_omniglot_folder,
)
from tests.formats import (
    idx_bytes,
    write_cifar_tar,
    write_emnist_zip,
    write_mnist_like,
    write_omniglot_folder,
    write_stl10_tar,
    write_usps_bz2,
)


def test_idx_roundtrip_and_shape(tmp_path):
    arrays = write_mnist_like(tmp_path)
    files = [tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz"]
    out = parse_idx(files, {})
    assert out["x"].shape == (20, 28, 28, 1) and out["x"].dtype == np.uint8
    np.testing.assert_array_equal(out["x"][..., 0], arrays["x_train"])
    np.testing.assert_array_equal(out["y"], arrays["y_train"])
    assert out["y"].dtype == np.int64


def test_idx_rejects_truncated_and_bad_magic():
    data = idx_bytes(np.zeros((3, 4, 4)))
    with pytest.raises(DataError, match="truncated"):
        read_idx(data[:-5])
    with pytest.raises(DataError, match="magic"):
        read_idx(b"\x01" + data[1:])


@pytest.mark.parametrize("split", ["digits", "letters"])
def test_emnist_zip(tmp_path, split):
    written = write_emnist_zip(tmp_path / "gzip.zip", split)
    out = parse_emnist([tmp_path / "gzip.zip"], {"split": split, "part": "test"})
    x, y = written["test"]
    np.testing.assert_array_equal(out["x"][..., 0], x)  # not transposed, as the LWS code
    np.testing.assert_array_equal(out["y"], y - (1 if split == "letters" else 0))


def test_usps_libsvm(tmp_path):
    values, labels = write_usps_bz2(tmp_path / "usps.t.bz2")
    out = parse_libsvm_usps([tmp_path / "usps.t.bz2"], {})
    assert out["x"].shape == (6, 16, 16, 1)
    np.testing.assert_array_equal(out["y"], labels - 1)
    expected = np.clip(np.round((values + 1) / 2 * 255), 0, 255).astype(np.uint8).reshape(6, 16, 16)
    np.testing.assert_array_equal(out["x"][..., 0], expected)


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_cifar_tarball(tmp_path, variant):
    written = write_cifar_tar(tmp_path / f"{variant}.tar.gz", variant)
    out = parse_cifar([tmp_path / f"{variant}.tar.gz"], {"variant": variant, "part": "test"})
    test = written["test_batch" if variant == "cifar10" else "test"]
    assert out["x"].shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(out["x"][1, :, :, 0].reshape(-1), test["data"][1, :1024])  # R plane
    if variant == "cifar100":
        np.testing.assert_array_equal(out["y_coarse"], test["coarse_labels"])


def test_stl10_binary_archive_reads_as_torchvision_does_and_a_wrong_archive_says_so(tmp_path):
    import tarfile

    from torchvision.datasets import STL10

    written = write_stl10_tar(tmp_path / "stl10_binary.tar.gz")
    out = parse_stl10([tmp_path / "stl10_binary.tar.gz"], {"part": "test"})
    assert out["x"].shape == (2, 96, 96, 3) and out["x"].dtype == np.uint8
    np.testing.assert_array_equal(out["x"], written["test"]["x"])
    np.testing.assert_array_equal(out["y"], written["test"]["y"])
    with tarfile.open(tmp_path / "stl10_binary.tar.gz") as tf:  # torchvision's own reader on the same files
        tf.extractall(tmp_path, filter="data")
    reader = STL10.__new__(STL10)
    reader.root, reader.base_folder = str(tmp_path), "stl10_binary"
    images, labels = reader._STL10__loadfile("test_X.bin", "test_y.bin")  # [N, C, H, W], labels 0..9
    np.testing.assert_array_equal(out["x"], images.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(out["y"], labels)
    write_cifar_tar(tmp_path / "wrong.tar.gz")
    with pytest.raises(DataError, match="not STL-10's binary archive.*test_X.bin"):
        parse_stl10([tmp_path / "wrong.tar.gz"], {"part": "test"})


def test_svhn_mat(tmp_path):
    x = np.random.RandomState(0).randint(0, 256, (32, 32, 3, 5)).astype(np.uint8)
    y = np.array([[10], [1], [2], [10], [9]])
    savemat(tmp_path / "test_32x32.mat", {"X": x, "y": y})
    out = parse_svhn([tmp_path / "test_32x32.mat"], {})
    assert out["x"].shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(out["y"], [0, 1, 2, 0, 9])  # label 10 is digit 0
    np.testing.assert_array_equal(out["x"][2], x[..., 2])


def test_omniglot_folder(tmp_path):
    write_omniglot_folder(tmp_path / "images_background")
    out = read_omniglot_folder(tmp_path / "images_background")
    assert out["x"].shape == (12, 105, 105, 1)
    assert set(np.unique(out["x"])) <= {0, 255}
    np.testing.assert_array_equal(out["y"], np.repeat(np.arange(4), 3))
    np.testing.assert_array_equal(out["alphabet"], np.repeat([0, 1], 6))


def test_npz_layout(tmp_path):
    np.savez(tmp_path / "a.npz", x_train=np.zeros((3, 8, 8), np.uint8), y_train=np.arange(3))
    out = parse_npz(tmp_path / "a.npz", "train")
    assert out["x"].shape == (3, 8, 8, 1)
    with pytest.raises(DataError, match="x_test"):
        parse_npz(tmp_path / "a.npz", "test")
    np.savez(tmp_path / "b.npz", x_train=np.zeros((3, 8, 8), np.float32), y_train=np.arange(3))
    with pytest.raises(DataError, match="uint8"):
        parse_npz(tmp_path / "b.npz", "train")
