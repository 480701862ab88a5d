"""Point clouds of boxes and cylinders on a table, sampled on a regular grid (camera frame, metres),
for tests and benchmarks (``sdmr.data.toy`` is the depth-image counterpart).

The camera looks along +z; the table is the plane z = TABLE_Z and "up" is -z. Sampling the
visible surfaces directly (tops, and the wall between two touching boxes of different heights)
makes the expected clusters exact: which points are one object is known by construction.
"""

from __future__ import annotations

import numpy as np

TABLE_Z = 1.0
STEP = 0.002  # m between neighbouring samples, like a 640×480 sensor at 1 m


def grid(x: tuple[float, float], y: tuple[float, float], step: float = STEP) -> np.ndarray:
    """``M×2`` samples of the rectangle [x0, x1) × [y0, y1)."""
    xs = np.arange(x[0], x[1] - 1e-9, step)
    ys = np.arange(y[0], y[1] - 1e-9, step)
    return np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)


def box_top(x: tuple[float, float], y: tuple[float, float], height: float) -> np.ndarray:
    """The top face of a box standing on the table."""
    xy = grid(x, y)
    return np.column_stack([xy, np.full(len(xy), TABLE_Z - height)])


def wall_x(x: float, y: tuple[float, float], heights: tuple[float, float]) -> np.ndarray:
    """A vertical wall at ``x`` between two heights above the table (a box side between two tops)."""
    yz = grid(y, (TABLE_Z - heights[1], TABLE_Z - heights[0]))
    return np.column_stack([np.full(len(yz), x), yz])


def cylinder_top_and_side(centre: tuple[float, float], radius: float, height: float) -> np.ndarray:
    """A standing cylinder: its top disc and the half of its side facing -x."""
    xy = grid((centre[0] - radius, centre[0] + radius), (centre[1] - radius, centre[1] + radius))
    disc = xy[np.linalg.norm(xy - centre, axis=1) <= radius]
    top = np.column_stack([disc, np.full(len(disc), TABLE_Z - height)])
    angles = np.arange(np.pi / 2, 3 * np.pi / 2, STEP / radius)
    zs = np.arange(TABLE_Z - height, TABLE_Z, STEP)
    a, z = np.meshgrid(angles, zs, indexing="ij")
    side = np.column_stack([centre[0] + radius * np.cos(a.ravel()), centre[1] + radius * np.sin(a.ravel()), z.ravel()])
    return np.vstack([top, side])


def cloud(*parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The parts stacked as one float32 cloud, and the part index of every point."""
    return (np.vstack(parts).astype(np.float32),
            np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)]))
