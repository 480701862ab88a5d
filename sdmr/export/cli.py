"""``sdmr-export``: a checkpoint (default: the bundled model) → a verified ONNX / OpenVINO folder.

    sdmr-export --out deploy/                      # the bundled model
    sdmr-export runs/x/checkpoints/last.ckpt --out deploy/ --score-threshold 0.5 --opset 17

Writes ``model.onnx`` (+ ``model.xml``/``model.bin`` where ``openvino`` is installed), ``model.json``
and ``MODEL_CARD.md`` (:mod:`sdmr.export.onnx_export`); run it with ``sdmr-segment ... --checkpoint
deploy/ --backend onnxruntime`` or ``Segmenter("deploy/", backend="onnxruntime")``. Exit 0 when the
export matched torch within the tolerances, 2 on any error (nothing written then).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sdmr.cli import run_cli
from sdmr.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    from sdmr.export.onnx_export import DEFAULT_OPSET

    parser = argparse.ArgumentParser(prog="sdmr-export", description=__doc__.split("\n\n")[0],
                                     epilog="docs/deployment.md: the folder, the backends, the speed.")
    parser.add_argument("checkpoint", nargs="?", default=None,
                        help="a .ckpt from python -m sdmr.train or an export_model .pt (default: the bundled model)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--score-threshold", type=float, default=0.5,
                        help="baked into the graph: the mask head runs only on detections above it (default 0.5); "
                        "a Segmenter may filter higher, never lower")
    parser.add_argument("--num-proposals", type=int, default=None, help="post-NMS proposals (default: the checkpoint's)")
    parser.add_argument("--max-detections", type=int, default=None, help="detections per image (default: the checkpoint's)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET}; ≥ 11)")
    parser.add_argument("--openvino", action=argparse.BooleanOptionalAction, default=None,
                        help="also write OpenVINO IR (default: when the openvino package is installed)")
    parser.add_argument("--overwrite", action="store_true", help="replace an export already in --out")
    return parser


def _main(args: argparse.Namespace) -> int:
    from sdmr.export.onnx_export import export_onnx
    from sdmr.model.bundled import bundled_model_path

    if not 0.0 <= args.score_threshold <= 1.0:
        raise ConfigError(f"--score-threshold must lie in [0, 1], got {args.score_threshold}", fix="e.g. 0.5")
    for flag, value in (("--num-proposals", args.num_proposals), ("--max-detections", args.max_detections)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be >= 1, got {value}", fix=f"leave {flag} out for the checkpoint's value")
    if args.opset < 11:
        raise ConfigError(f"--opset {args.opset}: Mask R-CNN needs opset 11 or later (RoiAlign, NMS)", fix="e.g. --opset 17")
    checkpoint = args.checkpoint or bundled_model_path()
    meta = export_onnx(checkpoint, args.out, args.score_threshold, args.num_proposals, args.max_detections,
                       args.opset, args.openvino, overwrite=args.overwrite)
    files = ", ".join(entry["file"] for entry in meta["files"].values())
    worst = {name: max(r["mask_prob"] for r in reports) for name, reports in meta["verification"]["results"].items()}
    print(f"sdmr-export: {files} + model.json, MODEL_CARD.md → {args.out} (opset {meta['opset']}); verified against "
          f"torch on {len(next(iter(meta['verification']['results'].values())))} images, max mask difference "
          + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _main(args), "sdmr-export", stream=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
