"""Count detections on generated empty tables and bins with sensor corruption: the phantom-object test.

    python scripts/count_phantoms.py [--checkpoint CKPT] [--scenes 10] [--score-threshold 0.5]

Renders ``--scenes`` empty tables and as many empty bins (sim2real cameras, 320×240), corrupts each
with the training-time sensor model (sdmr.data.corruption, seeded) and prints how many objects the
model reports per scene kind. The bundled model is used without ``--checkpoint``. Every detection is
a phantom: there is nothing there.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from sdmr.data.corruption import CorruptionConfig, corrupt_depth
from sdmr.data.errors import DataError
from sdmr.model.inference import Segmenter
from sdmr.sim.empty import empty_scenes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="a .ckpt or export file (default: the bundled model)")
    parser.add_argument("--scenes", type=int, default=10, help="empty scenes per kind (table, bin)")
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-height-above-plane", type=float, default=None, help="the geometric filter (m)")
    parser.add_argument("--trim-below-height", type=float, default=None, help="the table-pixel trim (m)")
    parser.add_argument("--surface-ratio", type=float, default=None, help="the wall/table patch filter")
    args = parser.parse_args(argv)
    settings = {"score_threshold": args.score_threshold, "min_height_above_plane": args.min_height_above_plane}
    if args.trim_below_height is not None:
        settings["trim_below_height"] = args.trim_below_height
    if args.surface_ratio is not None:
        settings["surface_ratio"] = args.surface_ratio
    try:
        segmenter = Segmenter(args.checkpoint, **settings) if args.checkpoint else Segmenter.default(**settings)
    except DataError as err:
        print(f"count_phantoms: error: {err}", file=sys.stderr)
        return 2
    counts: dict[str, list[int]] = {}
    for kind in ("table", "bin"):
        for number, (depth, intrinsics) in enumerate(empty_scenes(args.scenes, kind, seed=args.seed)):
            noisy = corrupt_depth(depth, CorruptionConfig(), np.random.default_rng([args.seed, number, len(kind)]))
            counts.setdefault(kind, []).append(len(segmenter.segment(noisy, intrinsics)))
    summary = {kind: {"scenes": len(c), "phantoms": int(sum(c)), "scenes_with_phantoms": int(np.count_nonzero(c))}
               for kind, c in counts.items()}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
