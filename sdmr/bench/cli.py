"""``sdmr-bench``: list methods, run them over a dataset split, compare finished runs.

    sdmr-bench --list
    sdmr-bench --method connected_components --dataset DIR --output runs/cc [--param name=value ...]
    sdmr-bench compare runs/cc runs/sdmr --output runs/compare

User mistakes (unknown method, bad parameter, bad data, an output folder that is not ours)
print one ``sdmr-bench: error:`` line and exit 2; Ctrl-C exits 130 (SIGTERM 143) keeping every
finished image, so the same command resumes; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from sdmr.bench.harness import BenchConfig, MethodFailed, run_benchmark
from sdmr.bench.metrics import BACKENDS, PROTOCOLS
from sdmr.bench.registry import MethodNotFound, ParameterError, describe, discover_methods
from sdmr.cli import run_cli
from sdmr.data.errors import DataError

USER_ERRORS = (MethodNotFound, ParameterError, DataError, MethodFailed)
RESUME_HINT = ("interrupted; every finished image is stored in the run folder - rerun the same command "
               "to resume")


def _run_parser() -> argparse.ArgumentParser:
    from sdmr.data.catalog import DATASET_NAMES

    parser = argparse.ArgumentParser(
        prog="sdmr-bench",
        description="Benchmark instance-segmentation methods on depth images (COCO AP/AR + overlap/boundary F). "
        "'sdmr-bench compare RUN_DIR... --output OUT' merges finished runs.",
    )
    parser.add_argument("--list", action="store_true", help="list the installed methods and their parameters")
    parser.add_argument("--method", action="append", default=[], metavar="NAME", help="a method to run (repeatable)")
    parser.add_argument("--methods", default="", metavar="A,B", help="comma-separated methods to run")
    parser.add_argument("--dataset", metavar="PATH", help="dataset folder (or COCO .json)")
    parser.add_argument("--dataset-type", choices=DATASET_NAMES, help="dataset layout (default: detected)")
    parser.add_argument("--split", default="test", help="split to evaluate ('all' = every image; default test)")
    parser.add_argument("--fit-split", default=None, help="call method.fit on this split first (e.g. train)")
    parser.add_argument("--intrinsics", metavar="FILE.intr", default=None,
                        help="camera for datasets that ship none (ocid, folder, coco_json), e.g. conf/cameras/ocid_kinect.intr")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="set a method parameter (METHOD.NAME=VALUE for one of several methods)")
    parser.add_argument("--output", "-o", metavar="DIR", help="run folder to write (resumed if it exists)")
    parser.add_argument("--workers", type=int, default=0, help="parallel worker processes (default: none)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="standard",
                        help="'original': scores set to 1.0, 512×512 padding, bin-mask filtering")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="COCO evaluation backend")
    parser.add_argument("--overlays", type=int, default=3, help="overlay PNGs of the N worst and N best images")
    parser.add_argument("--warmup", type=int, default=1, help="images per process excluded from timing")
    parser.add_argument("--overwrite", action="store_true", help="discard a previous run in --output")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdmr-bench compare",
                                     description="Merge finished runs into one table and PR plot.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--output", "-o", required=True, metavar="DIR")
    return parser


def list_methods() -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        specs = discover_methods()
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if not specs:
        print("no methods installed (entry-point group 'sdmr.methods')")
    for spec in specs.values():
        print(describe(spec))
    return 0


def _selected_methods(args: argparse.Namespace) -> list[str]:
    names = list(args.method) + [m.strip() for m in args.methods.split(",") if m.strip()]
    return list(dict.fromkeys(names))  # keep order, drop repeats


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:

    methods = _selected_methods(args)
    if not methods or not args.dataset or not args.output:
        parser.error("a run needs --method NAME, --dataset PATH and --output DIR (or use --list)")
    config = BenchConfig(
        dataset=args.dataset,
        output=args.output,
        methods=methods,
        dataset_type=args.dataset_type,
        split=None if args.split.lower() in {"all", "none"} else args.split,
        params=list(args.param),
        fit_split=args.fit_split,
        intrinsics=args.intrinsics,
        workers=args.workers,
        limit=args.limit,
        protocol=args.protocol,
        backend=args.backend,
        num_overlays=args.overlays,
        warmup=args.warmup,
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
    )
    run_benchmark(config)
    print((Path(args.output) / "table.md").read_text())
    print(f"run folder: {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def run_command() -> int:
        if argv[:1] == ["compare"]:
            from sdmr.bench.report import compare_runs

            args = _compare_parser().parse_args(argv[1:])
            out = compare_runs(args.runs, args.output)
            print((out / "table.md").read_text())
            return 0
        parser = _run_parser()
        args = parser.parse_args(argv)
        return list_methods() if args.list else run(args, parser)

    return run_cli(run_command, "sdmr-bench", RESUME_HINT, user_errors=USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
