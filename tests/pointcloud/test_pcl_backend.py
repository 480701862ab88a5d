"""The real-PCL backend (``sdmr.pointcloud.pcl_backend``): the binding itself on clouds built here, and
agreement with the pip backend on the same clouds.

Needs the compiled binding (``bash scripts/install_pcl.sh``; CI builds it). Without it every test
that calls PCL is skipped with the reason shown by ``pytest -ra``; with ``SDMR_REQUIRE_PCL=1`` (set by
``.ci/run``) a missing backend is a failure instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sdmr.data.errors import DataError
from sdmr.pointcloud import pcl_backend

needs_pcl = pytest.mark.skipif(not pcl_backend.available(), reason=f"real PCL: {pcl_backend.why_unavailable()}")


# --------------------------------------------------------------------------------------------- clouds
def face(rng: np.random.Generator, origin, u, v, density: float) -> np.ndarray:
    """Uniform random points on the parallelogram origin + s·u + t·v (s, t in [0, 1]), ``density`` per m²."""
    origin, u, v = (np.asarray(a, dtype=np.float64) for a in (origin, u, v))
    n = round(float(np.linalg.norm(np.cross(u, v))) * density)
    s, t = rng.random((2, n, 1))
    return origin + s * u + t * v


def box(rng: np.random.Generator, lo, hi, density: float = 1.2e5, faces: str = "all") -> np.ndarray:
    """Points on the surface of the axis-aligned box [lo, hi]; ``faces="visible"`` keeps the faces a
    camera at the origin looking along +z sees of a box in front of it (top = the z-min face, sides)."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    dx, dy, dz = (x1 - x0, 0, 0), (0, y1 - y0, 0), (0, 0, z1 - z0)
    parts = [face(rng, (x0, y0, z0), dx, dy, density)]  # facing the camera
    parts += [face(rng, (x0, y0, z0), dx, dz, density), face(rng, (x0, y1, z0), dx, dz, density)]
    parts += [face(rng, (x0, y0, z0), dy, dz, density), face(rng, (x1, y0, z0), dy, dz, density)]
    if faces == "all":
        parts.append(face(rng, (x0, y0, z1), dx, dy, density))
    return np.concatenate(parts)


def two_separated_boxes(gap: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two 4 cm cubes ``gap`` metres apart along x (≈1 mm jitter-free random sampling), and the truth."""
    rng = np.random.default_rng(seed)
    a = box(rng, (0.00, 0.0, 0.6), (0.04, 0.04, 0.64))
    b = box(rng, (0.04 + gap, 0.0, 0.6), (0.08 + gap, 0.04, 0.64))
    return np.concatenate([a, b]).astype(np.float32), np.repeat([0, 1], [len(a), len(b)])


def step(seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two touching boxes seen from above: a low top (z = 0.70), a high top (z = 0.64) and the vertical
    face between them, meeting at two 90° creases. Truth: 0 low top, 1 riser, 2 high top."""
    rng = np.random.default_rng(seed)
    low = face(rng, (0.02, -0.04, 0.70), (0.06, 0, 0), (0, 0.08, 0), 1.5e5)
    riser = face(rng, (0.08, -0.04, 0.64), (0, 0.08, 0), (0, 0, 0.06), 1.5e5)
    high = face(rng, (0.08, -0.04, 0.64), (0.06, 0, 0), (0, 0.08, 0), 1.5e5)
    pts = np.concatenate([low, riser, high])
    pts[:, 2] += rng.normal(0, noise, len(pts))
    return pts.astype(np.float32), np.repeat([0, 1, 2], [len(low), len(riser), len(high)])


def tabletop(seed: int = 0, noise: float = 0.0005, ray_noise: bool = True) -> np.ndarray:
    """A background-removed tabletop-like cloud: the visible faces of four boxes (two touching).

    ``ray_noise``: Gaussian noise along each point's viewing ray, as a depth sensor has (every face gets
    some noise across it). Without it the noise is along z only, so the boxes' vertical faces stay
    exactly flat, which real depth never is (see ``test_region_growing_agrees_given_pcl_seed_order``).
    The scene is shifted off the optical axis so that no face is seen exactly edge-on (there a normal's
    orientation towards the camera is a coin toss in either backend).
    """
    rng = np.random.default_rng(seed)
    parts = [
        box(rng, (-0.15, -0.10, 0.70), (-0.07, -0.02, 0.78), faces="visible"),
        box(rng, (-0.07, -0.08, 0.74), (0.00, 0.00, 0.78), faces="visible"),  # touches the first
        box(rng, (0.05, 0.02, 0.66), (0.12, 0.10, 0.78), faces="visible"),
        box(rng, (-0.05, 0.06, 0.72), (0.02, 0.12, 0.78), faces="visible"),
    ]
    pts = np.concatenate(parts) + [0.013, 0.013, 0.0]
    if ray_noise:
        pts *= 1 + rng.normal(0, noise, (len(pts), 1)) / np.linalg.norm(pts, axis=1, keepdims=True)
    else:
        pts[:, 2] += rng.normal(0, noise, len(pts))
    return pts.astype(np.float32)


# ------------------------------------------------------------------------------------------- partitions
def canonical(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0, 1, … by first occurrence (-1 kept): equal iff the partitions are equal."""
    labels = np.asarray(labels)
    out = np.full(len(labels), -1, dtype=np.int64)
    kept = labels >= 0
    _, first, inverse = np.unique(labels[kept], return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    out[kept] = rank[inverse]
    return out


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Hubert-Arabie adjusted Rand index of two labelings (-1 = one more group), 1.0 = identical."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.float64)
    np.add.at(table, (ia, ib), 1)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    index, rows, cols, total = pairs(table), pairs(table.sum(1)), pairs(table.sum(0)), pairs(np.array([len(a)]))
    expected = rows * cols / total
    maximum = (rows + cols) / 2
    return 1.0 if maximum == expected else (index - expected) / (maximum - expected)


def test_adjusted_rand_index_reference_values() -> None:
    """The helper the agreement tests rely on: 1 for relabellings, the textbook value otherwise."""
    assert adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([5, 5, 2, 2])) == 1.0
    # sklearn.metrics.adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]) = 0.5714285714285715
    assert adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])) == pytest.approx(4 / 7)
    assert (canonical(np.array([3, 3, -1, 1, 3])) == [0, 0, -1, 1, 0]).all()


# ------------------------------------------------------------------------------------- availability
def test_unavailable_says_how_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the compiled module: available() is False, the reason names the build command, and a
    call raises a DataError with that reason instead of an ImportError deep in a run."""
    monkeypatch.setattr(pcl_backend, "_module", None)
    monkeypatch.setattr(pcl_backend, "_reason", None)
    import importlib

    real_import = importlib.import_module

    def no_binding(name: str, *args, **kwargs):
        if name.endswith("_pcl_binding"):
            raise ImportError("libpcl_segmentation.so.1.13: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(pcl_backend.importlib, "import_module", no_binding)
    assert not pcl_backend.available()
    reason = pcl_backend.why_unavailable()
    assert "sdmr.pointcloud.build_pcl" in reason and "install_pcl.sh" in reason
    with pytest.raises(DataError, match="backend=pcl"):
        pcl_backend.euclidean_clusters(np.zeros((5, 3), np.float32), 0.01, 1, 10)


def test_ci_has_the_pcl_backend() -> None:
    """CI (``SDMR_REQUIRE_PCL=1``) must have built the backend: the agreement tests may not skip there."""
    if os.environ.get("SDMR_REQUIRE_PCL") != "1":
        pytest.skip("SDMR_REQUIRE_PCL is not 1 (only CI requires the PCL backend)")
    assert pcl_backend.available(), pcl_backend.why_unavailable()
    assert pcl_backend.version() == "1.13.0"


# -------------------------------------------------------------------------------------- the binding
@needs_pcl
def test_euclidean_separates_boxes_farther_than_tolerance_and_merges_closer() -> None:
    points, truth = two_separated_boxes(gap=0.03)
    labels = pcl_backend.euclidean_clusters(points, tolerance=0.01, min_size=50, max_size=1_000_000)
    assert labels.dtype == np.int32 and labels.shape == (len(points),)
    assert (canonical(labels) == canonical(truth)).all()
    points, _ = two_separated_boxes(gap=0.005)
    merged = pcl_backend.euclidean_clusters(points, tolerance=0.01, min_size=50, max_size=1_000_000)
    assert (merged == 0).all()


@needs_pcl
def test_euclidean_size_limits_drop_whole_clusters_largest_first() -> None:
    """Clusters outside [min, max] are dropped, not split; PCL numbers the kept ones largest first."""
    rng = np.random.default_rng(1)
    small = box(rng, (0.0, 0.0, 0.6), (0.02, 0.02, 0.62))
    large = box(rng, (0.1, 0.0, 0.6), (0.16, 0.06, 0.66))
    points = np.concatenate([small, large]).astype(np.float32)
    labels = pcl_backend.euclidean_clusters(points, 0.01, 1, 1_000_000)
    assert (labels[len(small):] == 0).all() and (labels[: len(small)] == 1).all()
    labels = pcl_backend.euclidean_clusters(points, 0.01, len(small) + 1, 1_000_000)
    assert (labels[: len(small)] == -1).all() and (labels[len(small):] == 0).all()
    labels = pcl_backend.euclidean_clusters(points, 0.01, 1, len(large) - 1)
    assert (labels[: len(small)] == 0).all() and (labels[len(small):] == -1).all()


@needs_pcl
def test_normals_face_the_camera_and_curvature_is_surface_variation() -> None:
    points, truth = step()
    normals, curvature = pcl_backend.estimate_normals(points, k=30)
    assert normals.shape == (len(points), 3) and normals.dtype == np.float32 and curvature.dtype == np.float32
    interior_low = (truth == 0) & (points[:, 0] < 0.07)  # away from the crease at x = 0.08
    assert np.allclose(normals[interior_low], [0, 0, -1], atol=1e-3)  # towards the camera at the origin
    assert (curvature[interior_low] < 1e-4).all()
    riser = (truth == 1) & (points[:, 2] > 0.65) & (points[:, 2] < 0.69)
    assert np.allclose(np.abs(normals[riser, 0]), 1, atol=1e-3)
    assert normals[riser, 0].max() < 0  # the riser faces -x: the camera (x = 0) is on that side
    crease = np.abs(points[:, 0] - 0.08) + np.abs(points[:, 2] - 0.70) < 0.003
    assert curvature[crease].mean() > 0.05


@needs_pcl
def test_region_growing_splits_touching_boxes_at_the_crease() -> None:
    points, truth = step(noise=0.0003)
    # One blob for Euclidean clustering: the boxes touch.
    assert (pcl_backend.euclidean_clusters(points, 0.01, 50, 1_000_000) == 0).all()
    labels = pcl_backend.region_growing(points, k_normals=30, num_neighbours=15, smoothness_rad=0.3,
                                        curvature_threshold=0.05, min_size=200, max_size=1_000_000)
    assert labels.dtype == np.int32
    for part in range(3):  # each face is (mostly) one region, different from the other faces
        ids, counts = np.unique(labels[truth == part], return_counts=True)
        assert ids[np.argmax(counts)] >= 0 and counts.max() > 0.9 * (truth == part).sum()
    majority = [np.bincount(labels[(truth == p) & (labels >= 0)]).argmax() for p in range(3)]
    assert len(set(majority)) == 3
    # An absurd smoothness threshold (everything "smooth") merges the faces again.
    loose = pcl_backend.region_growing(points, 30, 15, np.pi, 1.0, 200, 1_000_000)
    assert len(np.unique(loose[loose >= 0])) == 1


@needs_pcl
def test_bad_input_is_a_data_error() -> None:
    with pytest.raises(DataError, match="not finite"):
        pcl_backend.euclidean_clusters(np.array([[0, 0, np.nan], [0, 0, 1]], np.float32), 0.01, 1, 10)
    with pytest.raises(DataError, match="N x 3"):
        pcl_backend.estimate_normals(np.zeros((4, 2), np.float32), 10)
    with pytest.raises(DataError, match="min_size"):
        pcl_backend.region_growing(np.zeros((4, 3), np.float32), 10, 5, 0.3, 0.05, 10, 5)
    empty = np.zeros((0, 3), np.float32)
    assert pcl_backend.euclidean_clusters(empty, 0.01, 1, 10).shape == (0,)
    assert pcl_backend.region_growing(empty, 10, 5, 0.3, 0.05, 1, 10).shape == (0,)
    normals, curvature = pcl_backend.estimate_normals(empty, 10)
    assert normals.shape == (0, 3) and curvature.shape == (0,)


@needs_pcl
def test_diagnostics_nearest_k_and_seed_order() -> None:
    """The two diagnostics the agreement tests use: PCL's kNN equals an exact kNN on a tie-free cloud,
    and the seed order is a permutation by non-decreasing curvature."""
    from scipy.spatial import cKDTree

    points = tabletop()[:3000]
    index = pcl_backend.nearest_k(points, 15)
    assert index.shape == (3000, 15) and (index[:, 0] == np.arange(3000)).all()
    _, expected = cKDTree(points.astype(np.float64)).query(points.astype(np.float64), 15)
    assert (index == expected).all()
    _, curvature = pcl_backend.estimate_normals(points, 50)
    order = pcl_backend.seed_order(curvature)
    assert sorted(order.tolist()) == list(range(3000))
    assert (np.diff(curvature[order]) >= 0).all()


# ------------------------------------------------------------------- agreement with the pip backend
# The pip backend (sdmr.pointcloud.euclidean / normals / region_growing, backend="pip") against real PCL
# on the same cloud. Euclidean clustering and normals agree exactly (to float precision). Region growing
# agrees to ARI >= 0.99, not bit for bit, because of how PCL orders seeds (README, "Real PCL backend"):
# std::sort (not stable) by a float32 curvature that its closed-form eigen solver rounds to exactly 0
# for flat or line-like neighbourhoods. The last test shows that this order is the only difference.
REGION_PRESETS = {  # k_normals, num_neighbours, smoothness (rad), curvature threshold, min size
    "tabletop_tuned": (50, 15, 0.3, 0.05, 100),
    "paper_low_res": (50, 5, 0.39, 0.09, 100),
    "paper": (50, 5, 0.2, 0.095, 100),
}


@needs_pcl
@pytest.mark.parametrize("seed", [0, 1])
def test_euclidean_backends_identical(seed: int) -> None:
    from sdmr.pointcloud.euclidean import euclidean_clusters

    points = tabletop(seed)
    for tolerance in (0.004, 0.006):
        pip = euclidean_clusters(points, tolerance, 50, 1_000_000, backend="pip")
        pcl = euclidean_clusters(points, tolerance, 50, 1_000_000, backend="pcl")
        assert pip.max() >= 2  # a real partition, not one blob
        assert (canonical(pip) == canonical(pcl)).all()


@needs_pcl
def test_normals_backends_agree() -> None:
    """Same orientation (towards the camera) and direction to 1e-4, curvature to 2e-5 (float32 PCL)."""
    from sdmr.pointcloud.normals import estimate_normals

    points = tabletop(0)
    pip_n, pip_c = estimate_normals(points, 50, backend="pip")
    pcl_n, pcl_c = estimate_normals(points, 50, backend="pcl")
    assert np.einsum("ij,ij->i", pip_n, pcl_n).min() > 1 - 1e-4
    assert np.abs(pip_c - pcl_c).max() < 2e-5
    assert pcl_c.max() > 0.05  # the cloud has creases: the comparison covers curved neighbourhoods too


@needs_pcl
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("preset", sorted(REGION_PRESETS))
def test_region_growing_backends_agree(preset: str, seed: int) -> None:
    from sdmr.pointcloud.region_growing import region_growing

    points = tabletop(seed)
    pip = region_growing(points, *REGION_PRESETS[preset], 1_000_000, backend="pip")
    pcl = region_growing(points, *REGION_PRESETS[preset], 1_000_000, backend="pcl")
    assert pcl.max() >= 3
    assert adjusted_rand_index(pip, pcl) >= 0.99
    assert abs(int(pip.max()) - int(pcl.max())) <= 1


@needs_pcl
@pytest.mark.parametrize("ray_noise", [True, False])
def test_region_growing_agrees_given_pcl_seed_order(ray_noise: bool) -> None:
    """The pip growing loop, fed PCL's normals, neighbours and seed order, returns PCL's exact partition:
    the algorithm is the same, only the seed order can differ. ``ray_noise=False`` leaves the boxes'
    sides exactly flat, so thousands of PCL curvatures are exactly 0 and their order is std::sort's
    (there the end-to-end ARI of the two backends drops to ~0.76 for the paper preset)."""
    from sdmr.pointcloud.masks import filter_cluster_sizes
    from sdmr.pointcloud.region_growing import grow_regions_kernel

    points = tabletop(0, ray_noise=ray_noise)
    for preset in ("tabletop_tuned", "paper"):
        k_normals, num_neighbours, smoothness, curvature_threshold, min_size = REGION_PRESETS[preset]
        normals, curvature = pcl_backend.estimate_normals(points, k_normals)
        if not ray_noise:
            assert (curvature == 0).sum() > 1000
        raw = grow_regions_kernel()(
            pcl_backend.seed_order(curvature),
            pcl_backend.nearest_k(points, num_neighbours).astype(np.int64),
            normals.astype(np.float64), curvature.astype(np.float64),
            float(np.cos(np.float32(smoothness))), float(np.float32(curvature_threshold)), True,
        )
        pip = filter_cluster_sizes(raw, min_size, 1_000_000)
        pcl = pcl_backend.region_growing(points, k_normals, num_neighbours, smoothness, curvature_threshold,
                                         min_size, 1_000_000)
        assert (canonical(pip) == canonical(pcl)).all(), preset


OCID_DEV = Path(__file__).resolve().parents[3] / "shared" / "samples" / "ocid_dev"


@needs_pcl
@pytest.mark.skipif(not (OCID_DEV / "depth").is_dir(), reason="../shared/samples/ocid_dev not present")
def test_backends_agree_on_real_ocid_frames() -> None:
    """Real depth (quantised, with flying pixels): Euclidean identical, region growing ARI >= 0.99."""
    from PIL import Image

    from sdmr.pointcloud.euclidean import euclidean_clusters
    from sdmr.pointcloud.plane import ransac_plane
    from sdmr.pointcloud.region_growing import region_growing

    for path in sorted((OCID_DEV / "depth").glob("*.png"))[:2]:
        depth = np.asarray(Image.open(path), dtype=np.float64) / 1000.0
        v, u = np.nonzero(depth > 0)
        z = depth[v, u]
        points = np.stack([(u - 320) / 615 * z, (v - 240) / 615 * z, z], axis=1)
        normal, offset = ransac_plane(points, 0.01, 200, np.random.default_rng(0))
        height = points @ normal + offset
        cloud = points[(height > 0.01) & (height < 0.5)].astype(np.float32)
        pip = euclidean_clusters(cloud, 0.004, 450, 1_000_000, backend="pip")
        pcl = euclidean_clusters(cloud, 0.004, 450, 1_000_000, backend="pcl")
        assert (canonical(pip) == canonical(pcl)).all(), path.name
        params = (50, 15, 0.3, 0.05, 450, 1_000_000)
        pip = region_growing(cloud, *params, backend="pip")
        pcl = region_growing(cloud, *params, backend="pcl")
        assert adjusted_rand_index(pip, pcl) >= 0.99, path.name
