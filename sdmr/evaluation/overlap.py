"""Overlap and boundary precision/recall/F with Hungarian matching (the OCID/OSD standard).

A re-implementation of ``multilabel_metrics`` from chrisdxie/uois (``src/evaluation.py``),
which UCN, UOAIS and MSMFormer copy, so our numbers compare with theirs. Differences, on
purpose: it takes ``Instances`` (so overlapping predicted masks are allowed; the pixel totals
are sums of mask areas, which equal uois' label-image counts when masks are disjoint), and it
does not silently drop instance id 1. Pairwise counts are matrix products of flattened masks,
so an image costs a few BLAS calls instead of N×M Python loops.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

from sdmr.data.errors import DataError
from sdmr.data.instances import Instances

BOUNDARY_TOLERANCE_FRACTION = 0.003
F_THRESHOLD = 0.75
OVERLAP_KEYS = (
    "overlap_P", "overlap_R", "overlap_F", "boundary_P", "boundary_R", "boundary_F", "pct_objects_F75",
)


_BYTE_POPCOUNT = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)
_CHUNK_WORDS = 1 << 22  # bound on the n×m×words temporary (32 MiB)


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Bool ``N×H×W`` → ``N×words`` uint64 bit rows (zero-padded), for popcount arithmetic."""
    n = len(masks)
    packed = np.packbits(masks.reshape(n, -1), axis=1)
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return packed.view(np.uint64)


def _popcount_rows(words: np.ndarray) -> np.ndarray:
    """Set bits summed over the last axis (``np.bitwise_count`` on numpy ≥ 2, a byte table before)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    return _BYTE_POPCOUNT[words.view(np.uint8)].sum(axis=-1, dtype=np.int64)


def pairwise_intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a_i ∩ b_j|`` for bool stacks ``N×H×W`` and ``M×H×W``, as an ``N×M`` float matrix.

    AND + popcount over bit-packed masks: 64 pixels per machine word, and no BLAS, whose
    threads stall badly when the cores are busy (a float matmul measured 0.2 ms idle but
    up to 120 ms under load). 4× faster than gathering pixels, 10× than counting bools.
    """
    n, m = len(a), len(b)
    out = np.zeros((n, m))
    if n == 0 or m == 0:
        return out
    pa, pb = pack_masks(a), pack_masks(b)
    step = max(1, _CHUNK_WORDS // max(1, m * pa.shape[1]))
    for start in range(0, n, step):
        out[start : start + step] = _popcount_rows(pa[start : start + step, None, :] & pb[None, :, :])
    return out


def mask_areas(masks: np.ndarray) -> np.ndarray:
    """Pixel count of each mask of a bool stack."""
    return _popcount_rows(pack_masks(masks)).astype(np.float64) if len(masks) else np.zeros(0)


def pairwise_mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every mask in ``a`` with every mask in ``b`` (``N×M``)."""
    inter = pairwise_intersections(a, b)
    union = mask_areas(a)[:, None] + mask_areas(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def boundary_map(masks: np.ndarray) -> np.ndarray:
    """1-pixel outlines of a bool stack, exactly DAVIS/uois ``seg2bmap`` at full resolution.

    A pixel is on the outline when it differs from its east, south or south-east neighbour;
    the last row/column compare along the border only, and the corner pixel is never set.
    """
    seg = masks.astype(bool, copy=False)
    outline = np.zeros_like(seg)
    outline[:, :, :-1] = seg[:, :, :-1] ^ seg[:, :, 1:]  # east
    outline[:, :-1, :] |= seg[:, :-1, :] ^ seg[:, 1:, :]  # south
    outline[:, :-1, :-1] |= seg[:, :-1, :-1] ^ seg[:, 1:, 1:]  # south-east
    return outline


def disk(radius: int) -> np.ndarray:
    """The ``skimage.morphology.disk`` footprint: pixels with ``x² + y² ≤ r²``."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius**2


def boundary_tolerance(height: int, width: int) -> int:
    """Dilation radius in pixels: ``ceil(0.003 × image diagonal)`` (3 px at 640×480)."""
    return math.ceil(BOUNDARY_TOLERANCE_FRACTION * math.hypot(height, width))


def _dilate_stack(masks: np.ndarray, radius: int) -> np.ndarray:
    """Disk dilation of every mask of a stack at once: one shifted OR per disk offset."""
    near = masks.copy()
    _, h, w = masks.shape
    for dy, dx in np.argwhere(disk(radius)) - radius:
        if dy == 0 and dx == 0:
            continue
        near[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] |= masks[
            :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
    return near


def _hits_near(references: np.ndarray, outlines: np.ndarray, radius: int) -> int:
    """Pixels of ``outlines[k]`` within ``radius`` (disk) of ``references[k]``, summed over k.

    Works inside the bounding box of all references plus the radius (nothing outside can be
    near), so the cost follows the objects, not the image size.
    """
    rows = np.flatnonzero(references.any(axis=(0, 2)))
    if rows.size == 0:
        return 0
    cols = np.flatnonzero(references.any(axis=(0, 1)))
    _, h, w = references.shape
    y0, y1 = max(rows[0] - radius, 0), min(rows[-1] + radius + 1, h)
    x0, x1 = max(cols[0] - radius, 0), min(cols[-1] + radius + 1, w)
    near = _dilate_stack(references[:, y0:y1, x0:x1], radius)
    return int(np.count_nonzero(outlines[:, y0:y1, x0:x1] & near))


def _empty_case(num_gt: int, num_pred: int) -> dict[str, float] | None:
    """uois' rules: no predictions → P 1, R 0; no ground truth → P 0, R 1; neither → all 1."""
    if num_gt > 0 and num_pred > 0:
        return None
    if num_gt == 0 and num_pred == 0:
        p, r, f, pct = 1.0, 1.0, 1.0, 1.0
    elif num_pred == 0:
        p, r, f, pct = 1.0, 0.0, 0.0, 0.0
    else:
        p, r, f, pct = 0.0, 1.0, 0.0, 0.0
    return {
        "overlap_P": p, "overlap_R": r, "overlap_F": f,
        "boundary_P": p, "boundary_R": r, "boundary_F": f, "pct_objects_F75": pct,
    }


def _f_measure(precision: np.ndarray | float, recall: np.ndarray | float) -> np.ndarray:
    precision, recall = np.asarray(precision, float), np.asarray(recall, float)
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)


def _masks_of(value: Instances | np.ndarray, what: str) -> np.ndarray:
    masks = value.masks if isinstance(value, Instances) else np.asarray(value)
    if masks.ndim != 3 or masks.dtype != bool:
        raise DataError(f"{what} masks must be a bool N×H×W array, got {masks.dtype} {masks.shape}",
                        fix="pass sdmr.data.Instances or a bool N×H×W mask stack")
    return masks[masks.any(axis=(1, 2))]  # empty masks are not objects


def overlap_boundary_metrics(
    ground_truth: Instances | np.ndarray,
    prediction: Instances | np.ndarray,
    *,
    tolerance_px: int | None = None,
) -> dict[str, float]:
    """Per-image overlap/boundary P, R, F and the fraction of objects matched with F > 0.75.

    Values are fractions in [0, 1]; papers on OCID/OSD print the dataset mean × 100.
    """
    gt = _masks_of(ground_truth, "ground-truth")
    pred = _masks_of(prediction, "predicted")
    if gt.shape[1:] != pred.shape[1:]:
        raise DataError(
            f"predicted masks are {pred.shape[1]}×{pred.shape[2]} but the ground truth is "
            f"{gt.shape[1]}×{gt.shape[2]}",
            fix="predict masks at the input depth image's size",
        )
    special = _empty_case(len(gt), len(pred))
    if special is not None:
        return special
    gt_area, pred_area = mask_areas(gt), mask_areas(pred)
    true_pos = pairwise_intersections(gt, pred).astype(float)
    f_pairs = _f_measure(true_pos / pred_area[None, :], true_pos / gt_area[:, None])
    rows, cols = linear_sum_assignment(-f_pairs)

    overlap_p = true_pos[rows, cols].sum() / pred_area.sum()
    overlap_r = true_pos[rows, cols].sum() / gt_area.sum()

    radius = boundary_tolerance(*gt.shape[1:]) if tolerance_px is None else int(tolerance_px)
    gt_outline, pred_outline = boundary_map(gt), boundary_map(pred)
    boundary_hits_p = _hits_near(gt_outline[rows], pred_outline[cols], radius)
    boundary_hits_r = _hits_near(pred_outline[cols], gt_outline[rows], radius)
    pred_outline_total, gt_outline_total = pred_outline.sum(), gt_outline.sum()
    boundary_p = boundary_hits_p / pred_outline_total if pred_outline_total else 0.0
    boundary_r = boundary_hits_r / gt_outline_total if gt_outline_total else 0.0

    return {
        "overlap_P": float(overlap_p),
        "overlap_R": float(overlap_r),
        "overlap_F": float(_f_measure(overlap_p, overlap_r)),
        "boundary_P": float(boundary_p),
        "boundary_R": float(boundary_r),
        "boundary_F": float(_f_measure(boundary_p, boundary_r)),
        "pct_objects_F75": float(np.count_nonzero(f_pairs[rows, cols] > F_THRESHOLD) / len(gt)),
    }


def mean_overlap_metrics(per_image: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Dataset score: the mean of each per-image value (uois averages images, not objects)."""
    rows = list(per_image)
    if not rows:
        return {key: float("nan") for key in OVERLAP_KEYS}
    return {key: float(np.mean([row[key] for row in rows])) for key in OVERLAP_KEYS}
