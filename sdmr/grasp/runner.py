"""A grasping run: trials × methods, one JSONL record per (method, trial), resumable and parallel.

Trial k's heap is built once and every pending method attempts it (each on the heap rebuilt at
rest), so methods are compared on identical scenes. Each record is appended (``ProgressLog``,
fsync'd) before the next trial starts, so a killed run continues where it stopped; trials that are
done for every method are skipped. ``workers > 1`` runs trials in spawned processes (each its own
pybullet client, GL context and copy of the methods); every trial process computes with one
thread, so the records are the same bytes for any number of workers.

Run folder::

    run_config.json  results.json  table.md  table.csv  trials.csv  examples.png
    methods/<name>/trials.jsonl  timings.jsonl  method.json
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sdmr.bench.harness import method_overrides, package_versions
from sdmr.bench.progress import ProgressLog
from sdmr.bench.registry import ParameterError, build_method
from sdmr.data.atomic import atomic_write_text
from sdmr.data.lock import FolderLock
from sdmr.data.safe_load import load_json_object
from sdmr.errors import ConfigError, DataError
from sdmr.grasp.attempt import attempt
from sdmr.grasp.config import GraspConfig, check_config
from sdmr.grasp.identify import TargetModel
from sdmr.grasp.oracle import ORACLE, Oracle
from sdmr.grasp.outcomes import summarize
from sdmr.grasp.report import write_examples, write_tables
from sdmr.grasp.world import TrialWorld

RUN_CONFIG = "run_config.json"
SCHEMA_VERSION = 1


@dataclass
class GraspRun:
    """Everything one ``sdmr-grasp`` run needs (``config`` goes to ``run_config.json``)."""

    output: str
    methods: list[str]
    config: GraspConfig = field(default_factory=GraspConfig)
    params: list[str] = field(default_factory=list)  # "method.name=value" or "name=value", as sdmr-bench
    workers: int = 1
    examples: int = 4  # trials shown in examples.png
    show_progress: bool = True


def route_params(methods: list[str], params: list[str]) -> dict[str, list[str]]:
    """``--param`` items per method, as ``sdmr-bench`` routes them; the oracle takes none."""
    for item in params:
        if item.partition("=")[0].strip().startswith(f"{ORACLE}."):
            raise ParameterError(f"--param {item!r}: the oracle has no parameters")
    routed = method_overrides([m for m in methods if m != ORACLE], params)
    return {m: routed.get(m, []) for m in methods}


def build_methods(routed: dict[str, list[str]], world: TrialWorld | None) -> dict[str, Any]:
    """Every method by name, the oracle wired to ``world`` (None: only to check settings)."""
    return {name: Oracle(world.truth_of if world else lambda sample: None) if name == ORACLE
            else build_method(name, items) for name, items in routed.items()}


def _notes(method: Any) -> dict:
    notes = getattr(method, "result_notes", None)
    return notes() if notes is not None else {}


def _one_thread() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


class TrialRunner:
    """One process's world and methods; ``run(k, names)`` gives the records of trial k."""

    def __init__(self, cfg: GraspConfig, routed: dict[str, list[str]], world: TrialWorld | None = None):
        self.cfg = cfg
        self._owns_world = world is None
        self.world = TrialWorld(cfg) if world is None else world
        self.methods = build_methods(routed, self.world)
        _one_thread()

    def close(self) -> None:
        if self._owns_world:
            self.world.close()

    def run(self, k: int, names: list[str]) -> list[tuple[str, dict, dict]]:
        start = time.perf_counter()
        trial = self.world.trial(k)
        model = TargetModel(self.world.reference_views(trial.heap.objects[trial.target], self.cfg.target_views))
        scene_seconds = time.perf_counter() - start
        results = []
        for name in names:
            record, timing = attempt(self.world, trial, self.methods[name], model, self.cfg)
            record["method"] = name  # the registered name, whatever the class calls itself
            results.append((name, record, {**timing, "scene": scene_seconds}))
        return results


_WORKER: dict[str, Any] = {}


def _init_worker(cfg: GraspConfig, routed: dict[str, list[str]], gl_threads: int) -> None:
    from sdmr.cli import ignore_sigint_in_worker

    ignore_sigint_in_worker()
    os.environ.setdefault("LP_NUM_THREADS", str(gl_threads))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        _WORKER["runner"] = TrialRunner(cfg, routed)
    except Exception as err:  # noqa: BLE001 - a failing Pool initializer respawns for ever; report it instead
        _WORKER["error"] = err


def _run_in_worker(task: tuple[int, list[str]]) -> list[tuple[str, dict, dict]]:
    if "runner" not in _WORKER:
        raise RuntimeError(f"worker could not start: {_WORKER.get('error')!r}")
    return _WORKER["runner"].run(*task)


def _stored_config(run: GraspRun) -> dict:
    """What must match to resume: every setting but the number of trials (a run may be extended)."""
    return {k: v for k, v in run.config.as_dict().items() if k != "trials"}


def _start_folder(run: GraspRun, methods: dict[str, Any], routed: dict[str, list[str]]) -> None:
    out = Path(run.output)
    path = out / RUN_CONFIG
    stored = {"schema_version": SCHEMA_VERSION, "config": _stored_config(run)}
    fix = "rerun with the settings in that file, or choose a new --output folder"
    if path.exists():
        previous = load_json_object(path, "grasping run settings", fix, fix)
        if previous.get("config") != stored["config"]:
            changed = sorted(k for k in stored["config"] if previous.get("config", {}).get(k) != stored["config"][k])
            raise DataError(f"the folder holds a run with other settings ({', '.join(changed)}), so it cannot be resumed",
                            path, fix)
    atomic_write_text(path, json.dumps(stored, indent=2, sort_keys=True))
    for name, method in methods.items():
        params = getattr(method, "params", None)
        info = {"name": name, "param_overrides": routed[name],
                "params": dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {}}
        info_path = out / "methods" / name / "method.json"
        if info_path.exists():
            previous = load_json_object(info_path, f"{name}'s settings", fix, fix)
            if previous != json.loads(json.dumps(info, default=str)):
                raise DataError(f"method {name!r} ran here with other parameters, so it cannot be resumed",
                                info_path, "pass the same --param values, or choose a new --output folder")
        atomic_write_text(info_path, json.dumps(info, indent=2, default=str))


def _check(run: GraspRun) -> None:
    from sdmr.cli import check_output_dir

    check_config(run.config)
    if not run.methods:
        raise ParameterError("no method selected: pass --methods oracle,sdmr,... (see sdmr-grasp --list)")
    for option, value in (("--workers", run.workers), ("--examples", run.examples)):
        if value < (1 if option == "--workers" else 0):
            raise ConfigError(f"{option} must be >= {1 if option == '--workers' else 0}, got {value}",
                              fix=f"pass {option} 1")
    check_output_dir(run.output, "--output", (RUN_CONFIG,), "an sdmr-grasp run folder (no run_config.json)")


def run_grasping(run: GraspRun) -> dict:
    """Run (or resume) every trial for every method and write the run folder; returns ``results.json``."""
    _check(run)
    routed = route_params(run.methods, run.params)
    methods = build_methods(routed, None)  # bad parameters fail here, before any scene is built
    world = TrialWorld(run.config)  # this process's: trial 0 for check_ready, then the examples
    try:
        sample = world.trial(0).sample
        for method in methods.values():  # e.g. a method without its weights: refused before any work
            check = getattr(method, "check_ready", None)  # optional hooks, as sdmr-bench calls them
            if check is not None:
                check(sample, False)
        return _run_in_folder(run, routed, methods, world)
    finally:
        world.close()


def _run_in_folder(run: GraspRun, routed: dict[str, list[str]], methods: dict[str, Any], world: TrialWorld) -> dict:
    out = Path(run.output)
    with FolderLock(out, "sdmr-grasp"):
        _start_folder(run, methods, routed)
        logs = {name: ProgressLog(out / "methods" / name / "trials.jsonl") for name in run.methods}
        timings = {name: ProgressLog(out / "methods" / name / "timings.jsonl") for name in run.methods}
        tasks = [(k, [n for n in run.methods if not logs[n].done(k)]) for k in range(run.config.trials)]
        tasks = [(k, names) for k, names in tasks if names]
        _run_tasks(run, routed, tasks, logs, timings, world)
        records = {name: [r for r in logs[name].ordered() if r["trial"] < run.config.trials] for name in run.methods}
        seconds = {name: [t["total"] for t in timings[name].ordered() if t["position"] < run.config.trials]
                   for name in run.methods}
        document = {
            "schema_version": SCHEMA_VERSION,
            "methods": {name: {**summarize(records[name], seconds[name]), **_notes(methods[name])}
                        for name in run.methods},
            "config": run.config.as_dict(),
            "versions": package_versions(),
        }
        write_tables(out, document, records)
        if run.examples:
            by_trial = {name: {r["trial"]: r for r in recs} for name, recs in records.items()}
            write_examples(out / "examples.png", world, list(range(min(run.examples, run.config.trials))), by_trial)
    return document


def _run_tasks(run: GraspRun, routed: dict[str, list[str]], tasks: list[tuple[int, list[str]]],
               logs: dict[str, ProgressLog], timings: dict[str, ProgressLog], world: TrialWorld) -> None:
    total = run.config.trials
    bar = tqdm(total=total, initial=total - len(tasks), unit="trial", desc="sdmr-grasp", disable=not run.show_progress)

    def store(results: list[tuple[str, dict, dict]]) -> None:
        for name, record, timing in results:
            logs[name].append(record)
            timings[name].append(timing)
        bar.update()

    try:
        if run.workers <= 1 or len(tasks) <= 1:
            runner = TrialRunner(run.config, routed, world)
            try:
                for task in tasks:
                    store(runner.run(*task))
            finally:
                runner.close()
            return
        ctx = mp.get_context("spawn")  # a fresh interpreter per worker: own pybullet and GL context
        gl_threads = max(1, (os.cpu_count() or 1) // run.workers)
        with ctx.Pool(run.workers, _init_worker, (run.config, routed, gl_threads)) as pool:
            for results in pool.imap_unordered(_run_in_worker, tasks, chunksize=1):
                store(results)
    finally:
        bar.close()
