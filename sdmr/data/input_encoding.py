"""Depth → network input in [0, 1]. The encoding is part of a trained model.

A model only works on depth encoded the way it was trained, so the encoding name is stored
in every checkpoint and looked up here. Two encodings ship:

* ``wisdom_fixed``     – the paper: 0.25–1.25 m mapped linearly to 0–1 (WISDOM compatible).
* ``median_relative``  – ``clip(0.5 + (d - median(d)) / 0.8, 0, 1)``, i.e. the image median
  ± 0.4 m. It transferred to a real tabletop sensor at 1–2 m without tuning (FINDINGS.md),
  where the fixed window clips everything.

Both fill invalid pixels with the nearest valid depth first (the original inpainted).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from sdmr.data.depth_io import WISDOM_MAX_DEPTH, WISDOM_MIN_DEPTH, valid_mask
from sdmr.data.errors import DataError


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


def encode_median_relative(depth: np.ndarray, window: float = 0.8) -> np.ndarray:
    filled = fill_invalid_nearest(depth)
    median = float(np.median(filled))
    return np.clip(0.5 + (filled - median) / window, 0.0, 1.0).astype(np.float32)


INPUT_ENCODINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "wisdom_fixed": encode_wisdom_fixed,
    "median_relative": encode_median_relative,
}


def check_input_encoding(encoding: str) -> str:
    """``encoding`` if it names a model input encoding (checked early, where it is configured)."""
    if encoding not in INPUT_ENCODINGS:
        raise DataError(f"unknown input encoding '{encoding}'", fix=f"use one of {', '.join(INPUT_ENCODINGS)}")
    return encoding


def encode_depth_for_model(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Encode float metres H×W to a float32 H×W image in [0, 1] with the named encoding."""
    return INPUT_ENCODINGS[check_input_encoding(encoding)](depth)
