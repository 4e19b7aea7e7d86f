"""The model store: trained networks one job hands to another, and pretrained weights.

A job whose experiment `requires:` a network (a CETL source, a KD teacher) names it by experiment, arm and
seed. The runner trains that job first if its model is missing and keeps the final method state under the
job's configuration hash (`data/models/<hash>.pt`), like the record store; code or settings that change
the source change its hash, so a stale model is never reused. Pretrained weights (`pretrained: timm:<name>`
or `torchvision:<name>`) are the paper profile's path; offline and not cached, the error names the weights
and how to provide them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sharebench.datasets.errors import DataError
from sharebench.datasets.fetch import data_root


def model_path(job_hash: str) -> Path:
    return data_root() / "models" / f"{job_hash}.pt"


def load_pretrained(spec: str) -> Any:
    """`timm:<model name>` or `torchvision:<model name>` with its default ImageNet weights, as an nn.Module."""
    library, _, name = spec.partition(":")
    if library not in ("timm", "torchvision") or not name:
        raise ValueError(f"pretrained weights {spec!r}: want timm:<name> or torchvision:<name>")
    offline = os.environ.get("SHAREBENCH_OFFLINE") == "1"
    how = ("run once with network access to fill the cache (timm: Hugging Face hub cache, HF_HOME; torchvision: "
           "TORCH_HOME), or copy the weights there on an air-gapped machine")
    try:
        if library == "timm":
            import timm

            if offline:
                import huggingface_hub.constants

                os.environ["HF_HUB_OFFLINE"] = "1"
                huggingface_hub.constants.HF_HUB_OFFLINE = True  # read once at import: a hub imported earlier
            return timm.create_model(name, pretrained=True)
        import torchvision

        weights = torchvision.models.get_model_weights(name).DEFAULT
        if offline:
            cached = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
            if not (cached / Path(weights.url).name).exists():
                raise DataError(f"offline and {cached / Path(weights.url).name} is missing")
        return torchvision.models.get_model(name, weights=weights)
    except DataError as err:
        raise DataError(f"pretrained weights {spec} are not available: {err}; {how}") from None
    except Exception as err:  # noqa: BLE001 - timm/hub raise many kinds; the message is what matters
        raise DataError(f"pretrained weights {spec} could not be loaded ({type(err).__name__}: {err}); {how}") \
            from None


def provide_models(requires: dict[str, Any], build: Callable[[Any], tuple[str, Any]],
                   train: Callable[[Any], None]) -> dict[str, Any]:
    """The networks a job needs, by name. `build(job)` -> (job hash, an untrained method for that job);
    `train(job)` runs the job and keeps its model."""
    import torch

    from sharebench.benchmarks.runner import Job

    models: dict[str, Any] = {}
    for name, req in requires.items():
        if req.pretrained:
            models[name] = load_pretrained(req.pretrained)
            continue
        job = Job(req.experiment, req.arm, req.seed)
        job_hash, method = build(job)
        if req.untrained:  # the network as built for that seed (a control), never trained
            models[name] = method
            continue
        path = model_path(job_hash)
        if not path.exists():
            train(job)
        method.load_state_dict(torch.load(path, map_location=method.device, weights_only=False))
        models[name] = method
    return models
