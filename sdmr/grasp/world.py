"""Trial k of a grasping run — its heap, its target and what the robot's camera sees — from (seed, k) alone.

Everything random about trial k comes from ``np.random.default_rng([seed, k, stream])``, so any
trial can be rebuilt alone, in any process, in any order: the heap (stream 0, the generator's own
heap code), the camera (1), the sensor noise (2) and the choice of target (3). Objects carry one
colour each, fixed by their identity as a real object's is, so that the target can be recognised
in colour the way the paper did (:mod:`sdmr.grasp.identify`); the depth image every method sees is
rendered by the generator's renderer with its sensor noise.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.sample import Sample
from sdmr.errors import ConfigError
from sdmr.grasp.config import GraspConfig
from sdmr.sim.camera import CameraView, camera_preset, sample_view
from sdmr.sim.noise import add_sensor_noise
from sdmr.sim.objects import MeshObject, ObjectLibrary
from sdmr.sim.scene import Heap, HeapSimulator, PlacedObject, sample_num_objects, support_boxes

HEAP, CAMERA, NOISE, TARGET = 0, 1, 2, 3  # the random streams of a trial
VIEWS_STREAM = 7  # [seed, VIEWS_STREAM, object_id]: the target's reference views, shared by all trials
MAX_REDRAWS = 10  # a heap of which no object is visible enough is drawn again (rare: all fell out)


def identity_colour(object_id: int) -> np.ndarray:
    """RGB in [0, 1] of one object, the same in every heap: a saturated hue (greys are the support's)."""
    rng = np.random.default_rng([object_id, 5])
    hue, saturation, value = rng.uniform(0, 1), rng.uniform(0.5, 0.95), rng.uniform(0.55, 0.95)
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value))


def paint_by_identity(renderer, heap: Heap) -> None:
    """Give every object of the renderer's current heap its identity colour (pyrender or TinyRenderer)."""
    colours = [identity_colour(obj.object_id) for obj in heap.objects]
    if renderer.name == "pyrender":
        for node, rgb in zip(renderer.object_nodes, colours, strict=True):
            node.mesh.primitives[0].material = renderer.pyrender.MetallicRoughnessMaterial(
                baseColorFactor=[*rgb, 1.0], metallicFactor=0.0, roughnessFactor=0.8)
    else:
        for body, rgb in zip(renderer.object_bodies, colours, strict=True):
            renderer.p.changeVisualShape(body, -1, rgbaColor=[*rgb, 1.0], physicsClientId=renderer.client)


def _load_triton_first() -> None:
    """Import triton (when installed) before the renderer's EGL context exists. Mesa's llvmpipe and
    triton each bring an LLVM; triton loaded *after* llvmpipe segfaults (measured: a method whose
    ``predict`` imports Lightning, which imports torch._dynamo → triton). The other order works."""
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401


@dataclass(frozen=True)
class ReferenceView:
    """One picture of an object alone: colour, its pixels, depth and camera."""

    color: np.ndarray
    mask: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics


@dataclass
class Trial:
    """One trial's world. ``sample`` is all a method gets; ``truth`` is for the oracle and the report."""

    index: int
    heap: Heap
    view: CameraView
    target: int  # index into heap.objects
    sample: Sample  # depth (with sensor noise), colour, intrinsics, image_id, name
    truth: Instances  # modal masks of the visible objects; object_ids = their indices in heap.objects

    def target_mask(self) -> np.ndarray:
        ids = self.truth.object_ids
        return self.truth.masks[int(np.flatnonzero(ids == self.target)[0])]


class TrialWorld:
    """One process's object library, pybullet client and renderer; turns trial numbers into `Trial`s."""

    def __init__(self, cfg: GraspConfig):
        from sdmr.sim.render import make_renderer

        _load_triton_first()
        self.cfg = cfg
        self.library = ObjectLibrary.from_source("procedural", seed=cfg.seed, num_procedural=cfg.num_procedural)
        self.scene = cfg.scene_config()
        self.sim = HeapSimulator(self.scene)
        self.renderer = make_renderer(cfg.width, cfg.height)
        self.camera = camera_preset("paper", width=cfg.width, height=cfg.height)
        self.current: Trial | None = None
        self._meshes: dict[int, MeshObject | None] = {}

    def close(self) -> None:
        self.sim.close()
        self.renderer.close()

    def _mesh(self, object_id: int) -> MeshObject | None:
        if object_id not in self._meshes:
            self._meshes[object_id] = self.library.load(self.library.specs[object_id])
        return self._meshes[object_id]

    def _centre(self, kind: str) -> np.ndarray:
        return np.array([0.0, 0.0, self.scene.wall_thickness if kind == "bin" else 0.0])

    def trial(self, k: int) -> Trial:
        """Build trial ``k`` (deterministic in ``(seed, k)`` whatever this process built before)."""
        cfg = self.cfg
        for redraw in range(MAX_REDRAWS):
            key = [cfg.seed, k] if redraw == 0 else [cfg.seed, k, 100 + redraw]
            trial = self._draw(k, key)
            if trial is not None:
                self.current = trial
                return trial
        raise ConfigError(f"trial {k}: no object was visible in {MAX_REDRAWS} heaps",
                          fix=f"lower --min-target-pixels (now {cfg.min_target_pixels}) or use larger images")

    def _draw(self, k: int, key: list[int]) -> Trial | None:
        cfg = self.cfg
        rng = np.random.default_rng([*key, HEAP])
        count = sample_num_objects(self.scene, rng)
        chosen = rng.choice(len(self.library.specs), size=count, replace=False)
        meshes = [m for m in (self._mesh(int(i)) for i in chosen) if m is not None]
        heap = self.sim.simulate(meshes, rng, cfg.scene)
        self.renderer.set_heap(heap)
        paint_by_identity(self.renderer, heap)
        view = sample_view(self.camera, np.random.default_rng([*key, CAMERA]), self._centre(heap.kind))
        rendering = self.renderer.render(view, amodal=False, color=True)
        counts = np.bincount(rendering.labels.ravel(), minlength=len(heap.objects) + 1)[1:]
        candidates = np.flatnonzero(counts >= cfg.min_target_pixels)
        if candidates.size == 0:
            return None
        target = int(candidates[np.random.default_rng([*key, TARGET]).integers(candidates.size)])
        depth = rendering.depth
        if cfg.noise:
            depth = add_sensor_noise(depth, cfg.noise_config(), np.random.default_rng([*key, NOISE]))
        seen = np.flatnonzero(counts > 0)
        truth = Instances(masks=rendering.labels[None] == (seen + 1)[:, None, None], object_ids=seen.astype(np.int64))
        sample: Sample = {"depth": depth, "color": rendering.color, "intrinsics": view.intrinsics,
                          "image_id": k, "name": f"trial_{k:04d}"}  # no labels: what a robot has
        return Trial(k, heap, view, target, sample, truth)

    def truth_of(self, sample: Sample) -> Instances:
        """The current trial's ground-truth masks (for the oracle only), checked to be that sample's."""
        if self.current is None or sample.get("image_id") != self.current.index:
            raise ConfigError("the oracle was asked about a sample that is not the current trial's",
                              fix="call TrialWorld.trial(k) before the oracle predicts on trial k's sample")
        return Instances(masks=self.current.truth.masks.copy())

    def reference_views(self, obj: PlacedObject, count: int) -> list[ReferenceView]:
        """``count`` views of ``obj`` (this trial's object, at its size) alone on a bare table: random
        orientations, cameras from the wide sim2real range. What a robot would record of an object
        before the trials; they depend on the object only (stream ``[seed, VIEWS_STREAM, object_id]``),
        never on the trial's heap or its labels."""
        from scipy.spatial.transform import Rotation

        rng = np.random.default_rng([self.cfg.seed, VIEWS_STREAM, obj.object_id])
        statics, workspace = support_boxes("table", self.scene, rng)
        camera = camera_preset("sim2real", width=self.cfg.width, height=self.cfg.height)
        views = []
        for _ in range(count):
            pose = np.eye(4)
            pose[:3, :3] = Rotation.random(random_state=rng).as_matrix()
            alone = PlacedObject(obj.mesh, obj.scale, pose)
            pose[2, 3] = -alone.lowest_z()  # resting on the table top (z = 0)
            scene = Heap("table", statics, [alone], workspace)
            self.renderer.set_heap(scene)
            paint_by_identity(self.renderer, scene)
            view = sample_view(camera, rng, np.zeros(3))
            rendering = self.renderer.render(view, amodal=False, color=True)
            views.append(ReferenceView(rendering.color, rendering.labels == 1, rendering.depth, view.intrinsics))
        return views
