"""Moved to :mod:`sdmr.evaluation.overlap` (shared with training validation); re-exported here."""

from sdmr.evaluation.overlap import (  # noqa: F401
    BOUNDARY_TOLERANCE_FRACTION,
    F_THRESHOLD,
    OVERLAP_KEYS,
    boundary_map,
    boundary_tolerance,
    disk,
    mask_areas,
    mean_overlap_metrics,
    overlap_boundary_metrics,
    pack_masks,
    pairwise_intersections,
    pairwise_mask_iou,
)
