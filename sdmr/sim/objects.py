"""Object meshes for heaps: a user folder, pybullet_data's random_urdfs, or procedural shapes.

Every object becomes a :class:`MeshObject` in one normalised frame (centred, largest extent 1)
holding the render mesh and the convex parts physics uses. Procedural shapes know their convex
parts by construction and the random_urdfs meshes already are VHACD output (one ``o`` group per
part), so only user meshes need a decomposition; that one falls back to the convex hull, which
always works. A mesh that cannot be read is skipped with a warning, never a crash: the original
generator's most-reported failure was a crash inside convex decomposition.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdmr.data.errors import DataError

log = logging.getLogger(__name__)

MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".gltf", ".off")
PROCEDURAL_KINDS = ("box", "cylinder", "superquadric", "convex_blob", "nonconvex_blob")
# Thin and flat shapes (``objects.thin_fraction``): their thin axis is z in the normalised frame and
# the simulator gives them an absolute height (``scene.thin_height_range``), because a 1–3 cm object
# lying on a table is what point-cloud clustering loses in the support plane.
THIN_KINDS = ("plate", "book", "flat_blob")
BOX_LIKE_FILL = 0.9  # convex hull fills ≥ 90 % of the bounding box: it can stand in a touching row
DECOMPOSITIONS = ("auto", "coacd", "vhacd", "hull")


@dataclass(frozen=True)
class ObjectSpec:
    """Where one library object comes from; cheap to pickle to worker processes."""

    object_id: int  # stable identity written to the labels (index in the sorted library)
    name: str
    source: str  # "procedural" | "pybullet_data" | "folder"
    path: str | None = None


@dataclass
class MeshObject:
    """A mesh in its normalised frame: centroid at the origin, largest bounding-box side 1."""

    spec: ObjectSpec
    vertices: np.ndarray  # V×3 float64
    faces: np.ndarray  # F×3 int
    parts: list[np.ndarray]  # convex part vertices (same frame), each K×3

    @property
    def extents(self) -> np.ndarray:
        return self.vertices.max(axis=0) - self.vertices.min(axis=0)

    @property
    def is_thin(self) -> bool:
        """A procedural thin/flat shape: the simulator sets its height, not just its size."""
        return self.spec.source == "procedural" and procedural_kind(self.spec) in THIN_KINDS

    @functools.cached_property
    def is_box_like(self) -> bool:
        """One convex part filling its axis-aligned box: flat faces that can touch a neighbour's
        along a row. Judged from the geometry so that user meshes qualify too."""
        from scipy.spatial import ConvexHull

        if len(self.parts) != 1:
            return False
        try:
            hull_volume = ConvexHull(self.parts[0]).volume
        except Exception:  # noqa: BLE001 - a flat or degenerate part is simply not box-like
            return False
        return hull_volume >= BOX_LIKE_FILL * float(np.prod(self.extents))


# ----------------------------------------------------------------------------- mesh helpers
def _normalise(vertices: np.ndarray, parts: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Centre on the bounding-box centre and scale the largest side to 1."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    size = float((hi - lo).max())
    if not np.isfinite(size) or size <= 1e-9:
        raise ValueError("mesh is degenerate (zero size)")
    centre = (lo + hi) / 2
    return (vertices - centre) / size, [(p - centre) / size for p in parts]


def _check_finite(vertices: np.ndarray, faces: np.ndarray) -> None:
    if len(vertices) < 4 or len(faces) < 1:
        raise ValueError(f"mesh has {len(vertices)} vertices and {len(faces)} faces")
    if not np.all(np.isfinite(vertices)):
        raise ValueError("mesh has NaN or infinite vertices")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError("mesh faces index missing vertices")


def read_obj_groups(path: Path) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Vertices, triangles and per-``o``-group vertex sets of an OBJ (VHACD writes one group per part)."""
    vertices: list[list[float]] = []
    faces: list[list[int]] = []
    groups: list[set[int]] = [set()]
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("v "):
                vertices.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                idx = [int(tok.split("/")[0]) for tok in line.split()[1:]]
                idx = [i - 1 if i > 0 else len(vertices) + i for i in idx]
                for k in range(1, len(idx) - 1):  # fan-triangulate polygons
                    faces.append([idx[0], idx[k], idx[k + 1]])
                groups[-1].update(idx)
            elif line.startswith(("o ", "g ")) and groups[-1]:
                groups.append(set())
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    _check_finite(v, f)
    parts = [v[sorted(g)] for g in groups if len(g) >= 4]
    return v, f, parts


def write_parts_obj(path: Path, parts: list[np.ndarray]) -> None:
    """One ``o`` group per convex part: pybullet builds a compound of convex hulls from it."""
    from scipy.spatial import ConvexHull

    lines: list[str] = []
    offset = 1
    for k, part in enumerate(parts):
        hull = ConvexHull(part)
        pts = part[hull.vertices]
        remap = {int(old): new for new, old in enumerate(hull.vertices)}
        lines.append(f"o part{k}")
        lines.extend(f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in pts)
        for tri in hull.simplices:
            a, b, c = (remap[int(i)] + offset for i in tri)
            lines.append(f"f {a} {b} {c}")
        offset += len(pts)
    from sdmr.data.atomic import atomic_write_text

    atomic_write_text(path, "\n".join(lines) + "\n")


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence C-level prints (VHACD writes progress bars straight to fd 1)."""
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def convex_parts(
    vertices: np.ndarray, faces: np.ndarray, method: str = "auto", cache_dir: Path | None = None
) -> list[np.ndarray]:
    """Convex decomposition for physics; any failure falls back to the convex hull.

    ``auto`` tries CoACD (if installed), then pybullet's VHACD. Results are cached by mesh hash
    in ``cache_dir`` because a decomposition takes seconds and every worker needs it.
    """
    if method not in DECOMPOSITIONS:
        raise DataError(f"unknown convex decomposition '{method}'", fix=f"use one of {DECOMPOSITIONS}")
    hull = [vertices]
    if method == "hull":
        return hull
    key = hashlib.sha1(vertices.tobytes() + faces.astype(np.int64).tobytes()).hexdigest()[:16]
    cached = None if cache_dir is None else Path(cache_dir) / f"{key}_{method}.obj"
    if cached is not None and cached.is_file():
        return read_obj_groups(cached)[2]
    parts: list[np.ndarray] | None = None
    if method in ("auto", "coacd"):
        try:
            import coacd  # type: ignore[import-not-found]

            result = coacd.run_coacd(coacd.Mesh(vertices, faces))
            parts = [np.asarray(v, dtype=np.float64) for v, _ in result]
        except ImportError:
            if method == "coacd":
                log.warning("coacd is not installed; using the convex hull")
        except Exception as err:  # noqa: BLE001 - third-party decomposition may fail in any way
            log.warning("coacd failed (%s); trying the next method", err)
    if parts is None and method in ("auto", "vhacd"):
        parts = _vhacd(vertices, faces)
    if not parts:
        return hull
    if cached is not None:
        write_parts_obj(cached, parts)
    return parts


def _vhacd(vertices: np.ndarray, faces: np.ndarray) -> list[np.ndarray] | None:
    import pybullet

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.obj", Path(tmp) / "out.obj"
        lines = [f"v {x} {y} {z}" for x, y, z in vertices]
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
        src.write_text("\n".join(lines) + "\n")
        try:
            with _quiet_stdout():
                pybullet.vhacd(str(src), str(dst), str(Path(tmp) / "log.txt"))
            return read_obj_groups(dst)[2] or None
        except Exception as err:  # noqa: BLE001 - VHACD failures are reported, then the hull is used
            log.warning("VHACD failed (%s); using the convex hull", err)
            return None


# ----------------------------------------------------------------------------- procedural shapes
def _superquadric(e1: float, e2: float, a: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A closed superellipsoid; exponents ≤ 2 keep it convex so its hull is exact for physics."""
    import trimesh

    sphere = trimesh.creation.uv_sphere(radius=1.0, count=[n, n])
    v = sphere.vertices
    r = np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    u = v / r
    lat = np.arcsin(np.clip(u[:, 2], -1, 1))
    lon = np.arctan2(u[:, 1], u[:, 0])

    def spow(x: np.ndarray, e: float) -> np.ndarray:
        return np.sign(x) * np.abs(x) ** e

    x = a[0] * spow(np.cos(lat), e1) * spow(np.cos(lon), e2)
    y = a[1] * spow(np.cos(lat), e1) * spow(np.sin(lon), e2)
    z = a[2] * spow(np.sin(lat), e1)
    return np.stack([x, y, z], axis=1), np.asarray(sphere.faces)


def _convex_blob(rng: np.random.Generator, n_points: int = 40) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    directions = rng.normal(size=(n_points, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = directions * rng.uniform(0.5, 1.0, size=(n_points, 1)) * rng.uniform(0.4, 1.0, size=3)
    hull = trimesh.PointCloud(points).convex_hull
    return np.asarray(hull.vertices), np.asarray(hull.faces)


def procedural_kind(spec: ObjectSpec) -> str:
    """The shape family in a procedural name (``proc_0007_flat_blob`` → ``flat_blob``)."""
    return spec.name.split("_", 2)[-1]


def procedural_names(count: int, thin_fraction: float = 0.0) -> list[str]:
    """Names of the procedural library. Thin shapes take every object where the running share
    ``floor((i + 1) · f)`` steps up, spread evenly; the others cycle through PROCEDURAL_KINDS in
    their own order, so every family keeps its share and ``thin_fraction = 0`` gives the original
    library, object for object."""
    names: list[str] = []
    solid = thin = 0
    for i in range(count):
        if int(np.floor((i + 1) * thin_fraction)) > int(np.floor(i * thin_fraction)):
            kind, thin = THIN_KINDS[thin % len(THIN_KINDS)], thin + 1
        else:
            kind, solid = PROCEDURAL_KINDS[solid % len(PROCEDURAL_KINDS)], solid + 1
        names.append(f"proc_{i:04d}_{kind}")
    return names


def _thin_shape(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A flat shape, thin along z; its thickness ratio is only nominal (the simulator rescales z)."""
    import trimesh

    if kind == "plate":
        mesh = trimesh.creation.cylinder(radius=0.5, height=0.08, sections=32)
    elif kind == "book":
        mesh = trimesh.creation.box(extents=[1.0, rng.uniform(0.5, 0.9), 0.12])
    else:  # flat_blob: a pebble or a lid, convex, squashed
        vertices, faces = _convex_blob(rng)
        return vertices * np.array([1.0, rng.uniform(0.6, 1.0), 0.1]), faces
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def procedural_object(spec: ObjectSpec, seed: int) -> MeshObject:
    """Shape ``spec.object_id`` of the procedural family, deterministic from (seed, object_id)."""
    import trimesh

    rng = np.random.default_rng([seed, spec.object_id, 7])
    kind = procedural_kind(spec)
    pieces: list[tuple[np.ndarray, np.ndarray]]
    if kind in THIN_KINDS:
        pieces = [_thin_shape(kind, rng)]
    elif kind == "box":
        box = trimesh.creation.box(extents=rng.uniform(0.25, 1.0, size=3))
        pieces = [(box.vertices, box.faces)]
    elif kind == "cylinder":
        cyl = trimesh.creation.cylinder(radius=rng.uniform(0.15, 0.5), height=1.0, sections=24)
        pieces = [(cyl.vertices, cyl.faces)]
    elif kind == "superquadric":
        e1, e2 = rng.uniform(0.3, 1.6, size=2)
        a = rng.uniform(0.4, 1.0, size=3)
        pieces = [_superquadric(e1, e2, a, 24)]
        coarse = _superquadric(e1, e2, a, 10)[0]  # a ~100-vertex hull collides much faster than ~600
        vertices, parts = _normalise(pieces[0][0], [coarse])
        return MeshObject(spec, vertices, pieces[0][1].astype(np.int64), parts)
    elif kind == "convex_blob":
        pieces = [_convex_blob(rng)]
    elif kind == "nonconvex_blob":
        pieces = []
        for _ in range(int(rng.integers(2, 5))):  # a few convex lobes: the parts are known exactly
            v, f = _convex_blob(rng, n_points=24)
            pieces.append((v * rng.uniform(0.5, 0.8) + rng.uniform(-0.5, 0.5, size=3), f))
    else:
        raise DataError(
            f"unknown procedural shape '{kind}'", fix=f"use one of {PROCEDURAL_KINDS + THIN_KINDS}"
        )
    vertices = np.concatenate([v for v, _ in pieces])
    offsets = np.cumsum([0] + [len(v) for v, _ in pieces[:-1]])
    faces = np.concatenate([f + o for (_, f), o in zip(pieces, offsets, strict=True)])
    vertices, parts = _normalise(np.asarray(vertices, float), [np.asarray(v, float) for v, _ in pieces])
    return MeshObject(spec, vertices, faces.astype(np.int64), parts)


# ----------------------------------------------------------------------------- loading files
def load_mesh_file(
    spec: ObjectSpec, decomposition: str = "auto", cache_dir: Path | None = None
) -> MeshObject:
    """Read one mesh file; raises ``ValueError``/``DataError`` when it is unusable."""
    path = Path(spec.path or "")
    if spec.source == "pybullet_data":
        vertices, faces, parts = read_obj_groups(path)  # already VHACD parts
        vertices, parts = _normalise(vertices, parts or [vertices])
        return MeshObject(spec, vertices, faces, parts)
    import trimesh

    try:
        mesh = trimesh.load(path, force="mesh", process=True)
    except Exception as err:
        raise DataError(f"cannot read mesh ({err})", path, "re-export it as OBJ/STL/PLY") from err
    vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64)
    _check_finite(vertices, faces)
    vertices, _ = _normalise(vertices, [])
    return MeshObject(spec, vertices, faces, convex_parts(vertices, faces, decomposition, cache_dir))


# ----------------------------------------------------------------------------- the library
@dataclass
class ObjectLibrary:
    """The list of usable objects and their object-disjoint train/test split."""

    specs: list[ObjectSpec]
    seed: int = 0
    decomposition: str = "auto"
    cache_dir: str | None = None

    @classmethod
    def from_source(
        cls,
        source: str,
        seed: int = 0,
        num_procedural: int = 200,
        decomposition: str = "auto",
        cache_dir: str | Path | None = None,
        thin_fraction: float = 0.0,
    ) -> ObjectLibrary:
        """``procedural``, ``pybullet_data`` or a folder path of meshes (searched recursively);
        ``thin_fraction`` of the procedural objects are thin/flat shapes (THIN_KINDS)."""
        if source == "procedural":
            specs = [
                ObjectSpec(i, name, "procedural")
                for i, name in enumerate(procedural_names(num_procedural, thin_fraction))
            ]
        elif source == "pybullet_data":
            import pybullet_data

            root = Path(pybullet_data.getDataPath()) / "random_urdfs"
            files = sorted(root.glob("*/*.obj"))
            specs = [ObjectSpec(i, f.stem, "pybullet_data", str(f)) for i, f in enumerate(files)]
        else:
            folder = Path(source)
            if not folder.is_dir():
                raise DataError(
                    "object source is neither 'procedural', 'pybullet_data' nor a folder",
                    folder,
                    "pass --objects procedural, --objects pybullet_data or a folder of OBJ/STL/PLY/GLB meshes",
                )
            files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
            specs = [ObjectSpec(i, str(f.relative_to(folder)), "folder", str(f)) for i, f in enumerate(files)]
        if not specs:
            raise DataError("no meshes found", Path(source), f"add meshes with suffixes {MESH_SUFFIXES}")
        lib = cls(specs, seed, decomposition, None if cache_dir is None else str(cache_dir))
        if source not in ("procedural", "pybullet_data"):
            lib.specs = [s for s in specs if lib.load(s) is not None]  # user files: check them up front
            if not lib.specs:
                raise DataError("no readable meshes", Path(source), "see the warnings above for each file")
        return lib

    def load(self, spec: ObjectSpec) -> MeshObject | None:
        """The normalised mesh, or ``None`` (with a warning) when the file is broken."""
        try:
            if spec.source == "procedural":
                return procedural_object(spec, self.seed)
            cache = None if self.cache_dir is None else Path(self.cache_dir)
            return load_mesh_file(spec, self.decomposition, cache)
        except (ValueError, OSError, IndexError) as err:
            log.warning("skipping broken mesh %s (%s): %s", spec.name, spec.path, err)
            return None

    def split(self, test_fraction: float = 0.2) -> tuple[list[ObjectSpec], list[ObjectSpec]]:
        """Object-disjoint train/test sets, a seeded permutation (80/20 by default)."""
        if not 0.0 <= test_fraction < 1.0:
            raise DataError(f"test_fraction must be in [0, 1), got {test_fraction}")
        order = np.random.default_rng([self.seed, 11]).permutation(len(self.specs))
        n_test = round(len(self.specs) * test_fraction)
        if test_fraction > 0 and len(self.specs) >= 2:
            n_test = min(max(n_test, 1), len(self.specs) - 1)
        test = sorted((self.specs[i] for i in order[:n_test]), key=lambda s: s.object_id)
        train = sorted((self.specs[i] for i in order[n_test:]), key=lambda s: s.object_id)
        return train, test
