"""Explicit import of user-provided copies (air-gapped labs, re-packed archives).

What can be imported, and how it is checked:
- files with the official names: official md5 -> goes to the verified cache like a download;
  gzip whose *decompressed* md5 is the official content md5 -> kept as an imported copy;
- the standard array layout (.npz with x_train/y_train/x_test/y_test);
- Omniglot in the official folder layout (a folder or a zip of it); its fingerprint (md5 over the
  sorted "<path> <md5 of png>" lines) is compared with the official one where known;
- images in one folder per class (AwA, Daimler, Plankton: sources that cannot be downloaded), as a folder or an
  archive, resized while read; nothing to check them against, so they are recorded as unverified;
- CIFAR-10 as lossless WebP mosaics (one 100 x 100 grid of 32 x 32 tiles per official batch, with labels.npz;
  the dataset mirror's layout): the decoded pixels and labels are checked against the md5s of the official
  batches' arrays.
Anything else needs `unverified=True`. Every import writes provenance.json, and runs on imported
data are marked `checksum_verified: false` in their records and in the report.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from sharebench.datasets.atomic import atomic_write, atomic_write_text
from sharebench.datasets.errors import ChecksumError, DataError
from sharebench.datasets.fetch import atomic_copy, data_root, md5sum, safe_extract
from sharebench.datasets.parsers import archive_members, parse_npz, read_class_folders, read_omniglot_folder
from sharebench.datasets.sources import Source, get_source

log = logging.getLogger(__name__)

# md5 over the sorted lines "<path in zip> <md5 of file>\n" of all PNGs of the official zips
# (see ../shared/datasets/omniglot/NOTE.md).
OMNIGLOT_FINGERPRINTS = {
    "images_background": "517bb1023a6b1c66fcb63f54523654d2",
    "images_evaluation": "14d0676ba7ae7404ceb4e600d6d67299",
}
OMNIGLOT_SPLITS = {"images_background": "background", "images_evaluation": "evaluation"}


def imported_dir(source: Source) -> Path:
    return data_root() / "imported" / source.directory


def _record(source: Source, origin: Path, entries: dict[str, dict]) -> None:
    folder = imported_dir(source)
    folder.mkdir(parents=True, exist_ok=True)
    prov_path = folder / "provenance.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {"source": source.name, "files": {}}
    stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for name, entry in entries.items():
        prov["files"][name] = {**entry, "imported_from": str(origin.resolve()), "imported_at": stamp}
    atomic_write_text(prov_path, json.dumps(prov, indent=2))


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def omniglot_fingerprint(folder: Path) -> str:
    root = folder.parent
    lines = sorted(f"{p.relative_to(root).as_posix()} {md5sum(p)}\n" for p in folder.rglob("*.png"))
    return hashlib.md5("".join(lines).encode()).hexdigest()


def import_omniglot(path: Path, unverified: bool = False) -> list[str]:
    """A folder holding images_background / images_evaluation (extracted or as the official zips), or one zip."""
    zips = sorted(path.glob("images_*.zip")) if path.is_dir() else []
    if zips and not any((path / name).is_dir() for name in OMNIGLOT_SPLITS):
        return [split for z in zips for split in import_omniglot(z, unverified)]
    source = get_source("omniglot")
    work = None
    if path.is_file():
        work = Path(tempfile.mkdtemp(prefix="omniglot-import-"))
        path_root = safe_extract(path, work / "x")
    else:
        path_root = path
    try:
        candidates = [p for p in [path_root, *path_root.iterdir()] if p.name in OMNIGLOT_SPLITS]
        if not candidates:
            raise DataError(f"{path}: expected a folder named images_background or images_evaluation "
                            "(the official Omniglot layout <folder>/<Alphabet>/characterNN/*.png)")
        done = []
        for folder in candidates:
            fp = omniglot_fingerprint(folder)
            ok = fp == OMNIGLOT_FINGERPRINTS[folder.name]
            if not ok and not unverified:
                raise ChecksumError(f"{path} ({folder.name}, fingerprint of all PNGs)",
                                    OMNIGLOT_FINGERPRINTS[folder.name], fp)
            split = OMNIGLOT_SPLITS[folder.name]
            _save_npz(imported_dir(source) / f"{split}.npz", read_omniglot_folder(folder))
            _record(source, path, {f"{split}.npz": {
                "verification": "PNG fingerprint matches the official images (container re-made)" if ok
                else "none: imported unverified at the user's request", "fingerprint": fp}})
            done.append(split)
        return done
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


# md5 of the decoded uint8 arrays (x.tobytes(), [10000, 32, 32, 3] per official batch) and of the uint8 labels
# (../shared/datasets/cifar10/NOTE.md); they equal the arrays of the official pickled batches
CIFAR10_BATCH_MD5 = {
    "data_batch_1": "4e54456ff66eb84aa6dad699a3ccdde5", "data_batch_2": "48c284263cfe015b0a5fdaf4d1b48082",
    "data_batch_3": "e56488c2b23b0954326d27e32d6995cc", "data_batch_4": "b6c4ab5e98dfc7c2a7bea58ad2be17ff",
    "data_batch_5": "10cfacc324af1dfb4114bf11187cade7", "test_batch": "6d2714505047e13831cd876923568712"}
CIFAR10_LABELS_MD5 = {"train": "69c5f3349be54915edfca558b72ad888", "test": "251f18ce75337ae9ca5d0dbd7ea62cf4"}


def decode_mosaic(path: Path) -> np.ndarray:
    """One 3200 x 3200 WebP mosaic -> [10000, 32, 32, 3] uint8; image i is the tile at row i // 100, column i % 100."""
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"))
    if a.shape != (3200, 3200, 3):
        raise DataError(f"{path}: expected a 3200x3200 mosaic of 32x32 tiles, got {a.shape}")
    return a.reshape(100, 32, 100, 32, 3).transpose(0, 2, 1, 3, 4).reshape(10000, 32, 32, 3)


def import_cifar10_mosaics(folder: Path, unverified: bool = False) -> list[str]:
    """CIFAR-10 from WebP mosaics + labels.npz, verified against the official batches' array md5s."""
    source = get_source("cifar10")
    with np.load(folder / "labels.npz", allow_pickle=False) as z:
        labels = {"train": z["train"], "test": z["test"]}
    parts = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    done = []
    for split, batches in parts.items():
        xs = []
        for batch in batches:
            x = decode_mosaic(folder / f"{batch}.webp")
            digest = hashlib.md5(x.tobytes()).hexdigest()
            if digest != CIFAR10_BATCH_MD5[batch] and not unverified:
                raise ChecksumError(f"{folder / batch}.webp (decoded pixels)", CIFAR10_BATCH_MD5[batch], digest)
            xs.append(x)
        y = labels[split]
        y_digest = hashlib.md5(y.astype(np.uint8).tobytes()).hexdigest()
        if y_digest != CIFAR10_LABELS_MD5[split] and not unverified:
            raise ChecksumError(f"{folder / 'labels.npz'} ({split} labels)", CIFAR10_LABELS_MD5[split], y_digest)
        _save_npz(imported_dir(source) / f"{split}.npz", {"x": np.concatenate(xs), "y": y.astype(np.int64)})
        _record(source, folder, {f"{split}.npz": {
            "verification": "decoded pixels and labels match the official batches' array md5s (container re-made)"
            if not unverified else "none: imported unverified at the user's request"}})
        done.append(f"{split}: {sum(len(x) for x in xs)} images from WebP mosaics")
    return done


def import_class_folders(source: Source, path: Path) -> list[str]:
    """Images in one folder per class -> `<split>.npz` per split. Splits: the source's `split_folders` (Daimler's
    sets 1-3 / T1-T2), else `train/` and `test/` folders when both exist, else everything as `all` (suites carve
    their own stratified split)."""
    members = archive_members(path)
    splits = source.options.get("split_folders")
    if not splits and path.is_dir() and (path / "train").is_dir() and (path / "test").is_dir():
        splits = {"train": ["train"], "test": ["test"]}
    groups = {"all": members} if not splits else {  # the split folder is dropped: classes are below it
        split: [(parts[1:], read) for parts, read in members if parts[0] in folders]
        for split, folders in splits.items()}
    done = []
    names = None
    for split, group in groups.items():
        if not group:
            raise DataError(f"{path}: no images for the {split} split (expected folders {splits[split]})")
        arrays = read_class_folders(group, source.options.get("store_size"), source.options.get("square", False))
        if names is not None and list(arrays["class_names"]) != names:
            raise DataError(f"{path}: the splits have different class folders")
        names = list(arrays["class_names"])
        _save_npz(imported_dir(source) / f"{split}.npz", arrays)
        _record(source, path, {f"{split}.npz": {"verification": "none: user-provided images, no official checksum",
                                                "classes": len(names), "images": int(len(arrays["y"]))}})
        done.append(f"{split}: {len(arrays['y'])} images in {len(names)} classes")
    return done


def import_files(source: Source, folder: Path, unverified: bool = False) -> list[str]:
    """Import files with official names; verify by official md5 or by decompressed content md5."""
    done = []
    for spec in source.all_files():
        candidate = folder / spec.name
        if not candidate.exists():
            continue
        actual = md5sum(candidate)
        if actual == spec.md5 or not spec.md5:  # no published md5: cached like a download, used unverified
            atomic_copy(candidate, data_root() / "raw" / source.directory / spec.name)
            done.append(f"{spec.name} (official md5, verified)" if spec.md5 else
                        f"{spec.name} (no published md5; md5 of this copy {actual})")
            continue
        content = None
        if spec.content_md5 and spec.name.endswith(".gz"):
            content = hashlib.md5(gzip.decompress(candidate.read_bytes())).hexdigest()
        if content is not None and content == spec.content_md5:
            verification = "decompressed content md5 matches the official content (container differs)"
        elif unverified:
            verification = "none: imported unverified at the user's request"
        else:
            raise ChecksumError(str(candidate), spec.content_md5 or spec.md5, content or actual)
        atomic_copy(candidate, imported_dir(source) / spec.name)
        _record(source, candidate, {spec.name: {"verification": verification, "md5": actual,
                                                "content_md5": content}})
        done.append(f"{spec.name} ({verification})")
    if not done:
        names = ", ".join(s.name for s in source.all_files())
        raise DataError(f"{folder} holds none of the files of {source.name!r} ({names})")
    return done


def import_arrays(source: Source, npz: Path) -> list[str]:
    """The standard array layout; nothing to verify it against, so it is recorded as unverified."""
    done = []
    for part in ("train", "test"):
        try:
            arrays = parse_npz(npz, part)
        except DataError as err:
            log.info("%s: %s", npz, err)
            continue
        _save_npz(imported_dir(source) / f"{part}.npz", arrays)
        _record(source, npz, {f"{part}.npz": {"verification": "none: standard arrays, no official checksum",
                                              "md5": md5sum(npz)}})
        done.append(f"{part}: {arrays['x'].shape[0]} images")
    if not done:
        raise DataError(f"{npz} has neither x_train/y_train nor x_test/y_test")
    return done


def import_source(name: str, path: str | Path, unverified: bool = False) -> list[str]:
    """Entry point of `sharebench import`; returns a line per imported item."""
    source, path = get_source(name), Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if source.name == "omniglot":
        return import_omniglot(path, unverified)
    if source.name == "cifar10" and path.is_dir() and (path / "data_batch_1.webp").exists():
        return import_cifar10_mosaics(path, unverified)
    official = {f.name for f in source.all_files()}
    if source.parser == "class_folders" and path.name not in official and not (
            path.is_dir() and any((path / name).exists() for name in official)):
        return import_class_folders(source, path)
    if path.suffix == ".npz":
        return import_arrays(source, path)
    if path.is_dir():
        return import_files(source, path, unverified)
    return import_files(source, path.parent, unverified)
