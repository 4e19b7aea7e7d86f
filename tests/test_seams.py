"""The seams every coming paper plugs into: arms and extends, task roles with hidden labels, streams,
metrics with a direction, optimiser schedules, the model store and records keyed by their code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import tests.fixture_methods  # noqa: F401  (registers fixture-transfer and fixture-autoencoder)
from sharebench.benchmarks.analysis import mann_whitney_tests, scipy_alternative
from sharebench.benchmarks.cli import main
from sharebench.benchmarks.config import Comparison, ConfigError, experiments, resolve_experiment
from sharebench.benchmarks.metrics import METRICS, get_metric
from sharebench.benchmarks.runner import Job, is_done, record_path, run_job
from sharebench.benchmarks.sampling import labelled_mask
from sharebench.benchmarks.store import load_pretrained, model_path
from sharebench.datasets.errors import DataError
from sharebench.datasets.suites import build_suite, load_suite, save_suite
from sharebench.methods.optim import lr_factor

BASE = {"suite": "embedded", "backbone": "mlp", "backbone_options": {"hidden": [16]}, "reference": "isolated",
        "methods": {"isolated": {}}, "profiles": {"quick": {"iterations": 6, "eval_interval": 3, "seeds": 1}}}


def params_with(**experiments) -> dict:
    return {"experiments": experiments}


def resolve(raw: dict, name: str = "e", params: dict | None = None):
    save_suite(build_suite("embedded"))
    return resolve_experiment(name, raw, "quick", params or params_with(**{name: raw}))


# -- arms and extends

def test_arms_name_a_method_and_override_its_hparams_and_backbone():
    exp = resolve({**BASE, "methods": {"isolated": {}, "slow": {"method": "isolated", "lr": 1e-4},
                                       "conv": {"method": "shareall", "backbone": "dkl-convnet"}}})
    assert exp.arms["slow"].method == "isolated" and exp.arms["slow"].hparams == {"lr": 1e-4}
    assert exp.arms["conv"].backbone == "dkl-convnet" and exp.arms["conv"].backbone_options == {}
    assert exp.arms["isolated"].backbone_options == {"hidden": [16]}
    assert exp.job_config("slow", 0, "h") != exp.job_config("isolated", 0, "h")


def test_extends_inherits_and_adds_or_drops_arms():
    child = {"extends": "base", "methods": {"isolated": None, "shareall": {}, "deep": {}}, "reference": "shareall"}
    params = params_with(base={**BASE, "methods": {"isolated": {}, "shareall": {}}}, child=child)
    exp = resolve(child, "child", params)
    assert list(exp.arms) == ["shareall", "deep"] and exp.iterations == 6
    with pytest.raises(ConfigError, match="cycle"):
        resolve({"extends": "b"}, "a", params_with(a={"extends": "b"}, b={"extends": "a"}))


@pytest.mark.parametrize("raw, message", [
    ({"methods": {"isolated": {}, "x": {"method": "nope"}}}, "unknown method 'nope'"),
    ({"methods": {"isolated": {"learning_rate": 1}}}, "unknown hyperparameter"),
    ({"metrics": ["f1"]}, "unknown metric 'f1'"),
    ({"metrics": ["mse"]}, "reads `reconstruct`"),
    ({"roles": {"plain": "teacher"}}, "unknown role"),
    ({"requires": {"teacher": {"experiment": "missing", "arm": "isolated"}}}, "does not exist"),
    ({"comparisons": [{"a": "ghost", "b": "isolated"}]}, "bad entry"),
])
def test_bad_experiments_are_config_errors(raw, message):
    with pytest.raises(ConfigError, match=message):
        resolve({**BASE, **raw})


def test_cli_says_one_line_and_exits_2_on_a_bad_arm(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params_with(e={**BASE, "methods": {"isolated": {}, "x": {"method": "nope"}}})))
    assert main(["train", "--params", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown method 'nope'" in err[0]


# -- metrics with a direction

def test_metric_direction_sets_the_alternative_and_effect():
    assert scipy_alternative("error", "better") == "less" and scipy_alternative("accuracy", "better") == "greater"
    assert scipy_alternative("mse_task_mean", "worse") == "greater"
    assert get_metric("error/plain") is METRICS["error"]
    import pandas as pd

    runs = pd.DataFrame([{"experiment": "e", "method": m, "seed": i, "metric": "mse", "value": v}
                         for m, vals in {"a": [1, 2, 3], "b": [4, 5, 6]}.items() for i, v in enumerate(vals)])
    exp = resolve({**BASE, "methods": {"isolated": {}}})
    exp.name, exp.comparisons = "e", [Comparison("mse", "a", "b", "better")]
    row = mann_whitney_tests(exp, runs).iloc[0]
    assert row["alternative"] == "less" and row["effect"] == 1.0  # every run of a has the lower (better) error


def test_reconstruction_metrics_reach_the_record():
    exp = resolve({**BASE, "methods": {"ae": {"method": "fixture-autoencoder"}}, "reference": "ae",
                   "metrics": ["mse", "masked_mse"]})
    rec = run_job(Job(exp, "ae", 0), progress=False)
    assert 0 < rec["metrics"]["mse"] < 1 and rec["metrics"]["masked_mse"] > 0
    assert "mse/plain" in rec["metrics"] and "accuracy" not in rec["metrics"]


# -- task roles, hidden labels, streams

def test_labelled_mask_rules():
    y = np.repeat(np.arange(4), 25)
    assert labelled_mask(y, "all", 0).all() and not labelled_mask(y, "none", 0).any()
    per_class = labelled_mask(y, {"per_class": 5}, 0)
    assert [int(per_class[y == c].sum()) for c in range(4)] == [5, 5, 5, 5]
    assert labelled_mask(y, {"per_class": 5}, 0).tolist() == per_class.tolist()  # fixed seed
    assert labelled_mask(y, {"fraction": 0.1}, 0).sum() == 10
    with pytest.raises(ValueError, match="target_labels"):
        labelled_mask(y, {"per_class": 1, "fraction": 0.5}, 0)


TRANSFER = {**BASE, "methods": {"da": {"method": "fixture-transfer"}}, "reference": "da",
            "roles": {"plain": "source", "inverted": "target"}, "eval_tasks": ["target"]}


@pytest.mark.parametrize("rule", ["none", {"fraction": 0.2}])
def test_scrambling_hidden_target_labels_leaves_the_record_bit_identical(rule):
    exp = resolve({**TRANSFER, "target_labels": rule})
    first = run_job(Job(exp, "da", 0), progress=False)
    suite = load_suite("embedded")
    target = next(t for t in suite.tasks if t.name == "inverted")
    hidden = ~labelled_mask(target.y_train, rule, exp.label_seed + 1009 * suite.tasks.index(target))
    rng = np.random.RandomState(1)
    target.y_train[hidden] = rng.randint(0, target.num_classes, int(hidden.sum()))
    assert hidden.any()
    save_suite(suite)
    record_path(exp, "da", 0).unlink()
    raw = {**TRANSFER, "target_labels": rule}
    second = run_job(Job(resolve_experiment("e", raw, "quick", params_with(e=raw)), "da", 0), progress=False)
    assert second["config"]["suite_hash"] != first["config"]["suite_hash"]  # the labels on disk did change
    for key in ("metrics", "curves", "method_info", "labels_visible", "eval_tasks"):
        assert json.dumps(first[key]) == json.dumps(second[key]), key
    assert "accuracy/inverted" in first["metrics"] and "accuracy/plain" not in first["metrics"]  # target only


def test_round_robin_and_role_streams_draw_what_they_say():
    from sharebench.benchmarks.sampling import StreamSet

    xs = [torch.full((6, 1, 2, 2), float(t)) for t in range(3)]
    ys = [torch.arange(6) for _ in range(3)]
    masks = [np.ones(6, bool), np.ones(6, bool), np.arange(6) < 2]
    ys[2] = ys[2].masked_fill(~torch.from_numpy(masks[2]), -1)
    s = StreamSet({"rr": "round-robin", "tgt": "target:unlabelled", "src": "source:labelled"},
                  ["source", "task", "target"], masks, xs, ys, 3, seed=0)
    drawn = [s.draw() for _ in range(4)]
    assert [int(d["rr"].tasks[0]) for d in drawn] == [0, 1, 2, 0]
    assert all(d["tgt"].tasks.tolist() == [2] and (d["tgt"].y == -1).all() for d in drawn)
    assert all(d["src"].tasks.tolist() == [0] and (d["src"].y >= 0).all() for d in drawn)


# -- optimiser schedules

def test_lr_schedules():
    h = {"warmup": 2, "schedule": "step", "milestones": [0.5], "gamma": 0.1}
    f = lr_factor(h, 10)
    assert [round(f(i), 6) for i in (0, 1, 4, 5, 9)] == [0.5, 1.0, 1.0, 0.1, 0.1]
    cos = lr_factor({"warmup": 0, "schedule": "cosine", "milestones": [], "gamma": 0.1}, 10)
    assert cos(0) == 1.0 and cos(5) == pytest.approx(0.5) and cos(10) == pytest.approx(0.0)


def test_sgd_with_a_schedule_resumes_exactly():
    exp = resolve({**BASE, "methods": {"isolated": {"optimizer": "sgd", "lr": 0.05, "schedule": "cosine",
                                                    "warmup": 2, "weight_decay": 5e-4}},
                   "profiles": {"quick": {"iterations": 8, "eval_interval": 2, "seeds": 1}}})
    job = Job(exp, "isolated", 0)
    full = run_job(job, progress=False)
    record_path(exp, "isolated", 0).unlink()
    with pytest.raises(KeyboardInterrupt):
        run_job(job, progress=False, stop_after=4)
    resumed = run_job(job, progress=False)
    assert resumed["resumed_from"] == 4 and resumed["metrics"] == full["metrics"]


# -- the model store

def test_a_required_model_is_trained_first_and_kept_under_its_hash():
    roles = {"roles": {"plain": "target"}, "eval_tasks": ["target"], "backbone": "dkl-convnet", "backbone_options": {}}
    teacher = {**BASE, **roles, "methods": {"target-only": {"schedule": "every"}}, "reference": "target-only"}
    student = {**BASE, **roles, "methods": {"kd-hinton": {"schedule": "every"}, "target-only": {}},
               "reference": "kd-hinton",
               "requires": {"source": {"experiment": "teacher", "arm": "target-only", "seed": 0}}}
    params = params_with(teacher=teacher, student=student)
    exps, _ = experiments(params, "quick")
    s = next(e for e in exps if e.name == "student")
    t_job = Job(s.requires["source"].experiment, "target-only", 0)
    save_suite(build_suite("embedded"))
    assert not model_path(t_job.hash).exists()
    rec = run_job(Job(s, "kd-hinton", 0), progress=False)
    assert model_path(t_job.hash).exists() and is_done(t_job)
    assert rec["config"]["requires"] == {"source": {"experiment": "teacher", "arm": "target-only", "seed": 0}}
    assert s.requirements("target-only") == {}  # an arm whose method needs no network neither waits nor depends


def test_pretrained_weights_offline_name_what_is_missing():
    with pytest.raises(DataError, match="resnet18"):
        load_pretrained("torchvision:resnet18")
    with pytest.raises(ValueError, match="timm:<name>"):
        load_pretrained("caffe:alexnet")


# -- records that follow the code

def test_a_record_made_by_other_code_is_not_reused(monkeypatch):
    exp = resolve(dict(BASE))
    job = Job(exp, "isolated", 0)
    run_job(job, progress=False)
    assert is_done(job)
    monkeypatch.setattr("sharebench.benchmarks.provenance.code_fingerprint", lambda method: "other code")
    assert not is_done(Job(exp, "isolated", 0))


def test_fingerprint_covers_the_method_file_not_other_methods():
    from sharebench.benchmarks import provenance

    assert "sharebench.methods.lws" in provenance.method_modules("lws")
    assert "sharebench.methods.lws" not in provenance.method_modules("isolated")
    assert "sharebench.methods.hard_sharing" in provenance.method_modules("lws")


@pytest.mark.parametrize("order", [["error", "accuracy"], ["accuracy", "error"]])
def test_error_and_accuracy_take_one_pass_over_the_test_set_in_either_order(order):
    from sharebench.benchmarks.metrics import evaluate

    class Counting:
        calls = 0

        def predict(self, x, task):
            Counting.calls += 1
            return torch.nn.functional.one_hot(x.flatten(1)[:, 0].long() % 3, 3).double()

    x = torch.arange(10.0).view(10, 1, 1, 1)
    y = torch.zeros(10, dtype=torch.long)
    out = evaluate(Counting(), {"x_test": [x], "y_test": [y]}, ["t"], order, chunk=4)
    assert Counting.calls == 3  # ceil(10 / 4) chunks, once
    assert out["accuracy"] == pytest.approx(0.4) and out["error"] == pytest.approx(0.6)
    assert out["error/t"] == pytest.approx(0.6)


def test_every_module_under_methods_is_part_of_some_fingerprint():
    """A module that computes a job's numbers but is in no fingerprint would let a stale record be reused silently
    (benchmarks/provenance.py): every module of methods/ is shared or named by a method."""
    import pkgutil

    import sharebench.methods as package
    from sharebench.benchmarks.provenance import SHARED_MODULES, method_modules
    from sharebench.methods.registry import METHODS

    modules = {f"sharebench.methods.{info.name}" for info in pkgutil.iter_modules(package.__path__)}
    covered = set(SHARED_MODULES) | {m for name in METHODS for m in method_modules(name)}
    assert modules - covered == set()
