"""Depth image ↔ camera-frame points, and the camera to assume when a sample has none."""

from __future__ import annotations

import warnings

from sdmr.data.intrinsics import CameraIntrinsics, back_project, nominal_intrinsics

__all__ = ["PointCloudWarning", "back_project", "nominal_intrinsics", "sample_intrinsics"]

_WARNED_NOMINAL: set[tuple[int, int]] = set()


class PointCloudWarning(UserWarning):
    """Something about the input made a point-cloud method guess or give up (named in the message)."""


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
