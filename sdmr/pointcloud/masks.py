"""Cluster labels of foreground points → modal masks (`Instances`), largest first."""

from __future__ import annotations

import numpy as np

from sdmr.data.instances import Instances


def labels_to_instances(labels: np.ndarray, pixels: np.ndarray, image_size: tuple[int, int]) -> Instances:
    """One bool mask per cluster id ≥ 0 of ``labels`` (one per point at flat pixel ``pixels``).

    Sorted by size, largest first (ties: lower id first), without scores: the COCO ranking of a
    method that has no confidence is then by size, as for ``connected_components``.
    """
    h, w = image_size
    labels = np.asarray(labels, dtype=np.int64)
    kept = labels >= 0
    if not kept.any():
        return Instances.empty(h, w)
    ids, inverse, counts = np.unique(labels[kept], return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    masks = np.zeros((len(ids), h * w), dtype=bool)
    masks[rank[inverse], pixels[kept]] = True
    return Instances(masks=masks.reshape(len(ids), h, w))


def filter_cluster_sizes(labels: np.ndarray, min_size: int, max_size: int) -> np.ndarray:
    """Labels with clusters outside ``[min_size, max_size]`` points set to -1, the rest renumbered
    0, 1, … in order of first label (PCL drops such clusters and leaves their points unlabelled)."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full(labels.shape, -1, dtype=np.int32)
    kept = labels >= 0
    if not kept.any():
        return out
    counts = np.bincount(labels[kept])
    ok = (counts >= min_size) & (counts <= max_size)
    new_id = np.full(len(counts), -1, dtype=np.int32)
    new_id[ok] = np.arange(np.count_nonzero(ok), dtype=np.int32)
    out[kept] = new_id[labels[kept]]
    return out
