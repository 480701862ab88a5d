"""``connected_components``: the simplest honest classical baseline, and the harness's own test method.

1. Support plane: RANSAC on the back-projected valid pixels (vectorised hypotheses), refined by
   least squares on its inliers. The plane with the most inliers within ``plane_threshold`` is
   taken as the table/bin floor.
2. Foreground: valid pixels between ``min_height`` and ``max_height`` above that plane, on the
   camera's side.
3. Segments: 4-connected components of the foreground where neighbouring depths differ by less
   than ``max_depth_jump`` (so an object in front of another splits at its silhouette); segments
   smaller than ``min_pixels`` (or ``min_area_fraction`` of the image) are noise.

Without intrinsics a nominal camera (focal length = image width, centred) is assumed. That is
safe for finding the plane: back-projecting with a wrong K is a linear map of the true points
(depth is kept exactly), and linear maps send planes to planes. Only the heights above the plane
are scaled by the focal-length error. Segments are returned largest first without scores, so
the COCO ranking is by size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sdmr.bench.method import BaseMethod
from sdmr.data.depth_io import valid_mask
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.sample import Sample

RANSAC_SAMPLE_POINTS = 4000


@dataclass
class ConnectedComponentsParams:
    """Defaults suit tabletop/bin depth at 0.5–2 m from the sensor (tuned on no test data)."""

    plane_threshold: float = 0.01  # m: inlier distance of the support plane
    min_height: float = 0.01  # m above the plane to count as object
    max_height: float = 0.5  # m above the plane; higher is background (walls, people)
    max_depth_jump: float = 0.01  # m between 4-neighbours of one segment
    min_pixels: int = 0  # smallest segment kept (pixels) ...
    min_area_fraction: float = 0.001  # ... or this fraction of the image, whichever is larger
    ransac_iterations: int = 200
    seed: int = 0


def nominal_intrinsics(height: int, width: int) -> CameraIntrinsics:
    """A centred camera with focal length = image width (about 53° horizontal field of view)."""
    return CameraIntrinsics(float(width), float(width), (width - 1) / 2, (height - 1) / 2, width, height)


def back_project(depth: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """``H×W×3`` camera-frame points (metres) of a depth image; invalid pixels give z = 0."""
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = np.where(valid_mask(depth), depth, 0.0).astype(np.float64)
    return np.stack([(u - intrinsics.cx) / intrinsics.fx * z, (v - intrinsics.cy) / intrinsics.fy * z, z], -1)


def ransac_plane(
    points: np.ndarray, threshold: float, iterations: int, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Unit normal ``n`` and offset ``d`` (``n·p + d = 0``) of the plane with most inliers.

    All hypotheses are scored at once on a random subset of points, then the winner is refit
    to its inliers among all points. The normal is oriented towards the camera (``d > 0``).
    """
    if len(points) < 3:
        raise DataError("fewer than 3 valid depth pixels: no support plane to find",
                        fix="check the depth image (0/NaN mark invalid pixels)")
    subset = points[rng.choice(len(points), size=min(len(points), RANSAC_SAMPLE_POINTS), replace=False)]
    triples = subset[rng.integers(0, len(subset), size=(iterations, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    good = norms > 1e-12
    if not np.any(good):
        raise DataError("depth points are degenerate (collinear): no support plane to find",
                        fix="check the depth image (too few distinct valid pixels to fit a plane)")
    normals = normals[good] / norms[good, None]
    offsets = -np.einsum("kj,kj->k", normals, triples[good, 0])
    inliers = (np.abs(subset @ normals.T + offsets) < threshold).sum(axis=0)
    best = int(np.argmax(inliers))
    normal, offset = normals[best], offsets[best]
    on_plane = points[np.abs(points @ normal + offset) < threshold]
    if len(on_plane) >= 3:  # least-squares refit: the smallest principal axis of the inliers
        centre = on_plane.mean(axis=0)
        normal = np.linalg.svd(on_plane - centre, full_matrices=False)[2][-1]
        offset = -float(normal @ centre)
    if offset < 0:
        normal, offset = -normal, -offset
    return normal, float(offset)


def depth_aware_components(foreground: np.ndarray, depth: np.ndarray, max_jump: float) -> np.ndarray:
    """Label image (0 = none) of 4-connected foreground regions without depth jumps ≥ ``max_jump``."""
    h, w = foreground.shape
    index = np.arange(h * w).reshape(h, w)
    rows, cols = [], []
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        link = foreground[a] & foreground[b] & (np.abs(depth[a] - depth[b]) < max_jump)
        rows.append(index[a][link])
        cols.append(index[b][link])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(h * w, h * w))
    _, labels = connected_components(graph, directed=False)
    labels = labels.reshape(h, w) + 1
    labels[~foreground] = 0
    return labels


class ConnectedComponents(BaseMethod):
    """Support-plane removal, then depth-discontinuity-aware connected components."""

    name = "connected_components"
    summary = "RANSAC support plane removed, then connected components split at depth jumps (no learning)"
    Params = ConnectedComponentsParams

    def foreground(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        """Pixels standing on the support plane, and the depth with invalid pixels zeroed."""
        p = self.params
        depth = np.asarray(sample["depth"], dtype=np.float32)
        if depth.ndim != 2:
            raise DataError(f"depth must be H×W, got shape {depth.shape}", fix="pass one depth channel in metres")
        valid = valid_mask(depth)
        if np.count_nonzero(valid) < 3:  # a blank frame: nothing stands on anything
            return np.zeros_like(valid), np.zeros_like(depth)
        intrinsics = sample.get("intrinsics") or nominal_intrinsics(*depth.shape)
        points = back_project(depth, intrinsics)
        rng = np.random.default_rng(p.seed)
        normal, offset = ransac_plane(points[valid], p.plane_threshold, p.ransac_iterations, rng)
        height = points @ normal + offset
        fg = valid & (height > p.min_height) & (height < p.max_height)
        return fg, np.where(valid, depth, 0.0)

    def predict(self, sample: Sample) -> Instances:
        p = self.params
        fg, depth = self.foreground(sample)
        labels = depth_aware_components(fg, depth, p.max_depth_jump)
        counts = np.bincount(labels.ravel())
        counts[0] = 0
        min_size = max(p.min_pixels, int(np.ceil(p.min_area_fraction * labels.size)), 1)
        keep = np.flatnonzero(counts >= min_size)
        keep = keep[np.argsort(-counts[keep], kind="stable")]
        if keep.size == 0:
            return Instances.empty(*depth.shape)
        return Instances(masks=labels[None] == keep[:, None, None])
