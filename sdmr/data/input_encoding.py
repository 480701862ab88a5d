"""Depth → network input in [0, 1]. The encoding is part of a trained model.

A model only works on depth encoded the way it was trained, so the encoding name is stored
in every checkpoint and looked up here. Two encodings ship:

* ``wisdom_fixed``     – the paper: 0.25–1.25 m mapped linearly to 0–1 (WISDOM compatible).
* ``median_relative``  – ``clip(0.5 + (d - median(d)) / 0.8, 0, 1)``, i.e. the image median
  ± 0.4 m. It transferred to a real tabletop sensor at 1–2 m without tuning (FINDINGS.md),
  where the fixed window clips everything.

Three more use the camera geometry, which does not depend on how far the camera is (they need
the intrinsics; a sample without them gets :func:`sdmr.data.intrinsics.nominal_intrinsics`):

* ``normals``          – surface normals from the back-projected depth, (n + 1) / 2 per axis.
* ``depth_normals``    – ``median_relative`` depth + the normal's x and y components.
* ``xyz``              – the organised point cloud, centred on its median point, ± 0.4 m → [0, 1].

All fill invalid pixels with the nearest valid depth first (the original inpainted). The
single-channel encodings are triplicated for the network; the others give three channels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from sdmr.data.depth_io import WISDOM_MAX_DEPTH, WISDOM_MIN_DEPTH, valid_mask
from sdmr.data.errors import DataError
from sdmr.data.intrinsics import CameraIntrinsics, back_project, nominal_intrinsics

RELATIVE_WINDOW = 0.8  # metres mapped to [0, 1] around the median by the relative encodings


def fill_invalid_nearest(depth: np.ndarray) -> np.ndarray:
    """Replace 0/NaN pixels by the nearest valid pixel's depth (Euclidean distance)."""
    valid = valid_mask(depth)
    if valid.all():
        return depth.astype(np.float32, copy=False)
    if not valid.any():
        raise DataError("depth has no valid pixel to fill from", fix="check the depth file and encoding")
    _, (rows, cols) = ndimage.distance_transform_edt(~valid, return_indices=True)
    return depth[rows, cols].astype(np.float32)


def encode_wisdom_fixed(depth: np.ndarray) -> np.ndarray:
    filled = fill_invalid_nearest(depth)
    return np.clip((filled - WISDOM_MIN_DEPTH) / (WISDOM_MAX_DEPTH - WISDOM_MIN_DEPTH), 0.0, 1.0).astype(
        np.float32
    )


def encode_median_relative(depth: np.ndarray, window: float = RELATIVE_WINDOW) -> np.ndarray:
    filled = fill_invalid_nearest(depth)
    median = float(np.median(filled))
    return np.clip(0.5 + (filled - median) / window, 0.0, 1.0).astype(np.float32)


def organised_points(filled: np.ndarray, intrinsics: CameraIntrinsics | None) -> np.ndarray:
    """H×W×3 camera-frame points of an already filled depth image (the nominal camera if unknown)."""
    return back_project(filled, intrinsics if intrinsics is not None else nominal_intrinsics(*filled.shape))


def surface_normals(points: np.ndarray) -> np.ndarray:
    """H×W×3 unit normals (facing the camera) from the cross product of the image-axis tangents."""
    du = np.gradient(points, axis=1)
    dv = np.gradient(points, axis=0)
    normals = np.cross(du, dv)
    normals /= np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)
    facing_away = np.sum(normals * points, axis=-1) > 0
    normals[facing_away] *= -1
    return normals.astype(np.float32)


def encode_normals(depth: np.ndarray, intrinsics: CameraIntrinsics | None = None) -> np.ndarray:
    normals = surface_normals(organised_points(fill_invalid_nearest(depth), intrinsics))
    return np.moveaxis((normals + 1.0) / 2.0, -1, 0).astype(np.float32)


def encode_depth_normals(depth: np.ndarray, intrinsics: CameraIntrinsics | None = None) -> np.ndarray:
    normals = encode_normals(depth, intrinsics)
    return np.concatenate([encode_median_relative(depth)[None], normals[:2]], axis=0)


def encode_xyz(depth: np.ndarray, intrinsics: CameraIntrinsics | None = None) -> np.ndarray:
    points = organised_points(fill_invalid_nearest(depth), intrinsics)
    centre = np.median(points.reshape(-1, 3), axis=0)
    return np.moveaxis(np.clip(0.5 + (points - centre) / RELATIVE_WINDOW, 0.0, 1.0), -1, 0).astype(np.float32)


INPUT_ENCODINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "wisdom_fixed": encode_wisdom_fixed,
    "median_relative": encode_median_relative,
}
#: Encodings that use the camera geometry: ``f(depth, intrinsics) -> 3×H×W``.
GEOMETRIC_ENCODINGS: dict[str, Callable[[np.ndarray, CameraIntrinsics | None], np.ndarray]] = {
    "normals": encode_normals,
    "depth_normals": encode_depth_normals,
    "xyz": encode_xyz,
}


def check_input_encoding(encoding: str) -> str:
    """``encoding`` if it names a model input encoding (checked early, where it is configured)."""
    if encoding not in INPUT_ENCODINGS and encoding not in GEOMETRIC_ENCODINGS:
        names = ", ".join([*INPUT_ENCODINGS, *GEOMETRIC_ENCODINGS])
        raise DataError(f"unknown input encoding '{encoding}'", fix=f"use one of {names}")
    return encoding


def encode_depth_for_model(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Encode float metres H×W to a float32 H×W image in [0, 1] with a single-channel encoding."""
    if check_input_encoding(encoding) in GEOMETRIC_ENCODINGS:
        raise DataError(
            f"input encoding '{encoding}' has three channels and needs the camera",
            fix="call encode_model_input(depth, encoding, intrinsics) instead",
        )
    return INPUT_ENCODINGS[encoding](depth)


def encode_model_input(depth: np.ndarray, encoding: str, intrinsics: CameraIntrinsics | None = None) -> np.ndarray:
    """Encode float metres H×W to float32 C×H×W in [0, 1] (C = 1 or 3) with any encoding."""
    if check_input_encoding(encoding) in GEOMETRIC_ENCODINGS:
        return GEOMETRIC_ENCODINGS[encoding](depth, intrinsics)
    return INPUT_ENCODINGS[encoding](depth)[None]
