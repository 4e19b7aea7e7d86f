"""Getting a source's files onto disk, verified: cache -> imported copy -> mirror -> network.

Layout under the data root (`SHAREBENCH_DATA`, default `./data`):
  raw/<source>/<file>          verified official files (md5 checked)
  imported/<source>/<file>     user-provided copies (see importer.py), with provenance.json
`SHAREBENCH_MIRROR` is a directory (or http(s) URL prefix) laid out `<mirror>/<source>/<file>`.
Set `SHAREBENCH_OFFLINE=1` to never touch the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from sharebench.datasets.atomic import atomic_write
from sharebench.datasets.errors import ChecksumError, MissingDataError, UnsafeArchiveError
from sharebench.datasets.sources import Source, SourceFile

log = logging.getLogger(__name__)


def data_root() -> Path:
    return Path(os.environ.get("SHAREBENCH_DATA", "data"))


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy so that `dst` either does not exist or is complete (never half-written)."""
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


@dataclass
class FetchedFile:
    path: Path
    origin: str  # "cache" | "mirror" | "download" | "imported"
    checksum_verified: bool  # True when the official md5 of this very file was checked
    note: str = ""


def _download(url: str, dst: Path, timeout: float = 30.0) -> None:
    def write(tmp: str) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dst.name, leave=False) as bar:
                while block := resp.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))

    atomic_write(dst, write)


def _verify_into_cache(candidate: Path, spec: SourceFile, cached: Path) -> None:
    actual = md5sum(candidate)
    if spec.md5 and actual != spec.md5:
        raise ChecksumError(str(candidate), spec.md5, actual)
    if candidate.resolve() != cached.resolve():
        atomic_copy(candidate, cached)


def _found(path: Path, origin: str, spec: SourceFile) -> FetchedFile:
    """A file in the cache; without a published md5 it is recorded as unverified, with the md5 it has."""
    if spec.md5:
        return FetchedFile(path, origin, True)
    return FetchedFile(path, origin, False, f"{spec.name}: no published md5 to check (md5 of this copy "
                                            f"{md5sum(path)})")


def fetch_file(source: Source, spec: SourceFile, offline: bool | None = None) -> FetchedFile:
    """Return a verified local copy of one file, or raise a DataError that says what to do."""
    if offline is None:
        offline = os.environ.get("SHAREBENCH_OFFLINE", "") not in ("", "0")
    root = data_root()
    cached = root / "raw" / source.directory / spec.name
    if cached.exists():
        actual = md5sum(cached) if spec.md5 else ""
        if actual == spec.md5:
            return _found(cached, "cache", spec)
        quarantined = cached.with_name(cached.name + ".corrupt")
        os.replace(cached, quarantined)
        raise ChecksumError(str(cached), spec.md5, actual)

    imported = root / "imported" / source.directory / spec.name
    if imported.exists():
        prov = _read_provenance(imported.parent).get(spec.name, {})
        return FetchedFile(imported, "imported", False, prov.get("verification", "imported copy"))

    mismatch: ChecksumError | None = None
    mirror = os.environ.get("SHAREBENCH_MIRROR", "")
    if mirror and not mirror.startswith(("http://", "https://")):
        candidate = Path(mirror) / source.directory / spec.name
        if candidate.exists():
            try:
                _verify_into_cache(candidate, spec, cached)
                log.info("took %s from mirror %s", spec.name, mirror)
                return _found(cached, "mirror", spec)
            except ChecksumError as err:  # never used under its official name; keep looking
                log.warning("%s", err)
                mismatch = err

    urls = [spec.url]
    if mirror.startswith(("http://", "https://")):
        urls.insert(0, f"{mirror.rstrip('/')}/{source.directory}/{spec.name}")
    if not offline:
        for url in urls:
            try:
                _download(url, cached)
            except (urllib.error.URLError, OSError, ValueError) as err:
                log.warning("download of %s failed: %s", url, err)
                continue
            actual = md5sum(cached) if spec.md5 else ""
            if actual != spec.md5:
                os.replace(cached, cached.with_name(cached.name + ".corrupt"))
                raise ChecksumError(url, spec.md5, actual)
            return _found(cached, "download", spec)
    if mismatch is not None:
        raise mismatch
    raise MissingDataError(missing_message(source, [spec], offline))


def missing_message(source: Source, specs: list[SourceFile], offline: bool) -> str:
    root = data_root()
    if source.import_only:
        return (f"missing data for source {source.name!r}: it cannot be downloaded; {source.import_only}. "
                f"Imported copies go to {root / 'imported' / source.directory}/ and are recorded as not "
                "checksum-verified.")
    lines = [f"missing data for source {source.name!r}"
             + (" (offline)" if offline else " (download failed)") + ":"]
    for s in specs:
        lines.append(f"  {s.name}  md5 {s.md5 or '(none published)'}  from {s.url}")
    lines.append(f"Put the official files in {root / 'raw' / source.directory}/ or in "
                 f"$SHAREBENCH_MIRROR/{source.directory}/, or import a copy with "
                 f"`sharebench import {source.name} PATH` (recorded as not checksum-verified).")
    return "\n".join(lines)


def fetch_split(source: Source, split: str, offline: bool | None = None) -> list[FetchedFile]:
    """All files of one split; collects every missing file into a single error message."""
    if source.import_only:
        off = offline if offline is not None else os.environ.get("SHAREBENCH_OFFLINE", "") not in ("", "0")
        raise MissingDataError(missing_message(source, [], off))
    fetched, missing = [], []
    for spec in source.files[split]:
        try:
            fetched.append(fetch_file(source, spec, offline))
        except MissingDataError:
            missing.append(spec)
    if missing:
        off = offline if offline is not None else os.environ.get("SHAREBENCH_OFFLINE", "") not in ("", "0")
        raise MissingDataError(missing_message(source, missing, off))
    return fetched


def _read_provenance(folder: Path) -> dict:
    p = folder / "provenance.json"
    return json.loads(p.read_text())["files"] if p.exists() else {}


def _check_member(dest: Path, name: str) -> Path:
    target = (dest / name).resolve()
    if dest.resolve() not in target.parents and target != dest.resolve():
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {dest}; refusing to extract")
    return target


def safe_extract(archive: Path, dest: Path) -> Path:
    """Extract a zip or tar archive into `dest`, refusing members that escape it or link outside.

    Extraction goes to a temporary sibling folder that is renamed into place when complete, so an
    interrupted extraction never looks finished.
    """
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _check_member(tmp, name)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                for m in tf.getmembers():
                    _check_member(tmp, m.name)
                    if m.issym() or m.islnk():
                        raise UnsafeArchiveError(f"archive member {m.name!r} is a link; refusing to extract")
                    if not (m.isfile() or m.isdir()):
                        raise UnsafeArchiveError(f"archive member {m.name!r} is not a file; refusing")
                tf.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else tf.extractall(tmp)
        else:
            raise UnsafeArchiveError(f"{archive} is neither a zip nor a tar archive")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest
