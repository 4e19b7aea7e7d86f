"""The JAE paper's digit transfer suites (Sec. 4.2, Fig. 3, Table 2), on the ADDA protocol it follows.

`digits-mu`: MNIST and USPS as two 10-class tasks. "Following [ADDA] ... we use 2000 samples for MNIST and 1800
samples from USPS": the first 2,000 of a fixed permutation of MNIST's training set and the first 1,800 of one of
USPS' (RandomState(666) each, not stratified, as ADDA's `mnist2000` / `usps1800`), the full test sets (10,000 and
2,007). USPS is the ESL version ADDA reads (source `usps-esl`, never the LIBSVM file), kept at its native 16 x 16
("when the input dimensions differ, early sharing is impossible"): stored on the 28 x 28 canvas with its native
shape recorded (`usps_size: 28` resizes it instead, ADDA's own LeNet setting).

`svhn-mnist`, `svhn-usps`, `svhn-mnist-usps` (paper profile: SVHN is not offline): Fig. 3(c) and the three-way
transfer, on the complete training sets ("For SVHN->MNIST ... the complete training sets"): SVHN's 73,257 / 26,032
(no `extra`) in grayscale (PIL "L") resized bilinearly from 32 to 28 px (ADDA's LeNet setting, which gives the
paper's 3M-parameter model), MNIST's 60,000 / 10,000, USPS' (ESL) 7,291 / 2,007 at 16 x 16 on the canvas.
"""

from __future__ import annotations

import functools

import numpy as np

from sharebench.datasets.load import load_split
from sharebench.datasets.suites import Suite, Task, on_canvas, resize

CANVAS = (28, 28, 1)


def _first_of_permutation(arrays: dict[str, np.ndarray], n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.RandomState(seed).permutation(len(arrays["y"]))[:n]
    return arrays["x"][order], arrays["y"][order]


def _usps_task(x_train: np.ndarray, y_train: np.ndarray, test: dict[str, np.ndarray], usps_size: int) -> Task:
    meta: dict = {"source": "usps-esl", "label_semantics": "digits"}
    if usps_size == 16:
        meta["native_shape"] = list(x_train.shape[1:])
        x_train, x_test = on_canvas(x_train, CANVAS), on_canvas(test["x"], CANVAS)
    elif usps_size == 28:
        x_train, x_test = resize(x_train, 28), resize(test["x"], 28)
    else:
        raise ValueError(f"usps_size must be 16 (native, on a canvas) or 28 (resized), got {usps_size!r}")
    return Task("usps", x_train, y_train.astype(np.int64), x_test, test["y"].astype(np.int64), 10, meta)


def build_digits_mu(mnist_train: int | None = 2000, usps_train: int | None = 1800, split_seed: int = 666,
                    usps_size: int = 16, offline: bool | None = None) -> Suite:
    provenance = []
    loaded = {}
    for source in ("mnist", "usps-esl"):
        train, p_train = load_split(source, "train", offline)
        test, p_test = load_split(source, "test", offline)
        provenance += [p_train.to_dict(), p_test.to_dict()]
        loaded[source] = (train, test)
    (m_train, m_test), (u_train, u_test) = loaded["mnist"], loaded["usps-esl"]
    x, y = _first_of_permutation(m_train, mnist_train, split_seed)
    mnist = Task("mnist", x, y.astype(np.int64), m_test["x"], m_test["y"].astype(np.int64), 10,
                 {"source": "mnist", "label_semantics": "digits"})
    usps = _usps_task(*_first_of_permutation(u_train, usps_train, split_seed), u_test, usps_size)
    notes = [f"MNIST: the first {len(mnist.y_train)} of a RandomState({split_seed}) permutation of its training "
             f"set; USPS (ESL version): the first {len(usps.y_train)} of one of its 7,291; full test sets",
             "USPS at its native 16 x 16, on a 28 x 28 canvas" if usps_size == 16 else "USPS resized to 28 x 28"]
    return Suite("digits-mu", [mnist, usps], notes=notes, provenance=provenance)


def gray28(x: np.ndarray) -> np.ndarray:
    """RGB uint8 [N, 32, 32, 3] -> PIL's "L" grayscale, bilinear to 28 px: [N, 28, 28, 1]."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(img).convert("L").resize((28, 28), Image.BILINEAR))
                     for img in x])[..., None]


def build_svhn_digits(targets: tuple[str, ...], offline: bool | None = None) -> Suite:
    """SVHN (the source) with MNIST and / or USPS, complete training sets."""
    train, p_train = load_split("svhn", "train", offline)
    test, p_test = load_split("svhn", "test", offline)
    provenance = [p_train.to_dict(), p_test.to_dict()]
    tasks = [Task("svhn", gray28(train["x"]), train["y"], gray28(test["x"]), test["y"], 10,
                  {"source": "svhn", "label_semantics": "digits"})]
    for name in targets:
        source = "usps-esl" if name == "usps" else name
        t_train, p1 = load_split(source, "train", offline)
        t_test, p2 = load_split(source, "test", offline)
        provenance += [p1.to_dict(), p2.to_dict()]
        tasks.append(_usps_task(t_train["x"], t_train["y"], t_test, 16) if name == "usps" else
                     Task(name, t_train["x"], t_train["y"].astype(np.int64), t_test["x"],
                          t_test["y"].astype(np.int64), 10, {"source": name, "label_semantics": "digits"}))
    return Suite("-".join(["svhn", *targets]), tasks, provenance=provenance,
                 notes=["SVHN in grayscale, bilinear 32 -> 28 px, no `extra` split; complete training sets"])


DIGIT_TRANSFER_SUITES = {"digits-mu": build_digits_mu,
                         "svhn-mnist": functools.partial(build_svhn_digits, ("mnist",)),
                         "svhn-usps": functools.partial(build_svhn_digits, ("usps",)),
                         "svhn-mnist-usps": functools.partial(build_svhn_digits, ("mnist", "usps"))}
