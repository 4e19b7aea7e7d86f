"""Fig. 2(a) of the JAE paper as numbers: how much each bottleneck separates the two tasks' inputs.

Every test image of both tasks (the MNIST halves: digits 0-9) goes through each task's private branch and each
task's path through the shared branch; the bottleneck responses are embedded in 2-D by t-SNE (sklearn, perplexity
30, PCA init, random_state 0), and the two halves (red 0-4, green 5-9 in the paper) compared by Fisher's criterion
(Bishop 4.1.4, which the paper cites): J = d' S_W^-1 d, d the difference of the halves' means, S_W the *summed*
within-half scatter, so J scales as 1/N (the paper's 9.14e-4 and 2.77e-4); N * J is size-free. The paper finds the
private branches separate the halves 3.3 times more than the shared ones (C-F1), and a private branch spreads the
half it was trained on 2.12 times more than the other half (trace of the covariance), the shared ones about
equally (C-F2). Private and shared values are means over the two branches of each kind (specs/jae.md 2.5, A23-A24).

Fig. 2(b)-(c) as pictures (the spec's choices, A25): for the digits of the pairs {1, 9}, {3, 8}, {4, 7}, the test
image nearest its class mean goes through its own half's branches; (b) the saliency |dz_j/dx * x| of the most
active unit j of the private and of the shared bottleneck; (c) the reconstruction by the full JAE, by the private
branch alone (the shared top zeroed before the output layer) and by the shared branch alone.
"""

from __future__ import annotations

import base64
import re

import numpy as np


def fisher_criterion(points: np.ndarray, groups: np.ndarray) -> float:
    """J for two groups (0 and 1) of points [N, D]; the pseudo-inverse covers dead (constant) units."""
    a, b = points[groups == 0], points[groups == 1]
    delta = b.mean(0) - a.mean(0)
    scatter = sum((g - g.mean(0)).T @ (g - g.mean(0)) for g in (a, b))
    return float(delta @ np.linalg.pinv(scatter) @ delta)


def spread(points: np.ndarray) -> float:
    """Trace of the covariance: how widely a group is spread."""
    return float(np.trace(np.atleast_2d(np.cov(points.T))))


def tsne(codes: np.ndarray) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(2, perplexity=min(30.0, (len(codes) - 1) / 3), init="pca", learning_rate="auto",
                random_state=0).fit_transform(codes.astype(np.float64))


def separation_metrics(codes: dict[tuple[str, int], np.ndarray], groups: np.ndarray) -> dict[str, float]:
    """codes[(kind, task)]: the bottleneck responses [N, b] of every test image through task `task`'s `kind`
    ("private" / "shared") branch; groups: which task each image belongs to."""
    out: dict[str, float] = {}
    n = len(groups)
    for kind in ("private", "shared"):
        fisher, raw, ratio = [], [], []
        for (k, task), z in codes.items():
            if k != kind:
                continue
            embedded = tsne(z)
            fisher.append(fisher_criterion(embedded, groups))
            raw.append(fisher_criterion(z, groups))
            ratio.append(spread(embedded[groups == task]) / spread(embedded[groups != task]))
        out[f"fisher/{kind}"] = float(np.mean(fisher))
        out[f"fisher_n/{kind}"] = n * out[f"fisher/{kind}"]
        out[f"fisher_raw/{kind}"] = float(np.mean(raw))
        out[f"varratio/{kind}"] = float(np.mean(ratio))
    out["fisher_ratio"] = out["fisher/private"] / out["fisher/shared"]
    return out


# -- Fig. 2(b)-(c): saliency of the bottlenecks' peak units and reconstructions by branch, for digit pairs
FIG2_PAIRS = ((1, 9), (3, 8), (4, 7))  # "pairs of typical digits sharing common geometric structure"


def digit_offset(semantics: str) -> int | None:
    """The first digit of a half from its label semantics ("digits 5-9 as 0-4" -> 5); None when not a half."""
    m = re.fullmatch(r"digits (\d)-\d as 0-\d", semantics)
    return int(m.group(1)) if m else None


def typical_image(x: np.ndarray, y: np.ndarray, label: int) -> int:
    """Index of the test image nearest its class mean (pixel space): specs/jae.md 2.5, Fig. 2(b)."""
    chosen = np.flatnonzero(y == label)
    pixels = x[chosen].reshape(len(chosen), -1)
    return int(chosen[np.argmin(((pixels - pixels.mean(0)) ** 2).sum(1))])


def to_uint8(images: np.ndarray) -> str:
    """Images in [0, 1] as base64 of their uint8 bytes (a record stays small: 6 digits x 6 panels x 784 bytes)."""
    return base64.b64encode(np.clip(np.rint(images * 255), 0, 255).astype(np.uint8).tobytes()).decode("ascii")


def from_uint8(text: str, shape: list[int]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(shape).astype(np.float64) / 255
