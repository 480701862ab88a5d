"""A PNG contact sheet of a dataset: depth next to coloured modal masks, to eyeball a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sdmr.data.atomic import atomic_write_with
from sdmr.data.errors import DataError


def depth_to_gray(depth: np.ndarray) -> np.ndarray:
    """uint8 gray (near = bright); the range ends just behind the median (the support surface)
    so objects on it keep their contrast; invalid pixels black."""
    valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros(depth.shape, dtype=np.uint8)
    if valid.any():
        lo, hi = np.percentile(depth[valid], 0.5), np.median(depth[valid]) + 0.05
        scaled = 1.0 - np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1)
        out[valid] = (40 + 215 * scaled[valid]).astype(np.uint8)
    return out


def colour_masks(gray: np.ndarray, masks: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Each mask in its own colour blended over the gray depth image."""
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    palette = np.random.default_rng(3).uniform(40, 255, size=(max(len(masks), 1), 3))
    for k, mask in enumerate(masks):
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * palette[k]
    return rgb.astype(np.uint8)


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
        gray = depth_to_gray(sample["depth"])
        masks = (
            sample["instances"].masks if sample["instances"] is not None else np.zeros((0, *gray.shape), bool)
        )
        pair = np.concatenate([np.repeat(gray[..., None], 3, 2), colour_masks(gray, masks)], axis=1)
        tiles.append(np.pad(pair, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (rows * columns - len(tiles))
    grid = np.concatenate(
        [np.concatenate(tiles[r * columns : (r + 1) * columns], axis=1) for r in range(rows)]
    )
    output = Path(output)
    atomic_write_with(output, lambda buf: Image.fromarray(grid).save(buf, format="PNG"))
    return output
