"""Geometric verification: a flat phantom on a tilted table is dropped, a standing object is kept."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.errors import ConfigError
from sdmr.model.inference import Segmenter
from sdmr.model.verify import (
    contained_masks,
    drop_contained_masks,
    drop_flat_masks,
    drop_surface_patches,
    mask_heights,
    surface_patches,
    trim_to_foreground,
)
from sdmr.pointcloud.camera import PointCloudWarning

H, W = 96, 128
CAMERA = CameraIntrinsics(120.0, 120.0, (W - 1) / 2, (H - 1) / 2, W, H)
BOX = (slice(20, 50), slice(20, 60))
PHANTOM = (slice(55, 85), slice(70, 115))
HOLE = (slice(0, 5), slice(0, 10))


def tilted_table(box_height: float = 0.06, phantom_height: float = 0.006, seed: int = 0) -> np.ndarray:
    """Depth of a table 0.8 m ahead, tilted 30°, with a box and a noise-bump "phantom" standing on it.

    A point at height h above the plane n·p = c (n away from the camera) along the ray r has depth
    (c − h) / (n·r): exact geometry, so the test checks heights, not raw depth differences.
    """
    tilt = np.deg2rad(30)
    normal = np.array([0.0, np.sin(tilt), np.cos(tilt)])
    v, u = np.mgrid[0:H, 0:W]
    rays = np.stack([(u - CAMERA.cx) / CAMERA.fx, (v - CAMERA.cy) / CAMERA.fy, np.ones((H, W))], -1)
    height = np.zeros((H, W))
    height[BOX] = box_height
    height[PHANTOM] = phantom_height
    depth = (0.8 * normal[2] - height) / (rays @ normal)
    depth += np.random.default_rng(seed).normal(0, 0.001, depth.shape)  # 1 mm sensor noise
    depth[HOLE] = 0.0
    return depth.astype(np.float32)


def detections() -> Instances:
    masks = np.zeros((3, H, W), dtype=bool)
    for k, region in enumerate((BOX, PHANTOM, HOLE)):
        masks[k][region] = True
    masks[0, 18:52, 18:62] = True  # a predicted mask is a little larger than its object
    return Instances(masks=masks, scores=np.array([0.9, 0.8, 0.7]))


def test_flat_phantom_is_dropped_and_tall_object_kept():
    depth, found = tilted_table(), detections()
    heights = mask_heights(found, depth, CAMERA)
    assert heights[0] == pytest.approx(0.06, abs=0.003) and heights[1] == pytest.approx(0.006, abs=0.002)
    assert np.isnan(heights[2])  # no valid depth under it: cannot be checked
    kept = drop_flat_masks(found, depth, CAMERA, min_height=0.015)
    assert len(kept) == 2 and np.array_equal(kept.masks, found.masks[[0, 2]])
    assert np.allclose(kept.scores, [0.9, 0.7])  # order and scores kept
    assert len(drop_flat_masks(found, depth, CAMERA, min_height=0.004)) == 3  # a lower bar keeps the bump


def test_surface_patch_of_the_table_is_dropped_and_object_faces_kept():
    """The 6 mm bump lies on the table's plane, which runs on far beyond it; the box top ends at its edges."""
    depth, found = tilted_table(), detections()
    box_top = np.zeros((1, H, W), dtype=bool)
    box_top[0][BOX] = True  # exactly the top face: flat, but its plane holds nothing outside it
    found = Instances(masks=np.concatenate([found.masks, box_top]), scores=np.array([0.9, 0.8, 0.7, 0.6]))
    assert surface_patches(found, depth, CAMERA, ratio=1.5).tolist() == [False, True, False, False]
    kept = drop_surface_patches(found, depth, CAMERA, ratio=1.5)
    assert np.allclose(kept.scores, [0.9, 0.7, 0.6])
    # a ratio above the whole frame's table area keeps the bump too: the rule counts pixels, it is not fixed
    assert len(drop_surface_patches(found, depth, CAMERA, ratio=H * W)) == 4


def test_nominal_camera_still_separates_them():
    """Without intrinsics (fx = width = 128 instead of 120) heights scale a little; the bar still splits them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PointCloudWarning)  # pointcloud says once per image size
        kept = drop_flat_masks(detections(), tilted_table(seed=1), None, min_height=0.015)
    assert len(kept) == 2 and np.allclose(kept.scores, [0.9, 0.7])


def test_segmenter_filter_keeps_only_standing_masks(focal_checkpoint):
    from sdmr.model.inference import Segmenter

    depth = tilted_table()
    segmenter = Segmenter(
        focal_checkpoint, score_threshold=0.0, input_scale=1.0, min_height_above_plane=0.015, trim_below_height=None
    )
    filtered = segmenter.segment(depth, CAMERA)
    unfiltered = segmenter.segment_encoded(segmenter.encode(depth, CAMERA), 1.0)
    expected = drop_flat_masks(unfiltered, depth, CAMERA, 0.015)
    assert len(unfiltered) > len(filtered) == len(expected)  # the untrained model proposes flat regions too
    assert np.array_equal(filtered.masks, expected.masks)
    heights = mask_heights(filtered, depth, CAMERA)
    assert not np.any(heights < 0.015)
    with pytest.raises(DataError, match="min_height_above_plane must be positive"):
        Segmenter(focal_checkpoint, min_height_above_plane=0.0)


def test_trim_cuts_the_table_rim_of_a_mask_and_keeps_the_object():
    depth, found = tilted_table(), detections()
    trimmed = trim_to_foreground(found, depth, CAMERA, min_height=0.02)
    box_only = np.zeros((H, W), dtype=bool)
    box_only[BOX] = True
    # the box's 2-pixel rim on the table is gone, the box itself stays whole
    assert np.array_equal(trimmed.masks[0], box_only)
    # the 6 mm phantom lies entirely below 2 cm: emptied and dropped; the mask over missing depth is kept
    assert len(trimmed) == 2 and np.array_equal(trimmed.masks[1], found.masks[2])
    assert np.allclose(trimmed.scores, [0.9, 0.7])
    flat = np.zeros((H, W), np.float32)  # no valid depth, no plane: unchanged
    assert trim_to_foreground(found, flat, CAMERA, 0.02) is found


def test_trim_drops_a_mask_that_is_mostly_table():
    """A box corner inside a mask of table (10 % of it standing) is a table patch, not a fragment to keep."""
    depth = tilted_table()
    table_patch = np.zeros((1, H, W), dtype=bool)
    table_patch[0, 40:90, 50:120] = True  # 50×70 px, of which the box's 10×10 corner 40:50, 50:60 stands
    found = Instances(masks=table_patch, scores=np.array([0.9]))
    assert len(trim_to_foreground(found, depth, CAMERA, min_height=0.02)) == 0
    box_and_rim = np.zeros((1, H, W), dtype=bool)
    box_and_rim[0, 15:55, 15:65] = True  # the box with a 5-pixel rim of table: mostly object
    kept = trim_to_foreground(Instances(masks=box_and_rim, scores=np.array([0.9])), depth, CAMERA, 0.02)
    assert len(kept) == 1 and kept.masks[0][BOX].all()


def test_a_part_inside_a_higher_scoring_mask_is_dropped_and_a_neighbour_kept():
    masks = np.zeros((4, 20, 20), dtype=bool)
    masks[0, 2:12, 2:12] = True  # the whole object
    masks[1, 4:8, 4:8] = True  # a part of it, lower score: dropped
    masks[2, 10:18, 10:18] = True  # a neighbour overlapping the corner by 4 of 64 pixels: kept
    masks[3, 5:9, 5:9] = True  # a part, but scored above the whole: it stays, the whole is not inside it
    instances = Instances(masks=masks, scores=np.array([0.9, 0.6, 0.8, 0.95]))
    assert contained_masks(instances, 0.8).tolist() == [False, True, False, False]
    assert len(drop_contained_masks(instances, 0.8)) == 3
    first_three = instances.select(np.arange(3))
    assert contained_masks(first_three, 0.05).tolist() == [False, True, True]  # 4/64 ≥ 5 %
    assert drop_contained_masks(instances.select(np.array([0])), 0.8).masks.shape == (1, 20, 20)


def test_a_dropped_mask_does_not_drop_another():
    masks = np.zeros((3, 10, 10), dtype=bool)
    masks[0, :, :5] = True
    masks[1, :, 3:8] = True  # 2/5 inside mask 0 at 0.4: dropped
    masks[2, :, 5:8] = True  # inside mask 1 only, which was dropped: kept
    instances = Instances(masks=masks, scores=np.array([0.9, 0.8, 0.7]))
    assert contained_masks(instances, 0.4).tolist() == [False, True, False]


def test_the_containment_stage_is_checked_and_runs_in_the_segmenter(exported_model, depth_image):
    with pytest.raises(ConfigError, match="contained_fraction must be in"):
        Segmenter(exported_model, contained_fraction=1.5)
    raw = Segmenter(exported_model, score_threshold=0.0, surface_ratio=None, trim_below_height=None)
    staged = Segmenter(exported_model, score_threshold=0.0, surface_ratio=None, trim_below_height=None,
                       contained_fraction=0.5)
    a, b = raw.segment(depth_image), staged.segment(depth_image)
    assert np.array_equal(b.masks, drop_contained_masks(a, 0.5).masks)
