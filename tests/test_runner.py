"""Jobs: deterministic, resumable, NaN-safe, skipped when their record is current."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sharebench.benchmarks.config import resolve_experiment
from sharebench.benchmarks.runner import (
    Job,
    NonFiniteLossError,
    checkpoint_path,
    is_done,
    record_path,
    run_job,
    run_jobs,
)
from sharebench.datasets.suites import build_suite, save_suite
from sharebench.methods.hard_sharing import Isolated


def tiny_experiment(methods=None, iterations=20):
    save_suite(build_suite("embedded"))
    raw = {"suite": "embedded", "backbone": "dkl-convnet", "reference": "isolated",
           "methods": methods or {"isolated": {}, "shareall": {}},
           "profiles": {"quick": {"iterations": iterations, "eval_interval": 5, "seeds": 2}}}
    return resolve_experiment("tiny", raw, "quick", {})


def strip(record: dict) -> dict:
    """The record without what depends on the clock (times) or on the run's history (where it resumed)."""
    volatile = {"wall_time_s", "finished_at", "resumed_from"}
    out = {k: v for k, v in record.items() if k not in volatile}
    if "cost" in out:
        out["cost"] = {k: v for k, v in out["cost"].items() if k != "train_s_per_step"}
    return out


def assert_resumes_exactly(exp, arm: str, whole: dict, stop_after: int) -> None:
    """Delete the finished record, kill a rerun right after its checkpoint at `stop_after`, resume it: the
    resumed record must equal the uninterrupted one `whole`."""
    record_path(exp, arm, 0).unlink()
    with pytest.raises(KeyboardInterrupt):
        run_job(Job(exp, arm, 0), progress=False, stop_after=stop_after)
    resumed = run_job(Job(exp, arm, 0), progress=False)
    assert resumed["resumed_from"] == stop_after and strip(resumed) == strip(whole)


def test_record_has_what_the_analysis_needs():
    rec = run_job(Job(tiny_experiment(), "isolated", 0), progress=False)
    for key in ("experiment", "method", "seed", "metrics", "curves", "config", "versions", "device", "wall_time_s"):
        assert key in rec
    tasks = {"plain", "inverted", "rotated", "thick", "noisy-parity"}
    assert {k.split("/")[1] for k in rec["metrics"] if k.startswith("accuracy/")} == tasks
    assert rec["curves"]["iteration"] == [0, 5, 10, 15, 20]
    assert rec["metrics"]["accuracy"] == rec["curves"]["metrics"]["accuracy"][-1]
    assert rec["metrics"]["error"] == 1.0 - rec["metrics"]["accuracy"]
    assert rec["config"]["code"]  # which code made it
    on_disk = json.loads(record_path(tiny_experiment(), "isolated", 0).read_text())
    assert on_disk["config_hash"] == rec["config_hash"]


def test_a_record_says_what_the_run_cost():
    from sharebench.benchmarks.analysis import costs_frame
    from sharebench.benchmarks.runner import build_method, prepare

    exp = tiny_experiment()
    rec = run_job(Job(exp, "isolated", 0), progress=False)
    prep, _ = prepare(Job(exp, "isolated", 0), torch.device("cpu"))
    method = build_method(Job(exp, "isolated", 0), torch.device("cpu"), prep.spec, {})
    held = sum(p.numel() for m in vars(method).values() if isinstance(m, torch.nn.Module) for p in m.parameters())
    assert rec["cost"]["parameters_trainable"] == held > 0 and rec["cost"]["parameters_frozen"] == 0
    assert 0 < rec["cost"]["train_s_per_step"] * exp.iterations <= rec["wall_time_s"]  # steps only
    costs = costs_frame([rec, {**rec, "cost": None, "seed": 1}])  # an older record: wall time and device only
    assert costs.parameters_trainable.tolist()[0] == held and costs.wall_time_s.notna().all()


def test_same_seed_same_record_and_other_seed_differs():
    exp = tiny_experiment()
    a = run_job(Job(exp, "shareall", 0), progress=False)
    record_path(exp, "shareall", 0).unlink()
    b = run_job(Job(exp, "shareall", 0), progress=False)
    assert strip(a) == strip(b)
    c = run_job(Job(exp, "shareall", 1), progress=False)
    assert c["curves"]["metrics"]["accuracy"] != a["curves"]["metrics"]["accuracy"]


@pytest.mark.parametrize("method", ["isolated", "lws"])  # lws: two batches per iteration, NES state, entropy
def test_resume_after_interruption_gives_the_uninterrupted_record(method):
    exp = tiny_experiment({"isolated": {}, "lws": {"num_slots": 3}}, iterations=10 if method == "lws" else 20)
    full = run_job(Job(exp, method, 0), progress=False)
    record_path(exp, method, 0).unlink()
    with pytest.raises(KeyboardInterrupt):
        run_job(Job(exp, method, 0), progress=False, stop_after=5 if method == "lws" else 10)
    assert not record_path(exp, method, 0).exists()
    resumed = run_job(Job(exp, method, 0), progress=False)
    assert resumed["resumed_from"] == (5 if method == "lws" else 10)
    assert strip(resumed) == strip(full)
    if method == "lws":
        assert len(full["curves"]["method"]["entropy"]) == len(full["curves"]["iteration"])
        assert len(full["method_info"]["probabilities"]) == 4
    assert not checkpoint_path(full["config_hash"]).exists()  # cleaned up once the record is written


def test_nan_loss_stops_with_the_iteration(monkeypatch):
    exp = tiny_experiment()
    original = Isolated.update

    def poisoned(self, x, y, iteration):
        out = original(self, x, y, iteration)
        return {**out, "loss": math.nan} if iteration == 7 else out

    monkeypatch.setattr(Isolated, "update", poisoned)
    with pytest.raises(NonFiniteLossError, match="iteration 8"):
        run_job(Job(exp, "isolated", 0), progress=False)
    assert not record_path(exp, "isolated", 0).exists()
    assert run_jobs([Job(exp, "isolated", 0)]) != []  # reported as a failure, nothing written


def test_changing_one_method_retrains_only_that_method():
    exp = tiny_experiment(iterations=10)
    jobs = [Job(exp, m, s) for m in exp.methods for s in exp.seeds]
    assert run_jobs(jobs) == []
    assert all(is_done(j) for j in jobs)
    changed = tiny_experiment({"isolated": {}, "shareall": {"lr": 0.002}}, iterations=10)
    new_jobs = [Job(changed, m, s) for m in changed.methods for s in changed.seeds]
    assert [j.method for j in new_jobs if not is_done(j)] == ["shareall", "shareall"]


def test_finished_records_survive_their_output_folder_being_reset():
    """What an interrupted `dvc exp run` does to the train stage's output on restart."""
    import shutil

    from sharebench.benchmarks.runner import results_root

    exp = tiny_experiment(iterations=10)
    job = Job(exp, "isolated", 0)
    first = run_job(job, progress=False)
    shutil.rmtree(results_root() / "runs")
    assert is_done(job)  # restored from data/records, not retrained
    assert json.loads(record_path(exp, "isolated", 0).read_text()) == first


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_parallel_jobs_write_the_same_records_as_serial(start, monkeypatch):
    from multiprocessing import get_context

    from sharebench.benchmarks import runner

    monkeypatch.setattr(runner, "worker_context", lambda: get_context(start))
    exp = tiny_experiment(iterations=10)
    serial = run_job(Job(exp, "isolated", 1), progress=False)
    record_path(exp, "isolated", 1).unlink()
    assert run_jobs([Job(exp, "isolated", 1), Job(exp, "shareall", 1)], n_parallel=2) == []
    parallel = json.loads(record_path(exp, "isolated", 1).read_text())
    assert strip(parallel) == strip(serial)


def test_submitit_executor_writes_the_same_records_and_skips_done_jobs(tmp_path):
    """The Slurm path, run through submitit's local executor: records land in the same store, equal to a
    local run's, and a second call submits nothing."""
    from sharebench.benchmarks.executors import slurm_options

    exp = tiny_experiment(iterations=10)
    serial = run_job(Job(exp, "isolated", 1), progress=False)
    record_path(exp, "isolated", 1).unlink()
    options = slurm_options({"folder": str(tmp_path / "submitit"), "timeout_min": 10})
    jobs = [Job(exp, "isolated", 1), Job(exp, "shareall", 1)]
    assert run_jobs(jobs, executor="submitit-local", slurm=options) == []
    assert strip(json.loads(record_path(exp, "isolated", 1).read_text())) == strip(serial)
    assert is_done(Job(exp, "shareall", 1))
    submitted = sorted((tmp_path / "submitit").iterdir())
    assert len(submitted) == 2  # one submitit job per job
    assert run_jobs(jobs, executor="submitit-local", slurm=options) == []
    assert sorted((tmp_path / "submitit").iterdir()) == submitted  # nothing left to submit


def test_unknown_slurm_option_is_a_config_error():
    from sharebench.benchmarks.config import ConfigError
    from sharebench.benchmarks.executors import slurm_options

    with pytest.raises(ConfigError, match="unknown option"):
        slurm_options({"partitoin": "gpu"})


def test_a_weight_bank_reports_the_parameters_in_use_and_the_shared_fraction():
    from sharebench.benchmarks.runner import parameter_counts
    from sharebench.methods import TaskSpec, create_method

    spec = TaskSpec(["a", "b", "c"], [10, 10, 10], (16, 16, 1), ("task", "task", "task"))
    counts = {m: parameter_counts(create_method(m, spec, "dkl-convnet", {}, total_iterations=5))
              for m in ("isolated", "shareall", "partial")}
    assert counts["isolated"]["parameters_in_use"] == 3 * counts["shareall"]["parameters_in_use"]
    assert counts["isolated"]["shared_fraction"] == 0.0 and counts["shareall"]["shared_fraction"] == 1.0
    assert 0.0 < counts["partial"]["shared_fraction"] < 1.0  # the first layer shared, the rest per task
