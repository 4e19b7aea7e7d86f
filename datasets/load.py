"""Load one split of a source as arrays, with a record of where the data came from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from sharebench.datasets.errors import ChecksumError, DataError, MissingDataError
from sharebench.datasets.fetch import fetch_split
from sharebench.datasets.importer import imported_dir
from sharebench.datasets.parsers import PARSERS, Arrays
from sharebench.datasets.sources import get_source


@dataclass
class Provenance:
    source: str
    split: str
    origin: str  # cache | mirror | download | imported
    checksum_verified: bool
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def load_split(name: str, split: str, offline: bool | None = None) -> tuple[Arrays, Provenance]:
    source = get_source(name)
    try:
        files = fetch_split(source, split, offline)
    except (MissingDataError, ChecksumError):  # no verified files: an explicitly imported copy, if there is one
        arrays_path = imported_dir(source) / f"{split}.npz"
        if not arrays_path.exists():
            raise
        with np.load(arrays_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        prov = json.loads((imported_dir(source) / "provenance.json").read_text())["files"][arrays_path.name]
        return arrays, Provenance(name, split, "imported", False, prov.get("verification", ""))
    options = {**source.options, "part": split}
    arrays = PARSERS[source.parser]([f.path for f in files], options)
    verified = all(f.checksum_verified for f in files)
    origin = ",".join(sorted({f.origin for f in files}))
    note = "; ".join(sorted({f.note for f in files if f.note}))
    return arrays, Provenance(name, split, origin, verified, note)


def missing_data(name: str, splits: tuple[str, ...] = ("train", "test"), offline: bool | None = None) -> str | None:
    """Why `load_split` would fail for a split of this source (the files are fetched where they can be, nothing is
    parsed), or None: lets a suite of many sources name every missing one before it decodes any."""
    source = get_source(name)
    for split in splits:
        if (imported_dir(source) / f"{split}.npz").exists():
            continue
        try:
            fetch_split(source, split, offline)
        except DataError as err:
            return str(err)
    return None
