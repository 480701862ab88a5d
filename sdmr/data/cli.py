"""``sdmr-data``: check, describe and convert datasets from the shell.

sdmr-data check PATH [--dataset NAME] [--depth-encoding E]   # exit 1 if problems were found
sdmr-data info PATH [--dataset NAME]
sdmr-data to-coco PATH OUT.json [--split S] [--dataset NAME] [--depth-encoding E]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sdmr.cli import run_cli
from sdmr.data.catalog import DATASET_NAMES, depth_encoding_kwargs, detect_dataset, open_dataset
from sdmr.data.check import check_dataset
from sdmr.data.depth_io import DEPTH_FILE_ENCODINGS
from sdmr.data.layout import refuse_dataset_file
from sdmr.data.sample import Sample


def cmd_check(args: argparse.Namespace) -> int:
    report = check_dataset(args.path, args.dataset, args.depth_encoding, progress=not args.quiet)
    print(report.format_table())
    return 0 if report.ok else 1


def describe(dataset: Sequence[Sample], name: str, root: Path) -> list[tuple[str, str]]:
    """Rows for ``sdmr-data info``: what is there, without reading every image."""
    rows = [("dataset", f"{name} at {root}"), ("images", str(len(dataset)))]
    layout = getattr(dataset, "layout", None)
    if layout:
        rows.append(("layout", layout))
    if name in ("wisdom_sim", "wisdom_real"):
        for split in ("train", "test"):
            path = dataset.index_path(split)
            if path.is_file():
                rows.append((f"split {split}", str(len(open_dataset(name, root, split=split)))))
    if len(dataset):
        first = dataset[0]
        h, w = first["depth"].shape
        rows.append(("image size (h×w)", f"{h}×{w} (first image)"))
        if hasattr(dataset, "depth_path"):
            path, encoding = dataset.depth_path(first["image_id"])
            rows.append(("depth file", f"{path.name} ({encoding})"))
        rows.append(("labelled", "yes" if first["instances"] is not None else "no"))
        rows.append(("camera", str(first["intrinsics"]) if first["intrinsics"] is not None else "none"))
    manifest = getattr(dataset, "manifest", None)
    if manifest:
        rows += manifest_rows(manifest)
    return rows


def _count(value: object) -> str:
    return str(len(value)) if isinstance(value, list | dict) else str(value)


def manifest_rows(manifest: dict) -> list[tuple[str, str]]:
    """A few short rows of what ``manifest.json`` says: counts, never its lists of object names."""
    head = f"{manifest.get('format', '?')} v{manifest.get('version', '?')}, {manifest.get('num_images', '?')} images"
    rows = [("manifest", head)]
    splits = manifest.get("splits")
    if isinstance(splits, dict):
        rows.append(("  splits", ", ".join(f"{k} {v}" for k, v in splits.items())))
    depth = manifest.get("depth")
    if isinstance(depth, dict):
        rows.append(("  depth", json.dumps(depth, sort_keys=True)))
    has = [name for key, name in (("has_amodal", "amodal"), ("has_color", "colour"), ("has_bin_mask", "bin masks"))
           if manifest.get(key)]  # fmt: skip
    rows.append(("  extras", ", ".join(has) or "none"))
    metadata = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    made = metadata.get("generator") or manifest.get("created_by")
    if made:
        rows.append(("  made by", str(made)))
    config = metadata.get("config")
    if isinstance(config, dict):
        rows.append(("  generator", ", ".join(f"{k} {config[k]}" for k in ("preset", "seed", "views_per_heap")
                                               if k in config)))  # fmt: skip
    objects = metadata.get("objects")
    if isinstance(objects, dict):
        parts = [f"source {objects.get('source')}"]
        parts += [f"{k} {_count(objects[k])}" for k in ("train", "test") if k in objects]
        if "names" in objects:
            parts.append(f"{_count(objects['names'])} named (see manifest.json)")
        rows.append(("  objects", ", ".join(parts)))
    if metadata.get("merged_from"):
        rows.append(("  merged from", f"{_count(metadata['merged_from'])} shards"))
    return rows


def cmd_info(args: argparse.Namespace) -> int:
    name = args.dataset or detect_dataset(args.path)
    dataset = open_dataset(name, args.path, **depth_encoding_kwargs(name, args.depth_encoding, args.path))
    rows = describe(dataset, name, Path(args.path))
    width = max(len(r[0]) for r in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    return 0


def cmd_to_coco(args: argparse.Namespace) -> int:
    from sdmr.data.coco import export_coco

    name = args.dataset or detect_dataset(args.path)
    kwargs = depth_encoding_kwargs(name, args.depth_encoding, args.path)
    refuse_dataset_file(args.out, args.path, "OUT")  # before reading anything
    dataset = open_dataset(name, args.path, split=args.split, **kwargs)

    out = export_coco(
        dataset, args.out, description=f"{name} {args.path} split={args.split}", progress=True, out_argument="OUT"
    )
    num_annotations = len(json.loads(Path(out).read_text())["annotations"])
    print(f"wrote {out}: {len(dataset)} images, {num_annotations} annotations")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdmr-data", description="Check, describe and convert sdmr datasets."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dataset", choices=DATASET_NAMES, help="dataset kind (default: detected from the folders)"
        )
        p.add_argument(
            "--depth-encoding", choices=DEPTH_FILE_ENCODINGS, help="encoding of PNG/plain depth files"
        )

    check = sub.add_parser("check", help="validate every file; exit 1 if problems were found")
    check.add_argument("path")
    check.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    common(check)
    check.set_defaults(func=cmd_check)
    info = sub.add_parser("info", help="manifest, counts, image size, encodings")
    info.add_argument("path")
    common(info)
    info.set_defaults(func=cmd_info)
    to_coco = sub.add_parser("to-coco", help="export labelled images as COCO JSON (RLE masks)")
    to_coco.add_argument("path")
    to_coco.add_argument("out")
    to_coco.add_argument("--split", default=None, help="train | test | all (default: all, every image)")
    common(to_coco)
    to_coco.set_defaults(func=cmd_to_coco)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: args.func(args), "sdmr-data",
                   "interrupted; nothing of the dataset was changed - rerun the same command")


if __name__ == "__main__":
    sys.exit(main())
