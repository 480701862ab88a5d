"""Depth image ↔ camera-frame points, and the camera to assume when a sample has none."""

from __future__ import annotations

import warnings

import numpy as np

from sdmr.data.depth_io import valid_mask
from sdmr.data.intrinsics import CameraIntrinsics

_WARNED_NOMINAL: set[tuple[int, int]] = set()


class PointCloudWarning(UserWarning):
    """Something about the input made a point-cloud method guess or give up (named in the message)."""


def nominal_intrinsics(height: int, width: int) -> CameraIntrinsics:
    """A centred camera with focal length = image width (about 53° horizontal field of view)."""
    return CameraIntrinsics(float(width), float(width), (width - 1) / 2, (height - 1) / 2, width, height)


def sample_intrinsics(intrinsics: CameraIntrinsics | None, height: int, width: int) -> CameraIntrinsics:
    """The sample's camera, or the nominal one with a warning (once per image size, not per image).

    Why it is safe enough: a wrong K is a linear map of the true points (depth is exact), so
    planes stay planes; only metric tolerances (cluster distance, heights) scale by the error.
    """
    if intrinsics is not None:
        return intrinsics
    if (height, width) not in _WARNED_NOMINAL:
        _WARNED_NOMINAL.add((height, width))
        warnings.warn(
            f"no camera intrinsics for {width}×{height} depth: assuming a nominal camera (fx = fy = {width}, "
            "centred); metric tolerances are off by the focal-length error. Fix: give the dataset a "
            "camera_intrinsics.intr (or pass intrinsics=...)",
            PointCloudWarning,
            stacklevel=2,
        )
    return nominal_intrinsics(height, width)


def back_project(depth: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """``H×W×3`` camera-frame points (metres) of a depth image; invalid pixels give z = 0."""
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = np.where(valid_mask(depth), depth, 0.0).astype(np.float64)
    return np.stack([(u - intrinsics.cx) / intrinsics.fx * z, (v - intrinsics.cy) / intrinsics.fy * z, z], -1)
