"""Physics heaps: drop objects one by one into a bin or onto a finite table (pybullet DIRECT).

The support geometry is made of box primitives only, and the same boxes are rendered, so the
physics and the depth image never disagree about where a wall is. Physics dominates generation
time (FINDINGS.md), so settling is checked every few steps on all bodies at once and objects that
leave the workspace are removed as soon as they do.

Layouts (``SceneConfig.layout_weights``, one drawn per heap). Point-cloud clustering fails by
merging objects that touch or stand on each other (FINDINGS.md), so besides the paper's random
``drop`` a heap can be ``pushed`` (dropped close together, then pushed towards its centre),
``stack`` (objects placed right above earlier, settled ones) or ``row`` (2–4 box-like objects
aligned and touching, the rest dropped). Only real bodies take part: no helper geometry is ever
added, so nothing but the objects and the support reaches the depth image or the labels.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from sdmr.data.errors import DataError
from sdmr.sim.objects import MeshObject, write_parts_obj

LAYOUTS = ("drop", "pushed", "stack", "row")
# Two objects closer than this count as touching: the paper's low-resolution Euclidean-clustering
# tolerance (4 mm), so a touching pair is one such a clustering would merge.
TOUCH_DISTANCE = 0.004
THIN_ASPECT = 4.0  # a thin object's footprint is at least this many times its height
STACKED_CLEARANCE = 0.005  # an object whose lowest point is this far above the support rests on another


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
    # Layouts (module docstring). The default, drop only, is the paper's heap, byte for byte.
    layout_weights: dict[str, float] = field(default_factory=lambda: {"drop": 1.0})
    dense_jitter: float = 0.04  # pushed: drop centre ± this (m), so objects land close together
    push_steps: int = 60  # pushed: steps of a lateral push towards the heap centre (0.25 s)
    push_accel: float = 12.0  # m/s²: above friction × g (5.9), so resting objects slide
    push_max_speed: float = 0.3  # m/s: no more push once an object moves inwards this fast
    stack_probability: float = 0.7  # stack: chance that a later object goes on top of an earlier one
    stack_jitter: float = 0.015  # stack: ± offset (m) from the centre of the object below
    row_size_range: tuple[int, int] = (2, 4)  # row: box-like objects side by side
    row_gap: float = 0.0005  # row: spawn gap (m) between neighbours, closed by settling
    thin_height_range: tuple[float, float] = (0.01, 0.03)  # height (m) of thin/flat objects


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
    scale: float | np.ndarray  # one factor, or per axis for thin objects (their height is set)
    pose: np.ndarray

    @property
    def object_id(self) -> int:
        return self.mesh.spec.object_id

    def lowest_z(self) -> float:
        """World z of the object's lowest vertex (exact, unlike a physics AABB with its margin)."""
        world = (self.mesh.vertices * self.scale) @ self.pose[:3, :3].T
        return float(world[:, 2].min() + self.pose[2, 3])


@dataclass
class Heap:
    kind: str  # "bin" or "table"
    statics: list[Box]
    objects: list[PlacedObject]
    workspace: tuple[np.ndarray, np.ndarray]  # lower and upper corner (world)
    dropped: int = 0
    meta: dict = field(default_factory=dict)  # physics_steps, layout, touching pairs, stacked objects


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
        raise DataError(f"unknown scene kind '{cfg.kind}'", fix="use bin, table or mix")
    return "bin" if rng.random() < cfg.bin_fraction else "table"


def check_layout_weights(weights: object, source: Path | None = None) -> dict[str, float]:
    """Known layouts, non-negative weights, at least one positive: else a DataError with a fix."""
    fix = "write e.g. 'layout_weights: {drop: 0.4, pushed: 0.3, stack: 0.15, row: 0.15}'"
    if not isinstance(weights, dict) or not weights:
        raise DataError(f"'scene.layout_weights' must be a non-empty mapping, got {weights!r}", source, fix)
    unknown = sorted(str(k) for k in weights if k not in LAYOUTS)
    if unknown:
        raise DataError(f"unknown layouts {unknown} in 'scene.layout_weights'", source, f"use {LAYOUTS}")
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
            raise DataError(
                f"'scene.layout_weights.{name}' must be a number ≥ 0, got {weight!r}", source, fix
            )
    if sum(weights.values()) <= 0:
        raise DataError("'scene.layout_weights' gives every layout weight 0", source, fix)
    return weights


def choose_layout(cfg: SceneConfig, rng: np.random.Generator) -> str:
    """One layout by weight (in LAYOUTS order, whatever the YAML's key order); with a single
    layout nothing is drawn."""
    names = [name for name in LAYOUTS if cfg.layout_weights.get(name, 0) > 0]
    if len(names) == 1:
        return names[0]
    weights = np.array([cfg.layout_weights[name] for name in names], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


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


def _yaw_quaternion(yaw: float) -> list[float]:
    """Upright, turned about z: how objects are set down on a stack or in a row."""
    return [0.0, 0.0, float(np.sin(yaw / 2)), float(np.cos(yaw / 2))]


def _flat_quaternion(extents: np.ndarray, yaw: float) -> list[float]:
    """Turned so the shortest side is vertical (lying flat, the stable way to stack), then by yaw."""
    from scipy.spatial.transform import Rotation

    axis = int(np.argmin(extents))
    tilt = {0: Rotation.from_euler("y", 90, degrees=True), 1: Rotation.from_euler("x", 90, degrees=True)}
    flat = tilt.get(axis, Rotation.identity())
    return (Rotation.from_euler("z", yaw) * flat).as_quat().tolist()  # x, y, z, w like pybullet


def _shrink(scale: float | np.ndarray, factor: float) -> float | np.ndarray:
    """Scale down the footprint; a thin object keeps the height it was given."""
    return scale * factor if np.isscalar(scale) else scale * np.array([factor, factor, 1.0])


def _scale3(scale: float | np.ndarray) -> list[float]:
    return [float(scale)] * 3 if np.isscalar(scale) else [float(x) for x in scale]


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

    def simulate(
        self,
        meshes: list[MeshObject],
        rng: np.random.Generator,
        kind: str,
        layout: str = "drop",
        row_count: int = 0,
    ) -> Heap:
        """Place ``meshes`` by ``layout``, let each settle, drop objects outside the workspace.

        The first ``row_count`` meshes (box-like) form the row of a ``row`` heap, set down before the
        rest. The ``drop`` layout draws from ``rng`` exactly as the paper's heap always did, so old
        seeds give the same heaps."""
        if layout not in LAYOUTS:
            raise DataError(f"unknown layout '{layout}'", fix=f"use one of {LAYOUTS}")
        p, c, cfg = self.p, self.client, self.cfg
        statics, (lower, upper) = support_boxes(kind, cfg, rng)
        self._reset_world(statics)
        base_z = cfg.wall_thickness if kind == "bin" else 0.0
        bodies: dict[int, tuple[MeshObject, float | np.ndarray]] = {}
        steps = 0
        row_count = row_count if layout == "row" else 0
        if row_count:
            self._place_row(meshes[:row_count], rng, base_z, lower, upper, bodies)
            steps += self._settle(bodies, lower)
        jitter = cfg.dense_jitter if layout == "pushed" else cfg.drop_jitter
        for number, mesh in enumerate(meshes[row_count:]):
            scale, size = self._object_scale(mesh, rng)
            if layout == "stack" and bodies and (number == 1 or rng.random() < cfg.stack_probability):
                self._place_on_top(mesh, scale, rng, bodies)
            else:
                position = [
                    rng.uniform(-jitter, jitter),
                    rng.uniform(-jitter, jitter),
                    base_z + cfg.drop_height + size / 2,
                ]
                if mesh.is_thin:  # set down flat, as plates and books are; tumbling, many stand on edge
                    orientation = _flat_quaternion(mesh.extents * scale, rng.uniform(0, 2 * np.pi))
                else:
                    orientation = _random_quaternion(rng).tolist()
                body = self._spawn(mesh, scale, position, orientation)
                bodies[body] = (mesh, scale)
            steps += self._settle(bodies, lower)
        if layout == "pushed" and len(bodies) > 1:
            self._push_together(bodies)
            steps += cfg.push_steps + self._settle(bodies, lower)
        objects, kept = [], []
        for body, (mesh, scale) in bodies.items():
            position, quaternion = p.getBasePositionAndOrientation(body, physicsClientId=c)
            if np.all(np.asarray(position) >= lower) and np.all(np.asarray(position) <= upper):
                objects.append(PlacedObject(mesh, scale, _pose_matrix(position, quaternion)))
                kept.append(body)
        meta = {
            "physics_steps": steps,
            "layout": layout,
            "touching": self._touching_pairs(kept),
            "stacked": [i for i, obj in enumerate(objects) if obj.lowest_z() > base_z + STACKED_CLEARANCE],
        }
        return Heap(kind, statics, objects, (lower, upper), dropped=len(meshes), meta=meta)

    def _reset_world(self, statics: list[Box]) -> None:
        """An empty world with gravity, the solver settings and the support boxes."""
        p, c, cfg = self.p, self.client, self.cfg
        p.resetSimulation(physicsClientId=c)
        p.setGravity(0, 0, -9.81, physicsClientId=c)
        p.setPhysicsEngineParameter(
            fixedTimeStep=cfg.time_step, numSolverIterations=cfg.solver_iterations, physicsClientId=c
        )
        for box in statics:
            self._add_box(box)

    def restore(self, heap: Heap) -> list[int]:
        """Rebuild a settled ``heap`` in a fresh world: its support, and each object at its rest pose
        and at rest. An experiment on the heap (a grasp, sdmr.grasp) then starts from the same state
        whatever ran in this client before. Returns the body id of each of ``heap.objects``, in order."""
        from scipy.spatial.transform import Rotation

        self._reset_world(heap.statics)
        return [
            self._spawn(obj.mesh, obj.scale, obj.pose[:3, 3].tolist(),
                        Rotation.from_matrix(obj.pose[:3, :3]).as_quat().tolist())
            for obj in heap.objects
        ]

    def _object_scale(self, mesh: MeshObject, rng: np.random.Generator) -> tuple[float | np.ndarray, float]:
        """(scale, largest side): uniform for most objects; a thin object also gets its height, and
        a footprint at least THIN_ASPECT times that (a 5 cm "plate" 3 cm thick stands on its edge)."""
        cfg = self.cfg
        size = float(rng.uniform(*cfg.object_size_range))  # normalised meshes have largest side 1
        if not mesh.is_thin:
            return size, size
        height = rng.uniform(*cfg.thin_height_range)
        size = min(max(size, THIN_ASPECT * height), max(cfg.object_size_range[1], size))
        return np.array([size, size, height / mesh.extents[2]]), size

    def _spawn(self, mesh: MeshObject, scale: float | np.ndarray, position, orientation) -> int:
        p, c, cfg = self.p, self.client, self.cfg
        shape = p.createCollisionShape(
            p.GEOM_MESH, fileName=str(self._parts_file(mesh)), meshScale=_scale3(scale), physicsClientId=c
        )
        volume = float(np.prod(mesh.extents * scale)) * 0.5  # rough: half the bounding box
        body = p.createMultiBody(
            max(cfg.density * volume, 1e-3),
            shape,
            basePosition=position,
            baseOrientation=orientation,
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
        return body

    def _place_on_top(self, mesh: MeshObject, scale, rng: np.random.Generator, bodies: dict) -> None:
        """Lay ``mesh`` flat (shortest side vertical) just above a settled object, near its centre:
        a stack. Objects with a large footprint are chosen more often as they hold what is put on
        them; a sphere on a sphere rolls off and the heap ends as a plain drop."""
        p, c, cfg = self.p, self.client, self.cfg
        candidates = list(bodies)
        boxes = [np.asarray(p.getAABB(b, physicsClientId=c)) for b in candidates]
        area = np.array([np.prod(high[:2] - low[:2]) for low, high in boxes]) ** 2
        k = int(rng.choice(len(candidates), p=area / area.sum()))
        low, high = boxes[k]
        footprint = float((high[:2] - low[:2]).max())  # nothing much wider than what holds it
        scale = _shrink(scale, min(1.0, footprint / float((mesh.extents * scale).max())))
        x, y = (low[:2] + high[:2]) / 2 + rng.uniform(-cfg.stack_jitter, cfg.stack_jitter, size=2)
        orientation = _flat_quaternion(mesh.extents * scale, rng.uniform(0, 2 * np.pi))
        rotation = np.asarray(p.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        bottom = float(((mesh.vertices * scale) @ rotation.T)[:, 2].min())
        body = self._spawn(mesh, scale, [float(x), float(y), float(high[2]) + 0.005 - bottom], orientation)
        bodies[body] = (mesh, scale)

    def _place_row(
        self,
        meshes: list[MeshObject],
        rng: np.random.Generator,
        base_z: float,
        lower: np.ndarray,
        upper: np.ndarray,
        bodies: dict,
    ) -> None:
        """Box-like ``meshes`` upright on the support, centres on one line, faces touching; the row
        shrinks to fit the workspace (a bin is narrower than four 20 cm boxes)."""
        cfg = self.cfg
        scales = [self._object_scale(mesh, rng)[0] for mesh in meshes]
        yaw = rng.uniform(0, 2 * np.pi)
        lengths = np.array([m.extents[0] * _scale3(s)[0] for m, s in zip(meshes, scales, strict=True)])
        fit = float((upper[:2] - lower[:2]).min()) - 0.05
        total = float(lengths.sum()) + cfg.row_gap * (len(meshes) - 1)
        if total > fit:
            scales = [_shrink(s, fit / total) for s in scales]
            lengths, total = lengths * (fit / total), fit
        slack = min(cfg.drop_jitter, max(0.0, (fit - total) / 2))
        centre = rng.uniform(-slack, slack, size=2)
        along = np.array([np.cos(yaw), np.sin(yaw)])
        start = -total / 2
        for mesh, scale, length in zip(meshes, scales, lengths, strict=True):
            x, y = centre + along * (start + length / 2)
            start += length + cfg.row_gap
            bottom = float((mesh.vertices[:, 2] * _scale3(scale)[2]).min())
            body = self._spawn(
                mesh, scale, [float(x), float(y), base_z + 0.001 - bottom], _yaw_quaternion(yaw)
            )
            bodies[body] = (mesh, scale)

    def _push_together(self, bodies: dict) -> None:
        """Push every object towards the heap's centre for ``push_steps`` steps (a lateral force,
        capped by speed), as a hand sweeping things together: they end up touching."""
        p, c, cfg = self.p, self.client, self.cfg
        masses = {body: p.getDynamicsInfo(body, -1, physicsClientId=c)[0] for body in bodies}
        for _ in range(cfg.push_steps):
            positions = {
                b: np.asarray(p.getBasePositionAndOrientation(b, physicsClientId=c)[0]) for b in bodies
            }
            centre = np.mean([pos[:2] for pos in positions.values()], axis=0)
            for body, position in positions.items():
                inward = centre - position[:2]
                distance = float(np.linalg.norm(inward))
                if distance < 1e-3:
                    continue
                inward /= distance
                velocity = np.asarray(p.getBaseVelocity(body, physicsClientId=c)[0])
                if float(velocity[:2] @ inward) < cfg.push_max_speed:
                    force = masses[body] * cfg.push_accel * inward
                    p.applyExternalForce(
                        body,
                        -1,
                        [float(force[0]), float(force[1]), 0.0],
                        position.tolist(),
                        p.WORLD_FRAME,
                        physicsClientId=c,
                    )
            p.stepSimulation(physicsClientId=c)

    def _touching_pairs(self, bodies: list[int]) -> list[list[int]]:
        """Index pairs (into ``bodies``) closer than TOUCH_DISTANCE: what clustering would merge."""
        p, c = self.p, self.client
        return [
            [i, j]
            for i in range(len(bodies))
            for j in range(i + 1, len(bodies))
            if p.getClosestPoints(bodies[i], bodies[j], TOUCH_DISTANCE, physicsClientId=c)
        ]

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
