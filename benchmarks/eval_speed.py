"""Seconds to score 1,000 images' detections: pycocotools vs faster-coco-eval vs sdmr.bench.metrics.

Every pipeline starts from the same bool masks (what a method returns) and ends with
AP/AR, so mask → RLE encoding is inside every timing. The peer is what a user writes by
hand with pycocotools: encode, ``loadRes``, ``COCOeval`` with its default parameters
(4 area ranges × 3 detection limits), ``summarize``. Ours evaluates the one area range and
one detection limit the paper reports; ``backend="sdmr"`` is our numpy matcher working on the
masks directly (no RLE encoding). Each pipeline runs ``--repeats`` times; the fastest
run counts (the machine may be shared). Ratios are peer time / pipeline time (> 1 = faster).

    python benchmarks/eval_speed.py [--images 1000] [--gt 10] [--pred 20] [--size 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable

import numpy as np
from pycocotools import mask as mask_utils

from sdmr.bench.metrics import coco_segm_metrics
from sdmr.bench.overlap import mean_overlap_metrics, overlap_boundary_metrics
from sdmr.data.instances import Instances


def make_scenes(rng: np.random.Generator, images: int, num_gt: int, num_pred: int, size: int):
    """Disjoint rectangle objects; predictions = jittered copies plus random false positives."""
    scenes = []
    for _ in range(images):
        label = np.zeros((size, size), dtype=np.int32)
        for k in range(1, num_gt + 1):
            y, x = rng.integers(0, size - size // 6, 2)
            h, w = rng.integers(size // 16, size // 4, 2)
            label[y : y + h, x : x + w] = k
        gt = Instances.from_label_image(label)
        preds = [np.roll(m, tuple(rng.integers(-2, 3, 2)), axis=(0, 1)) for m in gt.masks]
        while len(preds) < num_pred:
            m = np.zeros((size, size), dtype=bool)
            y, x = rng.integers(0, size - size // 6, 2)
            m[y : y + int(rng.integers(4, size // 5)), x : x + int(rng.integers(4, size // 5))] = True
            preds.append(m)
        scenes.append((gt, Instances(np.stack(preds[:num_pred]), scores=rng.random(num_pred))))
    return scenes


def _rles(masks: np.ndarray) -> list[dict]:
    return mask_utils.encode(np.asfortranarray(np.transpose(masks, (1, 2, 0)).astype(np.uint8))) if len(masks) else []


def by_hand(coco_module: str, evaluator_name: str) -> Callable:
    """A user's pycocotools-style script, for either library (both mirror the same API)."""

    def run(scenes) -> float:
        if coco_module == "faster":
            from faster_coco_eval import COCO
            from faster_coco_eval import COCOeval_faster as Evaluator
        else:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval as Evaluator
        images, anns, dets = [], [], []
        for image_id, (gt, pred) in enumerate(scenes, start=1):
            h, w = gt.image_size
            images.append({"id": image_id, "height": h, "width": w})
            for rle in _rles(gt.masks):
                anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "segmentation": rle,
                             "area": float(mask_utils.area(rle)), "bbox": list(mask_utils.toBbox(rle)),
                             "iscrowd": 0})
            for rle, score in zip(_rles(pred.masks), pred.scores, strict=True):
                dets.append({"image_id": image_id, "category_id": 1, "segmentation": rle, "score": float(score)})
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO()
            coco_gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "o"}]}
            coco_gt.createIndex()
            evaluator = Evaluator(coco_gt, coco_gt.loadRes(dets), "segm")
            evaluator.params.useCats = 0
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        return float(evaluator.stats[0])

    run.__name__ = evaluator_name
    return run


def ours_coco(backend: str) -> Callable:
    def run(scenes) -> float:
        return coco_segm_metrics([g for g, _ in scenes], [p for _, p in scenes], backend=backend)["AP"]

    run.__name__ = f"sdmr coco_segm_metrics (backend={backend})"
    return run


def ours_overlap(scenes) -> float:
    return mean_overlap_metrics(overlap_boundary_metrics(g, p) for g, p in scenes)["overlap_F"]


ours_overlap.__name__ = "sdmr overlap_boundary_metrics (OCID P/R/F, not COCO)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--gt", type=int, default=10)
    parser.add_argument("--pred", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scenes = make_scenes(np.random.default_rng(args.seed), args.images, args.gt, args.pred, args.size)
    pipelines = [by_hand("pycocotools", "pycocotools by hand (peer)"), by_hand("faster", "faster-coco-eval by hand"),
                 ours_coco("pycocotools"), ours_coco("faster"), ours_coco("sdmr"), ours_overlap]
    print(f"{args.images} images, {args.gt} GT + {args.pred} predictions each, {args.size}×{args.size}, "
          f"best of {args.repeats}")
    peer = None
    for pipeline in pipelines:
        best, value = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            value = pipeline(scenes)
            best = min(best, time.perf_counter() - start)
        peer = best if peer is None else peer
        print(f"{pipeline.__name__:<55} {best:7.3f} s   ×{peer / best:5.2f} vs pycocotools   (AP/F {value:.4f})")


if __name__ == "__main__":
    main()
