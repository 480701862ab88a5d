"""Physics heaps: drop objects one by one into a bin or onto a finite table (pybullet DIRECT).

The support geometry is made of box primitives only, and the same boxes are rendered, so the
physics and the depth image never disagree about where a wall is. Physics dominates generation
time (FINDINGS.md), so settling is checked every few steps on all bodies at once and objects that
leave the workspace are removed as soon as they do.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from sdmr.sim.objects import MeshObject, write_parts_obj


@dataclass
class SceneConfig:
    """Heap parameters; defaults are the paper's (REFERENCE.md, "Synthetic dataset")."""

    kind: str = "mix"  # "bin" | "table" | "mix"
    bin_fraction: float = 0.5  # share of bin heaps when kind == "mix"
    bin_size: tuple[float, float, float] = (0.678, 0.466, 0.155)  # outer x, y, height (m)
    wall_thickness: float = 0.012
    table_size_range: tuple[float, float] = (0.8, 1.6)  # finite tabletop side lengths (m)
    table_height: float = 0.75  # a floor below the table gives far background depth
    wall_probability: float = 0.3  # tabletop scenes: chance of a wall behind the table
    poisson_lambda: float = 7.5
    min_objects: int = 1
    max_objects: int = 10
    object_size_range: tuple[float, float] = (0.05, 0.2)  # largest side of a dropped object (m)
    drop_height: float = 0.2
    drop_jitter: float = 0.1
    density: float = 4000.0
    lateral_friction: float = 0.6
    rolling_friction: float = 0.01  # stops round objects rocking for ever: 2× fewer settle steps
    angular_damping: float = 0.04  # pybullet's default
    settle_linear: float = 0.005
    settle_angular: float = 0.1
    max_settle_steps: int = 500
    check_every: int = 10
    time_step: float = 1.0 / 240.0
    solver_iterations: int = 10
    workspace_height: float = 0.3


@dataclass(frozen=True)
class Box:
    """A static axis-aligned box (centre and half extents in metres) in the world frame."""

    centre: tuple[float, float, float]
    half_extents: tuple[float, float, float]
    name: str


@dataclass
class PlacedObject:
    """An object at rest: its mesh, its scale (m per normalised unit) and its 4×4 world pose."""

    mesh: MeshObject
    scale: float
    pose: np.ndarray

    @property
    def object_id(self) -> int:
        return self.mesh.spec.object_id


@dataclass
class Heap:
    kind: str  # "bin" or "table"
    statics: list[Box]
    objects: list[PlacedObject]
    workspace: tuple[np.ndarray, np.ndarray]  # lower and upper corner (world)
    dropped: int = 0
    meta: dict = field(default_factory=dict)


def support_boxes(kind: str, cfg: SceneConfig, rng: np.random.Generator) -> tuple[list[Box], tuple]:
    """Table (top at z = 0), floor, and either a bin on the table or sometimes a wall behind it."""
    table_x, table_y = rng.uniform(*cfg.table_size_range, size=2)
    if kind == "bin":  # the bin must fit on the table
        table_x, table_y = max(table_x, cfg.bin_size[0] + 0.1), max(table_y, cfg.bin_size[1] + 0.1)
    t = 0.02
    boxes = [
        Box((0.0, 0.0, -t), (table_x / 2, table_y / 2, t), "table"),
        Box((0.0, 0.0, -cfg.table_height - t), (4.0, 4.0, t), "floor"),
    ]
    if kind == "bin":
        lx, ly, h = cfg.bin_size
        w = cfg.wall_thickness
        boxes += [
            Box((0.0, 0.0, w / 2), (lx / 2, ly / 2, w / 2), "bin_floor"),
            Box((lx / 2 - w / 2, 0.0, h / 2), (w / 2, ly / 2, h / 2), "bin_wall_px"),
            Box((-lx / 2 + w / 2, 0.0, h / 2), (w / 2, ly / 2, h / 2), "bin_wall_nx"),
            Box((0.0, ly / 2 - w / 2, h / 2), (lx / 2 - w, w / 2, h / 2), "bin_wall_py"),
            Box((0.0, -ly / 2 + w / 2, h / 2), (lx / 2 - w, w / 2, h / 2), "bin_wall_ny"),
        ]
        lower = np.array([-lx / 2 + w, -ly / 2 + w, 0.0])
        upper = np.array([lx / 2 - w, ly / 2 - w, cfg.workspace_height])
    else:
        if rng.random() < cfg.wall_probability:
            boxes.append(Box((0.0, table_y / 2 + 0.05, 0.5), (2.0, 0.05, 1.3), "wall"))
        lower = np.array([-table_x / 2, -table_y / 2, -0.01])
        upper = np.array([table_x / 2, table_y / 2, cfg.workspace_height])
    return boxes, (lower, upper)


def choose_scene_kind(cfg: SceneConfig, rng: np.random.Generator) -> str:
    if cfg.kind in ("bin", "table"):
        return cfg.kind
    if cfg.kind != "mix":
        from sdmr.data.errors import DataError

        raise DataError(f"unknown scene kind '{cfg.kind}'", fix="use bin, table or mix")
    return "bin" if rng.random() < cfg.bin_fraction else "table"


def sample_num_objects(cfg: SceneConfig, rng: np.random.Generator) -> int:
    """m ~ Poisson(λ) truncated to [min_objects, max_objects] (by redrawing, as a truncated law)."""
    for _ in range(100):
        m = int(rng.poisson(cfg.poisson_lambda))
        if cfg.min_objects <= m <= cfg.max_objects:
            return m
    return int(np.clip(round(cfg.poisson_lambda), cfg.min_objects, cfg.max_objects))


def _random_quaternion(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


def _pose_matrix(position, quaternion_xyzw) -> np.ndarray:
    import pybullet

    pose = np.eye(4)
    pose[:3, :3] = np.asarray(pybullet.getMatrixFromQuaternion(quaternion_xyzw)).reshape(3, 3)
    pose[:3, 3] = position
    return pose


class HeapSimulator:
    """One pybullet DIRECT client; ``simulate`` resets it, so each heap depends only on its inputs."""

    def __init__(self, cfg: SceneConfig, work_dir: str | Path | None = None):
        import pybullet

        self.cfg = cfg
        self.p = pybullet
        self.client = pybullet.connect(pybullet.DIRECT)
        self._tmp = tempfile.TemporaryDirectory(prefix="sdmr_sim_") if work_dir is None else None
        self.work_dir = Path(work_dir or self._tmp.name)
        self._part_files: dict[int, Path] = {}

    def close(self) -> None:
        if self.client >= 0:
            self.p.disconnect(self.client)
            self.client = -1
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _parts_file(self, mesh: MeshObject) -> Path:
        path = self._part_files.get(mesh.spec.object_id)
        if path is None:
            path = self.work_dir / f"parts_{mesh.spec.object_id}.obj"
            write_parts_obj(path, mesh.parts)
            self._part_files[mesh.spec.object_id] = path
        return path

    def _add_box(self, box: Box) -> None:
        p, c = self.p, self.client
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=box.half_extents, physicsClientId=c)
        body = p.createMultiBody(0.0, shape, basePosition=box.centre, physicsClientId=c)
        p.changeDynamics(body, -1, lateralFriction=self.cfg.lateral_friction, physicsClientId=c)

    def simulate(self, meshes: list[MeshObject], rng: np.random.Generator, kind: str) -> Heap:
        """Drop ``meshes`` one by one, let each settle, drop objects outside the workspace."""
        p, c, cfg = self.p, self.client, self.cfg
        p.resetSimulation(physicsClientId=c)
        p.setGravity(0, 0, -9.81, physicsClientId=c)
        p.setPhysicsEngineParameter(
            fixedTimeStep=cfg.time_step, numSolverIterations=cfg.solver_iterations, physicsClientId=c
        )
        statics, (lower, upper) = support_boxes(kind, cfg, rng)
        for box in statics:
            self._add_box(box)
        base_z = cfg.wall_thickness if kind == "bin" else 0.0
        bodies: dict[int, tuple[MeshObject, float]] = {}
        steps = 0
        for mesh in meshes:
            size = rng.uniform(*cfg.object_size_range)
            scale = size  # normalised meshes have largest side 1
            shape = p.createCollisionShape(
                p.GEOM_MESH, fileName=str(self._parts_file(mesh)), meshScale=[scale] * 3, physicsClientId=c
            )
            volume = float(np.prod(mesh.extents * scale)) * 0.5  # rough: half the bounding box
            position = [
                rng.uniform(-cfg.drop_jitter, cfg.drop_jitter),
                rng.uniform(-cfg.drop_jitter, cfg.drop_jitter),
                base_z + cfg.drop_height + size / 2,
            ]
            body = p.createMultiBody(
                max(cfg.density * volume, 1e-3),
                shape,
                basePosition=position,
                baseOrientation=_random_quaternion(rng).tolist(),
                physicsClientId=c,
            )
            p.changeDynamics(
                body,
                -1,
                lateralFriction=cfg.lateral_friction,
                rollingFriction=cfg.rolling_friction,
                angularDamping=cfg.angular_damping,
                physicsClientId=c,
            )
            bodies[body] = (mesh, scale)
            steps += self._settle(bodies, lower)
        objects = []
        for body, (mesh, scale) in bodies.items():
            position, quaternion = p.getBasePositionAndOrientation(body, physicsClientId=c)
            if np.all(np.asarray(position) >= lower) and np.all(np.asarray(position) <= upper):
                objects.append(PlacedObject(mesh, scale, _pose_matrix(position, quaternion)))
        return Heap(
            kind, statics, objects, (lower, upper), dropped=len(meshes), meta={"physics_steps": steps}
        )

    def _settle(self, bodies: dict, lower: np.ndarray) -> int:
        """Step until every body is slow (checked every ``check_every`` steps) or the step cap."""
        p, c, cfg = self.p, self.client, self.cfg
        for done in range(cfg.check_every, cfg.max_settle_steps + cfg.check_every, cfg.check_every):
            for _ in range(cfg.check_every):
                p.stepSimulation(physicsClientId=c)
            settled = True
            for body in list(bodies):
                position, _ = p.getBasePositionAndOrientation(body, physicsClientId=c)
                if position[2] < lower[2] - 0.05:  # fell off: stop simulating it
                    p.removeBody(body, physicsClientId=c)
                    del bodies[body]
                    continue
                if settled:
                    lin, ang = p.getBaseVelocity(body, physicsClientId=c)
                    if np.linalg.norm(lin) > cfg.settle_linear or np.linalg.norm(ang) > cfg.settle_angular:
                        settled = False
            if settled:
                return done
        return cfg.max_settle_steps
