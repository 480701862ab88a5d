#!/usr/bin/env python
"""Trials per minute of ``sdmr-grasp``: one process (the peer) against ``--workers 2``, same trials, same run.

Each setting runs the same ``--trials`` (heap k from (seed, k)) for every method in ``--methods`` into
a fresh temporary folder and is timed wall-clock from the call to the written report (model load,
scene simulation, rendering, segmentation, planning and pybullet execution included). It prints
trials per minute (one trial = one heap attempted by every method), method-trials per minute, the
minutes that 50 trials per method would take (the goal: ≤ 5), and the speed-up over one process; it
also checks that both settings wrote the same ``trials.csv`` (identical results for any worker count).

    OMP_NUM_THREADS=1 python benchmarks/grasp.py [--trials 20] [--methods oracle,sdmr,connected_components,...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sdmr.grasp import GraspConfig, GraspRun, run_grasping

DEFAULT_METHODS = "oracle,sdmr,connected_components,euclidean_clustering,region_growing"
GOAL_TRIALS, GOAL_MINUTES = 50, 5.0


def timed_run(folder: Path, methods: list[str], trials: int, workers: int, params: list[str]) -> float:
    start = time.perf_counter()
    run_grasping(GraspRun(output=str(folder), methods=methods, config=GraspConfig(trials=trials), params=params,
                          workers=workers, examples=0, show_progress=False))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--param", action="append", default=["preset=paper_lowres"],
                        help="method parameters, as sdmr-grasp takes them (default: the README run's)")
    parser.add_argument("--workers", type=int, default=2, help="the setting compared with one process")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sdmr_grasp_bench_") as tmp:
        for workers in (1, args.workers):
            folder = Path(tmp) / f"workers{workers}"
            seconds = timed_run(folder, methods, args.trials, workers, args.param)
            rows.append((workers, seconds, (folder / "trials.csv").read_bytes()))
        same = rows[0][2] == rows[1][2]
    print(f"sdmr-grasp, {args.trials} trials × {len(methods)} methods ({', '.join(methods)}), "
          f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print("| workers | wall s | trials/min | method-trials/min | min for 50 trials/method | vs 1 process |")
    print("|---|---|---|---|---|---|")
    for workers, seconds, _ in rows:
        per_minute = args.trials / seconds * 60
        print(f"| {workers} | {seconds:.1f} | {per_minute:.1f} | {per_minute * len(methods):.1f} | "
              f"{GOAL_TRIALS / per_minute:.2f} | {rows[0][1] / seconds:.2f}× |")
    best = min(seconds for _, seconds, _ in rows) / args.trials * GOAL_TRIALS / 60
    print(f"goal: {GOAL_TRIALS} trials per method in ≤ {GOAL_MINUTES:.0f} min → "
          f"{'met' if best <= GOAL_MINUTES else 'NOT met'} ({best:.2f} min at the faster setting)")
    print(f"same trials.csv for 1 and {args.workers} workers: {same}")


if __name__ == "__main__":
    main()
