"""CETL's offline transfer suites (Chen et al., specs/cetl.md 3.3 and 4.2): Tables 2-4 on the mirror's data.

The paper transfers from ImageNet-pretrained networks to CIFAR-10-s (20% of CIFAR-10's training set) and distils a
ResNet-26 into its CI-CNN; neither fits two CPU cores. These suites keep the structure at 28 px gray:

- `fashion-transfer` (Tables 2 and 3): the target `fashion-s` is Fashion-MNIST with 1,000 labelled training images
  (stratified, like CIFAR-10-s' small labelled set) and its full 10,000 test images; two source tasks to train S on:
  `mnist` (another domain with labels, the "ImageNet" of this analogue: 10,000 stratified MNIST training images and
  MNIST's test set) and `fashion-rot` (rotation prediction, 0 / 90 / 180 / 270 degrees, on 10,000 Fashion-MNIST
  training images disjoint from the target's: same domain, no label information, the spec's `cicnn-rest-rot`).
- `cifar10-s` (Tables 2 and 3, paper profile): the paper's target, 1,000 stratified images per class of CIFAR-10's
  training set (seed 666; "we randomly select only 20% of the original training data"), the full test set; beside it,
  for the offline stand-in sources, `cifar10-rest` (the other 40,000 training images with their labels) and
  `cifar10-rot` (rotation prediction on 10,000 of them).
- `drcn-mnist-usps`, `drcn-svhn-mnist` (Table 5, paper profile): DRCN's protocol, which the paper follows ("the
  same settings used in [10]"): complete training sets (MNIST 60,000, USPS 7,291 from the official LIBSVM files,
  SVHN 73,257 without `extra`), full test sets, everything gray and resized (bilinear) to 32 x 32.
- `stl10` (Table 3's second column, paper profile): `cifar100` (CIFAR-100's 50,000 training images, the source
  the paper's CI-CNN row was trained on) and `stl10` (STL-10's 5,000 labelled training and 8,000 test images, the
  target), STL-10 resized (bilinear) from 96 to 32 px for the CI-CNN (specs/cetl.md A16).
- `cifar-stl-9` (Table 5's ST-CI / CI-ST, paper profile): DRCN's protocol, the 9 classes the two share (CIFAR's
  frog and STL's monkey removed) in one label order, STL-10 at 32 px, colour; complete splits.
- `cifar10-full`, `cifar100-full` (Table 4, paper profile): one task each, the complete training and test sets.
- `fashion-kd` (Table 4): one task, Fashion-MNIST with 10,000 stratified training images and its test set; teacher
  and student learn the same task, as in the paper's CIFAR-10 / CIFAR-100 distillation.
"""

from __future__ import annotations

import functools

import numpy as np

from sharebench.datasets.load import load_split
from sharebench.datasets.suites import Suite, Task, stratified_subset


def rotations(x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image turned by k x 90 degrees, k drawn uniformly (RandomState(seed)); k is the label."""
    k = np.random.RandomState(seed).randint(0, 4, len(x))
    out = np.stack([np.rot90(img, int(r), axes=(0, 1)) for img, r in zip(x, k)]) if len(x) else x
    return np.ascontiguousarray(out), k.astype(np.int64)


def build_fashion_transfer(target_train: int = 1000, mnist_train: int | None = 10000, rotation_train: int = 10000,
                           split_seed: int = 666, offline: bool | None = None) -> Suite:
    provenance: list[dict] = []
    arrays = {}
    for source in ("mnist", "fashion-mnist"):
        for split in ("train", "test"):
            arrays[source, split], prov = load_split(source, split, offline)
            provenance.append(prov.to_dict())
    f_train, f_test = arrays["fashion-mnist", "train"], arrays["fashion-mnist", "test"]
    chosen, rest = stratified_subset(f_train["y"], target_train, split_seed)
    rot_idx = np.random.RandomState(split_seed).permutation(rest)[:rotation_train]
    x_rot, y_rot = rotations(f_train["x"][np.sort(rot_idx)], split_seed)
    x_rot_test, y_rot_test = rotations(f_test["x"][:2000], split_seed + 1)
    m_train, m_test = arrays["mnist", "train"], arrays["mnist", "test"]
    m_chosen, _ = stratified_subset(m_train["y"], mnist_train, split_seed)
    tasks = [
        Task("mnist", m_train["x"][m_chosen], m_train["y"][m_chosen].astype(np.int64), m_test["x"],
             m_test["y"].astype(np.int64), 10, {"source": "mnist", "label_semantics": "digits"}),
        Task("fashion-rot", x_rot, y_rot, x_rot_test, y_rot_test, 4,
             {"source": "fashion-mnist", "label_semantics": "rotation k x 90 degrees"}),
        Task("fashion-s", f_train["x"][chosen], f_train["y"][chosen].astype(np.int64), f_test["x"],
             f_test["y"].astype(np.int64), 10, {"source": "fashion-mnist", "label_semantics": "fashion"}),
    ]
    notes = [f"fashion-s: {len(chosen)} stratified Fashion-MNIST training images (seed {split_seed}), the full test "
             "set (CIFAR-10-s' role)",
             f"fashion-rot: rotation prediction on {len(x_rot)} Fashion-MNIST training images outside fashion-s, "
             "tested on the first 2,000 test images rotated (a self-supervised source)",
             f"mnist: {len(m_chosen)} stratified MNIST training images, the full test set (a labelled source from "
             "another domain)"]
    return Suite("fashion-transfer", tasks, notes=notes, provenance=provenance)


def build_fashion_kd(train: int = 10000, split_seed: int = 666, offline: bool | None = None) -> Suite:
    f_train, p_train = load_split("fashion-mnist", "train", offline)
    f_test, p_test = load_split("fashion-mnist", "test", offline)
    chosen, _ = stratified_subset(f_train["y"], train, split_seed)
    task = Task("fashion", f_train["x"][chosen], f_train["y"][chosen].astype(np.int64), f_test["x"],
                f_test["y"].astype(np.int64), 10, {"source": "fashion-mnist", "label_semantics": "fashion"})
    return Suite("fashion-kd", [task], provenance=[p_train.to_dict(), p_test.to_dict()],
                 notes=[f"{len(chosen)} stratified Fashion-MNIST training images (seed {split_seed}), the full test "
                        "set; teacher and student learn the same task"])


def build_cifar10_s(per_class: int = 1000, rotation_train: int = 10000, split_seed: int = 666,
                    offline: bool | None = None) -> Suite:
    train, p_train = load_split("cifar10", "train", offline)
    test, p_test = load_split("cifar10", "test", offline)
    chosen, rest = stratified_subset(train["y"], 10 * per_class, split_seed)
    rot_idx = np.sort(np.random.RandomState(split_seed).permutation(rest)[:rotation_train])
    x_rot, y_rot = rotations(train["x"][rot_idx], split_seed)
    x_rot_test, y_rot_test = rotations(test["x"][:2000], split_seed + 1)
    y = train["y"].astype(np.int64)
    tasks = [
        Task("cifar10-rest", train["x"][rest], y[rest], test["x"], test["y"].astype(np.int64), 10,
             {"source": "cifar10", "label_semantics": "cifar10"}),
        Task("cifar10-rot", x_rot, y_rot, x_rot_test, y_rot_test, 4,
             {"source": "cifar10", "label_semantics": "rotation k x 90 degrees"}),
        Task("cifar10-s", train["x"][chosen], y[chosen], test["x"], test["y"].astype(np.int64), 10,
             {"source": "cifar10", "label_semantics": "cifar10"}),
    ]
    notes = [f"cifar10-s: {len(chosen)} training images ({per_class} per class, stratified, seed {split_seed}), the "
             "full test set (the paper: a random 20%)",
             f"cifar10-rest: the other {len(rest)} training images (offline stand-in sources only); cifar10-rot: "
             f"rotation prediction on {len(rot_idx)} of them"]
    return Suite("cifar10-s", tasks, notes=notes, provenance=[p_train.to_dict(), p_test.to_dict()])


def _resize(x: np.ndarray, size: int, gray: bool = False) -> np.ndarray:
    """uint8 [N, H, W, C] -> bilinear (PIL) to size x size: colour kept, or PIL "L" gray [N, size, size, 1]."""
    from PIL import Image

    mode = "RGB" if x.shape[3] == 3 else "L"
    out = []
    for img in x:
        im = Image.fromarray(img if mode == "RGB" else img[..., 0], mode)
        out.append(np.asarray((im.convert("L") if gray else im).resize((size, size), Image.BILINEAR)))
    out = np.stack(out)
    return out[..., None] if out.ndim == 3 else out


def _gray32(x: np.ndarray) -> np.ndarray:
    """DRCN's digits: gray, bilinear to 32 x 32, [N, 32, 32, 1]."""
    return _resize(x, 32, gray=True)


def build_drcn_digits(sources: tuple[str, str], offline: bool | None = None) -> Suite:
    """Two digit domains in DRCN's protocol (complete official splits, gray, 32 px), in the given order."""
    provenance: list[dict] = []
    tasks = []
    for name in sources:
        train, p_train = load_split(name, "train", offline)
        test, p_test = load_split(name, "test", offline)
        provenance += [p_train.to_dict(), p_test.to_dict()]
        tasks.append(Task(name, _gray32(train["x"]), train["y"].astype(np.int64), _gray32(test["x"]),
                          test["y"].astype(np.int64), 10, {"source": name, "label_semantics": "digits"}))
    return Suite("drcn-" + "-".join(sources), tasks, provenance=provenance,
                 notes=["DRCN's protocol: complete official training and test sets, gray, bilinear to 32 x 32"])


def _stl10_at_32(split: str, offline: bool | None) -> tuple[dict, dict]:
    arrays, prov = load_split("stl10", split, offline)
    return {**arrays, "x": _resize(arrays["x"], 32)}, prov.to_dict()


def build_stl10(offline: bool | None = None) -> Suite:
    provenance: list[dict] = []
    tasks = []
    for name in ("cifar100", "stl10"):
        train, p_train = _stl10_at_32("train", offline) if name == "stl10" else _loaded(name, "train", offline)
        test, p_test = _stl10_at_32("test", offline) if name == "stl10" else _loaded(name, "test", offline)
        provenance += [p_train, p_test]
        tasks.append(Task(name, train["x"], train["y"].astype(np.int64), test["x"], test["y"].astype(np.int64),
                          100 if name == "cifar100" else 10, {"source": name, "label_semantics": name}))
    return Suite("stl10", tasks, provenance=provenance,
                 notes=["cifar100: CIFAR-100's complete training set (the source of the paper's CI-CNN row); stl10: "
                        "STL-10's 5,000 labelled training and 8,000 test images, bilinear 96 -> 32 px"])


# DRCN's 9 shared classes in one order: airplane, automobile / car, bird, cat, deer, dog, horse, ship, truck
CIFAR_TO_SHARED = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 7: 6, 8: 7, 9: 8}  # CIFAR-10's frog (6) dropped
STL_TO_SHARED = {0: 0, 2: 1, 1: 2, 3: 3, 4: 4, 5: 5, 6: 6, 8: 7, 9: 8}  # STL-10's monkey (7) dropped
SHARED_CLASSES = ("airplane", "car", "bird", "cat", "deer", "dog", "horse", "ship", "truck")


def _shared_classes(arrays: dict, mapping: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    y = arrays["y"].astype(np.int64)
    keep = np.isin(y, list(mapping))
    return arrays["x"][keep], np.vectorize(mapping.get, otypes=[np.int64])(y[keep])


def build_cifar_stl_9(offline: bool | None = None) -> Suite:
    """STL-10 and CIFAR-10 on their 9 shared classes (tasks `stl9`, `cifar9`; the DA roles say which is the source)."""
    provenance: list[dict] = []
    tasks = []
    for name in ("stl10", "cifar10"):
        split = {}
        for part in ("train", "test"):
            arrays, prov = _stl10_at_32(part, offline) if name == "stl10" else _loaded(name, part, offline)
            split[part] = _shared_classes(arrays, STL_TO_SHARED if name == "stl10" else CIFAR_TO_SHARED)
            provenance.append(prov)
        tasks.append(Task(name.replace("10", "9"), *split["train"], *split["test"], 9,
                          {"source": name, "label_semantics": "cifar-stl shared: " + ", ".join(SHARED_CLASSES)}))
    return Suite("cifar-stl-9", tasks, provenance=provenance,
                 notes=["DRCN's protocol: the 9 classes CIFAR-10 and STL-10 share (CIFAR's frog and STL's monkey "
                        "removed), complete splits, STL-10 bilinear 96 -> 32 px, colour"])


def build_full(source: str, offline: bool | None = None) -> Suite:
    """One dataset's complete training and test sets as one task (teacher and student learn the same data)."""
    train, p_train = _loaded(source, "train", offline)
    test, p_test = _loaded(source, "test", offline)
    classes = int(max(train["y"].max(), test["y"].max())) + 1
    task = Task(source, train["x"], train["y"].astype(np.int64), test["x"], test["y"].astype(np.int64), classes,
                {"source": source, "label_semantics": source})
    return Suite(f"{source}-full", [task], provenance=[p_train, p_test],
                 notes=[f"{source}: the complete official training and test sets"])


def _loaded(name: str, split: str, offline: bool | None) -> tuple[dict, dict]:
    arrays, prov = load_split(name, split, offline)
    return arrays, prov.to_dict()


CETL_SUITES = {"fashion-transfer": build_fashion_transfer, "fashion-kd": build_fashion_kd, "cifar10-s": build_cifar10_s,
               "drcn-mnist-usps": functools.partial(build_drcn_digits, ("mnist", "usps")),
               "drcn-svhn-mnist": functools.partial(build_drcn_digits, ("svhn", "mnist")),
               "stl10": build_stl10, "cifar-stl-9": build_cifar_stl_9,
               "cifar10-full": functools.partial(build_full, "cifar10"),
               "cifar100-full": functools.partial(build_full, "cifar100")}
