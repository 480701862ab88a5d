"""Normals and curvature exactly as PCL's ``NormalEstimation`` defines them.

For each point: the covariance of its k nearest neighbours (itself included), the eigenvector
of the smallest eigenvalue λ0 is the normal, curvature = λ0 / (λ0 + λ1 + λ2) (PCL's
``solvePlaneParameters``: ``|λ0 / trace|``, 0 for a zero trace), and the normal is flipped to
face the viewpoint at the camera origin (``flipNormalTowardsViewpoint``).

The neighbourhood covariances come from Open3D's C++ ``estimate_covariances`` when Open3D is
installed (0.09 s for 18k points, k = 50, against 0.26 s for scipy's KD-tree plus numpy); the
numpy path computes the same matrices (tested) and is used without Open3D. Points whose
neighbours tie in distance may pick different neighbours in either path, as they may in PCL.
"""

from __future__ import annotations

import numpy as np

from sdmr.pointcloud.backends import check_backend, pcl_module
from sdmr.pointcloud.neighbours import knn

_COVARIANCE_CHUNK = 20000


def _open3d():
    try:
        import open3d
    except ImportError:  # the pip backend works without it, only slower
        return None
    return open3d


def neighbourhood_covariances(points: np.ndarray, k: int, use_open3d: bool | None = None) -> np.ndarray:
    """``N×3×3`` covariance (divided by the count, like PCL) of each point's k nearest neighbours."""
    points = np.asarray(points, dtype=np.float64)
    o3d = _open3d() if use_open3d in (None, True) else None
    if use_open3d and o3d is None:
        raise ImportError("open3d is not installed: pip install 'sdmr[baselines]'")
    if o3d is not None and len(points) >= k:
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
        cloud.estimate_covariances(o3d.geometry.KDTreeSearchParamKNN(k))
        return np.asarray(cloud.covariances)
    index = knn(points, min(k, len(points)))
    out = np.empty((len(points), 3, 3))
    for start in range(0, len(points), _COVARIANCE_CHUNK):  # bounds the N×k×3 temporaries
        block = index[start : start + _COVARIANCE_CHUNK]
        centred = points[block] - points[block].mean(axis=1, keepdims=True)
        out[start : start + len(block)] = np.einsum("nki,nkj->nij", centred, centred) / block.shape[1]
    return out


def normals_from_covariances(points: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals towards the origin (``N×3`` float32) and curvature (``N`` float32)."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariances)  # ascending
    normals = eigenvectors[:, :, 0]
    trace = np.trace(covariances, axis1=1, axis2=2)
    curvature = np.divide(np.abs(eigenvalues[:, 0]), trace, out=np.zeros(len(trace)), where=trace != 0)
    flip = np.einsum("ij,ij->i", -np.asarray(points, dtype=np.float64), normals) < 0
    normals[flip] *= -1
    return normals.astype(np.float32), curvature.astype(np.float32)


def estimate_normals(points: np.ndarray, k: int, backend: str = "pip") -> tuple[np.ndarray, np.ndarray]:
    """PCL ``NormalEstimation`` with ``setKSearch(k)`` and the viewpoint at the origin.

    ``points`` float ``N×3`` (metres, camera frame). Returns normals ``N×3`` float32 and
    curvature ``N`` float32; with fewer than 3 points (PCL: NaN) both are NaN.
    """
    if check_backend(backend) == "pcl":
        return pcl_module().estimate_normals(np.ascontiguousarray(points, dtype=np.float32), k)
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 3:
        return np.full((len(points), 3), np.nan, np.float32), np.full(len(points), np.nan, np.float32)
    return normals_from_covariances(points, neighbourhood_covariances(points, k))
