"""Which mask is the target: colour and size learnt from views of the target alone.

The paper trained a classifier on ten colour views of each candidate object and picked the mask
whose colour crop scored highest for the target. Here the "classifier" is a nearest-view match on
two cues a robot's RGB-D camera gives: a normalised chromaticity histogram (r/(r+g+b),
g/(r+g+b): shading changes brightness, not chromaticity, under the renderer's white lights) and
the visible surface area in m² (pixels × (depth / f)², so independent of the camera's distance).
A mask scores its best match with any reference view: histogram intersection × a size agreement
``exp(-|ln(area / reference area)|)``. It sees only the colour and depth images and the method's
masks, never the simulator's labels, so a mask that merges the target with a neighbour dilutes
its colour and grows its area, as it would on a real robot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sdmr.data.depth_io import valid_mask
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.grasp.world import ReferenceView

BINS = 16  # per chromaticity axis
MIN_BRIGHTNESS = 60  # r + g + b below this: too dark for a reliable chromaticity
MIN_PIXELS = 10


def colour_descriptor(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """``BINS×BINS`` chromaticity histogram (sums to 1) of the mask's pixels, or None when too few are bright."""
    pixels = np.asarray(rgb)[np.asarray(mask, dtype=bool)].astype(np.float64)
    total = pixels.sum(axis=1)
    pixels, total = pixels[total >= MIN_BRIGHTNESS], total[total >= MIN_BRIGHTNESS]
    if len(pixels) < MIN_PIXELS:
        return None
    chroma = pixels[:, :2] / total[:, None]
    hist, _, _ = np.histogram2d(chroma[:, 0], chroma[:, 1], bins=BINS, range=[[0, 1], [0, 1]])
    return hist / hist.sum()


def surface_area(depth: np.ndarray, mask: np.ndarray, intrinsics: CameraIntrinsics) -> float:
    """m² the mask's valid pixels cover, as fronto-parallel patches (each (z/fx)·(z/fy))."""
    z = np.asarray(depth, dtype=np.float64)[np.asarray(mask, dtype=bool) & valid_mask(depth)]
    return float((z * z).sum() / (intrinsics.fx * intrinsics.fy))


class TargetModel:
    """The target's reference descriptors; ``score`` a candidate mask against them."""

    def __init__(self, views: Sequence[ReferenceView]):
        self.references = [(hist, surface_area(v.depth, v.mask, v.intrinsics))
                           for v in views if (hist := colour_descriptor(v.color, v.mask)) is not None]

    def score(self, rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray, intrinsics: CameraIntrinsics) -> float:
        """Best match with a reference view, in [0, 1]; 0 without bright pixels or depth."""
        found = colour_descriptor(rgb, mask)
        area = surface_area(depth, mask, intrinsics)
        if found is None or area <= 0:
            return 0.0
        return max((float(np.minimum(found, hist).sum()) * float(np.exp(-abs(np.log(area / ref_area))))
                    for hist, ref_area in self.references if ref_area > 0), default=0.0)

    def choose(self, rgb: np.ndarray, depth: np.ndarray, masks: np.ndarray,
               intrinsics: CameraIntrinsics) -> tuple[int | None, list[float]]:
        """Index of the best-scoring mask (the first of equals), or None when no mask scores above 0."""
        scores = [self.score(rgb, depth, mask, intrinsics) for mask in masks]
        if not scores or max(scores) <= 0:
            return None, scores
        return int(np.argmax(scores)), scores
