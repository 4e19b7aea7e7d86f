"""params.yaml -> resolved experiment configs for the active profile.

An experiment's base settings are merged with its `profiles.<profile>` overrides; an experiment
without an entry for the active profile is not run in that profile (the report says so).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

PROFILES = ("quick", "small", "paper")
EXPERIMENT_KEYS = {"title", "benchmark", "suite", "backbone", "backbone_options", "methods", "iterations",
                   "eval_interval", "seeds", "batch_per_task", "reference", "comparisons", "profiles",
                   "description", "extends", "metrics", "eval_tasks", "roles", "target_labels", "label_seed",
                   "requires", "method_defaults", "input", "drop_methods"}
# every other key of an arm is a hyperparameter; `target_labels` overrides the experiment's for that arm (the JAE
# paper's Fig. 3 compares labelled-sample budgets k as arms of one experiment)
ARM_KEYS = {"method", "backbone", "backbone_options", "label", "target_labels", "requires"}
# an arm's `requires:` entries replace the experiment's of the same name (CETL's Table 3: one source per arm)
ALTERNATIVES = ("two-sided", "less", "greater", "better", "worse")
DEFAULT_METRICS = ["accuracy", "error"]


class ConfigError(ValueError):
    """params.yaml is inconsistent; the message names the key."""


@dataclass(frozen=True)
class Comparison:
    metric: str
    method_a: str  # arm labels
    method_b: str
    alternative: str  # scipy's: "less" tests metric(a) < metric(b); "better"/"worse" are resolved by direction
    family: str = ""  # Holm's correction runs within (experiment, metric, family)
    margin: float | None = None  # an equality claim: two-sided, unadjusted, "consistent" if |mean a - mean b| <= margin


@dataclass(frozen=True)
class Arm:
    """One column of an experiment: a registered method with its own hyperparameters (and backbone)."""

    label: str
    method: str
    hparams: dict[str, Any]
    backbone: str
    backbone_options: dict[str, Any]
    display: str = ""
    target_labels: Any = None  # None: the experiment's
    requires: dict[str, Requirement] = field(default_factory=dict)  # over the experiment's, by name


@dataclass(frozen=True)
class Requirement:
    """A network a job needs from elsewhere: another experiment's arm (the model store) or pretrained weights.
    `untrained`: that arm's network as built for its seed, never trained (a control: CETL's random source)."""

    experiment: Experiment | None = None
    arm: str = ""
    seed: int = 0
    pretrained: str = ""
    untrained: bool = False


@dataclass
class Experiment:
    name: str
    profile: str
    suite: str
    suite_options: dict[str, Any]
    backbone: str
    backbone_options: dict[str, Any]
    arms: dict[str, Arm]
    iterations: int
    eval_interval: int
    seeds: list[int]
    batch_per_task: int
    reference: str
    comparisons: list[Comparison]
    benchmark: str = "baselines"
    title: str = ""
    description: str = ""
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    eval_tasks: list[str] | None = None  # task names or roles; None = every task
    roles: dict[str, str] = field(default_factory=dict)  # task name -> source | target (others: task)
    target_labels: Any = "all"
    label_seed: int = 0
    requires: dict[str, Requirement] = field(default_factory=dict)
    input: dict[str, Any] = field(default_factory=dict)  # per-domain whitening and augmentation (runner's input.py)

    @property
    def methods(self) -> dict[str, Arm]:
        """The arms by label (an experiment's `methods:` keys are arm labels)."""
        return self.arms

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def requirements(self, arm: str) -> dict[str, Requirement]:
        """The networks the arm's method needs (its REQUIRES): the experiment's `requires:`, with the arm's own
        entries over them (a baseline beside CETL neither waits for nor depends on the source network)."""
        from sharebench.methods import get_method

        needed = get_method(self.arms[arm].method).REQUIRES
        return {k: r for k, r in {**self.requires, **self.arms[arm].requires}.items() if k in needed}

    def labels_rule(self, arm: str) -> Any:
        """Which training labels of target tasks the arm's method sees (`target_labels`, the arm's over the
        experiment's)."""
        rule = self.arms[arm].target_labels
        return self.target_labels if rule is None else rule

    def job_config(self, arm: str, seed: int, suite_hash: str) -> dict[str, Any]:
        """Everything that determines a job's result, the code that computes it included; its hash names the job."""
        from sharebench.benchmarks.provenance import code_fingerprint

        a = self.arms[arm]
        return {"experiment": self.name, "method": arm, "method_name": a.method, "seed": seed, "hparams": a.hparams,
                "suite": self.suite, "suite_options": self.suite_options, "suite_hash": suite_hash,
                "backbone": a.backbone, "backbone_options": a.backbone_options,
                "iterations": self.iterations, "eval_interval": self.eval_interval,
                "batch_per_task": self.batch_per_task, "metrics": self.metrics, "eval_tasks": self.eval_tasks,
                "roles": self.roles, "target_labels": self.labels_rule(arm), "label_seed": self.label_seed,
                "requires": {k: _requirement_key(r) for k, r in self.requirements(arm).items()},
                **({"input": self.input} if self.input else {}),
                "code": code_fingerprint(a.method)}


def _requirement_key(r: Requirement) -> dict[str, Any]:
    if r.pretrained:
        return {"pretrained": r.pretrained}
    assert r.experiment is not None
    return {"experiment": r.experiment.name, "arm": r.arm, "seed": r.seed, **({"untrained": True} if r.untrained
                                                                              else {})}


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


def _extended(name: str, raw_all: dict[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """An experiment's settings with `extends:` applied: the base's settings, overridden key by key; `methods`
    and `profiles` are merged entry by entry (an arm set to null is dropped)."""
    raw = raw_all.get(name) or {}
    base_name = raw.get("extends")
    if not base_name:
        return dict(raw)
    if base_name not in raw_all:
        raise ConfigError(f"experiments.{name}.extends: unknown experiment {base_name!r}")
    if base_name in seen + (name,):
        raise ConfigError(f"experiments.{name}.extends: cycle {' -> '.join(seen + (name, base_name))}")
    base = _extended(base_name, raw_all, seen + (name,))
    out = copy.deepcopy(base)
    for key, value in raw.items():
        if key == "extends":
            continue
        if key in ("methods", "profiles") and isinstance(value, dict):
            merged = dict(out.get(key) or {})
            merged.update(copy.deepcopy(value))
            out[key] = {k: v for k, v in merged.items() if v is not None or key == "profiles"}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _arms(methods: Any, merged: dict[str, Any], where: str) -> dict[str, Arm]:
    from sharebench.methods import get_method
    from sharebench.methods.networks import BACKBONES
    from sharebench.methods.registry import resolve_hparams

    if not isinstance(methods, dict) or not methods:
        raise ConfigError(f"{where}.methods: want a mapping of arm labels to settings, got {methods!r}")
    arms = {}
    defaults = set(merged.get("method_defaults") or {})
    known = set().union(*(get_method(dict(b or {}).get("method", label)).HPARAMS for label, b in methods.items()
                          if _registered(dict(b or {}).get("method", label))))
    if defaults - known:
        raise ConfigError(f"{where}.method_defaults: no arm's method has hyperparameter(s) {sorted(defaults - known)}")
    for label, body in methods.items():
        body = dict(body or {})
        method = body.get("method", label)
        try:
            cls = get_method(method)
        except KeyError as err:
            raise ConfigError(f"{where}.methods.{label}: {err.args[0]} (an arm names its method with `method:`)") \
                from None
        defaults = {k: v for k, v in copy.deepcopy(merged.get("method_defaults") or {}).items() if k in cls.HPARAMS}
        hparams = {**defaults, **{k: v for k, v in body.items() if k not in ARM_KEYS}}
        try:
            resolve_hparams(cls, hparams)
        except ValueError as err:
            raise ConfigError(f"{where}.methods.{label}: {err}") from None
        backbone = body.get("backbone", merged.get("backbone"))
        if backbone not in BACKBONES:
            raise ConfigError(f"{where}.methods.{label}: unknown backbone {backbone!r}; known: {sorted(BACKBONES)}")
        if cls.BACKBONES and backbone not in cls.BACKBONES:
            raise ConfigError(f"{where}.methods.{label}: method {method!r} builds on backbone "
                              f"{' or '.join(cls.BACKBONES)}, not {backbone!r}")
        options = dict(merged.get("backbone_options") or {}) if "backbone" not in body else {}
        options.update(body.get("backbone_options") or {})
        rule = body.get("target_labels")
        if rule is not None:
            _check_label_rule(rule, f"{where}.methods.{label}.target_labels")
        arms[label] = Arm(label, method, hparams, backbone, options, str(body.get("label", "")), rule)
    return arms


def _registered(method: str) -> bool:
    from sharebench.methods import get_method

    try:
        get_method(method)
    except KeyError:
        return False
    return True


def _check_label_rule(rule: Any, where: str) -> None:
    from sharebench.benchmarks.sampling import labelled_mask

    try:
        labelled_mask(np.zeros(1, dtype=np.int64), rule, 0)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: {err}") from None


def _input(raw: Any, where: str) -> dict[str, Any]:
    from sharebench.benchmarks.inputs import check_input_config

    try:
        return check_input_config(raw)
    except ValueError as err:
        raise ConfigError(f"{where}.input: {err}") from None


def _is_arm(label: Any, arms: dict[str, Arm]) -> bool:
    """An arm label, or `<arm>@<variant>`: one of the ways that arm's model is evaluated (`eval_moments`)."""
    if not isinstance(label, str):
        return False
    arm, _, variant = label.partition("@")
    return arm in arms and (not variant or variant in (arms[arm].hparams.get("eval_moments") or []))


def _requirements(raw: Any, params: dict[str, Any], profile: str, where: str,
                  seen: tuple[str, ...]) -> dict[str, Requirement]:
    out = {}
    for key, spec in (raw or {}).items():
        spec = spec or {}
        if "pretrained" in spec:
            out[key] = Requirement(pretrained=str(spec["pretrained"]))
            continue
        other = spec.get("experiment")
        if other not in (params.get("experiments") or {}) or other in seen:
            raise ConfigError(f"{where}.requires.{key}: model-store source experiment {other!r} does not exist"
                              + (" (a cycle)" if other in seen else ""))
        exp = resolve_experiment(other, params["experiments"][other], profile, params, seen)
        if exp is None:
            raise ConfigError(f"{where}.requires.{key}: experiment {other!r} has no settings for profile {profile}")
        if spec.get("arm") not in exp.arms:
            raise ConfigError(f"{where}.requires.{key}: experiment {other!r} has no arm {spec.get('arm')!r}; "
                              f"arms: {sorted(exp.arms)}")
        unknown = set(spec) - {"experiment", "arm", "seed", "untrained"}
        if unknown:
            raise ConfigError(f"{where}.requires.{key}: unknown key(s) {sorted(unknown)}")
        out[key] = Requirement(exp, spec["arm"], int(spec.get("seed", 0)), untrained=bool(spec.get("untrained")))
    return out


def _banked_output(arm: Arm) -> str | None:
    """What a banked method outputs on the arm's backbone: `reconstruct` (an image-output backbone such as ae9) or
    `predict` (a classifier); None for other methods, or when the backbone cannot be laid out without the data."""
    from sharebench.methods import get_method
    from sharebench.methods.hard_sharing import BankedMethod
    from sharebench.methods.networks import backbone_layers

    if not issubclass(get_method(arm.method), BankedMethod):
        return None
    try:
        last = backbone_layers(arm.backbone, (32, 32, 1), **arm.backbone_options)[-1]
    except (ValueError, TypeError):
        return None
    return "reconstruct" if last.sigmoid else "predict"


def resolve_experiment(name: str, raw: dict[str, Any], profile: str, params: dict[str, Any],
                       seen: tuple[str, ...] = ()) -> Experiment | None:
    # imported here so that `sharebench --help` does not load torch
    from sharebench.benchmarks.metrics import METRICS, check_method_outputs
    from sharebench.benchmarks.sampling import ROLES
    from sharebench.datasets.suites import suite_names
    from sharebench.methods import get_method

    where = f"experiments.{name}"
    unknown = set(raw) - EXPERIMENT_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(EXPERIMENT_KEYS)}")
    raw = _extended(name, params.get("experiments") or {name: raw}) if raw.get("extends") else raw
    profiles = raw.get("profiles", {})
    if profiles.get(profile) is None:  # absent, or set to null to drop an inherited profile
        return None
    merged = _merge({k: v for k, v in raw.items() if k != "profiles"}, profiles[profile] or {})
    where_p = f"{where} (profile {profile})"
    for key in ("suite", "backbone", "methods", "iterations", "eval_interval", "reference"):
        if key not in merged:
            raise ConfigError(f"{where_p}: missing key {key!r}")
    suite = merged["suite"]
    if suite not in suite_names():
        raise ConfigError(f"{where_p}: unknown suite {suite!r}; known: {', '.join(suite_names())}")
    methods = dict(merged["methods"] or {})
    for label in merged.get("drop_methods") or []:
        if label not in methods:
            raise ConfigError(f"{where_p}.drop_methods: {label!r} is not one of its arms {sorted(methods)}")
        del methods[label]
    arms = _arms(methods, merged, where_p)
    for label, body in methods.items():
        if isinstance(body, dict) and body.get("requires"):
            arms[label] = dataclasses.replace(arms[label], requires=_requirements(
                body["requires"], params, profile, f"{where_p}.methods.{label}", seen + (name,)))
    if merged["reference"] not in arms:
        raise ConfigError(f"{where_p}: reference {merged['reference']!r} is not one of its arms")
    metrics = list(merged.get("metrics") or DEFAULT_METRICS)
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"{where_p}.metrics: unknown metric {m!r}; known: {', '.join(METRICS)}")
    for arm in arms.values():
        try:
            check_method_outputs(metrics, get_method(arm.method), f"{where_p}.methods.{arm.label}")
        except ValueError as err:
            raise ConfigError(str(err)) from None
        produced = _banked_output(arm)
        for m in metrics:
            if produced is not None and METRICS[m].output != produced:
                raise ConfigError(f"{where_p}.methods.{arm.label}: metric {m!r} reads `{METRICS[m].output}`, which "
                                  f"method {arm.method!r} does not produce on backbone {arm.backbone!r} (it gives "
                                  f"`{produced}`)")
    roles = dict(merged.get("roles") or {})
    bad_roles = {t: r for t, r in roles.items() if r not in ROLES}
    if bad_roles:
        raise ConfigError(f"{where_p}.roles: unknown role(s) {bad_roles}; known: {ROLES}")
    iterations = _positive_int(merged["iterations"], f"{where_p}.iterations")
    interval = _positive_int(merged["eval_interval"], f"{where_p}.eval_interval")
    profile_defaults = (params.get("profiles") or {}).get(profile) or {}
    seeds = _seeds(merged.get("seeds", profile_defaults.get("seeds", 5)), where_p)
    comparisons = []
    primary = [metrics[0], f"{metrics[0]}_task_mean"]
    declared = merged.get("comparisons") or [
        {"a": m, "b": merged["reference"], "alternative": "two-sided"} for m in arms if m != merged["reference"]]
    for c in declared:
        alt = c.get("alternative", "two-sided")
        if alt not in ALTERNATIVES or not _is_arm(c.get("a"), arms) or not _is_arm(c.get("b"), arms):
            raise ConfigError(f"{where_p}.comparisons: bad entry {c!r} (arms must be in the experiment, or "
                              f"<arm>@<variant> for a variant in its eval_moments; alternative one of {ALTERNATIVES})")
        margin = c.get("margin")
        if margin is not None and (alt != "two-sided" or not isinstance(margin, (int, float)) or margin < 0):
            raise ConfigError(f"{where_p}.comparisons: {c!r}: an equality claim (margin) must be two-sided with a "
                              "margin >= 0 in the metric's units (a fraction for error)")
        for metric in c.get("metrics", primary):
            if metric.split("/")[0].removesuffix("_task_mean") not in metrics:
                raise ConfigError(f"{where_p}.comparisons: metric {metric!r} is not among the experiment's "
                                  f"metrics {metrics}")
            comparisons.append(Comparison(metric, c["a"], c["b"], alt, str(c.get("family", "")),
                                          None if margin is None else float(margin)))
    suite_options = dict((params.get("suites") or {}).get(suite) or {})
    return Experiment(
        name=name, profile=profile, suite=suite, suite_options=suite_options, backbone=merged["backbone"],
        backbone_options=dict(merged.get("backbone_options") or {}), arms=arms, iterations=iterations,
        eval_interval=interval, seeds=seeds,
        batch_per_task=_positive_int(merged.get("batch_per_task", 16), f"{where_p}.batch_per_task"),
        reference=merged["reference"], comparisons=comparisons, benchmark=merged.get("benchmark", "baselines"),
        title=merged.get("title", name), description=merged.get("description", ""), metrics=metrics,
        eval_tasks=merged.get("eval_tasks"), roles=roles, target_labels=merged.get("target_labels", "all"),
        label_seed=int(merged.get("label_seed", 0)), input=_input(merged.get("input"), where_p),
        requires=_requirements(merged.get("requires"), params, profile, where_p, seen + (name,)))


def results_root() -> Path:
    return Path(os.environ.get("SHAREBENCH_RESULTS", "results"))


def has_profile(name: str, params: dict[str, Any], profile: str) -> bool:
    """Whether the experiment runs in the profile, read without resolving it (no torch import: `train` stages of
    experiments outside the profile return in a fraction of a second)."""
    raw_all = params.get("experiments") or {}
    if name not in raw_all:
        raise ConfigError(f"unknown experiment(s) {[name]}; known: {sorted(raw_all)}")
    return (_extended(name, raw_all).get("profiles") or {}).get(profile) is not None


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
