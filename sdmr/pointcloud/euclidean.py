"""Euclidean clustering, PCL's ``EuclideanClusterExtraction``: points closer than ``tolerance`` are
in one cluster (the connected components of the radius graph); clusters with fewer than
``min_size`` or more than ``max_size`` points are dropped, their points unlabelled.

The pip backend builds the whole radius graph at once (scipy KD-tree pairs, then scipy's
connected components) instead of PCL's breadth-first flood fill: the same partition, because
both are the connected components of the same graph, numbered in order of their lowest point
index as PCL finds them.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sdmr.pointcloud.backends import check_backend, pcl_module
from sdmr.pointcloud.masks import filter_cluster_sizes
from sdmr.pointcloud.neighbours import radius_pairs


def euclidean_clusters(
    points: np.ndarray, tolerance: float, min_size: int, max_size: int, backend: str = "pip"
) -> np.ndarray:
    """``int32`` cluster label per point (-1 = in no kept cluster). ``points`` float ``N×3`` metres."""
    if check_backend(backend) == "pcl":
        return pcl_module().euclidean_clusters(np.ascontiguousarray(points, dtype=np.float32),
                                               tolerance, min_size, max_size)
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    pairs = radius_pairs(points, tolerance)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return filter_cluster_sizes(labels, min_size, max_size)
