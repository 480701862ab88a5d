"""Geometric verification: drop predicted masks that lie flat on the support plane.

Why: on real tables the model's main error is *phantom objects* — 5–10 mm bumps of spatially
correlated sensor noise that it reports as objects (FINDINGS.md). A real object stands out of
the table; a phantom does not. Dropping masks whose median height above the RANSAC support plane
is under 1.5 cm removed them on 16 real frames (overlap F 0.53 → 0.84) without losing a true
object. Training on correlated noise is the real fix; this stage is optional (``Segmenter(...,
min_height_above_plane=0.015)``, off by default) and measured separately.

A third stage, :func:`drop_surface_patches`, removes what the height test cannot see: a flat
mask on a *wall* (a bin wall stands high above the floor) or on a table seen from straight above
(no plane is left to measure from when the table fills the frame). A real object's face ends at
its edges; a patch of a wall or table lies on a surface that runs on beyond the mask.

A last, purely 2-D stage, :func:`drop_contained_masks`, removes a mask that lies almost wholly
inside a higher-scoring one: the model sometimes reports a part (a scissor blade, a handle) next to
the whole object. Box NMS keeps such a part (its small box overlaps the big one little). It is off
by default: on the shipped model it also dropped true objects and lowered AP on both test sets
(docs/sim2real.md).

The plane comes from :mod:`sdmr.pointcloud` (the same RANSAC the classical baselines use).
Without intrinsics the nominal camera is used: planes stay planes under a wrong K, only the
heights scale with the focal-length error.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sdmr.data.depth_io import valid_mask
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.pointcloud.camera import back_project, sample_intrinsics
from sdmr.pointcloud.plane import heights_above, ransac_plane

PLANE_THRESHOLD = 0.01  # m: inlier distance of the support plane (as the baselines' default)
RANSAC_ITERATIONS = 200
RANSAC_SEED = 0  # fixed: the same frame always gives the same plane, hence the same masks
#: A mask is flat when 90 % of its points lie within this distance (m) of their least-squares plane;
#: the same inlier distance decides which pixels outside it continue that plane.
FLAT_TOLERANCE = 0.01
FLAT_QUANTILE = 0.9
#: The trim drops a mask outright when less than this share of its valid pixels stands above the cut:
#: a mask that is mostly table is a patch of it (the leftover would be a few-pixel fragment).
TRIM_MIN_STANDING = 0.3
MIN_PATCH_POINTS = 10  # fewer valid points: the mask cannot be judged and is kept


def pixel_heights(depth: np.ndarray, intrinsics: CameraIntrinsics | None) -> np.ndarray | None:
    """Height (m) of every pixel above the RANSAC support plane (NaN where depth is invalid).

    ``None`` when the frame has no plane to measure from (fewer than 3 valid points, degenerate).
    """
    valid = valid_mask(depth)
    xyz = back_project(depth, sample_intrinsics(intrinsics, *depth.shape))
    try:
        normal, offset = ransac_plane(
            xyz[valid], PLANE_THRESHOLD, RANSAC_ITERATIONS, np.random.default_rng(RANSAC_SEED)
        )
    except DataError:
        return None
    return np.where(valid, heights_above(xyz, normal, offset), np.nan)


def mask_heights(
    instances: Instances, depth: np.ndarray, intrinsics: CameraIntrinsics | None,
    heights: np.ndarray | None = None,
) -> np.ndarray | None:
    """Median height (m) above the support plane of each mask's valid pixels (NaN: no valid pixel).

    ``None`` when the frame has no plane to measure from. ``heights`` reuses :func:`pixel_heights`.
    """
    heights = pixel_heights(depth, intrinsics) if heights is None else heights
    if heights is None:
        return None
    valid = np.isfinite(heights)
    return np.array(
        [float(np.median(heights[m])) if m.any() else np.nan for m in instances.masks & valid[None]]
    )


def drop_flat_masks(
    instances: Instances, depth: np.ndarray, intrinsics: CameraIntrinsics | None, min_height: float
) -> Instances:
    """``instances`` without the masks whose median height above the support plane is under ``min_height``.

    A mask without a valid depth pixel, or a frame without a plane, cannot be checked and is kept.
    """
    return geometric_stages(instances, depth, intrinsics, min_height_above_plane=min_height)


def trim_to_foreground(
    instances: Instances, depth: np.ndarray, intrinsics: CameraIntrinsics | None, min_height: float
) -> Instances:
    """Remove from each mask the pixels lying less than ``min_height`` above the support plane.

    Why: the mask head predicts 28×28 masks per box, upsampled (and at ``input_scale`` < 1 from a
    smaller image), so a mask's lower edge spills onto the table. The table is exactly what the
    plane fit finds, so those pixels can be cut without touching the boundaries between objects.
    Pixels without valid depth are kept; masks left empty, or with less than ``TRIM_MIN_STANDING``
    of their valid pixels above the cut, are dropped; a frame without a plane is returned unchanged.
    """
    return geometric_stages(instances, depth, intrinsics, trim_below_height=min_height)


def surface_patches(
    instances: Instances, depth: np.ndarray, intrinsics: CameraIntrinsics | None, ratio: float
) -> np.ndarray:
    """Which masks are patches of a larger surface: flat, and their plane runs on beyond them.

    For each mask: fit a plane to its valid points (least squares); if ``FLAT_QUANTILE`` of them lie
    within ``FLAT_TOLERANCE`` of it, count the pixels outside the mask that lie on the same plane and
    are connected to the mask through such pixels. ``ratio`` × the mask's area or more: the mask is a
    piece of a wall or table. A box top ends at the box's edges (the table lies lower), so it stays;
    a mask with fewer than ``MIN_PATCH_POINTS`` valid points cannot be judged and stays.
    """
    valid = valid_mask(depth)
    xyz = back_project(depth, sample_intrinsics(intrinsics, *depth.shape))
    patch = np.zeros(len(instances), dtype=bool)
    for index, mask in enumerate(instances.masks):
        inside = mask & valid
        points = xyz[inside]
        if len(points) < MIN_PATCH_POINTS:
            continue
        centre = points.mean(axis=0)
        normal = np.linalg.svd(points - centre, full_matrices=False)[2][-1]
        if np.quantile(np.abs((points - centre) @ normal), FLAT_QUANTILE) > FLAT_TOLERANCE:
            continue  # not flat: a real object's surface
        on_plane = valid & (np.abs((xyz - centre) @ normal) < FLAT_TOLERANCE)
        labels, _ = ndimage.label(on_plane | mask, structure=np.ones((3, 3), dtype=bool))
        touching = np.unique(labels[mask])
        beyond = np.isin(labels, touching[touching > 0]) & on_plane & ~mask
        patch[index] = beyond.sum() >= ratio * inside.sum()
    return patch


def drop_surface_patches(
    instances: Instances, depth: np.ndarray, intrinsics: CameraIntrinsics | None, ratio: float
) -> Instances:
    """``instances`` without the flat masks whose plane continues over ≥ ``ratio`` × their area (walls, tables)."""
    return geometric_stages(instances, depth, intrinsics, surface_ratio=ratio)


def contained_masks(instances: Instances, fraction: float) -> np.ndarray:
    """Which masks have at least ``fraction`` of their pixels inside one higher-scoring kept mask.

    Greedy in score order (masks without scores: in the order given), like NMS: a mask that is
    dropped cannot drop another. An empty mask is never counted as contained.
    """
    order = np.argsort(-instances.scores, kind="stable") if instances.scores is not None else np.arange(len(instances))
    flat = instances.masks.reshape(len(instances), -1)
    areas = flat.sum(axis=1)
    contained = np.zeros(len(instances), dtype=bool)
    kept: list[int] = []
    for index in order:
        if areas[index] and any((flat[index] & flat[k]).sum() >= fraction * areas[index] for k in kept):
            contained[index] = True
        else:
            kept.append(index)
    return contained


def drop_contained_masks(instances: Instances, fraction: float) -> Instances:
    """``instances`` without the masks lying (≥ ``fraction`` of their pixels) inside a higher-scoring one."""
    if len(instances) < 2:
        return instances
    return instances.select(np.flatnonzero(~contained_masks(instances, fraction)))


def geometric_stages(
    instances: Instances,
    depth: np.ndarray,
    intrinsics: CameraIntrinsics | None,
    trim_below_height: float | None = None,
    min_height_above_plane: float | None = None,
    surface_ratio: float | None = None,
    contained_fraction: float | None = None,
) -> Instances:
    """The trim, the flat-mask filter, the surface-patch filter, then the containment filter (each
    skipped when ``None``).

    The first two share one support-plane fit per frame; the surface filter needs no support plane
    and runs even on a frame without one; the containment filter looks at the masks only, after
    the trim has cut them to what stands above the table.
    """
    if len(instances) == 0:
        return instances
    if trim_below_height is not None or min_height_above_plane is not None:
        instances = _height_stages(instances, depth, intrinsics, trim_below_height, min_height_above_plane)
    if surface_ratio is not None and len(instances):
        instances = instances.select(np.flatnonzero(~surface_patches(instances, depth, intrinsics, surface_ratio)))
    if contained_fraction is not None:
        instances = drop_contained_masks(instances, contained_fraction)
    return instances


def _height_stages(
    instances: Instances,
    depth: np.ndarray,
    intrinsics: CameraIntrinsics | None,
    trim_below_height: float | None,
    min_height_above_plane: float | None,
) -> Instances:
    """The trim and the flat-mask filter on one support-plane fit (a frame without a plane: unchanged)."""
    heights = pixel_heights(depth, intrinsics)
    if heights is None:
        return instances
    if trim_below_height is not None:
        on_support = heights < trim_below_height  # NaN (invalid depth) compares False: kept
        masks = instances.masks & ~on_support[None]
        valid = np.isfinite(heights)[None]
        before = (instances.masks & valid).reshape(len(masks), -1).sum(axis=1)
        after = (masks & valid).reshape(len(masks), -1).sum(axis=1)
        standing = after >= TRIM_MIN_STANDING * before  # mostly table: a patch of it, not an object
        keep = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1) & standing)
        instances = Instances(
            masks=masks, scores=instances.scores, amodal=instances.amodal, object_ids=instances.object_ids
        ).select(keep)
    if min_height_above_plane is not None and len(instances):
        medians = mask_heights(instances, depth, intrinsics, heights)
        instances = instances.select(np.flatnonzero(~(medians < min_height_above_plane)))  # NaN: kept
    return instances
