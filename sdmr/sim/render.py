"""Exact metric depth, modal and amodal masks (and optional colour) of a heap.

pyrender on an EGL context (headless; llvmpipe on a CPU-only machine). One flat-colour
"segmentation" pass gives the scene depth and, from the colour of the nearest surface, the modal
label of every pixel, so modal masks are disjoint by construction. Each amodal mask is the object
rendered alone (the paper's definition). pybullet's TinyRenderer is the fallback when no OpenGL
context can be made (``backend="tiny"``, see :mod:`sdmr.sim.tiny_render`).
"""

from __future__ import annotations

import os

import numpy as np

from sdmr.sim.camera import CameraView
from sdmr.sim.render_common import CV_TO_GL, Z_FAR, Z_NEAR, Rendering, include_modal
from sdmr.sim.scene import Heap

RENDER_BACKENDS = ("auto", "pyrender", "tiny")
# Square viewports for amodal masks: an object alone is rendered only over its projected box,
# a 64×64 read-back instead of the whole image (the read-back dominates with llvmpipe).
TILE_SIZES = (32, 64, 128, 256)


def _label_colour(k: int) -> np.ndarray:
    """Object k (1-based) as an exact flat RGB colour, read back bit-for-bit."""
    return np.array([k & 255, (k >> 8) & 255, 0], dtype=np.uint8)


def _box_mesh(heap: Heap):
    import trimesh

    boxes = []
    for box in heap.statics:
        transform = np.eye(4)
        transform[:3, 3] = box.centre
        boxes.append(trimesh.creation.box(extents=2 * np.asarray(box.half_extents), transform=transform))
    return trimesh.util.concatenate(boxes)


class PyrenderRenderer:
    """An offscreen pyrender context of one image size; reused for every heap of a worker."""

    name = "pyrender"

    def __init__(self, width: int, height: int):
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
        import pyrender

        self.pyrender = pyrender
        self.width, self.height = width, height
        self.renderer = pyrender.OffscreenRenderer(width, height)
        self.scene = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[0.35, 0.35, 0.35])
        self.camera = pyrender.IntrinsicsCamera(1.0, 1.0, 0.0, 0.0, znear=Z_NEAR, zfar=Z_FAR)
        self.camera_node = self.scene.add(self.camera)
        self.light_node = self.scene.add(pyrender.DirectionalLight(intensity=3.0))
        self.static_node = None
        self.object_nodes: list = []
        self._heap_objects: list = []

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.delete()
            self.renderer = None

    def set_heap(self, heap: Heap) -> None:
        """Replace the scene content with this heap's support boxes and objects."""
        import trimesh

        pyrender = self.pyrender
        for node in [self.static_node, *self.object_nodes]:
            if node is not None:
                self.scene.remove_node(node)
        grey = pyrender.MetallicRoughnessMaterial(baseColorFactor=[0.55, 0.5, 0.45, 1.0])
        self.static_node = self.scene.add(pyrender.Mesh.from_trimesh(_box_mesh(heap), material=grey))
        self.object_nodes = []
        self._heap_objects = list(heap.objects)
        for k, obj in enumerate(heap.objects):
            mesh = trimesh.Trimesh(obj.mesh.vertices * obj.scale, obj.mesh.faces, process=False)
            hue = np.random.default_rng([obj.object_id, k]).uniform(0.2, 0.9, size=3)
            material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[*hue, 1.0])
            node = self.scene.add(pyrender.Mesh.from_trimesh(mesh, material=material), pose=obj.pose)
            self.object_nodes.append(node)

    def _set_camera(self, view: CameraView) -> None:
        k = view.intrinsics
        # pyrender's principal point is in pixel-edge coordinates; ours has pixel centres at integers.
        self.camera.fx, self.camera.fy = k.fx, k.fy
        self.camera.cx, self.camera.cy = k.cx + 0.5, k.cy + 0.5
        self.scene.set_pose(self.camera_node, view.world_from_camera @ CV_TO_GL)
        self.scene.set_pose(self.light_node, view.world_from_camera @ CV_TO_GL)

    def _seg(self, colours: dict) -> tuple[np.ndarray, np.ndarray]:
        flags = self.pyrender.RenderFlags.SEG
        colour, depth = self.renderer.render(self.scene, flags=flags, seg_node_map=colours)
        return colour, np.asarray(depth, dtype=np.float32)

    def render(self, view: CameraView, amodal: bool = True, color: bool = False) -> Rendering:
        self._set_camera(view)
        colours = {self.static_node: np.zeros(3, dtype=np.uint8)}
        colours.update({node: _label_colour(k) for k, node in enumerate(self.object_nodes, start=1)})
        seg, depth = self._seg(colours)
        labels = seg[..., 0].astype(np.int32) | (seg[..., 1].astype(np.int32) << 8)
        masks = include_modal(labels, self._amodal(view)) if amodal else None
        rgb = None
        if color:
            rgb, _ = self.renderer.render(self.scene)
            rgb = np.ascontiguousarray(rgb[..., :3])
        return Rendering(depth, labels, masks, rgb)

    def _amodal(self, view: CameraView, tiled: bool = True) -> np.ndarray:
        """Each object rendered alone; inside a small viewport around its projected box when it fits."""
        masks = np.zeros((len(self.object_nodes), self.height, self.width), dtype=bool)
        jobs: dict[int, list] = {}
        for k, node in enumerate(self.object_nodes):
            box = self._projected_box(view, k) if tiled else (0, 0, self.width, self.height)
            if box is None:
                continue  # entirely outside the image: an empty mask
            x0, y0, x1, y1 = box
            size = next((t for t in TILE_SIZES if t >= max(x1 - x0, y1 - y0)), None)
            jobs.setdefault(size or 0, []).append((k, node, x0, y0))
        k_cam = view.intrinsics
        try:
            for size, items in sorted(jobs.items()):
                full = size == 0
                self.renderer.viewport_width = self.width if full else size
                self.renderer.viewport_height = self.height if full else size
                for k, node, x0, y0 in items:
                    x0, y0 = (0, 0) if full else (x0, y0)
                    self.camera.cx, self.camera.cy = k_cam.cx + 0.5 - x0, k_cam.cy + 0.5 - y0
                    tile = self._seg({node: _label_colour(k + 1)})[1] > 0
                    h, w = min(tile.shape[0], self.height - y0), min(tile.shape[1], self.width - x0)
                    masks[k, y0 : y0 + h, x0 : x0 + w] = tile[:h, :w]
        finally:
            self.renderer.viewport_width, self.renderer.viewport_height = self.width, self.height
            self.camera.cx, self.camera.cy = k_cam.cx + 0.5, k_cam.cy + 0.5
        return masks

    def _projected_box(self, view: CameraView, k: int) -> tuple[int, int, int, int] | None:
        """Pixel box (x0, y0, x1, y1) holding object k's bounding-box corners, or None if unseen."""
        obj = self._heap_objects[k]
        lo, hi = obj.mesh.vertices.min(axis=0) * obj.scale, obj.mesh.vertices.max(axis=0) * obj.scale
        corners = np.array(
            [[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        cam = (np.linalg.inv(view.world_from_camera) @ obj.pose @ corners.T)[:3]
        if np.any(cam[2] <= Z_NEAR):
            return (0, 0, self.width, self.height)  # straddles the camera plane: render it whole
        k_cam = view.intrinsics
        u = k_cam.fx * cam[0] / cam[2] + k_cam.cx
        v = k_cam.fy * cam[1] / cam[2] + k_cam.cy
        x0, x1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, self.width)
        y0, y1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, self.height)
        if x0 >= x1 or y0 >= y1:
            return None
        return x0, y0, x1, y1

    def render_background(self, view: CameraView) -> np.ndarray:
        """Depth of the support geometry alone (tests: which pixels objects occlude)."""
        self._set_camera(view)
        return self._seg({self.static_node: np.zeros(3, dtype=np.uint8)})[1]


def make_renderer(width: int, height: int, backend: str = "auto"):
    """``pyrender`` (EGL), ``tiny`` (pybullet TinyRenderer, no OpenGL), or ``auto``: the first that works."""
    from sdmr.errors import ConfigError

    if backend not in RENDER_BACKENDS:
        raise ConfigError(f"unknown render backend '{backend}'", fix=f"use one of {RENDER_BACKENDS}")
    if backend in ("auto", "pyrender"):
        try:
            return PyrenderRenderer(width, height)
        except Exception as err:
            if backend == "pyrender":
                raise RuntimeError(
                    f"pyrender could not open an offscreen OpenGL context ({err}). Install EGL "
                    "(libegl1, libgl1-mesa-dri) or set PYOPENGL_PLATFORM=osmesa with libOSMesa, "
                    "or use --renderer tiny"
                ) from err
            import logging

            logging.getLogger(__name__).warning("pyrender unavailable (%s); using TinyRenderer", err)
    from sdmr.sim.tiny_render import TinyRenderer

    return TinyRenderer(width, height)
