"""Jobs that hand a network to others (the model store) train first and once; their dependents wait for them."""

from __future__ import annotations

import json

import pytest

from sharebench.benchmarks import runner
from sharebench.benchmarks.config import ConfigError, experiments
from sharebench.benchmarks.job_order import plan
from sharebench.benchmarks.runner import Job, has_model, run_jobs
from sharebench.benchmarks.store import model_path
from sharebench.datasets.suites import build_suite, save_suite

ROLES = {"roles": {"plain": "target"}, "eval_tasks": ["target"], "backbone": "mlp",
         "backbone_options": {"hidden": [16]}, "suite": "embedded",
         "profiles": {"quick": {"iterations": 6, "eval_interval": 3, "seeds": 2}}}
TEACHER = {**ROLES, "methods": {"target-only": {}}, "reference": "target-only",
           "profiles": {"quick": {"iterations": 6, "eval_interval": 3, "seeds": 1}}}
STUDENT = {**ROLES, "methods": {"kd-hinton": {}, "target-only": {}}, "reference": "kd-hinton",
           "requires": {"source": {"experiment": "teacher", "arm": "target-only", "seed": 0}}}


@pytest.fixture
def exps():
    save_suite(build_suite("embedded"))
    found, _ = experiments({"experiments": {"teacher": TEACHER, "student": STUDENT}}, "quick")
    return {e.name: e for e in found}


def student_jobs(exps) -> list[Job]:
    return [Job(exps["student"], m, s) for s in (0, 1) for m in ("kd-hinton", "target-only")]


def test_a_missing_source_goes_first_kept_and_its_dependents_wait_for_it(exps):
    run = plan(student_jobs(exps), 1, has_model)
    teacher = "teacher/target-only/seed-0"
    assert [g[0].label for g in run.groups][0] == teacher  # added although its experiment was not selected
    assert run.keep_model == {teacher}
    waits = {g[0].label: w for g, w in zip(run.groups, run.waits_for)}
    assert waits["student/kd-hinton/seed-1"] == {teacher}
    assert waits["student/target-only/seed-0"] == set()  # a baseline needs no network: starts at once
    assert run.levels() == [[0, 2, 4], [1, 3]]
    # the source's own job in the list is the same job, not a second one
    with_own = plan([Job(exps["teacher"], "target-only", 0), *student_jobs(exps)], 1, has_model)
    assert [g[0].label for g in with_own.groups].count(teacher) == 1
    # a source already in the model store is neither added nor waited for
    stored = plan(student_jobs(exps), 1, lambda job: True)
    assert stored.keep_model == set() and not any(stored.waits_for) and len(stored.groups) == 4


def test_in_process_the_source_trains_once_first_and_keeps_its_network(exps, monkeypatch):
    calls = []
    real = runner.run_job

    def counting(job, device="auto", progress=True, stop_after=None, keep_model=False):
        calls.append((job.label, keep_model))
        return real(job, device, progress=progress, stop_after=stop_after, keep_model=keep_model)

    monkeypatch.setattr(runner, "run_job", counting)
    assert run_jobs(student_jobs(exps)) == []
    assert calls[0] == ("teacher/target-only/seed-0", True)
    assert [c[0] for c in calls].count("teacher/target-only/seed-0") == 1 and len(calls) == 5
    assert model_path(Job(exps["teacher"], "target-only", 0).hash).exists()


def test_in_a_pool_the_dependents_start_after_their_source(exps):
    jobs = [*student_jobs(exps), Job(exps["teacher"], "target-only", 0)]  # the source listed last
    assert run_jobs(jobs, n_parallel=2) == []
    records = {j.label: json.loads(runner.record_path(j.experiment, j.method, j.seed).read_text()) for j in jobs}
    teacher = records.pop("teacher/target-only/seed-0")
    assert model_path(teacher["config_hash"]).exists()
    for label in ("student/kd-hinton/seed-0", "student/kd-hinton/seed-1"):
        assert records[label]["finished_at"] >= teacher["finished_at"], label


def test_a_failed_source_stops_its_dependents_and_nothing_else(exps, monkeypatch):
    real = runner.run_job

    def failing(job, device="auto", progress=True, stop_after=None, keep_model=False):
        if job.experiment.name == "teacher":
            raise RuntimeError("loss is nan at iteration 3")
        return real(job, device, progress=progress, stop_after=stop_after, keep_model=keep_model)

    monkeypatch.setattr(runner, "run_job", failing)
    failures = run_jobs(student_jobs(exps))
    assert len(failures) == 3 and "nan" in failures[0]
    assert all("not started" in f and "teacher/target-only/seed-0 failed" in f for f in failures[1:])
    assert runner.is_done(Job(exps["student"], "target-only", 1))  # the baseline needing no network ran


def test_a_circular_requirement_is_refused_when_the_params_are_read(exps):
    loop = {**TEACHER, "methods": {"kd-hinton": {}}, "reference": "kd-hinton",
            "requires": {"source": {"experiment": "loop", "arm": "kd-hinton", "seed": 0}}}
    with pytest.raises(ConfigError, match="cycle"):
        experiments({"experiments": {"loop": loop}}, "quick")
