"""The support plane (table or bin floor) by RANSAC, and the height band of points standing on it."""

from __future__ import annotations

import numpy as np

from sdmr.data.errors import DataError

RANSAC_SAMPLE_POINTS = 4000


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
        centred = on_plane - centre
        normal = np.linalg.eigh(centred.T @ centred)[1][:, 0]  # 3×3 scatter: 5× cheaper than an N×3 SVD
        offset = -float(normal @ centre)
    if offset < 0:
        normal, offset = -normal, -offset
    return normal, float(offset)


def heights_above(points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Signed distance of each point from the plane, positive on the camera's side."""
    return points @ normal + offset
