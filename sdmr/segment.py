"""``sdmr-segment``: segment your own depth images with the bundled model (or ``--checkpoint PATH``).

Inputs are files, folders (searched recursively) and globs of depth images; the format follows
the file name unless ``--depth-encoding`` names it: ``.png`` 16-bit millimetres (``mm16``),
``.npy``/``.npz`` float metres, ``.tif``/``.tiff`` 32-bit float metres; the original WISDOM
8-bit PNG needs ``--depth-encoding wisdom8``. ``--depth-scale`` multiplies the decoded depth for
files in other units (``.npy`` in millimetres: 0.001).

Writes, per input image (``<name>`` = its path relative to the folder given, or its file stem):
``labels/<name>.png`` (0 = background, k = object k, highest score wins where masks overlap;
uint8, or uint16 above 255 objects), ``overlays/<name>.png`` (encoded depth in grey, objects
coloured) and ``detections/<name>.json`` (COCO results: RLE masks, boxes, scores). At the end,
``detections.json`` + ``images.json`` hold every image's detections in one COCO results file
(``image_id`` = position in ``images.json``). Finished images are skipped on a re-run, so an
interrupted folder resumes. A file that cannot be read or segmented does not stop the others: it
is named at the end and the exit code is 1 (2 = a usage error before any image).

    sdmr-segment frames/ --out results/ --intrinsics 615,615,320,240
    sdmr-segment 'scans/**/*.npy' --out results/ --checkpoint runs/x/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from sdmr.cli import run_cli
from sdmr.data.atomic import atomic_write_png, atomic_write_text
from sdmr.data.coco import mask_annotations
from sdmr.data.depth_io import DEPTH_FILE_ENCODINGS, DEPTH_FILE_PATTERNS
from sdmr.data.errors import DataError
from sdmr.data.folder import PinholeParameters, read_sample
from sdmr.data.instances import Instances, paint_labels
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.layout import label_pixels
from sdmr.data.lock import FolderLock
from sdmr.errors import ConfigError
from sdmr.export.backends import BACKENDS
from sdmr.model.inference import (
    DEFAULT_CONTAINED_FRACTION,
    DEFAULT_SURFACE_RATIO,
    DEFAULT_TRIM_BELOW_HEIGHT,
    InputScale,
    Segmenter,
    check_input_scale,
)
from sdmr.viz import overlay

OVERLAY_ALPHA = 0.5
#: ``--depth-encoding auto``: the encoding a file's suffix stands for (8-bit WISDOM PNGs need the flag).
SUFFIX_ENCODINGS = {".png": "mm16", ".npy": "npy", ".npz": "npy", ".tif": "tiff", ".tiff": "tiff"}
#: Suffixes taken for the sdmr checkpoint in the old ``sdmr-segment CKPT INPUT...`` form.
CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")
OUTPUT_DIRS = ("labels", "overlays", "detections")
#: Warnings about the run, not one image (each is raised once): printed without a file, not counted.
RUN_WARNINGS = ("InputScaleWarning", "PointCloudWarning")
RESUME_HINT = "interrupted; every finished image is kept - rerun the same command to resume (done images are skipped)"


def label_image(instances: Instances) -> np.ndarray:
    """Overlapping detections → one id image (:func:`~sdmr.data.instances.paint_labels`: the highest score wins)."""
    return label_pixels(paint_labels(instances.masks, instances.scores), len(instances))


def overlay_image(grey: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Grey [0, 1] image with each label id blended in its palette colour and outlined (uint8 RGB,
    pixel-aligned with the label image, so no caption band)."""
    return overlay(grey, label, OVERLAY_ALPHA)


@dataclass(frozen=True)
class InputFile:
    """One depth file, how to decode it, and the output name (unique within a run)."""

    path: Path
    encoding: str
    name: str

    def output(self, out: Path, kind: str) -> Path:
        return out / kind / f"{self.name}{'.json' if kind == 'detections' else '.png'}"


def _encoding_for(path: Path, encoding: str) -> str:
    if encoding != "auto":
        return encoding
    if path.suffix.lower() not in SUFFIX_ENCODINGS:
        raise DataError(
            f"cannot tell the depth format from the suffix '{path.suffix}'",
            path,
            f"pass --depth-encoding ({', '.join(DEPTH_FILE_ENCODINGS)})",
        )
    return SUFFIX_ENCODINGS[path.suffix.lower()]


def _folder_files(folder: Path, encoding: str, exclude: Path | None) -> list[Path]:
    patterns = (
        sorted({p for ps in DEPTH_FILE_PATTERNS.values() for p in ps}) if encoding == "auto"
        else DEPTH_FILE_PATTERNS[encoding]
    )
    found = set()
    for pattern in patterns:
        for path in folder.rglob(pattern):
            relative = path.relative_to(folder)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            if exclude is not None and path.resolve().is_relative_to(exclude):
                continue  # our own outputs, when --out lies inside an input folder
            found.add(path)
    return sorted(found)


def input_files(inputs: Sequence[str], encoding: str = "auto", out: Path | None = None) -> list[InputFile]:
    """Files, folders (recursive; names keep their relative path) and globs → unique output names.

    Two inputs that would write the same output name are refused before any work, rather than
    one silently overwriting the other.
    """
    exclude = out.resolve() if out is not None else None
    files: dict[Path, InputFile] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = _folder_files(path, encoding, exclude)
            if not found:
                raise DataError(
                    "folder holds no depth files",
                    path,
                    f"depth files end in {', '.join(sorted(SUFFIX_ENCODINGS))} (or pass --depth-encoding)",
                )
            entries = [(p, p.relative_to(path).with_suffix("").as_posix()) for p in found]
        elif path.is_file():
            entries = [(path, path.stem)]
        elif any(c in item for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise DataError("no file matches this pattern", item, "check the pattern (quote it for **)")
            entries = [(p, p.stem) for p in matches]
        else:
            raise DataError("input not found", path, "pass depth files, folders or globs that exist")
        for file, name in entries:
            files.setdefault(file.resolve(), InputFile(file, _encoding_for(file, encoding), name))
    by_name: dict[str, list[Path]] = {}
    for entry in files.values():
        by_name.setdefault(entry.name, []).append(entry.path)
    clashes = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    if clashes:
        name, paths = next(iter(clashes.items()))
        raise DataError(
            f"{len(clashes)} output name(s) would be written by several inputs, e.g. '{name}' by "
            f"{', '.join(map(str, paths[:3]))}",
            paths[0],
            "pass their common parent folder (outputs keep paths relative to it), segment them into "
            "different --out folders, or choose one format with --depth-encoding",
        )
    return list(files.values())


def parse_intrinsics(text: str) -> CameraIntrinsics | PinholeParameters:
    """``--intrinsics``: a ``.intr``/JSON file, or ``fx,fy,cx,cy`` in pixels (the size comes from each image)."""
    parts = text.split(",")
    if len(parts) == 4:
        try:
            fx, fy, cx, cy = (float(p) for p in parts)
        except ValueError:
            raise DataError(
                f"--intrinsics {text!r} is not four numbers", fix="write fx,fy,cx,cy in pixels, e.g. 615,615,320,240"
            ) from None
        CameraIntrinsics(fx, fy, cx, cy, 1, 1)  # validates the focal lengths now, not per image
        return fx, fy, cx, cy
    return CameraIntrinsics.load(text)


@dataclass
class RunReport:
    segmented: int = 0
    skipped: int = 0
    objects: int = 0
    seconds: float = 0.0
    failed: list[tuple[Path, str]] | None = None
    warned: dict[str, list[Path]] | None = None

    def __post_init__(self) -> None:
        self.failed = [] if self.failed is None else self.failed
        self.warned = {} if self.warned is None else self.warned


def _segment_one(
    segmenter: Segmenter,
    item: InputFile,
    out: Path,
    image_id: int,
    depth_scale: float,
    intrinsics: CameraIntrinsics | PinholeParameters | None,
    warn: Callable[[Path, Warning], None],
) -> int:
    sample = read_sample(item.path, item.encoding, intrinsics, image_id, item.name)
    depth = sample["depth"]
    if depth_scale != 1.0:
        depth = (depth * depth_scale).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            instances, image = segmenter.segment_and_encode(depth, sample["intrinsics"])
        except DataError as err:
            raise DataError(err.problem, item.path, err.fix) from err
    for warning in caught:
        warn(item.path, warning.message)
    label = label_image(instances)
    atomic_write_png(item.output(out, "overlays"), overlay_image(image[0].numpy(), label))  # encoded depth, grey
    detections = mask_annotations(instances.masks, image_id, instances.scores)
    atomic_write_text(item.output(out, "detections"), json.dumps(detections))
    atomic_write_png(item.output(out, "labels"), label)  # written last: its presence marks the image done
    return len(instances)


def segment_files(
    segmenter: Segmenter,
    files: Sequence[InputFile],
    out: Path,
    overwrite: bool = False,
    depth_scale: float = 1.0,
    intrinsics: CameraIntrinsics | PinholeParameters | None = None,
    progress: bool = True,
) -> RunReport:
    """Segment every file into ``out``; one that fails is recorded in the report, the rest go on."""
    report = RunReport()
    start = time.perf_counter()
    bar = tqdm(files, desc="sdmr-segment", unit="img", disable=not progress)

    def warn(path: Path, message: Warning) -> None:
        kind = type(message).__name__
        paths = report.warned.setdefault(kind, [])
        if not paths:  # the first of each kind in full; the rest are counted in the summary
            where = "" if kind in RUN_WARNINGS else f"{path}: "
            bar.write(f"sdmr-segment: warning: {where}{message}", file=sys.stderr)
        paths.append(path)

    for image_id, item in enumerate(bar):
        if not overwrite and all(item.output(out, kind).is_file() for kind in OUTPUT_DIRS):
            report.skipped += 1
            continue
        try:
            report.objects += _segment_one(segmenter, item, out, image_id, depth_scale, intrinsics, warn)
            report.segmented += 1
        except (DataError, OSError, ValueError, RuntimeError) as err:  # one bad file must not stop a folder
            named = isinstance(err, DataError) and err.path is not None
            report.failed.append((item.path, str(err) if named else f"{item.path}: {type(err).__name__}: {err}"))
    report.seconds = time.perf_counter() - start
    _write_index(files, out)
    return report


def _write_index(files: Sequence[InputFile], out: Path) -> None:
    """``images.json`` + ``detections.json``: every finished image's detections in one COCO results file."""
    images, detections = [], []
    for item in files:
        label_path, json_path = item.output(out, "labels"), item.output(out, "detections")
        if not (label_path.is_file() and json_path.is_file()):
            continue
        image_id = len(images)
        with Image.open(label_path) as label:
            width, height = label.size
        images.append({"id": image_id, "file_name": str(item.path), "name": item.name,
                       "height": height, "width": width})
        detections.extend(dict(d, image_id=image_id) for d in json.loads(json_path.read_text()))
    if images:
        atomic_write_text(out / "images.json", json.dumps(images))
        atomic_write_text(out / "detections.json", json.dumps(detections))


def _input_scale(text: str) -> InputScale:
    try:
        return check_input_scale(text)
    except DataError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdmr-segment",
        description="Segment your own depth images with the bundled model (or --checkpoint PATH); see docs/segment.md.",
        epilog="Exit codes: 0 all images done; 1 some images failed (named at the end); 2 usage error.",
    )
    parser.add_argument("inputs", nargs="+", help="depth files, folders (recursive) and/or globs")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="a .ckpt from python -m sdmr.train or an export_model file (default: the bundled model)",
    )
    parser.add_argument(
        "--depth-encoding",
        default="auto",
        choices=("auto", *DEPTH_FILE_ENCODINGS),
        help="auto (default): from the suffix (.png mm16, .npy/.npz metres, .tif/.tiff float metres); "
        "wisdom8 = the original 8-bit PNG",
    )
    parser.add_argument(
        "--depth-scale", type=float, default=1.0,
        help="multiply the decoded depth by this to get metres (e.g. 0.001 for .npy in millimetres)",
    )
    parser.add_argument(
        "--intrinsics", default=None,
        help="camera: a .intr/JSON file or fx,fy,cx,cy in pixels; sets the auto input scale",
    )
    parser.add_argument(
        "--input-scale", type=_input_scale, default="auto",
        help="auto (default: the model's training focal length / fx of --intrinsics; 1.0 without them) or a "
        "resize factor (e.g. 0.5: 640×480 frames for a model trained at 256×192)",
    )
    parser.add_argument(
        "--min-height-above-plane", type=float, default=None, metavar="M",
        help="geometric verification (off by default): drop masks whose median height above the RANSAC "
        "support plane is under M metres (e.g. 0.015 removes flat phantoms of sensor noise)",
    )
    parser.add_argument(
        "--trim-below-height", type=float, default=DEFAULT_TRIM_BELOW_HEIGHT, metavar="M",
        help=f"cut from every mask the pixels less than M metres above the support plane, the coarse mask "
        f"edge that spills onto the table (default {DEFAULT_TRIM_BELOW_HEIGHT}; 0 = off)",
    )
    parser.add_argument(
        "--surface-ratio", type=float, default=DEFAULT_SURFACE_RATIO, metavar="R",
        help="drop flat masks whose plane runs on beyond them over R times their area: patches of bin walls "
        f"and bare tables (default {DEFAULT_SURFACE_RATIO}; 0 = off)",
    )
    parser.add_argument(
        "--contained-fraction", type=float, default=DEFAULT_CONTAINED_FRACTION, metavar="F",
        help="drop a mask with at least F of its pixels inside a higher-scoring mask: a part reported next "
        f"to its whole object (default {DEFAULT_CONTAINED_FRACTION or 0}; 0 = off)",
    )
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the detector")
    parser.add_argument(
        "--backend", choices=BACKENDS, default="torch",
        help="where the detector runs: torch (default), or onnxruntime/openvino for an sdmr-export folder "
        "passed as --checkpoint (a checkpoint is exported on first use and cached); docs/deployment.md",
    )
    parser.add_argument(
        "--proposals", type=int, default=None, help="override the model's post-NMS proposal count"
    )
    parser.add_argument(
        "--int8-box-head", action="store_true", help="CPU: int8 box head, ~25 %% faster, not bit-exact"
    )
    parser.add_argument("--overwrite", action="store_true", help="redo images whose outputs exist")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _summary(report: RunReport, out: Path) -> str:
    rate = f", {report.seconds / report.segmented:.2f} s/image" if report.segmented else ""
    text = (
        f"sdmr-segment: {report.segmented} image(s) segmented, {report.skipped} already done, "
        f"{len(report.failed)} failed; {report.objects} object(s){rate} → {out}"
    )
    for kind, paths in report.warned.items():
        if kind not in RUN_WARNINGS:
            text += f"\nsdmr-segment: {kind} for {len(paths)} image(s) (first: {paths[0]}; message above)"
    if report.failed:
        text += "\nfailed:" + "".join(f"\n  {message}" for _, message in report.failed)
    return text


def check_device(text: str, option: str = "--device") -> str:
    """A torch device string that exists on this machine, else a ``ConfigError`` naming ``option``."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"{option} {text!r} is not a torch device", fix=f"pass {option} cpu, or cuda / cuda:0 "
                          "on a machine with a GPU") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"{option} {text}: this machine has no CUDA GPU", fix=f"pass {option} cpu")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"{option} {text}: there is no such GPU (this machine has {count}: "
                              f"cuda:0..cuda:{count - 1})", fix=f"pass {option} cuda:0 (or cpu)")
    elif device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"{option} {text}: MPS is not available here", fix=f"pass {option} cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{option} {text!r}: sdmr-segment runs on cpu or cuda", fix=f"pass {option} cpu")
    return text


def check_arguments(args: argparse.Namespace, inputs: Sequence[str]) -> None:
    """Every number and the output folder, before a model is loaded or anything is written."""
    from sdmr.cli import check_output_dir

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}", fix="pass --threads 1 (or leave it out)")
    if args.proposals is not None and args.proposals < 1:
        raise ConfigError(f"--proposals must be >= 1, got {args.proposals}", fix="e.g. --proposals 1000")
    if not 0.0 <= args.score_threshold <= 1.0:
        raise ConfigError(f"--score-threshold must lie in [0, 1], got {args.score_threshold}",
                          fix="pass a detection confidence, e.g. --score-threshold 0.5")
    for flag, value, high, what in (
        ("--trim-below-height", args.trim_below_height, float("inf"), "a height in metres, e.g. 0.005"),
        ("--surface-ratio", args.surface_ratio, float("inf"), "a multiple of the mask's area, e.g. 1.5"),
        ("--contained-fraction", args.contained_fraction, 1.0, "a fraction of the mask's pixels, e.g. 0.8"),
    ):  # the Segmenter checks these too, in its keyword names; here they are named as the user typed them
        if value is not None and not 0 <= value <= high:
            raise ConfigError(f"{flag} must lie in [0, {high:g}], got {value}", fix=f"pass {what} (0 switches the stage off)")
    if args.min_height_above_plane is not None and not args.min_height_above_plane > 0:
        raise ConfigError(f"--min-height-above-plane must be positive, got {args.min_height_above_plane}",
                          fix="pass a height in metres, e.g. 0.015 (leave it out to switch the stage off)")
    check_device(args.device)
    out = args.out.resolve() if args.out.exists() else None
    is_input = out is not None and any(Path(item).is_dir() and Path(item).resolve() == out for item in inputs)
    check_output_dir(args.out, "--out", () if is_input else (*OUTPUT_DIRS, "images.json", "detections.json"),
                     "an sdmr-segment output (labels/, overlays/, detections/)")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, then run; every way a run ends is one line and an exit code (:func:`sdmr.cli.run_cli`)."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _main(args), "sdmr-segment", RESUME_HINT, stream=sys.stdout)


def _main(args: argparse.Namespace) -> int:
    inputs = list(args.inputs)
    if args.checkpoint is None and len(inputs) > 1 and Path(inputs[0]).suffix in CHECKPOINT_SUFFIXES:
        args.checkpoint = inputs.pop(0)  # the old `sdmr-segment CKPT INPUT...` form
        print("sdmr-segment: note: pass the checkpoint as --checkpoint PATH (the positional form is deprecated)",
              file=sys.stderr)
    try:
        check_arguments(args, inputs)
        if not args.depth_scale > 0:
            raise DataError(f"--depth-scale must be positive, got {args.depth_scale}",
                            fix="pass the factor that turns the file's unit into metres (mm: 0.001)")
        files = input_files(inputs, args.depth_encoding, args.out)
        intrinsics = parse_intrinsics(args.intrinsics) if args.intrinsics else None
        settings = {
            "score_threshold": args.score_threshold,
            "device": args.device,
            "num_threads": args.threads,
            "num_proposals": args.proposals,
            "int8_box_head": args.int8_box_head,
            "input_scale": args.input_scale,
            "min_height_above_plane": args.min_height_above_plane,
            "trim_below_height": args.trim_below_height,
            "surface_ratio": args.surface_ratio,
            "contained_fraction": args.contained_fraction,
            "backend": args.backend,
        }
        segmenter = Segmenter(args.checkpoint, **settings) if args.checkpoint else Segmenter.default(**settings)
        if segmenter.input_spec.needs_color:
            raise ConfigError(
                f"{args.checkpoint} reads colour images (input spec {segmenter.input_spec.describe()}); "
                "sdmr-segment reads depth only",
                fix="segment with a depth model, or call Segmenter(checkpoint).segment(depth, color=rgb) from "
                "Python, or benchmark it with sdmr-bench on a dataset with color_ims/",
            )
    except DataError as err:
        print(f"sdmr-segment: error: {err}", file=sys.stderr)
        return 2
    with FolderLock(args.out, "sdmr-segment"):  # one writer per output folder
        report = segment_files(
            segmenter, files, args.out, args.overwrite, args.depth_scale, intrinsics, progress=not args.no_progress
        )
    print(_summary(report, args.out))
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
