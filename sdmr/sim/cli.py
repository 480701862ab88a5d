"""``sdmr-generate``: make a synthetic depth dataset; ``merge`` shards; ``preview`` a grid PNG."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from sdmr.cli import run_cli


def _int_at_least(low: int):
    """An argparse type: an integer ≥ ``low``, else argparse's one-line error naming the option."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer ≥ {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
        return value

    parse.__name__ = f"integer ≥ {low}"
    return parse


def _generate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdmr-generate",
        description="Generate a WISDOM-layout synthetic depth dataset (pybullet heaps, pyrender depth + masks). "
        "Other commands: 'sdmr-generate merge OUT SHARD_DIR...', 'sdmr-generate preview DIR --output grid.png'.",
    )
    parser.add_argument("--output", required=True, help="dataset folder (resumes if it already holds images)")
    parser.add_argument("--num-images", type=_int_at_least(1), help="images in the whole dataset (all shards)")
    parser.add_argument("--seed", type=_int_at_least(0), help="everything random follows from (seed, heap index)")
    parser.add_argument(
        "--workers", type=_int_at_least(1), default=1, help="processes, each with its own pybullet + renderer"
    )
    parser.add_argument("--config", help="YAML config (default: conf/generate/default.yaml)")
    parser.add_argument(
        "--camera",
        "--preset",
        dest="camera",
        choices=["paper", "sim2real", "sim2real_clutter"],
        help="preset: camera distribution + scene mix (sim2real_clutter: sim2real cameras, heaps pushed "
        "together, stacks, rows of touching boxes, thin objects)",
    )
    parser.add_argument("--scene", choices=["bin", "table", "mix"])
    parser.add_argument("--height", type=_int_at_least(1))
    parser.add_argument("--width", type=_int_at_least(1))
    parser.add_argument("--objects", help="procedural | pybullet_data | PATH to a folder of meshes")
    parser.add_argument("--shard", default="0/1", help="i/k: generate only heaps h with h %% k == i")
    parser.add_argument("--noise", action="store_true", help="add the sensor noise model to depth")
    parser.add_argument("--color", action="store_true", help="also render colour images")
    parser.add_argument("--renderer", choices=["auto", "pyrender", "tiny"])
    parser.add_argument("--no-progress", action="store_true")
    return parser


def _overrides(args: argparse.Namespace) -> dict:
    """Only what was given on the command line overrides the config file; ``--camera`` brings its
    preset's scene mix unless ``--scene`` says otherwise."""
    from sdmr.sim.config import PRESET_SCENE

    out: dict = {}
    if args.camera:
        out["preset"] = args.camera
    for key, value in (("num_images", args.num_images), ("seed", args.seed)):
        if value is not None:
            out[key] = value
    camera = {k: v for k, v in (("height", args.height), ("width", args.width)) if v is not None}
    if camera:
        out["camera"] = camera
    if args.scene or args.camera:
        out["scene"] = {"kind": args.scene or PRESET_SCENE[args.camera]}
    if args.objects:
        out["objects"] = {"source": args.objects}
    render = {}
    if args.color:
        render["color"] = True
    if args.renderer:
        render["backend"] = args.renderer
    if render:
        out["render"] = render
    if args.noise:
        out["noise"] = {"enabled": True}
    return out


def _run_generate(argv: list[str]) -> int:
    from sdmr.sim.config import load_config
    from sdmr.sim.generate import Shard, generate

    args = _generate_parser().parse_args(argv)
    shard = Shard.parse(args.shard)
    cfg = load_config(args.config, _overrides(args))
    summary = generate(cfg, args.output, workers=args.workers, shard=shard, progress=not args.no_progress)
    print(json.dumps(summary))
    return 0


def _run_merge(argv: list[str]) -> int:
    from sdmr.sim.merge import merge_shards

    parser = argparse.ArgumentParser(prog="sdmr-generate merge", description="Merge finished shard folders.")
    parser.add_argument("output")
    parser.add_argument("shards", nargs="+")
    args = parser.parse_args(argv)
    print(merge_shards(args.output, args.shards))
    return 0


def _run_preview(argv: list[str]) -> int:
    from sdmr.viz.preview import preview_grid

    parser = argparse.ArgumentParser(prog="sdmr-generate preview", description="PNG grid of depth + masks.")
    parser.add_argument("dataset")
    parser.add_argument("--output", required=True)
    parser.add_argument("--count", type=_int_at_least(1), default=12)
    parser.add_argument("--columns", type=_int_at_least(1), default=3)
    parser.add_argument("--split", choices=["train", "test"], default=None)
    args = parser.parse_args(argv)
    from sdmr.data.layout import refuse_dataset_file

    refuse_dataset_file(args.output, args.dataset, "--output", may_replace=lambda p: p.suffix.lower() == ".png")
    print(preview_grid(args.dataset, args.output, args.count, args.columns, args.split))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    commands = {"merge": _run_merge, "preview": _run_preview}

    def run() -> int:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        return _run_generate(argv)

    # a bad setting/file is one line and exit 2; Ctrl-C 130 / SIGTERM 143 keep every finished image
    return run_cli(run, "sdmr-generate", "interrupted; every finished image is kept - rerun the same command "
                   "to resume where it stopped")


if __name__ == "__main__":
    sys.exit(main())
