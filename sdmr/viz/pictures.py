"""Pictures of depth and instances, one convention for all of them.

* depth → grey (:func:`depth_to_grey`): near = bright, invalid = black;
* instance k (1-based id of a label image) → ``PALETTE[(k - 1) % 20]``, blended over the grey
  and outlined at full strength (:func:`overlay`); overlapping masks are first painted into one
  label image by :func:`sdmr.data.instances.paint_labels`;
* every picture a person looks at carries a caption (:func:`caption`, :func:`describe`):
  method, image, object count and scores, or "no objects found".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sdmr.data.depth_io import valid_mask
from sdmr.data.instances import Instances

#: matplotlib's ``tab20`` (as uint8), written out so pictures need no matplotlib.
PALETTE = np.array(
    [[31, 119, 180], [174, 199, 232], [255, 127, 14], [255, 187, 120], [44, 160, 44], [152, 223, 138],
     [214, 39, 40], [255, 152, 150], [148, 103, 189], [197, 176, 213], [140, 86, 75], [196, 156, 148],
     [227, 119, 194], [247, 182, 210], [127, 127, 127], [199, 199, 199], [188, 189, 34], [219, 219, 141],
     [23, 190, 207], [158, 218, 229]],
    dtype=np.uint8,
)
OVERLAY_ALPHA = 0.5
LINE_HEIGHT = 12  # px a caption line takes with PIL's default bitmap font
MAX_SCORES = 5


def depth_to_grey(depth: np.ndarray) -> np.ndarray:
    """uint8 H×W grey, near = bright (40–255); the range ends just behind the median (the support
    surface) so objects on it keep their contrast; invalid pixels (0, NaN) black."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = valid_mask(depth)
    out = np.zeros(depth.shape, dtype=np.uint8)
    if valid.any():
        lo, hi = np.percentile(depth[valid], 0.5), np.median(depth[valid]) + 0.05
        scaled = 1.0 - np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1)
        out[valid] = (40 + 215 * scaled[valid]).astype(np.uint8)
    return out


def label_outlines(label: np.ndarray) -> np.ndarray:
    """Bool H×W: object pixels (id > 0) with a 4-neighbour of another id or at the image edge."""
    label = np.asarray(label)
    padded = np.pad(label, 1, mode="constant", constant_values=-1 if label.dtype.kind == "i" else 0)
    centre = padded[1:-1, 1:-1]
    edge = np.zeros(label.shape, dtype=bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        edge |= padded[dy : dy + label.shape[0], dx : dx + label.shape[1]] != centre
    return edge & (label > 0)


def overlay(grey: np.ndarray, label: np.ndarray, alpha: float = OVERLAY_ALPHA, outlines: bool = True) -> np.ndarray:
    """uint8 RGB: the grey picture with object k blended in ``PALETTE`` colour k (and outlined).
    Background pixels keep their grey exactly."""
    grey = np.asarray(grey)
    if grey.dtype != np.uint8:  # a [0, 1] float picture
        grey = (np.clip(grey, 0, 1) * 255).round().astype(np.uint8)
    rgb = np.repeat(grey.astype(np.float32)[..., None], 3, axis=2)
    ids = np.asarray(label).astype(np.int64)
    fg = ids > 0
    palette = PALETTE.astype(np.float32)
    rgb[fg] = (1 - alpha) * rgb[fg] + alpha * palette[(ids[fg] - 1) % len(palette)]
    if outlines:
        edge = label_outlines(ids)
        rgb[edge] = palette[(ids[edge] - 1) % len(palette)]
    return rgb.round().astype(np.uint8)


def describe(instances: Instances | None, method: str | None = None, image: str | None = None,
             what: str | None = None) -> list[str]:
    """Caption lines: ``what`` (e.g. "prediction", "ground truth"), method and image, then the
    object count and the best scores; "no objects found" when there is none."""
    head = " | ".join(str(part) for part in (what, method, image) if part)
    count = 0 if instances is None else len(instances)
    if count == 0:
        body = "no objects found"
    else:
        body = f"{count} object{'s' if count != 1 else ''}"
        if instances.scores is not None:
            best = np.sort(instances.scores)[::-1][:MAX_SCORES]
            body += " | scores " + " ".join(f"{s:.2f}" for s in best) + (" ..." if count > MAX_SCORES else "")
    return [line for line in (head, body) if line]


def caption(rgb: np.ndarray, lines: Sequence[str], inside: bool = False) -> np.ndarray:
    """The picture with a black band on top holding ``lines`` in white (PIL's default font);
    ``inside``: the band covers the picture's top rows instead, keeping its size."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    band = Image.new("RGB", (rgb.shape[1], LINE_HEIGHT * len(lines) + 4), (0, 0, 0))
    draw = ImageDraw.Draw(band)
    font = ImageFont.load_default()
    for k, line in enumerate(lines):
        draw.text((3, 2 + LINE_HEIGHT * k), line, fill=(255, 255, 255), font=font)
    band = np.asarray(band)
    if inside:
        out = rgb[..., :3].astype(np.uint8).copy()
        rows = min(len(band), len(out))
        out[:rows] = band[:rows]
        return out
    return np.concatenate([band, rgb[..., :3].astype(np.uint8)], axis=0)


def _pad_to(tile: np.ndarray, height: int, width: int, fill: int) -> np.ndarray:
    return np.pad(tile, ((0, height - tile.shape[0]), (0, width - tile.shape[1]), (0, 0)), constant_values=fill)


def side_by_side(tiles: Sequence[np.ndarray], gap: int = 4, fill: int = 255) -> np.ndarray:
    """RGB tiles in one row, top-aligned, ``gap`` px of ``fill`` between them."""
    return grid(tiles, columns=len(tiles), gap=gap, fill=fill)


def grid(tiles: Sequence[np.ndarray], columns: int, gap: int = 4, fill: int = 255) -> np.ndarray:
    """RGB tiles (any sizes) in rows of ``columns``, each cell as large as the largest tile."""
    tiles = [np.repeat(t[..., None], 3, axis=2) if t.ndim == 2 else t[..., :3] for t in tiles]
    height, width = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    columns = max(1, min(columns, len(tiles)))
    cells = [_pad_to(t, height + gap, width + gap, fill) for t in tiles]
    cells += [np.full_like(cells[0], fill)] * (-len(cells) % columns)
    rows = [np.concatenate(cells[r : r + columns], axis=1) for r in range(0, len(cells), columns)]
    return np.concatenate(rows, axis=0)[: -gap or None, : -gap or None].astype(np.uint8)
