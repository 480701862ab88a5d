"""The benchmark's metrics: the COCO core (:mod:`sdmr.evaluation.coco`, re-exported here), the
OCID overlap/boundary P/R/F (:mod:`sdmr.evaluation.overlap`) and the merged-pairs count."""

from __future__ import annotations

import numpy as np

from sdmr.data.instances import Instances
from sdmr.evaluation.coco import (
    BACKENDS,
    BIN_OVERLAP_LIMIT,
    COCO_METRIC_KEYS,
    ORIGINAL_PAD_SIZE,
    PROTOCOLS,
    CocoEvaluation,
    check_prediction,
    check_protocol,
    coco_detections,
    coco_segm_evaluation,
    coco_segm_metrics,
    evaluate_coco,
    image_coco_entries,
    resolve_backend,
)
from sdmr.evaluation.overlap import (
    mask_areas,
    overlap_boundary_metrics,
    pairwise_intersections,
    pairwise_mask_iou,
)

MERGE_COVERAGE = 0.5  # a prediction "holds" a ground-truth object when it covers more than this of it

__all__ = [
    "BACKENDS",
    "BIN_OVERLAP_LIMIT",
    "COCO_METRIC_KEYS",
    "ORIGINAL_PAD_SIZE",
    "PROTOCOLS",
    "CocoEvaluation",
    "check_prediction",
    "check_protocol",
    "coco_detections",
    "coco_segm_evaluation",
    "coco_segm_metrics",
    "evaluate_coco",
    "image_coco_entries",
    "merged_pairs",
    "overlap_boundary_metrics",
    "pairwise_mask_iou",
    "resolve_backend",
]


def merged_pairs(gt: Instances, pred: Instances) -> int:
    """How many ground-truth pairs one prediction merges: a predicted mask covering more than half
    of each of two objects merges that pair (one covering m objects merges m·(m−1)/2 pairs).

    Why a count next to AP: merging touching objects is the classical baselines' typical failure
    (FINDINGS.md), and AP alone does not say whether a method merges or just misses.
    """
    if len(gt) < 2 or len(pred) == 0:
        return 0
    covered = pairwise_intersections(pred.masks, gt.masks) > MERGE_COVERAGE * mask_areas(gt.masks)[None, :]
    held = np.count_nonzero(covered, axis=1)
    return int(np.sum(held * (held - 1) // 2))
