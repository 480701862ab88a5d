"""A PNG contact sheet of a dataset (``sdmr-generate preview``): depth next to its coloured modal
masks, each tile captioned, to eyeball a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdmr.data.atomic import atomic_write_png
from sdmr.data.errors import DataError
from sdmr.data.instances import paint_labels
from sdmr.viz.pictures import caption, depth_to_grey, describe, grid, overlay, side_by_side


def preview_grid(
    root: str | Path, output: str | Path, count: int = 12, columns: int = 4, split: str | None = None
) -> Path:
    """Write ``output`` (PNG): ``count`` images of the dataset at ``root``, depth | masks per tile."""
    from sdmr.data.wisdom import WisdomDataset

    dataset = WisdomDataset(root, split=split)
    if len(dataset) == 0:
        raise DataError("dataset has no images", Path(root), "generate images first")
    picks = np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).round().astype(int)
    tiles = []
    for i in dict.fromkeys(picks.tolist()):
        sample = dataset[i]
        grey = depth_to_grey(sample["depth"])
        instances = sample["instances"]
        label = paint_labels(instances.masks) if instances is not None else np.zeros(grey.shape, np.uint16)
        pair = side_by_side([grey, overlay(grey, label)], gap=0)
        name = sample.get("name", f"image {sample['image_id']}")
        pair = caption(pair, describe(instances, image=name, what="ground truth"), inside=True)
        tiles.append(np.pad(pair, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    output = Path(output)
    atomic_write_png(output, grid(tiles, columns, gap=0))
    return output
