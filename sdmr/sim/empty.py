"""Empty supports: tables and bins with no object on them, rendered like the generator's scenes.

Why: a model that reports objects on an empty table (phantoms of sensor noise) is the first
sim-to-real failure to look for (FINDINGS.md). These frames are the negative test: the bundled
model's test and ``scripts/count_phantoms.py`` render them, corrupt them like a real sensor and
count detections.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.sim.camera import camera_preset, sample_view
from sdmr.sim.render import make_renderer
from sdmr.sim.scene import HeapSimulator, SceneConfig


def empty_scenes(
    count: int, kind: str = "table", width: int = 320, height: int = 240, seed: int = 0, preset: str = "sim2real"
) -> Iterator[tuple[np.ndarray, CameraIntrinsics]]:
    """``count`` clean depth frames (float32 metres) of an empty ``kind`` ("table" or "bin"), each with
    its own support size and camera from the ``preset`` distribution, reproducible from ``seed``."""
    renderer = make_renderer(width, height, "auto")
    camera = camera_preset(preset, width=width, height=height)
    try:
        with HeapSimulator(SceneConfig(kind=kind)) as sim:
            for number in range(count):
                rng = np.random.default_rng([seed, number, 1 if kind == "bin" else 0])
                renderer.set_heap(sim.simulate([], rng, kind))
                centre = np.array([0.0, 0.0, sim.cfg.wall_thickness if kind == "bin" else 0.0])
                view = sample_view(camera, rng, centre)
                yield renderer.render(view, amodal=False).depth, view.intrinsics
    finally:
        renderer.close()
