"""In which order jobs run: a network that one job hands to others (the model store) is trained first, once.

A CETL arm `requires` a source network that another experiment's job trains. Run side by side, every
dependent job whose source is missing would train it itself (the same work twice or more, two writers of one
model file), and a source job run on its own would not keep its network, so its dependents would train it again.
`plan` therefore adds every missing source to the run, marked to keep its network in the model store, before
the jobs that need it; the runner starts a group only when the sources it waits for have finished, and
reports a group whose source failed as failed without starting it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sharebench.benchmarks.packed_runs import pack_groups
from sharebench.benchmarks.runner import Job


@dataclass
class Plan:
    """Groups to run (one job, or packed seeds of one arm), each with the labels of the source jobs it waits for."""

    groups: list[list[Job]] = field(default_factory=list)
    waits_for: list[set[str]] = field(default_factory=list)
    keep_model: set[str] = field(default_factory=set)  # labels of jobs whose final state the model store keeps

    def levels(self) -> list[list[int]]:
        """Group indices in waves: a wave needs only groups of earlier waves (for executors without callbacks)."""
        level: dict[str, int] = {}
        out: list[list[int]] = []
        for i, group in enumerate(self.groups):  # sources come before their dependents in `groups`
            depth = max((level[s] + 1 for s in self.waits_for[i] if s in level), default=0)
            for job in group:
                level[job.label] = depth
            while len(out) <= depth:
                out.append([])
            out[depth].append(i)
        return out


def source_jobs(job: Job) -> list[Job]:
    """The jobs whose trained networks `job` needs from the model store (not pretrained weights, not untrained
    controls, which are built on the spot)."""
    return [Job(r.experiment, r.arm, r.seed) for r in job.experiment.requirements(job.method).values()
            if r.experiment is not None and not r.pretrained and not r.untrained]


def plan(todo: list[Job], pack: int, model_exists: Callable[[Job], bool]) -> Plan:
    """The run of `todo`: every source job a job needs whose model is missing goes first, alone and kept (even
    when its record exists or its experiment was not selected); the other jobs are packed by `pack`."""
    sources: dict[str, Job] = {}  # in dependency order: a source after the sources it needs
    waits: dict[str, set[str]] = {}

    def add_sources(job: Job) -> set[str]:  # no cycles: config refuses them when the params are read
        needed = set()
        for src in source_jobs(job):
            if model_exists(src):
                continue
            if src.label not in sources:
                waits[src.label] = add_sources(src)
                sources[src.label] = src
            needed.add(src.label)
        return needed

    for job in todo:
        waits[job.label] = add_sources(job)
    result = Plan(keep_model=set(sources))
    for label, src in sources.items():
        result.groups.append([src])
        result.waits_for.append(waits[label])
    for group in pack_groups([j for j in todo if j.label not in sources], pack):
        result.groups.append(group)
        result.waits_for.append(set().union(*(waits[j.label] for j in group)))
    return result
