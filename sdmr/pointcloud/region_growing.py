"""Region growing, PCL 1.13's ``RegionGrowing`` (``region_growing.hpp``) step for step.

- Neighbours: the ``num_neighbours`` nearest points of each point (itself included, as
  ``nearestKSearch`` returns it; it is already labelled, so it is skipped).
- Seeds in order of increasing curvature (``normal_flag_``: the residual is the curvature).
- ``growRegion``: a breadth-first queue from the seed; a neighbour joins the region when
  ``|n_neighbour · n_current| ≥ cos(smoothness)`` (smooth mode, PCL's default: compared with the
  point being expanded, not the region's first seed, and with ``fabs``: normals are unoriented);
  it is queued to grow further only when its curvature is ≤ ``curvature_threshold``
  (``is_a_seed``). Every point ends in some region; the next seed is the next unlabelled point
  in curvature order.
- Regions outside ``[min_size, max_size]`` are dropped and their points left unlabelled (they
  are not regrown).

The loop is sequential (a point belongs to whichever region reaches it first), so it is
compiled with numba; measured on OCID tabletop clouds (``benchmarks/pcl_baselines.py``) numba
runs it in milliseconds where the same code interpreted by Python takes seconds. Without numba
the interpreted loop runs, with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from sdmr.pointcloud.backends import check_backend, pcl_module
from sdmr.pointcloud.camera import PointCloudWarning
from sdmr.pointcloud.masks import filter_cluster_sizes
from sdmr.pointcloud.neighbours import knn
from sdmr.pointcloud.normals import estimate_normals


def grow_regions_python(
    order: np.ndarray,
    neighbours: np.ndarray,
    normals: np.ndarray,
    curvature: np.ndarray,
    cos_threshold: float,
    curvature_threshold: float,
    smooth_mode: bool,
) -> np.ndarray:
    """Region id of every point (all points labelled); see the module docstring. Pure Python,
    compiled by numba in :func:`grow_regions_kernel`."""
    n = order.shape[0]
    k = neighbours.shape[1]
    labels = np.full(n, -1, np.int32)
    queue = np.empty(n, np.int64)
    segmented = 0
    segment = 0
    seed_position = 0
    while segmented < n:
        seed = order[seed_position]
        labels[seed] = segment
        queue[0] = seed
        head, tail, count = 0, 1, 1
        while head < tail:
            current = queue[head]
            head += 1
            reference = current if smooth_mode else seed
            for j in range(k):
                other = neighbours[current, j]
                if other < 0 or labels[other] != -1:
                    continue
                dot = (normals[other, 0] * normals[reference, 0] + normals[other, 1] * normals[reference, 1]
                       + normals[other, 2] * normals[reference, 2])
                if abs(dot) < cos_threshold:
                    continue
                labels[other] = segment
                count += 1
                if not curvature[other] > curvature_threshold:
                    queue[tail] = other
                    tail += 1
        segmented += count
        segment += 1
        while seed_position < n and labels[order[seed_position]] != -1:
            seed_position += 1
        if seed_position == n:
            break
    return labels


_KERNEL: list[Callable[..., np.ndarray]] = []


def grow_regions_kernel() -> Callable[..., np.ndarray]:
    """The numba-compiled loop (compiled once per process, cached on disk), else the Python one."""
    if not _KERNEL:
        try:
            import numba
        except ImportError:
            warnings.warn("numba is not installed: region growing runs interpreted (~100× slower). "
                          "Fix: pip install 'sdmr[baselines]'", PointCloudWarning, stacklevel=2)
            _KERNEL.append(grow_regions_python)
        else:
            _KERNEL.append(numba.njit(cache=True, nogil=True)(grow_regions_python))
    return _KERNEL[0]


def grow_regions(
    normals: np.ndarray,
    curvature: np.ndarray,
    neighbours: np.ndarray,
    smoothness_rad: float,
    curvature_threshold: float,
    min_size: int,
    max_size: int,
    smooth_mode: bool = True,
) -> np.ndarray:
    """Region labels (``int32``, -1 = dropped) from precomputed normals, curvature and kNN indices.

    Split from :func:`region_growing` so a parameter search reuses normals and neighbours.
    """
    n = len(normals)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    order = np.argsort(curvature, kind="stable").astype(np.int64)
    labels = grow_regions_kernel()(
        order, np.ascontiguousarray(neighbours, dtype=np.int64), np.ascontiguousarray(normals, dtype=np.float64),
        np.ascontiguousarray(curvature, dtype=np.float64), float(np.cos(smoothness_rad)),
        float(curvature_threshold), bool(smooth_mode),
    )
    return filter_cluster_sizes(labels, min_size, max_size)


def region_growing(
    points: np.ndarray,
    k_normals: int,
    num_neighbours: int,
    smoothness_rad: float,
    curvature_threshold: float,
    min_size: int,
    max_size: int,
    backend: str = "pip",
) -> np.ndarray:
    """PCL ``NormalEstimation`` (k = ``k_normals``) then ``RegionGrowing``; ``int32`` labels, -1 = none."""
    if check_backend(backend) == "pcl":
        return pcl_module().region_growing(np.ascontiguousarray(points, dtype=np.float32), k_normals,
                                           num_neighbours, smoothness_rad, curvature_threshold, min_size, max_size)
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros(0, dtype=np.int32)
    normals, curvature = estimate_normals(points, k_normals)
    neighbours = knn(points, min(num_neighbours, len(points)))
    return grow_regions(normals, curvature, neighbours, smoothness_rad, curvature_threshold, min_size, max_size)
