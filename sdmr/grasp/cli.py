"""``sdmr-grasp``: the paper's instance-specific grasping experiment, simulated, for any installed method.

    sdmr-grasp --list
    sdmr-grasp --methods oracle,sdmr,connected_components --trials 50 --seed 0 --output runs/grasp
    sdmr-grasp ... --param sdmr.checkpoint=CKPT --workers 2

User mistakes (unknown method, bad parameter or setting, an output folder that is not ours)
print one ``sdmr-grasp: error:`` line and exit 2; Ctrl-C exits 130 (SIGTERM 143) keeping every
finished trial, so the same command resumes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sdmr.bench.cli import USER_ERRORS, list_methods
from sdmr.cli import run_cli
from sdmr.grasp.config import SCENES, GraspConfig
from sdmr.grasp.oracle import ORACLE, Oracle
from sdmr.grasp.runner import GraspRun, run_grasping

RESUME_HINT = "interrupted; every finished trial is stored in the run folder - rerun the same command to resume"
DEFAULTS = GraspConfig()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdmr-grasp",
        description="Simulated instance-specific grasping (SD Mask R-CNN §VI): pick a named target out of a "
        "pybullet heap using a method's masks; success rate with a 95% Wilson interval per method.")
    parser.add_argument("--list", action="store_true", help="list the methods (the oracle and every sdmr-bench method)")
    parser.add_argument("--methods", default="", metavar="A,B", help=f"comma-separated methods ({ORACLE} = ground truth)")
    parser.add_argument("--output", "-o", metavar="DIR", help="run folder to write (resumed if it exists)")
    parser.add_argument("--trials", type=int, default=DEFAULTS.trials, help="trials per method (default 50)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="trial k is built from (seed, k)")
    parser.add_argument("--scene", choices=SCENES, default=DEFAULTS.scene, help="heaps in a bin or on a table")
    parser.add_argument("--min-objects", type=int, default=DEFAULTS.min_objects)
    parser.add_argument("--max-objects", type=int, default=DEFAULTS.max_objects)
    parser.add_argument("--width", type=int, default=DEFAULTS.width, help="image width (px)")
    parser.add_argument("--height", type=int, default=DEFAULTS.height, help="image height (px)")
    parser.add_argument("--no-noise", action="store_true", help="perfect depth (default: the generator's sensor noise)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="set a method parameter (METHOD.NAME=VALUE for one of several), as in sdmr-bench")
    parser.add_argument("--workers", type=int, default=1, help="parallel trial processes (same results for any number)")
    parser.add_argument("--examples", type=int, default=4, help="trials shown in examples.png (0 = none)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def run_command() -> int:
        parser = _parser()
        args = parser.parse_args(argv)
        if args.list:
            print(f"{ORACLE}  (sdmr.grasp.oracle:Oracle)\n    {Oracle.summary}")
            return list_methods()
        methods = list(dict.fromkeys(m.strip() for m in args.methods.split(",") if m.strip()))
        if not methods or not args.output:
            parser.error("a run needs --methods A,B and --output DIR (or use --list)")
        config = GraspConfig(seed=args.seed, trials=args.trials, scene=args.scene, min_objects=args.min_objects,
                             max_objects=args.max_objects, width=args.width, height=args.height,
                             noise=not args.no_noise)
        run_grasping(GraspRun(output=args.output, methods=methods, config=config, params=list(args.param),
                              workers=args.workers, examples=args.examples, show_progress=not args.no_progress))
        print((Path(args.output) / "table.md").read_text(encoding="utf-8"))
        print(f"run folder: {args.output}")
        return 0

    return run_cli(run_command, "sdmr-grasp", RESUME_HINT, user_errors=USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
