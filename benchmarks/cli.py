"""The `sharebench` command: prepare -> train -> analyze -> report (the dvc stages), plus import/list."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from sharebench.benchmarks.config import (
    ConfigError,
    Experiment,
    active_profile,
    experiments,
    has_profile,
    load_params,
    results_root,
)
from sharebench.benchmarks.executors import EXECUTORS

log = logging.getLogger("sharebench")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    p.add_argument("--profile", choices=["quick", "small", "paper"], help="override the profile in params")
    p.add_argument("--experiment", "-e", action="append", help="only this experiment (repeatable)")


def _load(args: argparse.Namespace) -> tuple[dict, str, list[Experiment], list[str]]:
    params = load_params(args.params)
    profile = active_profile(params, args.profile)
    exps, skipped = experiments(params, profile, args.experiment)
    return params, profile, exps, skipped


def cmd_prepare(args: argparse.Namespace) -> int:
    from sharebench.datasets.fetch import data_root
    from sharebench.datasets.importer import import_source
    from sharebench.datasets.sources import get_source
    from sharebench.datasets.suites import build_suite, save_suite

    params, profile, exps, _ = _load(args)
    mirror = os.environ.get("SHAREBENCH_MIRROR", "")
    for name in (params.get("profiles", {}).get(profile) or {}).get("import_from_mirror", []) or []:
        source = get_source(name)
        if (data_root() / "imported" / source.directory).exists() or not mirror:
            continue
        folder = Path(mirror) / (source.mirror_import or source.directory)
        if folder.exists():
            log.warning("importing %s from %s as declared in params.yaml (import_from_mirror); runs on it are "
                        "marked as not checksum-verified", name, folder)
            for line in import_source(name, folder):
                log.info("  %s", line)
    suites = sorted({e.suite for e in exps} | set(args.suite or []))
    options = params.get("suites") or {}
    for name in suites:
        suite = build_suite(name, **(options.get(name) or {}))
        digest = save_suite(suite)
        log.info("suite %s: %d tasks, hash %s%s", name, len(suite.tasks), digest,
                 "" if suite.checksum_verified else " (contains imported data, not checksum-verified)")
        for note in suite.notes:
            log.info("  note: %s", note)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    profile = active_profile(params, args.profile)
    if args.experiment and not any(has_profile(name, params, profile) for name in args.experiment):
        write_status([], list(args.experiment), profile)  # a dvc stage outside the profile: no torch import
        log.info("experiment(s) %s have no settings for profile %s; not run", ", ".join(args.experiment), profile)
        return 0
    from sharebench.benchmarks.runner import Job, run_jobs

    params, profile, exps, skipped = _load(args)
    # seed-major: an interrupted or partial run leaves every method with about the same number of seeds
    jobs = [Job(e, m, s) for e in exps for s in e.seeds[: args.seeds] for m in e.methods
            if not args.method or m in args.method]
    if args.method:
        unknown = set(args.method) - {m for e in exps for m in e.methods}
        if unknown:
            raise ConfigError(f"method(s) {sorted(unknown)} are not in the selected experiments")
    for name in skipped:
        log.info("experiment %s has no settings for profile %s; not run", name, profile)
    write_status(exps, skipped, profile)
    slurm = {**(params.get("slurm") or {}), **{k: v for k, v in {
        "partition": args.slurm_partition, "gpus_per_node": args.slurm_gpus, "timeout_min": args.slurm_time,
        "cpus_per_task": args.slurm_cpus, "mem_gb": args.slurm_mem}.items() if v is not None}}
    executor = args.executor or params.get("train_executor", "local")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    pack = args.pack if args.pack is not None else int(params.get("train_pack", 1))
    failures = run_jobs(jobs, args.jobs, args.device, executor=executor, slurm=slurm, pack=pack)
    for f in failures:
        log.error("FAILED %s", f)
    return 1 if failures else 0


def write_status(exps: list[Experiment], skipped: list[str], profile: str) -> None:
    """results/runs/<experiment>/status.json: what the active profile asks of each experiment."""
    import json

    from sharebench.datasets.atomic import atomic_write_text

    for e in exps:
        atomic_write_text(results_root() / "runs" / e.name / "status.json", json.dumps(
            {"profile": profile, "active": True, "methods": list(e.methods), "seeds": e.seeds}, indent=1))
    for name in skipped:
        atomic_write_text(results_root() / "runs" / name / "status.json",
                          json.dumps({"profile": profile, "active": False}, indent=1))


def cmd_analyze(args: argparse.Namespace) -> int:
    from sharebench.benchmarks.analysis import analyze

    _, _, exps, _ = _load(args)
    frames = analyze(exps, Path(args.out))
    log.info("wrote %s/summary.csv (%d rows), tests.csv (%d tests)", args.out, len(frames["summary"]),
             len(frames["tests"]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sharebench.benchmarks.report import write_report

    _, profile, exps, skipped = _load(args)
    index = write_report(exps, skipped, Path(args.results), Path(args.out), profile)
    log.info("wrote %s", index)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Every reproduced cell against the paper's number (results/cell-verdicts.csv); exit 1 when a cell run on the
    paper's own data and budget is not consistent with it, naming the cells (CI's check of paper-profile records)."""
    import pandas as pd

    from sharebench.benchmarks.papers import registered_papers
    from sharebench.benchmarks.render import CELL_COLUMNS, cell_verdicts

    _, profile, exps, _ = _load(args)
    results = Path(args.results)
    summary = pd.read_csv(results / "summary.csv")
    rows = [cell for paper in registered_papers()
            for cell in cell_verdicts(paper, {e.name: e for e in exps if e.benchmark == paper.key}, summary)]
    frame = pd.DataFrame(rows, columns=CELL_COLUMNS)
    frame.to_csv(results / "cell-verdicts.csv", index=False)
    compared = frame[frame.verdict.isin(["consistent", "better than the paper", "worse than the paper"])]
    off = compared[compared.verdict != "consistent"]
    log.info("profile %s: %d cells run, %d on the paper's setting with a spread to compare, %d consistent; wrote %s",
             profile, int((frame.ours != "—").sum()), len(compared), len(compared) - len(off),
             results / "cell-verdicts.csv")
    for cell in off.itertuples():
        log.error("%s, %s, %s / %s (`%s`, arm `%s`): paper %s, ours %s: %s", cell.paper, cell.table, cell.row,
                  cell.column, cell.experiment, cell.arm, cell.paper_value, cell.ours, cell.verdict)
    return 1 if len(off) else 0


def cmd_import(args: argparse.Namespace) -> int:
    from sharebench.datasets.importer import import_source

    for line in import_source(args.source, args.path, unverified=args.unverified):
        log.info("imported %s: %s", args.source, line)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from sharebench.datasets.sources import SOURCES
    from sharebench.datasets.suites import suite_names
    from sharebench.methods import get_method, method_names
    from sharebench.methods.networks import BACKBONES

    print("methods:")
    for m in method_names():
        print(f"  {m}: {get_method(m).HPARAMS}")
    print("backbones:", ", ".join(sorted(BACKBONES)))
    print("suites:", ", ".join(suite_names()))
    print("sources:", ", ".join(sorted(SOURCES)))
    if Path(args.params).exists():
        _, profile, exps, skipped = _load(args)
        print(f"experiments in profile {profile}:", ", ".join(e.name for e in exps) or "-",
              f"(not run: {', '.join(skipped)})" if skipped else "")
    return 0


def cmd_speed(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from sharebench.benchmarks import speed

    for case in args.case:
        if case not in speed.CASES:
            raise ConfigError(f"unknown case {case!r}; known: {', '.join(speed.CASES)}")
    rows = speed.speed_table(args.case, args.threads, args.repeats, args.baseline)
    print(tabulate(rows, headers="keys", floatfmt=".2f", tablefmt="github"))
    if args.eval:
        torch_threads = _one_thread()
        print(f"\nevaluation of 29,500 DKL test images (28 px), 1 thread: "
              f"{speed.eval_seconds('lws'):.2f} s (lws), {speed.eval_seconds('isolated'):.2f} s (isolated)")
        torch_threads()
    return 0


def _one_thread():
    """Set torch to one thread; returns the function that restores the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    return lambda: torch.set_num_threads(before)


def cmd_profile(args: argparse.Namespace) -> int:
    import torch

    from sharebench.benchmarks import speed

    if args.case not in speed.CASES:
        raise ConfigError(f"unknown case {args.case!r}; known: {', '.join(speed.CASES)}")
    torch.set_num_threads(args.threads)
    pair = speed.lws_pair(args.case) if args.method == "lws" else speed.baseline_pair(args.method, args.case)
    step = pair.released if args.released else pair.ours
    print(f"{'released code' if args.released else 'suite'}: {pair.name}, {args.threads} thread(s), "
          f"{args.iterations} steps")
    print(speed.profile_table(step, args.iterations, args.rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sharebench", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="download/verify sources and write the suites of the active profile")
    _common(p)
    p.add_argument("--suite", action="append", help="also build this suite")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="run every (experiment, method, seed) job that has no up-to-date record")
    _common(p)
    p.add_argument("--method", "-m", action="append", help="only this method (repeatable)")
    p.add_argument("--seeds", type=int, help="only the first N seeds")
    p.add_argument("--jobs", "-j", type=int, default=1, help="jobs run in parallel (one CPU thread each)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--pack", type=int, help="train up to N seeds of one arm as one packed model (GPU; default: "
                   "params' train_pack, else 1 = no packing)")
    p.add_argument("--executor", help=f"{' | '.join(EXECUTORS)} (default: params' train_executor, else local)")
    p.add_argument("--slurm-partition", help="Slurm partition (overrides params' slurm: block)")
    p.add_argument("--slurm-gpus", type=int, help="GPUs per job")
    p.add_argument("--slurm-time", type=int, help="time limit per job, minutes (it resumes when requeued)")
    p.add_argument("--slurm-cpus", type=int, help="CPUs per job")
    p.add_argument("--slurm-mem", type=int, help="memory per job, GB")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("analyze", help="summary.csv, tests.csv (Mann-Whitney U, Holm), curves, metrics.json")
    _common(p)
    p.add_argument("--out", default="results")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("report", help="render report/index.md (+ html) with tables and figures")
    _common(p)
    p.add_argument("--results", default="results")
    p.add_argument("--out", default="report")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("check", help="reproduced cells against the papers' numbers; exit 1 when a cell on the "
                       "paper's setting is not consistent")
    _common(p)
    p.add_argument("--results", default="results")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("import", help="import a user-provided copy of a source (recorded, marked unverified)")
    p.add_argument("source", help="source name, e.g. fashion-mnist, omniglot, usps")
    p.add_argument("path", help="folder with the official file names, an .npz of standard arrays, or "
                                "the Omniglot folder / zip")
    p.add_argument("--unverified", action="store_true", help="accept a copy that cannot be verified")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("speed", help="time training steps against the released code's structure (ratios)")
    p.add_argument("--case", action="append", help="dkl (default), quick, T20-K20 (repeatable)")
    p.add_argument("--threads", type=int, action="append", help="torch threads (default: 1 and 2)")
    p.add_argument("--repeats", type=int, default=10, help="timed steps per side (medians)")
    p.add_argument("--baseline", action="append", help="baseline methods to time (default: isolated, shareall)")
    p.add_argument("--no-eval", dest="eval", action="store_false", help="skip the evaluation timing")
    p.set_defaults(func=cmd_speed)

    p = sub.add_parser("profile", help="where one training step's time goes (torch.profiler table)")
    p.add_argument("--method", default="lws", help="lws or a baseline (isolated, shareall, partial)")
    p.add_argument("--case", default="dkl")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--rows", type=int, default=25)
    p.add_argument("--released", action="store_true", help="profile the released code's step instead")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("list", help="registered methods, backbones, suites, sources, experiments")
    _common(p)
    p.set_defaults(func=cmd_list)
    return parser


SPEED_DEFAULTS = {"case": ["dkl"], "threads": [1, 2], "baseline": ["isolated", "shareall"]}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for key, default in SPEED_DEFAULTS.items():  # argparse's append cannot have a replaceable default
        if getattr(args, key, "absent") is None:
            setattr(args, key, default)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    from sharebench.datasets.errors import DataError

    try:
        return args.func(args)
    except (ConfigError, DataError, KeyError, ValueError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"sharebench: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
