"""The shared baselines (isolated, shareall, deep, finetune, l2) on the embedded and MNIST-family suites.

No paper reports these exact settings, so the paper column stays empty; each paper's module will
carry its own reference numbers in the same shape: {experiment: {method: {metric: value}}}, with
metrics as fractions (accuracy in [0, 1]).
"""

from __future__ import annotations

REFERENCE_NUMBERS: dict[str, dict[str, dict[str, float]]] = {}
REFERENCE_SOURCE = ""
