"""Euclidean clustering and region growing on clouds whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from sdmr.pointcloud.euclidean import euclidean_clusters
from sdmr.pointcloud.masks import filter_cluster_sizes
from sdmr.pointcloud.region_growing import (
    grow_regions,
    grow_regions_kernel,
    grow_regions_python,
    region_growing,
)
from sdmr.pointcloud.synthetic import box_top, cloud, cylinder_top_and_side, wall_x


def partition(labels: np.ndarray, parts: np.ndarray) -> dict[int, set[int]]:
    """Part index → the set of cluster labels its points received."""
    return {int(k): set(labels[parts == k].tolist()) for k in np.unique(parts)}


@pytest.mark.parametrize("gap, merged", [(0.010, False), (0.001, True)])  # nearest points gap + 2 mm apart
def test_euclidean_separates_beyond_the_tolerance_and_merges_within(gap: float, merged: bool) -> None:
    points, parts = cloud(box_top((-0.06, 0.0), (-0.03, 0.03), 0.05),
                          box_top((gap, 0.06 + gap), (-0.03, 0.03), 0.05),
                          cylinder_top_and_side((0.0, 0.12), 0.03, 0.06))
    labels = euclidean_clusters(points, 0.004, 10, 1_000_000)
    found = partition(labels, parts)
    assert all(len(s) == 1 and -1 not in s for s in found.values())  # no object split, none dropped
    assert (found[0] == found[1]) is merged
    assert found[2] != found[0] and found[2] != found[1]  # the cylinder, 3 cm away, is alone


def test_euclidean_cluster_size_limits_drop_whole_clusters() -> None:
    small = box_top((0.2, 0.21), (0.0, 0.01), 0.05)  # 25 points
    large = box_top((-0.06, 0.0), (-0.03, 0.03), 0.05)  # 900 points
    points, parts = cloud(small, large)
    assert set(euclidean_clusters(points, 0.004, 26, 10_000)[parts == 0]) == {-1}
    assert set(euclidean_clusters(points, 0.004, 1, 899)[parts == 1]) == {-1}
    kept = euclidean_clusters(points, 0.004, 25, 900)
    assert set(kept[parts == 0]) == {0} and set(kept[parts == 1]) == {1}  # numbered by first point


def touching_boxes() -> tuple[np.ndarray, np.ndarray]:
    """A 4 cm and an 8 cm box side by side, touching: top, wall (the taller box's side), top."""
    return cloud(box_top((-0.08, 0.0), (-0.04, 0.04), 0.04),
                 wall_x(0.0, (-0.04, 0.04), (0.04, 0.08)),
                 box_top((0.0 + 0.002, 0.08), (-0.04, 0.04), 0.08))


def test_region_growing_splits_touching_boxes_at_their_crease_where_euclidean_merges() -> None:
    points, parts = touching_boxes()
    assert len(set(euclidean_clusters(points, 0.004, 10, 1_000_000).tolist())) == 1  # one continuous surface
    labels = region_growing(points, 30, 15, 0.3, 0.05, 100, 1_000_000)
    found = partition(labels, parts)
    top_a, top_b = (max(found[k], key=lambda label: np.count_nonzero(labels[parts == k] == label)) for k in (0, 2))
    assert top_a != top_b and -1 not in (top_a, top_b)
    for k in (0, 2):  # each top is (almost all) one region: the crease rows may go either way
        assert np.mean(labels[parts == k] == (top_a if k == 0 else top_b)) > 0.9


def test_region_growing_size_limits_unlabel_rejected_regions() -> None:
    points, parts = touching_boxes()
    labels = region_growing(points, 30, 15, 0.3, 0.05, 1500, 1_000_000)  # only the tops (1600 points) pass
    assert set(labels[parts == 1].tolist()) <= {-1, 0, 1}
    assert np.count_nonzero(labels == -1) >= 0.9 * np.count_nonzero(parts == 1)
    assert len(set(labels.tolist()) - {-1}) == 2


def test_compiled_and_interpreted_region_growing_agree() -> None:
    rng = np.random.default_rng(0)
    n, k = 400, 8
    normals = rng.normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    neighbours = np.column_stack([np.arange(n), rng.integers(0, n, size=(n, k - 1))])
    curvature = rng.uniform(0, 0.2, n)
    order = np.argsort(curvature, kind="stable")
    for smooth in (True, False):
        args = (order, neighbours, normals, curvature, np.cos(1.0), 0.1, smooth)
        np.testing.assert_array_equal(grow_regions_kernel()(*args), grow_regions_python(*args))


def test_curvature_test_stops_growth_but_the_seed_still_grows() -> None:
    # a chain 0-1-2-3 with parallel normals; point 1 is too curved to grow further
    neighbours = np.array([[0, 1], [1, 2], [2, 3], [3, 2]])
    normals = np.tile([0.0, 0.0, -1.0], (4, 1))
    labels = grow_regions(normals, np.array([0.0, 0.5, 0.01, 0.02]), neighbours, 0.3, 0.1, 1, 100)
    # seed 0 takes 1; 1 is not a seed, so 2 starts a new region (the next flattest) and takes 3
    assert labels.tolist() == [0, 0, 1, 1]
    assert filter_cluster_sizes(np.array([0, 0, 1, -1]), 2, 5).tolist() == [0, 0, -1, -1]
