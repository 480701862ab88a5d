"""Neighbourhoods of a cloud: k nearest neighbours and all pairs within a radius (scipy's KD-tree).

Measured on OCID tabletop clouds (7–18k points, 1 thread): ``cKDTree`` answers k = 15 in 0.05 s
where Open3D's ``core.nns`` took 0.10 s, so the KD-tree queries are scipy's. Results are sorted by
distance, the point itself first, as PCL's ``nearestKSearch`` returns them.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def knn(points: np.ndarray, k: int, tree: cKDTree | None = None) -> np.ndarray:
    """``N×k`` int64 indices of each point's ``k`` nearest points (itself included, nearest first).

    With fewer than ``k`` points the missing columns are -1.
    """
    n = len(points)
    if n == 0 or k <= 0:
        return np.zeros((n, max(k, 0)), dtype=np.int64)
    tree = tree or cKDTree(points)
    _, index = tree.query(points, k=k)
    index = np.asarray(index, dtype=np.int64).reshape(n, k)
    index[index >= n] = -1  # scipy pads with n when there are fewer than k points
    return index


def radius_pairs(points: np.ndarray, radius: float, tree: cKDTree | None = None) -> np.ndarray:
    """``P×2`` index pairs ``(i < j)`` of points at most ``radius`` apart."""
    if len(points) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    tree = tree or cKDTree(points)
    return tree.query_pairs(radius, output_type="ndarray").astype(np.int64, copy=False)
