"""The JAE paper's digit transfer suites (Sec. 4.2, Fig. 3, Table 2), on the ADDA protocol it follows.

`digits-mu`: MNIST and USPS as two 10-class tasks. "Following [ADDA] ... we use 2000 samples for MNIST and 1800
samples from USPS": the first 2,000 of a fixed permutation of MNIST's training set and the first 1,800 of one of
USPS' (RandomState(666) each, not stratified, as ADDA's `mnist2000` / `usps1800`), the full test sets (10,000 and
2,007). USPS is the ESL version ADDA reads (source `usps-esl`, never the LIBSVM file), kept at its native 16 x 16
("when the input dimensions differ, early sharing is impossible"): stored on the 28 x 28 canvas with its native
shape recorded (`usps_size: 28` resizes it instead, ADDA's own LeNet setting).
"""

from __future__ import annotations

import numpy as np

from sharebench.datasets.load import load_split
from sharebench.datasets.suites import Suite, Task, on_canvas, resize


def _first_of_permutation(arrays: dict[str, np.ndarray], n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.RandomState(seed).permutation(len(arrays["y"]))[:n]
    return arrays["x"][order], arrays["y"][order]


def build_digits_mu(mnist_train: int | None = 2000, usps_train: int | None = 1800, split_seed: int = 666,
                    usps_size: int = 16, offline: bool | None = None) -> Suite:
    if usps_size not in (16, 28):
        raise ValueError(f"usps_size must be 16 (native, on a canvas) or 28 (resized), got {usps_size!r}")
    provenance, tasks = [], []
    for name, source, n in (("mnist", "mnist", mnist_train), ("usps", "usps-esl", usps_train)):
        train, p_train = load_split(source, "train", offline)
        test, p_test = load_split(source, "test", offline)
        provenance += [p_train.to_dict(), p_test.to_dict()]
        x_train, y_train = _first_of_permutation(train, n, split_seed)
        x_test, y_test = test["x"], test["y"]
        meta = {"source": source, "label_semantics": "digits"}
        if source == "usps-esl":
            if usps_size == 16:
                meta["native_shape"] = list(x_train.shape[1:])
                x_train, x_test = on_canvas(x_train, (28, 28, 1)), on_canvas(x_test, (28, 28, 1))
            else:
                x_train, x_test = resize(x_train, 28), resize(x_test, 28)
        tasks.append(Task(name, x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), 10, meta))
    notes = [f"MNIST: the first {len(tasks[0].y_train)} of a RandomState({split_seed}) permutation of its training "
             f"set; USPS (ESL version): the first {len(tasks[1].y_train)} of one of its 7,291; full test sets",
             "USPS at its native 16 x 16, on a 28 x 28 canvas" if usps_size == 16 else "USPS resized to 28 x 28"]
    return Suite("digits-mu", tasks, notes=notes, provenance=provenance)


DIGIT_TRANSFER_SUITES = {"digits-mu": build_digits_mu}
