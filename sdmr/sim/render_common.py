"""What both renderers share: the camera conventions and the `Rendering` they return.

Its own module so :mod:`sdmr.sim.render` (pyrender) and :mod:`sdmr.sim.tiny_render` (pybullet's
TinyRenderer) both import it instead of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# OpenCV camera axes (y down, z forward) to OpenGL (y up, z backward).
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])
Z_NEAR, Z_FAR = 0.05, 10.0


@dataclass
class Rendering:
    depth: np.ndarray  # float32 H×W metres, 0 where nothing was hit
    labels: np.ndarray  # int32 H×W: 0 = support/background, k = heap object k-1 (modal)
    amodal: np.ndarray | None  # bool N×H×W, one per heap object
    color: np.ndarray | None = None  # uint8 H×W×3


def include_modal(labels: np.ndarray, amodal: np.ndarray | None) -> np.ndarray | None:
    """Amodal ⊇ modal by definition; separate rasterisations can still differ by an edge pixel."""
    if amodal is not None:
        for k in range(len(amodal)):
            amodal[k] |= labels == k + 1
    return amodal
