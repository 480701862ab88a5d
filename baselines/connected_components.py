"""``connected_components``: the simplest honest classical baseline, and the harness's own test method.

1. Foreground (``sdmr.pointcloud.background``): the sample's bin mask removed when it has one;
   otherwise the support plane (RANSAC on the back-projected valid pixels, least-squares refit)
   and every pixel outside ``min_height``–``max_height`` above it.
2. Segments: 4-connected components of the foreground where neighbouring depths differ by less
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
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sdmr.bench.method import BaseMethod
from sdmr.data.instances import Instances
from sdmr.data.sample import Sample
from sdmr.errors import ConfigError
from sdmr.pointcloud.background import BackgroundSettings, remove_background, warn_if_empty


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
    use_bin_mask: bool = True  # bin pixels (segmasks_filled/) are background when the sample has them
    seed: int = 0


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
    summary = "support removed (bin mask or RANSAC plane), then connected components split at depth jumps (no learning)"
    Params = ConnectedComponentsParams

    def __init__(self, params: Any | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        from sdmr_baselines.point_cloud_method import check_support_params

        check_support_params(self.name, self.params)
        if self.params.max_depth_jump <= 0:
            raise ConfigError(f"{self.name}: max_depth_jump={self.params.max_depth_jump} cannot work",
                              fix="--param max_depth_jump=0.01 (metres between neighbours of one segment)")

    def predict(self, sample: Sample) -> Instances:
        p = self.params
        fg = remove_background(sample, BackgroundSettings(
            plane_threshold=p.plane_threshold, min_height=p.min_height, max_height=p.max_height,
            ransac_iterations=p.ransac_iterations, use_bin_mask=p.use_bin_mask, seed=p.seed))
        if warn_if_empty(fg, sample, self.name):
            return Instances.empty(*fg.image_size)
        labels = depth_aware_components(fg.mask, fg.xyz[..., 2], p.max_depth_jump)
        counts = np.bincount(labels.ravel())
        counts[0] = 0
        min_size = max(p.min_pixels, int(np.ceil(p.min_area_fraction * labels.size)), 1)
        keep = np.flatnonzero(counts >= min_size)
        keep = keep[np.argsort(-counts[keep], kind="stable")]
        if keep.size == 0:
            return Instances.empty(*fg.image_size)
        return Instances(masks=labels[None] == keep[:, None, None])
