"""The decathlon-10 sources: GTSRB's official archives, class-folder archives (Caltech-256, sketches), sources that
can only be imported (AwA, Daimler, Plankton), files without a published md5, and the suite's one offline error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sharebench.datasets.errors import MissingDataError
from sharebench.datasets.fetch import data_root, md5sum
from sharebench.datasets.importer import import_source
from sharebench.datasets.load import load_split
from sharebench.datasets.parsers import parse_class_folders, parse_gtsrb
from sharebench.datasets.suites import build_suite
from tests.formats import write_class_folders, write_class_folders_tar, write_gtsrb_zips


def test_gtsrb_official_archives_train_by_folder_test_by_csv(tmp_path):
    labels = write_gtsrb_zips(tmp_path)
    train = parse_gtsrb([tmp_path / "GTSRB_Final_Training_Images.zip"], {"part": "train", "store_size": 8})
    test = parse_gtsrb([tmp_path / "GTSRB_Final_Test_Images.zip", tmp_path / "GTSRB_Final_Test_GT.zip"],
                       {"part": "test", "store_size": 8})
    assert train["x"].shape == (6, 8, 8, 3) and train["x"].dtype == np.uint8
    assert train["y"].tolist() == labels["train"]
    assert test["y"].tolist() == labels["test"]


def test_class_folders_archive_keeps_every_class_in_sorted_order(tmp_path):
    classes = ["001.ak47", "002.bat", "257.clutter"]
    tar = write_class_folders_tar(tmp_path / "256_ObjectCategories.tar", "256_ObjectCategories", classes)
    arrays = parse_class_folders([tar], {"store_size": 16})
    assert arrays["x"].shape == (15, 16, 16, 3)
    assert arrays["class_names"].tolist() == classes
    assert np.bincount(arrays["y"]).tolist() == [5, 5, 5]


def test_import_only_source_offline_names_where_to_get_it_and_the_command():
    with pytest.raises(MissingDataError) as err:
        load_split("plankton", "all")
    message = str(err.value)
    assert "sharebench import plankton" in message and "login" in message


def test_imported_class_folders_are_split_80_20_and_marked_unverified(tmp_path):
    write_class_folders(tmp_path / "train", ["acantharia", "copepod"], per_class=10)
    lines = import_source("plankton", tmp_path / "train")
    assert lines == ["all: 20 images in 2 classes"]
    arrays, prov = load_split("plankton", "all")
    assert arrays["x"].shape == (20, 64, 64, 3) and not prov.checksum_verified

    from sharebench.datasets.domains import build_domains

    suite = build_domains("t", ["plankton"], 32)
    task = suite.tasks[0]
    assert (len(task.y_train), len(task.y_test)) == (16, 4)
    assert np.bincount(task.y_test).tolist() == [2, 2]  # stratified
    assert not suite.checksum_verified and any("80 %" in n for n in suite.notes)


def test_daimler_official_sets_become_train_and_test(tmp_path):
    for s in ("1", "2", "3", "T1", "T2"):
        write_class_folders(tmp_path / s, ["non-ped_examples", "ped_examples"], per_class=2, fmt="PPM", grey=True)
    import_source("daimler", tmp_path)
    train, _ = load_split("daimler", "train")
    test, _ = load_split("daimler", "test")
    assert (len(train["y"]), len(test["y"])) == (12, 8)
    assert train["class_names"].tolist() == ["non-ped_examples", "ped_examples"]
    assert train["x"].shape[1:] == (64, 64, 3)  # grey pgm -> RGB


def test_file_without_published_md5_is_used_but_recorded_unverified(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_class_folders(tmp_path / "png", ["airplane", "bear"], per_class=2, fmt="PNG")
    import zipfile

    (mirror / "sketches").mkdir(parents=True)
    with zipfile.ZipFile(mirror / "sketches" / "sketches_png.zip", "w") as zf:
        for f in sorted((tmp_path / "png").rglob("*.png")):
            zf.write(f, f"png/{f.parent.name}/{f.name}")
    monkeypatch.setenv("SHAREBENCH_MIRROR", str(mirror))
    arrays, prov = load_split("sketches", "all")
    assert arrays["class_names"].tolist() == ["airplane", "bear"]
    assert not prov.checksum_verified
    assert md5sum(mirror / "sketches" / "sketches_png.zip") in prov.note


def test_decathlon_10_offline_stops_once_naming_every_missing_domain():
    with pytest.raises(MissingDataError) as err:
        build_suite("decathlon-10")
    message = str(err.value)
    assert "lacks 10 of its 10 domains" in message
    for source in ("awa", "caltech256", "daimler", "gtsrb", "plankton", "sketches", "svhn"):
        assert f"- {source}:" in message
    assert "GTSRB_Final_Test_GT.zip" in message and "sharebench import daimler" in message
    assert not (data_root() / "processed").exists()


def test_import_provenance_records_counts(tmp_path):
    write_class_folders(tmp_path / "awa", ["antelope", "zebra"], per_class=5)
    import_source("awa", tmp_path / "awa")
    prov = json.loads((data_root() / "imported" / "awa" / "provenance.json").read_text())
    assert prov["files"]["all.npz"]["classes"] == 2 and prov["files"]["all.npz"]["images"] == 10
