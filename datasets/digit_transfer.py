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


def _splits(source: str, offline: bool | None, provenance: list[dict]) -> tuple[dict, dict]:
    """A source's train and test arrays; their provenance is appended to `provenance`."""
    train, p_train = load_split(source, "train", offline)
    test, p_test = load_split(source, "test", offline)
    provenance += [p_train.to_dict(), p_test.to_dict()]
    return train, test


def _digit_task(name: str, source: str, x_train: np.ndarray, y_train: np.ndarray, test: dict[str, np.ndarray],
                meta: dict | None = None) -> Task:
    return Task(name, x_train, y_train.astype(np.int64), test["x"], test["y"].astype(np.int64), 10,
                {"source": source, "label_semantics": "digits", **(meta or {})})


def _usps_task(x_train: np.ndarray, y_train: np.ndarray, test: dict[str, np.ndarray], usps_size: int) -> Task:
    if usps_size == 16:
        return _digit_task("usps", "usps-esl", on_canvas(x_train, CANVAS), y_train,
                           {"x": on_canvas(test["x"], CANVAS), "y": test["y"]},
                           {"native_shape": list(x_train.shape[1:])})
    if usps_size == 28:
        return _digit_task("usps", "usps-esl", resize(x_train, 28), y_train, {"x": resize(test["x"], 28),
                                                                              "y": test["y"]})
    raise ValueError(f"usps_size must be 16 (native, on a canvas) or 28 (resized), got {usps_size!r}")


def build_digits_mu(mnist_train: int | None = 2000, usps_train: int | None = 1800, split_seed: int = 666,
                    usps_size: int = 16, offline: bool | None = None) -> Suite:
    provenance: list[dict] = []
    m_train, m_test = _splits("mnist", offline, provenance)
    u_train, u_test = _splits("usps-esl", offline, provenance)
    mnist = _digit_task("mnist", "mnist", *_first_of_permutation(m_train, mnist_train, split_seed), m_test)
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
    provenance: list[dict] = []
    train, test = _splits("svhn", offline, provenance)
    tasks = [_digit_task("svhn", "svhn", gray28(train["x"]), train["y"], {"x": gray28(test["x"]), "y": test["y"]})]
    for name in targets:
        t_train, t_test = _splits("usps-esl" if name == "usps" else name, offline, provenance)
        tasks.append(_usps_task(t_train["x"], t_train["y"], t_test, 16) if name == "usps" else
                     _digit_task(name, name, t_train["x"], t_train["y"], t_test))
    return Suite("-".join(["svhn", *targets]), tasks, provenance=provenance,
                 notes=["SVHN in grayscale, bilinear 32 -> 28 px, no `extra` split; complete training sets"])


def build_digits_mu_28(mnist_train: int | None = 2000, usps_train: int | None = 1800, split_seed: int = 666,
                       offline: bool | None = None) -> Suite:
    """`digits-mu` with USPS resized to 28 px: one image shape, for methods that need it (CETL's S, T1 and T2)."""
    suite = build_digits_mu(mnist_train, usps_train, split_seed, 28, offline)
    suite.name = "digits-mu-28"
    return suite


DIGIT_TRANSFER_SUITES = {"digits-mu": build_digits_mu, "digits-mu-28": build_digits_mu_28,
                         "svhn-mnist": functools.partial(build_svhn_digits, ("mnist",)),
                         "svhn-usps": functools.partial(build_svhn_digits, ("usps",)),
                         "svhn-mnist-usps": functools.partial(build_svhn_digits, ("mnist", "usps"))}
