"""COCOeval's segm matching and accumulation for one class and one area range, in numpy.

Why a third implementation: pycocotools spends most of its time in per-image Python loops
over 4 area ranges × 3 detection limits, and both libraries need every mask RLE-encoded
first. For the one setting the paper reports (class-agnostic, area "all", 100 detections)
the algorithm is small: greedy matching of score-ordered detections to the unmatched
ground truth of highest IoU, per threshold, then the interpolated precision at 101 recall
points. This file reproduces ``COCOeval.evaluateImg`` / ``accumulate`` step for step (stable
score sort, ties to the later ground truth, ``np.spacing(1)`` in the precision), and the
tests check it against pycocotools to 1e-9. Crowd annotations are not supported (none of
our datasets has them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# exactly COCOeval.Params.setDetParams
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


@dataclass
class ImageMatches:
    """One image's detections after matching: scores (sorted, capped) and hits per threshold."""

    scores: np.ndarray  # (D,) descending, at most max_dets
    matched: np.ndarray  # (T, D) bool: detection d matched a ground truth at threshold t
    num_gt: int


def match_image(
    ious: np.ndarray, scores: np.ndarray, num_gt: int, max_dets: int = 100,
    iou_thresholds: np.ndarray = IOU_THRESHOLDS,
) -> ImageMatches:
    """Greedy COCO matching of one image. ``ious`` is detections × ground truth, in input order."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")[:max_dets]
    ious = np.asarray(ious, dtype=np.float64).reshape(len(scores), num_gt)[order]
    thresholds = np.minimum(iou_thresholds, 1 - 1e-10)
    t_count, d_count = len(thresholds), len(order)
    matched = np.zeros((t_count, d_count), dtype=bool)
    taken = np.zeros((t_count, num_gt), dtype=bool)
    rows = np.arange(t_count)
    for d in range(d_count if num_gt else 0):
        row = ious[d]
        if row.max() < thresholds[0]:
            continue  # matches nothing at any threshold
        candidate = (row[None, :] >= thresholds[:, None]) & ~taken
        found = candidate.any(axis=1)
        if not found.any():
            continue
        # COCOeval keeps the *last* ground truth among equal best IoUs
        masked = np.where(candidate, row[None, :], -1.0)[:, ::-1]
        best = num_gt - 1 - np.argmax(masked, axis=1)
        matched[found, d] = True
        taken[rows[found], best[found]] = True
    return ImageMatches(scores=scores[order], matched=matched, num_gt=int(num_gt))


def accumulate(
    images: Sequence[ImageMatches], recall_thresholds: np.ndarray = RECALL_THRESHOLDS
) -> tuple[np.ndarray, np.ndarray]:
    """``precision`` (T × R) and ``recall`` (T) over all images, -1 where there is no ground truth."""
    t_count = images[0].matched.shape[0] if images else len(IOU_THRESHOLDS)
    precision = -np.ones((t_count, len(recall_thresholds)))
    recall = -np.ones(t_count)
    num_gt = sum(m.num_gt for m in images)
    if num_gt == 0:
        return precision, recall
    scores = np.concatenate([m.scores for m in images])
    matched = np.concatenate([m.matched for m in images], axis=1)[:, np.argsort(-scores, kind="mergesort")]
    tp_sum = np.cumsum(matched, axis=1, dtype=np.float64)
    fp_sum = np.cumsum(~matched, axis=1, dtype=np.float64)
    count = matched.shape[1]
    for t in range(t_count):
        if count == 0:
            precision[t] = 0.0
            recall[t] = 0.0
            continue
        tp, fp = tp_sum[t], fp_sum[t]
        rc = tp / num_gt
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope, as COCOeval's loop
        index = np.searchsorted(rc, recall_thresholds, side="left")
        precision[t] = np.where(index < count, pr[np.minimum(index, count - 1)], 0.0)
        recall[t] = rc[-1]
    return precision, recall
