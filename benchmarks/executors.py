"""Running jobs off this machine: one Slurm job per (experiment, arm, seed), through submitit.

`sharebench train --executor slurm` (or `train_executor: slurm` in params.yaml, which the DVC train stages
read) submits every job that has no current record as one element of a Slurm job array and waits for them.
Each job runs `run_job` on the node, so it reads the suites from and writes its record to the same
`data/` and `results/` folders (they must be on a file system the nodes share): the record store, the
skipping of finished jobs and the resuming from checkpoints are those of a local run. A job that Slurm
preempts or times out is requeued by submitit and resumes from its last checkpoint (`Checkpointable`);
running `train` again after a failure submits only the jobs still missing.

`--executor submitit-local` runs the same submission path on this machine, in subprocesses (the tests use
it; no cluster needed). The default, `local`, is the process pool of `runner.run_jobs`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sharebench.benchmarks.config import ConfigError

log = logging.getLogger(__name__)

EXECUTORS = ("local", "slurm", "submitit-local")
SLURM_DEFAULTS: dict[str, Any] = {
    "partition": None,     # Slurm partition (None: the cluster's default)
    "gpus_per_node": 1,
    "cpus_per_task": 4,
    "mem_gb": 16,
    "timeout_min": 240,    # per job; a job that runs out is requeued and resumes from its checkpoint
    "array_parallelism": 32,  # at most this many jobs of the array at once
    "folder": None,           # submitit's logs and pickles (None: <data root>/slurm)
    "additional": {},         # any other sbatch option, e.g. {account: myproject, qos: normal}
}


def slurm_options(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """SLURM_DEFAULTS updated by `overrides` (params.yaml's `slurm:` block and CLI flags); unknown keys are errors."""
    overrides = overrides or {}
    unknown = set(overrides) - set(SLURM_DEFAULTS)
    if unknown:
        raise ConfigError(f"slurm: unknown option(s) {sorted(unknown)}; known: {', '.join(SLURM_DEFAULTS)}")
    return {**SLURM_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}


def make_executor(kind: str, options: dict[str, Any]):
    """A submitit executor for `kind` ("slurm" or "submitit-local") with the options of `slurm_options`."""
    try:
        import submitit
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise ConfigError("--executor slurm needs submitit (pip install submitit)") from err
    from sharebench.datasets.fetch import data_root

    folder = Path(options["folder"] or data_root() / "slurm") / "%j"
    if kind == "submitit-local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=options["timeout_min"])
        return executor
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    params = {"timeout_min": options["timeout_min"], "gpus_per_node": options["gpus_per_node"],
              "cpus_per_task": options["cpus_per_task"], "mem_gb": options["mem_gb"],
              "slurm_array_parallelism": options["array_parallelism"], "name": "sharebench"}
    if options["partition"]:
        params["slurm_partition"] = options["partition"]
    if options["additional"]:
        params["slurm_additional_parameters"] = dict(options["additional"])
    executor.update_parameters(**params)
    return executor


class JobTask:
    """One job on a node: `run_job`, which resumes from the job's checkpoint if there is one.

    submitit calls `checkpoint` when Slurm preempts or times the job out; resubmitting the same call is
    enough, since `run_job` checkpoints at every evaluation."""

    def __init__(self, environment: dict[str, str]):
        self.environment = environment  # SHAREBENCH_* of the submitting shell: the same data and results folders

    def __call__(self, group, device: str, keep_model: bool = False) -> str:
        os.environ.update(self.environment)
        from sharebench.benchmarks.runner import _worker

        return _worker(group, device, keep_model)

    def checkpoint(self, group, device: str, keep_model: bool = False):
        import submitit

        return submitit.helpers.DelayedSubmission(self, group, device, keep_model)


def run_with_submitit(run, device: str, kind: str, options: dict[str, Any]) -> list[str]:
    """Submit the groups of `run` (a `job_order.Plan`) and wait; returns the failures as `runner.run_jobs` does.

    One job array per wave of the plan: source networks first, then the jobs that need them (a job array has
    no dependencies between its elements). A group whose source failed is not submitted."""
    executor = make_executor(kind, options)
    from sharebench.benchmarks.runner import _blocked, _group_label, _keeps, results_root
    from sharebench.datasets.fetch import data_root

    environment = {k: v for k, v in os.environ.items() if k.startswith("SHAREBENCH_")}
    environment.update(SHAREBENCH_DATA=str(data_root().resolve()), SHAREBENCH_RESULTS=str(results_root().resolve()))
    task = JobTask(environment)
    failures: list[str] = []
    failed: set[str] = set()
    for wave in run.levels():
        groups = []
        for i in wave:
            if run.waits_for[i] & failed:
                failures.append(_blocked(run.groups[i], run.waits_for[i] & failed, failed))
            else:
                groups.append(run.groups[i])
        if not groups:
            continue
        submitted = executor.map_array(task, groups, [device] * len(groups), [_keeps(run, g) for g in groups])
        log.info("submitted %d job(s) to %s (%s)", len(submitted), kind,
                 ", ".join(sorted({str(s.job_id).split("_")[0] for s in submitted})))
        for group, handle in zip(groups, submitted):
            try:
                log.info("%s", handle.result())
            except Exception as err:  # noqa: BLE001 - report every failure, keep waiting for the others
                log.error("%s failed (submitit job %s): %s", _group_label(group), handle.job_id, err)
                failures.append(f"{_group_label(group)}: {err}")
                failed.update(j.label for j in group)
    return failures
