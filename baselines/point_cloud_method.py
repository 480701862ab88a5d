"""What the point-cloud baselines share: presets, a fitted-parameters file, background removal,
clusters → masks, and ``fit`` (a small grid search scored by the harness's AP).

A subclass says only how to cluster a cloud (``cluster``), how to do it fast for many settings
on one prepared image (``prepare`` + ``cluster_prepared``), and which settings ``fit`` tries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from sdmr.bench.method import BaseMethod
from sdmr.bench.tuning import coco_ap, grid_search, parameter_grid, read_fitted_params, write_fitted_params
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.sample import Sample
from sdmr.errors import ConfigError
from sdmr.pointcloud.backends import check_backend
from sdmr.pointcloud.background import BackgroundSettings, Foreground, remove_background, warn_if_empty
from sdmr.pointcloud.masks import labels_to_instances

Preset = Literal["paper", "paper_lowres", "tabletop"]
# never read from or written to a fitted-parameters file
RUN_ONLY_FIELDS = ("params_file", "backend")


@dataclass
class PointCloudParams:
    """Fields every point-cloud baseline has. The support removal defaults are FINDINGS.md's."""

    preset: Preset = "paper"  # paper = high-res sensor, paper_lowres = low-res sensor, tabletop = tuned on OCID
    backend: Literal["pip", "pcl"] = "pip"  # pcl = the real PCL 1.13 library (when installed)
    params_file: str | None = None  # fitted_params.json written by a --fit-split run
    plane_threshold: float = 0.01  # m: RANSAC inlier distance of the support plane
    min_height: float = 0.01  # m above the plane to count as object
    max_height: float = 0.5  # m above the plane
    ransac_iterations: int = 200
    use_bin_mask: bool = True  # bin pixels (segmasks_filled/) are background when the sample has them
    seed: int = 0
    fit_images: int = 10  # fit on the first N labelled training images (the paper: 10)


def check_support_params(name: str, p: Any) -> None:
    """The support-removal settings every depth baseline shares: a ``ConfigError`` naming the
    parameter when it cannot work (before any image is read)."""
    checks = (
        ("plane_threshold", p.plane_threshold > 0, "a positive RANSAC inlier distance in metres, e.g. 0.01"),
        ("min_height", p.min_height >= 0, "a height >= 0 m above the plane, e.g. 0.01"),
        ("max_height", p.max_height > p.min_height, f"a height above min_height={p.min_height} m, e.g. 0.5"),
        ("ransac_iterations", p.ransac_iterations >= 1, "at least 1, e.g. 200"),
    )
    for field_name, ok, fix in checks:
        if not ok:
            value = getattr(p, field_name)
            raise ConfigError(f"{name}: {field_name}={value} cannot work", fix=f"--param {field_name}=... : {fix}")


class PointCloudMethod(BaseMethod):
    """Depth → points → background removed → clusters → modal masks, largest first."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}}

    def __init__(self, params: Any | None = None, **overrides: Any) -> None:
        if params is None:  # defaults < preset < fitted parameters file < explicit overrides
            values = dict(self.PRESETS[self._preset(overrides.get("preset", self.Params.preset))])
            if overrides.get("params_file"):
                allowed = [f.name for f in dataclasses.fields(self.Params) if f.name not in RUN_ONLY_FIELDS]
                values.update(read_fitted_params(overrides["params_file"], self.name, allowed))
            params = self.Params(**{**values, **overrides})
        super().__init__(params)
        self.check_params()

    def _preset(self, name: str) -> str:
        if name not in self.PRESETS:
            raise DataError(f"{self.name}: unknown preset {name!r}", fix=f"choose one of {', '.join(self.PRESETS)}")
        return name

    def check_params(self) -> None:
        """Refuse settings that cannot work before any image is processed."""
        p = self.params
        check_backend(p.backend)
        check_support_params(self.name, p)
        if p.fit_images < 1:
            raise ConfigError(f"{self.name}: fit_images={p.fit_images} cannot work", fix="--param fit_images=10")
        if p.min_cluster_size < 1 or p.max_cluster_size < p.min_cluster_size:
            raise DataError(f"{self.name}: cluster size limits {p.min_cluster_size}–{p.max_cluster_size} are empty",
                            fix="set 1 ≤ min_cluster_size ≤ max_cluster_size")

    # ------------------------------------------------------------------ predict
    def background(self) -> BackgroundSettings:
        p = self.params
        return BackgroundSettings(plane_threshold=p.plane_threshold, min_height=p.min_height,
                                  max_height=p.max_height, ransac_iterations=p.ransac_iterations,
                                  use_bin_mask=p.use_bin_mask, seed=p.seed)

    def foreground(self, sample: Sample) -> Foreground:
        """The sample's object points, or an empty foreground with one message saying why."""
        fg = remove_background(sample, self.background())
        warn_if_empty(fg, sample, self.name)
        return fg

    def cluster(self, points: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """``int32`` cluster label per point, -1 = none."""
        raise NotImplementedError

    def predict(self, sample: Sample) -> Instances:
        fg = self.foreground(sample)
        if fg.reason is not None:
            return Instances.empty(*fg.image_size)
        return labels_to_instances(self.cluster(fg.points), fg.pixels, fg.image_size)

    # ------------------------------------------------------------------ fit
    def fit_axes(self) -> dict[str, Sequence[Any]]:  # pragma: no cover - abstract
        """The values ``fit`` tries for each tuned parameter."""
        raise NotImplementedError

    def prepare(self, points: np.ndarray) -> Any:
        """What ``cluster_prepared`` reuses across candidate settings on one image."""
        return points

    def cluster_prepared(self, prepared: Any, candidate: dict[str, Any]) -> np.ndarray:
        """Labels of one prepared image under the current parameters replaced by ``candidate``."""
        return type(self)(params=dataclasses.replace(self.params, **candidate)).cluster(prepared)

    def fit(self, train: Sequence[Sample], cfg: Any | None = None) -> None:
        """Grid search on the first ``fit_images`` labelled training images, scored by COCO AP; the
        current setting is tried first and kept unless another scores higher. Writes
        ``fitted_params.json`` into the run folder when the harness gives one."""
        images = []
        for sample in train:
            if len(images) >= self.params.fit_images:
                break
            if sample.get("instances") is not None:
                images.append((sample["instances"], self.foreground(sample)))
        if not images:
            raise DataError(f"{self.name}.fit: the training split has no labelled image",
                            fix="fit on a labelled split (e.g. --fit-split train of a generated dataset)")
        prepared = [None if fg.reason else self.prepare(fg.points) for _, fg in images]
        axes = self.fit_axes()
        current = {name: getattr(self.params, name) for name in axes}
        candidates = [current] + [c for c in parameter_grid(axes) if c != current]

        def score(candidate: dict[str, Any]) -> float:
            preds = [Instances.empty(*fg.image_size) if prep is None else
                     labels_to_instances(self.cluster_prepared(prep, candidate), fg.pixels, fg.image_size)
                     for (_, fg), prep in zip(images, prepared, strict=True)]
            return coco_ap([gt for gt, _ in images], preds)

        best, table = grid_search(candidates, score, desc=f"fit {self.name}")
        self.params = dataclasses.replace(self.params, **best)
        output_dir = getattr(cfg, "output_dir", None)
        if output_dir is not None:
            chosen = {k: v for k, v in dataclasses.asdict(self.params).items() if k not in RUN_ONLY_FIELDS}
            write_fitted_params(output_dir, self.name, chosen, table)
