"""Prellberg & Kramer, learned weight sharing: the paper's numbers, claims, tables and figures.

Reference numbers are test errors (fractions) as printed in the paper's Tables I-III (mean and std
over 10 runs); literature rows are the numbers the paper quotes from other work and are shown as
reported, never re-run. Method names: no sharing = `isolated`, full sharing = `shareall`, prior
sharing = `partial`, learned sharing = `lws`.
"""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE_SOURCE = "Prellberg & Kramer, Tables I-III (test error %, mean ± std over 10 runs)"

METHOD_LABELS = {"shareall": "Full sharing", "isolated": "No sharing", "partial": "Prior sharing",
                 "lws": "Learned sharing"}


def _err(mean: float, std: float) -> dict[str, float]:
    return {"error": mean / 100, "error_std": std / 100}


REFERENCE_NUMBERS: dict[str, dict[str, dict[str, float]]] = {
    "lws-dkl-mnist": {"shareall": _err(14.16, 0.37), "isolated": _err(12.80, 0.16), "lws": _err(11.83, 0.51)},
    "lws-cifar100-resnet18": {"shareall": _err(31.80, 0.44), "isolated": _err(32.53, 0.32),
                              "lws": _err(30.84, 0.49)},
    "lws-omniglot-resnet18": {"shareall": _err(10.97, 0.60), "isolated": _err(15.82, 1.02),
                              "lws": _err(10.70, 0.62)},
    "lws-cifar100": {"shareall": _err(39.08, 0.36), "isolated": _err(36.50, 0.43), "lws": _err(37.43, 0.53)},
    "lws-omniglot": {"shareall": _err(20.85, 1.07), "isolated": _err(23.52, 1.25), "lws": _err(19.31, 2.54)},
}

# Numbers the paper quotes from other work (Tables II and III): shown as reported, not reproduced.
LITERATURE: dict[str, list[tuple[str, float]]] = {
    "lws-cifar100": [("Cross-stitch networks [Rosenbaum et al.] (reported)", 0.47),
                     ("Routing networks [Rosenbaum et al.] (reported)", 0.40)],
    "lws-omniglot": [("Soft layer ordering [Meyerson & Miikkulainen] (reported)", 0.241)],
}

# Table I's columns, then Tables II and III.
TABLES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Table I: test error of learned weight sharing, full sharing and no sharing",
     [("DKL-MNIST ConvNet", "lws-dkl-mnist"), ("CIFAR-100 ResNet18", "lws-cifar100-resnet18"),
      ("Omniglot ResNet18", "lws-omniglot-resnet18")]),
    ("Table II: CIFAR-100 with the network of Routing Networks", [("CIFAR-100", "lws-cifar100")]),
    ("Table III: Omniglot with the network of Soft Layer Ordering", [("Omniglot", "lws-omniglot")]),
]


@dataclass(frozen=True)
class Claim:
    """A significance statement of the paper, tested one-sided on the final test error."""

    experiment: str
    method_a: str
    method_b: str
    significant: bool  # the paper says p < level (True) or that the difference is not significant (False)
    text: str
    level: float = 0.01


CLAIMS = [
    Claim("lws-dkl-mnist", "lws", "isolated", True,
          "DKL-MNIST: learned sharing is significantly (p < 0.01) better than no sharing"),
    Claim("lws-cifar100-resnet18", "lws", "shareall", True,
          "CIFAR-100 ResNet18: learned sharing is significantly (p < 0.01) better than full sharing"),
    Claim("lws-omniglot-resnet18", "lws", "isolated", True,
          "Omniglot ResNet18: learned sharing is significantly (p < 0.01) better than no sharing"),
    Claim("lws-omniglot-resnet18", "lws", "shareall", False,
          "Omniglot ResNet18: learned sharing is not significantly better than full sharing"),
    Claim("lws-omniglot-resnet18", "shareall", "lws", False,
          "Omniglot ResNet18: full sharing is not significantly better than learned sharing"),
]
