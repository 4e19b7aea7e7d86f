"""The fine-grained five of Zhang et al.'s Figure 4 (paper profile): parsers on tiny archives in the official layouts,
the square storage, Stanford Cars' import, and the suite's one error naming every missing dataset."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from sharebench.datasets.errors import MissingDataError
from sharebench.datasets.fetch import data_root
from sharebench.datasets.images import decode_square
from sharebench.datasets.importer import import_source
from sharebench.datasets.load import missing_data
from sharebench.datasets.parsers import PARSERS
from sharebench.datasets.sources import SOURCES
from sharebench.datasets.suites import build_suite

OPTIONS = {"store_size": 8, "square": True}
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (16, 12), banner: int = 0) -> bytes:
    """A solid image (width, height); `banner` rows of white at the bottom."""
    from PIL import Image

    im = Image.new("RGB", (size[0], size[1] + banner), colour)
    if banner:
        im.paste((255, 255, 255), (0, size[1], size[0], size[1] + banner))
    out = io.BytesIO()
    im.save(out, format="PNG")  # lossless, so colours can be compared exactly; the parsers sniff the format
    return out.getvalue()


def write_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def mat_bytes(**arrays) -> bytes:
    out = io.BytesIO()
    savemat(out, arrays)
    return out.getvalue()


def colour_index(x: np.ndarray) -> list[int]:
    return [COLOURS.index(tuple(int(v) for v in img[4, 4])) for img in x]


def cub_archive(folder: Path) -> Path:
    images = {1: "001.Albatross/a_1.jpg", 2: "002.Auklet/b_2.jpg", 3: "001.Albatross/a_3.jpg", 4: "002.Auklet/b_4.jpg"}
    files = {"CUB_200_2011/images.txt": "".join(f"{i} {p}\n" for i, p in images.items()).encode(),
             "CUB_200_2011/image_class_labels.txt": b"1 1\n2 2\n3 1\n4 2\n",
             "CUB_200_2011/train_test_split.txt": b"1 1\n2 0\n3 0\n4 1\n"}
    files.update({f"CUB_200_2011/images/{p}": jpeg(COLOURS[i]) for i, p in images.items()})
    return write_tar(folder / "CUB_200_2011.tgz", files)


def flowers_files(folder: Path) -> list[Path]:
    write_tar(folder / "102flowers.tgz", {f"jpg/image_{i:05d}.jpg": jpeg(COLOURS[i - 1]) for i in range(1, 7)})
    (folder / "imagelabels.mat").write_bytes(mat_bytes(labels=np.array([[3, 1, 2, 1, 3, 2]], np.uint8)))
    (folder / "setid.mat").write_bytes(mat_bytes(trnid=np.array([[5, 1]]), valid=np.array([[3]]),
                                                 tstid=np.array([[2, 6, 4]])))
    return [folder / "102flowers.tgz", folder / "imagelabels.mat", folder / "setid.mat"]


def dogs_files(folder: Path) -> list[Path]:
    names = ["n01-chihuahua/n01_7.jpg", "n02-basset/n02_3.jpg", "n01-chihuahua/n01_9.jpg"]
    write_tar(folder / "images.tar", {f"Images/{n}": jpeg(COLOURS[i]) for i, n in enumerate(names)}, "w")
    cell = np.empty((2, 1), dtype=object)
    cell[0, 0], cell[1, 0] = np.array([names[2]]), np.array([names[1]])
    write_tar(folder / "lists.tar", {"train_list.mat": mat_bytes(file_list=cell, labels=np.array([[1], [2]])),
                                     "test_list.mat": mat_bytes(file_list=cell[:1], labels=np.array([[1]]))}, "w")
    return [folder / "images.tar", folder / "lists.tar"]


def aircraft_archive(folder: Path) -> Path:
    d = "fgvc-aircraft-2013b/data/"
    files = {d + "variants.txt": b"707-320\nF/A-18\n",
             d + "images_variant_trainval.txt": b"0001 F/A-18\n0002 707-320\n",
             d + "images_variant_test.txt": b"0003 707-320\n",
             **{d + f"images/000{i}.jpg": jpeg(COLOURS[i], banner=20) for i in (1, 2, 3)}}
    return write_tar(folder / "fgvc-aircraft-2013b.tar.gz", files)


def test_square_storage_keeps_the_centre_of_wide_images():
    from PIL import Image

    im = Image.new("RGB", (30, 10), (255, 0, 0))
    im.paste((0, 0, 255), (10, 0, 20, 10))  # a blue centre third
    out = io.BytesIO()
    im.save(out, format="PNG")
    x = decode_square(out.getvalue(), 10)
    assert x.shape == (10, 10, 3) and (x[:, 2:8, 2] > 200).all() and (x[:, 2:8, 0] < 50).all()


def test_cub_reads_the_official_split_and_labels(tmp_path):
    archive = cub_archive(tmp_path)
    train = PARSERS["cub"]([archive], {**OPTIONS, "part": "train"})
    test = PARSERS["cub"]([archive], {**OPTIONS, "part": "test"})
    assert train["x"].shape == (2, 8, 8, 3) and colour_index(train["x"]) == [1, 4] and train["y"].tolist() == [0, 1]
    assert colour_index(test["x"]) == [2, 3] and test["y"].tolist() == [1, 0]


def test_flowers_train_is_trnid_plus_valid_and_labels_are_zero_based(tmp_path):
    files = flowers_files(tmp_path)
    train = PARSERS["flowers102"](files, {**OPTIONS, "part": "train"})
    test = PARSERS["flowers102"](files, {**OPTIONS, "part": "test"})
    assert colour_index(train["x"]) == [0, 2, 4] and train["y"].tolist() == [2, 1, 2]
    assert colour_index(test["x"]) == [1, 3, 5] and test["y"].tolist() == [0, 0, 1]


def test_dogs_follow_the_mat_file_lists(tmp_path):
    files = dogs_files(tmp_path)
    train = PARSERS["stanford_dogs"](files, {**OPTIONS, "part": "train"})
    assert colour_index(train["x"]) == [2, 1] and train["y"].tolist() == [0, 1]
    assert colour_index(PARSERS["stanford_dogs"](files, {**OPTIONS, "part": "test"})["x"]) == [2]


def test_aircraft_variants_in_file_order_with_the_banner_removed(tmp_path):
    archive = aircraft_archive(tmp_path)
    train = PARSERS["fgvc_aircraft"]([archive], {**OPTIONS, "part": "train"})
    assert train["y"].tolist() == [1, 0] and colour_index(train["x"]) == [1, 2]
    assert (train["x"] < 250).any(axis=-1).all()  # no white banner row survives
    test = PARSERS["fgvc_aircraft"]([archive], {**OPTIONS, "part": "test"})
    assert test["y"].tolist() == [0]


def test_a_listed_image_missing_from_the_archive_is_named(tmp_path):
    archive = write_tar(tmp_path / "CUB_200_2011.tgz", {"CUB_200_2011/images.txt": b"1 001.A/x.jpg\n",
                                                        "CUB_200_2011/image_class_labels.txt": b"1 1\n",
                                                        "CUB_200_2011/train_test_split.txt": b"1 1\n"})
    with pytest.raises(Exception, match="missing.*001.A/x.jpg"):
        PARSERS["cub"]([archive], {**OPTIONS, "part": "train"})


def test_the_suite_names_every_missing_dataset_and_how_to_get_cars():
    with pytest.raises(MissingDataError) as err:
        build_suite("fine-grained-5")
    text = str(err.value)
    for name in ("cub", "stanford-dogs", "flowers102", "stanford-cars", "fgvc-aircraft"):
        assert f"source {name!r}" in text
    assert "sharebench import stanford-cars" in text


def _unchecked(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The tiny archives are not the official files: the source's md5s are dropped for the test."""
    source = SOURCES[name]
    files = {split: tuple(dataclasses.replace(f, md5="") for f in fs) for split, fs in source.files.items()}
    monkeypatch.setitem(SOURCES, name, dataclasses.replace(source, files=files, options=OPTIONS))


def test_the_fine_grained_suite_from_official_layouts_and_imported_cars(tmp_path, monkeypatch):
    raw = data_root() / "raw"
    for name, make in (("cub", cub_archive), ("flowers102", flowers_files), ("stanford-dogs", dogs_files),
                       ("fgvc-aircraft", aircraft_archive)):
        (raw / name).mkdir(parents=True)
        make(raw / name)
        _unchecked(monkeypatch, name)
    monkeypatch.setitem(SOURCES, "stanford-cars", dataclasses.replace(SOURCES["stanford-cars"], options=OPTIONS))
    cars = tmp_path / "car_data"
    for split in ("train", "test"):
        for c in (0, 1):
            folder = cars / split / f"Model {c}"
            folder.mkdir(parents=True)
            (folder / f"{split}.jpg").write_bytes(jpeg(COLOURS[c], size=(24, 12)))
    assert missing_data("stanford-cars") is not None
    import_source("stanford-cars", cars)
    assert missing_data("stanford-cars") is None
    suite = build_suite("fine-grained-5")
    assert [t.name for t in suite.tasks] == ["birds", "dogs", "flowers", "cars", "aircraft"]
    assert suite.image_shape == (8, 8, 3)
    assert [len(t.x_train) for t in suite.tasks] == [2, 2, 3, 2, 2]
    cars_prov = [p for p in suite.provenance if p["source"] == "stanford-cars"]
    assert cars_prov and not any(p["checksum_verified"] for p in cars_prov)


def test_the_completion_classes_come_from_imported_folders_in_figure_2_s_order(tmp_path):
    from sharebench.datasets.zhang_suites import PAPER_NODES, build_imagenet8_completion

    folders = ["Bird", "dog", "wolf", "flower", "car", "truck", "fighter_aircraft", "plane"]
    for c, name in enumerate(folders):
        (tmp_path / "eight" / name).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "eight" / name / f"{i}.png").write_bytes(jpeg(COLOURS[c % 6], size=(20, 10)))
    with pytest.raises(MissingDataError, match="zhang-imagenet-8"):
        build_imagenet8_completion(2, 1, hole=8)
    import_source("zhang-imagenet-8", tmp_path / "eight")
    suite = build_imagenet8_completion(2, 1, hole=8)
    assert [t.name for t in suite.tasks] == [n.lower().replace(" ", "-") for n in PAPER_NODES]
    assert suite.image_shape == (64, 64, 3) and [len(t.x_train) for t in suite.tasks] == [2] * 8
    assert suite.tasks[1].meta["hole"] == 8 and len(suite.tasks[1].x_test) == 1
    with pytest.raises(MissingDataError, match="has 3 images, needs 4"):
        build_imagenet8_completion(3, 1, hole=8)


def test_a_split_with_one_class_folder_keeps_it():
    from sharebench.datasets.parsers import read_class_folders

    def member(*parts):
        return parts, lambda: jpeg(COLOURS[0])
    single = read_class_folders([member("Model 0", "a.jpg"), member("Model 0", "b.jpg")], 8)
    assert list(single["class_names"]) == ["Model 0"]
    wrapped = read_class_folders([member("car_data", "A", "a.jpg"), member("car_data", "B", "b.jpg")], 8)
    assert list(wrapped["class_names"]) == ["A", "B"]
