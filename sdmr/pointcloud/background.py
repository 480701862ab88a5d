"""Which pixels are objects: bin pixels removed when the sample has a bin mask, else the support
plane (RANSAC) and everything outside a height band above it.

Bad input never raises here: an all-invalid frame, a frame with no plane, or one where nothing
stands on the plane gives an empty foreground with the reason, so a method can return "found
nothing" with one clear message instead of crashing a benchmark run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from sdmr.data.depth_io import valid_mask
from sdmr.data.errors import DataError
from sdmr.data.sample import Sample
from sdmr.pointcloud.camera import PointCloudWarning, back_project, sample_intrinsics
from sdmr.pointcloud.plane import heights_above, ransac_plane

MIN_POINTS = 3


@dataclass(frozen=True)
class BackgroundSettings:
    """How the support is removed; the defaults suit tables and bins 0.5–2 m from the sensor."""

    plane_threshold: float = 0.01  # m: inlier distance of the support plane
    min_height: float = 0.01  # m above the plane to count as object
    max_height: float = 0.5  # m above the plane; higher is background (walls, people)
    ransac_iterations: int = 200
    min_plane_fraction: float = 0.05  # a "plane" holding fewer of the valid pixels is no support
    use_bin_mask: bool = True  # a sample's bin_mask (True = bin/background) replaces the plane
    seed: int = 0


@dataclass(frozen=True)
class Foreground:
    """Object pixels of one image and their camera-frame points (metres)."""

    mask: np.ndarray  # bool H×W
    xyz: np.ndarray  # float64 H×W×3 (every pixel; invalid ones are 0)
    reason: str | None = None  # why the foreground is empty, when it is

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.mask.shape[0]), int(self.mask.shape[1])

    @property
    def pixels(self) -> np.ndarray:
        """Flat indices of the foreground pixels, in row-major order (the order of ``points``)."""
        return np.flatnonzero(self.mask)

    @property
    def points(self) -> np.ndarray:
        """``N×3`` float32 foreground points, the cloud a clustering step sees."""
        return np.ascontiguousarray(self.xyz.reshape(-1, 3)[self.pixels], dtype=np.float32)


def _depth_of(sample: Sample) -> np.ndarray:
    depth = np.asarray(sample["depth"], dtype=np.float32)
    if depth.ndim != 2:
        raise DataError(f"depth must be H×W, got shape {depth.shape}", fix="pass one depth channel in metres")
    return depth


def remove_background(sample: Sample, settings: BackgroundSettings) -> Foreground:
    """The sample's foreground (see the module docstring for the two ways)."""
    depth = _depth_of(sample)
    valid = valid_mask(depth)
    xyz = back_project(depth, sample_intrinsics(sample.get("intrinsics"), *depth.shape))
    empty = np.zeros_like(valid)
    if np.count_nonzero(valid) < MIN_POINTS:
        return Foreground(empty, xyz, "no valid depth pixels (every pixel is 0 or NaN)")
    bin_mask = sample.get("bin_mask")
    if settings.use_bin_mask and bin_mask is not None:
        bin_mask = np.asarray(bin_mask, dtype=bool)
        if bin_mask.shape != depth.shape:
            raise DataError(f"bin mask is {bin_mask.shape} but the depth is {depth.shape}",
                            fix="pass a bin mask of the depth image's size (or none)")
        fg = valid & ~bin_mask
        return Foreground(fg, xyz, None if fg.any() else "nothing left after removing the bin-mask pixels")
    points = xyz[valid]
    try:
        normal, offset = ransac_plane(points, settings.plane_threshold, settings.ransac_iterations,
                                      np.random.default_rng(settings.seed))
    except DataError as err:
        return Foreground(empty, xyz, f"no support plane found ({err.args[0]})")
    height = heights_above(xyz, normal, offset)
    on_plane = np.count_nonzero(valid & (np.abs(height) < settings.plane_threshold))
    if on_plane < settings.min_plane_fraction * len(points):
        return Foreground(empty, xyz, f"no support plane found (best plane holds {on_plane} of "
                                      f"{len(points)} valid pixels)")
    fg = valid & (height > settings.min_height) & (height < settings.max_height)
    if not fg.any():
        return Foreground(fg, xyz, f"nothing stands {settings.min_height}–{settings.max_height} m above "
                                   "the support plane")
    return Foreground(fg, xyz)


def warn_if_empty(foreground: Foreground, sample: Sample, method: str) -> bool:
    """One message (a `PointCloudWarning`) naming the image and why nothing is left; True if so."""
    if foreground.reason is None:
        return False
    warnings.warn(f"{method}: image {sample.get('name', sample.get('image_id'))}: {foreground.reason}; "
                  "returning no objects", PointCloudWarning, stacklevel=3)
    return True
