"""Tiny analytic datasets for tests: boxes and cylinders on a plane, ray-cast exactly.

Why not the simulator: every test in every area needs labelled depth in well under a second,
with no physics or OpenGL. Depth here is the exact ray/primitive intersection, so the modal
masks (nearest surface per pixel) and amodal masks (object alone) are exact too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.sample import Sample
from sdmr.data.writer import DatasetWriter

MIN_VISIBLE_PIXELS = 12


def _rays(intr: CameraIntrinsics) -> np.ndarray:
    """Per-pixel ray directions with z = 1, so a hit's ray parameter t is its depth."""
    v, u = np.mgrid[0 : intr.height, 0 : intr.width].astype(np.float64)
    return np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], axis=-1)


def _plane_frame(normal: np.ndarray) -> np.ndarray:
    """Columns e1, e2, n: an orthonormal frame whose z axis is the plane normal."""
    e1 = np.cross([0.0, 1.0, 0.0], normal)
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(normal, e1), normal], axis=1)


def _hit_box(origin: np.ndarray, dirs: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Entry t of rays (object frame) into an axis-aligned box (slab method); inf if missed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs
        t0 = (-half - origin) * inv
        t1 = (half - origin) * inv
    near = np.nanmax(np.minimum(t0, t1), axis=-1)
    far = np.nanmin(np.maximum(t0, t1), axis=-1)
    return np.where((near <= far) & (near > 0), near, np.inf)


def _hit_cylinder(origin: np.ndarray, dirs: np.ndarray, radius: float, half_height: float) -> np.ndarray:
    """Entry t of rays into a z-axis cylinder with caps; inf if missed."""
    a = dirs[..., 0] ** 2 + dirs[..., 1] ** 2
    b = 2 * (origin[0] * dirs[..., 0] + origin[1] * dirs[..., 1])
    c = origin[0] ** 2 + origin[1] ** 2 - radius**2
    disc = b**2 - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t_side = (-b - np.sqrt(disc)) / (2 * a)
    z_side = origin[2] + t_side * dirs[..., 2]
    side = np.where((disc >= 0) & (np.abs(z_side) <= half_height) & (t_side > 0), t_side, np.inf)
    best = side
    for cap in (-half_height, half_height):
        with np.errstate(invalid="ignore", divide="ignore"):
            t_cap = (cap - origin[2]) / dirs[..., 2]
        x = origin[0] + t_cap * dirs[..., 0]
        y = origin[1] + t_cap * dirs[..., 1]
        cap_hit = np.where((x**2 + y**2 <= radius**2) & (t_cap > 0), t_cap, np.inf)
        best = np.minimum(best, cap_hit)
    return best


def render_toy_scene(
    rng: np.random.Generator, height: int = 96, width: int = 128, max_objects: int = 4
) -> Sample:
    """One scene: a tilted plane 0.7–0.9 m away with 1..max_objects boxes/cylinders resting on it."""
    focal = 1.4 * width
    intr = CameraIntrinsics(focal, focal, (width - 1) / 2, (height - 1) / 2, width, height)
    dirs = _rays(intr)
    tilt = np.deg2rad(rng.uniform(0, 25))
    azimuth = rng.uniform(0, 2 * np.pi)
    normal = -np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)])
    frame = _plane_frame(normal)  # plane normal points back at the camera
    anchor = np.array([0.0, 0.0, rng.uniform(0.7, 0.9)])
    with np.errstate(divide="ignore"):
        t_plane = (normal @ anchor) / (dirs @ normal)
    t_plane = np.where(t_plane > 0, t_plane, np.inf)

    hits, placed = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(20):
            xy = rng.uniform(-0.12, 0.12, size=2)
            size = rng.uniform(0.03, 0.06)
            if all(np.linalg.norm(xy - p) > size + s for p, s in placed):
                break
        else:
            continue
        placed.append((xy, size))
        yaw = rng.uniform(0, 2 * np.pi)
        rot = frame @ np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        object_height = rng.uniform(0.02, 0.08)
        centre = anchor + frame[:, 0] * xy[0] + frame[:, 1] * xy[1] + normal * object_height / 2
        origin = rot.T @ -centre
        local = dirs @ rot  # each ray direction expressed in the object frame
        if rng.random() < 0.5:
            half = np.array([size / np.sqrt(2), rng.uniform(0.5, 1.0) * size / np.sqrt(2), object_height / 2])
            hits.append(_hit_box(origin, local, half))
        else:
            hits.append(_hit_cylinder(origin, local, size * 0.8, object_height / 2))

    stack = np.stack(hits)
    nearest = stack.min(axis=0)
    depth = np.minimum(nearest, t_plane)
    amodal = np.isfinite(stack)
    modal = (stack == nearest[None]) & (nearest < t_plane)[None] & amodal
    keep = modal.sum(axis=(1, 2)) >= MIN_VISIBLE_PIXELS
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    instances = Instances(masks=modal[keep], amodal=amodal[keep], object_ids=np.flatnonzero(keep) + 1)
    shade = (np.clip((1.3 - depth) * 200, 0, 255)).astype(np.uint8)
    color = np.repeat(shade[..., None], 3, axis=2)
    palette = rng.integers(40, 255, size=(len(instances), 3), dtype=np.uint8)
    for mask, rgb in zip(instances.masks, palette, strict=True):
        color[mask] = rgb
    return {
        "depth": depth,
        "instances": instances,
        "intrinsics": intr,
        "image_id": 0,
        "color": color,
        "bin_mask": ~instances.masks.any(axis=0),
    }


def make_toy_dataset(
    root: str | Path,
    num_images: int = 8,
    height: int = 96,
    width: int = 128,
    seed: int = 0,
    max_objects: int = 4,
    test_fraction: float = 0.25,
) -> Path:
    """Write a complete toy dataset (our layout, with amodal masks, colour and bin masks)."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(root)
    for index in range(num_images):
        sample = render_toy_scene(rng, height, width, max_objects)
        sample["image_id"] = index
        writer.write(index, sample, extra_meta={"generator": "toy", "seed": seed})
    order = np.random.default_rng(seed + 1).permutation(num_images)
    num_test = round(num_images * test_fraction)
    if test_fraction > 0 and num_images >= 2:
        num_test = min(max(num_test, 1), num_images - 1)
    return writer.finalize(
        np.sort(order[num_test:]), np.sort(order[:num_test]), {"generator": "toy", "seed": seed}
    )
