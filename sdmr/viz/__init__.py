"""The one visualiser (numpy + PIL, no torch): depth → grey picture, the instance palette, mask
overlays with outlines, captions and grids. Used by ``sdmr-segment`` overlays, sdmr-bench
overlays and ``sdmr-generate preview`` (:mod:`sdmr.viz.preview`)."""

from sdmr.viz.pictures import (
    PALETTE,
    caption,
    depth_to_grey,
    describe,
    grid,
    label_outlines,
    overlay,
    side_by_side,
)

__all__ = ["PALETTE", "caption", "depth_to_grey", "describe", "grid", "label_outlines", "overlay", "side_by_side"]
