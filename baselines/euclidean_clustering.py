"""``euclidean_clustering``: the paper's first classical baseline, PCL's ``EuclideanClusterExtraction``
on the back-projected depth after the support (bin mask, or plane) is removed.

Points closer than ``cluster_tolerance`` belong to one object; clusters outside
``[min_cluster_size, max_cluster_size]`` points are dropped. Presets (REFERENCE.md, FINDINGS.md):
``paper`` 2 mm / 800 points (high-res sensor), ``paper_lowres`` and ``tabletop`` 4 mm / 450.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from sdmr_baselines.point_cloud_method import PointCloudMethod, PointCloudParams

from sdmr.data.errors import DataError
from sdmr.pointcloud.euclidean import euclidean_clusters


@dataclass
class EuclideanClusteringParams(PointCloudParams):
    """Defaults: the paper's high-res settings (``preset=paper``)."""

    cluster_tolerance: float = 0.002  # m between neighbouring points of one object
    min_cluster_size: int = 800  # points
    max_cluster_size: int = 1_000_000
    fit_tolerance: tuple[float, ...] = field(default=(0.002, 0.003, 0.004, 0.006, 0.008))
    fit_min_size: tuple[int, ...] = field(default=(200, 450, 800))


class EuclideanClustering(PointCloudMethod):
    """PCL Euclidean clustering of the foreground points."""

    name = "euclidean_clustering"
    summary = "support removed, then PCL EuclideanClusterExtraction (distance tolerance, cluster size limits)"
    Params = EuclideanClusteringParams
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "paper_lowres": {"cluster_tolerance": 0.004, "min_cluster_size": 450},
        "tabletop": {"cluster_tolerance": 0.004, "min_cluster_size": 450},
    }

    def check_params(self) -> None:
        super().check_params()
        if not self.params.cluster_tolerance > 0:
            raise DataError(f"euclidean_clustering: cluster_tolerance must be > 0, got {self.params.cluster_tolerance}",
                            fix="give the distance in metres, e.g. 0.004")

    def cluster(self, points: np.ndarray) -> np.ndarray:
        p = self.params
        return euclidean_clusters(points, p.cluster_tolerance, p.min_cluster_size, p.max_cluster_size, p.backend)

    def fit_axes(self) -> dict[str, Sequence[Any]]:
        return {"cluster_tolerance": self.params.fit_tolerance, "min_cluster_size": self.params.fit_min_size}
