"""Multi-domain suites for Bilen & Vedaldi (universal representations): very different domains at one size.

Every domain is resized to S x S (bilinear, antialiased when shrinking, aspect ratio not kept: the paper's
"resized to 64x64") and, when the suite mixes colour and grey domains, grey images get their channel replicated
(one input shape for one network). Domains whose labels are digits are marked `label_semantics: digits` (full
sharing pairs their classes by identity). Whitening is not stored here: the experiment's input pipeline computes
each domain's channel statistics from its training split (benchmarks/inputs.py).

- `embedded-trio` (quick, Table 2): the embedded suite's plain, inverted and rotated digits (16 px, grey).
- `trio-32` (small, Table 2): CIFAR-10, MNIST and Fashion-MNIST standing in for SVHN (not offline), 32 px RGB.
- `mini-decathlon-32` (small, Tables 3-4): CIFAR-10, MNIST, Fashion-MNIST, Omniglot-100, USPS, KMNIST, 32 px RGB.
- `mini-decathlon` (paper settings on the domains available offline): the same at 64 px, no caps, Omniglot-1623.
- `cifar-mnist-svhn` (paper, Table 2): CIFAR-10, MNIST, SVHN at 64 px.
- `decathlon-10` (paper, Tables 3-4): the paper's ten domains at 64 px. GTSRB, Caltech-256 and the TU Berlin
  sketches download; AwA, Daimler and Plankton cannot (licence, login, withdrawn) and come in by `sharebench
  import`; a missing domain stops the build with one message that names every missing file and its import path.
Domains without an official split (Caltech-256, Sketches, AwA, Plankton) are split 80/20, stratified by class with
a fixed seed (the paper's "80% to 20% ratio"). Caps (`train_cap`, `test_cap`) draw stratified subsets with a
fixed seed. Where a source has no official training split offline (KMNIST's train images, USPS' train file are not
in the mirror), 80 % of its official test split (stratified) trains and the rest tests, and the suite's notes say
so.
"""

from __future__ import annotations

import numpy as np

from sharebench.datasets.errors import MissingDataError
from sharebench.datasets.importer import imported_dir
from sharebench.datasets.load import Provenance, load_split
from sharebench.datasets.sources import get_source
from sharebench.datasets.suites import Suite, Task, build_embedded, resize, stratified_subset

DIGIT_DOMAINS = {"mnist", "usps", "svhn"}
COLOUR_DOMAINS = {"cifar10", "svhn", "gtsrb", "caltech256", "awa", "daimler", "plankton", "sketches"}


def _as_domain(x: np.ndarray, size: int, channels: int) -> np.ndarray:
    x = resize(x, size)
    return np.repeat(x, channels, axis=3) if x.shape[3] == 1 and channels == 3 else x


def _cap(x: np.ndarray, y: np.ndarray, cap: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    chosen, _ = stratified_subset(y, cap, seed)
    return x[chosen], y[chosen]


def _official_or_carved(source: str, offline: bool | None, seed: int, notes: list[str],
                        provenance: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Official train and test; without an official train split offline, 80/20 of the test split (stratified);
    for a source published as one set (`all`), 80/20 of it (stratified)."""
    if "all" in get_source(source).files or (imported_dir(get_source(source)) / "all.npz").exists():
        everything, prov = load_split(source, "all", offline)
        provenance.append(prov.to_dict())
        train, test = stratified_subset(everything["y"], int(0.8 * len(everything["y"])), seed)
        notes.append(f"{source}: no official split; 80 % train / 20 % test, stratified by class (seed {seed})")
        x, y = everything["x"], everything["y"]
        return x[train], y[train], x[test], y[test]
    test, p_test = load_split(source, "test", offline)
    provenance.append(p_test.to_dict())
    try:
        train, p_train = load_split(source, "train", offline)
        provenance.append(p_train.to_dict())
        return train["x"], train["y"], test["x"], test["y"]
    except MissingDataError:
        chosen, rest = stratified_subset(test["y"], int(0.8 * len(test["y"])), seed)
        notes.append(f"{source}: no official training split available; 80 % of the official test split "
                     f"({len(chosen)} images, stratified, seed {seed}) trains and the other {len(rest)} test")
        provenance.append(Provenance(source, "train", "test-split", p_test.checksum_verified,
                                     "drawn from the official test split").to_dict())
        return test["x"][chosen], test["y"][chosen], test["x"][rest], test["y"][rest]


def _omniglot(characters: int | None, seed: int, offline: bool | None,
              provenance: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Omniglot as one task over characters (the paper: all 1,623), 16 train / 4 test drawings per character;
    `characters` draws that many by RandomState(seed) (Omniglot-100 in the small profile)."""
    xs, ys, offset = [], [], 0
    for split in ("background", "evaluation"):
        arrays, prov = load_split("omniglot", split, offline)
        provenance.append(prov.to_dict())
        xs.append(arrays["x"])
        ys.append(arrays["y"] + offset)
        offset += int(arrays["y"].max()) + 1
    x, y = np.concatenate(xs), np.concatenate(ys)
    rng = np.random.RandomState(seed)
    chosen = np.sort(rng.permutation(offset)[:characters]) if characters else np.arange(offset)
    train_idx, test_idx = [], []
    for new_label, c in enumerate(chosen):
        members = np.flatnonzero(y == c)[rng.permutation(np.sum(y == c))]
        train_idx += [(i, new_label) for i in members[:16]]
        test_idx += [(i, new_label) for i in members[16:20]]
    tr, te = np.array(train_idx), np.array(test_idx)
    return x[tr[:, 0]], tr[:, 1].astype(np.int64), x[te[:, 0]], te[:, 1].astype(np.int64), len(chosen)


def build_domains(name: str, domains: list[str], size: int, train_cap: int | None = None,
                  test_cap: int | None = None, omniglot_characters: int | None = None, split_seed: int = 0,
                  offline: bool | None = None) -> Suite:
    notes: list[str] = []
    provenance: list[dict] = []
    channels = 3 if COLOUR_DOMAINS & set(domains) else 1
    tasks, missing = [], []
    for domain in domains:
        try:
            if domain == "omniglot":
                xtr, ytr, xte, yte, k = _omniglot(omniglot_characters, split_seed, offline, provenance)
                if omniglot_characters:
                    notes.append(f"omniglot: {k} of the 1,623 characters (RandomState({split_seed})), 16 train / 4 "
                                 "test drawings each")
            else:
                xtr, ytr, xte, yte = _official_or_carved(domain, offline, split_seed, notes, provenance)
                k = int(max(ytr.max(), yte.max())) + 1
        except MissingDataError as err:  # go on, so that one message names every missing domain
            missing.append(f"- {domain}: {err}")
            continue
        xtr, ytr = _cap(xtr, ytr, train_cap, split_seed)
        xte, yte = _cap(xte, yte, test_cap, split_seed)
        meta = {"source": domain, "label_semantics": "digits" if domain in DIGIT_DOMAINS else ""}
        tasks.append(Task(domain, _as_domain(xtr, size, channels), ytr.astype(np.int64),
                          _as_domain(xte, size, channels), yte.astype(np.int64), k, meta))
    if missing:
        raise MissingDataError(f"suite {name!r} lacks {len(missing)} of its {len(domains)} domains:\n"
                               + "\n".join(missing))
    notes.append(f"every domain resized to {size}x{size} (bilinear)" + (", grey images replicated to RGB"
                                                                        if channels == 3 else ""))
    if train_cap or test_cap:
        notes.append(f"stratified caps (seed {split_seed}): at most {train_cap} training and {test_cap} test images "
                     "per domain")
    return Suite(name, tasks, notes=notes, provenance=provenance)


def build_embedded_trio(size: int = 16, test_fraction: float = 0.4, split_seed: int = 0) -> Suite:
    """Table 2's three 10-class domains in the quick profile: the embedded suite's plain, inverted and rotated
    digits (disjoint shards of scikit-learn's digits)."""
    suite = build_embedded(size, test_fraction, split_seed)
    tasks = [t for t in suite.tasks if t.name in ("plain", "inverted", "rotated")]
    for t in tasks:
        t.meta["label_semantics"] = "digits"
    return Suite("embedded-trio", tasks, notes=[*suite.notes, "the first three domains (10 classes each)"],
                 provenance=suite.provenance)


def build_trio_32(train_cap: int | None = 10000, test_cap: int | None = 500, split_seed: int = 0,
                  offline: bool | None = None) -> Suite:
    suite = build_domains("trio-32", ["cifar10", "mnist", "fashion-mnist"], 32, train_cap, test_cap, None,
                          split_seed, offline)
    suite.notes.insert(0, "stands in for Table 2's CIFAR-10 / MNIST / SVHN: SVHN is not available offline, "
                          "Fashion-MNIST takes its place")
    return suite


def build_mini_decathlon_32(train_cap: int | None = 10000, test_cap: int | None = 500,
                            omniglot_characters: int | None = 100, split_seed: int = 0,
                            offline: bool | None = None) -> Suite:
    suite = build_domains("mini-decathlon-32", MINI_DECATHLON, 32, train_cap, test_cap, omniglot_characters,
                          split_seed, offline)
    suite.notes.insert(0, "the Visual Decathlon domains available offline (CIFAR-10, MNIST, Omniglot) plus "
                          "Fashion-MNIST, USPS and KMNIST, in place of the paper's 10 domains")
    return suite


def build_mini_decathlon(split_seed: int = 0, offline: bool | None = None) -> Suite:
    suite = build_domains("mini-decathlon", MINI_DECATHLON, 64, None, None, None, split_seed, offline)
    suite.notes.insert(0, "the paper's 64 px setting on the domains available offline, in place of its 10 domains")
    return suite


def build_cifar_mnist_svhn(split_seed: int = 0, offline: bool | None = None) -> Suite:
    return build_domains("cifar-mnist-svhn", ["cifar10", "mnist", "svhn"], 64, None, None, None, split_seed, offline)


def build_decathlon_10(split_seed: int = 0, offline: bool | None = None) -> Suite:
    suite = build_domains("decathlon-10", DECATHLON_10, 64, None, None, None, split_seed, offline)
    suite.notes.insert(0, "the paper's ten domains; AwA as imported (the 2009 images are no longer distributed: "
                          "AwA2 is the usual substitute, see the import's provenance)")
    return suite


MINI_DECATHLON = ["cifar10", "mnist", "fashion-mnist", "omniglot", "usps", "kmnist"]
DECATHLON_10 = ["awa", "caltech256", "cifar10", "daimler", "gtsrb", "mnist", "omniglot", "plankton", "sketches",
                "svhn"]

DOMAIN_SUITES = {"embedded-trio": build_embedded_trio, "trio-32": build_trio_32,
                 "mini-decathlon-32": build_mini_decathlon_32, "mini-decathlon": build_mini_decathlon,
                 "cifar-mnist-svhn": build_cifar_mnist_svhn, "decathlon-10": build_decathlon_10}
