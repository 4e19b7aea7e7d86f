"""Offline stand-ins for Zhang et al.'s joint-learning experiments (specs/zhang.md 3.2 item 8).

- `five-domains` (classification, Figure 4): MNIST, KMNIST, Fashion-MNIST, USPS (16 -> 28 px) and CIFAR-10 in grey
  (Y = 0.299 R + 0.587 G + 0.114 B, rounded; 32 -> 28 px bilinear) stand in for the paper's five fine-grained
  datasets: five visually dissimilar domains of 10 classes, 500 stratified training images each (seed 666), one hard
  natural-image domain. `test_per_task` caps each test set (a stratified subset, seed 666).
- `embedded-completion` (quick, Figure 5): the embedded suite's five domains at 16 px with one fixed 6 px hole
  per image (datasets/holes.py); the digit labels are replaced by the holes.
- `gan-digits` (small, Figure 6's first group): USPS' 2,007 test digits (a small set) with 10,000 MNIST digits.
- `fine-grained-5` (paper profile, Figure 4): the paper's datasets with their official splits, 320 px squares
  (datasets/fine_grained.py); every missing one is named at once, with where to get it.
- `imagenet8-completion` (paper profile, Figures 5 and 2): the paper's eight classes imported as class folders,
  64 px, 500 / 100 per class, 22 px holes.
- `gan-walking`, `gan-dress-faces`, `gan-flowers-birds-faces` (paper profile, Figure 6's groups G1, G2, G3): the
  paper's walking people and dresses user-imported (not published), Flowers-102, CUB-200-2011 and CelebA, 64 px.
- `cifar10-completion` (small, Figures 5 and 2): eight CIFAR-10 classes in the paper's node order, standing in for its
  ImageNet classes: 1 bird, 2 dog, 3 cat (wolf), 4 frog (flower), 5 automobile (car), 6 truck, 7 airplane (fighter
  aircraft), 8 ship (plane); the analogue pairs (2, 3), (5, 6), (7, 8). 500 training and 100 test images per class
  (the first of RandomState(666).permutation of the class's official indices), 32 x 32 RGB, 11 px holes.
"""

from __future__ import annotations

import numpy as np

from sharebench.datasets.errors import MissingDataError
from sharebench.datasets.holes import draw_corners, hole_side, positions
from sharebench.datasets.load import load_split, missing_data
from sharebench.datasets.sources import get_source
from sharebench.datasets.suites import Suite, Task, build_embedded, build_mnist_family, resize, stratified_subset

COMPLETION_CLASSES = [("bird", 2), ("dog", 5), ("cat", 3), ("frog", 6), ("automobile", 1), ("truck", 9),
                      ("airplane", 0), ("ship", 8)]
PAPER_NODES = ["Bird", "Dog", "Wolf", "Flower", "Car", "Truck", "Fighter Aircraft", "Plane"]


def grey(x: np.ndarray) -> np.ndarray:
    """uint8 RGB [N, H, W, 3] -> luma [N, H, W, 1] (ITU-R 601 weights, rounded)."""
    y = x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.round(y), 0, 255).astype(np.uint8)[..., None]


def build_five_domains(train_per_task: int = 500, test_per_task: int | None = 1000, split_seed: int = 666,
                       offline: bool | None = None) -> Suite:
    suite = build_mnist_family(train_per_task, split_seed, 28, ("mnist", "kmnist", "fashion-mnist", "usps"), True,
                               offline, name="five-domains")
    train, p_train = load_split("cifar10", "train", offline)
    test, p_test = load_split("cifar10", "test", offline)
    suite.provenance += [p_train.to_dict(), p_test.to_dict()]
    chosen, _ = stratified_subset(train["y"], train_per_task, split_seed)
    suite.tasks.append(Task("cifar10-grey", resize(grey(train["x"][chosen]), 28), train["y"][chosen],
                            resize(grey(test["x"]), 28), test["y"], 10, {"source": "cifar10"}))
    suite.notes.insert(0, "stands in for Zhang et al.'s five fine-grained datasets (birds, dogs, flowers, cars, "
                          "aircraft): five dissimilar 10-class domains at 28 px, CIFAR-10 in grey as the hard one")
    if test_per_task is not None:
        for t in suite.tasks:
            keep, _ = stratified_subset(t.y_test, test_per_task, split_seed)
            t.x_test, t.y_test = t.x_test[keep], t.y_test[keep]
        suite.notes.append(f"test sets capped at {test_per_task} images per domain (stratified, seed {split_seed})")
    return suite


FINE_GRAINED = [("birds", "cub"), ("dogs", "stanford-dogs"), ("flowers", "flowers102"), ("cars", "stanford-cars"),
                ("aircraft", "fgvc-aircraft")]  # Figure 4's column order


def build_fine_grained_5(offline: bool | None = None) -> Suite:
    """CUB-200-2011 (200 classes, 5,994 / 5,794), Stanford Dogs (120, 12,000 / 8,580), Flowers-102 (102, 2,040 /
    6,149), Stanford Cars (196, 8,144 / 8,041, imported), FGVC-Aircraft variants (100, 6,667 / 3,333)."""
    missing = [m for m in (missing_data(source, offline=offline) for _, source in FINE_GRAINED) if m]
    if missing:
        raise MissingDataError("suite 'fine-grained-5' (Zhang et al.'s Figure 4) needs all five datasets:\n"
                               + "\n".join(missing))
    tasks, provenance = [], []
    for name, source in FINE_GRAINED:
        train, p_train = load_split(source, "train", offline)
        test, p_test = load_split(source, "test", offline)
        provenance += [p_train.to_dict(), p_test.to_dict()]
        classes = int(max(train["y"].max(), test["y"].max())) + 1
        tasks.append(Task(name, train["x"], train["y"], test["x"], test["y"], classes, {"source": source}))
    return Suite("fine-grained-5", tasks, provenance=provenance,
                 notes=["the paper's five fine-grained datasets, official splits, stored as 320 px squares (short side "
                        "resized, centre kept: the sides of wide images are lost, a departure from cropping the "
                        "whole image)", "FGVC-Aircraft at the variant level, its 20 px copyright banner removed"])


def add_holes(suite: Suite, hole: int, hole_seed: int) -> Suite:
    """The suite as image completion tasks: each image's label becomes its fixed hole (datasets/holes.py)."""
    for t, task in enumerate(suite.tasks):
        h, w = task.x_train.shape[1:3]
        task.y_train = draw_corners(len(task.x_train), h, w, hole, hole_seed + 1000 * t)
        task.y_test = draw_corners(len(task.x_test), h, w, hole, hole_seed + 1000 * t + 1)
        task.num_classes = positions(h, w, hole)
        task.meta = {**task.meta, "hole": hole, "label_semantics": ""}
    suite.notes.append(f"image completion: one fixed {hole} x {hole} hole per image (RandomState(hole seed "
                       f"{hole_seed} + 1000 x task + split)), zeroed in the input; the labels are the holes")
    return suite


def build_embedded_completion(size: int = 16, test_fraction: float = 0.4, split_seed: int = 0, hole: int = 0,
                              hole_seed: int = 0) -> Suite:
    suite = build_embedded(size, test_fraction, split_seed)
    suite.name = "embedded-completion"
    return add_holes(suite, hole or hole_side(size), hole_seed)


def build_cifar10_completion(train_per_class: int = 500, test_per_class: int = 100, split_seed: int = 666,
                             hole: int = 0, hole_seed: int = 0, offline: bool | None = None) -> Suite:
    train, p_train = load_split("cifar10", "train", offline)
    test, p_test = load_split("cifar10", "test", offline)
    tasks = []
    for name, label in COMPLETION_CLASSES:
        picks = []
        for split, n in ((train, train_per_class), (test, test_per_class)):
            idx = np.flatnonzero(split["y"] == label)
            picks.append(split["x"][idx[np.random.RandomState(split_seed).permutation(len(idx))[:n]]])
        zeros = [np.zeros(len(p), np.int64) for p in picks]
        tasks.append(Task(name, picks[0], zeros[0], picks[1], zeros[1], 1, {"source": "cifar10",
                                                                            "cifar10_class": label}))
    suite = Suite("cifar10-completion", tasks, provenance=[p_train.to_dict(), p_test.to_dict()],
                  notes=["stands in for Zhang et al.'s eight ImageNet classes (bird, dog, wolf, flower, car, truck, "
                         "fighter aircraft, plane) with CIFAR-10's bird, dog, cat, frog, automobile, truck, airplane, "
                         f"ship; {train_per_class} / {test_per_class} images per class (RandomState({split_seed}))"])
    return add_holes(suite, hole or hole_side(tasks[0].x_train.shape[1]), hole_seed)


def folder_key(name: str) -> str:
    """"Fighter Aircraft", "fighter_aircraft" -> "fighter-aircraft"."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def build_imagenet8_completion(train_per_class: int = 500, test_per_class: int = 100, split_seed: int = 666,
                               hole: int = 22, hole_seed: int = 0, offline: bool | None = None) -> Suite:
    """The paper's eight completion datasets (paper profile; imported class folders, 64 px): per class, the first
    `train_per_class` + `test_per_class` of RandomState(split_seed).permutation of its images, in Figure 2's node
    order, one fixed 22 x 22 hole per image (the paper's)."""
    data, prov = load_split("zhang-imagenet-8", "all", offline)
    folders = {folder_key(str(n)): i for i, n in enumerate(data["class_names"])}
    wanted = [folder_key(node) for node in PAPER_NODES]
    tasks = []
    for key in wanted:
        if key not in folders:
            raise MissingDataError(f"suite 'imagenet8-completion': no class folder {key!r} among the imported "
                                   f"{sorted(folders)}; the eight are {wanted}")
        idx = np.flatnonzero(data["y"] == folders[key])
        if len(idx) < train_per_class + test_per_class:
            raise MissingDataError(f"suite 'imagenet8-completion': class {key!r} has {len(idx)} images, needs "
                                   f"{train_per_class + test_per_class}")
        idx = idx[np.random.RandomState(split_seed).permutation(len(idx))]
        train, test = idx[:train_per_class], idx[train_per_class:train_per_class + test_per_class]
        tasks.append(Task(key, data["x"][train], np.zeros(len(train), np.int64), data["x"][test],
                          np.zeros(len(test), np.int64), 1, {"source": "zhang-imagenet-8"}))
    suite = Suite("imagenet8-completion", tasks, provenance=[prov.to_dict()],
                  notes=[f"the paper's eight completion classes from user-imported images (64 px squares), "
                         f"{train_per_class} / {test_per_class} per class (RandomState({split_seed}))"])
    return add_holes(suite, hole, hole_seed)


def build_gan_digits(mnist_train: int = 10000, mnist_test: int = 1000, usps_test: int = 200, size: int = 32,
                     split_seed: int = 666, offline: bool | None = None) -> Suite:
    """Figure 6's first group in miniature: a small set (USPS' 2,007 official test digits) trained jointly with a
    larger set of the same kind of image (10,000 MNIST training digits); 32 px grey. The paper's G1 pairs 3K real
    walking people with 10K synthetic ones. Labels are kept but unused; the test images (200 USPS, 1,000 MNIST
    test digits) serve the coverage diagnostic only."""
    provenance: list[dict] = []
    usps, p_usps = load_split("usps", "test", offline)
    mnist_tr, p_tr = load_split("mnist", "train", offline)
    mnist_te, p_te = load_split("mnist", "test", offline)
    provenance += [p_usps.to_dict(), p_tr.to_dict(), p_te.to_dict()]
    u_test, u_train = stratified_subset(usps["y"], usps_test, split_seed)
    m_train, _ = stratified_subset(mnist_tr["y"], mnist_train, split_seed)
    m_test, _ = stratified_subset(mnist_te["y"], mnist_test, split_seed)
    tasks = [Task("usps", resize(usps["x"][u_train], size), usps["y"][u_train], resize(usps["x"][u_test], size),
                  usps["y"][u_test], 10, {"source": "usps"}),
             Task("mnist", resize(mnist_tr["x"][m_train], size), mnist_tr["y"][m_train],
                  resize(mnist_te["x"][m_test], size), mnist_te["y"][m_test], 10, {"source": "mnist"})]
    return Suite("gan-digits", tasks, provenance=provenance,
                 notes=[f"stands in for Zhang et al.'s G1 (3K real + 10K synthetic walking people): USPS' official "
                        f"test digits ({len(u_train)} train, {len(u_test)} held out) and {mnist_train:,} MNIST "
                        f"training digits, {size} px (stratified draws, seed {split_seed})"])


def _gan_task(name: str, x: np.ndarray, test: int, split_seed: int, source: str,
              x_test: np.ndarray | None = None) -> Task:
    """One GAN domain: every image trains (y = 0, one class); the coverage diagnostic's test images are `test` held
    out of x (RandomState(split_seed)), or the first `test` of a permutation of the official `x_test`."""
    rng = np.random.RandomState(split_seed)
    if x_test is None:
        order = rng.permutation(len(x))
        x, x_test = x[np.sort(order[test:])], x[np.sort(order[:test])]
    else:
        x_test = x_test[np.sort(rng.permutation(len(x_test))[:test])]
    return Task(name, x, np.zeros(len(x), np.int64), x_test, np.zeros(len(x_test), np.int64), 1, {"source": source})


def _gan_missing(suite: str, group: str, sources: list[str], offline: bool | None) -> None:
    missing = [m for m in (missing_data(s, tuple(get_source(s).files) or ("all",), offline) for s in sources) if m]
    if missing:
        raise MissingDataError(f"suite {suite!r} (Zhang et al.'s Figure 6, {group}) needs every one of its "
                               f"datasets:\n" + "\n".join(missing))


def _faces(count: int | None, size: int, offline: bool | None) -> tuple[np.ndarray, dict]:
    faces, prov = load_split("celeba-faces", "all", offline)
    x = faces["x"][:count] if count else faces["x"]
    return resize(x, size), prov.to_dict()


def build_gan_walking(test_per_domain: int = 200, size: int = 64, split_seed: int = 666,
                      offline: bool | None = None) -> Suite:
    """G1 (paper profile): the paper's real (3K) and synthetic (10K) walking people, user-imported as the class folders
    real/ and synthetic/, 64 px; DCGAN in the paper."""
    _gan_missing("gan-walking", "G1", ["zhang-walking"], offline)
    data, prov = load_split("zhang-walking", "all", offline)
    names = [str(n) for n in data["class_names"]]
    if sorted(names) != ["real", "synthetic"]:
        raise MissingDataError(f"suite 'gan-walking' needs the class folders real/ and synthetic/, found {names}")
    tasks = [_gan_task(n, resize(data["x"][data["y"] == names.index(n)], size), test_per_domain, split_seed,
                       "zhang-walking") for n in ("real", "synthetic")]
    return Suite("gan-walking", tasks, provenance=[prov.to_dict()],
                 notes=[f"Zhang et al.'s G1 from user-imported images, {size} px, {test_per_domain} per domain held "
                        f"out for the coverage diagnostic"])


def build_gan_dress_faces(faces: int | None = None, test_per_domain: int = 200, size: int = 64, split_seed: int = 666,
                          offline: bool | None = None) -> Suite:
    """G2 (paper profile) and Figure 1: the paper's 20K crawled black dresses (user-imported, one class folder) with
    CelebA's aligned faces (~200K; `faces` caps them), 64 px; BEGAN in the paper."""
    _gan_missing("gan-dress-faces", "G2", ["zhang-dresses", "celeba-faces"], offline)
    dresses, p_dress = load_split("zhang-dresses", "all", offline)
    x_faces, p_faces = _faces(faces, size, offline)
    tasks = [_gan_task("dress", resize(dresses["x"], size), test_per_domain, split_seed, "zhang-dresses"),
             _gan_task("faces", x_faces, test_per_domain, split_seed, "celeba-faces")]
    return Suite("gan-dress-faces", tasks, provenance=[p_dress.to_dict(), p_faces],
                 notes=[f"Zhang et al.'s G2: user-imported dresses with CelebA faces (centre 108 px, resized), {size} "
                        f"px, {test_per_domain} per domain held out for the coverage diagnostic"])


def build_gan_flowers_birds_faces(faces: int | None = None, test_per_domain: int = 200, size: int = 64,
                                  split_seed: int = 666, offline: bool | None = None) -> Suite:
    """G3 (paper profile): Oxford Flowers-102 train + val (2,040, the paper's "2K"), CUB-200-2011 train (5,994, its
    "6K") and CelebA (~200K), 64 px; BEGAN in the paper. Test images: the official test splits (flowers, birds) and
    faces held out."""
    _gan_missing("gan-flowers-birds-faces", "G3", ["flowers102", "cub", "celeba-faces"], offline)
    tasks, provenance = [], []
    for name, source in (("flowers", "flowers102"), ("birds", "cub")):
        train, p_train = load_split(source, "train", offline)
        test, p_test = load_split(source, "test", offline)
        provenance += [p_train.to_dict(), p_test.to_dict()]
        tasks.append(_gan_task(name, resize(train["x"], size), test_per_domain, split_seed, source,
                               resize(test["x"], size)))
    x_faces, p_faces = _faces(faces, size, offline)
    tasks.append(_gan_task("faces", x_faces, test_per_domain, split_seed, "celeba-faces"))
    return Suite("gan-flowers-birds-faces", tasks, provenance=provenance + [p_faces],
                 notes=[f"Zhang et al.'s G3: Flowers-102 train+val, CUB-200-2011 train (320 px squares resized to "
                        f"{size}), CelebA faces; {test_per_domain} test images per domain for the coverage "
                        f"diagnostic"])


ZHANG_SUITES = {"five-domains": build_five_domains, "fine-grained-5": build_fine_grained_5,
                "embedded-completion": build_embedded_completion,
                "cifar10-completion": build_cifar10_completion,
                "imagenet8-completion": build_imagenet8_completion, "gan-digits": build_gan_digits,
                "gan-walking": build_gan_walking, "gan-dress-faces": build_gan_dress_faces,
                "gan-flowers-birds-faces": build_gan_flowers_birds_faces}
