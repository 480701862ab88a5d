"""``sdmr-segment``: run a trained checkpoint on your own depth images.

Writes, per input image, ``labels/<name>.png`` (0 = background, k = object k, highest score
wins where masks overlap; uint8, or uint16 above 255 objects) and ``overlays/<name>.png``
(encoded depth in grey with coloured objects). Finished images are skipped on a re-run, so an
interrupted folder resumes.

    sdmr-segment model.ckpt depth_folder/ --depth-encoding mm16 --out results/
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from sdmr.data.atomic import atomic_write_with
from sdmr.data.depth_io import DEPTH_FILE_ENCODINGS, read_depth
from sdmr.data.errors import DataError
from sdmr.data.folder import FolderDataset
from sdmr.data.instances import Instances
from sdmr.data.layout import label_pixels
from sdmr.model.inference import Segmenter

OVERLAY_ALPHA = 0.5


def label_image(instances: Instances) -> np.ndarray:
    """Overlapping detections → one id image; painted lowest score first so the best one wins."""
    label = np.zeros(instances.image_size, dtype=np.uint16)
    for k in range(len(instances), 0, -1):
        label[instances.masks[k - 1]] = k
    return label_pixels(label, len(instances))


def overlay_image(grey: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Grey [0, 1] image with each label id blended in a distinct colour (uint8 RGB)."""
    from matplotlib import colormaps

    palette = (np.asarray(colormaps["tab20"].colors) * 255).astype(np.float32)
    rgb = np.repeat((np.clip(grey, 0, 1) * 255).astype(np.float32)[..., None], 3, axis=2)
    ids = label.astype(np.int64)
    fg = ids > 0
    colours = palette[(ids[fg] - 1) % len(palette)]
    rgb[fg] = (1 - OVERLAY_ALPHA) * rgb[fg] + OVERLAY_ALPHA * colours
    return rgb.round().astype(np.uint8)


def _save_png(path: Path, pixels: np.ndarray) -> None:
    atomic_write_with(path, lambda buf: Image.fromarray(pixels).save(buf, format="PNG"))


def input_files(inputs: Sequence[str], encoding: str) -> list[Path]:
    """Files given directly, plus the depth files of given folders (chosen by the encoding)."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files.extend(FolderDataset(item, depth_encoding=encoding).files)
        elif item.is_file():
            files.append(item)
        else:
            raise DataError("input not found", item, "pass depth files or folders that exist")
    return files


def segment_files(
    segmenter: Segmenter, files: Sequence[Path], encoding: str, out: Path, overwrite: bool = False
) -> int:
    """Segment every file into ``out``; returns the number of images processed (not skipped)."""
    done = 0
    for path in tqdm(files, desc="sdmr-segment", unit="img"):
        label_path, overlay_path = out / "labels" / f"{path.stem}.png", out / "overlays" / f"{path.stem}.png"
        if not overwrite and label_path.is_file() and overlay_path.is_file():
            continue
        depth = read_depth(path, encoding)
        try:
            image = segmenter.encode(depth)
            instances = segmenter.segment_encoded(image)
        except DataError as err:
            raise DataError(err.problem, path, err.fix) from err
        label = label_image(instances)
        _save_png(overlay_path, overlay_image(image[0].numpy(), label))  # the encoded depth, in grey
        _save_png(label_path, label)  # written last: its presence marks the image done
        done += 1
    return done


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdmr-segment", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help=".ckpt from python -m sdmr.train (or an export_model file)")
    parser.add_argument("inputs", nargs="+", help="depth files and/or folders of depth files")
    parser.add_argument(
        "--depth-encoding",
        required=True,
        choices=DEPTH_FILE_ENCODINGS,
        help="how the files store depth: mm16 (16-bit PNG millimetres), wisdom8 (original 8-bit PNG), npy (metres)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (labels/ and overlays/)")
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument(
        "--proposals", type=int, default=None, help="override the model's post-NMS proposal count"
    )
    parser.add_argument(
        "--int8-box-head", action="store_true", help="CPU: int8 box head, ~25 %% faster, not bit-exact"
    )
    parser.add_argument(
        "--input-scale",
        type=float,
        default=1.0,
        help="resize factor before the model, so objects look as large as in training (e.g. 0.5: 640×480 "
        "frames for a model trained at 256×192)",
    )
    parser.add_argument("--overwrite", action="store_true", help="redo images whose outputs exist")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        files = input_files(args.inputs, args.depth_encoding)
        segmenter = Segmenter(
            args.checkpoint,
            args.score_threshold,
            args.device,
            args.threads,
            num_proposals=args.proposals,
            int8_box_head=args.int8_box_head,
            input_scale=args.input_scale,
        )
        count = segment_files(segmenter, files, args.depth_encoding, args.out, args.overwrite)
    except DataError as err:
        print(f"sdmr-segment: error: {err}")
        return 2
    print(f"sdmr-segment: {count} image(s) segmented, {len(files) - count} already done → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
