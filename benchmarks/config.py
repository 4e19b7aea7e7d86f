"""params.yaml -> resolved experiment configs for the active profile.

An experiment's base settings are merged with its `profiles.<profile>` overrides; an experiment
without an entry for the active profile is not run in that profile (the report says so).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROFILES = ("quick", "small", "paper")
EXPERIMENT_KEYS = {"title", "benchmark", "suite", "backbone", "backbone_options", "methods", "iterations",
                   "eval_interval", "seeds", "batch_per_task", "reference", "comparisons", "profiles",
                   "description"}
ALTERNATIVES = ("two-sided", "less", "greater")


class ConfigError(ValueError):
    """params.yaml is inconsistent; the message names the key."""


@dataclass(frozen=True)
class Comparison:
    metric: str
    method_a: str
    method_b: str
    alternative: str  # scipy's: "less" tests metric(a) < metric(b)


@dataclass
class Experiment:
    name: str
    profile: str
    suite: str
    suite_options: dict[str, Any]
    backbone: str
    backbone_options: dict[str, Any]
    methods: dict[str, dict[str, Any]]
    iterations: int
    eval_interval: int
    seeds: list[int]
    batch_per_task: int
    reference: str
    comparisons: list[Comparison]
    benchmark: str = "baselines"
    title: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def job_config(self, method: str, seed: int, suite_hash: str) -> dict[str, Any]:
        """Everything that determines a job's result; its hash names the job."""
        return {"experiment": self.name, "method": method, "seed": seed, "hparams": self.methods[method],
                "suite": self.suite, "suite_options": self.suite_options, "suite_hash": suite_hash,
                "backbone": self.backbone, "backbone_options": self.backbone_options,
                "iterations": self.iterations, "eval_interval": self.eval_interval,
                "batch_per_task": self.batch_per_task}


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.md5(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "methods" else v
    return out


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} not found; run from the repository root or pass --params")
    params = yaml.safe_load(path.read_text()) or {}
    return params


def active_profile(params: dict[str, Any], override: str | None = None) -> str:
    profile = override or params.get("profile", "quick")
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return profile


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) for s in value):
        return list(value)
    raise ConfigError(f"{where}.seeds must be a positive count or a list of integers, got {value!r}")


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where} must be a positive integer, got {value!r}")
    return value


def resolve_experiment(name: str, raw: dict[str, Any], profile: str, params: dict[str, Any]) -> Experiment | None:
    # imported here so that `sharebench --help` does not load torch
    from sharebench.datasets.suites import suite_names
    from sharebench.methods import get_method
    from sharebench.methods.networks import BACKBONES

    where = f"experiments.{name}"
    unknown = set(raw) - EXPERIMENT_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(EXPERIMENT_KEYS)}")
    profiles = raw.get("profiles", {})
    if profile not in profiles:
        return None
    merged = _merge({k: v for k, v in raw.items() if k != "profiles"}, profiles[profile] or {})
    where_p = f"{where} (profile {profile})"
    for key in ("suite", "backbone", "methods", "iterations", "eval_interval", "reference"):
        if key not in merged:
            raise ConfigError(f"{where_p}: missing key {key!r}")
    suite = merged["suite"]
    if suite not in suite_names():
        raise ConfigError(f"{where_p}: unknown suite {suite!r}; known: {', '.join(suite_names())}")
    if merged["backbone"] not in BACKBONES:
        raise ConfigError(f"{where_p}: unknown backbone {merged['backbone']!r}; known: {sorted(BACKBONES)}")
    methods = {m: dict(h or {}) for m, h in merged["methods"].items()}
    for m in methods:
        try:
            get_method(m)
        except KeyError as err:
            raise ConfigError(f"{where_p}.methods: {err.args[0]}") from None
    if merged["reference"] not in methods:
        raise ConfigError(f"{where_p}: reference {merged['reference']!r} is not one of its methods")
    iterations = _positive_int(merged["iterations"], f"{where_p}.iterations")
    interval = _positive_int(merged["eval_interval"], f"{where_p}.eval_interval")
    profile_defaults = (params.get("profiles") or {}).get(profile) or {}
    seeds = _seeds(merged.get("seeds", profile_defaults.get("seeds", 5)), where_p)
    comparisons = []
    declared = merged.get("comparisons") or [
        {"a": m, "b": merged["reference"], "alternative": "two-sided"} for m in methods if m != merged["reference"]]
    for c in declared:
        alt = c.get("alternative", "two-sided")
        if alt not in ALTERNATIVES or c.get("a") not in methods or c.get("b") not in methods:
            raise ConfigError(f"{where_p}.comparisons: bad entry {c!r} (methods must be in the experiment, "
                              f"alternative one of {ALTERNATIVES})")
        for metric in c.get("metrics", ["accuracy", "accuracy_task_mean"]):
            comparisons.append(Comparison(metric, c["a"], c["b"], alt))
    suite_options = dict((params.get("suites") or {}).get(suite) or {})
    return Experiment(
        name=name, profile=profile, suite=suite, suite_options=suite_options, backbone=merged["backbone"],
        backbone_options=dict(merged.get("backbone_options") or {}), methods=methods, iterations=iterations,
        eval_interval=interval, seeds=seeds,
        batch_per_task=_positive_int(merged.get("batch_per_task", 16), f"{where_p}.batch_per_task"),
        reference=merged["reference"], comparisons=comparisons, benchmark=merged.get("benchmark", "baselines"),
        title=merged.get("title", name), description=merged.get("description", ""))


def experiments(params: dict[str, Any], profile: str | None = None,
                only: list[str] | None = None) -> tuple[list[Experiment], list[str]]:
    """The experiments of the active profile, and the names of those not run in it."""
    profile = active_profile(params, profile)
    raw = params.get("experiments") or {}
    if only:
        missing = [n for n in only if n not in raw]
        if missing:
            raise ConfigError(f"unknown experiment(s) {missing}; known: {sorted(raw)}")
    active, skipped = [], []
    for name, body in raw.items():
        if only and name not in only:
            continue
        exp = resolve_experiment(name, body or {}, profile, params)
        (active.append(exp) if exp else skipped.append(name))
    return active, skipped
