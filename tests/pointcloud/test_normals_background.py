"""PCL-definition normals and curvature, and background removal that never crashes on bad frames."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.pointcloud import camera
from sdmr.pointcloud.background import BackgroundSettings, remove_background
from sdmr.pointcloud.normals import normals_numpy, normals_open3d

H, W = 48, 64
CAMERA = CameraIntrinsics(80.0, 80.0, (W - 1) / 2, (H - 1) / 2, W, H)


def test_plane_normals_face_the_camera_with_zero_curvature_and_a_sphere_curves() -> None:
    rng = np.random.default_rng(0)
    plane = np.column_stack([rng.uniform(-0.1, 0.1, (500, 2)), np.full(500, 1.0)])
    normals, curvature = normals_numpy(plane, 20)
    np.testing.assert_allclose(normals, np.tile([0.0, 0.0, -1.0], (500, 1)), atol=1e-9)  # towards the origin
    assert curvature.max() < 1e-12
    direction = rng.normal(size=(2000, 3))
    sphere = 0.05 * direction / np.linalg.norm(direction, axis=1, keepdims=True) + [0, 0, 1.0]
    normals, curvature = normals_numpy(sphere, 20)
    assert curvature.min() > 1e-4  # a curved patch: λ0 > 0
    radial = (sphere - [0, 0, 1.0]) / 0.05
    assert np.median(np.abs(np.einsum("ij,ij->i", normals, radial))) > 0.99


def test_open3d_and_numpy_paths_agree() -> None:
    pytest.importorskip("open3d")
    rng = np.random.default_rng(1)  # random points: no ties in neighbour distances
    points = rng.uniform(-0.05, 0.05, (3000, 3)) * [1, 1, 0.2] + [0, 0, 1.0]
    n_np, c_np = normals_numpy(points, 30)
    n_o3d, c_o3d = normals_open3d(points, 30)
    np.testing.assert_allclose(n_o3d, n_np, atol=1e-6)
    np.testing.assert_allclose(c_o3d, c_np, rtol=1e-6, atol=1e-12)


def sample(depth: np.ndarray, intrinsics: CameraIntrinsics | None = CAMERA, **extra) -> dict:
    return {"depth": depth.astype(np.float32), "intrinsics": intrinsics, "image_id": 7, **extra}


def table_with_a_box() -> np.ndarray:
    depth = np.full((H, W), 1.0, np.float32)
    depth[10:20, 10:25] = 0.95
    return depth


@pytest.mark.parametrize("depth, reason", [
    (np.zeros((H, W)), "no valid depth"),
    (np.full((H, W), np.nan), "no valid depth"),
    (np.full((H, W), 1.0), "nothing stands"),
    (np.random.default_rng(0).uniform(0.5, 3.0, (H, W)), "no support plane"),
])
def test_bad_frames_give_an_empty_foreground_with_the_reason(depth: np.ndarray, reason: str) -> None:
    fg = remove_background(sample(depth), BackgroundSettings())
    assert not fg.mask.any() and fg.points.shape == (0, 3)
    assert reason in fg.reason


def test_the_bin_mask_replaces_the_plane_and_the_plane_finds_the_box() -> None:
    depth = table_with_a_box()
    by_plane = remove_background(sample(depth), BackgroundSettings())
    assert by_plane.reason is None and by_plane.mask.sum() == 150 and by_plane.mask[10:20, 10:25].all()
    bin_mask = np.ones((H, W), bool)
    bin_mask[0:5, 0:5] = False  # the bin mask says: only this corner is not bin
    by_bin = remove_background(sample(depth, bin_mask=bin_mask), BackgroundSettings())
    assert by_bin.mask.sum() == 25 and by_bin.mask[0:5, 0:5].all()
    assert remove_background(sample(depth, bin_mask=bin_mask), BackgroundSettings(use_bin_mask=False)).mask.sum() == 150


def test_missing_intrinsics_use_the_nominal_camera_with_one_warning(monkeypatch) -> None:
    monkeypatch.setattr(camera, "_WARNED_NOMINAL", set())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        found = [remove_background(sample(table_with_a_box(), intrinsics=None), BackgroundSettings()) for _ in range(3)]
    assert [str(w.message)[:40] for w in record] == ["no camera intrinsics for 64×48 depth: as"]
    fg = found[-1]
    assert fg.mask.sum() == 150  # a wrong K maps planes to planes: the box is still found
