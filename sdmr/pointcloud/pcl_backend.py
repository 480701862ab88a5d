"""The real PCL 1.13 as a backend (``--param backend=pcl``): a thin compiled binding, built on demand.

The classical baselines of the paper (Table I rows 1-2) are PCL's ``EuclideanClusterExtraction`` and
``RegionGrowing``. The pip backends re-implement them; this module calls the library itself so the two
can be compared on the same cloud. PCL has no working pip package (``python-pcl`` does not build, and
Debian's ``python3-pcl`` has no region growing and only works with the system Python), so we compile
``csrc/pcl_binding.cpp`` against Debian's PCL 1.13 with ``python -m sdmr.pointcloud.build_pcl``
(``scripts/install_pcl.sh`` installs what it needs). Nothing here is needed by ``pip install sdmr``:
``available()`` is simply False, with ``why_unavailable()`` saying how to get it.

All functions take ``points`` as an N x 3 array (float32 or anything castable; camera frame, metres,
already background-removed, all finite) and return per-point int32 labels with -1 for points in no kept
cluster; clusters are numbered in PCL's output order (Euclidean: largest first; region growing: the
order regions were grown, seeds by increasing curvature).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from sdmr.data.errors import DataError

_module: ModuleType | None = None
_reason: str | None = None


def _load() -> ModuleType | None:
    """Import the compiled binding once; remember why it failed so every caller gets the same message."""
    global _module, _reason
    if _module is not None or _reason is not None:
        return _module
    from sdmr.pointcloud.build_pcl import INSTALL_HINT, output_path

    try:
        _module = importlib.import_module("sdmr.pointcloud._pcl_binding")
    except ImportError as e:
        if not output_path().exists():
            _reason = f"the PCL backend is not built ({output_path().name} not found). Fix: {INSTALL_HINT}"
        else:
            # Built, but e.g. the PCL runtime libraries were removed or it was built for another Python.
            _reason = (
                f"the PCL backend ({output_path()}) does not load: {e}. Fix: reinstall the PCL 1.13 runtime "
                f"libraries and rebuild with `python -m sdmr.pointcloud.build_pcl` ({INSTALL_HINT})"
            )
    return _module


def available() -> bool:
    """True when the compiled PCL binding imports (PCL 1.13 runtime libraries present)."""
    return _load() is not None


def why_unavailable() -> str:
    """Why ``available()`` is False, with the command that fixes it; empty string when available."""
    _load()
    return _reason or ""


def version() -> str:
    """The PCL version the binding was compiled against, e.g. ``"1.13.0"``."""
    return str(_require().PCL_VERSION)


def _require() -> ModuleType:
    mod = _load()
    if mod is None:
        raise DataError(
            "backend=pcl was requested but " + (_reason or "the PCL backend is unavailable"),
            fix="use the default pip backend (leave out --param backend=pcl), or build the PCL backend as described",
        )
    return mod


def _points(points: np.ndarray) -> np.ndarray:
    """An N x 3 C-contiguous float32 copy-if-needed; PCL's KD-tree misbehaves on NaN, so refuse them here."""
    arr = np.ascontiguousarray(points, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise DataError(
            f"points must be an N x 3 array, got shape {tuple(arr.shape)}",
            fix="pass the back-projected points as an (N, 3) array (x, y, z in metres)",
        )
    bad = int((~np.isfinite(arr)).any(axis=1).sum())
    if bad:
        raise DataError(
            f"{bad} of {len(arr)} points are not finite",
            fix="drop invalid depth pixels (NaN/inf/0) before segmenting the cloud",
        )
    return arr


def _check_sizes(min_size: int, max_size: int) -> None:
    if min_size < 1 or max_size < min_size:
        raise DataError(
            f"cluster size limits must satisfy 1 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}",
            fix="set min_size (e.g. 450) and max_size (e.g. 1000000) with min_size <= max_size",
        )


def euclidean_clusters(points: np.ndarray, tolerance: float, min_size: int, max_size: int) -> np.ndarray:
    """PCL ``EuclideanClusterExtraction`` (KdTree): int32 label per point, -1 = none; largest cluster first.

    Clusters with fewer than ``min_size`` or more than ``max_size`` points are dropped (not split), as in PCL.
    """
    if not tolerance > 0:
        raise DataError(f"cluster tolerance must be > 0 metres, got {tolerance}", fix="e.g. tolerance=0.004")
    _check_sizes(min_size, max_size)
    return _require().euclidean_clusters(_points(points), float(tolerance), int(min_size), int(max_size))


def estimate_normals(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """PCL ``NormalEstimation`` with k-nearest neighbours (the point itself included), viewpoint at the origin.

    Returns (normals N x 3 float32, curvature N float32). Curvature is PCL's surface variation
    λ0 / (λ0 + λ1 + λ2) of the neighbourhood covariance; normals point towards the camera.
    """
    if k < 3:
        raise DataError(f"normals need k >= 3 neighbours, got {k}", fix="e.g. k=50 (the paper's setting)")
    normals, curvature = _require().estimate_normals(_points(points), int(k))
    return normals, curvature


def region_growing(
    points: np.ndarray,
    k_normals: int,
    num_neighbours: int,
    smoothness_rad: float,
    curvature_threshold: float,
    min_size: int,
    max_size: int,
) -> np.ndarray:
    """PCL ``RegionGrowing``: normals from ``k_normals`` neighbours, growing over ``num_neighbours``.

    PCL's defaults otherwise: smooth mode on, curvature test on, residual test off. int32 labels, -1 = none.
    """
    if k_normals < 3:
        raise DataError(f"normals need k_normals >= 3, got {k_normals}", fix="e.g. k_normals=50")
    if num_neighbours < 1:
        raise DataError(f"num_neighbours must be >= 1, got {num_neighbours}", fix="e.g. num_neighbours=15")
    _check_sizes(min_size, max_size)
    return _require().region_growing(
        _points(points), int(k_normals), int(num_neighbours), float(smoothness_rad),
        float(curvature_threshold), int(min_size), int(max_size),
    )


# Diagnostics: the two inputs of region growing whose order a re-implementation may legitimately differ
# in (used by the agreement tests and to explain a disagreement; see docs/baselines.md).
def nearest_k(points: np.ndarray, k: int) -> np.ndarray:
    """PCL ``KdTree::nearestKSearch`` for every point: ``N×k`` int32 indices, nearest first, itself included."""
    if k < 1:
        raise DataError(f"k must be >= 1, got {k}", fix="e.g. k=15")
    return _require().nearest_k(_points(points), int(k))


def seed_order(curvature: np.ndarray) -> np.ndarray:
    """The order PCL's ``RegionGrowing`` takes seeds in for these (float32) curvatures: ``std::sort`` by
    curvature with ``pcl::comparePair``, which is not stable, so equal curvatures (PCL's float eigen
    solver returns exactly 0 for flat neighbourhoods) come in an order no stable argsort reproduces."""
    return _require().seed_order(np.ascontiguousarray(curvature, dtype=np.float32).reshape(-1))
