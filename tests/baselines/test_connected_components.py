"""The connected_components baseline on scenes whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from sdmr_baselines.connected_components import ConnectedComponents

from sdmr.bench.metrics import coco_segm_metrics
from sdmr.data import CameraIntrinsics, Instances
from sdmr.data.toy import make_toy_dataset
from sdmr.data.wisdom import WisdomDataset
from sdmr.pointcloud.camera import back_project
from sdmr.pointcloud.plane import ransac_plane

H, W = 60, 80
CAMERA = CameraIntrinsics(100.0, 100.0, (W - 1) / 2, (H - 1) / 2, W, H)


def tilted_table() -> np.ndarray:
    """Depth of a plane tilted away from the camera, 0.8 m at the top row to 1.0 m at the bottom.

    A plane's inverse depth is affine in the pixel coordinates (for any pinhole camera).
    """
    v = np.arange(H, dtype=np.float64)[:, None]
    return np.repeat(1.0 / (1.25 - 0.25 * v / (H - 1)), W, axis=1).astype(np.float32)


def sample(depth: np.ndarray, intrinsics: CameraIntrinsics | None = CAMERA) -> dict:
    return {"depth": depth.astype(np.float32), "instances": None, "intrinsics": intrinsics, "image_id": 0}


def test_ransac_finds_the_plane_it_was_given() -> None:
    points = back_project(tilted_table(), CAMERA).reshape(-1, 3)
    normal, offset = ransac_plane(points, 0.002, 100, np.random.default_rng(0))
    assert offset > 0  # oriented towards the camera
    assert np.abs(points @ normal + offset).max() < 1e-4


@pytest.mark.parametrize("intrinsics", [CAMERA, None])
def test_objects_on_a_plane_become_one_segment_each(intrinsics) -> None:
    depth = tilted_table()
    depth[10:25, 10:30] -= 0.05  # a box 5 cm tall
    depth[35:50, 45:70] -= 0.08  # another, apart from the first
    depth[0:3, 0:3] = 0.0  # invalid pixels are neither object nor plane
    result = ConnectedComponents().predict(sample(depth, intrinsics))
    assert len(result) == 2
    assert result.masks[0].sum() == 15 * 25 and result.masks[0][35:50, 45:70].all()  # largest first
    assert result.masks[1].sum() == 15 * 20 and result.masks[1][10:25, 10:30].all()


def test_depth_jump_splits_touching_objects_and_equal_heights_merge() -> None:
    depth = tilted_table()
    depth[20:40, 10:30] -= 0.05
    depth[20:40, 30:50] -= 0.10  # touches the first, 5 cm higher: a silhouette edge
    split = ConnectedComponents().predict(sample(depth))
    assert len(split) == 2
    merged = ConnectedComponents(max_depth_jump=0.2).predict(sample(depth))
    assert len(merged) == 1 and merged.masks[0].sum() == 20 * 40


def test_small_segments_are_dropped_and_blank_frames_give_nothing() -> None:
    depth = tilted_table()
    depth[5:8, 5:8] -= 0.05  # 9 pixels
    assert len(ConnectedComponents(min_pixels=10).predict(sample(depth))) == 0
    assert len(ConnectedComponents(min_pixels=5, min_area_fraction=0.0).predict(sample(depth))) == 1
    blank = ConnectedComponents().predict(sample(np.zeros((H, W), np.float32)))
    assert isinstance(blank, Instances) and len(blank) == 0 and blank.image_size == (H, W)


@pytest.mark.parametrize("use_bin_mask", [True, False])
def test_reaches_a_clear_ap_on_the_toy_dataset(tmp_path, use_bin_mask: bool) -> None:
    data = WisdomDataset(make_toy_dataset(tmp_path / "toy", num_images=8, seed=3), split=None)
    method = ConnectedComponents(use_bin_mask=use_bin_mask)
    predictions = [method.predict(s) for s in data]
    again = [method.predict(s) for s in data]
    assert all(np.array_equal(a.masks, b.masks) for a, b in zip(predictions, again, strict=True))  # seeded
    assert coco_segm_metrics([s["instances"] for s in data], predictions)["AP"] > 0.5
