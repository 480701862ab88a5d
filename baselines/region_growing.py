"""``region_growing``: the paper's second classical baseline, PCL's ``NormalEstimation`` then
``RegionGrowing`` on the back-projected depth after the support (bin mask, or plane) is removed.

Regions grow from the flattest points over neighbours whose normals differ by less than
``smoothness`` (radians); only neighbours flatter than ``curvature_threshold`` grow further, so
regions stop at creases — two touching boxes split where their faces meet. Presets
(REFERENCE.md, FINDINGS.md): ``paper`` 5 neighbours / 0.2 rad / curvature 0.095 / 800 points,
``paper_lowres`` 0.39 rad / 0.09 / 450, ``tabletop`` 15 neighbours / 0.3 rad / 0.05 / 450
(tuned with real PCL on OCID frames). Normals always from 50 neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from sdmr_baselines.point_cloud_method import PointCloudMethod, PointCloudParams

from sdmr.data.errors import DataError
from sdmr.pointcloud.neighbours import knn
from sdmr.pointcloud.normals import estimate_normals
from sdmr.pointcloud.region_growing import grow_regions, region_growing


@dataclass
class RegionGrowingParams(PointCloudParams):
    """Defaults: the paper's high-res settings (``preset=paper``)."""

    normal_neighbours: int = 50  # k of the PCA normal and curvature
    num_neighbours: int = 5  # k of the growing step (the point itself included, as in PCL)
    smoothness: float = 0.2  # rad: largest angle between neighbouring normals within a region
    curvature_threshold: float = 0.095  # flatter neighbours keep growing the region
    min_cluster_size: int = 800  # points
    max_cluster_size: int = 1_000_000
    fit_smoothness: tuple[float, ...] = field(default=(0.2, 0.3, 0.39))
    fit_curvature: tuple[float, ...] = field(default=(0.05, 0.09))
    fit_neighbours: tuple[int, ...] = field(default=(5, 15))
    fit_min_size: tuple[int, ...] = field(default=(450, 800))


class RegionGrowing(PointCloudMethod):
    """PCL region growing (smoothness + curvature) of the foreground points."""

    name = "region_growing"
    summary = "support removed, then PCL NormalEstimation + RegionGrowing (smoothness, curvature, size limits)"
    Params = RegionGrowingParams
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "paper_lowres": {"smoothness": 0.39, "curvature_threshold": 0.09, "min_cluster_size": 450},
        "tabletop": {"num_neighbours": 15, "smoothness": 0.3, "curvature_threshold": 0.05, "min_cluster_size": 450},
    }

    def check_params(self) -> None:
        super().check_params()
        p = self.params
        if p.normal_neighbours < 3 or p.num_neighbours < 2 or not 0 < p.smoothness < np.pi:
            raise DataError(f"region_growing: normal_neighbours={p.normal_neighbours}, num_neighbours="
                            f"{p.num_neighbours}, smoothness={p.smoothness} cannot grow regions",
                            fix="use normal_neighbours ≥ 3, num_neighbours ≥ 2, 0 < smoothness < π (radians)")

    def cluster(self, points: np.ndarray) -> np.ndarray:
        p = self.params
        return region_growing(points, p.normal_neighbours, p.num_neighbours, p.smoothness, p.curvature_threshold,
                              p.min_cluster_size, p.max_cluster_size, p.backend)

    def fit_axes(self) -> dict[str, Sequence[Any]]:
        p = self.params
        return {"smoothness": p.fit_smoothness, "curvature_threshold": p.fit_curvature,
                "num_neighbours": p.fit_neighbours, "min_cluster_size": p.fit_min_size}

    def prepare(self, points: np.ndarray) -> Any:
        """Normals and the widest neighbourhood once per image (pip backend); the search slices it."""
        if self.params.backend != "pip" or len(points) == 0:
            return points
        normals, curvature = estimate_normals(points, self.params.normal_neighbours)
        widest = max(self.params.num_neighbours, *self.params.fit_neighbours)
        return normals, curvature, knn(points, min(widest, len(points)))

    def cluster_prepared(self, prepared: Any, candidate: dict[str, Any]) -> np.ndarray:
        if not isinstance(prepared, tuple):
            return super().cluster_prepared(prepared, candidate)
        p = replace(self.params, **candidate)
        normals, curvature, neighbours = prepared
        return grow_regions(normals, curvature, neighbours[:, : p.num_neighbours], p.smoothness,
                            p.curvature_threshold, p.min_cluster_size, p.max_cluster_size)
